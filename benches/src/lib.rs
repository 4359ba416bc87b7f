//! Shared set-up for the criterion benches: rooms of a given shape built on the real
//! `MediaCore`, and a steady stream of publisher packets.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use sfu::core::testing::PacketBuilder;
use sfu::core::{
    Codec, CoreConfig, EncodingIdx, ForwardingPolicy, Input, Location, MediaCore, Member, Output,
    ParticipantId, PublicationId, PublicationSpec, RtpIn, SessionId, StreamRef,
};

/// One publisher's single-encoding VP8 camera forwarded to `fanout` subscribers in one room.
#[derive(Debug)]
pub struct FanoutRoom {
    pub core: MediaCore,
    pub publication: PublicationId,
    pub now: Instant,
    seq: u16,
    ts: u32,
    pid: u16,
    frame: u64,
    delta: RtpIn,
    pub forwarded: u64,
}

impl FanoutRoom {
    pub fn new(fanout: usize) -> FanoutRoom {
        #[allow(clippy::disallowed_methods)] // benches own the clock
        let now = Instant::now();
        let mut core = MediaCore::new(CoreConfig::default(), now);
        let publisher = ParticipantId(0);
        let mut policy = ForwardingPolicy {
            version: 1,
            ..ForwardingPolicy::default()
        };
        policy
            .members
            .insert(publisher, Member::publisher(Location::Main));
        let publication = core
            .add_publication(PublicationSpec {
                participant: publisher,
                stream: StreamRef::CAMERA_VIDEO,
                codec: Codec::Vp8,
                encodings: 1,
            })
            .expect("valid publication");
        for i in 1..=fanout as u64 {
            let p = ParticipantId(i);
            policy.members.insert(p, Member::publisher(Location::Main));
            let d = core.add_downlink(p);
            core.subscribe(now, d, publication, 5000 + i as u32)
                .expect("known downlink and publication");
        }
        core.install_policy(now, policy);
        let delta = PacketBuilder::vp8()
            .ssrc(42)
            .picture_id(0)
            .tl0_pic_idx(0)
            .tid(0)
            .len(1000)
            .build();
        let mut room = FanoutRoom {
            core,
            publication,
            now,
            seq: 1,
            ts: 0,
            pid: 0,
            frame: 0,
            delta,
            forwarded: 0,
        };
        // Start every subscription with a keyframe, then settle the outputs.
        let key = PacketBuilder::vp8()
            .ssrc(42)
            .seq(0)
            .picture_id(0)
            .tl0_pic_idx(0)
            .tid(0)
            .keyframe()
            .len(1000)
            .build();
        room.input(key);
        room
    }

    /// Feeds the next delta packet of the stream (one per frame) and drains every output.
    pub fn step(&mut self) {
        let mut pkt = self.delta.clone();
        pkt.header.sequence_number = self.seq;
        pkt.header.timestamp = self.ts;
        if let sfu::core::PayloadInfo::Vp8(d) = &mut pkt.info {
            if let Some(p) = d.picture_id.as_mut() {
                p.value = self.pid;
            }
        }
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(3000);
        self.pid = (self.pid + 1) & 0x7fff;
        self.frame += 1;
        self.now += Duration::from_micros(33_333);
        self.input(pkt);
    }

    fn input(&mut self, pkt: RtpIn) {
        self.core.handle_input(Input::Rtp {
            at: self.now,
            publication: self.publication,
            encoding: EncodingIdx(0),
            pkt,
        });
        if self.now >= self.core.poll_timeout() {
            self.core.handle_input(Input::Timeout(self.now));
        }
        loop {
            match self.core.poll_output() {
                Output::Timeout(_) => break,
                Output::Forward(f) => {
                    self.forwarded += 1;
                    std::hint::black_box(f);
                }
                other => {
                    std::hint::black_box(other);
                }
            }
        }
    }
}

/// A room of `participants` (each publishing camera audio and video) spread evenly over
/// `groups` breakout sessions, each subscribed to everyone in its own session: what the shell
/// holds during a breakout run.
#[derive(Debug)]
pub struct BreakoutRoom {
    pub core: MediaCore,
    pub now: Instant,
    pub policy: ForwardingPolicy,
    pub participants: u64,
    pub groups: u64,
}

impl BreakoutRoom {
    pub fn new(participants: u64, groups: u64) -> BreakoutRoom {
        #[allow(clippy::disallowed_methods)] // benches own the clock
        let now = Instant::now();
        let mut core = MediaCore::new(CoreConfig::default(), now);
        let policy = Self::policy(participants, groups, 0, 1);
        let mut downlinks = Vec::new();
        let mut pubs = Vec::new();
        for i in 0..participants {
            let p = ParticipantId(i);
            downlinks.push(core.add_downlink(p));
            for (stream, codec, encodings) in [
                (StreamRef::CAMERA_VIDEO, Codec::Vp8, 3),
                (StreamRef::CAMERA_AUDIO, Codec::Opus, 1),
            ] {
                let id = core
                    .add_publication(PublicationSpec {
                        participant: p,
                        stream,
                        codec,
                        encodings,
                    })
                    .expect("valid publication");
                pubs.push((i, id));
            }
        }
        core.install_policy(now, policy.clone());
        let mut ssrc = 1;
        for s in 0..participants {
            for (q, publication) in &pubs {
                if *q != s && q % groups == s % groups {
                    ssrc += 1;
                    core.subscribe(now, downlinks[s as usize], *publication, ssrc)
                        .expect("known ids");
                }
            }
        }
        while !matches!(core.poll_output(), Output::Timeout(_)) {}
        BreakoutRoom {
            core,
            now,
            policy,
            participants,
            groups,
        }
    }

    /// The policy with participant `i` in session `(i + shift) % groups`.
    pub fn policy(participants: u64, groups: u64, shift: u64, version: u64) -> ForwardingPolicy {
        let mut policy = ForwardingPolicy {
            version,
            breakout_active: true,
            ..ForwardingPolicy::default()
        };
        for i in 0..participants {
            let session = Location::Session(SessionId((i + shift) % groups));
            policy
                .members
                .insert(ParticipantId(i), Member::publisher(session));
        }
        policy
    }
}
