use crate::rtp_::Bitrate;
use std::time::Instant;

// Patched (vendor/str0m/PATCHES.md, 6): str0m 0.25.0 emitted the mean of the distinct
// estimates of the last 3 s. After a fall (a rate cap) that mean stayed above the link for up
// to 3 s while the pacer, which follows the latest estimate, queued what the application
// still sent for it; after a rise (a probe) the application waited as long. The latest
// estimate is emitted instead, once it moves more than `TOLERANCE` from the last one emitted,
// so small wobbles raise no event; an application that needs hysteresis keeps its own.

const TOLERANCE: f64 = 0.05;

/// Decides which estimates reach the application (`Event::EgressBitrateEstimate`).
pub struct EstimateSmoother {
    latest: Option<Bitrate>,
    emitted: Option<Bitrate>,
}

impl EstimateSmoother {
    pub fn new() -> Self {
        Self {
            latest: None,
            emitted: None,
        }
    }

    /// Record the estimator's current estimate.
    pub fn record(&mut self, _now: Instant, estimate: Bitrate) {
        self.latest = Some(estimate);
    }

    /// Poll for an estimate to emit: the latest one, when it is the first or moved more than
    /// `TOLERANCE` from the last one emitted.
    pub fn poll(&mut self) -> Option<Bitrate> {
        let latest = self.latest?;
        if self.emitted.is_some_and(|e| in_tolerance(e, latest)) {
            return None;
        }
        self.emitted = Some(latest);
        Some(latest)
    }
}

fn in_tolerance(b1: Bitrate, b2: Bitrate) -> bool {
    let min = b1 * (1.0 - TOLERANCE);
    let max = b1 * (1.0 + TOLERANCE);
    b2 > min && b2 < max
}

#[cfg(test)]
mod test {
    use super::*;
    use std::time::Duration;

    // A fall or a rise beyond the tolerance is emitted in the poll after it is recorded, not
    // averaged with the older estimates; a wobble within it is not emitted at all.
    #[test]
    fn a_fall_is_emitted_at_once_and_a_wobble_not_at_all() {
        let t0 = Instant::now();
        let mut s = EstimateSmoother::new();
        for n in 0..20 {
            s.record(t0 + Duration::from_millis(100 * n), Bitrate::kbps(2_400));
            s.poll();
        }
        s.record(t0 + Duration::from_millis(2_100), Bitrate::kbps(2_450));
        assert_eq!(s.poll(), None, "within 5 %");
        s.record(t0 + Duration::from_millis(2_200), Bitrate::kbps(400));
        assert_eq!(s.poll(), Some(Bitrate::kbps(400)), "a cap: emitted at once");
        assert_eq!(s.poll(), None, "once");
        s.record(t0 + Duration::from_millis(2_300), Bitrate::kbps(800));
        assert_eq!(
            s.poll(),
            Some(Bitrate::kbps(800)),
            "a probe result: emitted at once"
        );
    }
}
