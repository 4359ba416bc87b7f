//! RFC 2198 redundant audio (RED) as a browser sends it: each packet carries the Opus frame of
//! the previous packet ahead of its own, so a single lost packet is recovered from the next
//! one (issue 13, goal 4: audio loss after repair < 1 % at 5 % random loss). The synthetic
//! publisher sends it where the SFU accepted `red/48000/2`; the subscriber recovers from it
//! where the SFU offered it.

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use webrtc::peer_connection::MediaEngine;

use crate::client_error::ClientError;

/// The MIME type webrtc-rs matches the codec by.
pub const MIME_TYPE_RED: &str = "audio/red";

/// Chromium's payload type for RED around Opus 111.
const RED_PT: u8 = 63;
const OPUS_PT: u8 = 111;

/// Offers (or accepts) RED around Opus, as Chromium does. Call after Opus is registered.
pub(crate) fn register(engine: &mut MediaEngine) -> Result<(), ClientError> {
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_RED.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: format!("{OPUS_PT}/{OPUS_PT}"),
                rtcp_feedback: Vec::new(),
            },
            payload_type: RED_PT,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(())
}

/// One RED payload: `previous` (the frame `ts_offset` ticks earlier, if any) as the redundant
/// block, then `primary`. A previous frame longer than a block header can say (1023 bytes) is
/// left out.
pub fn encode(block_pt: u8, previous: Option<(&[u8], u16)>, primary: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + previous.map_or(0, |p| p.0.len()) + primary.len());
    match previous.filter(|(p, offset)| p.len() < 1024 && *offset < 1 << 14) {
        Some((block, offset)) => {
            let len = block.len() as u16;
            out.push(0x80 | (block_pt & 0x7f));
            out.push((offset >> 6) as u8);
            out.push((((offset & 0x3f) << 2) as u8) | (len >> 8) as u8);
            out.push(len as u8);
            out.push(block_pt & 0x7f);
            out.extend_from_slice(block);
        }
        None => out.push(block_pt & 0x7f),
    }
    out.extend_from_slice(primary);
    out
}

/// A received RED payload, split into its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocks<'a> {
    /// Redundant blocks, oldest first, with their timestamp offsets.
    pub redundant: Vec<(u16, &'a [u8])>,
    /// The primary (newest) block.
    pub primary: &'a [u8],
}

/// Splits a RED payload; `None` when it is malformed (network input: never a panic).
pub fn decode(payload: &[u8]) -> Option<Blocks<'_>> {
    let mut headers = Vec::new();
    let mut at = 0;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let h = payload.get(at..at + 4)?;
        let offset = (u16::from(h[1]) << 6) | u16::from(h[2] >> 2);
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]) & 0x3ff);
        headers.push((offset, len));
        at += 4;
        if headers.len() > 16 {
            return None;
        }
    }
    let mut redundant = Vec::with_capacity(headers.len());
    for (offset, len) in headers {
        redundant.push((offset, payload.get(at..at + len)?));
        at += len;
    }
    Some(Blocks {
        redundant,
        primary: &payload[at..],
    })
}

/// The RED payload types an SDP maps (`a=rtpmap:PT red/...`).
pub fn payload_types(sdp: &str) -> Vec<u8> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=rtpmap:"))
        .filter_map(|rest| {
            let (pt, codec) = rest.split_once(' ')?;
            codec
                .to_ascii_lowercase()
                .starts_with("red/")
                .then(|| pt.parse().ok())
                .flatten()
        })
        .collect()
}

/// A RED packet as the plain packet of its primary block, with the sequence number and length
/// of each redundant block (block `i` of `n`, oldest first, repeats the packet `n - i` before:
/// a sender repeats its last frames in order). `None` when the payload is malformed.
pub fn split_packet(
    packet: &rtc::rtp::packet::Packet,
) -> Option<(rtc::rtp::packet::Packet, Vec<(u16, usize)>)> {
    let blocks = decode(&packet.payload)?;
    let n = blocks.redundant.len();
    let repairs = blocks
        .redundant
        .iter()
        .enumerate()
        .map(|(i, (_, block))| {
            let back = (n - i) as u16;
            (
                packet.header.sequence_number.wrapping_sub(back),
                block.len(),
            )
        })
        .collect();
    let start = packet.payload.len() - blocks.primary.len();
    let mut primary = packet.clone();
    primary.payload = packet.payload.slice(start..);
    Some((primary, repairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_with_its_previous_frame() {
        let p = encode(111, Some((b"older frame", 960)), b"newer");
        let b = decode(&p).unwrap();
        assert_eq!(b.redundant, vec![(960, &b"older frame"[..])]);
        assert_eq!(b.primary, b"newer");
        // The header layout of RFC 2198 §3: F=1, PT, 14-bit offset, 10-bit length; F=0, PT.
        assert_eq!(p[0], 0x80 | 111);
        assert_eq!(p[4], 111);
    }

    #[test]
    fn the_first_packet_has_the_primary_only() {
        let p = encode(111, None, b"first");
        assert_eq!(p, [&[111u8][..], b"first"].concat());
        let b = decode(&p).unwrap();
        assert!(b.redundant.is_empty());
        assert_eq!(b.primary, b"first");
    }

    #[test]
    fn a_previous_frame_too_long_for_a_block_is_left_out() {
        let big = vec![0u8; 1024];
        let p = encode(111, Some((&big, 960)), b"x");
        assert!(decode(&p).unwrap().redundant.is_empty());
    }

    #[test]
    fn malformed_payloads_are_none() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0x80 | 111, 0, 0]), None);
        let mut p = encode(111, Some((b"older frame", 960)), b"");
        p.truncate(8);
        assert_eq!(decode(&p), None);
        assert_eq!(decode(&[0x80, 0, 0, 0].repeat(20)), None);
    }

    #[test]
    fn a_packet_splits_into_its_primary_and_the_previous_sequence_number() {
        let mut packet = rtc::rtp::packet::Packet::default();
        packet.header.sequence_number = 0;
        packet.header.payload_type = RED_PT;
        packet.payload = encode(111, Some((b"older", 960)), b"newer").into();
        let (primary, repairs) = split_packet(&packet).unwrap();
        assert_eq!(&primary.payload[..], b"newer");
        assert_eq!(repairs, vec![(65_535, 5)]);
    }

    #[test]
    fn finds_red_payload_types_in_sdp() {
        let sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=rtpmap:111 opus/48000/2\r\n\
                   a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n";
        assert_eq!(payload_types(sdp), vec![63]);
        assert_eq!(payload_types("a=rtpmap:111 opus/48000/2"), Vec::<u8>::new());
    }
}
