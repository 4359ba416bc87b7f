//! VP8 picture-id, TL0PICIDX and KEYIDX continuity for one subscription (str0m `Vp8Patch`,
//! LiveKit `codecmunger.VP8`).
//!
//! A VP8 decoder uses the picture id to detect lost frames and TL0PICIDX to check temporal
//! layer dependencies (RFC 7741 §4.2). When a subscriber is switched to another simulcast
//! encoding, or frames of a filtered temporal layer are dropped, the raw values would jump:
//! the decoder would think frames were lost and ask for a keyframe. So each is mapped onto a
//! continuous output counter with the same machinery as sequence numbers.

use super::seq_rewriter::{Extender, SeqRewriter};
use super::vp8::{Vp8Descriptor, Vp8Patch};

#[derive(Clone, Debug, Default)]
pub struct Vp8Rewriter {
    // Picture ids come in a 7- or 15-bit form; one extender each, one output counter.
    pid_short: Extender<7>,
    pid_long: Extender<15>,
    pid: SeqRewriter<15>,
    // TL0PICIDX and KEYIDX are never skipped (a dropped frame is never TID 0 and never a
    // keyframe), so a plain offset, moved only on resync, is enough.
    tl0: Continuation<8>,
    key: Continuation<5>,
}

/// A wrapping counter continued across sources by one offset.
#[derive(Clone, Debug, Default)]
struct Continuation<const BITS: u32> {
    ext: Extender<BITS>,
    offset: u64,
    highest_out: Option<u64>,
}

impl<const BITS: u32> Continuation<BITS> {
    fn resync(&mut self, raw: u8) {
        self.ext.reset();
        let v = self.ext.extend(u64::from(raw));
        let next_out = self.highest_out.map_or(v, |h| h + 1);
        self.offset = v.wrapping_sub(next_out);
    }

    fn map(&mut self, raw: u8) -> u8 {
        let out = self.ext.extend(u64::from(raw)).wrapping_sub(self.offset);
        if self.highest_out.is_none_or(|h| out > h) {
            self.highest_out = Some(out);
        }
        SeqRewriter::<BITS>::cut(out) as u8
    }
}

impl Vp8Rewriter {
    pub fn new() -> Vp8Rewriter {
        Vp8Rewriter::default()
    }

    /// Starts a new source at keyframe `d`: its values continue from the last output + 1.
    pub fn resync(&mut self, d: &Vp8Descriptor) {
        self.pid_short.reset();
        self.pid_long.reset();
        if let Some(v) = self.extend_pid(d) {
            self.pid.resync(v);
        }
        if let Some(t) = d.tl0_pic_idx {
            self.tl0.resync(t);
        }
        if let Some(k) = d.key_idx {
            self.key.resync(k);
        }
    }

    /// The rewrite for a forwarded packet of the current source.
    pub fn rewrite(&mut self, d: &Vp8Descriptor) -> Vp8Patch {
        let picture_id = self
            .extend_pid(d)
            .and_then(|v| self.pid.peek(v).ok())
            .map(|o| SeqRewriter::<15>::cut(o) as u16);
        let tl0_pic_idx = d.tl0_pic_idx.map(|t| self.tl0.map(t));
        let key_idx = d.key_idx.map(|k| self.key.map(k));
        Vp8Patch {
            picture_id,
            tl0_pic_idx,
            key_idx,
        }
    }

    /// A packet of a frame that is dropped on purpose (filtered temporal layer): the next
    /// forwarded picture takes this one's picture id, so the decoder sees no gap.
    pub fn drop_frame(&mut self, d: &Vp8Descriptor) {
        if let Some(v) = self.extend_pid(d) {
            self.pid.skip_value(v);
        }
        // A dropped frame never has TID 0, so TL0PICIDX and KEYIDX need no change.
    }

    fn extend_pid(&mut self, d: &Vp8Descriptor) -> Option<u64> {
        let pid = d.picture_id?;
        Some(if pid.long {
            self.pid_long.extend(u64::from(pid.value))
        } else {
            self.pid_short.extend(u64::from(pid.value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::vp8::PictureId;

    fn desc(pid: u16, tl0: u8, tid: u8, key_idx: u8) -> Vp8Descriptor {
        Vp8Descriptor {
            header_len: 6,
            start_of_partition: true,
            picture_id: Some(PictureId {
                value: pid,
                long: true,
            }),
            tl0_pic_idx: Some(tl0),
            tid: Some(tid),
            key_idx: Some(key_idx),
            ..Vp8Descriptor::default()
        }
    }

    // The first source passes through unchanged.
    #[test]
    fn first_source_is_identity() {
        let mut r = Vp8Rewriter::new();
        let d = desc(100, 5, 0, 3);
        r.resync(&d);
        assert!(unchanged(&r.rewrite(&d), &d));
        let next = desc(101, 5, 1, 3);
        assert!(unchanged(&r.rewrite(&next), &next));
    }

    /// The patch writes back the values the descriptor already has.
    fn unchanged(p: &Vp8Patch, d: &Vp8Descriptor) -> bool {
        p.picture_id == d.picture_id.map(|x| x.value)
            && p.tl0_pic_idx == d.tl0_pic_idx
            && p.key_idx == d.key_idx
    }

    // After a switch every field continues from the last output + 1.
    #[test]
    fn switch_continues_all_fields() {
        let mut r = Vp8Rewriter::new();
        r.resync(&desc(100, 5, 0, 3));
        r.rewrite(&desc(100, 5, 0, 3));
        r.rewrite(&desc(101, 5, 1, 3));
        let key = desc(30_000, 200, 0, 17);
        r.resync(&key);
        let p = r.rewrite(&key);
        assert_eq!(p.picture_id, Some(102));
        assert_eq!(p.tl0_pic_idx, Some(6));
        assert_eq!(p.key_idx, Some(4));
        assert_eq!(r.rewrite(&desc(30_001, 200, 2, 17)).picture_id, Some(103));
    }

    // Dropped frames (all their packets) leave no gap in picture ids.
    #[test]
    fn dropped_frames_leave_no_picture_id_gap() {
        let mut r = Vp8Rewriter::new();
        r.resync(&desc(10, 0, 0, 0));
        assert_eq!(r.rewrite(&desc(10, 0, 0, 0)).picture_id, Some(10));
        r.drop_frame(&desc(11, 0, 2, 0));
        r.drop_frame(&desc(11, 0, 2, 0));
        assert_eq!(r.rewrite(&desc(12, 0, 1, 0)).picture_id, Some(11));
        r.drop_frame(&desc(13, 0, 2, 0));
        assert_eq!(r.rewrite(&desc(14, 1, 0, 0)).picture_id, Some(12));
    }

    // Picture ids wrap at 15 bits and continue.
    #[test]
    fn picture_id_wraps() {
        let mut r = Vp8Rewriter::new();
        r.resync(&desc(0x7fff, 0, 0, 0));
        assert_eq!(r.rewrite(&desc(0x7fff, 0, 0, 0)).picture_id, Some(0x7fff));
        assert_eq!(r.rewrite(&desc(0, 0, 0, 0)).picture_id, Some(0));
    }
}
