//! Per-participant token buckets on virtual time (spec §6.5).

use std::time::{Duration, Instant};

/// A token bucket whose credit is kept in nanoseconds of refill time: one token is `period`,
/// so refilling is adding elapsed time, with no rounding drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    period_ns: u128,
    capacity_ns: u128,
    level_ns: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at one token per `period`.
    pub(crate) fn new(capacity: u64, period: Duration, now: Instant) -> Self {
        let period_ns = period.as_nanos().max(1);
        let capacity_ns = period_ns * u128::from(capacity);
        Self {
            period_ns,
            capacity_ns,
            level_ns: capacity_ns,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.level_ns = (self.level_ns + elapsed).min(self.capacity_ns);
        self.last = self.last.max(now);
    }

    /// Whether `tokens` are available now; the time until they are when not.
    pub(crate) fn check(&mut self, tokens: u64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let cost = self.period_ns * u128::from(tokens);
        if self.level_ns >= cost {
            Ok(())
        } else {
            let missing = u64::try_from(cost - self.level_ns).unwrap_or(u64::MAX);
            Err(Duration::from_nanos(missing))
        }
    }

    /// Takes `tokens`, which [`Self::check`] said are there.
    pub(crate) fn take(&mut self, tokens: u64) {
        self.level_ns = self
            .level_ns
            .saturating_sub(self.period_ns * u128::from(tokens));
    }
}

/// The buckets of one participant (spec §6.5 table; the ask-for-help cooldown is keyed by
/// identity and belongs to the breakout run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RateLimits {
    /// All commands: 50, refilled 25 / s.
    pub commands: TokenBucket,
    /// Chat messages: 5, refilled 1 / s.
    pub chat: TokenBucket,
    /// Chat text: 16 KiB per 10 s (one token per byte).
    pub chat_bytes: TokenBucket,
    /// Display name and reaction: 5, refilled 1 / 2 s.
    pub metadata: TokenBucket,
    /// Breakout join/leave: 5, refilled 1 / 2 s.
    pub breakout_moves: TokenBucket,
    /// Breakout broadcast: 3, refilled 1 / 5 s.
    pub breakout_broadcast: TokenBucket,
}

impl RateLimits {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            commands: TokenBucket::new(50, Duration::from_millis(40), now),
            chat: TokenBucket::new(5, Duration::from_secs(1), now),
            chat_bytes: TokenBucket::new(
                16 * 1024,
                Duration::from_nanos(10_000_000_000 / (16 * 1024)),
                now,
            ),
            metadata: TokenBucket::new(5, Duration::from_secs(2), now),
            breakout_moves: TokenBucket::new(5, Duration::from_secs(2), now),
            breakout_broadcast: TokenBucket::new(3, Duration::from_secs(5), now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A bucket serves its capacity at once, then one token per period, and says how long to wait.
    #[test]
    fn bucket_refills_on_virtual_time() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(5, Duration::from_secs(1), t0);
        for _ in 0..5 {
            assert!(bucket.check(1, t0).is_ok());
            bucket.take(1);
        }
        assert_eq!(bucket.check(1, t0), Err(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_millis(400);
        assert_eq!(bucket.check(1, t1), Err(Duration::from_millis(600)));
        assert!(bucket.check(1, t0 + Duration::from_secs(1)).is_ok());
        // Never more than the capacity, however long it idles.
        let later = t0 + Duration::from_secs(3600);
        assert!(bucket.check(5, later).is_ok());
        assert!(bucket.check(6, later).is_err());
    }
}
