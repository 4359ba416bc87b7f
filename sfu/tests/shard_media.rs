//! The media shard end to end over real UDP on 127.0.0.1: str0m clients (full ICE, the client
//! side of the SDP) publish and subscribe through a shard, which runs its own thread, str0m
//! transports (ICE-lite, RTP mode) and the sans-IO core.
//!
//! Waits poll a condition against a deadline (`eventually`), never a fixed sleep for
//! correctness (STYLE.md testing rules).

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use rustc_hash::FxHashMap;
use sfu::core::{
    ForwardingPolicy, Location, MediaKind, Member, ParticipantId, PublicationId, StreamRef,
};
use sfu::shard::{
    self, ForwardingChange, RoomId, ShardConfig, ShardError, ShardEvent, ShardEvents, ShardHandle,
    TransportKind,
};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec as RtcCodec;
use str0m::media::KeyframeRequestKind;
use support::peer::*;

const DEADLINE: Duration = Duration::from_secs(15);

/// Everything the scenario drives each turn.
struct World {
    publisher: Publisher,
    subscribers: Vec<Subscriber>,
    events: ShardEvents,
    seen: Vec<ShardEvent>,
    simulcast: bool,
    handle: ShardHandle,
}

impl World {
    async fn turn(&mut self) {
        self.publisher.step(self.simulcast);
        for s in &mut self.subscribers {
            s.step();
        }
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        // Pacing only: the shard runs on its own thread.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    /// Drives everything until `done` holds, failing after `DEADLINE`.
    async fn eventually(&mut self, what: &str, mut done: impl FnMut(&World) -> bool) {
        let until = now() + DEADLINE;
        while !done(self) {
            if now() >= until {
                let stats = self.handle.stats().await;
                let subs: Vec<_> = self
                    .subscribers
                    .iter()
                    .map(|s| {
                        (
                            s.client.connected,
                            s.count(RtcCodec::Opus),
                            s.count(RtcCodec::Vp8),
                        )
                    })
                    .collect();
                panic!(
                    "timed out waiting for {what}; subscribers (connected, audio, video): \
                     {subs:?}; publisher connected: {}; shard: {stats:?}; events: {:?}",
                    self.publisher.client.connected, self.seen
                );
            }
            self.turn().await;
        }
    }

    /// Drives everything for `d` (observation windows only, never for correctness).
    async fn run_for(&mut self, d: Duration) {
        let until = now() + d;
        while now() < until {
            self.turn().await;
        }
    }
}

fn policy(members: &[ParticipantId]) -> ForwardingPolicy {
    let mut p = ForwardingPolicy {
        version: 1,
        ..Default::default()
    };
    for m in members {
        p.members.insert(*m, Member::publisher(Location::Main));
    }
    p
}

async fn negotiate_subscriber(
    handle: &ShardHandle,
    room: RoomId,
    participant: ParticipantId,
    publications: Vec<PublicationId>,
) -> (Subscriber, usize) {
    negotiate_subscriber_with(handle, room, participant, publications, Feedback::Full).await
}

async fn negotiate_subscriber_with(
    handle: &ShardHandle,
    room: RoomId,
    participant: ParticipantId,
    publications: Vec<PublicationId>,
    feedback: Feedback,
) -> (Subscriber, usize) {
    let mut client = Client::with_feedback(feedback);
    let offer = handle
        .update_subscriptions(room, participant, publications, Vec::new())
        .await
        .expect("update_subscriptions")
        .expect("a subscriber offer");
    let offer = SdpOffer::from_sdp_string(&offer.sdp).expect("server offer parses");
    let answer = client
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .expect("client accepts the server offer");
    let subscribed = handle
        .subscriber_answer(room, participant, answer.to_sdp_string())
        .await
        .expect("subscriber_answer");
    (
        Subscriber {
            client,
            streams: BTreeMap::new(),
        },
        subscribed.len(),
    )
}

/// Sorted extended sequence numbers have no gap and no duplicate.
fn assert_contiguous(who: &str, seqs: &[(u64, bool)]) {
    let mut s: Vec<u64> = seqs.iter().map(|(q, _)| *q).collect();
    s.sort_unstable();
    for w in s.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{who}: sequence numbers not contiguous: {s:?}"
        );
    }
}

fn shard_config() -> ShardConfig {
    ShardConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        "127.0.0.1".parse().expect("ip"),
    )
}

async fn publish(
    handle: &ShardHandle,
    room: RoomId,
    participant: ParticipantId,
    simulcast: bool,
) -> Publisher {
    let (mut publisher, offer, pending) = Publisher::new(simulcast);
    let answer = handle
        .publisher_offer(room, participant, offer.to_sdp_string(), Vec::new())
        .await
        .expect("publisher_offer");
    if simulcast {
        // What libwebrtc needs to send all layers (REAL-PEERS.md): recv rids and simulcast.
        for rid in RIDS {
            assert!(answer.contains(&format!("a=rid:{rid} recv")), "{answer}");
        }
        assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
    }
    publisher
        .client
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(&answer).expect("answer parses"),
        )
        .expect("publisher accepts the answer");
    publisher
}

// One simulcast publisher, two subscribers: each receives audio and video with contiguous
// sequence numbers and a keyframe first; subscriber PLIs reach the publisher throttled;
// removing everyone brings the shard's counts back to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_from_publisher_to_two_subscribers() {
    init_log();
    let (handle, events) = shard::spawn(shard_config()).expect("shard starts");
    let room = RoomId(1);
    let (p1, p2, p3) = (ParticipantId(1), ParticipantId(2), ParticipantId(3));
    for p in [p1, p2, p3] {
        handle.add_participant(room, p).await.expect("join");
    }
    let version = handle
        .install_policy(room, policy(&[p1, p2, p3]))
        .await
        .expect("policy installs");
    assert_eq!(version, 1);

    let publisher = publish(&handle, room, p1, true).await;
    let mut world = World {
        publisher,
        subscribers: Vec::new(),
        events,
        seen: Vec::new(),
        simulcast: true,
        handle: handle.clone(),
    };
    world
        .eventually("two publications", |w| {
            w.seen
                .iter()
                .filter(|e| matches!(e, ShardEvent::PublicationAdded { .. }))
                .count()
                == 2
        })
        .await;
    let mut publications = FxHashMap::default();
    for e in &world.seen {
        if let ShardEvent::PublicationAdded {
            participant,
            publication,
            stream,
            encodings,
            ..
        } = e
        {
            assert_eq!(*participant, p1);
            let expected = if stream.kind == MediaKind::Video {
                3
            } else {
                1
            };
            assert_eq!(*encodings, expected, "{stream:?}");
            publications.insert(*stream, *publication);
        }
    }
    let wanted = vec![
        publications[&StreamRef::CAMERA_AUDIO],
        publications[&StreamRef::CAMERA_VIDEO],
    ];
    for p in [p2, p3] {
        let (sub, n) = negotiate_subscriber(&handle, room, p, wanted.clone()).await;
        assert_eq!(n, 2, "both m-lines answered");
        world.subscribers.push(sub);
    }
    world
        .eventually("audio and video at both subscribers", |w| {
            w.subscribers.iter().all(|s| {
                s.client.connected && s.count(RtcCodec::Opus) >= 50 && s.count(RtcCodec::Vp8) >= 30
            })
        })
        .await;
    assert!(world.seen.iter().any(|e| matches!(
        e,
        ShardEvent::TransportConnected {
            transport: TransportKind::Subscriber,
            ..
        }
    )));
    // The publisher's RFC 6464 levels (-30 dBov, voice) make it the room's speaker.
    world
        .eventually("a speaker report", |w| {
            w.seen.iter().any(
                |e| matches!(e, ShardEvent::Speakers { speakers, .. } if speakers == &[(p1, 30)]),
            )
        })
        .await;
    // Each subscriber hears which video layer it gets.
    for p in [p2, p3] {
        assert!(
            world.seen.iter().any(|e| matches!(
                e,
                ShardEvent::ForwardingChanged {
                    participant,
                    change: ForwardingChange::Layer { .. },
                    ..
                } if *participant == p
            )),
            "{p} got no layer"
        );
    }
    for (i, s) in world.subscribers.iter().enumerate() {
        for (ssrc, r) in &s.streams {
            let who = format!("subscriber {i} ssrc {ssrc} {:?}", r.codec);
            assert_contiguous(&who, &r.packets);
            if r.codec == Some(RtcCodec::Vp8) {
                assert!(
                    r.packets[0].1,
                    "{who}: the first video packet is a keyframe"
                );
            }
        }
        assert_eq!(s.streams.len(), 2, "one audio and one video stream");
    }

    // PLI from the subscribers reaches the publisher, merged by the throttle.
    let stats_before = handle.stats().await.expect("stats");
    let requests_before = world.publisher.keyframe_requests.len();
    let burst_at = now();
    for s in &mut world.subscribers {
        let ssrc = s.video_ssrc().expect("video stream");
        for _ in 0..10 {
            let mut api = s.client.rtc.direct_api();
            api.stream_rx(&ssrc)
                .expect("rx stream")
                .request_keyframe(KeyframeRequestKind::Pli);
            let mut ev = Vec::new();
            s.client.drive(&mut ev);
        }
    }
    world
        .eventually("a keyframe request at the publisher", |w| {
            w.publisher.keyframe_requests.len() > requests_before
        })
        .await;
    // Observation window shorter than the throttle interval (1 s): the burst of PLIs
    // (str0m merges some of them already on the subscriber side) must reach the publisher
    // as at most one request per encoding being forwarded.
    world.run_for(Duration::from_millis(600)).await;
    let after: Vec<_> = world.publisher.keyframe_requests[requests_before..]
        .iter()
        .filter(|(t, _)| *t >= burst_at)
        .collect();
    assert!(
        after.len() <= 3,
        "PLIs are throttled per encoding: {after:?}"
    );
    let stats = handle.stats().await.expect("stats");
    assert!(
        stats.keyframe_requests_received > stats_before.keyframe_requests_received,
        "{stats:?}"
    );
    assert!(
        stats.keyframe_requests_sent - stats_before.keyframe_requests_sent
            < stats.keyframe_requests_received - stats_before.keyframe_requests_received
            || stats.keyframe_requests_received - stats_before.keyframe_requests_received == 1,
        "requests are merged: {stats_before:?} -> {stats:?}"
    );

    assert_eq!(stats.peers, 3, "{stats:?}");
    assert_eq!(stats.publications, 2, "{stats:?}");
    assert_eq!(stats.subscriptions, 4, "{stats:?}");
    assert_eq!(stats.datagrams_malformed, 0, "{stats:?}");
    assert_eq!(
        stats.rtp_unmapped, 0,
        "every simulcast layer maps to an encoding: {stats:?}"
    );

    // What `/metrics` exports, measured by the shard: the forwarding latency of the copies,
    // each subscriber's join to first media, the counts by kind, the layer each subscriber's
    // video started on, downlink estimates and, from str0m's stream stats (once a second),
    // the PLIs from the subscribers and to the publisher.
    assert!(stats.forwarding_latency.count() > 0, "{stats:?}");
    assert!(stats.forwarding_latency.count() <= stats.forwards_written);
    assert_eq!(stats.join_latency.count(), 2, "{stats:?}");
    assert_eq!(stats.publications_by_kind, [1, 1, 0, 0]);
    assert_eq!(stats.subscriptions_by_kind, [2, 2, 0, 0]);
    assert_eq!(stats.paused_subscriptions, 0);
    assert!(stats.layer_switches[0] >= 2, "{stats:?}");
    let until = now() + DEADLINE;
    loop {
        let rtcp = handle.stats().await.expect("stats").rtcp;
        if rtcp.plis_in > 0 && rtcp.plis_out > 0 {
            break;
        }
        assert!(now() < until, "no PLI in str0m's stats: {rtcp:?}");
        world.run_for(Duration::from_millis(100)).await;
    }

    // Removing the publisher ends its publications and every subscription to them.
    handle.remove_participant(room, p1).await.expect("leave");
    let stats = handle.stats().await.expect("stats");
    assert_eq!(
        (stats.publications, stats.subscriptions),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.peers, 2, "{stats:?}");
    world.run_for(Duration::from_millis(50)).await;
    let ended = world
        .seen
        .iter()
        .filter(|e| matches!(e, ShardEvent::SubscriptionEnded { .. }))
        .count();
    assert_eq!(ended, 4);
    for p in [p2, p3] {
        handle.remove_participant(room, p).await.expect("leave");
    }
    let stats = handle.stats().await.expect("stats");
    assert_eq!(
        (stats.rooms, stats.participants, stats.peers),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.peers_failed, 0, "{stats:?}");
    handle.shutdown().await.expect("shutdown");
}

/// Two rooms' peers on one shard, driven together.
struct TwoRooms {
    publishers: Vec<Publisher>,
    subscribers: Vec<Subscriber>,
    events: ShardEvents,
    seen: Vec<ShardEvent>,
    handle: ShardHandle,
}

impl TwoRooms {
    async fn eventually(&mut self, what: &str, mut done: impl FnMut(&TwoRooms) -> bool) {
        let until = now() + DEADLINE;
        while !done(self) {
            if now() >= until {
                let stats = self.handle.stats().await;
                panic!(
                    "timed out waiting for {what}; shard: {stats:?}; events: {:?}",
                    self.seen
                );
            }
            for p in &mut self.publishers {
                p.step(false);
            }
            for s in &mut self.subscribers {
                s.step();
            }
            while let Ok(e) = self.events.try_recv() {
                self.seen.push(e);
            }
            // Pacing only: the shard runs on its own thread.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The publications announced in `room`.
    fn publications(&self, room: RoomId) -> Vec<PublicationId> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                ShardEvent::PublicationAdded {
                    room: r,
                    publication,
                    ..
                } if *r == room => Some(*publication),
                _ => None,
            })
            .collect()
    }
}

// Participant ids are counted per room, so two rooms on one shard each have a `p1` and a `p2`:
// the shard keeps them apart. Each room's subscriber gets its own room's publisher's audio and
// video, and taking room A's publisher away ends only room A's subscriptions while room B's
// media keeps flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_with_the_same_participant_ids_share_a_shard() {
    init_log();
    let (handle, events) = shard::spawn(shard_config()).expect("shard starts");
    let (room_a, room_b) = (RoomId(11), RoomId(12));
    let (p1, p2) = (ParticipantId(1), ParticipantId(2));
    for room in [room_a, room_b] {
        for p in [p1, p2] {
            handle.add_participant(room, p).await.expect("join");
        }
        handle
            .install_policy(room, policy(&[p1, p2]))
            .await
            .expect("policy installs");
    }
    let mut world = TwoRooms {
        publishers: vec![
            publish(&handle, room_a, p1, false).await,
            publish(&handle, room_b, p1, false).await,
        ],
        subscribers: Vec::new(),
        events,
        seen: Vec::new(),
        handle: handle.clone(),
    };
    world
        .eventually("two publications in each room", |w| {
            w.publications(room_a).len() == 2 && w.publications(room_b).len() == 2
        })
        .await;
    for e in &world.seen {
        if let ShardEvent::PublicationAdded { participant, .. } = e {
            assert_eq!(*participant, p1);
        }
    }
    for room in [room_a, room_b] {
        let (sub, n) = negotiate_subscriber(&handle, room, p2, world.publications(room)).await;
        assert_eq!(n, 2, "{room}: both m-lines answered");
        world.subscribers.push(sub);
    }
    world
        .eventually("audio and video at both rooms' subscribers", |w| {
            w.subscribers.iter().all(|s| {
                s.client.connected && s.count(RtcCodec::Opus) >= 50 && s.count(RtcCodec::Vp8) >= 30
            })
        })
        .await;
    for room in [room_a, room_b] {
        for transport in [TransportKind::Publisher, TransportKind::Subscriber] {
            let connected = world.seen.iter().any(|e| {
                *e == ShardEvent::TransportConnected {
                    room,
                    participant: if transport == TransportKind::Publisher {
                        p1
                    } else {
                        p2
                    },
                    transport,
                }
            });
            assert!(connected, "{room} {transport:?} never connected");
        }
    }
    for (i, s) in world.subscribers.iter().enumerate() {
        assert_eq!(s.streams.len(), 2, "subscriber {i}: one audio, one video");
        for (ssrc, r) in &s.streams {
            assert_contiguous(&format!("subscriber {i} ssrc {ssrc}"), &r.packets);
        }
    }
    let stats = handle.stats().await.expect("stats");
    assert_eq!(
        (stats.rooms, stats.participants, stats.peers),
        (2, 4, 4),
        "{stats:?}"
    );
    assert_eq!((stats.publications, stats.subscriptions), (4, 4));

    // Room A's publisher leaves: only room A's subscriptions end, and room B's subscriber,
    // fed by room B's own publisher, keeps receiving.
    handle.remove_participant(room_a, p1).await.expect("leave");
    world.publishers.remove(0);
    let stats = handle.stats().await.expect("stats");
    assert_eq!((stats.publications, stats.subscriptions), (2, 2));
    let video_b = world.subscribers[1].count(RtcCodec::Vp8);
    world
        .eventually("more video in room B", |w| {
            w.subscribers[1].count(RtcCodec::Vp8) >= video_b + 30
        })
        .await;
    let ended: Vec<RoomId> = world
        .seen
        .iter()
        .filter_map(|e| match e {
            ShardEvent::SubscriptionEnded {
                room, participant, ..
            } => {
                assert_eq!(*participant, p2);
                Some(*room)
            }
            _ => None,
        })
        .collect();
    assert_eq!(ended, [room_a, room_a], "{:?}", world.seen);
    assert_eq!(
        handle.remove_participant(room_a, p1).await,
        Err(ShardError::UnknownParticipant),
        "room A's p1 is gone, room B's stays"
    );
    for (room, p) in [(room_a, p2), (room_b, p1), (room_b, p2)] {
        handle.remove_participant(room, p).await.expect("leave");
    }
    let stats = handle.stats().await.expect("stats");
    assert_eq!(
        (stats.rooms, stats.participants, stats.peers),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.peers_failed, 0, "{stats:?}");
    handle.shutdown().await.expect("shutdown");
}

// Issue 13, goal 1: a single-layer camera above the downlink's first bandwidth estimate keeps
// flowing, every second for 20 s, to subscribers whose estimate the server cannot probe up:
// one with TWCC but no RTX (str0m has nothing to pad with) and one with no TWCC at all. Neither
// is told its video was paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_layer_video_keeps_flowing_without_rtx_or_twcc() {
    init_log();
    let config = ShardConfig {
        // Below the synthetic camera's audio plus video (~100 kbit/s with headers).
        initial_estimate_bps: 30_000,
        ..shard_config()
    };
    let (handle, events) = shard::spawn(config).expect("shard starts");
    let room = RoomId(3);
    let (p1, p2, p3) = (ParticipantId(31), ParticipantId(32), ParticipantId(33));
    for p in [p1, p2, p3] {
        handle.add_participant(room, p).await.expect("join");
    }
    handle
        .install_policy(room, policy(&[p1, p2, p3]))
        .await
        .expect("policy installs");
    let publisher = publish(&handle, room, p1, false).await;
    let mut world = World {
        publisher,
        subscribers: Vec::new(),
        events,
        seen: Vec::new(),
        simulcast: false,
        handle: handle.clone(),
    };
    world
        .eventually("two publications", |w| {
            w.seen
                .iter()
                .filter(|e| matches!(e, ShardEvent::PublicationAdded { .. }))
                .count()
                == 2
        })
        .await;
    let wanted: Vec<PublicationId> = world
        .seen
        .iter()
        .filter_map(|e| match e {
            ShardEvent::PublicationAdded { publication, .. } => Some(*publication),
            _ => None,
        })
        .collect();
    for (p, feedback) in [(p2, Feedback::NoRtx), (p3, Feedback::NoTwcc)] {
        let (sub, n) = negotiate_subscriber_with(&handle, room, p, wanted.clone(), feedback).await;
        assert_eq!(n, 2, "both m-lines answered");
        world.subscribers.push(sub);
    }
    world
        .eventually("video at both subscribers", |w| {
            w.subscribers
                .iter()
                .all(|s| s.client.connected && s.count(RtcCodec::Vp8) >= 10)
        })
        .await;
    let start = now();
    world.run_for(Duration::from_secs(20)).await;
    for (i, s) in world.subscribers.iter().enumerate() {
        let video = s
            .streams
            .values()
            .find(|r| r.codec == Some(RtcCodec::Vp8))
            .expect("a video stream");
        for second in 0..20 {
            let n =
                video.count_between(start + Duration::from_secs(second), Duration::from_secs(1));
            // 30 frames a second are sent; a loaded test machine may delay a few.
            assert!(
                n >= 10,
                "subscriber {i}: {n} video packets in second {second}"
            );
        }
    }
    assert!(
        !world.seen.iter().any(|e| matches!(
            e,
            ShardEvent::ForwardingChanged {
                change: ForwardingChange::Paused,
                ..
            }
        )),
        "no subscriber was paused"
    );
    let stats = handle.stats().await.expect("stats");
    assert_eq!(stats.paused_subscriptions, 0, "{stats:?}");
    for p in [p1, p2, p3] {
        handle.remove_participant(room, p).await.expect("leave");
    }
    handle.shutdown().await.expect("shutdown");
}

// Datagrams that are no STUN/DTLS/RTP/RTCP, or that no peer accepts, are dropped and counted;
// the shard keeps serving (a publisher connects afterwards and its media arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_are_counted_and_the_shard_keeps_serving() {
    init_log();
    let (handle, events) = shard::spawn(shard_config()).expect("shard starts");
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 40],
        vec![0x00, 0x01, 0x00], // truncated STUN
        vec![0x80; 3],          // truncated RTP
        vec![0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9], // RTP from nobody
        vec![0x16, 0xfe, 0xfd, 0x00], // a DTLS scrap
        (0..1200u32).map(|i| (i * 7) as u8).collect(),
    ];
    for g in &garbage {
        attacker
            .send_to(g, handle.local_addr())
            .expect("send garbage");
    }
    let until = now() + DEADLINE;
    let stats = loop {
        let s = handle.stats().await.expect("stats");
        if s.datagrams_in >= garbage.len() as u64 {
            break s;
        }
        assert!(now() < until, "garbage never arrived: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        stats.datagrams_malformed + stats.datagrams_unmatched,
        garbage.len() as u64,
        "{stats:?}"
    );
    assert!(stats.datagrams_malformed > 0, "{stats:?}");

    // Still serving: a single-layer publisher connects and its tracks are published.
    let room = RoomId(7);
    let p = ParticipantId(70);
    handle.add_participant(room, p).await.expect("join");
    let publisher = publish(&handle, room, p, false).await;
    let mut world = World {
        publisher,
        subscribers: Vec::new(),
        events,
        seen: Vec::new(),
        simulcast: false,
        handle: handle.clone(),
    };
    world
        .eventually("publications after garbage", |w| {
            w.seen
                .iter()
                .filter(|e| matches!(e, ShardEvent::PublicationAdded { .. }))
                .count()
                == 2
        })
        .await;
    handle.remove_participant(room, p).await.expect("leave");
    let stats = handle.stats().await.expect("stats");
    assert_eq!((stats.peers, stats.publications, stats.rooms), (0, 0, 0));
    handle.shutdown().await.expect("shutdown");
}

// Control events are never dropped (STYLE.md rule 16): with room for a single telemetry event
// and nobody reading, the shard still announces the publisher's connected transport and both
// of its publications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_events_are_kept_while_nobody_reads() {
    init_log();
    let mut config = shard_config();
    config.event_capacity = 1;
    let (handle, mut events) = shard::spawn(config).expect("shard starts");
    let (room, p) = (RoomId(3), ParticipantId(30));
    handle.add_participant(room, p).await.expect("join");
    let mut publisher = publish(&handle, room, p, false).await;
    // Drive the publisher, reading no event, until the shard has both publications.
    let until = now() + DEADLINE;
    for turn in 0u32.. {
        publisher.step(false);
        tokio::time::sleep(Duration::from_millis(1)).await;
        if turn % 20 == 0 {
            let stats = handle.stats().await.expect("stats");
            if stats.publications == 2 {
                break;
            }
            assert!(now() < until, "no publications: {stats:?}");
        }
    }
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    let added = seen
        .iter()
        .filter(
            |e| matches!(e, ShardEvent::PublicationAdded { participant, .. } if *participant == p),
        )
        .count();
    assert_eq!(added, 2, "{seen:?}");
    assert!(
        seen.iter().any(|e| matches!(
            e,
            ShardEvent::TransportConnected {
                transport: TransportKind::Publisher,
                ..
            }
        )),
        "{seen:?}"
    );
    handle.remove_participant(room, p).await.expect("leave");
    handle.shutdown().await.expect("shutdown");
}
