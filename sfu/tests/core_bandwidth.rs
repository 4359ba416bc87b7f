//! Level-2 scenarios: the downlink bandwidth estimate drives each subscription's layer through
//! the allocator, with the behaviour DECISIONS.md §9 asks for. Rates of the simulated camera
//! (30 fps, L1T3, 1,000-byte packets): q ~240 kbps, h ~480 kbps, f ~960 kbps; audio 24 kbps.

use std::time::{Duration, Instant};

use sfu::core::testing::{Rng, TestRoom};
use sfu::core::{Bitrate, CoreEvent, SubscriptionId};

mod common;
use common::*;

/// The spatial layers `sid` switched to at or after `since`, with their times.
fn switches_since(r: &TestRoom, sid: SubscriptionId, since: Instant) -> Vec<(Duration, u8)> {
    r.events
        .iter()
        .filter(|(at, _)| *at >= since)
        .filter_map(|(at, e)| match e {
            CoreEvent::LayerChanged {
                subscription,
                layer,
            } if *subscription == sid => Some((*at - since, layer.spatial)),
            _ => None,
        })
        .collect()
}

fn first_event_since(
    r: &TestRoom,
    since: Instant,
    want: impl Fn(&CoreEvent) -> bool,
) -> Option<Duration> {
    r.events
        .iter()
        .find(|(at, e)| *at >= since && want(e))
        .map(|(at, _)| *at - since)
}

/// The video bitrate forwarded to `sid`'s subscriber in `[from, from + 1 s)`, in kbps.
fn forwarded_kbps(r: &TestRoom, subscriber: u64, publisher: u64, from: Instant) -> u64 {
    let bytes: usize = r
        .received_by(p(subscriber), p(publisher), true)
        .iter()
        .filter(|x| x.at >= from && x.at < from + ms(1000))
        .map(|x| x.len)
        .sum();
    bytes as u64 * 8 / 1000
}

// An estimate below the current layer's rate brings what is forwarded under the estimate
// within 2 s (here by dropping temporal layers of the top encoding); after it recovers the
// subscription is back on the requested layer within 5 s.
#[test]
fn estimate_drop_lowers_the_layer_within_2s_and_recovers_within_5s() {
    let mut r = room(2);
    let sid = r.subscription(p(2), p(1), true);
    r.estimate(p(2), Bitrate::kbps(3000));
    // The publisher's encodings appear one by one; each raise waits for the allocator's dwell.
    r.run_for(ms(5000));
    let requested = r.core.layers(sid).unwrap().requested;
    assert_eq!(r.core.layers(sid).unwrap().current, requested);
    assert!(forwarded_kbps(&r, 2, 1, r.now - ms(1000)) > 800);

    let dropped = r.now;
    r.estimate(p(2), Bitrate::kbps(700));
    r.run_for(ms(3000));
    let kbps = forwarded_kbps(&r, 2, 1, dropped + ms(1000));
    assert!(
        kbps + 24 <= 700,
        "forwarded {kbps} kbps of video 1-2 s after the drop"
    );
    assert!(r.core.layers(sid).unwrap().current < requested);

    let recovered = r.now;
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(5000));
    assert_eq!(
        r.core.layers(sid).unwrap().current,
        requested,
        "back within 5 s"
    );
    assert!(forwarded_kbps(&r, 2, 1, recovered + ms(4000)) > 800);
}

// An estimate below the top encoding's lowest temporal layer switches to a lower encoding within
// 2 s, on a keyframe; after recovery the top encoding is back within 5 s, on a keyframe, with
// one SSRC and contiguous sequence numbers throughout.
#[test]
fn estimate_drop_switches_encoding_on_keyframes() {
    let mut r = room(2);
    let sid = r.subscription(p(2), p(1), true);
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(5000));
    assert_eq!(
        r.core.layers(sid).unwrap().current.map(|l| l.spatial),
        Some(2)
    );

    let dropped = r.now;
    r.estimate(p(2), Bitrate::kbps(200));
    r.run_for(ms(2000));
    let down = switches_since(&r, sid, dropped);
    assert_eq!(down.len(), 1, "one switch down: {down:?}");
    assert!(down[0].1 < 2 && down[0].0 <= ms(2000), "{down:?}");
    let rx = r.received_by(p(2), p(1), true);
    let first_low = rx
        .iter()
        .find(|x| x.at >= dropped && x.encoding < 2)
        .unwrap();
    assert!(first_low.keyframe, "the switch down starts on a keyframe");

    let recovered = r.now;
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(5000));
    let up = switches_since(&r, sid, recovered);
    assert_eq!(
        up.last().map(|s| s.1),
        Some(2),
        "back on the top encoding: {up:?}"
    );
    assert!(up.last().unwrap().0 <= ms(5000));
    let rx = r.received_by(p(2), p(1), true);
    assert!(rx.iter().all(|x| x.ssrc == rx[0].ssrc));
    for w in rx.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq + 1,
            "contiguous seq across both switches"
        );
        if w[1].encoding != w[0].encoding {
            assert!(w[1].keyframe, "every switch lands on a keyframe");
        }
    }
}

// An estimate below even the lowest layer pauses the video (a Paused event, nothing more
// forwarded) while audio continues; when it recovers a Resumed event follows and video
// restarts on a keyframe.
#[test]
fn estimate_below_lowest_layer_pauses_and_resumes() {
    let mut r = room(2);
    let sid = r.subscription(p(2), p(1), true);
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(2000));

    let starved = r.now;
    r.estimate(p(2), Bitrate::kbps(40));
    let paused = first_event_since(
        &r,
        starved,
        |e| matches!(e, CoreEvent::Paused { subscription } if *subscription == sid),
    );
    assert_eq!(paused, Some(ms(0)), "paused at once");
    let video_before = r.received_by(p(2), p(1), true).len();
    let audio_before = r.received_by(p(2), p(1), false).len();
    r.run_for(ms(3000));
    assert_eq!(
        r.received_by(p(2), p(1), true).len(),
        video_before,
        "no video while paused"
    );
    assert!(
        r.received_by(p(2), p(1), false).len() >= audio_before + 140,
        "audio continues"
    );
    assert_eq!(r.core.layers(sid).unwrap().target, None);

    let recovered = r.now;
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(5000));
    let resumed = first_event_since(
        &r,
        recovered,
        |e| matches!(e, CoreEvent::Resumed { subscription } if *subscription == sid),
    );
    assert!(
        resumed.is_some_and(|d| d <= ms(5000)),
        "resumed: {resumed:?}"
    );
    let rx = r.received_by(p(2), p(1), true);
    assert!(rx.len() > video_before, "video flows again");
    assert!(rx[video_before].keyframe, "video restarts on a keyframe");
    assert_eq!(
        rx[video_before].seq,
        rx[video_before - 1].seq + 1,
        "seq continues"
    );
}

// At a steady estimate, even one that wobbles by ±5% around a layer's rate as a real estimator
// does, a subscription switches layer at most once per 10 s.
#[test]
fn steady_estimate_switches_at_most_once_per_10s() {
    for centre_kbps in [400, 700, 1000, 1100, 1500] {
        let mut r = room(2);
        let sid = r.subscription(p(2), p(1), true);
        let mut rng = Rng::new(centre_kbps);
        let start = r.now;
        let mut targets = Vec::new();
        for _ in 0..300 {
            // One estimate per 100 ms for 30 s.
            let wobble = (rng.next_u64() % 101) as i64 - 50; // -5.0% ..= +5.0%
            let kbps = (centre_kbps as i64 * (1000 + wobble) / 1000) as u64;
            r.estimate(p(2), Bitrate(kbps * 1000));
            r.run_for(ms(100));
            targets.push((r.now, r.core.layers(sid).unwrap().target));
        }
        // Ignore the start (layers appear one by one while the publisher starts).
        let settle = start + ms(3000);
        let switches: Vec<Duration> = switches_since(&r, sid, settle)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        for w in switches.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_secs(10),
                "{centre_kbps} kbps: switches {switches:?}"
            );
        }
        let mut changes = Vec::new();
        for w in targets.windows(2) {
            if w[0].0 >= settle && w[1].1 != w[0].1 {
                changes.push((w[1].0 - start, w[0].1, w[1].1));
            }
        }
        for w in changes.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= Duration::from_secs(10),
                "{centre_kbps} kbps: target changes {changes:?}"
            );
        }
    }
}

/// The demands reported for `p`'s downlink at or after `since`, in kbps.
fn demands_since(r: &TestRoom, subscriber: u64, since: Instant) -> Vec<u64> {
    let downlink = r.downlink(p(subscriber));
    r.events
        .iter()
        .filter(|(at, _)| *at >= since)
        .filter_map(|(_, e)| match e {
            CoreEvent::DownlinkDemand {
                downlink: d,
                bitrate,
            } if *d == downlink => Some(bitrate.0 / 1000),
            _ => None,
        })
        .collect()
}

// A downlink's demand is what its subscriptions would take unconstrained: the requested layer
// of each video plus audio, whatever the estimate. It follows the subscriber's request, and
// steady traffic does not repeat it (the shell sets its probing target from it).
#[test]
fn downlink_demand_follows_requests_not_the_estimate() {
    let mut r = room(2);
    let sid = r.subscription(p(2), p(1), true);
    r.estimate(p(2), Bitrate::kbps(300));
    r.run_for(ms(5000));
    let demand = *demands_since(&r, 2, r.now - ms(5000))
        .last()
        .expect("a demand");
    // The top layer (~960 kbps with the simulated camera) plus audio, above the estimate.
    assert!((900..1200).contains(&demand), "demand {demand} kbps");
    let steady = r.now;
    r.run_for(ms(5000));
    assert!(
        demands_since(&r, 2, steady).is_empty(),
        "steady traffic repeated the demand"
    );

    let lowered = r.now;
    let q = sfu::core::Layer {
        spatial: 0,
        temporal: 2,
    };
    r.core.set_requested(r.now, sid, Some(q)).unwrap();
    r.run_for(ms(1000));
    let low = *demands_since(&r, 2, lowered)
        .last()
        .expect("a lower demand");
    assert!(
        low < 400,
        "demand {low} kbps after asking for the lowest layer"
    );
}
