//! The per-subscription `Forwarder`: decides for each packet of its publication whether to
//! forward it and with which header (LiveKit `Forwarder`, mediasoup `SimulcastConsumer`).
//!
//! Pipeline (ARCHITECTURE.md §3): pause gate, spatial layer (switch only on a keyframe of the
//! target encoding), temporal filter (VP8 TID), rewrite (SSRC, extended sequence number and
//! timestamp, VP8 picture id / TL0PICIDX / KEYIDX), duplicate and reorder handling. The policy
//! gate is applied before, by the routing table: a subscription not allowed by the installed
//! policy is never offered a packet.

use std::time::Instant;

use super::drop_reason::DropReason;
use super::id::{Layer, MediaKind};
use super::rtp_in::{Codec, PayloadInfo, RtpIn};
use super::rtp_out::RtpOut;
use super::seq_rewriter::{Extender, SeqError, SeqRewriter};
use super::ts_rewriter::TsRewriter;
use super::vp8::Vp8Edits;
use super::vp8_rewriter::Vp8Rewriter;

/// A forwarded packet and, if this packet completed a switch, the layer now forwarded. A
/// switch is any change of `current`: a new encoding (on its keyframe), or a temporal layer
/// dropped or added at a frame boundary (issue 13, goal 6: subscribers hear frame-rate
/// changes too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    pub pkt: RtpOut,
    pub switched_to: Option<Layer>,
}

#[derive(Clone, Debug)]
pub struct Forwarder {
    codec: Codec,
    ssrc: u32,
    /// The highest layer the subscriber asked for; `None`: paused by the subscriber.
    requested: Option<Layer>,
    /// What the allocator grants now; `None`: paused (nothing fits, or requested paused).
    target: Option<Layer>,
    /// What is being forwarded; `None`: not started, needs a keyframe of the target.
    current: Option<Layer>,
    /// `current` changed its temporal layer since the last packet forwarded, which will report
    /// it.
    unreported: bool,
    seq_in: Extender<16>,
    seq: SeqRewriter<16>,
    ts: TsRewriter,
    vp8: Vp8Rewriter,
}

impl Forwarder {
    /// A forwarder for a subscription with output SSRC `ssrc`, requesting the highest layer.
    pub fn new(codec: Codec, ssrc: u32) -> Forwarder {
        Forwarder {
            codec,
            ssrc,
            requested: Some(Layer::HIGHEST),
            target: None,
            current: None,
            unreported: false,
            seq_in: Extender::new(),
            seq: SeqRewriter::new(),
            ts: TsRewriter::new(codec.clock_rate()),
            vp8: Vp8Rewriter::new(),
        }
    }

    pub fn kind(&self) -> MediaKind {
        if self.codec.is_video() {
            MediaKind::Video
        } else {
            MediaKind::Audio
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn requested(&self) -> Option<Layer> {
        self.requested
    }

    pub fn target(&self) -> Option<Layer> {
        self.target
    }

    pub fn current(&self) -> Option<Layer> {
        self.current
    }

    pub fn set_requested(&mut self, requested: Option<Layer>) {
        self.requested = requested;
    }

    /// Sets what may be forwarded. Pausing stops at once; a new spatial layer is switched to
    /// when its keyframe arrives (until then the current one keeps flowing).
    pub fn set_target(&mut self, target: Option<Layer>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    /// Stops forwarding (the subscription left the routing table): the next packet forwarded
    /// must be a keyframe, and sequence numbers continue from the last one sent.
    pub fn stop(&mut self) {
        self.current = None;
    }

    /// The encoding whose keyframe this forwarder is waiting for, if any.
    pub fn awaited_keyframe(&self) -> Option<u8> {
        let target = self.target?;
        if !self.codec.is_video() {
            return None;
        }
        match self.current {
            Some(c) if c.spatial == target.spatial => None,
            _ => Some(target.spatial),
        }
    }

    /// The encoding this subscriber's decoder depends on now (where its PLI should go).
    pub fn receiving_encoding(&self) -> Option<u8> {
        self.current.or(self.target).map(|l| l.spatial)
    }

    /// Decides what to do with one packet of encoding `encoding` of the publication.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        encoding: u8,
        pkt: &RtpIn,
    ) -> Result<Forwarded, DropReason> {
        let Some(target) = self.target else {
            return Err(DropReason::Paused);
        };
        if !self.codec.is_video() {
            return self.handle_audio(now, pkt);
        }
        let mut switched_to = None;
        match self.current {
            Some(c) if c.spatial == encoding => {}
            current => {
                if encoding != target.spatial {
                    return Err(DropReason::NotCurrentLayer);
                }
                if !pkt.is_keyframe() {
                    return Err(if current.is_none() {
                        DropReason::WaitingForKeyframe
                    } else {
                        DropReason::NotCurrentLayer
                    });
                }
                self.start(now, pkt);
                self.current = Some(target);
                switched_to = self.current;
            }
        }
        let PayloadInfo::Vp8(desc) = &pkt.info else {
            // H264: no temporal layers to filter, no descriptor to patch.
            let out = self.rewrite(now, pkt, Vp8Edits::default())?;
            return Ok(Forwarded {
                pkt: out,
                switched_to,
            });
        };
        let before = self.current.map(|c| c.temporal);
        let current = self.update_temporal(target, pkt);
        // Reported with the next packet forwarded: this one may be of a layer just dropped.
        self.unreported |= before != Some(current.temporal);
        if pkt.temporal_id() > current.temporal {
            let ext = self.seq_in.extend(u64::from(pkt.header.sequence_number));
            self.vp8.drop_frame(desc);
            return Err(match self.seq.skip(ext) {
                Ok(()) => DropReason::TemporalLayerFiltered,
                Err(e) => seq_drop(e),
            });
        }
        let edits = self.vp8.rewrite(desc).edits(desc, &pkt.payload);
        let out = self.rewrite(now, pkt, edits)?;
        if std::mem::take(&mut self.unreported) {
            switched_to = self.current;
        }
        Ok(Forwarded {
            pkt: out,
            switched_to,
        })
    }

    fn handle_audio(&mut self, now: Instant, pkt: &RtpIn) -> Result<Forwarded, DropReason> {
        let mut switched_to = None;
        if self.current.is_none() {
            self.start(now, pkt);
            self.current = Some(Layer::LOWEST);
            switched_to = self.current;
        }
        let out = self.rewrite(now, pkt, Vp8Edits::default())?;
        Ok(Forwarded {
            pkt: out,
            switched_to,
        })
    }

    /// Starts forwarding a new source (first packet, switch or resume) at packet `pkt`.
    fn start(&mut self, now: Instant, pkt: &RtpIn) {
        self.seq_in.reset();
        let ext = self.seq_in.extend(u64::from(pkt.header.sequence_number));
        self.seq.resync(ext);
        self.ts.resync(now, pkt.header.timestamp);
        if let PayloadInfo::Vp8(desc) = &pkt.info {
            self.vp8.resync(desc);
        }
    }

    /// Moves the forwarded temporal layer towards the target at a frame boundary: down at
    /// any frame, up only at a frame the decoder can start the higher layer from (a layer
    /// sync frame, RFC 7741 §4.2 Y bit), and to the target at once on a keyframe.
    fn update_temporal(&mut self, target: Layer, pkt: &RtpIn) -> Layer {
        let Some(current) = self.current.as_mut() else {
            return target;
        };
        if pkt.starts_frame() {
            let tid = pkt.temporal_id();
            let sync = matches!(&pkt.info, PayloadInfo::Vp8(d) if d.layer_sync);
            if pkt.is_keyframe() || target.temporal < current.temporal {
                current.temporal = target.temporal;
            } else if sync && tid > current.temporal && tid <= target.temporal {
                current.temporal = tid;
            }
        }
        *current
    }

    fn rewrite(
        &mut self,
        now: Instant,
        pkt: &RtpIn,
        vp8_edits: Vp8Edits,
    ) -> Result<RtpOut, DropReason> {
        let ext = self.seq_in.extend(u64::from(pkt.header.sequence_number));
        let seq = self.seq.map(ext).map_err(seq_drop)?;
        Ok(RtpOut {
            ssrc: self.ssrc,
            seq,
            timestamp: self.ts.map(now, pkt.header.timestamp),
            marker: pkt.header.marker,
            payload_type: pkt.header.payload_type,
            audio_level: pkt.header.audio_level,
            red: pkt.red.clone(),
            payload: pkt.payload.clone(),
            vp8_edits,
        })
    }
}

fn seq_drop(e: SeqError) -> DropReason {
    match e {
        SeqError::Duplicate => DropReason::Duplicate,
        SeqError::TooOld => DropReason::TooOld,
    }
}
