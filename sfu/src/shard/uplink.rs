//! `Uplink`: the state and operations of a participant's publisher transport (DECISIONS.md
//! §10): it answers the client's offer, maps inbound streams and sends keyframe requests.
//!
//! The client offers send-only audio and video (video possibly as simulcast rids q/h/f); the
//! shard answers. Each incoming stream is mapped once to the core's `(PublicationId,
//! EncodingIdx)` and remembered by SSRC, because libwebrtc stops sending the MID/RID header
//! extensions once the stream is established (DECISIONS.md §2); str0m's `StreamRx` keeps the
//! mid/rid it learnt for an SSRC, so the first packet of each SSRC is enough.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{KeyframeRequestKind, MediaKind as RtcMediaKind, Mid, Rid, Rids};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::{Rtc, RtcError};

use super::codec::core_codec;
use super::command::AnnouncedTrack;
use crate::core::{
    AudioLevel, Codec, EncodingIdx, KeyframeKind, MediaKind, PublicationId, RtpHeader, RtpIn,
    StreamId, StreamRef, MAX_ENCODINGS,
};

/// One m-line the client publishes on, once its codec is known (first packet).
#[derive(Debug, Clone)]
pub(crate) struct Track {
    pub mid: Mid,
    pub publication: PublicationId,
    pub codec: Codec,
    /// The RFC 2198 RED payload type negotiated around `codec` (audio), if any.
    pub red_pt: Option<u8>,
    /// The rid of each encoding index (`None` for a single-layer track).
    pub rids: [Option<Rid>; MAX_ENCODINGS],
}

/// The publication encoding an inbound SSRC carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mapped {
    pub publication: PublicationId,
    pub encoding: EncodingIdx,
    pub codec: Codec,
    /// The track's RED payload type: a packet with it carries redundant audio.
    pub red_pt: Option<u8>,
}

/// What the shard must do with a packet whose SSRC the uplink has not seen yet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewStream {
    /// The stream's track exists: it is this encoding.
    Known(Mapped),
    /// The first packet of a new track: the shard creates the publication, then calls
    /// [`Uplink::bind_track`].
    NewTrack(TrackSpec),
}

/// A publication the shard should create for a new track.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackSpec {
    pub mid: Mid,
    pub stream: StreamRef,
    pub codec: Codec,
    /// The RED payload type negotiated around `codec`, if any.
    pub red_pt: Option<u8>,
    pub encodings: u8,
    /// This packet's encoding.
    pub encoding: EncodingIdx,
    pub ssrc: Ssrc,
}

/// Why an inbound packet could not be mapped to a publication encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unmapped {
    /// str0m has no stream or media for the SSRC (cannot happen for a packet it emitted,
    /// but network input never gets an `expect`).
    NoStream,
    /// The payload type is no codec the core forwards (PCMU, VP9, ...).
    UnsupportedCodec,
    /// A simulcast layer whose rid is neither q/h/f nor one of at most three declared rids.
    UnknownRid,
}

#[derive(Debug, Default)]
pub(crate) struct Uplink {
    tracks: FxHashMap<Mid, Track>,
    /// SSRC -> encoding, filled from the first packet of each SSRC.
    ssrcs: FxHashMap<Ssrc, Mapped>,
    /// The stream of each m-line as the client announced it (`publish_tracks`).
    announced: FxHashMap<Mid, StreamRef>,
    /// Unannounced screenshare tracks get `ss-1`, `ss-2`, ... in the order they appear.
    video_tracks: u32,
    audio_tracks: u32,
}

impl Uplink {
    /// The encoding of a known SSRC: one hash lookup per inbound packet, none per subscriber.
    pub(crate) fn encoding_of(&self, ssrc: Ssrc) -> Option<Mapped> {
        self.ssrcs.get(&ssrc).copied()
    }

    /// The stream of a track the client did not announce, by order of appearance.
    fn next_unannounced(&mut self, kind: MediaKind) -> StreamRef {
        match kind {
            MediaKind::Audio => {
                self.audio_tracks += 1;
                if self.audio_tracks == 1 {
                    StreamRef::CAMERA_AUDIO
                } else {
                    StreamRef {
                        stream: StreamId::Screenshare(self.audio_tracks - 1),
                        kind,
                    }
                }
            }
            MediaKind::Video => {
                self.video_tracks += 1;
                if self.video_tracks == 1 {
                    StreamRef::CAMERA_VIDEO
                } else {
                    StreamRef {
                        stream: StreamId::Screenshare(self.video_tracks - 1),
                        kind,
                    }
                }
            }
        }
    }

    /// Records the streams the client named for its m-lines. A later announcement for the
    /// same mid wins; tracks already carrying media keep their publication.
    fn announce(&mut self, tracks: Vec<AnnouncedTrack>) {
        for track in tracks {
            self.announced
                .insert(Mid::from(track.mid.as_str()), track.stream);
        }
    }

    /// Maps a packet from an SSRC seen for the first time, from str0m's view of the stream.
    pub(crate) fn classify(
        &mut self,
        rtc: &mut Rtc,
        pkt: &RtpPacket,
    ) -> Result<NewStream, Unmapped> {
        let ssrc = pkt.header.ssrc;
        let (mid, rid) = {
            let mut api = rtc.direct_api();
            let rx = api.stream_rx(&ssrc).ok_or(Unmapped::NoStream)?;
            (rx.mid(), rx.rid())
        };
        let media = rtc.media(mid).ok_or(Unmapped::NoStream)?;
        let declared: Vec<Rid> = match media.rids_rx() {
            Rids::Specific(rids) => rids.clone(),
            Rids::None | Rids::Any => Vec::new(),
        };
        let encoding = encoding_of_rid(rid, &declared).ok_or(Unmapped::UnknownRid)?;
        if let Some(track) = self.tracks.get(&mid) {
            let mapped = Mapped {
                publication: track.publication,
                encoding: EncodingIdx(encoding),
                codec: track.codec,
                red_pt: track.red_pt,
            };
            self.ssrcs.insert(ssrc, mapped);
            return Ok(NewStream::Known(mapped));
        }
        // A RED packet names its primary codec through the RED payload type (RFC 2198).
        let pt = pkt.header.payload_type;
        let params = rtc
            .codec_config()
            .find(|p| p.pt() == pt || p.red() == Some(pt))
            .ok_or(Unmapped::UnsupportedCodec)?;
        let codec = core_codec(params.spec().codec).ok_or(Unmapped::UnsupportedCodec)?;
        let red_pt = params.red().map(|p| *p);
        let kind = match media.kind() {
            RtcMediaKind::Audio => MediaKind::Audio,
            RtcMediaKind::Video => MediaKind::Video,
        };
        if codec.is_video() != (kind == MediaKind::Video) {
            return Err(Unmapped::UnsupportedCodec);
        }
        // The stream the client announced for this m-line; without one, the first audio and
        // the first video track are the camera stream (spec §3) and later ones screenshares
        // (for clients that publish without `publish_tracks`).
        let announced = self.announced.get(&mid).filter(|s| s.kind == kind).copied();
        let stream = announced.unwrap_or_else(|| self.next_unannounced(kind));
        let encodings = if declared.is_empty() || kind == MediaKind::Audio {
            1
        } else {
            declared
                .iter()
                .filter_map(|r| encoding_of_rid(Some(*r), &declared))
                .max()
                .map_or(1, |m| m + 1)
        };
        Ok(NewStream::NewTrack(TrackSpec {
            mid,
            stream,
            codec,
            red_pt,
            encodings,
            encoding: EncodingIdx(encoding),
            ssrc,
        }))
    }

    /// Records the publication created for a new track (and the SSRC that announced it).
    pub(crate) fn bind_track(&mut self, rtc: &Rtc, spec: &TrackSpec, publication: PublicationId) {
        let mut rids = [None; MAX_ENCODINGS];
        if let Some(Rids::Specific(declared)) = rtc.media(spec.mid).map(|m| m.rids_rx()) {
            for rid in declared {
                if let Some(e) = encoding_of_rid(Some(*rid), declared) {
                    rids[usize::from(e)] = Some(*rid);
                }
            }
        }
        self.tracks.insert(
            spec.mid,
            Track {
                mid: spec.mid,
                publication,
                codec: spec.codec,
                red_pt: spec.red_pt,
                rids,
            },
        );
        let mapped = Mapped {
            publication,
            encoding: spec.encoding,
            codec: spec.codec,
            red_pt: spec.red_pt,
        };
        self.ssrcs.insert(spec.ssrc, mapped);
    }

    /// Applies the client's offer (after recording the streams it announced for its m-lines)
    /// and returns the answer.
    pub(crate) fn accept_offer(
        &mut self,
        rtc: &mut Rtc,
        offer: SdpOffer,
        tracks: Vec<AnnouncedTrack>,
    ) -> Result<SdpAnswer, RtcError> {
        self.announce(tracks);
        rtc.sdp_api().accept_offer(offer)
    }

    /// Sends a PLI/FIR on the publisher's stream of one encoding. False when that stream has
    /// not been seen yet (nothing to ask).
    pub(crate) fn request_keyframe(
        &self,
        rtc: &mut Rtc,
        publication: PublicationId,
        encoding: EncodingIdx,
        kind: KeyframeKind,
    ) -> bool {
        let Some(track) = self.track_of(publication) else {
            return false;
        };
        let kind = match kind {
            KeyframeKind::Pli => KeyframeRequestKind::Pli,
            KeyframeKind::Fir => KeyframeRequestKind::Fir,
        };
        let rid = track.rids.get(usize::from(encoding.0)).copied().flatten();
        let mut api = rtc.direct_api();
        match api.stream_rx_by_mid(track.mid, rid) {
            Some(rx) => {
                rx.request_keyframe(kind);
                true
            }
            None => false,
        }
    }

    pub(crate) fn track_of(&self, publication: PublicationId) -> Option<&Track> {
        self.tracks.values().find(|t| t.publication == publication)
    }

    pub(crate) fn publications(&self) -> impl Iterator<Item = PublicationId> + '_ {
        self.tracks.values().map(|t| t.publication)
    }
}

/// Simulcast rids q/h/f are encodings 0/1/2 (what LiveKit and mediasoup clients send); other
/// rids take their position among the declared ones (listed low to high), at most three.
fn encoding_of_rid(rid: Option<Rid>, declared: &[Rid]) -> Option<u8> {
    let Some(rid) = rid else {
        // A single-layer track (no rid declared), or a simulcast SSRC str0m could not bind
        // to its rid yet.
        return declared.is_empty().then_some(0);
    };
    let fixed = match &*rid {
        "q" => Some(0),
        "h" => Some(1),
        "f" => Some(2),
        _ => None,
    };
    fixed
        .or_else(|| declared.iter().position(|r| *r == rid).map(|p| p as u8))
        .filter(|e| usize::from(*e) < MAX_ENCODINGS)
}

/// Builds the core's packet view from str0m's parsed header: no second header parse
/// (DECISIONS.md §2), and the payload `Arc` is shared, not copied.
pub(crate) fn rtp_in(
    pkt: &RtpPacket,
    codec: Codec,
    red_pt: Option<u8>,
) -> Result<RtpIn, crate::core::DropReason> {
    let h = &pkt.header;
    // RFC 6464: str0m reports the level as -dBov in an i8 (0 loudest, -127 silence).
    let audio_level = h.ext_vals.audio_level.map(|l| AudioLevel {
        voice_activity: h.ext_vals.voice_activity.unwrap_or(false),
        level: (-i16::from(l)).clamp(0, 127) as u8,
    });
    let header = RtpHeader {
        ssrc: *h.ssrc,
        sequence_number: h.sequence_number,
        timestamp: h.timestamp,
        marker: h.marker,
        payload_type: *h.payload_type,
        audio_level,
        red: red_pt == Some(*h.payload_type),
    };
    RtpIn::new(header, codec, Arc::clone(&pkt.payload))
}
