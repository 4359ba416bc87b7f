//! RFC 2198 redundant audio (RED) payloads: the SFU forwards a publisher's RED packets as they
//! are to subscribers that negotiated RED, and only the primary block to the others. Both need
//! the block structure, read here without trusting the network: a malformed payload is `None`,
//! never a panic.
//!
//! A RED payload is a list of block headers, then the blocks in the same order. Each header
//! but the last is 4 bytes (F=1, block PT, 14-bit timestamp offset, 10-bit length); the last is
//! 1 byte (F=0, block PT) and names the primary block, which runs to the end of the payload.
//!
//! The structure is read once per inbound packet ([`RedPayload::parse`], called from
//! `RtpIn::new`) and shared by every forward: the layout is a few plain bytes, and the primary
//! block is cut out once for all subscribers without RED, so no forward allocates.

use std::ops::Range;
use std::sync::Arc;

/// More redundant blocks than any sender uses (libwebrtc sends 1-2); a payload claiming more is
/// read as malformed rather than walked further.
const MAX_BLOCKS: usize = 8;

/// Where the primary block lies in a RED payload, and where each block header's payload-type
/// byte is (the subscriber's primary payload type may differ from the publisher's). Plain
/// bytes, copied with the packet: block headers lie within the first `4 * MAX_BLOCKS` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedLayout {
    primary_start: u16,
    payload_len: u16,
    /// Offsets of the block headers' first bytes (F bit and 7-bit PT), primary's last.
    headers: [u8; MAX_BLOCKS + 1],
    blocks: u8,
}

impl RedLayout {
    /// The primary block's byte range in the payload.
    pub fn primary(&self) -> Range<usize> {
        usize::from(self.primary_start)..usize::from(self.payload_len)
    }

    /// Offsets of the block headers' payload-type bytes, the primary's last.
    pub fn pt_bytes(&self) -> &[u8] {
        &self.headers[..usize::from(self.blocks)]
    }
}

/// Reads the block structure of a RED payload.
pub fn layout(payload: &[u8]) -> Option<RedLayout> {
    let payload_len = u16::try_from(payload.len()).ok()?;
    let mut headers = [0u8; MAX_BLOCKS + 1];
    let mut blocks = 0usize;
    let mut at = 0usize;
    let mut blocks_len = 0usize;
    loop {
        let first = *payload.get(at)?;
        *headers.get_mut(blocks)? = at as u8;
        blocks += 1;
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let header = payload.get(at..at + 4)?;
        blocks_len += usize::from(u16::from_be_bytes([header[2], header[3]]) & 0x3ff);
        at += 4;
    }
    let primary_start = at + blocks_len;
    if primary_start > payload.len() {
        return None;
    }
    Some(RedLayout {
        primary_start: primary_start as u16,
        payload_len,
        headers,
        blocks: blocks as u8,
    })
}

/// The payload type every block of a RED payload names (the SFU forwards single-codec RED: a
/// payload whose blocks name different codecs is `None`).
pub fn block_pt(payload: &[u8], layout: &RedLayout) -> Option<u8> {
    let mut pts = layout
        .pt_bytes()
        .iter()
        .map(|&at| payload.get(usize::from(at)).map(|b| b & 0x7f));
    let first = pts.next()??;
    pts.all(|pt| pt == Some(first)).then_some(first)
}

/// The byte replacements that make every block of a RED payload name `pt` (the subscriber's
/// payload type for the primary codec): the send path writes them while it copies the payload.
pub fn block_pt_edits<'a>(
    payload: &'a [u8],
    layout: &'a RedLayout,
    pt: u8,
) -> impl Iterator<Item = (usize, u8)> + 'a {
    layout.pt_bytes().iter().map(move |&at| {
        let at = usize::from(at);
        let f_bit = payload.get(at).map_or(0, |b| b & 0x80);
        (at, f_bit | (pt & 0x7f))
    })
}

/// What a RED packet carries, read once when it arrives and shared by every forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedPayload {
    pub layout: RedLayout,
    /// The payload type all blocks name (the publisher's primary codec).
    pub block_pt: u8,
    /// The primary block alone, for subscribers that did not negotiate RED: one copy per
    /// inbound packet, not one per subscriber.
    pub primary: Arc<[u8]>,
}

impl RedPayload {
    /// Reads a RED payload; `None` when it is malformed or mixes codecs.
    pub fn parse(payload: &[u8]) -> Option<RedPayload> {
        let layout = layout(payload)?;
        let block_pt = block_pt(payload, &layout)?;
        Some(RedPayload {
            layout,
            block_pt,
            primary: Arc::from(&payload[layout.primary()]),
        })
    }
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
        assert_eq!(&p[l.primary()], b"newest!");
        assert_eq!(l.pt_bytes(), &[0, 4]);
        assert_eq!(block_pt(&p, &l), Some(111));
    }

    #[test]
    fn a_primary_only_payload_has_a_one_byte_header() {
        let p = [111u8, 1, 2, 3];
        let l = layout(&p).unwrap();
        assert_eq!(&p[l.primary()], &[1, 2, 3]);
    }

    #[test]
    fn rewrites_every_block_payload_type_and_keeps_the_rest() {
        let p = red(111, b"older", b"newer");
        let l = layout(&p).unwrap();
        let mut q = p.clone();
        for (at, byte) in block_pt_edits(&p, &l, 109) {
            q[at] = byte;
        }
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
        assert_eq!(RedPayload::parse(&p), None);
    }

    #[test]
    fn a_parsed_payload_carries_its_primary_block_and_codec() {
        let p = red(111, b"older", b"newer");
        let r = RedPayload::parse(&p).unwrap();
        assert_eq!(&r.primary[..], b"newer");
        assert_eq!(r.block_pt, 111);
        assert_eq!(r.layout.pt_bytes(), &[0, 4]);
    }
}
