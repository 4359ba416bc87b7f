//! `Downlink`: the shell side of a participant's subscriber transport (DECISIONS.md §10).
//!
//! The server offers one send-only m-line per subscription; the client answers. After the
//! answer str0m has a `StreamTx` per m-line, whose SSRC becomes the subscription's SSRC in the
//! core. Each forwarded packet is handed to that stream with the core's rewritten sequence
//! number and timestamp; the VP8 descriptor patch is applied by str0m while it serialises the
//! packet, so the publisher's payload `Arc` is shared by every subscriber with no copy.

use std::time::Instant;

use rustc_hash::FxHashMap;
use slotmap::SecondaryMap;
use str0m::change::SdpPendingOffer;
use str0m::media::{Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo, Ssrc, Vp8Descriptor as RtcVp8Descriptor};

use crate::core::{DownlinkId, PublicationId, RtpOut, SubscriptionId};

/// One subscription's outgoing stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutTrack {
    pub mid: Mid,
    pub ssrc: Ssrc,
    /// The payload type the client accepted for the publication's codec on this m-line.
    pub pt: Pt,
    /// Video packets are kept in str0m's RTX cache so the subscriber's NACKs are answered.
    pub nackable: bool,
    /// The core's extended sequence numbers start one 16-bit cycle up (room for reordering
    /// before the first packet); str0m derives the SRTP rollover counter from the extended
    /// value, and a fresh receiver assumes ROC 0 (RFC 3711 §3.3.1). So each stream is rebased
    /// to the cycle of its first packet: the low 16 bits on the wire are unchanged.
    pub seq_base: Option<u64>,
    /// Packets the shard wrote to the stream (str0m's count of sent packets minus this is
    /// its resends, for the retransmission metric).
    pub written: u64,
}

/// An offer sent to the client and not answered yet.
#[derive(Debug)]
pub(crate) struct PendingOffer {
    pub pending: SdpPendingOffer,
    /// The m-lines the offer adds, and the publication each will carry.
    pub added: Vec<(Mid, PublicationId)>,
}

#[derive(Debug)]
pub(crate) struct Downlink {
    pub id: DownlinkId,
    /// Indexed by slab key: the packet path finds a subscription's stream with no hashing.
    pub out: SecondaryMap<SubscriptionId, OutTrack>,
    /// For the subscriber's PLI/FIR, which names the m-line.
    pub by_mid: FxHashMap<Mid, SubscriptionId>,
    pub pending: Option<PendingOffer>,
    /// m-lines whose subscription ended (its publication went away) and that the next offer
    /// stops.
    pub stale: Vec<Mid>,
    /// Whether the transport's data channel (the m-line that is never stopped) was offered.
    pub keepalive: bool,
    /// When the participant joined the shard, until the first media packet is forwarded on
    /// this transport once it is connected (the join latency metric).
    pub awaiting_first_media: Option<Instant>,
}

impl Downlink {
    pub fn new(id: DownlinkId, joined_at: Instant) -> Downlink {
        Downlink {
            id,
            out: SecondaryMap::new(),
            by_mid: FxHashMap::default(),
            pending: None,
            stale: Vec::new(),
            keepalive: false,
            awaiting_first_media: Some(joined_at),
        }
    }

    pub fn remove(&mut self, subscription: SubscriptionId) -> Option<OutTrack> {
        let t = self.out.remove(subscription)?;
        self.by_mid.remove(&t.mid);
        Some(t)
    }
}

/// The parsed VP8 descriptor of the packet being fanned out, in str0m's form (its patch
/// builder needs str0m's own parse, whose field offsets are private). Parsed once per inbound
/// packet and reused for every subscriber whose forward needs a patch.
#[derive(Debug, Default)]
pub(crate) struct Vp8PatchCache {
    payload: Option<std::sync::Arc<[u8]>>,
    desc: Option<RtcVp8Descriptor>,
}

impl Vp8PatchCache {
    pub fn clear(&mut self) {
        self.payload = None;
        self.desc = None;
    }

    fn descriptor(&mut self, pkt: &RtpOut) -> Option<RtcVp8Descriptor> {
        let same = self
            .payload
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p, &pkt.payload));
        if !same {
            self.payload = Some(std::sync::Arc::clone(&pkt.payload));
            self.desc = RtcVp8Descriptor::parse(&pkt.payload).ok();
        }
        self.desc
    }
}

/// Why a forward was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// A sequence number before the stream's first (the core never emits one; guarded
    /// rather than wrapped).
    SeqBeforeStart,
    /// str0m could not build the VP8 patch the core asked for (the core parsed a descriptor
    /// str0m rejects): the packet is dropped rather than sent with a broken picture id.
    Vp8Patch,
}

/// The str0m write command for one forwarded packet.
pub(crate) fn rtp_write(
    track: &mut OutTrack,
    pkt: &RtpOut,
    wallclock: Instant,
    cache: &mut Vp8PatchCache,
) -> Result<RtpWrite, WriteError> {
    let mut ext_vals = ExtensionValues::default();
    if let Some(level) = pkt.audio_level {
        ext_vals.audio_level = Some(-(level.level.min(127) as i8));
        ext_vals.voice_activity = Some(level.voice_activity);
    }
    let base = *track.seq_base.get_or_insert(pkt.seq & !0xffff);
    let seq = pkt
        .seq
        .checked_sub(base)
        .ok_or(WriteError::SeqBeforeStart)?;
    let mut write = RtpWrite::new(
        track.pt,
        SeqNo::from(seq),
        pkt.timestamp,
        wallclock,
        std::sync::Arc::clone(&pkt.payload),
    )
    .marker(pkt.marker)
    .nackable(track.nackable)
    .ext_vals(ext_vals);
    if let Some((desc, patch)) = &pkt.vp8_patch {
        if !patch.is_identity(desc) {
            let rtc_desc = cache.descriptor(pkt).ok_or(WriteError::Vp8Patch)?;
            let mut builder = rtc_desc.patch();
            // The core's patch writes a field only where the descriptor has it, cut to the
            // width on the wire (RFC 7741 §4.2); str0m's builder rejects anything else, so
            // mirror that here.
            if let (Some(pid), Some(old)) = (patch.picture_id, desc.picture_id) {
                builder = builder.picture_id(if old.long { pid & 0x7fff } else { pid & 0x7f });
            }
            if let (Some(tl0), Some(_)) = (patch.tl0_pic_idx, desc.tl0_pic_idx) {
                builder = builder.tl0_pic_idx(tl0);
            }
            if let (Some(k), Some(_)) = (patch.key_idx, desc.key_idx) {
                builder = builder.key_idx(k & 0x1f);
            }
            write = write.vp8_patch(builder.build().map_err(|_| WriteError::Vp8Patch)?);
        }
    }
    Ok(write)
}
