//! Level-3 properties of `MediaCore` under generated command sequences: random policy installs
//! (members, locations, gates, receive-only, screenshares, breakout state, stage, monitors),
//! subscription churn, stale ids, packets, feedback, estimates and time jumps.
//! `PROPTEST_CASES` sets the number of cases (256 in CI).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sfu::core::testing::PacketBuilder;
use sfu::core::{
    Bitrate, Codec, CoreConfig, CoreError, DownlinkId, EncodingIdx, ForwardingPolicy, Input,
    KeyframeKind, Layer, Location, MediaCore, MediaKind, Member, Output, ParticipantId,
    PublicationId, PublicationSpec, SessionId, StreamId, StreamRef, SubscriptionId,
};

const PARTICIPANTS: u64 = 4;
const SCREEN: StreamId = StreamId::Screenshare(1);

#[derive(Clone, Debug)]
struct MemberSpec {
    location: u8,
    audio: bool,
    video: bool,
    receive_only: bool,
    sharing: bool,
}

#[derive(Clone, Debug)]
struct PolicySpec {
    breakout_active: bool,
    members: Vec<Option<MemberSpec>>,
    stage: Vec<(u64, bool)>,
    monitors: Vec<Option<u8>>,
}

fn location(n: u8) -> Location {
    match n {
        0 => Location::Main,
        s => Location::Session(SessionId(u64::from(s))),
    }
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    let member = (
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(
            |(location, audio, video, receive_only, sharing)| MemberSpec {
                location,
                audio,
                video,
                receive_only,
                sharing,
            },
        );
    (
        any::<bool>(),
        prop::collection::vec(prop::option::weighted(0.85, member), PARTICIPANTS as usize),
        prop::collection::vec((1..=PARTICIPANTS, any::<bool>()), 0..3),
        prop::collection::vec(prop::option::weighted(0.2, 1u8..3), PARTICIPANTS as usize),
    )
        .prop_map(|(breakout_active, members, stage, monitors)| PolicySpec {
            breakout_active,
            members,
            stage,
            monitors,
        })
}

fn build_policy(spec: &PolicySpec, version: u64) -> ForwardingPolicy {
    let mut policy = ForwardingPolicy {
        version,
        breakout_active: spec.breakout_active,
        ..ForwardingPolicy::default()
    };
    for (i, m) in spec.members.iter().enumerate() {
        let Some(m) = m else { continue };
        policy.members.insert(
            ParticipantId(i as u64 + 1),
            Member {
                location: location(m.location),
                audio_enabled: m.audio,
                video_enabled: m.video,
                receive_only: m.receive_only,
                screenshares: if m.sharing { vec![SCREEN] } else { Vec::new() },
            },
        );
    }
    for (p, camera) in &spec.stage {
        let stream = if *camera { StreamId::Camera } else { SCREEN };
        policy.stage.insert((ParticipantId(*p), stream));
    }
    for (i, m) in spec.monitors.iter().enumerate() {
        if let Some(s) = m {
            policy
                .monitors
                .insert(ParticipantId(i as u64 + 1), SessionId(u64::from(*s)));
        }
    }
    policy
}

#[derive(Clone, Debug)]
enum Command {
    Install(PolicySpec),
    Packet {
        publication: usize,
        encoding: u8,
        keyframe: bool,
        tid: u8,
    },
    Feedback {
        subscription: usize,
        fir: bool,
    },
    SetRequested {
        subscription: usize,
        layer: Option<(u8, u8)>,
    },
    Estimate {
        downlink: usize,
        kbps: u64,
    },
    Advance {
        ms: u64,
    },
    Subscribe {
        downlink: usize,
        publication: usize,
    },
    Unsubscribe {
        subscription: usize,
    },
    RemovePublication {
        publication: usize,
    },
    RemoveDownlink {
        downlink: usize,
    },
    AddPublication {
        participant: u64,
        kind: u8,
        encodings: u8,
    },
    AddDownlink {
        participant: u64,
    },
}

fn command() -> impl Strategy<Value = Command> {
    let idx = 0usize..64;
    prop_oneof![
        3 => policy_spec().prop_map(Command::Install),
        8 => (idx.clone(), 0u8..4, prop::bool::weighted(0.3), 0u8..3).prop_map(
            |(publication, encoding, keyframe, tid)| Command::Packet {
                publication,
                encoding,
                keyframe,
                tid: if keyframe { 0 } else { tid },
            }
        ),
        2 => (idx.clone(), any::<bool>())
            .prop_map(|(subscription, fir)| Command::Feedback { subscription, fir }),
        1 => (idx.clone(), prop::option::weighted(0.8, (0u8..3, 0u8..3)))
            .prop_map(|(subscription, layer)| Command::SetRequested { subscription, layer }),
        1 => (idx.clone(), 10u64..3000)
            .prop_map(|(downlink, kbps)| Command::Estimate { downlink, kbps }),
        3 => (0u64..1500).prop_map(|ms| Command::Advance { ms }),
        1 => (idx.clone(), idx.clone())
            .prop_map(|(downlink, publication)| Command::Subscribe { downlink, publication }),
        1 => idx.clone().prop_map(|subscription| Command::Unsubscribe { subscription }),
        1 => idx.clone().prop_map(|publication| Command::RemovePublication { publication }),
        1 => idx.clone().prop_map(|downlink| Command::RemoveDownlink { downlink }),
        1 => (1..=PARTICIPANTS, 0u8..3, 1u8..=3).prop_map(|(participant, kind, encodings)| {
            Command::AddPublication { participant, kind, encodings }
        }),
        1 => (1..=PARTICIPANTS).prop_map(|participant| Command::AddDownlink { participant }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Pub {
    id: PublicationId,
    participant: ParticipantId,
    stream: StreamRef,
    codec: Codec,
    encodings: u8,
    /// Per encoding: next sequence number and frame count.
    seq: [u16; 3],
    frames: [u32; 3],
}

#[derive(Clone, Copy, Debug)]
struct Sub {
    id: SubscriptionId,
    subscriber: ParticipantId,
    publication: usize,
}

/// A `MediaCore` with its own bookkeeping of what exists (stale entries are kept so that
/// commands also name stale ids) and what came out.
struct Harness {
    core: MediaCore,
    now: Instant,
    policy: ForwardingPolicy,
    downlinks: Vec<(ParticipantId, DownlinkId)>,
    pubs: Vec<Pub>,
    subs: Vec<Sub>,
    sub_of: HashMap<SubscriptionId, Sub>,
    live_subs: HashSet<SubscriptionId>,
    live_pubs: HashSet<PublicationId>,
    live_downlinks: HashSet<DownlinkId>,
    requests: HashMap<(PublicationId, u8), Instant>,
    forwarded: Vec<SubscriptionId>,
    next_ssrc: u32,
}

impl Harness {
    fn new(encodings: [u8; PARTICIPANTS as usize]) -> Harness {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let now = Instant::now();
        let mut h = Harness {
            core: MediaCore::new(CoreConfig::default(), now),
            now,
            policy: ForwardingPolicy::default(),
            downlinks: Vec::new(),
            pubs: Vec::new(),
            subs: Vec::new(),
            sub_of: HashMap::new(),
            live_subs: HashSet::new(),
            live_pubs: HashSet::new(),
            live_downlinks: HashSet::new(),
            requests: HashMap::new(),
            forwarded: Vec::new(),
            next_ssrc: 1,
        };
        for i in 1..=PARTICIPANTS {
            h.apply(Command::AddDownlink { participant: i });
            h.apply(Command::AddPublication {
                participant: i,
                kind: 0,
                encodings: encodings[i as usize - 1],
            });
            h.apply(Command::AddPublication {
                participant: i,
                kind: 1,
                encodings: 1,
            });
        }
        h.apply(Command::AddPublication {
            participant: 1,
            kind: 2,
            encodings: 1,
        });
        for d in 0..h.downlinks.len() {
            for p in 0..h.pubs.len() {
                if h.downlinks[d].0 != h.pubs[p].participant {
                    h.apply(Command::Subscribe {
                        downlink: d,
                        publication: p,
                    });
                }
            }
        }
        h
    }

    fn pick<T: Copy>(list: &[T], i: usize) -> Option<T> {
        (!list.is_empty()).then(|| list[i % list.len()])
    }

    fn apply(&mut self, c: Command) {
        match c {
            Command::Install(spec) => {
                let policy = build_policy(&spec, self.policy.version + 1);
                self.policy = policy.clone();
                self.core.install_policy(self.now, policy);
            }
            Command::Packet {
                publication,
                encoding,
                keyframe,
                tid,
            } => {
                let Some(i) = (!self.pubs.is_empty()).then(|| publication % self.pubs.len()) else {
                    return;
                };
                let p = &mut self.pubs[i];
                let e = usize::from(encoding % 3);
                let (seq, frame) = (p.seq[e], p.frames[e]);
                p.seq[e] = seq.wrapping_add(1);
                p.frames[e] += 1;
                let b = match p.codec {
                    Codec::Opus => PacketBuilder::opus(),
                    _ => {
                        let b = PacketBuilder::vp8()
                            .picture_id(frame as u16)
                            .tl0_pic_idx(frame as u8)
                            .tid(tid);
                        if keyframe {
                            b.keyframe()
                        } else {
                            b
                        }
                    }
                };
                let pkt = b.seq(seq).ts(frame.wrapping_mul(3000)).len(50).build();
                let publication = p.id;
                // `encoding` may be out of range for this publication: counted, never a panic.
                self.input(Input::Rtp {
                    at: self.now,
                    publication,
                    encoding: EncodingIdx(encoding),
                    pkt,
                });
            }
            Command::Feedback { subscription, fir } => {
                let Some(s) = Self::pick(&self.subs, subscription) else {
                    return;
                };
                let kind = if fir {
                    KeyframeKind::Fir
                } else {
                    KeyframeKind::Pli
                };
                self.input(Input::Feedback {
                    at: self.now,
                    subscription: s.id,
                    kind,
                });
            }
            Command::SetRequested {
                subscription,
                layer,
            } => {
                let Some(s) = Self::pick(&self.subs, subscription) else {
                    return;
                };
                let r =
                    self.core
                        .set_requested(self.now, s.id, layer.map(|(sp, t)| Layer::new(sp, t)));
                self.check_result(r.map(|_| ()), self.live_subs.contains(&s.id));
            }
            Command::Estimate { downlink, kbps } => {
                let Some((_, d)) = Self::pick(&self.downlinks, downlink) else {
                    return;
                };
                self.input(Input::Estimate {
                    at: self.now,
                    downlink: d,
                    bitrate: Bitrate::kbps(kbps),
                });
            }
            Command::Advance { ms } => {
                let end = self.now + Duration::from_millis(ms);
                let mut steps = 0;
                while self.core.poll_timeout() <= end {
                    steps += 1;
                    assert!(steps < 1000, "timeouts livelock");
                    self.now = self.now.max(self.core.poll_timeout());
                    self.input(Input::Timeout(self.now));
                }
                self.now = end;
            }
            Command::Subscribe {
                downlink,
                publication,
            } => {
                let (Some((participant, d)), Some(p)) = (
                    Self::pick(&self.downlinks, downlink),
                    (!self.pubs.is_empty()).then(|| publication % self.pubs.len()),
                ) else {
                    return;
                };
                self.next_ssrc += 1;
                let r = self
                    .core
                    .subscribe(self.now, d, self.pubs[p].id, self.next_ssrc);
                let live_pub = self.live_pubs.contains(&self.pubs[p].id);
                let live_down = self.live_downlinks.contains(&d);
                match r {
                    Ok(id) => {
                        assert!(live_pub && live_down, "subscribe accepted a stale id");
                        let sub = Sub {
                            id,
                            subscriber: participant,
                            publication: p,
                        };
                        self.subs.push(sub);
                        self.sub_of.insert(id, sub);
                        self.live_subs.insert(id);
                    }
                    Err(CoreError::UnknownPublication) => assert!(!live_pub),
                    Err(CoreError::UnknownDownlink) => assert!(!live_down),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Command::Unsubscribe { subscription } => {
                let Some(s) = Self::pick(&self.subs, subscription) else {
                    return;
                };
                let r = self.core.unsubscribe(s.id);
                let live = self.live_subs.remove(&s.id);
                self.check_result(r, live);
            }
            Command::RemovePublication { publication } => {
                let Some(p) = Self::pick(&self.pubs, publication) else {
                    return;
                };
                let live = self.live_pubs.remove(&p.id);
                let r = self.core.remove_publication(p.id);
                assert_eq!(r.is_ok(), live, "{r:?}");
                if live {
                    for s in &self.subs {
                        if self.pubs[s.publication].id == p.id {
                            self.live_subs.remove(&s.id);
                        }
                    }
                }
            }
            Command::RemoveDownlink { downlink } => {
                let Some((_, d)) = Self::pick(&self.downlinks, downlink) else {
                    return;
                };
                let r = self.core.remove_downlink(d);
                let live = self.live_downlinks.remove(&d);
                assert_eq!(r.is_ok(), live, "{r:?}");
                if live {
                    let gone: Vec<SubscriptionId> = self
                        .live_subs
                        .iter()
                        .copied()
                        .filter(|sid| self.core.layers(*sid).is_none())
                        .collect();
                    for sid in gone {
                        self.live_subs.remove(&sid);
                    }
                }
            }
            Command::AddPublication {
                participant,
                kind,
                encodings,
            } => {
                let (stream, codec, encodings) = match kind {
                    0 => (StreamRef::CAMERA_VIDEO, Codec::Vp8, encodings),
                    1 => (StreamRef::CAMERA_AUDIO, Codec::Opus, 1),
                    _ => (
                        StreamRef {
                            stream: SCREEN,
                            kind: MediaKind::Video,
                        },
                        Codec::Vp8,
                        1,
                    ),
                };
                let participant = ParticipantId(participant);
                let id = self
                    .core
                    .add_publication(PublicationSpec {
                        participant,
                        stream,
                        codec,
                        encodings,
                    })
                    .expect("valid publication");
                self.live_pubs.insert(id);
                self.pubs.push(Pub {
                    id,
                    participant,
                    stream,
                    codec,
                    encodings,
                    seq: [65_000, 100, 65_535],
                    frames: [0; 3],
                });
            }
            Command::AddDownlink { participant } => {
                let p = ParticipantId(participant);
                let d = self.core.add_downlink(p);
                self.live_downlinks.insert(d);
                self.downlinks.push((p, d));
            }
        }
        self.drain();
        self.check_routes();
    }

    fn check_result(&self, r: Result<(), CoreError>, live: bool) {
        match r {
            Ok(()) => assert!(live, "accepted a stale subscription"),
            Err(e) => {
                assert!(!live, "refused a live subscription: {e:?}");
                assert_eq!(e, CoreError::UnknownSubscription);
            }
        }
    }

    fn input(&mut self, input: Input) {
        self.core.handle_input(input);
        self.drain();
    }

    fn allowed(&self, s: &Sub) -> bool {
        let p = &self.pubs[s.publication];
        self.policy.allowed(s.subscriber, p.participant, p.stream)
    }

    fn drain(&mut self) {
        loop {
            match self.core.poll_output() {
                Output::Timeout(_) => break,
                Output::Forward(f) => {
                    let s = self.sub_of[&f.subscription];
                    assert!(
                        self.live_subs.contains(&s.id),
                        "forward on a removed subscription"
                    );
                    assert!(
                        self.allowed(&s),
                        "forward outside the policy: {s:?} {:?}",
                        self.policy
                    );
                    self.forwarded.push(s.id);
                }
                Output::RequestKeyframe {
                    publication,
                    encoding,
                    ..
                } => {
                    let p = self
                        .pubs
                        .iter()
                        .find(|p| p.id == publication)
                        .expect("known");
                    assert!(encoding.0 < p.encodings, "request for a missing encoding");
                    assert!(p.codec.is_video(), "keyframe request for audio");
                    if let Some(last) = self.requests.insert((publication, encoding.0), self.now) {
                        assert!(
                            self.now - last >= Duration::from_secs(1),
                            "two keyframe requests {:?} apart",
                            self.now - last
                        );
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// `RoutingTable` against brute force: every live subscription is routed iff `allowed()`.
    fn check_routes(&self) {
        for s in &self.subs {
            let layers = self.core.layers(s.id);
            if !self.live_subs.contains(&s.id) {
                assert!(layers.is_none(), "stale subscription still known");
                continue;
            }
            let layers = layers.expect("live subscription is known");
            assert_eq!(
                layers.routed,
                self.allowed(s),
                "route of {s:?} under {:?}",
                self.policy
            );
        }
    }
}

fn encodings() -> impl Strategy<Value = [u8; PARTICIPANTS as usize]> {
    [1u8..=3, 1u8..=3, 1u8..=3, 1u8..=3]
}

proptest! {
    // Under any sequence of policy installs and commands, every forwarded packet is allowed by
    // the policy in force (nothing crosses locations), every live subscription is routed
    // exactly when `allowed()` says so, and stale ids are refused with the right error.
    #[test]
    fn routing_follows_the_policy_in_force(
        enc in encodings(),
        commands in prop::collection::vec(command(), 1..60),
    ) {
        let mut h = Harness::new(enc);
        for c in commands {
            h.apply(c);
        }
    }

    // After any command sequence, once every publication sends a keyframe, the subscriptions
    // that receive packets are exactly those `allowed()` admits (brute force over all pairs).
    #[test]
    fn receiving_set_equals_brute_force(
        enc in encodings(),
        commands in prop::collection::vec(command(), 1..40),
    ) {
        let mut h = Harness::new(enc);
        for c in commands {
            h.apply(c);
        }
        // Undo pauses and bandwidth limits, then wait out the allocator's dwell.
        let live: Vec<Sub> = h.subs.iter().copied().filter(|s| h.live_subs.contains(&s.id)).collect();
        for s in &live {
            h.core.set_requested(h.now, s.id, Some(Layer::HIGHEST)).expect("live");
        }
        for d in 0..h.downlinks.len() {
            h.apply(Command::Estimate { downlink: d, kbps: 100_000 });
        }
        h.apply(Command::Advance { ms: 6000 });
        h.forwarded.clear();
        for p in 0..h.pubs.len() {
            if !h.live_pubs.contains(&h.pubs[p].id) {
                continue;
            }
            for e in 0..h.pubs[p].encodings {
                h.apply(Command::Packet { publication: p, encoding: e, keyframe: true, tid: 0 });
            }
        }
        let got: HashSet<SubscriptionId> = h.forwarded.iter().copied().collect();
        let want: HashSet<SubscriptionId> =
            live.iter().filter(|s| h.allowed(s)).map(|s| s.id).collect();
        prop_assert_eq!(got, want);
    }

    // Under PLI storms, switches, pauses, estimates and keyframes at random times, no two
    // keyframe requests for one (publication, encoding) are less than 1 s apart (checked in
    // the harness on every output).
    #[test]
    fn at_most_one_keyframe_request_per_encoding_per_second(
        enc in encodings(),
        commands in prop::collection::vec(
            prop_oneof![
                4 => (0usize..64, any::<bool>())
                    .prop_map(|(subscription, fir)| Command::Feedback { subscription, fir }),
                2 => (0usize..64, prop::option::weighted(0.8, (0u8..3, 0u8..3)))
                    .prop_map(|(subscription, layer)| Command::SetRequested { subscription, layer }),
                1 => (0usize..64, 10u64..3000)
                    .prop_map(|(downlink, kbps)| Command::Estimate { downlink, kbps }),
                3 => (0u64..700).prop_map(|ms| Command::Advance { ms }),
                3 => (0usize..64, 0u8..3, prop::bool::weighted(0.2))
                    .prop_map(|(publication, encoding, keyframe)| Command::Packet {
                        publication, encoding, keyframe, tid: 0,
                    }),
                1 => policy_spec().prop_map(Command::Install),
            ],
            1..80,
        ),
    ) {
        let mut h = Harness::new(enc);
        for c in commands {
            h.apply(c);
        }
    }
}
