//! Helpers shared by the core scenario tests (`sfu/tests/core_*.rs`). Each test binary uses a
//! different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sfu::core::testing::{Received, TestRoom};
use sfu::core::{Location, ParticipantId};

pub fn p(n: u64) -> ParticipantId {
    ParticipantId(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An empty room on a virtual clock starting now.
pub fn start() -> TestRoom {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let t0 = Instant::now();
    TestRoom::new(t0)
}

/// A meeting of `n` participants in MAIN, each publishing a 3-layer VP8 camera and a
/// microphone, everyone subscribed to everyone.
pub fn room(n: u64) -> TestRoom {
    let mut r = start();
    for i in 1..=n {
        r.join(p(i), Location::Main);
        r.publish_camera(p(i), 3);
    }
    r.subscribe_all();
    r
}

/// The packets of `rx` received after `t`.
pub fn after(rx: &[Received], t: Instant) -> Vec<&Received> {
    rx.iter().filter(|x| x.at > t).collect()
}

/// One subscription's wire invariants: something arrived, one SSRC, sequence numbers +1 per
/// packet, timestamps never backwards.
pub fn assert_contiguous(rx: &[Received]) {
    assert!(!rx.is_empty(), "nothing received");
    assert!(rx.iter().all(|x| x.ssrc == rx[0].ssrc), "one SSRC");
    for w in rx.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "contiguous seq");
        assert!(
            w[1].timestamp.wrapping_sub(w[0].timestamp) < u32::MAX / 2,
            "timestamps never go backwards"
        );
    }
}
