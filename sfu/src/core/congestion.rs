//! `CongestionMonitor`: whether a downlink shows sustained *measured* congestion, from the loss
//! its subscriber reports (RTCP receiver reports, RFC 3550 §6.4.2 "fraction lost").
//!
//! The allocator pauses a subscription's lowest layer only while this says so (issue 13, goal
//! 1). A bandwidth estimate alone cannot be trusted for that: str0m pads only on an RTX or
//! probe stream, so a subscriber without RTX (or one that sends only REMB, whose value is often
//! little more than what it received) never sees its estimate probed up past a paused layer,
//! and would stay paused for good. Loss, on the other hand, is measured on the media actually
//! sent: a link that carries the lowest layer reports none, one that cannot reports it for as
//! long as it is sent.
//!
//! Congestion starts when every report for [`SUSTAIN`] is at or above [`HIGH_LOSS_PER_MILLE`],
//! and ends with the first report below it. After an episode the lowest layers come back at
//! once the first time; an episode that follows within [`EPISODE_MEMORY`] waits a back-off that
//! doubles up to [`MAX_BACKOFF`], so a link that cannot carry even the lowest layer does not
//! cycle between pause and resume every few seconds.

use std::time::{Duration, Instant};

/// A loss fraction at or above this (10 %) counts as congestion: libwebrtc's loss-based
/// controller also lowers its rate above 10 % and holds it between 2 % and 10 %, so random
/// loss of a few percent, which NACK/RTX repairs, never pauses video.
pub const HIGH_LOSS_PER_MILLE: u16 = 100;
/// How long high loss must last (several receiver reports, about one a second) before it is
/// sustained congestion.
pub const SUSTAIN: Duration = Duration::from_secs(2);
/// An episode that starts within this time after the previous one ended is a repeat.
pub const EPISODE_MEMORY: Duration = Duration::from_secs(30);
/// The first repeat waits this long after the congestion ends; each further repeat doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);

/// The loss state of one downlink.
#[derive(Clone, Debug, Default)]
pub struct CongestionMonitor {
    /// When the current run of high-loss reports began.
    high_since: Option<Instant>,
    congested: bool,
    /// When the last episode ended, and the back-off that applies to a repeat.
    ended_at: Option<Instant>,
    backoff: Duration,
    /// The lowest layers stay withheld until then (the back-off of a repeated episode).
    hold_until: Option<Instant>,
}

impl CongestionMonitor {
    /// One loss report from the subscriber, in thousandths of the packets sent.
    pub fn handle_loss(&mut self, now: Instant, lost_per_mille: u16) {
        if lost_per_mille < HIGH_LOSS_PER_MILLE {
            self.high_since = None;
            if self.congested {
                self.congested = false;
                self.hold_until = Some(now + self.backoff);
                self.ended_at = Some(now);
            }
            return;
        }
        let since = *self.high_since.get_or_insert(now);
        if !self.congested && now.saturating_duration_since(since) >= SUSTAIN {
            self.congested = true;
            let repeat = self
                .ended_at
                .is_some_and(|end| now.saturating_duration_since(end) < EPISODE_MEMORY);
            self.backoff = match (repeat, self.backoff) {
                (false, _) => Duration::ZERO,
                (true, d) if d.is_zero() => FIRST_BACKOFF,
                (true, d) => (d * 2).min(MAX_BACKOFF),
            };
        }
    }

    /// Whether the loss reports show sustained congestion now.
    pub fn congested(&self) -> bool {
        self.congested
    }

    /// Whether every subscription may keep its lowest layer whatever the estimate: no sustained
    /// congestion, and no back-off after a repeated episode.
    pub fn keeps_lowest(&self, now: Instant) -> bool {
        !self.congested && self.hold_until.is_none_or(|until| now >= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // Loss below 10 %, however long, is not congestion; 10 % or more for 2 s is, and the first
    // report below ends it at once.
    #[test]
    fn sustained_high_loss_is_congestion_until_a_low_report() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut m = CongestionMonitor::default();
        for s in 0..10 {
            m.handle_loss(t0 + ms(1000 * s), 60);
        }
        assert!(m.keeps_lowest(t0 + ms(10_000)));
        let t1 = t0 + ms(20_000);
        m.handle_loss(t1, 150);
        m.handle_loss(t1 + ms(1000), 300);
        assert!(!m.congested(), "1 s of loss is not sustained");
        m.handle_loss(t1 + ms(2000), 120);
        assert!(m.congested() && !m.keeps_lowest(t1 + ms(2000)));
        m.handle_loss(t1 + ms(3000), 0);
        assert!(m.keeps_lowest(t1 + ms(3000)), "first episode: no back-off");
    }

    // A single low report inside a run of high ones restarts the 2 s count.
    #[test]
    fn a_low_report_restarts_the_count() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut m = CongestionMonitor::default();
        m.handle_loss(t0, 200);
        m.handle_loss(t0 + ms(1000), 10);
        m.handle_loss(t0 + ms(2000), 200);
        m.handle_loss(t0 + ms(3000), 200);
        assert!(!m.congested());
        m.handle_loss(t0 + ms(4000), 200);
        assert!(m.congested());
    }

    // Repeated episodes back off 2, 4, 8, 16, 16 s; a quiet 30 s forgets them.
    #[test]
    fn repeated_episodes_back_off() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut m = CongestionMonitor::default();
        let mut t = t0;
        let episode = |m: &mut CongestionMonitor, t: &mut Instant| {
            for _ in 0..3 {
                m.handle_loss(*t, 500);
                *t += ms(1000);
            }
            m.handle_loss(*t, 0);
            let end = *t;
            let mut held = Duration::ZERO;
            while !m.keeps_lowest(end + held) {
                held += ms(500);
            }
            *t += ms(1000);
            held
        };
        let holds: Vec<Duration> = (0..6).map(|_| episode(&mut m, &mut t)).collect();
        assert_eq!(
            holds,
            [0, 2000, 4000, 8000, 16_000, 16_000].map(ms).to_vec()
        );
        t += ms(31_000);
        assert_eq!(episode(&mut m, &mut t), Duration::ZERO);
    }
}
