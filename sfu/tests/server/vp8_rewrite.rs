//! The VP8 descriptor rewrite on the wire: the picture ids a subscriber receives stay
//! continuous across simulcast layer switches, although each of the publisher's encoders counts
//! its own (here 1,000 apart, as a browser's simulcast encoders are independent). The bytes
//! come from the core's `Vp8Patch::edits`, which the property tests check, written by str0m
//! while it serialises each packet (vendor/str0m/PATCHES.md, patch 3).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use signalling_proto::Role;
use str0m::format::Codec as RtcCodec;

use crate::support::media_session::{answer_any_offer, start_publishing};
use crate::support::peer::{now, Client as Peer, Subscriber, FRAME_BYTES};
use crate::support::ws::*;

// Top layer, down to the lowest, back up: every received frame's picture id is the previous
// one plus one (mod 2^15), so the decoder never sees a jump; without the rewrite the switch
// jumps by 2,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picture_ids_stay_continuous_across_layer_switches() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let host_id = self_id(&host.join("vp8-1", "host", Role::Host).await);
    let mut ada = server.client().await;
    ada.join("vp8-1", "ada", Role::Visitor).await;

    let mut publisher = start_publishing(&mut host, true).await;
    let mut subscriber = Subscriber {
        client: Peer::new(),
        streams: BTreeMap::new(),
    };

    // Each phase: ask for a layer, then drive until frames of that layer's size arrive.
    for (spatial, bytes) in [
        (2, FRAME_BYTES[2]),
        (0, FRAME_BYTES[0]),
        (2, FRAME_BYTES[2]),
    ] {
        let prefs = json!({"preferences": [{
            "participantId": host_id, "streamId": "camera", "kind": "video",
            "maxLayer": {"spatial": spatial, "temporal": 2},
        }]});
        let mut asked = false;
        let until = now() + Duration::from_secs(20);
        loop {
            let frames = subscriber
                .streams
                .values()
                .flat_map(|r| &r.vp8)
                .rev()
                .take_while(|(_, len)| *len == bytes)
                .count();
            if frames >= 20 {
                break;
            }
            assert!(
                now() < until,
                "no {bytes}-byte frames after asking for spatial layer {spatial}"
            );
            publisher.step(true);
            subscriber.step();
            answer_any_offer(&mut ada, &mut subscriber).await;
            if !asked && subscriber.count(RtcCodec::Vp8) > 0 {
                ok_result(
                    &ada.call("set_subscription_preferences", prefs.clone())
                        .await,
                );
                asked = true;
            }
        }
    }

    let video = subscriber
        .streams
        .values()
        .find(|r| r.codec == Some(RtcCodec::Vp8))
        .expect("a video stream");
    // Frames in sequence-number order, one packet each; a gap in sequence numbers (a loss
    // on loopback, repaired out of order) says nothing about the rewrite, so skip its pair.
    let mut frames: Vec<(u64, u16, usize)> = video
        .packets
        .iter()
        .zip(&video.vp8)
        .map(|(&(seq, _), &(pid, len))| (seq, pid.expect("every frame has a picture id"), len))
        .collect();
    frames.sort_unstable();
    frames.dedup_by_key(|f| f.0);
    let sizes: std::collections::BTreeSet<usize> = frames.iter().map(|f| f.2).collect();
    assert!(
        sizes.contains(&FRAME_BYTES[0]) && sizes.contains(&FRAME_BYTES[2]),
        "both layers were received: {sizes:?}"
    );
    let mut switches = 0;
    for pair in frames.windows(2) {
        let ((s0, p0, l0), (s1, p1, l1)) = (pair[0], pair[1]);
        if s1 != s0 + 1 {
            continue;
        }
        switches += usize::from(l0 != l1);
        assert_eq!(
            p1.wrapping_sub(p0) & 0x7fff,
            1,
            "picture id {p0} -> {p1} at seq {s0} -> {s1} ({l0} -> {l1} bytes)"
        );
    }
    assert!(switches >= 2, "only {switches} layer switches seen");
}
