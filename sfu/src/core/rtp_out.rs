//! `RtpOut`: one forwarded packet, as the core decided it (STYLE.md rule 4): the rewritten
//! header fields and the shared payload, plus the VP8 descriptor bytes str0m writes while it
//! copies the payload into the packet it encrypts.

use std::sync::Arc;

use super::red::RedPayload;
use super::rtp_in::AudioLevel;
use super::vp8::Vp8Edits;

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
    /// The payload is RFC 2198 RED (see `RtpHeader::red`): its structure and primary block,
    /// shared with every other forward of the packet.
    pub red: Option<RedPayload>,
    /// The publisher's payload, shared by every subscription (a reference count, no copy).
    pub payload: Arc<[u8]>,
    /// The VP8 descriptor bytes rewritten for this subscriber; empty when none change.
    pub vp8_edits: Vp8Edits,
}

impl RtpOut {
    /// The 16-bit sequence number for the RTP header.
    pub fn seq_u16(&self) -> u16 {
        self.seq as u16
    }

    /// Appends the payload as a subscriber receives it (the VP8 edits applied) to `out`: what
    /// str0m's send path writes from the same edits, for tests, fuzzing and benches.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.payload);
        self.vp8_edits.apply(&mut out[start..]);
    }
}
