//! VP8 RTP payload descriptor (RFC 7741 §4.2): parsing, and the in-place patch of picture id,
//! TL0PICIDX and KEYIDX that keeps them continuous for a subscriber across simulcast switches.

/// A parsed VP8 payload descriptor plus the keyframe bit of the VP8 payload header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// Descriptor length in bytes: the VP8 payload (header) starts here.
    pub header_len: u8,
    /// S: start of a VP8 partition.
    pub start_of_partition: bool,
    /// PID: partition index (0..=7).
    pub partition_index: u8,
    /// N: non-reference frame (may be discarded without affecting other frames).
    pub non_reference: bool,
    /// PictureID with its wire width (7 or 15 bits), if present.
    pub picture_id: Option<PictureId>,
    /// TL0PICIDX, if present.
    pub tl0_pic_idx: Option<u8>,
    /// TID, if the T bit is set.
    pub tid: Option<u8>,
    /// Y: layer sync (this frame depends only on TL0 frames).
    pub layer_sync: bool,
    /// KEYIDX, if the K bit is set.
    pub key_idx: Option<u8>,
    /// True on the first packet of a keyframe: S=1, PID=0, and the P bit of the VP8 payload
    /// header (RFC 6386 §9.1) is 0.
    pub keyframe: bool,
}

/// A VP8 picture id and the width it has on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PictureId {
    pub value: u16,
    /// True for the 15-bit form (M bit set), false for 7 bits.
    pub long: bool,
}

/// New values for the rewritable descriptor fields. A field is written only if the descriptor
/// has it; the picture id is cut to the width the packet already uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Vp8Patch {
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    pub key_idx: Option<u8>,
}

// First-octet bits of the descriptor (RFC 7741 §4.2).
const X_BIT: u8 = 0x80;
const N_BIT: u8 = 0x20;
const S_BIT: u8 = 0x10;
const PID_MASK: u8 = 0x07;
// Extension octet bits.
const I_BIT: u8 = 0x80;
const L_BIT: u8 = 0x40;
const T_BIT: u8 = 0x20;
const K_BIT: u8 = 0x10;
// PictureID octet: M selects the 15-bit form.
const M_BIT: u8 = 0x80;

impl Vp8Descriptor {
    /// Parses the descriptor at the start of a VP8 RTP payload. `None` when the payload is too
    /// short for the fields its flags announce, or carries no VP8 data after the descriptor.
    pub fn parse(payload: &[u8]) -> Option<Vp8Descriptor> {
        let first = *payload.first()?;
        let mut d = Vp8Descriptor {
            start_of_partition: first & S_BIT != 0,
            partition_index: first & PID_MASK,
            non_reference: first & N_BIT != 0,
            ..Vp8Descriptor::default()
        };
        let mut at = 1;
        if first & X_BIT != 0 {
            let ext = *payload.get(at)?;
            at += 1;
            if ext & I_BIT != 0 {
                let b = *payload.get(at)?;
                if b & M_BIT != 0 {
                    let lo = *payload.get(at + 1)?;
                    d.picture_id = Some(PictureId {
                        value: (u16::from(b & 0x7f) << 8) | u16::from(lo),
                        long: true,
                    });
                    at += 2;
                } else {
                    d.picture_id = Some(PictureId {
                        value: u16::from(b),
                        long: false,
                    });
                    at += 1;
                }
            }
            if ext & L_BIT != 0 {
                d.tl0_pic_idx = Some(*payload.get(at)?);
                at += 1;
            }
            if ext & (T_BIT | K_BIT) != 0 {
                let b = *payload.get(at)?;
                if ext & T_BIT != 0 {
                    d.tid = Some(b >> 6);
                    d.layer_sync = b & 0x20 != 0;
                }
                if ext & K_BIT != 0 {
                    d.key_idx = Some(b & 0x1f);
                }
                at += 1;
            }
        }
        // The VP8 payload header follows; its P bit (RFC 6386 §9.1) is 0 on a keyframe. It is
        // only meaningful on the first packet of a frame.
        let vp8_first = *payload.get(at)?;
        d.keyframe = d.start_of_partition && d.partition_index == 0 && vp8_first & 0x01 == 0;
        d.header_len = at as u8;
        Some(d)
    }

    /// Byte offset of the PictureID field (after the first octet and the X octet).
    fn picture_id_at(&self) -> usize {
        2
    }

    fn tl0_pic_idx_at(&self) -> usize {
        self.picture_id_at()
            + match self.picture_id {
                Some(PictureId { long: true, .. }) => 2,
                Some(PictureId { long: false, .. }) => 1,
                None => 0,
            }
    }

    fn tid_key_idx_at(&self) -> usize {
        self.tl0_pic_idx_at() + usize::from(self.tl0_pic_idx.is_some())
    }
}

/// The bytes a patch changes in one packet: at most four (the two PictureID octets,
/// TL0PICIDX, the TID/Y/KEYIDX octet), each an offset into the payload and its new value.
/// The shell hands these to str0m, which writes them while it copies the payload into the
/// packet it encrypts, and the tests and benches apply them to a copy: the rewrite that ships
/// is the one they exercise. Empty when the packet goes out as it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Vp8Edits {
    len: u8,
    at: [u8; 4],
    byte: [u8; 4],
}

impl Vp8Edits {
    /// True when no byte changes, so the payload is shared as is.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each edit as (offset into the payload, new byte), in payload order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u8)> + '_ {
        let n = usize::from(self.len);
        self.at[..n]
            .iter()
            .zip(&self.byte[..n])
            .map(|(&at, &b)| (usize::from(at), b))
    }

    /// Writes the edits into `payload` (a copy of the packet they were computed for). An
    /// offset past its end is skipped, never a panic.
    pub fn apply(&self, payload: &mut [u8]) {
        for (at, b) in self.iter() {
            if let Some(dst) = payload.get_mut(at) {
                *dst = b;
            }
        }
    }

    /// Records a new value for the byte at `at` of `payload`, unless it already holds it or
    /// lies past its end (a descriptor built by hand, or parsed from another packet).
    fn set(&mut self, payload: &[u8], at: usize, b: u8) {
        let (Some(&old), Ok(at)) = (payload.get(at), u8::try_from(at)) else {
            return;
        };
        if old != b && usize::from(self.len) < self.at.len() {
            self.at[usize::from(self.len)] = at;
            self.byte[usize::from(self.len)] = b;
            self.len += 1;
        }
    }
}

impl Vp8Patch {
    /// The bytes of `payload` (the packet `d` was parsed from) this patch changes. A field is
    /// written only where the descriptor has it, at the width it already has on the wire, so
    /// the packet length never changes.
    pub fn edits(&self, d: &Vp8Descriptor, payload: &[u8]) -> Vp8Edits {
        let mut edits = Vp8Edits::default();
        if let (Some(new), Some(old)) = (self.picture_id, d.picture_id) {
            let at = d.picture_id_at();
            let v = Self::cut_pid(new, old.long);
            if old.long {
                edits.set(payload, at, M_BIT | (v >> 8) as u8);
                edits.set(payload, at + 1, v as u8);
            } else {
                edits.set(payload, at, v as u8);
            }
        }
        if let (Some(new), Some(_)) = (self.tl0_pic_idx, d.tl0_pic_idx) {
            edits.set(payload, d.tl0_pic_idx_at(), new);
        }
        if let (Some(new), Some(_)) = (self.key_idx, d.key_idx) {
            let at = d.tid_key_idx_at();
            if let Some(&old) = payload.get(at) {
                edits.set(payload, at, (old & !0x1f) | (new & 0x1f));
            }
        }
        edits
    }

    fn cut_pid(value: u16, long: bool) -> u16 {
        if long {
            value & 0x7fff
        } else {
            value & 0x7f
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7741 §4.2 layout with every optional field: X=1,S=1,PID=0; I,L,T,K; 15-bit picture
    // id 0x1234; TL0PICIDX 7; TID 2, Y=1, KEYIDX 5; then a keyframe payload header (P=0).
    const FULL: [u8; 8] = [0x90, 0xf0, 0x80 | 0x12, 0x34, 7, 0b1010_0101, 0x10, 0x02];

    // A descriptor with every optional field parses to the values on the wire.
    #[test]
    fn parses_all_optional_fields() {
        let d = Vp8Descriptor::parse(&FULL).unwrap();
        assert!(d.start_of_partition && d.keyframe && !d.non_reference);
        assert_eq!(d.partition_index, 0);
        assert_eq!(
            d.picture_id,
            Some(PictureId {
                value: 0x1234,
                long: true
            })
        );
        assert_eq!(d.tl0_pic_idx, Some(7));
        assert_eq!(d.tid, Some(2));
        assert!(d.layer_sync);
        assert_eq!(d.key_idx, Some(5));
        assert_eq!(d.header_len, 6);
    }

    // The minimal one-octet descriptor (no X) is valid; P=1 means an interframe.
    #[test]
    fn parses_minimal_descriptor_and_interframe() {
        let d = Vp8Descriptor::parse(&[0x10, 0x01, 0x00]).unwrap();
        assert_eq!(d.header_len, 1);
        assert!(!d.keyframe && d.picture_id.is_none() && d.tid.is_none());
    }

    // A 7-bit picture id (M=0) is read as one octet.
    #[test]
    fn parses_short_picture_id() {
        let d = Vp8Descriptor::parse(&[0x90, 0x80, 0x55, 0x00]).unwrap();
        assert_eq!(
            d.picture_id,
            Some(PictureId {
                value: 0x55,
                long: false
            })
        );
        assert_eq!(d.header_len, 3);
    }

    // Keyframe needs S=1 and PID=0: a continuation packet is never a keyframe.
    #[test]
    fn continuation_packet_is_not_keyframe() {
        let d = Vp8Descriptor::parse(&[0x00, 0x00]).unwrap();
        assert!(!d.keyframe);
        let d = Vp8Descriptor::parse(&[0x11, 0x00]).unwrap();
        assert!(!d.keyframe, "PID 1 is not the first partition");
    }

    // Every truncation of a valid descriptor is rejected, never a panic.
    #[test]
    fn truncated_descriptors_are_rejected() {
        for n in 0..7 {
            assert_eq!(Vp8Descriptor::parse(&FULL[..n]), None, "len {n}");
        }
    }

    // A descriptor that does not describe the buffer never makes the patch panic.
    #[test]
    fn patch_on_mismatched_buffer_does_not_panic() {
        let d = Vp8Descriptor::parse(&FULL).unwrap();
        let patch = Vp8Patch {
            picture_id: Some(1),
            tl0_pic_idx: Some(2),
            key_idx: Some(3),
        };
        for n in 0..FULL.len() {
            let mut buf = FULL[..n].to_vec();
            let edits = patch.edits(&d, &buf);
            assert!(edits.iter().all(|(at, _)| at < n), "len {n}");
            edits.apply(&mut buf);
        }
    }

    // Patching rewrites exactly the three fields and keeps the flag bits around them.
    #[test]
    fn patch_rewrites_fields_in_place() {
        let d = Vp8Descriptor::parse(&FULL).unwrap();
        let mut buf = FULL;
        let patch = Vp8Patch {
            picture_id: Some(0x7ffe),
            tl0_pic_idx: Some(200),
            key_idx: Some(31),
        };
        let edits = patch.edits(&d, &buf);
        assert_eq!(edits.iter().count(), 4);
        edits.apply(&mut buf);
        let p = Vp8Descriptor::parse(&buf).unwrap();
        assert_eq!(p.picture_id.unwrap().value, 0x7ffe);
        assert_eq!(p.tl0_pic_idx, Some(200));
        assert_eq!(p.key_idx, Some(31));
        assert_eq!((p.tid, p.layer_sync), (Some(2), true));
        assert_eq!(buf[6..], FULL[6..]);
    }

    // A 7-bit picture id is patched modulo 128 and keeps its width.
    #[test]
    fn patch_keeps_short_picture_id_width() {
        let src = [0x90, 0x80, 0x55, 0x00];
        let d = Vp8Descriptor::parse(&src).unwrap();
        let mut buf = src;
        Vp8Patch {
            picture_id: Some(300),
            ..Vp8Patch::default()
        }
        .edits(&d, &src)
        .apply(&mut buf);
        assert_eq!(buf, [0x90, 0x80, (300 % 128) as u8, 0x00]);
    }

    // A patch equal to the packet's own values changes no byte.
    #[test]
    fn identity_patch_is_detected() {
        let d = Vp8Descriptor::parse(&FULL).unwrap();
        let patch = Vp8Patch {
            picture_id: Some(0x1234),
            tl0_pic_idx: Some(7),
            key_idx: Some(5),
        };
        assert!(patch.edits(&d, &FULL).is_empty());
    }
}
