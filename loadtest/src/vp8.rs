//! The VP8 RTP payload descriptor (RFC 7741 §4.2) as a synthetic publisher writes it, and the
//! reader a subscriber uses to find the frame boundaries, temporal layer and keyframes again.
//!
//! The publisher always writes the long form (X=1 with I, L, T, K: 15-bit picture id,
//! TL0PICIDX, TID/Y/KEYIDX) because that is what libwebrtc sends with temporal layers, and what
//! the SFU's `Vp8Rewriter` must patch. The reader accepts every form the RFC allows, since the
//! SFU may forward a shorter one.

/// The fields of one packet's payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// N: the frame is not used as a reference (set on the top temporal layer).
    pub non_reference: bool,
    /// S: this packet starts a VP8 partition (with `partition_id == 0`: the frame).
    pub start_of_partition: bool,
    pub partition_id: u8,
    /// 15-bit picture id (7-bit when the sender used the short form).
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// Temporal layer id (TID).
    pub tid: Option<u8>,
    /// Y: layer sync, the frame depends only on TL0 frames.
    pub layer_sync: bool,
    pub key_idx: Option<u8>,
}

impl Vp8Descriptor {
    /// Whether this packet carries the first bytes of a frame.
    pub fn starts_frame(&self) -> bool {
        self.start_of_partition && self.partition_id == 0
    }

    /// Appends the long-form descriptor (X, I with M=1, L, T, K) to `out`: 6 bytes.
    ///
    /// Fields left `None` are written as zero: the long form is fixed so that every packet of a
    /// synthetic stream has the same layout.
    pub fn write_long(&self, out: &mut Vec<u8>) {
        let mut b0 = 0x80; // X
        if self.non_reference {
            b0 |= 0x20;
        }
        if self.start_of_partition {
            b0 |= 0x10;
        }
        b0 |= self.partition_id & 0x07;
        out.push(b0);
        out.push(0xF0); // I, L, T, K
        let pid = self.picture_id.unwrap_or(0) & 0x7FFF;
        out.push(0x80 | (pid >> 8) as u8); // M=1: 15-bit picture id
        out.push(pid as u8);
        out.push(self.tl0_pic_idx.unwrap_or(0));
        let mut tyk = (self.tid.unwrap_or(0) & 0x03) << 6;
        if self.layer_sync {
            tyk |= 0x20;
        }
        tyk |= self.key_idx.unwrap_or(0) & 0x1F;
        out.push(tyk);
    }

    /// Parses the descriptor at the start of `payload`; returns it and its length in bytes, or
    /// `None` when the payload is too short for what its flags announce.
    pub fn parse(payload: &[u8]) -> Option<(Vp8Descriptor, usize)> {
        let b0 = *payload.first()?;
        let mut d = Vp8Descriptor {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_id: b0 & 0x07,
            ..Vp8Descriptor::default()
        };
        let mut at = 1;
        if b0 & 0x80 == 0 {
            return Some((d, at));
        }
        let x = *payload.get(at)?;
        at += 1;
        if x & 0x80 != 0 {
            let p0 = *payload.get(at)?;
            if p0 & 0x80 != 0 {
                let p1 = *payload.get(at + 1)?;
                d.picture_id = Some((u16::from(p0 & 0x7F) << 8) | u16::from(p1));
                at += 2;
            } else {
                d.picture_id = Some(u16::from(p0));
                at += 1;
            }
        }
        if x & 0x40 != 0 {
            d.tl0_pic_idx = Some(*payload.get(at)?);
            at += 1;
        }
        if x & 0x30 != 0 {
            let tyk = *payload.get(at)?;
            at += 1;
            if x & 0x20 != 0 {
                d.tid = Some(tyk >> 6);
                d.layer_sync = tyk & 0x20 != 0;
            }
            if x & 0x10 != 0 {
                d.key_idx = Some(tyk & 0x1F);
            }
        }
        Some((d, at))
    }
}

/// Length of the VP8 frame header that follows the descriptor in a frame's first packet:
/// 3 bytes of frame tag, plus start code and dimensions (7 bytes) on a keyframe (RFC 6386 §9.1).
pub fn frame_header_len(keyframe: bool) -> usize {
    if keyframe {
        10
    } else {
        3
    }
}

/// Appends a VP8 frame header (RFC 6386 §9.1) for a frame whose first partition is
/// `first_partition_len` bytes: the 3-byte frame tag with the P bit clear on keyframes, and on
/// keyframes the start code `9d 01 2a` and the 14-bit width and height.
pub fn write_frame_header(
    out: &mut Vec<u8>,
    keyframe: bool,
    first_partition_len: u32,
    width: u16,
    height: u16,
) {
    // P (inverse keyframe) | VER=0 | show_frame=1 | first_part_size (19 bits).
    let size = first_partition_len & 0x7_FFFF;
    let tag = u32::from(!keyframe) | (1 << 4) | (size << 5);
    out.extend_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        out.extend_from_slice(&(width & 0x3FFF).to_le_bytes());
        out.extend_from_slice(&(height & 0x3FFF).to_le_bytes());
    }
}

/// Whether the frame header at the start of `header` (right after the descriptor of a packet
/// that starts a frame) is a keyframe: P bit clear and the start code present.
pub fn is_keyframe_header(header: &[u8]) -> bool {
    header.len() >= 6 && header[0] & 0x01 == 0 && header[3..6] == [0x9d, 0x01, 0x2a]
}

/// The temporal pattern of a 3-layer VP8 encoder (libwebrtc's `ScreenshareLayers` aside):
/// TL0, TL2, TL1, TL2, repeating. Returns (tid, layer_sync) for frame `n` since the last
/// keyframe. The first TL1 and TL2 frames after a keyframe are sync frames, and so are the
/// TL2 and TL1 frames that open every 8-frame cycle: libwebrtc's `DefaultTemporalLayers`
/// makes them reference only TL0 ('last') so that a receiver (or an SFU raising a
/// subscriber's frame rate) can add the layer without waiting for a keyframe ("layer sync
/// ... happens every 8 frames", its 3-layer pattern "SSS --D -SS --D SRR --D -DS --D").
pub fn temporal_pattern(n: u64, temporal_layers: u8) -> (u8, bool) {
    let tid = match temporal_layers {
        0 | 1 => 0,
        2 => (n % 2) as u8,
        _ => [0, 2, 1, 2][(n % 4) as usize],
    };
    // Within the first pattern cycle after a keyframe every upper-layer frame predicts only
    // from TL0 (the keyframe), so it is a switching point.
    let sync = tid > 0 && (n < 4 || matches!(n % 8, 1 | 2));
    (tid, sync)
}
