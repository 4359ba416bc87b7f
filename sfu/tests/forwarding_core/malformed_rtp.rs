//! Level-5 hostile input: garbage codec payloads, stale ids and out-of-range encodings get a
//! named drop reason and a counter, never a panic (STYLE.md rule 9; str0m
//! `malformed-packet-injection.rs`).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sfu::core::testing::{PacketBuilder, TestRoom};
use sfu::core::vp8::{Vp8Descriptor, Vp8Patch};
use sfu::core::{
    Bitrate, Codec, CoreConfig, DropReason, EncodingIdx, Input, KeyframeKind, Location, MediaCore,
    Output, ParticipantId, PublicationSpec, RtpHeader, RtpIn, StreamRef,
};
use std::sync::Arc;

fn header() -> RtpHeader {
    PacketBuilder::vp8().build().header
}

fn parse(codec: Codec, bytes: &[u8]) -> Result<RtpIn, DropReason> {
    RtpIn::new(header(), codec, Arc::from(bytes))
}

// Truncated VP8 payload descriptors are refused as malformed: no VP8 data after the
// descriptor, an X bit without its extension octet, I/L/T/K fields cut off.
#[test]
fn truncated_vp8_payloads_are_malformed() {
    let cases: &[&[u8]] = &[
        &[],
        &[0x10],                   // S=1, no payload header
        &[0x80],                   // X=1, extension octet missing
        &[0x90, 0x80],             // I=1, picture id missing
        &[0x90, 0x80, 0x81],       // M=1, second picture id octet missing
        &[0x90, 0x80, 0x81, 0x02], // 15-bit picture id, no payload header
        &[0x90, 0x40],             // L=1, TL0PICIDX missing
        &[0x90, 0x20],             // T=1, TID octet missing
        &[0x90, 0x10],             // K=1, KEYIDX octet missing
        &[0x90, 0xf0, 0x80, 0x01, 0x07, 0x40],
    ];
    for bytes in cases {
        assert_eq!(
            parse(Codec::Vp8, bytes),
            Err(DropReason::MalformedPayload),
            "{bytes:02x?}"
        );
    }
}

// Garbage H264 payloads are refused: empty, forbidden NAL types 0/30/31, STAP-A with sizes
// that overrun the packet or an empty aggregate, FU-A without its header.
#[test]
fn garbage_h264_payloads_are_malformed() {
    let cases: &[&[u8]] = &[
        &[],
        &[0x00],
        &[0x1e, 0x01],
        &[0x1f],
        &[0x78],
        &[0x78, 0x00],
        &[0x78, 0x00, 0x05, 0x67],
        &[0x78, 0x00, 0x00],
        &[0x78, 0x00, 0x01, 0x67, 0x00],
        &[0x7c],
        &[0x5c],
    ];
    for bytes in cases {
        assert_eq!(
            parse(Codec::H264, bytes),
            Err(DropReason::MalformedPayload),
            "{bytes:02x?}"
        );
    }
}

// The shell counts a payload refused by `RtpIn::new` itself; the core then never sees it.
// What the core does see with a stale publication, or an encoding the publication does not
// have, is dropped as UnknownPublication and counted once per packet.
#[test]
fn stale_publication_and_encoding_out_of_range_are_counted() {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let t0 = Instant::now();
    let mut r = TestRoom::new(t0);
    for i in 1..=2 {
        r.join(ParticipantId(i), Location::Main);
    }
    r.publish_camera(ParticipantId(1), 2);
    r.subscribe_all();
    r.run_for(Duration::from_millis(500));
    let (video, audio) = r.camera(ParticipantId(1));
    let before = *r.core.stats();
    let vp8 = PacketBuilder::vp8().keyframe().tid(0).picture_id(3).build();
    let opus = PacketBuilder::opus().build();
    let now = r.now;
    let inputs = [
        (video, 2, vp8.clone()),
        (video, 3, vp8.clone()),
        (video, 255, vp8.clone()),
        (audio, 1, opus.clone()),
    ];
    for (publication, e, pkt) in inputs {
        r.core.handle_input(Input::Rtp {
            at: now,
            publication,
            encoding: EncodingIdx(e),
            pkt,
        });
    }
    r.drain();
    let after = *r.core.stats();
    assert_eq!(
        after.drops(DropReason::UnknownPublication),
        before.drops(DropReason::UnknownPublication) + 4
    );
    assert_eq!(after.packets_out, before.packets_out, "nothing forwarded");

    r.core.remove_publication(video).unwrap();
    let sid = r.subscriptions.values().copied().next().unwrap();
    let downlink = r.downlink(ParticipantId(2));
    r.core.remove_downlink(downlink).unwrap();
    for input in [
        Input::Rtp {
            at: now,
            publication: video,
            encoding: EncodingIdx(0),
            pkt: vp8,
        },
        Input::Feedback {
            at: now,
            subscription: sid,
            kind: KeyframeKind::Pli,
        },
        Input::Estimate {
            at: now,
            downlink,
            bitrate: Bitrate::kbps(1),
        },
        Input::Timeout(now),
    ] {
        r.core.handle_input(input);
    }
    r.drain();
    assert_eq!(
        r.core.stats().drops(DropReason::UnknownPublication),
        before.drops(DropReason::UnknownPublication) + 5
    );
}

// A payload parsed for one codec but fed to a publication of another (a shell mix-up or a
// payload-type confusion attack) is forwarded or dropped, never a panic.
#[test]
fn payload_of_the_wrong_codec_does_not_panic() {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let t0 = Instant::now();
    let mut core = MediaCore::new(CoreConfig::default(), t0);
    let p1 = ParticipantId(1);
    let mut policy = sfu::core::ForwardingPolicy {
        version: 1,
        ..Default::default()
    };
    for p in [1, 2] {
        policy.members.insert(
            ParticipantId(p),
            sfu::core::Member::publisher(Location::Main),
        );
    }
    let specs = [
        (StreamRef::CAMERA_VIDEO, Codec::Vp8, 3),
        (StreamRef::CAMERA_VIDEO, Codec::H264, 1),
        (StreamRef::CAMERA_AUDIO, Codec::Opus, 1),
    ];
    let d = core.add_downlink(ParticipantId(2));
    let pubs: Vec<_> = specs
        .iter()
        .map(|(stream, codec, encodings)| {
            core.add_publication(PublicationSpec {
                participant: p1,
                stream: *stream,
                codec: *codec,
                encodings: *encodings,
            })
            .unwrap()
        })
        .collect();
    for (i, publication) in pubs.iter().enumerate() {
        core.subscribe(t0, d, *publication, 100 + i as u32).unwrap();
    }
    core.install_policy(t0, policy);
    let pkts = [
        PacketBuilder::vp8().keyframe().tid(2).picture_id(9).build(),
        PacketBuilder::h264().keyframe().build(),
        PacketBuilder::h264().start(false).build(),
        PacketBuilder::opus().build(),
    ];
    for (n, pkt) in pkts.iter().cycle().take(40).enumerate() {
        for publication in &pubs {
            core.handle_input(Input::Rtp {
                at: t0 + Duration::from_millis(n as u64 * 10),
                publication: *publication,
                encoding: EncodingIdx((n % 3) as u8),
                pkt: pkt.clone(),
            });
        }
    }
    while !matches!(core.poll_output(), Output::Timeout(_)) {}
    let s = core.stats();
    assert_eq!(s.packets_in, 120);
}

proptest! {
    // Arbitrary bytes through both payload parsers: Ok or MalformedPayload, never a panic; an
    // accepted VP8 descriptor lies inside the payload and leaves VP8 data after it.
    #[test]
    fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..24)) {
        for codec in [Codec::Vp8, Codec::H264, Codec::Opus] {
            match parse(codec, &bytes) {
                Ok(pkt) => {
                    if let sfu::core::PayloadInfo::Vp8(d) = pkt.info {
                        prop_assert!(usize::from(d.header_len) < bytes.len());
                    }
                    let _ = (pkt.is_keyframe(), pkt.starts_frame(), pkt.temporal_id());
                }
                Err(e) => prop_assert_eq!(e, DropReason::MalformedPayload),
            }
        }
    }

    // `Vp8Patch::edits` for a descriptor parsed from one buffer and any patch, applied to any
    // other buffer (shorter, longer, garbage), never panics and never changes the length;
    // applied to its own buffer the edits re-parse to the same layout with the patched values
    // (the edits are what str0m writes on the wire).
    #[test]
    fn vp8_patch_apply_never_panics(
        src in prop::collection::vec(any::<u8>(), 0..16),
        other in prop::collection::vec(any::<u8>(), 0..16),
        picture_id in prop::option::of(any::<u16>()),
        tl0_pic_idx in prop::option::of(any::<u8>()),
        key_idx in prop::option::of(any::<u8>()),
    ) {
        let patch = Vp8Patch { picture_id, tl0_pic_idx, key_idx };
        let Some(d) = Vp8Descriptor::parse(&src) else { return Ok(()) };
        let mut buf = other.clone();
        patch.edits(&d, &other).apply(&mut buf);
        prop_assert_eq!(buf.len(), other.len());
        let mut own = src.clone();
        let edits = patch.edits(&d, &src);
        prop_assert!(edits.iter().all(|(at, _)| at < usize::from(d.header_len)));
        edits.apply(&mut own);
        prop_assert_eq!(own.len(), src.len());
        let p = Vp8Descriptor::parse(&own).expect("a patched descriptor still parses");
        prop_assert_eq!(p.header_len, d.header_len);
        prop_assert_eq!((p.tid, p.layer_sync, p.keyframe), (d.tid, d.layer_sync, d.keyframe));
        prop_assert_eq!(p.picture_id.map(|x| x.long), d.picture_id.map(|x| x.long));
        if let (Some(new), Some(old)) = (picture_id, d.picture_id) {
            let mask = if old.long { 0x7fff } else { 0x7f };
            prop_assert_eq!(p.picture_id.unwrap().value, new & mask);
        }
        if let (Some(new), Some(_)) = (tl0_pic_idx, d.tl0_pic_idx) {
            prop_assert_eq!(p.tl0_pic_idx, Some(new));
        }
        if let (Some(new), Some(_)) = (key_idx, d.key_idx) {
            prop_assert_eq!(p.key_idx, Some(new & 0x1f));
        }
        prop_assert_eq!(&own[usize::from(d.header_len)..], &src[usize::from(d.header_len)..]);
    }

    // Arbitrary packets (any bytes, any codec's parse) with arbitrary publication, encoding
    // and subscription indices into a small room: no panic, and every input is counted in.
    #[test]
    fn arbitrary_inputs_into_a_room_never_panic(
        inputs in prop::collection::vec(
            (0usize..8, any::<u8>(), 0u8..3, prop::collection::vec(any::<u8>(), 0..12), 0u64..50),
            1..60,
        ),
    ) {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut r = TestRoom::new(t0);
        for i in 1..=3 {
            r.join(ParticipantId(i), Location::Main);
            r.publish_camera(ParticipantId(i), 1 + (i as u8 % 3));
        }
        r.subscribe_all();
        let pubs: Vec<_> = (1..=3)
            .flat_map(|i| {
                let (v, a) = r.camera(ParticipantId(i));
                [v, a]
            })
            .collect();
        r.core.remove_publication(pubs[5]).unwrap();
        let sids: Vec<_> = r.subscriptions.values().copied().collect();
        let mut at = t0;
        let mut rtp = 0;
        for (which, encoding, codec, bytes, advance) in inputs {
            at += Duration::from_millis(advance);
            let codec = [Codec::Vp8, Codec::H264, Codec::Opus][usize::from(codec)];
            if let Ok(pkt) = parse(codec, &bytes) {
                rtp += 1;
                r.core.handle_input(Input::Rtp {
                    at,
                    publication: pubs[which % pubs.len()],
                    encoding: EncodingIdx(encoding),
                    pkt,
                });
            }
            r.core.handle_input(Input::Feedback {
                at,
                subscription: sids[which % sids.len()],
                kind: KeyframeKind::Fir,
            });
            r.core.handle_input(Input::Timeout(at));
            r.drain();
        }
        prop_assert_eq!(r.core.stats().packets_in, rtp);
    }
}
