//! One direction of an emulated link: for each packet, given the [`LinkSettings`] in force and
//! the time, either a delivery time or a named drop. Pure and seeded (time comes in as an
//! argument), so the tests drive it on a virtual clock and a run repeats packet for packet.
//!
//! Order of the stages, as on a real path: random and burst loss (before the bottleneck, so a
//! lost packet takes no capacity), then the rate cap (a FIFO drained at the cap rate; a packet
//! that would wait longer than `queue` is tail-dropped), then propagation delay and jitter,
//! then reordering.

use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::impairment::LinkSettings;

/// IPv4 (20) + UDP (8) header bytes a packet carries on the wire, counted against the cap.
pub const WIRE_OVERHEAD: usize = 28;

/// Why the emulated link dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDrop {
    /// Independent random loss (`loss=`).
    Random,
    /// A Gilbert-Elliott bad state (`burst=`).
    Burst,
    /// The rate cap's queue was full (`cap=`, `queue=`).
    Queue,
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Deliver(Instant),
    Drop(LinkDrop),
}

/// The state of one direction.
#[derive(Debug)]
pub struct LinkModel {
    rng: ChaCha8Rng,
    burst_bad: bool,
    /// When the bottleneck has sent everything queued so far.
    cap_free_at: Option<Instant>,
    /// The latest delivery time given, to keep order when reordering is off.
    last_delivery: Option<Instant>,
}

impl LinkModel {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            burst_bad: false,
            cap_free_at: None,
            last_delivery: None,
        }
    }

    /// Decides the fate of a `len`-byte UDP payload arriving at `now`.
    pub fn handle_packet(&mut self, settings: &LinkSettings, now: Instant, len: usize) -> Verdict {
        if let Some(burst) = settings.burst {
            let flip = if self.burst_bad {
                burst.p_bad_to_good()
            } else {
                burst.p_good_to_bad()
            };
            if self.chance(flip) {
                self.burst_bad = !self.burst_bad;
            }
            if self.burst_bad {
                return Verdict::Drop(LinkDrop::Burst);
            }
        } else {
            self.burst_bad = false;
        }
        if settings.loss > 0.0 && self.chance(settings.loss) {
            return Verdict::Drop(LinkDrop::Random);
        }
        let mut at = now;
        if let Some(cap) = settings.cap_bps {
            let start = self.cap_free_at.filter(|t| *t > now).unwrap_or(now);
            if start - now > settings.queue {
                return Verdict::Drop(LinkDrop::Queue);
            }
            let bits = ((len + WIRE_OVERHEAD) * 8) as f64;
            let done = start + Duration::from_secs_f64(bits / cap as f64);
            self.cap_free_at = Some(done);
            at = done;
        } else {
            self.cap_free_at = None;
        }
        at += settings.delay;
        if !settings.jitter.is_zero() {
            at += settings.jitter.mul_f64(self.uniform());
        }
        let reordered = settings.reorder > 0.0 && self.chance(settings.reorder);
        if reordered {
            // Held back, and not counted in `last_delivery`: the next packets overtake it.
            return Verdict::Deliver(at + settings.reorder_gap);
        }
        if let Some(last) = self.last_delivery {
            at = at.max(last);
        }
        self.last_delivery = Some(at);
        Verdict::Deliver(at)
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impairment::BurstLoss;

    fn run(
        settings: &LinkSettings,
        seed: u64,
        n: usize,
        gap: Duration,
        len: usize,
    ) -> Vec<Verdict> {
        let mut link = LinkModel::new(seed);
        #[allow(clippy::disallowed_methods)] // one clock read per test, then virtual time
        let t0 = Instant::now();
        (0..n)
            .map(|i| link.handle_packet(settings, t0 + gap * i as u32, len))
            .collect()
    }

    fn dropped(v: &[Verdict]) -> usize {
        v.iter().filter(|v| matches!(v, Verdict::Drop(_))).count()
    }

    // Random loss: the measured share is the configured one, and the same seed repeats.
    #[test]
    fn random_loss_matches_and_repeats() {
        let s = LinkSettings {
            loss: 0.05,
            ..LinkSettings::default()
        };
        let a = run(&s, 7, 20_000, Duration::from_millis(1), 500);
        let share = dropped(&a) as f64 / a.len() as f64;
        assert!((share - 0.05).abs() < 0.006, "loss {share}");
        // The same packets are dropped again (delivery times differ only by the clock).
        let pattern = |v: &[Verdict]| -> Vec<bool> {
            v.iter().map(|v| matches!(v, Verdict::Drop(_))).collect()
        };
        let again = run(&s, 7, 20_000, Duration::from_millis(1), 500);
        assert_eq!(pattern(&a), pattern(&again));
        let other = run(&s, 8, 20_000, Duration::from_millis(1), 500);
        assert_ne!(pattern(&a), pattern(&other));
    }

    // Burst loss: the long-run share is the configured one and losses come in runs of the
    // configured mean length.
    #[test]
    fn burst_loss_has_bursts() {
        let s = LinkSettings {
            burst: Some(BurstLoss {
                loss: 0.05,
                mean_burst: 4.0,
            }),
            ..LinkSettings::default()
        };
        let v = run(&s, 3, 100_000, Duration::from_millis(1), 500);
        let share = dropped(&v) as f64 / v.len() as f64;
        assert!((share - 0.05).abs() < 0.01, "loss {share}");
        let mut runs = Vec::new();
        let mut current = 0;
        for verdict in &v {
            if matches!(verdict, Verdict::Drop(LinkDrop::Burst)) {
                current += 1;
            } else if current > 0 {
                runs.push(current);
                current = 0;
            }
        }
        let mean = runs.iter().sum::<usize>() as f64 / runs.len() as f64;
        assert!((mean - 4.0).abs() < 0.5, "mean burst {mean}");
    }

    // A cap delivers no faster than its rate, and an overload beyond the queue is dropped.
    #[test]
    fn cap_limits_rate_and_drops_the_excess() {
        let s = LinkSettings {
            cap_bps: Some(300_000),
            ..LinkSettings::default()
        };
        // 1,000 packets of 1,000 bytes in one second: 8.2 Mbit/s offered.
        let v = run(&s, 1, 1000, Duration::from_millis(1), 1000);
        let delivered: Vec<Instant> = v
            .iter()
            .filter_map(|v| match v {
                Verdict::Deliver(at) => Some(*at),
                Verdict::Drop(_) => None,
            })
            .collect();
        assert!(dropped(&v) > 900, "dropped {}", dropped(&v));
        let span = (*delivered.last().unwrap() - delivered[0]).as_secs_f64();
        let bits = ((delivered.len() - 1) * (1000 + WIRE_OVERHEAD) * 8) as f64;
        let rate = bits / span;
        assert!(rate <= 300_000.0 * 1.001, "rate {rate}");
        assert!(rate > 290_000.0, "rate {rate}");
        assert!(v
            .iter()
            .all(|v| !matches!(v, Verdict::Drop(LinkDrop::Random))));
    }

    // Delay with jitter keeps order unless reordering is asked for.
    #[test]
    fn jitter_keeps_order_reorder_breaks_it() {
        let mut s = LinkSettings {
            delay: Duration::from_millis(40),
            jitter: Duration::from_millis(20),
            ..LinkSettings::default()
        };
        let times = |v: Vec<Verdict>| -> Vec<Instant> {
            v.into_iter()
                .filter_map(|v| match v {
                    Verdict::Deliver(at) => Some(at),
                    Verdict::Drop(_) => None,
                })
                .collect()
        };
        let ordered = times(run(&s, 1, 1000, Duration::from_millis(2), 200));
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]));
        s.reorder = 0.05;
        let shuffled = times(run(&s, 1, 1000, Duration::from_millis(2), 200));
        let inversions = shuffled.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions > 20, "inversions {inversions}");
    }
}
