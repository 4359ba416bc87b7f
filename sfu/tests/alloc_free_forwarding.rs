//! Pins the zero-allocation packet path (STYLE.md performance rules): in steady state,
//! forwarding a packet to 100 subscribers allocates nothing. Counted with dhat's counting
//! allocator, so the check is exact and does not depend on timing.

use std::time::{Duration, Instant};

use std::sync::Arc;

use sfu::core::testing::PacketBuilder;
use sfu::core::{
    Codec, CoreConfig, EncodingIdx, ForwardingPolicy, Input, Location, MediaCore, Member, Output,
    ParticipantId, PublicationSpec, RtpHeader, RtpIn, StreamRef,
};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

// 100 subscriptions each of a VP8 camera with a rewritten picture id and of RED audio: after
// warm-up, 1,000 packets of each (200,000 forwards, ticks and keyframes included) cause no heap
// allocation at all. (A RED packet's primary block is cut out once, when it arrives, in
// `RtpIn::new`: outside the window, like the transport's buffers.)
#[test]
fn steady_state_forwarding_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let mut now = Instant::now();
    let mut core = MediaCore::new(CoreConfig::default(), now);
    let mut policy = ForwardingPolicy {
        version: 1,
        ..ForwardingPolicy::default()
    };
    policy
        .members
        .insert(ParticipantId(0), Member::publisher(Location::Main));
    let publication = core
        .add_publication(PublicationSpec {
            participant: ParticipantId(0),
            stream: StreamRef::CAMERA_VIDEO,
            codec: Codec::Vp8,
            encodings: 1,
        })
        .unwrap();
    let audio = core
        .add_publication(PublicationSpec {
            participant: ParticipantId(0),
            stream: StreamRef::CAMERA_AUDIO,
            codec: Codec::Opus,
            encodings: 1,
        })
        .unwrap();
    for i in 1..=100 {
        policy
            .members
            .insert(ParticipantId(i), Member::publisher(Location::Main));
        let d = core.add_downlink(ParticipantId(i));
        core.subscribe(now, d, publication, 1000 + i as u32)
            .unwrap();
        core.subscribe(now, d, audio, 2000 + i as u32).unwrap();
    }
    core.install_policy(now, policy);
    let mut forwards = 0u64;
    let packet = |n: u16| {
        let mut b = PacketBuilder::vp8()
            .seq(n)
            .ts(u32::from(n) * 3000)
            .picture_id(n)
            .tl0_pic_idx(n as u8)
            .tid(0)
            .len(1000);
        if n.is_multiple_of(100) {
            b = b.keyframe();
        }
        b.build()
    };
    // RFC 2198: one redundant Opus block (PT 111, 960 ticks back, 40 bytes), then the primary.
    let red = |n: u16| {
        let mut payload = vec![0x80 | 111, 0x0f, 0x00, 40, 111];
        payload.resize(5 + 40 + 60, 0x55);
        let header = RtpHeader {
            ssrc: 9,
            sequence_number: n,
            timestamp: u32::from(n) * 960,
            marker: false,
            payload_type: 63,
            audio_level: None,
            red: true,
        };
        RtpIn::new(header, Codec::Opus, Arc::from(payload)).unwrap()
    };
    let mut step = |core: &mut MediaCore, now: Instant, (pkt, red_pkt)| {
        core.handle_input(Input::Rtp {
            at: now,
            publication,
            encoding: EncodingIdx(0),
            pkt,
        });
        core.handle_input(Input::Rtp {
            at: now,
            publication: audio,
            encoding: EncodingIdx(0),
            pkt: red_pkt,
        });
        if now >= core.poll_timeout() {
            core.handle_input(Input::Timeout(now));
        }
        loop {
            match core.poll_output() {
                Output::Timeout(_) => break,
                Output::Forward(f) => {
                    forwards += 1;
                    drop(f);
                }
                _ => {}
            }
        }
    };
    for n in 0..200u16 {
        now += Duration::from_millis(33);
        step(&mut core, now, (packet(n), red(n)));
    }
    // Packets are built before the measured window: their buffers are the transport's.
    let packets: Vec<_> = (200..1200).map(|n| (packet(n), red(n))).collect();
    let before = dhat::HeapStats::get();
    for pkt in packets {
        now += Duration::from_millis(33);
        step(&mut core, now, pkt);
    }
    let after = dhat::HeapStats::get();
    assert!(forwards > 200_000, "forwarded {forwards}");
    assert_eq!(after.total_blocks - before.total_blocks, 0, "allocations");
}
