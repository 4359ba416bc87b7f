//! `Downlink`: the state and operations of a participant's subscriber transport (DECISIONS.md
//! §10): it creates offers, applies answers, writes forwards and sets its estimator's target.
//!
//! The server offers one send-only m-line per subscription; the client answers. After the
//! answer str0m has a `StreamTx` per m-line, whose SSRC becomes the subscription's SSRC in the
//! core. Each forwarded packet is handed to that stream with the core's rewritten sequence
//! number and timestamp; the VP8 descriptor patch is applied by str0m while it serialises the
//! packet, so the publisher's payload `Arc` is shared by every subscriber with no copy.

use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;
use slotmap::SecondaryMap;
use str0m::bwe::Bitrate as RtcBitrate;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind as RtcMediaKind, Mid, Pt};
use str0m::rtp::{Extension, ExtensionValues, RtpWrite, SeqNo, Ssrc, Vp8Patch as RtcVp8Patch};
use str0m::Rtc;

use super::codec::core_codec;
use super::error::ShardError;
use crate::core::red;
use crate::core::{
    Bitrate, Codec, DownlinkId, MediaKind, ParticipantId, PublicationId, RtpOut, StreamRef,
    SubscriptionId,
};

/// How far above a downlink's demand its bandwidth estimator probes: enough headroom for the
/// allocator to raise a layer (DECISIONS.md §9) without probing for bandwidth nobody asked for.
const DEMAND_HEADROOM_PCT: u64 = 25;

/// The estimate a downlink without TWCC feedback starts from (`open_pacer_without_twcc`): far
/// above any stream the core forwards, so the pacer never holds media back.
const UNPACED_ESTIMATE: RtcBitrate = RtcBitrate::mbps(1_000);

/// One subscription's outgoing stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutTrack {
    pub mid: Mid,
    pub ssrc: Ssrc,
    /// The payload type the client accepted for the publication's codec on this m-line.
    pub pt: Pt,
    /// The RFC 2198 RED payload type the client accepted around `pt` (audio), if any: a
    /// publisher's RED packets go out with it as they are; without it, only their primary block.
    pub red_pt: Option<Pt>,
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

/// A forward handed to its subscription's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    /// The join instant of a subscriber whose connected transport got its first media
    /// packet with this forward (the join latency metric).
    pub first_media: Option<Instant>,
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
    out: SecondaryMap<SubscriptionId, OutTrack>,
    /// For the subscriber's PLI/FIR, which names the m-line.
    by_mid: FxHashMap<Mid, SubscriptionId>,
    pending: Option<PendingOffer>,
    /// m-lines whose subscription ended (its publication went away) and that the next offer
    /// stops.
    stale: Vec<Mid>,
    /// Whether the transport's data channel (the m-line that is never stopped) was offered.
    keepalive: bool,
    /// Whether an answer showed that the client sends no TWCC feedback, and the pacer was
    /// opened for it (`accept_answer`).
    unpaced: bool,
    /// When the participant joined the shard, until the first media packet is forwarded on
    /// this transport once it is connected (the join latency metric).
    awaiting_first_media: Option<Instant>,
}

impl Downlink {
    pub(crate) fn new(id: DownlinkId, joined_at: Instant) -> Downlink {
        Downlink {
            id,
            out: SecondaryMap::new(),
            by_mid: FxHashMap::default(),
            pending: None,
            stale: Vec::new(),
            keepalive: false,
            unpaced: false,
            awaiting_first_media: Some(joined_at),
        }
    }

    /// The subscriptions written to this transport.
    pub(crate) fn subscriptions(&self) -> impl Iterator<Item = SubscriptionId> + '_ {
        self.out.keys()
    }

    fn remove(&mut self, subscription: SubscriptionId) -> Option<OutTrack> {
        let t = self.out.remove(subscription)?;
        self.by_mid.remove(&t.mid);
        Some(t)
    }

    /// Whether an offer awaits the client's answer (one renegotiation at a time).
    pub(crate) fn offer_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether `subscription` is written to this transport.
    pub(crate) fn carries(&self, subscription: SubscriptionId) -> bool {
        self.out.contains_key(subscription)
    }

    /// The subscription an m-line carries (a subscriber's PLI/FIR names the m-line).
    pub(crate) fn subscription_at(&self, mid: Mid) -> Option<SubscriptionId> {
        self.by_mid.get(&mid).copied()
    }

    /// How many packets the shard wrote to the stream of an m-line (`None` when the m-line
    /// carries no subscription now).
    pub(crate) fn written(&self, mid: Mid) -> Option<u64> {
        let sid = self.by_mid.get(&mid)?;
        Some(self.out.get(*sid)?.written)
    }

    /// Ends a subscription whose publication went away: the next offer stops its m-line.
    pub(crate) fn end(&mut self, subscription: SubscriptionId) {
        if let Some(t) = self.remove(subscription) {
            self.stale.push(t.mid);
        }
    }

    /// Creates the next subscriber offer: stops the m-lines of `remove` and of ended
    /// subscriptions, and adds a send-only m-line for each publication in `add` (with its
    /// publisher and stream, for the msid). Returns the offer's SDP, or `None` when nothing
    /// changed.
    pub(crate) fn create_offer(
        &mut self,
        rtc: &mut Rtc,
        remove: &[SubscriptionId],
        add: &[(PublicationId, ParticipantId, StreamRef)],
    ) -> Option<String> {
        for &sid in remove {
            self.end(sid);
        }
        let mut api = rtc.sdp_api();
        if !self.keepalive {
            // A data channel keeps one m-line open for the life of the transport: when
            // every media m-line is stopped (the subscriber alone in a breakout session,
            // its last publisher gone), an empty BUNDLE group would end the transport in
            // browsers (JSEP), and no later offer could add media without a new ICE and
            // DTLS handshake.
            api.add_channel("sfu".to_owned());
            self.keepalive = true;
        }
        for mid in self.stale.drain(..) {
            api.stop_media(mid);
        }
        let mut added = Vec::with_capacity(add.len());
        for &(publication, publisher, stream) in add {
            let kind = match stream.kind {
                MediaKind::Audio => RtcMediaKind::Audio,
                MediaKind::Video => RtcMediaKind::Video,
            };
            // msid: the publisher's stream groups its audio and video for lip sync; the
            // same ids travel in `subscriptions_changed` (PROTOCOL.md §4.8).
            let participant = signalling_proto::ParticipantId(publisher.to_string());
            let stream_name = signalling_proto::StreamId(stream.stream.to_string());
            let proto_kind = match stream.kind {
                MediaKind::Audio => signalling_proto::MediaKind::Audio,
                MediaKind::Video => signalling_proto::MediaKind::Video,
            };
            let stream_id = signalling_proto::msid_stream_id(&participant, &stream_name);
            let track_id = signalling_proto::msid_track_id(&participant, &stream_name, proto_kind);
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(stream_id),
                Some(track_id),
                None,
            );
            added.push((mid, publication));
        }
        let (offer, pending) = api.apply()?;
        self.pending = Some(PendingOffer { pending, added });
        Some(offer.to_sdp_string())
    }

    /// Applies the client's answer to the pending offer. Returns the stream of each m-line it
    /// accepted, with its publication; an m-line the client rejected (no send stream or no
    /// matching codec), or whose publication has gone (`codec_of` knows none), is stopped by
    /// the next offer.
    pub(crate) fn accept_answer(
        &mut self,
        rtc: &mut Rtc,
        answer: SdpAnswer,
        codec_of: impl Fn(PublicationId) -> Option<Codec>,
    ) -> Result<Vec<(PublicationId, OutTrack)>, ShardError> {
        let pending = self.pending.take().ok_or(ShardError::NoOfferPending)?;
        rtc.sdp_api()
            .accept_answer(pending.pending, answer)
            .map_err(|e| ShardError::BadSdp(e.to_string()))?;
        self.open_pacer_without_twcc(rtc, &pending.added);
        let mut streams = Vec::with_capacity(pending.added.len());
        for (mid, publication) in pending.added {
            let Some(codec) = codec_of(publication) else {
                self.stale.push(mid);
                continue;
            };
            match out_track(rtc, mid, codec) {
                Some(track) => streams.push((publication, track)),
                None => self.stale.push(mid),
            }
        }
        Ok(streams)
    }

    /// A client whose answer takes no transport-wide sequence numbers sends no TWCC feedback,
    /// so str0m's estimate of its downlink never moves from the first one, and its pacer,
    /// paced to that estimate, would queue a stream sent above it for good (issue 13 goal 1:
    /// a subscriber without feedback got 78-86 % of a 1.5 Mbit/s camera, its latency growing
    /// without end). Such a downlink is not paced by the estimate: the estimator starts again
    /// from a rate no camera reaches, as forwarded media goes unpaced in other SFUs. Its
    /// layers still follow REMB where the client sends it, and loss (`core::congestion`).
    fn open_pacer_without_twcc(&mut self, rtc: &mut Rtc, answered: &[(Mid, PublicationId)]) {
        if self.unpaced || answered.is_empty() {
            return;
        }
        let twcc = answered.iter().any(|(mid, _)| {
            rtc.media(*mid).is_some_and(|m| {
                m.remote_extmap()
                    .id_of(Extension::TransportSequenceNumber)
                    .is_some()
            })
        });
        if !twcc {
            rtc.bwe().reset(UNPACED_ESTIMATE);
            self.unpaced = true;
        }
    }

    /// Starts writing `subscription` to the stream of an answered m-line.
    pub(crate) fn add_subscription(&mut self, subscription: SubscriptionId, track: OutTrack) {
        self.out.insert(subscription, track);
        self.by_mid.insert(track.mid, subscription);
    }

    /// Hands one forwarded packet to its subscription's stream (str0m encrypts, paces and
    /// sends it). `None` when it was not written: the subscription has no stream here, or
    /// the write could not be built. `connected` is whether the transport finished ICE and
    /// DTLS (only then does a first packet end the join latency).
    pub(crate) fn write(
        &mut self,
        rtc: &mut Rtc,
        subscription: SubscriptionId,
        pkt: &RtpOut,
        now: Instant,
        connected: bool,
    ) -> Option<Written> {
        let track = self.out.get_mut(subscription)?;
        let ssrc = track.ssrc;
        let write = rtp_write(track, pkt, now).ok()?;
        let mut api = rtc.direct_api();
        let tx = api.stream_tx(&ssrc)?;
        tx.write_rtp(write);
        track.written += 1;
        let first_media = if connected {
            self.awaiting_first_media.take()
        } else {
            None
        };
        Some(Written { first_media })
    }

    /// Lets the bandwidth estimator probe up to `demand` (what the core's allocator would send
    /// this downlink with no limit) plus headroom.
    pub(crate) fn set_demand(&self, rtc: &mut Rtc, demand: Bitrate) {
        let desired = RtcBitrate::bps(demand.0.saturating_mul(100 + DEMAND_HEADROOM_PCT) / 100);
        // No minimum: str0m pads a transport up to its minimum, and media below the demand
        // needs no padding, only probes towards it.
        rtc.bwe().set_bitrate(RtcBitrate::ZERO, desired);
    }
}

/// Why a forward was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// A sequence number before the stream's first (the core never emits one; guarded
    /// rather than wrapped).
    SeqBeforeStart,
    /// str0m refused the core's VP8 descriptor edits (never for edits the core computed: at
    /// most four, at descriptor offsets): the packet is dropped rather than sent with a broken
    /// picture id.
    Vp8Patch,
    /// A RED payload whose blocks could not be read (or name two codecs): the packet is
    /// dropped rather than forwarded as something the subscriber cannot decode.
    MalformedRed,
}

/// The payload type and payload of a forward on `track`: a RED packet as it came (its blocks
/// naming the subscriber's payload type) where the subscriber negotiated RED, its primary
/// block otherwise; anything else unchanged.
fn payload_for(track: &OutTrack, pkt: &RtpOut) -> Result<(Pt, Arc<[u8]>), WriteError> {
    if !pkt.red {
        return Ok((track.pt, Arc::clone(&pkt.payload)));
    }
    let layout = red::layout(&pkt.payload).ok_or(WriteError::MalformedRed)?;
    let block_pt = red::block_pt(&pkt.payload, &layout).ok_or(WriteError::MalformedRed)?;
    match track.red_pt {
        Some(red_pt) if block_pt == *track.pt => Ok((red_pt, Arc::clone(&pkt.payload))),
        Some(red_pt) => Ok((
            red_pt,
            Arc::from(red::with_block_pt(&pkt.payload, &layout, *track.pt)),
        )),
        None => Ok((track.pt, Arc::from(&pkt.payload[layout.primary]))),
    }
}

/// The str0m write command for one forwarded packet.
pub(crate) fn rtp_write(
    track: &mut OutTrack,
    pkt: &RtpOut,
    wallclock: Instant,
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
    let (pt, payload) = payload_for(track, pkt)?;
    let mut write = RtpWrite::new(pt, SeqNo::from(seq), pkt.timestamp, wallclock, payload)
        .marker(pkt.marker)
        .nackable(track.nackable)
        .ext_vals(ext_vals);
    if !pkt.vp8_edits.is_empty() {
        // The core computed the bytes (`core::vp8::Vp8Patch::edits`, the rewrite its tests and
        // benches exercise); str0m writes them while it copies the payload to encrypt it.
        let patch =
            RtcVp8Patch::from_bytes(pkt.vp8_edits.iter()).map_err(|_| WriteError::Vp8Patch)?;
        write = write.vp8_patch(patch);
    }
    Ok(write)
}

/// The send stream and payload type of an answered m-line.
fn out_track(rtc: &mut Rtc, mid: Mid, codec: Codec) -> Option<OutTrack> {
    let remote_pts: Vec<Pt> = rtc.media(mid)?.remote_pts().to_vec();
    let params = rtc
        .codec_config()
        .find(|p| remote_pts.contains(&p.pt()) && core_codec(p.spec().codec) == Some(codec))?;
    let (pt, red_pt) = (params.pt(), params.red());
    let ssrc: Ssrc = rtc.direct_api().stream_tx_by_mid(mid, None)?.ssrc();
    Some(OutTrack {
        mid,
        ssrc,
        pt,
        red_pt,
        nackable: codec.is_video(),
        seq_base: None,
        written: 0,
    })
}
