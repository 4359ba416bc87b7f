//! VP8 over RTP (RFC 7741) in both directions: [`Vp8Assembler`] rebuilds whole frames from
//! received packets, [`packetize`] splits a frame into payloads for sending.
//!
//! Only the payload descriptor is read and written; the VP8 bitstream is opaque except for the
//! first byte of a frame, whose bit 0 tells a keyframe (0) from an interframe (RFC 6386 §9.1).

use bytes::{Bytes, BytesMut};

/// The payload bytes per packet at most (a browser's VP8 packetisation stays near 1,100-1,200
/// bytes so that SRTP and headers fit a 1,280-byte path MTU).
pub const MAX_PAYLOAD: usize = 1100;

/// The parts of an RFC 7741 payload descriptor the assembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// S: the packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// PID: the partition index.
    pub partition_id: u8,
    /// The descriptor's length: the VP8 data begins here.
    pub len: usize,
}

impl Descriptor {
    /// Reads the descriptor at the start of `payload`; `None` when it is truncated.
    pub fn parse(payload: &[u8]) -> Option<Descriptor> {
        let first = *payload.first()?;
        let mut at = 1;
        if first & 0x80 != 0 {
            let ext = *payload.get(at)?;
            at += 1;
            if ext & 0x80 != 0 {
                // Picture id: 7 bits, or 15 with the M bit.
                let pid = *payload.get(at)?;
                at += if pid & 0x80 != 0 { 2 } else { 1 };
            }
            if ext & 0x40 != 0 {
                at += 1; // TL0PICIDX
            }
            if ext & 0x30 != 0 {
                at += 1; // TID, Y, KEYIDX
            }
        }
        if at > payload.len() {
            return None;
        }
        Some(Descriptor {
            start_of_partition: first & 0x10 != 0,
            partition_id: first & 0x07,
            len: at,
        })
    }

    /// Whether the packet starts a frame (S set on partition 0).
    pub fn starts_frame(&self) -> bool {
        self.start_of_partition && self.partition_id == 0
    }
}

/// A frame the assembler completed: its data, whether it is a keyframe, and the first
/// packet's sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// The VP8 frame.
    pub data: Bytes,
    /// Bit 0 of the frame's first byte is 0.
    pub keyframe: bool,
    /// The RTP sequence number of the first packet.
    pub first_sequence: u16,
}

/// Rebuilds VP8 frames from the packets of one RTP stream, in arrival order. A frame with a
/// missing or reordered packet is dropped whole: a decoder must not see a torn frame.
#[derive(Debug, Default)]
pub struct Vp8Assembler {
    buffer: BytesMut,
    first_sequence: u16,
    next_sequence: Option<u16>,
    /// A frame is being collected and no packet of it is missing so far.
    intact: bool,
}

impl Vp8Assembler {
    /// Feeds one packet; returns the frame it completes (the packet with the marker bit).
    pub fn push(&mut self, sequence: u16, marker: bool, payload: &[u8]) -> Option<AssembledFrame> {
        let descriptor = Descriptor::parse(payload)?;
        let data = &payload[descriptor.len..];
        if descriptor.starts_frame() {
            self.buffer.clear();
            self.first_sequence = sequence;
            self.intact = true;
        } else if self.next_sequence != Some(sequence) {
            // A gap (or no frame start seen): this frame cannot be completed.
            self.intact = false;
        }
        self.next_sequence = Some(sequence.wrapping_add(1));
        if !self.intact {
            return None;
        }
        self.buffer.extend_from_slice(data);
        if !marker {
            return None;
        }
        self.intact = false;
        let frame = self.buffer.split().freeze();
        let keyframe = frame.first().is_some_and(|b| b & 0x01 == 0);
        (!frame.is_empty()).then_some(AssembledFrame {
            data: frame,
            keyframe,
            first_sequence: self.first_sequence,
        })
    }
}

/// Splits `frame` into RTP payloads of at most [`MAX_PAYLOAD`] bytes, each with a payload
/// descriptor carrying the 15-bit `picture_id` and, for temporal-layer-aware forwarding,
/// TL0PICIDX `tl0_pic_idx` and TID 0 (every frame a base-layer frame).
pub fn packetize(frame: &[u8], picture_id: u16, tl0_pic_idx: u8) -> Vec<Vec<u8>> {
    let chunk = MAX_PAYLOAD - 6;
    let mut payloads = Vec::new();
    for (i, part) in frame.chunks(chunk).enumerate() {
        let mut payload = Vec::with_capacity(part.len() + 6);
        // X, S on the first packet, PID 0.
        payload.push(0x80 | if i == 0 { 0x10 } else { 0 });
        // I, L, T.
        payload.push(0x80 | 0x40 | 0x20);
        let pid = picture_id & 0x7FFF;
        payload.push(0x80 | (pid >> 8) as u8);
        payload.push(pid as u8);
        payload.push(tl0_pic_idx);
        // TID 0, Y (layer sync), KEYIDX 0.
        payload.push(0x20);
        payload.extend_from_slice(part);
        payloads.push(payload);
    }
    payloads
}

#[cfg(test)]
mod tests {
    use super::*;

    // A frame split by `packetize` comes back whole and byte-identical, its keyframe bit read.
    #[test]
    fn packetize_then_assemble_round_trips() {
        let keyframe: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8 & 0xFE).collect();
        let payloads = packetize(&keyframe, 0x1234, 9);
        assert_eq!(payloads.len(), 3);
        let mut assembler = Vp8Assembler::default();
        let mut out = None;
        for (i, p) in payloads.iter().enumerate() {
            let last = i + 1 == payloads.len();
            let got = assembler.push(100 + i as u16, last, p);
            assert_eq!(got.is_some(), last);
            out = got.or(out);
        }
        let frame = out.expect("a frame");
        assert_eq!(&frame.data[..], &keyframe[..]);
        assert!(frame.keyframe);
        assert_eq!(frame.first_sequence, 100);
    }

    // A missing middle packet drops the frame; the next frame is delivered again.
    #[test]
    fn a_gap_drops_the_frame_not_the_stream() {
        let delta: Vec<u8> = vec![0x01; 2500];
        let payloads = packetize(&delta, 1, 0);
        let mut a = Vp8Assembler::default();
        assert!(a.push(10, false, &payloads[0]).is_none());
        assert!(a.push(12, true, &payloads[2]).is_none());
        let next = packetize(&[0x01, 2, 3], 2, 0);
        let frame = a.push(13, true, &next[0]).expect("the next frame");
        assert!(!frame.keyframe);
        assert_eq!(&frame.data[..], &[0x01, 2, 3]);
    }

    // Truncated descriptors are refused, not read past the end.
    #[test]
    fn truncated_descriptors_are_refused() {
        assert_eq!(Descriptor::parse(&[]), None);
        assert_eq!(Descriptor::parse(&[0x90]), None);
        assert_eq!(Descriptor::parse(&[0x90, 0x80, 0x80]), None);
        let mut a = Vp8Assembler::default();
        assert!(a.push(1, true, &[0x90, 0xE0]).is_none());
    }
}
