//! `FixedHistogram`: a histogram with constant bucket bounds that a shard fills on its own
//! thread with plain integer adds (no atomic, no lock, no allocation: it lives in
//! [`super::ShardStats`], which is `Copy`). The metrics module exports it at scrape time as a
//! Prometheus histogram with the same bounds, the way it turns the shard's other counters into
//! Prometheus counters.

use std::time::Duration;

/// Forwarding latency bounds in nanoseconds, 50 µs .. 20 ms (PERFORMANCE.md's goal is p99 <
/// 5 ms): from the shard receiving an RTP datagram to handing one forwarded copy to the
/// subscriber's str0m transport.
pub const FORWARDING_LATENCY_BOUNDS_NS: [u64; 9] = [
    50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 20_000_000,
];

/// Join latency bounds in nanoseconds, 10 ms .. 10 s: from a participant joining the shard to
/// the first media packet forwarded on its connected subscriber transport.
pub const JOIN_LATENCY_BOUNDS_NS: [u64; 10] = [
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Downlink bandwidth estimate bounds in bits per second, 100 kbit/s (audio only) .. 20 Mbit/s
/// (every layer of several simulcast videos).
pub const BANDWIDTH_BOUNDS_BPS: [u64; 10] = [
    100_000, 250_000, 500_000, 1_000_000, 1_500_000, 2_500_000, 4_000_000, 6_000_000, 10_000_000,
    20_000_000,
];

/// Counts of values per bucket for `N` increasing upper bounds kept by the caller (one of the
/// `*_BOUNDS_*` constants above): `counts[i]` holds the values `v` with
/// `bounds[i - 1] < v <= bounds[i]`, `above` those over the last bound. Cumulative over the
/// shard's life, like every shard counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHistogram<const N: usize> {
    pub counts: [u64; N],
    pub above: u64,
    /// The sum of every recorded value, in the bounds' unit.
    pub sum: u64,
}

impl<const N: usize> Default for FixedHistogram<N> {
    fn default() -> Self {
        FixedHistogram {
            counts: [0; N],
            above: 0,
            sum: 0,
        }
    }
}

impl<const N: usize> FixedHistogram<N> {
    /// Counts `value` in the first bucket whose bound holds it (a linear scan of at most `N`
    /// compares: cheaper than a binary search for ten bounds).
    pub fn record(&mut self, bounds: &[u64; N], value: u64) {
        self.sum = self.sum.saturating_add(value);
        match bounds.iter().position(|&bound| value <= bound) {
            Some(i) => self.counts[i] += 1,
            None => self.above += 1,
        }
    }

    /// [`FixedHistogram::record`] for a duration, in nanoseconds (saturating at `u64::MAX`,
    /// 584 years).
    pub fn record_duration(&mut self, bounds: &[u64; N], value: Duration) {
        self.record(bounds, u64::try_from(value.as_nanos()).unwrap_or(u64::MAX));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.above
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A value on a bound belongs to that bound's bucket (Prometheus `le`), one above every
    // bound to `above`; count and sum follow.
    #[test]
    fn values_land_in_the_bucket_of_the_first_bound_that_holds_them() {
        let bounds = [10, 20, 30];
        let mut h = FixedHistogram::<3>::default();
        for v in [0, 10, 11, 20, 30, 31, 1000] {
            h.record(&bounds, v);
        }
        assert_eq!(h.counts, [2, 2, 1]);
        assert_eq!(h.above, 2);
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum, 1102);
        let mut latency = FixedHistogram::default();
        latency.record_duration(&FORWARDING_LATENCY_BOUNDS_NS, Duration::from_micros(60));
        assert_eq!(latency.counts[1], 1);
        assert_eq!(latency.sum, 60_000);
    }

    // Every bound table increases strictly (Prometheus rejects anything else).
    #[test]
    fn bounds_increase() {
        for bounds in [
            &FORWARDING_LATENCY_BOUNDS_NS[..],
            &JOIN_LATENCY_BOUNDS_NS[..],
            &BANDWIDTH_BOUNDS_BPS[..],
        ] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        }
    }
}
