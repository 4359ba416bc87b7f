//! Wrapping-counter translation: extension of `BITS`-wide wire values to 64 bits, and the
//! mapping of an input counter onto a subscriber's continuous output counter.
//!
//! One generic type serves RTP sequence numbers (16 bits), VP8 picture ids (15 bits) and
//! TL0PICIDX (8 bits) (STYLE.md rule 6; mediasoup `SeqManager<T, N>`, LiveKit `RTPMunger`).
//! Inside, every value is extended; only [`SeqRewriter::cut`] goes back to the wire width.

/// Extends a wrapping `BITS`-wide counter to 64 bits, choosing the candidate closest to the
/// highest value seen so far (so reordering across a wrap is handled both ways).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extender<const BITS: u32> {
    highest: Option<u64>,
}

impl<const BITS: u32> Extender<BITS> {
    const RANGE: u64 = 1 << BITS;
    const MASK: u64 = Self::RANGE - 1;
    const HALF: u64 = Self::RANGE / 2;

    pub fn new() -> Self {
        Extender { highest: None }
    }

    /// The extended value of `raw`; raises the highest value seen when `raw` is newer.
    pub fn extend(&mut self, raw: u64) -> u64 {
        let raw = raw & Self::MASK;
        let Some(highest) = self.highest else {
            // Start one cycle up so that a packet reordered before the first one still has a
            // non-negative extended value.
            let v = Self::RANGE + raw;
            self.highest = Some(v);
            return v;
        };
        let base = highest & !Self::MASK;
        let mut v = base | raw;
        if v > highest && v - highest > Self::HALF && v >= Self::RANGE {
            v -= Self::RANGE;
        } else if v < highest && highest - v > Self::HALF {
            v += Self::RANGE;
        }
        if v > highest {
            self.highest = Some(v);
        }
        v
    }

    /// Forgets history: the next value starts a new counter (e.g. a new encoding's SSRC).
    pub fn reset(&mut self) {
        self.highest = None;
    }
}

/// How far back (in input values) a late or duplicate packet is still recognised.
const WINDOW: u64 = 512;
const WINDOW_WORDS: usize = (WINDOW / 64) as usize;
/// Offset changes kept for late packets; each is one dropped run of packets (one filtered
/// frame). Eight cover about half a second of L1T3 with TID 2 filtered (15 dropped frames per
/// second); a retransmission later than that is too late to play anyway. Kept small because
/// it lives in every subscription's forwarder.
const HISTORY: usize = 8;

/// Why a value was not mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqError {
    /// Already mapped (or skipped) once.
    Duplicate,
    /// Before the reorder window, before the last resync, or before the retained offset
    /// history: its output value can no longer be derived.
    TooOld,
}

/// Maps extended input values onto a continuous output counter.
///
/// * Forwarded values keep their spacing: an input gap (loss) stays a gap in the output, so the
///   receiver sees the loss and NACKs it, and a late retransmission fills it.
/// * [`skip`](Self::skip) removes a value on purpose (a filtered temporal layer): later values
///   move down by one so the output has no hole for it.
/// * [`resync`](Self::resync) continues the output from a new input counter (a simulcast switch
///   or a resume): the first value after it is the last output + 1.
#[derive(Clone, Debug)]
pub struct SeqRewriter<const BITS: u32> {
    /// Highest input value seen (forwarded or skipped); `None` before the first.
    highest_in: Option<u64>,
    /// Lowest input value that may still be mapped (the resync point).
    floor_in: u64,
    highest_out: Option<u64>,
    /// Offset changes, a ring whose oldest entry is at `history_head`: from input value `.0`
    /// on, output = input - `.1`.
    history: [(u64, u64); HISTORY],
    history_head: usize,
    history_len: usize,
    /// Input values seen in the window below `highest_in`, as a ring bitmap indexed by
    /// value modulo `WINDOW` (moving the window clears bits instead of shifting words).
    seen: [u64; WINDOW_WORDS],
}

impl<const BITS: u32> Default for SeqRewriter<BITS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BITS: u32> SeqRewriter<BITS> {
    pub fn new() -> Self {
        SeqRewriter {
            highest_in: None,
            floor_in: 0,
            highest_out: None,
            history: [(0, 0); HISTORY],
            history_head: 0,
            history_len: 0,
            seen: [0; WINDOW_WORDS],
        }
    }

    /// The wire value of an extended output value.
    pub fn cut(v: u64) -> u64 {
        v & ((1 << BITS) - 1)
    }

    /// The highest output value produced so far.
    pub fn highest_out(&self) -> Option<u64> {
        self.highest_out
    }

    /// True before the first value (or after `reset`).
    pub fn is_fresh(&self) -> bool {
        self.highest_in.is_none()
    }

    /// Starts mapping at input value `first_in`, which will be output as the last output + 1
    /// (or as itself, on the very first start). Earlier input values are refused from now on.
    pub fn resync(&mut self, first_in: u64) {
        let next_out = self.highest_out.map_or(first_in, |o| o + 1);
        self.history[0] = (first_in, first_in.wrapping_sub(next_out));
        self.history_head = 0;
        self.history_len = 1;
        self.floor_in = first_in;
        self.highest_in = None;
        self.seen = [0; WINDOW_WORDS];
    }

    /// Maps an input value to its extended output value, recording it as seen.
    pub fn map(&mut self, v: u64) -> Result<u64, SeqError> {
        self.admit(v)?;
        let out = v.wrapping_sub(self.offset_at(v).ok_or(SeqError::TooOld)?);
        self.highest_out = Some(self.highest_out.map_or(out, |h| h.max(out)));
        Ok(out)
    }

    /// Maps an input value without recording it: for counters where many packets share one
    /// value (a VP8 picture id spans the packets of its frame).
    pub fn peek(&mut self, v: u64) -> Result<u64, SeqError> {
        if self.history_len == 0 || v < self.floor_in {
            return Err(SeqError::TooOld);
        }
        if self.highest_in.is_none_or(|h| v > h) {
            self.highest_in = Some(v);
        }
        let out = v.wrapping_sub(self.offset_at(v).ok_or(SeqError::TooOld)?);
        self.highest_out = Some(self.highest_out.map_or(out, |h| h.max(out)));
        Ok(out)
    }

    /// Drops input value `v` on purpose. If it is the newest value, later values shift down
    /// by one so the output stays continuous; a late value just leaves its hole.
    pub fn skip(&mut self, v: u64) -> Result<(), SeqError> {
        let newest = self.highest_in.is_none_or(|h| v > h);
        self.admit(v)?;
        if newest {
            let offset = self.offset_at(v).ok_or(SeqError::TooOld)?.wrapping_add(1);
            self.push_offset(v + 1, offset);
        }
        Ok(())
    }

    /// `skip` for counters without duplicates (picture ids): only a value newer than every one
    /// seen moves the offset; repeated calls for the same value count once.
    pub fn skip_value(&mut self, v: u64) {
        if self.history_len == 0 || v < self.floor_in {
            return;
        }
        if self.highest_in.is_none_or(|h| v > h) {
            self.highest_in = Some(v);
            if let Some(offset) = self.offset_at(v) {
                self.push_offset(v + 1, offset.wrapping_add(1));
            }
        }
    }

    /// Checks the window and marks `v` seen.
    fn admit(&mut self, v: u64) -> Result<(), SeqError> {
        if self.history_len == 0 || v < self.floor_in {
            return Err(SeqError::TooOld);
        }
        match self.highest_in {
            None => {
                self.seen = [0; WINDOW_WORDS];
                self.highest_in = Some(v);
            }
            Some(h) if v > h => {
                self.advance_window(h, v);
                self.highest_in = Some(v);
            }
            Some(h) => {
                if h - v >= WINDOW {
                    return Err(SeqError::TooOld);
                }
                if self.is_seen(v) {
                    return Err(SeqError::Duplicate);
                }
            }
        }
        self.mark_seen(v);
        Ok(())
    }

    fn bit(v: u64) -> (usize, u64) {
        let i = v % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn is_seen(&self, v: u64) -> bool {
        let (word, mask) = Self::bit(v);
        self.seen[word] & mask != 0
    }

    fn mark_seen(&mut self, v: u64) {
        let (word, mask) = Self::bit(v);
        self.seen[word] |= mask;
    }

    /// Moves the window's top from `h` to `v`: the slots of `h+1..=v` now stand for new
    /// values, so they are cleared (one bit for an in-order packet).
    fn advance_window(&mut self, h: u64, v: u64) {
        if v - h >= WINDOW {
            self.seen = [0; WINDOW_WORDS];
            return;
        }
        for x in h + 1..=v {
            let (word, mask) = Self::bit(x);
            self.seen[word] &= !mask;
        }
    }

    fn history_entry(&self, i: usize) -> (u64, u64) {
        self.history[(self.history_head + i) % HISTORY]
    }

    /// The offset in force for input value `v`, if still retained.
    fn offset_at(&self, v: u64) -> Option<u64> {
        (0..self.history_len)
            .rev()
            .map(|i| self.history_entry(i))
            .find(|(from, _)| *from <= v)
            .map(|(_, offset)| offset)
    }

    fn push_offset(&mut self, from: u64, offset: u64) {
        // A run of consecutive skips updates one entry instead of filling the history.
        if self.history_len > 1 {
            let last = (self.history_head + self.history_len - 1) % HISTORY;
            if self.history[last].0 == from - 1 {
                self.history[last] = (from, offset);
                return;
            }
        }
        if self.history_len == HISTORY {
            // Forget the oldest change: values before the new oldest are now too old.
            self.history_head = (self.history_head + 1) % HISTORY;
            self.history_len -= 1;
            self.floor_in = self.floor_in.max(self.history_entry(0).0);
        }
        let at = (self.history_head + self.history_len) % HISTORY;
        self.history[at] = (from, offset);
        self.history_len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seq16 = SeqRewriter<16>;

    fn extend_all(raw: &[u64]) -> Vec<u64> {
        let mut e = Extender::<16>::new();
        raw.iter().map(|r| e.extend(*r)).collect()
    }

    // Extension counts wraps forward and keeps a packet reordered across the wrap below it.
    #[test]
    fn extender_handles_wrap_and_reorder() {
        let v = extend_all(&[65534, 65535, 0, 65533, 1]);
        let base = v[0];
        assert_eq!(
            v.iter()
                .map(|x| *x as i64 - base as i64)
                .collect::<Vec<_>>(),
            [0, 1, 2, -1, 3]
        );
    }

    // A packet from before the first one (reordered) still extends to a smaller value.
    #[test]
    fn extender_reorder_before_first() {
        let v = extend_all(&[0, 65535]);
        assert_eq!(v[0] - v[1], 1);
    }

    // An 8-bit counter (TL0PICIDX) wraps the same way.
    #[test]
    fn extender_works_for_small_widths() {
        let mut e = Extender::<8>::new();
        let a = e.extend(255);
        assert_eq!(e.extend(0), a + 1);
        assert_eq!(e.extend(254), a - 1);
    }

    fn started(first: u64) -> Seq16 {
        let mut s = Seq16::new();
        s.resync(first);
        s
    }

    // The first start maps values to themselves; gaps stay gaps.
    #[test]
    fn first_start_is_identity_and_keeps_gaps() {
        let mut s = started(100);
        assert_eq!(s.map(100), Ok(100));
        assert_eq!(s.map(101), Ok(101));
        assert_eq!(s.map(104), Ok(104));
        // The late packet fills its own hole.
        assert_eq!(s.map(102), Ok(102));
    }

    // Skipping the newest value closes the hole: output stays +1 per forwarded value.
    #[test]
    fn skip_keeps_output_continuous() {
        let mut s = started(10);
        assert_eq!(s.map(10), Ok(10));
        s.skip(11).unwrap();
        s.skip(12).unwrap();
        assert_eq!(s.map(13), Ok(11));
        s.skip(14).unwrap();
        assert_eq!(s.map(15), Ok(12));
    }

    // A late packet from before a skip uses the offset in force at its own position.
    #[test]
    fn late_packet_uses_offset_of_its_position() {
        let mut s = started(10);
        assert_eq!(s.map(10), Ok(10));
        // 11 is lost for now, 12 is skipped, 13 forwarded.
        s.skip(12).unwrap();
        assert_eq!(s.map(13), Ok(12));
        assert_eq!(s.map(11), Ok(11));
    }

    // Duplicates are refused, forwarded or skipped alike.
    #[test]
    fn duplicates_are_refused() {
        let mut s = started(10);
        s.map(10).unwrap();
        s.skip(11).unwrap();
        assert_eq!(s.map(10), Err(SeqError::Duplicate));
        assert_eq!(s.map(11), Err(SeqError::Duplicate));
        assert_eq!(s.skip(10), Err(SeqError::Duplicate));
    }

    // Values behind the window or before the resync point are too old.
    #[test]
    fn too_old_values_are_refused() {
        let mut s = started(1000);
        s.map(1000).unwrap();
        s.map(1000 + WINDOW).unwrap();
        assert_eq!(s.map(1001), Ok(1001), "still inside the window");
        assert_eq!(s.map(1000), Err(SeqError::TooOld));
        assert_eq!(s.map(999), Err(SeqError::TooOld));
    }

    // Resync continues the output at last + 1 from an unrelated input counter.
    #[test]
    fn resync_continues_output() {
        let mut s = started(100);
        s.map(100).unwrap();
        s.map(101).unwrap();
        s.resync(50_000);
        assert_eq!(s.map(50_000), Ok(102));
        assert_eq!(s.map(50_001), Ok(103));
        assert_eq!(s.map(101), Err(SeqError::TooOld));
    }

    // Nothing maps before the first resync.
    #[test]
    fn unstarted_rewriter_maps_nothing() {
        let mut s = Seq16::new();
        assert_eq!(s.map(1), Err(SeqError::TooOld));
    }

    // Output values are cut to the wire width only at the edge.
    #[test]
    fn cut_truncates_to_width() {
        assert_eq!(Seq16::cut(65536 + 7), 7);
        assert_eq!(SeqRewriter::<15>::cut(0x8001), 1);
    }

    // Many separated skips overflow the history: values before the retained history are too
    // old, newer ones still map.
    #[test]
    fn history_overflow_raises_floor() {
        let mut s = started(0);
        let mut v = 0;
        for _ in 0..(HISTORY + 5) {
            s.map(v).unwrap();
            s.skip(v + 1).unwrap();
            v += 2;
        }
        s.map(v).unwrap();
        assert_eq!(s.map(1), Err(SeqError::TooOld));
    }

    // The window shift keeps bits across word boundaries.
    #[test]
    fn window_shift_across_words() {
        let mut s = started(0);
        s.map(0).unwrap();
        s.map(70).unwrap();
        s.map(200).unwrap();
        assert_eq!(s.map(70), Err(SeqError::Duplicate));
        assert_eq!(s.map(0), Err(SeqError::Duplicate));
        assert_eq!(s.map(69), Ok(69));
    }
}
