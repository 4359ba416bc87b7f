//! Merging of keyframe requests (PLI/FIR) per publication encoding (STYLE.md rule 8;
//! mediasoup `KeyFrameRequestManager`, LiveKit's PLI throttle).
//!
//! Many subscribers losing the same packet, a breakout move that adds dozens of subscribers at
//! once, or a switch by every subscriber of a layer must reach the publisher as one request,
//! because each keyframe costs the publisher's uplink several times a delta frame
//! (DECISIONS.md §8: at most one request per second per encoding, one retry after 1 s).

use std::time::{Duration, Instant};

/// The RTCP message to send to the publisher (RFC 4585 §6.3.1 PLI, RFC 5104 §4.3.1 FIR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyframeKind {
    Pli,
    Fir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// No two requests for one encoding are sent closer than this.
    pub min_interval: Duration,
    /// If no keyframe arrived this long after a request, it is sent once more.
    pub retry_after: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            min_interval: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// The throttle of one publication encoding.
#[derive(Clone, Debug)]
pub struct KeyframeThrottle {
    config: ThrottleConfig,
    last_sent: Option<Instant>,
    /// A request that arrived inside the interval, merged; sent when the interval ends.
    pending: Option<KeyframeKind>,
    /// When the one retry of the last request is due, unless a keyframe comes first.
    retry_at: Option<Instant>,
}

impl KeyframeThrottle {
    pub fn new(config: ThrottleConfig) -> KeyframeThrottle {
        KeyframeThrottle {
            config,
            last_sent: None,
            pending: None,
            retry_at: None,
        }
    }

    /// Someone needs a keyframe. Returns the request to send now, or `None` when it was merged
    /// into one already sent or pending (FIR wins over PLI when merged).
    #[must_use]
    pub fn handle_request(&mut self, now: Instant, kind: KeyframeKind) -> Option<KeyframeKind> {
        match self.last_sent {
            Some(last) if now < last + self.config.min_interval => {
                self.pending = self.pending.max(Some(kind));
                None
            }
            _ => Some(self.send(now, kind)),
        }
    }

    /// A keyframe arrived from the publisher: nothing is waiting for one any more.
    pub fn handle_keyframe(&mut self) {
        self.pending = None;
        self.retry_at = None;
    }

    /// The request due at `now`, if any: a merged request at the end of the interval, or the
    /// one retry.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> Option<KeyframeKind> {
        let interval_over = self
            .last_sent
            .is_none_or(|last| now >= last + self.config.min_interval);
        if let Some(kind) = self.pending.filter(|_| interval_over) {
            return Some(self.send(now, kind));
        }
        if self.retry_at.is_some_and(|at| now >= at) && interval_over {
            self.retry_at = None;
            self.last_sent = Some(now);
            return Some(KeyframeKind::Pli);
        }
        None
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let interval_end = self.last_sent.map(|l| l + self.config.min_interval);
        let pending = self.pending.and(interval_end);
        let retry = self.retry_at.map(|r| interval_end.map_or(r, |e| r.max(e)));
        match (pending, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn send(&mut self, now: Instant, kind: KeyframeKind) -> KeyframeKind {
        self.last_sent = Some(now);
        self.pending = None;
        self.retry_at = Some(now + self.config.retry_after);
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn setup() -> (KeyframeThrottle, Instant) {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        (KeyframeThrottle::new(ThrottleConfig::default()), t0)
    }

    // The first request goes out at once; requests inside the interval are merged.
    #[test]
    fn requests_inside_interval_are_merged() {
        let (mut k, t0) = setup();
        assert_eq!(
            k.handle_request(t0, KeyframeKind::Pli),
            Some(KeyframeKind::Pli)
        );
        assert_eq!(k.handle_request(t0 + ms(10), KeyframeKind::Pli), None);
        assert_eq!(k.handle_request(t0 + ms(500), KeyframeKind::Fir), None);
        assert_eq!(k.poll_timeout(), Some(t0 + ms(1000)));
        // The merged request leaves at the end of the interval, as the strongest kind.
        assert_eq!(k.handle_timeout(t0 + ms(999)), None);
        assert_eq!(k.handle_timeout(t0 + ms(1000)), Some(KeyframeKind::Fir));
    }

    // A keyframe cancels both the merged request and the retry.
    #[test]
    fn keyframe_cancels_pending_and_retry() {
        let (mut k, t0) = setup();
        let _ = k.handle_request(t0, KeyframeKind::Pli);
        let _ = k.handle_request(t0 + ms(100), KeyframeKind::Pli);
        k.handle_keyframe();
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(k.handle_timeout(t0 + ms(5000)), None);
    }

    // Without a keyframe the request is retried exactly once, after the retry delay.
    #[test]
    fn retries_once_without_keyframe() {
        let (mut k, t0) = setup();
        let _ = k.handle_request(t0, KeyframeKind::Pli);
        assert_eq!(k.poll_timeout(), Some(t0 + ms(1000)));
        assert_eq!(k.handle_timeout(t0 + ms(1000)), Some(KeyframeKind::Pli));
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(k.handle_timeout(t0 + ms(3000)), None);
    }

    // After the interval a new request goes out at once again.
    #[test]
    fn new_request_after_interval_is_sent() {
        let (mut k, t0) = setup();
        let _ = k.handle_request(t0, KeyframeKind::Pli);
        k.handle_keyframe();
        assert_eq!(
            k.handle_request(t0 + ms(1000), KeyframeKind::Pli),
            Some(KeyframeKind::Pli)
        );
    }
}
