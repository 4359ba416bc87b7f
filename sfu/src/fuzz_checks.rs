//! The checks behind the fuzz targets (`sfu/fuzz/`, libFuzzer via cargo-fuzz) and the corpus
//! replay test (`sfu/tests/forwarding_core/fuzz_corpus.rs`), so both run the same code (STYLE.md testing
//! level 4). Each takes arbitrary bytes and panics only if an invariant breaks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::vp8::Vp8Descriptor;
use crate::core::{
    Bitrate, Codec, CoreConfig, DownlinkId, EncodingIdx, ForwardingPolicy, Input, KeyframeKind,
    Layer, Location, MediaCore, Member, Output, ParticipantId, PayloadInfo, PublicationId,
    PublicationSpec, RtpHeader, RtpIn, SessionId, StreamRef, SubscriptionId,
};

/// `RtpIn::new` on arbitrary payloads: a packet is either refused with a reason or parsed, and
/// a parsed VP8 descriptor survives its own patch (same length, same layout).
pub fn rtp_in(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let codec = match selector % 3 {
        0 => Codec::Vp8,
        1 => Codec::H264,
        _ => Codec::Opus,
    };
    let header = RtpHeader {
        ssrc: 1,
        sequence_number: 2,
        timestamp: 3,
        marker: false,
        payload_type: 96,
        audio_level: None,
        red: false,
    };
    let Ok(pkt) = RtpIn::new(header, codec, Arc::from(payload)) else {
        return;
    };
    if let PayloadInfo::Vp8(d) = pkt.info {
        let mut buf = Vec::with_capacity(payload.len());
        let patch = crate::core::vp8::Vp8Patch {
            picture_id: Some(u16::from(selector) << 7 | 0x55),
            tl0_pic_idx: Some(selector),
            key_idx: Some(selector),
        };
        let out = crate::core::RtpOut {
            ssrc: 1,
            seq: 1,
            timestamp: 1,
            marker: false,
            payload_type: 96,
            audio_level: None,
            red: None,
            payload: pkt.payload.clone(),
            vp8_edits: patch.edits(&d, &pkt.payload),
        };
        out.write_payload(&mut buf);
        assert_eq!(buf.len(), payload.len(), "a patch never changes the length");
        let again = Vp8Descriptor::parse(&buf).expect("a patched descriptor still parses");
        assert_eq!(again.header_len, d.header_len);
        assert_eq!(again.tid, d.tid);
    }
}

/// The signalling decoder on arbitrary text: every frame is decoded or classified, and a
/// decoded frame re-encodes to one that decodes to the same message.
pub fn signalling_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(msg) = signalling_proto::decode_client_frame(&text) {
        let encoded = signalling_proto::encode_client_message(&msg);
        let again = signalling_proto::decode_client_frame(&encoded)
            .expect("an encoded command decodes again");
        assert_eq!(again, msg);
    }
}

const PARTICIPANTS: u64 = 4;

/// A byte-driven interpreter of `MediaCore` inputs and configuration calls over four
/// participants: nothing panics, and every forwarded packet is allowed by the policy in force.
pub fn core_inputs(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    #[allow(clippy::disallowed_methods)] // the fuzz harness owns the virtual clock's origin
    let mut now = Instant::now();
    let mut core = MediaCore::new(CoreConfig::default(), now);
    let mut policy = ForwardingPolicy::default();
    let mut downlinks: Vec<(ParticipantId, DownlinkId)> = Vec::new();
    let mut pubs: Vec<(ParticipantId, StreamRef, PublicationId, Codec)> = Vec::new();
    // subscription -> (subscriber, publisher, stream)
    let mut subs: HashMap<SubscriptionId, (ParticipantId, ParticipantId, StreamRef)> =
        HashMap::new();
    let mut sub_ids: Vec<SubscriptionId> = Vec::new();
    for i in 0..PARTICIPANTS {
        let p = ParticipantId(i);
        downlinks.push((p, core.add_downlink(p)));
        for (stream, codec, encodings) in [
            (StreamRef::CAMERA_VIDEO, Codec::Vp8, 3),
            (StreamRef::CAMERA_AUDIO, Codec::Opus, 1),
        ] {
            let spec = PublicationSpec {
                participant: p,
                stream,
                codec,
                encodings,
            };
            if let Ok(id) = core.add_publication(spec) {
                pubs.push((p, stream, id, codec));
            }
        }
    }
    let mut seq: u16 = 0;
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        match op % 8 {
            0 => {
                policy.version += 1;
                policy.breakout_active = arg & 1 != 0;
                policy.members.clear();
                policy.stage.clear();
                for i in 0..PARTICIPANTS {
                    let b = next().unwrap_or(0xff);
                    if b & 0x80 == 0 {
                        continue; // not admitted
                    }
                    let location = match b & 0x3 {
                        0 => Location::Main,
                        s => Location::Session(SessionId(u64::from(s))),
                    };
                    let mut m = Member::publisher(location);
                    m.audio_enabled = b & 0x4 != 0;
                    m.video_enabled = b & 0x8 != 0;
                    m.receive_only = b & 0x10 != 0;
                    policy.members.insert(ParticipantId(i), m);
                    if b & 0x20 != 0 {
                        policy
                            .stage
                            .insert((ParticipantId(i), crate::core::StreamId::Camera));
                    }
                }
                core.install_policy(now, policy.clone());
            }
            1 => {
                if pubs.is_empty() {
                    continue;
                }
                let (_, _, id, codec) = pubs[usize::from(arg) % pubs.len()];
                let len = usize::from(next().unwrap_or(0) % 32);
                let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                seq = seq.wrapping_add(u16::from(next().unwrap_or(1)));
                let header = RtpHeader {
                    ssrc: 7,
                    sequence_number: seq,
                    timestamp: u32::from(seq) * 3000,
                    marker: arg & 0x40 != 0,
                    payload_type: 96,
                    audio_level: None,
                    red: false,
                };
                if let Ok(pkt) = RtpIn::new(header, codec, Arc::from(payload)) {
                    core.handle_input(Input::Rtp {
                        at: now,
                        publication: id,
                        encoding: EncodingIdx(next().unwrap_or(0) % 4),
                        pkt,
                    });
                }
            }
            2 => {
                if let Some(sid) = pick(&sub_ids, arg) {
                    let kind = if arg & 1 == 0 {
                        KeyframeKind::Pli
                    } else {
                        KeyframeKind::Fir
                    };
                    core.handle_input(Input::Feedback {
                        at: now,
                        subscription: sid,
                        kind,
                    });
                }
            }
            3 => {
                let (_, d) = downlinks[usize::from(arg) % downlinks.len()];
                let b = next().unwrap_or(0);
                match arg >> 6 {
                    // Receiver-report loss (0..=255 of 1000) and transport connects share the
                    // estimate's op, so the checked-in corpus keeps its meaning below 128.
                    2 => {
                        if let Some(sid) = pick(&sub_ids, b) {
                            core.handle_input(Input::Loss {
                                at: now,
                                subscription: sid,
                                lost_per_mille: u16::from(b) * 4,
                            });
                        }
                    }
                    3 => core.handle_input(Input::DownlinkConnected {
                        at: now,
                        downlink: d,
                    }),
                    _ => core.handle_input(Input::Estimate {
                        at: now,
                        downlink: d,
                        bitrate: Bitrate::kbps(u64::from(b) * 20),
                    }),
                }
            }
            4 => {
                now += Duration::from_millis(u64::from(arg) * 10);
                core.handle_input(Input::Timeout(now));
            }
            5 => {
                if let Some(sid) = pick(&sub_ids, arg) {
                    let b = next().unwrap_or(0);
                    let layer = (b & 0x80 == 0).then(|| Layer::new(b % 4, (b >> 2) % 4));
                    let _ = core.set_requested(now, sid, layer);
                }
            }
            6 => {
                // Subscribe someone to something, or drop a subscription.
                if arg & 1 == 0 && !pubs.is_empty() {
                    let (s, d) = downlinks[usize::from(arg >> 1) % downlinks.len()];
                    let (q, stream, id, _) = pubs[usize::from(next().unwrap_or(0)) % pubs.len()];
                    if let Ok(sid) = core.subscribe(now, d, id, 1000 + sub_ids.len() as u32) {
                        subs.insert(sid, (s, q, stream));
                        sub_ids.push(sid);
                    }
                } else if let Some(sid) = pick(&sub_ids, arg) {
                    let _ = core.unsubscribe(sid);
                    subs.remove(&sid);
                    sub_ids.retain(|x| *x != sid);
                }
            }
            _ => {
                // Remove a publication (its subscriptions go with it).
                if !pubs.is_empty() {
                    let (_, _, id, _) = pubs.remove(usize::from(arg) % pubs.len());
                    let _ = core.remove_publication(id);
                    let gone: Vec<SubscriptionId> = subs
                        .iter()
                        .filter(|(sid, _)| core.layers(**sid).is_none())
                        .map(|(sid, _)| *sid)
                        .collect();
                    for sid in gone {
                        subs.remove(&sid);
                        sub_ids.retain(|x| *x != sid);
                    }
                }
            }
        }
        loop {
            match core.poll_output() {
                Output::Timeout(_) => break,
                Output::Forward(f) => {
                    let (s, q, stream) = subs[&f.subscription];
                    assert!(
                        policy.allowed(s, q, stream),
                        "forwarded {stream:?} of {q} to {s} against policy v{}",
                        policy.version
                    );
                }
                _ => {}
            }
        }
    }
}

fn pick(ids: &[SubscriptionId], arg: u8) -> Option<SubscriptionId> {
    (!ids.is_empty()).then(|| ids[usize::from(arg) % ids.len()])
}
