//! `CoreEvent::ProbeWanted` (issue 13, goal 2): while a downlink's estimate holds a subscription
//! below its requested layer and its subscriber reports no congestion, the core asks the shell
//! once per tick to probe above the estimate (an allocator that sends less than the estimate
//! gives the estimator nothing to measure more with, so after a cap lifts it would creep up for
//! many seconds); it stops asking once the requested layer fits, and under sustained loss.

use std::time::Instant;

use sfu::core::testing::TestRoom;
use sfu::core::{Bitrate, CoreEvent};

use crate::support::common::*;

/// How many probes the core asked for on `subscriber`'s downlink in `[from, to)`.
fn probes_wanted(r: &TestRoom, subscriber: u64, from: Instant, to: Instant) -> usize {
    let downlink = r.downlink(p(subscriber));
    r.events
        .iter()
        .filter(|(at, e)| {
            *at >= from
                && *at < to
                && matches!(e, CoreEvent::ProbeWanted { downlink: d } if *d == downlink)
        })
        .count()
}

#[test]
fn a_held_downlink_asks_for_probes_until_its_layer_fits_and_not_under_loss() {
    let mut r = room(2);
    let sid = r.subscription(p(2), p(1), true);
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(5000));
    let requested = r.core.layers(sid).unwrap().requested;
    assert_eq!(r.core.layers(sid).unwrap().current, requested);
    let t = r.now;
    r.run_for(ms(3000));
    assert_eq!(probes_wanted(&r, 2, t, r.now), 0, "on its layer: no probe");

    // A cap-like estimate without loss reports: one request per tick (500 ms).
    r.estimate(p(2), Bitrate::kbps(400));
    let held = r.now;
    r.run_for(ms(3000));
    assert!(r.core.layers(sid).unwrap().target < requested);
    let n = probes_wanted(&r, 2, held, r.now);
    assert!((5..=7).contains(&n), "{n} requests in 3 s");

    // Sustained loss (congestion): str0m would not probe, and the core does not ask.
    for _ in 0..4 {
        r.loss(p(2), 300);
        r.run_for(ms(1000));
    }
    let congested = r.now;
    r.loss(p(2), 300);
    r.run_for(ms(1000));
    r.loss(p(2), 300);
    r.run_for(ms(1000));
    assert_eq!(probes_wanted(&r, 2, congested, r.now), 0, "congested");

    // The loss ends and the estimate recovers: the requested layer fits again, no requests.
    r.loss(p(2), 0);
    r.estimate(p(2), Bitrate::kbps(3000));
    r.run_for(ms(6000));
    assert_eq!(r.core.layers(sid).unwrap().target, requested);
    let fits = r.now;
    r.run_for(ms(3000));
    assert_eq!(probes_wanted(&r, 2, fits, r.now), 0, "fits again");
}
