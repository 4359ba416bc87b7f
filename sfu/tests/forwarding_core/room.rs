//! Level-2 scenario tests: whole-room flows through `MediaCore` on a virtual clock.

use std::time::Duration;

use sfu::core::testing::{Netem, Received};
use sfu::core::{CoreEvent, Layer, Location, SessionId};

use crate::support::common::*;

/// The shared wire invariants, plus a keyframe first for video.
fn assert_clean_stream(rx: &[Received], video: bool) {
    assert_contiguous(rx);
    if video {
        assert!(rx[0].keyframe, "first video packet is a keyframe");
    }
}

// In a plain meeting every subscriber receives every other publisher's audio and the highest
// video layer, each as one clean stream.
#[test]
fn everyone_receives_everyone() {
    let mut r = room(3);
    r.run_for(secs(3));
    for s in 1..=3 {
        for q in (1..=3).filter(|q| *q != s) {
            let video = r.received_by(p(s), p(q), true);
            assert_clean_stream(video, true);
            assert_eq!(video.last().unwrap().encoding, 2, "highest layer");
            let audio = r.received_by(p(s), p(q), false);
            assert_clean_stream(audio, false);
            assert!(
                audio.len() >= 140,
                "~50 audio packets/s, got {}",
                audio.len()
            );
        }
    }
}

// Lowering the request switches down on a keyframe of the low layer, raising it switches back;
// the stream stays one SSRC with contiguous seq and continuous picture ids.
#[test]
fn simulcast_switch_waits_for_keyframe() {
    let mut r = room(2);
    r.run_for(secs(2));
    let sid = r.subscription(p(2), p(1), true);
    r.core
        .set_requested(r.now, sid, Some(Layer::new(0, 2)))
        .unwrap();
    r.drain();
    r.run_for(secs(2));
    assert_eq!(
        r.core.layers(sid).unwrap().current.map(|l| l.spatial),
        Some(0)
    );
    r.core
        .set_requested(r.now, sid, Some(Layer::HIGHEST))
        .unwrap();
    r.drain();
    r.run_for(secs(2));
    assert_eq!(
        r.core.layers(sid).unwrap().current.map(|l| l.spatial),
        Some(2)
    );
    let rx = r.received_by(p(2), p(1), true);
    assert_clean_stream(rx, true);
    let pids: Vec<u16> = rx
        .iter()
        .filter(|x| x.vp8.is_some_and(|d| d.start_of_partition))
        .filter_map(Received::picture_id)
        .collect();
    for w in pids.windows(2) {
        assert_eq!(w[1], (w[0] + 1) & 0x7fff, "picture ids continuous");
    }
    // At start the layers appear one after another (q, h, f), each with a keyframe; after
    // that, exactly one switch down and one back up.
    let settled = r.events[0].0 + Duration::from_millis(500);
    let layers: Vec<u8> = r
        .events
        .iter()
        .filter(|(t, _)| *t > settled)
        .filter_map(|(_, e)| match e {
            CoreEvent::LayerChanged {
                subscription,
                layer,
            } if *subscription == sid => Some(layer.spatial),
            _ => None,
        })
        .collect();
    assert_eq!(layers, [0, 2], "one switch down, one up");
}

// Breakout: after a move, nothing crosses locations, and both sides of a group still receive
// each other.
#[test]
fn breakout_move_never_leaks_across_locations() {
    let mut r = room(4);
    r.run_for(secs(1));
    let s1 = Location::Session(SessionId(1));
    r.policy.breakout_active = true;
    for i in [1, 2] {
        r.policy.members.get_mut(&p(i)).unwrap().location = s1;
    }
    r.install();
    let moved_at = r.now;
    r.run_for(secs(2));
    for s in 1..=4u64 {
        for q in (1..=4u64).filter(|q| *q != s) {
            let same = (s <= 2) == (q <= 2);
            let after: Vec<_> = r
                .received_by(p(s), p(q), true)
                .iter()
                .filter(|x| x.at >= moved_at)
                .collect();
            assert_eq!(!after.is_empty(), same, "subscriber {s} publisher {q}");
        }
    }
}

// Loss and reordering between publisher and SFU never produce a duplicate output sequence
// number, and the receiver still gets a decodable start.
#[test]
fn loss_and_reorder_keep_output_unique() {
    let mut r = room(2);
    r.netem.insert(p(1), Netem::new(7, 2.0, 5.0));
    r.run_for(secs(5));
    let rx = r.received_by(p(2), p(1), true);
    let mut seqs: Vec<u64> = rx.iter().map(|x| x.seq).collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no duplicate output seq");
    assert!(rx[0].keyframe);
}
