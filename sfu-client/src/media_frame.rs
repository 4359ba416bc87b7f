//! What the receive side hands out: one [`MediaFrame`] per Opus packet or reassembled VP8
//! frame, tagged with who sent it on which stream.

use std::time::Instant;

use bytes::Bytes;
use signalling_proto::{MediaKind, ParticipantId, StreamId};
use tokio::sync::mpsc;

/// One received audio packet or video frame.
///
/// Audio: one Opus packet as the sender packetised it (RFC 7587: one RTP packet, one Opus
/// packet). Video: one whole VP8 frame with the RTP payload descriptors removed (RFC 7741),
/// ready for a decoder or a muxer (IVF, WebM). A frame that lost a packet is not delivered; the
/// next keyframe restores the stream.
#[derive(Debug, Clone)]
pub struct MediaFrame {
    /// The participant whose stream this is (from the stream's msid, PROTOCOL.md §4.8).
    pub participant_id: ParticipantId,
    /// `camera` (camera and microphone) or `ss-<n>` (a screenshare).
    pub stream_id: StreamId,
    /// Audio (Opus) or video (VP8).
    pub kind: MediaKind,
    /// The RTP timestamp (48 kHz for Opus, 90 kHz for VP8) as received. The SFU keeps it
    /// continuous across simulcast layer switches, so a recorder can align frames with it.
    pub rtp_timestamp: u32,
    /// The RTP sequence number of the frame's first packet.
    pub sequence_number: u16,
    /// The receive SSRC; a new one means the SFU opened a new receive stream (a resubscription
    /// after a breakout move, for example).
    pub ssrc: u32,
    /// Video: the frame is a VP8 keyframe (a decoder or a new file can start here). Audio:
    /// always false.
    pub keyframe: bool,
    /// The Opus packet or VP8 frame.
    pub data: Bytes,
    /// When its last packet arrived.
    pub received_at: Instant,
}

/// The frames of every stream the client receives, in arrival order per stream.
pub type FrameStream = mpsc::UnboundedReceiver<MediaFrame>;
