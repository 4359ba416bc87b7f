//! What a subscriber measures on each received track: packets, bytes, loss and duplicates from
//! the RTP sequence numbers (the SFU rewrites them to be contiguous per subscription, so a gap
//! is a loss), freezes (no complete video frame for more than [`FREEZE_GAP`]), the wait for the
//! first keyframe, and one-way latency from the send time in each packet's [`PacketTag`].
//!
//! Everything here is pure: time comes in as an argument, so the tests feed synthetic
//! sequences.
//!
//! [`PacketTag`]: crate::packet_tag::PacketTag

use std::time::{Duration, Instant};

/// A video track that completes no frame for longer than this is frozen (the usual WebRTC
/// stats definition uses a comparable threshold of a few frame intervals).
pub const FREEZE_GAP: Duration = Duration::from_millis(500);

/// A video gap longer than this is a pause (no packets) or a long freeze (no frames) in the
/// impairment report (issue 13's "freezes > 1 s", "paused seconds").
pub const LONG_GAP: Duration = Duration::from_secs(1);

/// How far back duplicates are recognised, in sequence numbers.
const DUP_WINDOW: u64 = 4096;

/// Counters of one received track.
#[derive(Debug, Clone)]
pub struct TrackStats {
    pub packets: u64,
    pub bytes: u64,
    pub duplicates: u64,
    /// Packets lost on the way but recovered from redundancy ([`Self::recover`]); they are
    /// in `packets` too.
    pub recovered: u64,
    /// Video frames completed (packets with the marker bit).
    pub frames: u64,
    pub keyframes: u64,
    pub freezes: u64,
    pub freeze_time: Duration,
    /// First packet to first keyframe start; `None` until a keyframe arrived.
    pub keyframe_wait: Option<Duration>,
    pub first_packet_at: Option<Instant>,
    pub last_packet_at: Option<Instant>,
    /// The first frame completed at or after the first keyframe start: the first decodable
    /// frame.
    pub first_frame_at: Option<Instant>,
    /// Every span longer than [`LONG_GAP`] without a completed frame: (last frame, next frame
    /// or the end of the measurement).
    pub long_frame_gaps: Vec<(Instant, Instant)>,
    is_video: bool,
    first_seq: Option<u64>,
    max_seq: u64,
    /// Bit i set = sequence `max_seq - i` was received.
    seen: Vec<u64>,
    last_frame_at: Option<Instant>,
}

impl TrackStats {
    /// Empty counters; `is_video` enables frame, keyframe and freeze accounting.
    pub fn new(is_video: bool) -> Self {
        Self {
            packets: 0,
            bytes: 0,
            duplicates: 0,
            recovered: 0,
            frames: 0,
            keyframes: 0,
            freezes: 0,
            freeze_time: Duration::ZERO,
            keyframe_wait: None,
            first_packet_at: None,
            last_packet_at: None,
            first_frame_at: None,
            long_frame_gaps: Vec::new(),
            is_video,
            first_seq: None,
            max_seq: 0,
            seen: vec![0; (DUP_WINDOW / 64) as usize],
            last_frame_at: None,
        }
    }

    /// Counts one packet: RTP sequence number `seq`, payload `bytes`, whether it ends a frame
    /// (`marker`) and whether it starts a keyframe, received at `at`. Returns `false` for a
    /// duplicate (counted, otherwise ignored).
    pub fn handle_packet(
        &mut self,
        seq: u16,
        bytes: usize,
        marker: bool,
        keyframe_start: bool,
        at: Instant,
    ) -> bool {
        let ext = self.extend(seq);
        if self.first_seq.is_none() {
            self.first_seq = Some(ext);
            self.max_seq = ext;
            self.first_packet_at = Some(at);
            self.last_frame_at = Some(at);
            self.mark(ext);
        } else if self.is_seen(ext) {
            self.duplicates += 1;
            return false;
        } else {
            self.mark(ext);
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        self.last_packet_at = Some(at);
        if !self.is_video {
            return true;
        }
        if keyframe_start {
            self.keyframes += 1;
            if self.keyframe_wait.is_none() {
                self.keyframe_wait = self.first_packet_at.map(|first| at - first);
            }
        }
        if marker {
            self.frames += 1;
            if self.first_frame_at.is_none() && self.keyframe_wait.is_some() {
                self.first_frame_at = Some(at);
            }
            self.note_frame_gap(at);
            self.last_frame_at = Some(at);
        }
        true
    }

    /// Counts a packet that was lost but recovered from redundancy (RFC 2198 RED) carried by a
    /// later one: only a sequence number below the highest seen and not received yet counts
    /// (a recovery repeats nothing and never extends the stream). Returns whether it counted.
    pub fn recover(&mut self, seq: u16, bytes: usize) -> bool {
        let Some(first) = self.first_seq else {
            return false;
        };
        let ext = self.extend(seq);
        if ext < first
            || ext >= self.max_seq
            || self.max_seq - ext >= DUP_WINDOW
            || self.is_seen(ext)
        {
            return false;
        }
        self.mark(ext);
        self.packets += 1;
        self.bytes += bytes as u64;
        self.recovered += 1;
        true
    }

    /// Closes the measurement at `now`: a video track that has completed no frame since more
    /// than [`FREEZE_GAP`] counts one more freeze.
    pub fn finish(&mut self, now: Instant) {
        if self.is_video && self.first_seq.is_some() {
            self.note_frame_gap(now);
            self.last_frame_at = Some(now);
        }
    }

    /// Packets the sender sent that never arrived (sequence gaps), as of the highest sequence
    /// number seen.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.packets)
    }

    /// Packets the sequence numbers say were sent, first to highest.
    pub fn expected(&self) -> u64 {
        self.first_seq.map_or(0, |first| self.max_seq - first + 1)
    }

    /// Loss in percent of [`Self::expected`].
    pub fn lost_pct(&self) -> f64 {
        let expected = self.expected();
        if expected == 0 {
            0.0
        } else {
            100.0 * self.lost() as f64 / expected as f64
        }
    }

    fn note_frame_gap(&mut self, at: Instant) {
        if let Some(last) = self.last_frame_at {
            let gap = at.saturating_duration_since(last);
            if gap > LONG_GAP {
                self.long_frame_gaps.push((last, at));
            }
            if gap > FREEZE_GAP {
                self.freezes += 1;
                self.freeze_time += gap;
            }
        }
    }

    /// The 64-bit sequence number closest to the highest seen (RFC 3550 A.1 style).
    /// Whether `seq` is newer than every packet seen so far (not a late or repeated one).
    pub fn is_newest(&self, seq: u16) -> bool {
        self.first_seq.is_none() || self.extend(seq) > self.max_seq
    }

    fn extend(&self, seq: u16) -> u64 {
        if self.first_seq.is_none() {
            // Start high enough that a reordered packet before the first one stays positive.
            return (1 << 16) + u64::from(seq);
        }
        let max = self.max_seq;
        let base = max & !0xFFFF;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates
            .iter()
            .map(|b| b.wrapping_add(u64::from(seq)))
            .min_by_key(|c| c.abs_diff(max))
            .unwrap_or(max)
    }

    fn is_seen(&self, ext: u64) -> bool {
        if ext > self.max_seq {
            return false;
        }
        let back = self.max_seq - ext;
        if back >= DUP_WINDOW {
            // Too old to tell: count it as a duplicate rather than a new packet, since it
            // cannot repair a loss counted long ago.
            return true;
        }
        self.seen[(back / 64) as usize] & (1 << (back % 64)) != 0
    }

    fn mark(&mut self, ext: u64) {
        if ext > self.max_seq {
            self.shift(ext - self.max_seq);
            self.max_seq = ext;
        }
        let back = self.max_seq - ext;
        self.seen[(back / 64) as usize] |= 1 << (back % 64);
    }

    /// Moves the window forward by `by` sequence numbers.
    fn shift(&mut self, by: u64) {
        if by >= DUP_WINDOW {
            self.seen.iter_mut().for_each(|w| *w = 0);
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        let n = self.seen.len();
        for i in (0..n).rev() {
            let from = i as isize - words as isize;
            let hi = if from >= 0 {
                self.seen[from as usize] << bits
            } else {
                0
            };
            let lo = if bits > 0 && from >= 1 {
                self.seen[from as usize - 1] >> (64 - bits)
            } else {
                0
            };
            self.seen[i] = hi | lo;
        }
    }
}

/// One-way latency samples in fixed 50 µs buckets up to 2 s (plus one overflow bucket):
/// constant memory whatever the packet rate, exact enough for p50/p95/p99 in milliseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u32>,
    count: u64,
}

const BUCKET_US: u64 = 50;
const BUCKETS: usize = 40_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS + 1],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    /// Records one sample.
    pub fn record(&mut self, latency: Duration) {
        let i = ((latency.as_micros() as u64) / BUCKET_US).min(BUCKETS as u64) as usize;
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count += 1;
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
    }

    /// The `q` quantile (0.0..=1.0) in milliseconds, at the upper edge of its bucket; `None`
    /// without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                // The overflow bucket reports the histogram's upper bound.
                let edge = (i as u64 + 1).min(BUCKETS as u64) * BUCKET_US;
                return Some(edge as f64 / 1000.0);
            }
        }
        Some((BUCKETS as u64 * BUCKET_US) as f64 / 1000.0)
    }
}
