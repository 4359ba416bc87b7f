//! Level-2 scenarios: VP8 temporal layer filtering, and an H264 single-layer publisher.

use sfu::core::testing::{Netem, Received};
use sfu::core::{DropReason, Layer, Location};

use crate::support::common::*;

/// (picture id, TL0PICIDX, TID) of each frame start in `rx`.
fn frames(rx: &[&Received]) -> Vec<(u16, u8, u8)> {
    rx.iter()
        .filter_map(|x| x.vp8)
        .filter(|d| d.start_of_partition && d.partition_index == 0)
        .map(|d| {
            (
                d.picture_id.map(|p| p.value).unwrap(),
                d.tl0_pic_idx.unwrap(),
                d.tid.unwrap(),
            )
        })
        .collect()
}

// A request of temporal layer 0 forwards only TID 0 frames, with contiguous sequence numbers,
// picture ids +1 per forwarded frame and TL0PICIDX +1 per frame.
#[test]
fn temporal_zero_request_forwards_only_base_layer() {
    let mut r = room(2);
    r.run_for(ms(1000));
    let sid = r.subscription(p(2), p(1), true);
    r.core
        .set_requested(r.now, sid, Some(Layer::new(2, 0)))
        .unwrap();
    r.drain();
    let filtered_before = r.core.stats().drops(DropReason::TemporalLayerFiltered);
    let requested = r.now;
    r.run_for(ms(3000));
    assert!(r.core.stats().drops(DropReason::TemporalLayerFiltered) > filtered_before);
    let rx = r.received_by(p(2), p(1), true);
    assert_contiguous(rx);
    // From the first frame start after the request on, only TID 0.
    let later: Vec<&Received> = rx.iter().filter(|x| x.at > requested + ms(40)).collect();
    let f = frames(&later);
    assert!(
        f.len() >= 20,
        "about 7.5 frames/s of TID 0, got {}",
        f.len()
    );
    assert!(later.iter().all(|x| x.tid() == Some(0)), "only TID 0");
    for w in f.windows(2) {
        assert_eq!(w[1].0, (w[0].0 + 1) & 0x7fff, "picture ids continuous");
        assert_eq!(
            w[1].1,
            w[0].1.wrapping_add(1),
            "TL0PICIDX +1 per base frame"
        );
    }
    // Across the change too: the whole stream's picture ids have no gap.
    let all: Vec<&Received> = rx.iter().collect();
    let f = frames(&all);
    for w in f.windows(2) {
        assert_eq!(w[1].0, (w[0].0 + 1) & 0x7fff, "picture ids continuous");
    }
}

// Temporal layer 1 forwards TID 0 and 1 (15 fps); raising back to 2 resumes every frame at a
// layer-sync frame, with the stream still continuous.
#[test]
fn temporal_layer_up_and_down_keeps_stream_continuous() {
    let mut r = room(2);
    r.run_for(ms(1000));
    let sid = r.subscription(p(2), p(1), true);
    r.core
        .set_requested(r.now, sid, Some(Layer::new(2, 1)))
        .unwrap();
    r.drain();
    let t1 = r.now;
    r.run_for(ms(2000));
    r.core
        .set_requested(r.now, sid, Some(Layer::new(2, 2)))
        .unwrap();
    r.drain();
    let t2 = r.now;
    r.run_for(ms(2000));
    let rx = r.received_by(p(2), p(1), true);
    assert_contiguous(rx);
    let mid: Vec<&Received> = rx
        .iter()
        .filter(|x| x.at > t1 + ms(40) && x.at <= t2)
        .collect();
    assert!(mid.iter().all(|x| x.tid().unwrap() <= 1));
    let n_mid = frames(&mid).len();
    assert!((28..=32).contains(&n_mid), "15 fps for 2 s, got {n_mid}");
    let end: Vec<&Received> = rx.iter().filter(|x| x.at > t2 + ms(200)).collect();
    assert!(end.iter().any(|x| x.tid() == Some(2)), "TID 2 is back");
    let all: Vec<&Received> = rx.iter().collect();
    for w in frames(&all).windows(2) {
        assert_eq!(w[1].0, (w[0].0 + 1) & 0x7fff, "picture ids continuous");
    }
}

// Temporal filtering with loss and reordering on the way in: output sequence numbers stay
// unique, only TID 0 is forwarded, and the stream starts on a keyframe.
#[test]
fn temporal_filter_under_loss_keeps_output_unique() {
    let mut r = room(2);
    r.netem.insert(p(1), Netem::new(11, 3.0, 5.0));
    let sid = r.subscription(p(2), p(1), true);
    r.core
        .set_requested(r.now, sid, Some(Layer::new(2, 0)))
        .unwrap();
    r.drain();
    r.run_for(ms(5000));
    let rx = r.received_by(p(2), p(1), true);
    let mut seqs: Vec<u64> = rx.iter().map(|x| x.seq).collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no duplicate output seq");
    assert!(rx.iter().all(|x| x.tid() == Some(0)));
    assert!(rx[0].keyframe);
}

// An H264 single-layer publisher is forwarded to every subscriber starting on a keyframe, with
// one SSRC and contiguous sequence numbers; a late subscriber also starts on a keyframe,
// obtained with one keyframe request.
#[test]
fn h264_single_layer_forwards_from_keyframe() {
    let mut r = start();
    r.join(p(1), Location::Main);
    r.join(p(2), Location::Main);
    let (video, _) = r.publish_h264_camera(p(1));
    r.publish_camera(p(2), 1);
    r.subscribe_all();
    r.run_for(ms(2000));
    let rx = r.received_by(p(2), p(1), true);
    assert!(rx[0].keyframe, "first packet carries the SPS/IDR");
    assert_contiguous(rx);
    assert!(
        rx.len() >= 170,
        "3 packets per frame at 30 fps, got {}",
        rx.len()
    );

    r.join(p(3), Location::Main);
    r.subscribe_all();
    let joined = r.now;
    r.run_for(ms(2000));
    let rx3 = r.received_by(p(3), p(1), true);
    assert!(rx3[0].keyframe, "late subscriber starts on a keyframe");
    assert_contiguous(rx3);
    let requests = r
        .keyframe_requests
        .iter()
        .filter(|(at, pubid, _, _)| *pubid == video && *at >= joined)
        .count();
    assert_eq!(requests, 1);
    assert!(r.leaks().is_empty());
    // The earlier subscriber did not notice.
    assert_contiguous(r.received_by(p(2), p(1), true));
}

// H264 through a lossy, reordering network never yields a duplicate output seq and never
// starts a subscriber anywhere but on a keyframe.
#[test]
fn h264_under_loss_keeps_output_unique() {
    let mut r = start();
    r.join(p(1), Location::Main);
    r.join(p(2), Location::Main);
    r.publish_h264_camera(p(1));
    r.subscribe_all();
    r.netem.insert(p(1), Netem::new(3, 5.0, 10.0));
    r.run_for(ms(4000));
    let rx = r.received_by(p(2), p(1), true);
    assert!(rx[0].keyframe);
    let mut seqs: Vec<u64> = rx.iter().map(|x| x.seq).collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n);
}

/// The layers reported to `sid`'s subscriber by `LayerChanged`, in order.
fn reported(r: &sfu::core::testing::TestRoom, sid: sfu::core::SubscriptionId) -> Vec<Layer> {
    r.events
        .iter()
        .filter_map(|(_, e)| match e {
            sfu::core::CoreEvent::LayerChanged {
                subscription,
                layer,
            } if *subscription == sid => Some(*layer),
            _ => None,
        })
        .collect()
}

// Issue 13, goal 6: a change of temporal layer alone (the frame rate) is reported like a change
// of encoding: lowering the request to temporal layer 0 reports {2, 0}, raising it again reports
// the way back up to {2, 2}.
#[test]
fn temporal_layer_changes_are_reported() {
    let mut r = room(2);
    r.run_for(ms(1000));
    let sid = r.subscription(p(2), p(1), true);
    assert_eq!(reported(&r, sid).last(), Some(&Layer::new(2, 2)));
    r.core
        .set_requested(r.now, sid, Some(Layer::new(2, 0)))
        .unwrap();
    r.run_for(ms(500));
    assert_eq!(reported(&r, sid).last(), Some(&Layer::new(2, 0)));
    r.core
        .set_requested(r.now, sid, Some(Layer::HIGHEST))
        .unwrap();
    r.run_for(ms(500));
    assert_eq!(reported(&r, sid).last(), Some(&Layer::new(2, 2)));
    assert_eq!(r.core.layers(sid).unwrap().current, Some(Layer::new(2, 2)));
}

// Issue 13, goal 6: an encoding without temporal layers (H264 here; equally VP8 without a TID)
// is one layer, reported as {0, 0}, not as {0, 2}.
#[test]
fn single_layer_stream_without_temporal_layers_is_reported_as_temporal_zero() {
    let mut r = start();
    r.join(p(1), Location::Main);
    r.join(p(2), Location::Main);
    r.publish_h264_camera(p(1));
    r.subscribe_all();
    r.run_for(ms(2000));
    let sid = r.subscription(p(2), p(1), true);
    assert_eq!(reported(&r, sid), [Layer::new(0, 0)]);
    let layers = r.core.layers(sid).unwrap();
    assert_eq!(
        (layers.target, layers.current),
        (Some(Layer::new(0, 0)), Some(Layer::new(0, 0)))
    );
}
