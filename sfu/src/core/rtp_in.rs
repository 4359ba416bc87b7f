//! `RtpIn`: our own view of one inbound RTP packet, built once per packet before fan-out.
//!
//! str0m has already parsed and decrypted the RTP header (DECISIONS.md §1-§2); the shell copies
//! the few header fields we use into [`RtpHeader`] and [`RtpIn::new`] parses only the codec
//! payload (VP8 descriptor, H264 keyframe) so each subscription's forwarder reads plain fields.

use std::sync::Arc;

use super::drop_reason::DropReason;
use super::h264;
use super::red::RedPayload;
use super::vp8::Vp8Descriptor;

/// The codec of a publication, which decides how its payload is parsed and rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    Vp8,
    H264,
}

impl Codec {
    /// RTP clock rate (RFC 7587 §4.1 for Opus, RFC 7741 §4.1 / RFC 6184 §8.2.1 for video).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            Codec::Vp8 | Codec::H264 => 90_000,
        }
    }

    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus)
    }
}

/// RFC 6464 client-to-mixer audio level: `level` is -dBov (0 loudest, 127 silence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioLevel {
    pub voice_activity: bool,
    pub level: u8,
}

/// The RTP header fields the core uses, as the transport parsed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub ssrc: u32,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub audio_level: Option<AudioLevel>,
    /// The payload is RFC 2198 redundant audio around the publication's codec ([`super::red`]):
    /// the downlink forwards it as is where the subscriber negotiated RED, its primary block
    /// elsewhere.
    pub red: bool,
}

/// What the codec payload says, parsed once per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadInfo {
    Audio,
    Vp8(Vp8Descriptor),
    H264 {
        keyframe: bool,
        start_of_frame: bool,
    },
}

/// One inbound RTP packet as the forwarding core sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpIn {
    pub header: RtpHeader,
    pub info: PayloadInfo,
    /// The RTP payload (after the header and extensions), shared by every forward. The
    /// type is str0m's, so the shell passes the transport's buffer through with no copy.
    pub payload: Arc<[u8]>,
    /// The RED block structure and primary block, read once here when `header.red`.
    pub red: Option<RedPayload>,
}

impl RtpIn {
    /// Parses the codec payload. A payload the codec cannot be read from is dropped with a
    /// named reason, never a panic: it came from the network.
    pub fn new(header: RtpHeader, codec: Codec, payload: Arc<[u8]>) -> Result<RtpIn, DropReason> {
        let info = match codec {
            Codec::Opus => PayloadInfo::Audio,
            Codec::Vp8 => PayloadInfo::Vp8(
                Vp8Descriptor::parse(&payload).ok_or(DropReason::MalformedPayload)?,
            ),
            Codec::H264 => {
                let frame = h264::inspect(&payload).ok_or(DropReason::MalformedPayload)?;
                PayloadInfo::H264 {
                    keyframe: frame.keyframe,
                    start_of_frame: frame.start_of_frame,
                }
            }
        };
        let red = match header.red {
            true => Some(RedPayload::parse(&payload).ok_or(DropReason::MalformedPayload)?),
            false => None,
        };
        Ok(RtpIn {
            header,
            info,
            payload,
            red,
        })
    }

    /// True when this packet carries (part of) a frame a decoder can start from.
    pub fn is_keyframe(&self) -> bool {
        match &self.info {
            PayloadInfo::Audio => false,
            PayloadInfo::Vp8(d) => d.keyframe,
            PayloadInfo::H264 { keyframe, .. } => *keyframe,
        }
    }

    /// True when this packet begins a new frame (the only place a forwarder may change what
    /// it forwards without cutting a frame in two).
    pub fn starts_frame(&self) -> bool {
        match &self.info {
            PayloadInfo::Audio => true,
            PayloadInfo::Vp8(d) => d.start_of_partition && d.partition_index == 0,
            PayloadInfo::H264 { start_of_frame, .. } => *start_of_frame,
        }
    }

    /// The VP8 temporal layer id, 0 when the codec has none.
    pub fn temporal_id(&self) -> u8 {
        match &self.info {
            PayloadInfo::Vp8(d) => d.tid.unwrap_or(0),
            _ => 0,
        }
    }
}
