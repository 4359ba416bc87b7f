//! The pieces every sendonly transport of this client shares (the [`crate::Publisher`] and the
//! load tester's synthetic one): transceiver direction, waiting for the connection, the
//! negotiated payload type and header extension ids, and RTP headers that carry the MID (and
//! for simulcast the RID) extension, which webrtc-rs 0.21 does not add by itself.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::rtp;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::peer_connection::RTCPeerConnectionState;
use webrtc::rtp_transceiver::RtpSender;

use crate::client_error::ClientError;
use crate::peer::PeerSignals;

/// The MID header extension (RFC 8843).
pub const SDES_MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// The RID header extension (RFC 8852).
pub const SDES_RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// How long a publisher transport may take to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A sendonly transceiver with no streams or encodings of its own (the track brings them).
pub fn sendonly() -> Option<RTCRtpTransceiverInit> {
    Some(RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Sendonly,
        streams: vec![],
        send_encodings: vec![],
    })
}

/// Waits up to [`CONNECT_TIMEOUT`] for the transport to connect; a failed or closed transport
/// is an error at once.
pub async fn wait_connected(signals: &mut PeerSignals) -> Result<(), ClientError> {
    let connected = signals.state.wait_for(|s| {
        matches!(
            s,
            RTCPeerConnectionState::Connected
                | RTCPeerConnectionState::Failed
                | RTCPeerConnectionState::Closed
        )
    });
    let state = tokio::time::timeout(CONNECT_TIMEOUT, connected)
        .await
        .map_err(|_| ClientError::Timeout("transport connection"))?
        .map_err(|_| ClientError::WebRtc("peer connection dropped".into()))?;
    if *state == RTCPeerConnectionState::Connected {
        Ok(())
    } else {
        Err(ClientError::WebRtc(format!("transport {}", *state)))
    }
}

/// The negotiated payload type and header extension ids of one sender.
#[derive(Debug, Clone, Copy)]
pub struct HeaderIds {
    /// The payload type negotiated for the codec.
    pub payload_type: u8,
    /// The MID extension's id, when negotiated.
    pub mid: Option<u8>,
    /// The RID extension's id, when negotiated.
    pub rid: Option<u8>,
}

impl HeaderIds {
    /// Reads them from `sender`'s negotiated parameters for the codec `mime`.
    pub async fn of(sender: &Arc<dyn RtpSender>, mime: &str) -> Result<HeaderIds, ClientError> {
        let params = sender.get_parameters().await?;
        let payload_type = params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map(|c| c.payload_type)
            .ok_or_else(|| ClientError::WebRtc(format!("{mime} was not negotiated")))?;
        let id_of = |uri: &str| {
            params
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == uri)
                .map(|e| e.id as u8)
        };
        Ok(HeaderIds {
            payload_type,
            mid: id_of(SDES_MID_URI),
            rid: id_of(SDES_RID_URI),
        })
    }
}

/// An RTP header with the MID (and, when `rid` is not empty, the RID) extension.
pub fn header(
    ids: HeaderIds,
    mid: &str,
    rid: &str,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
) -> rtp::header::Header {
    let mut header = rtp::header::Header {
        version: 2,
        marker,
        payload_type: ids.payload_type,
        sequence_number: seq,
        timestamp: ts,
        ssrc,
        ..Default::default()
    };
    if let Some(id) = ids.mid {
        let _ = header.set_extension(id, Bytes::copy_from_slice(mid.as_bytes()));
    }
    if let (Some(id), false) = (ids.rid, rid.is_empty()) {
        let _ = header.set_extension(id, Bytes::copy_from_slice(rid.as_bytes()));
    }
    header
}
