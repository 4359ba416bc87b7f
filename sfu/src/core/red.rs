//! RFC 2198 redundant audio (RED) payloads: the SFU forwards a publisher's RED packets as they
//! are to subscribers that negotiated RED, and only the primary block to the others. Both need
//! the block structure, read here without trusting the network: a malformed payload is `None`,
//! never a panic.
//!
//! A RED payload is a list of block headers, then the blocks in the same order. Each header
//! but the last is 4 bytes (F=1, block PT, 14-bit timestamp offset, 10-bit length); the last is
//! 1 byte (F=0, block PT) and names the primary block, which runs to the end of the payload.

use std::ops::Range;

/// Where the primary block lies in a RED payload, and where each block header's payload-type
/// byte is (the subscriber's primary payload type may differ from the publisher's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedLayout {
    pub primary: Range<usize>,
    /// Offsets of the block headers' first bytes (F bit and 7-bit PT), primary's last.
    pub pt_bytes: Vec<usize>,
}

/// More redundant blocks than any sender uses (libwebrtc sends 1-2); a payload claiming more is
/// read as malformed rather than walked further.
const MAX_BLOCKS: usize = 16;

/// Reads the block structure of a RED payload.
pub fn layout(payload: &[u8]) -> Option<RedLayout> {
    let mut pt_bytes = Vec::with_capacity(2);
    let mut at = 0;
    let mut blocks_len = 0usize;
    loop {
        let first = *payload.get(at)?;
        pt_bytes.push(at);
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let header = payload.get(at..at + 4)?;
        blocks_len += usize::from(u16::from_be_bytes([header[2], header[3]]) & 0x3ff);
        at += 4;
        if pt_bytes.len() > MAX_BLOCKS {
            return None;
        }
    }
    let primary_start = at + blocks_len;
    if primary_start > payload.len() {
        return None;
    }
    Some(RedLayout {
        primary: primary_start..payload.len(),
        pt_bytes,
    })
}

/// The payload type every block of a RED payload names (the SFU forwards single-codec RED: a
/// payload whose blocks name different codecs is `None`).
pub fn block_pt(payload: &[u8], layout: &RedLayout) -> Option<u8> {
    let mut pts = layout.pt_bytes.iter().map(|&at| payload[at] & 0x7f);
    let first = pts.next()?;
    pts.all(|pt| pt == first).then_some(first)
}

/// A copy of a RED payload whose blocks name `pt` (the subscriber's payload type for the
/// primary codec).
pub fn with_block_pt(payload: &[u8], layout: &RedLayout, pt: u8) -> Vec<u8> {
    let mut out = payload.to_vec();
    for &at in &layout.pt_bytes {
        out[at] = (out[at] & 0x80) | (pt & 0x7f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One redundant block (`older`, 960 ticks back) and the primary (`newer`), block PT `pt`.
    fn red(pt: u8, older: &[u8], newer: &[u8]) -> Vec<u8> {
        let len = older.len() as u16;
        let offset: u16 = 960;
        let mut p = vec![
            0x80 | pt,
            (offset >> 6) as u8,
            ((offset & 0x3f) << 2) as u8 | (len >> 8) as u8,
            len as u8,
            pt,
        ];
        p.extend_from_slice(older);
        p.extend_from_slice(newer);
        p
    }

    #[test]
    fn finds_the_primary_block_after_a_redundant_one() {
        let p = red(111, b"older", b"newest!");
        let l = layout(&p).unwrap();
        assert_eq!(&p[l.primary.clone()], b"newest!");
        assert_eq!(l.pt_bytes, vec![0, 4]);
        assert_eq!(block_pt(&p, &l), Some(111));
    }

    #[test]
    fn a_primary_only_payload_has_a_one_byte_header() {
        let p = [111u8, 1, 2, 3];
        let l = layout(&p).unwrap();
        assert_eq!(&p[l.primary], &[1, 2, 3]);
    }

    #[test]
    fn rewrites_every_block_payload_type_and_keeps_the_rest() {
        let p = red(111, b"older", b"newer");
        let l = layout(&p).unwrap();
        let q = with_block_pt(&p, &l, 109);
        assert_eq!(q[0], 0x80 | 109);
        assert_eq!(q[4], 109);
        assert_eq!(&q[1..4], &p[1..4]);
        assert_eq!(&q[5..], &p[5..]);
        assert_eq!(block_pt(&q, &l), Some(109));
    }

    #[test]
    fn malformed_payloads_are_rejected_not_panicked_on() {
        assert_eq!(layout(&[]), None);
        // A redundant header cut short.
        assert_eq!(layout(&[0x80 | 111, 0, 0]), None);
        // Headers that never end.
        assert_eq!(layout(&[0x80 | 111, 0, 0, 0].repeat(20)), None);
        // A block longer than the payload.
        let mut p = red(111, b"older", b"newer");
        p.truncate(7);
        assert_eq!(layout(&p), None);
        // Blocks of two codecs.
        let mut p = red(111, b"older", b"newer");
        p[4] = 0;
        let l = layout(&p).unwrap();
        assert_eq!(block_pt(&p, &l), None);
    }
}
