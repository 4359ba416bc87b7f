//! RTP timestamp rewriting for one subscription: an offset that is recomputed whenever the
//! forwarded source changes (simulcast switch, resume), so timestamps keep advancing with
//! real time and never go backwards (mediasoup `tsOffset`, LiveKit `RTPMunger`).

use std::time::Instant;

use super::seq_rewriter::Extender;

#[derive(Clone, Debug)]
pub struct TsRewriter {
    clock_rate: u32,
    ext: Extender<32>,
    /// output = extended input - offset (wrapping).
    offset: u64,
    highest_out: Option<u64>,
    /// When the frame with the highest output timestamp was forwarded.
    highest_out_at: Option<Instant>,
}

impl TsRewriter {
    pub fn new(clock_rate: u32) -> TsRewriter {
        TsRewriter {
            clock_rate,
            ext: Extender::new(),
            offset: 0,
            highest_out: None,
            highest_out_at: None,
        }
    }

    /// Continues the output from a new source whose first forwarded packet has timestamp
    /// `first_in`: it is placed after the last output by the wall time elapsed since then
    /// (at least one tick), because two simulcast encodings' timestamps are unrelated.
    pub fn resync(&mut self, now: Instant, first_in: u32) {
        self.ext.reset();
        let v = self.ext.extend(u64::from(first_in));
        let next_out = match (self.highest_out, self.highest_out_at) {
            (Some(h), Some(at)) => {
                let elapsed = now.saturating_duration_since(at);
                let ticks = elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000;
                h + u64::try_from(ticks).unwrap_or(u64::MAX / 2).max(1)
            }
            _ => v,
        };
        self.offset = v.wrapping_sub(next_out);
    }

    /// The output timestamp of a packet from the current source.
    pub fn map(&mut self, now: Instant, ts: u32) -> u32 {
        let out = self.ext.extend(u64::from(ts)).wrapping_sub(self.offset);
        if self.highest_out.is_none_or(|h| out > h) {
            self.highest_out = Some(out);
            self.highest_out_at = Some(now);
        }
        out as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // The first source keeps its own timestamps; a switch continues them by elapsed time.
    #[test]
    fn switch_continues_by_elapsed_time() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut ts = TsRewriter::new(90_000);
        ts.resync(t0, 1000);
        assert_eq!(ts.map(t0, 1000), 1000);
        assert_eq!(ts.map(t0 + Duration::from_millis(33), 3970), 3970);
        // 100 ms later an unrelated encoding takes over: 9000 ticks after the last output.
        let t1 = t0 + Duration::from_millis(133);
        ts.resync(t1, 4_000_000_000);
        assert_eq!(ts.map(t1, 4_000_000_000), 3970 + 9000);
        assert_eq!(ts.map(t1, 4_000_003_000), 3970 + 12000);
    }

    // Input timestamps wrapping past u32::MAX keep advancing the output.
    #[test]
    fn wraps_through_u32() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut ts = TsRewriter::new(90_000);
        ts.resync(t0, u32::MAX - 10);
        let a = ts.map(t0, u32::MAX - 10);
        let b = ts.map(t0, 20);
        assert_eq!(b.wrapping_sub(a), 31);
    }

    // A switch with no time elapsed still advances by one tick (timestamps never repeat).
    #[test]
    fn switch_without_elapsed_time_advances_one_tick() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let mut ts = TsRewriter::new(90_000);
        ts.resync(t0, 500);
        ts.map(t0, 500);
        ts.resync(t0, 7);
        assert_eq!(ts.map(t0, 7), 501);
    }
}
