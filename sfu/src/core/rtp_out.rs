//! `RtpOut`: one forwarded packet, as the core decided it (STYLE.md rule 4): the rewritten
//! header fields and the shared payload, plus the VP8 descriptor patch the shell applies while
//! it copies the payload into the transport's buffer.

use std::sync::Arc;

use super::rtp_in::AudioLevel;
use super::vp8::{Vp8Descriptor, Vp8Patch};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpOut {
    /// The subscription's own SSRC, stable across layer switches.
    pub ssrc: u32,
    /// Extended (64-bit) output sequence number; cut to 16 bits when the header is written.
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub audio_level: Option<AudioLevel>,
    /// The payload is RFC 2198 RED (see `RtpHeader::red`).
    pub red: bool,
    /// The publisher's payload, shared by every subscription (a reference count, no copy).
    pub payload: Arc<[u8]>,
    /// Present when the VP8 descriptor must be rewritten for this subscriber.
    pub vp8_patch: Option<(Vp8Descriptor, Vp8Patch)>,
}

impl RtpOut {
    /// The 16-bit sequence number for the RTP header.
    pub fn seq_u16(&self) -> u16 {
        self.seq as u16
    }

    /// Appends the payload to `out` with the VP8 patch applied. The shell calls this with the
    /// buffer it hands to the transport, so patching costs no extra copy or allocation.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.payload);
        if let Some((desc, patch)) = &self.vp8_patch {
            patch.apply(desc, &mut out[start..]);
        }
    }
}
