//! `MediaCore`: the sans-IO forwarding engine of one room (ARCHITECTURE.md §3).
//!
//! The shell feeds it [`Input`]s (RTP from publishers, PLI/FIR from subscribers, bandwidth
//! estimates, timeouts), changes its configuration with plain methods (publications,
//! subscriptions, downlinks, the forwarding policy), and drains [`Output`]s with
//! [`MediaCore::poll_output`] until it returns [`Output::Timeout`].
//!
//! Objects are created by the core and named by generational slab keys, so the packet path
//! reaches a publication, its route and each subscription by index: no hashing, no locks, no
//! allocation per forwarded packet (STYLE.md performance rules).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use slotmap::{SecondaryMap, SlotMap};

use super::allocator::{Allocator, AllocatorConfig, Demand, LayerRates};
use super::congestion::CongestionMonitor;
use super::drop_reason::{CoreStats, DropReason};
use super::forwarder::Forwarder;
use super::id::{
    Bitrate, DownlinkId, EncodingIdx, Layer, MediaKind, ParticipantId, PublicationId, StreamRef,
    SubscriptionId, MAX_ENCODINGS, MAX_TEMPORAL,
};
use super::keyframe_throttle::{KeyframeKind, KeyframeThrottle, ThrottleConfig};
use super::policy::{ForwardingPolicy, SubscriberView};
use super::routing_table::{Candidate, RouteEntry, RoutingTable};
use super::rtp_in::{Codec, PayloadInfo, RtpIn};
use super::rtp_out::RtpOut;

/// Tunables of the core; the defaults are what the server runs with.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// How often layer bitrates are measured and downlinks re-allocated.
    pub tick: Duration,
    /// An encoding with no packet for this long is no longer available (the publisher
    /// stopped sending it: bandwidth, CPU, or a paused layer).
    pub encoding_timeout: Duration,
    pub throttle: ThrottleConfig,
    pub allocator: AllocatorConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            tick: Duration::from_millis(500),
            encoding_timeout: Duration::from_millis(1500),
            throttle: ThrottleConfig::default(),
            allocator: AllocatorConfig::default(),
        }
    }
}

/// Something that happened to the core, from outside.
#[derive(Clone, Debug)]
pub enum Input {
    /// One RTP packet of encoding `encoding` of `publication`.
    Rtp {
        at: Instant,
        publication: PublicationId,
        encoding: EncodingIdx,
        pkt: RtpIn,
    },
    /// A subscriber's PLI or FIR for the stream of `subscription`.
    Feedback {
        at: Instant,
        subscription: SubscriptionId,
        kind: KeyframeKind,
    },
    /// A downlink's bandwidth estimate (str0m's TWCC estimator, or the subscriber's REMB). It
    /// bounds every layer above the lowest; the lowest is paused only on sustained loss
    /// ([`Input::Loss`]), because an estimate may simply never have been probed up.
    Estimate {
        at: Instant,
        downlink: DownlinkId,
        bitrate: Bitrate,
    },
    /// The loss the subscriber of `subscription` reported for its stream (RTCP receiver report
    /// fraction lost, RFC 3550 §6.4.2), in thousandths. Only video reports count: sustained
    /// loss on a downlink's video is what lets the allocator pause lowest layers.
    Loss {
        at: Instant,
        subscription: SubscriptionId,
        lost_per_mille: u16,
    },
    /// The subscriber transport of `downlink` is connected (ICE and DTLS are up). Whatever was
    /// forwarded before could not reach it, so every video subscription on it restarts on a
    /// keyframe, asked for at once through the throttle: a joining subscriber's first frame
    /// need not wait for the publisher's periodic keyframe (issue 13, goal 3).
    DownlinkConnected { at: Instant, downlink: DownlinkId },
    /// The time asked for by the last [`Output::Timeout`] (or later) has come.
    Timeout(Instant),
}

/// What the core asks the shell to do, or tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Forward(Forward),
    /// Send a PLI/FIR to the publisher for this encoding (already throttled).
    RequestKeyframe {
        publication: PublicationId,
        encoding: EncodingIdx,
        kind: KeyframeKind,
    },
    Event(CoreEvent),
    /// Nothing more until this time (or the next input). Always the last output.
    Timeout(Instant),
}

/// One packet to write on a subscriber's downlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub downlink: DownlinkId,
    pub subscription: SubscriptionId,
    pub pkt: RtpOut,
}

/// State changes the shell reports to clients or metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreEvent {
    /// Policy `version` governs forwarding from now on (spec §13.3 step 3, §13.9): events
    /// about the change may be sent to clients.
    PolicyInstalled {
        version: u64,
    },
    /// A subscription now forwards `layer` (it started, or switched on a keyframe).
    LayerChanged {
        subscription: SubscriptionId,
        layer: Layer,
    },
    /// Nothing is forwarded on the subscription: it was paused by its subscriber, or no layer
    /// fits the downlink's bandwidth.
    Paused {
        subscription: SubscriptionId,
    },
    Resumed {
        subscription: SubscriptionId,
    },
    /// What a downlink's subscriptions would take with no bandwidth limit (each video at the
    /// best layer its subscriber asked for, plus audio). The shell lets its bandwidth
    /// estimator probe up to this and no further: probing towards a fixed ceiling pads every
    /// idle transport with retransmissions nobody needs. Emitted when it moves by more than
    /// [`DEMAND_STEP_PCT`].
    DownlinkDemand {
        downlink: DownlinkId,
        bitrate: Bitrate,
    },
}

/// How far (in percent) a downlink's demand must move before [`CoreEvent::DownlinkDemand`]
/// reports it again: measured layer rates wander a little on every tick.
pub const DEMAND_STEP_PCT: u64 = 10;

/// Errors of the configuration methods (all caused by stale or wrong ids from the shell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreError {
    UnknownPublication,
    UnknownSubscription,
    UnknownDownlink,
    /// A publication needs 1..=3 encodings, audio exactly 1.
    BadEncodingCount,
    /// The codec does not carry the stream's media kind (Opus for video, say).
    CodecMismatch,
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CoreError::UnknownPublication => "unknown publication",
            CoreError::UnknownSubscription => "unknown subscription",
            CoreError::UnknownDownlink => "unknown downlink",
            CoreError::BadEncodingCount => "bad encoding count",
            CoreError::CodecMismatch => "codec does not match the stream kind",
        })
    }
}

impl std::error::Error for CoreError {}

/// What a publication is, as the shell declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicationSpec {
    pub participant: ParticipantId,
    pub stream: StreamRef,
    pub codec: Codec,
    /// Simulcast encodings (1 for audio and single-layer video, up to 3).
    pub encodings: u8,
}

#[derive(Debug)]
struct Publication {
    spec: PublicationSpec,
    encodings: [EncodingState; MAX_ENCODINGS],
    /// Every subscription of this publication, routed or not.
    candidates: Vec<Candidate>,
    /// The policy lets this stream out at all (gate open, publisher admitted and sending).
    sending: bool,
    /// Cumulative rate of each available layer, refreshed on every tick and whenever an
    /// encoding appears or disappears (what the allocator reads).
    rates: LayerRates,
}

#[derive(Debug)]
struct EncodingState {
    throttle: KeyframeThrottle,
    last_packet_at: Option<Instant>,
    available: bool,
    /// Bytes per temporal layer since the last tick.
    bytes: [u64; MAX_TEMPORAL],
    /// Smoothed bitrate per temporal layer (not cumulative).
    rate: [Bitrate; MAX_TEMPORAL],
    /// The encoding has temporal layers (its VP8 packets carry a TID). Without them it is one
    /// layer, `{spatial, temporal 0}`: it is reported so and offers no temporal layer above.
    layered: bool,
    /// Whether a packet since the last tick carried a TID (what `layered` becomes then).
    saw_tid: bool,
    /// The RTP timestamp of the last keyframe: its packets are not counted in `bytes`.
    keyframe_ts: Option<u32>,
}

#[derive(Debug)]
struct Subscription {
    downlink: DownlinkId,
    publication: PublicationId,
    forwarder: Forwarder,
    priority: u8,
    /// The route epoch this forwarder is synchronised with (see `RouteEntry::epoch`).
    route_epoch: u32,
    /// Index of this subscription in its publication's `candidates`.
    slot: usize,
    /// When the allocator last lowered or paused its target (the allocator's `lowered_at`).
    lowered_at: Option<Instant>,
}

#[derive(Debug)]
struct Downlink {
    participant: ParticipantId,
    estimate: Option<Bitrate>,
    subscriptions: Vec<SubscriptionId>,
    /// Queued in `MediaCore::dirty` for reallocation.
    dirty: bool,
    /// The demand last reported in [`CoreEvent::DownlinkDemand`].
    demand_sent: Option<Bitrate>,
    /// The highest video loss reported since the last tick (one sample per tick for the
    /// monitor: the streams of one link report at different moments).
    loss_in_tick: Option<u16>,
    congestion: CongestionMonitor,
}

/// Bitrates assumed for an encoding that just appeared, before the first measurement: typical
/// libwebrtc simulcast at 640x360 q/h/f (the allocator corrects them after one tick).
const NOMINAL_VIDEO_RATES: [u64; MAX_ENCODINGS] = [150_000, 500_000, 1_500_000];
/// Opus voice at libwebrtc's default.
const NOMINAL_AUDIO_RATE: u64 = 40_000;
/// Share of an encoding's rate carried by temporal layers 0, 0-1 and 0-2 (VP8 L1T3).
const TEMPORAL_SHARE_PCT: [u64; MAX_TEMPORAL] = [50, 75, 100];

#[derive(Debug)]
pub struct MediaCore {
    config: CoreConfig,
    publications: SlotMap<PublicationId, Publication>,
    subscriptions: SlotMap<SubscriptionId, Subscription>,
    downlinks: SlotMap<DownlinkId, Downlink>,
    policy: ForwardingPolicy,
    routing: RoutingTable,
    outputs: VecDeque<Output>,
    stats: CoreStats,
    next_tick: Instant,
    /// Earliest time something may be due (tick or a throttle); waking early is harmless.
    wake_at: Instant,
    allocator: Allocator,
    // Scratch buffers, reused so steady-state work allocates nothing.
    demands: Vec<Demand>,
    /// The subscriptions behind `demands` (video) and the downlink's audio, with routed flags.
    demand_subs: Vec<(SubscriptionId, bool)>,
    targets: Vec<Option<Layer>>,
    /// Each downlink's subscriber resolved against the installed policy (cleared on install),
    /// and whether one of its subscriptions entered a route in the current rebuild: kept
    /// together because the rebuild reads this entry for every candidate anyway.
    resolved: SecondaryMap<DownlinkId, ResolvedDownlink>,
    /// Counts installs (and other route rebuilds), for `RouteEntry::epoch`.
    epoch: u32,
    /// Downlinks whose targets must be recomputed. Configuration changes only queue here, and
    /// one pass runs before the next packet or output, so a batch of N subscribes costs one
    /// allocation per downlink instead of N.
    dirty: Vec<DownlinkId>,
    /// The latest time any input carried (for work deferred to `poll_output`).
    clock: Instant,
}

impl MediaCore {
    pub fn new(config: CoreConfig, now: Instant) -> MediaCore {
        let next_tick = now + config.tick;
        MediaCore {
            allocator: Allocator::new(config.allocator.clone()),
            config,
            publications: SlotMap::with_key(),
            subscriptions: SlotMap::with_key(),
            downlinks: SlotMap::with_key(),
            policy: ForwardingPolicy::default(),
            routing: RoutingTable::default(),
            outputs: VecDeque::with_capacity(256),
            stats: CoreStats::default(),
            next_tick,
            wake_at: next_tick,
            demands: Vec::new(),
            demand_subs: Vec::new(),
            targets: Vec::new(),
            resolved: SecondaryMap::new(),
            epoch: 0,
            dirty: Vec::new(),
            clock: now,
        }
    }

    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    /// The version of the installed forwarding policy (0 before the first install).
    pub fn policy_version(&self) -> u64 {
        self.policy.version
    }

    // ---- configuration -----------------------------------------------------------------

    /// Adds the receiving side of a participant.
    pub fn add_downlink(&mut self, participant: ParticipantId) -> DownlinkId {
        self.downlinks.insert(Downlink {
            participant,
            estimate: None,
            subscriptions: Vec::new(),
            dirty: false,
            demand_sent: None,
            loss_in_tick: None,
            congestion: CongestionMonitor::default(),
        })
    }

    /// Removes a downlink and every subscription on it.
    pub fn remove_downlink(&mut self, downlink: DownlinkId) -> Result<(), CoreError> {
        let d = self
            .downlinks
            .get(downlink)
            .ok_or(CoreError::UnknownDownlink)?;
        for sid in d.subscriptions.clone() {
            self.unsubscribe(sid)?;
        }
        self.downlinks.remove(downlink);
        Ok(())
    }

    /// Adds a publication; it is routed under the installed policy at once.
    pub fn add_publication(&mut self, spec: PublicationSpec) -> Result<PublicationId, CoreError> {
        let video = spec.stream.kind == MediaKind::Video;
        if video != spec.codec.is_video() {
            return Err(CoreError::CodecMismatch);
        }
        let max = if video { MAX_ENCODINGS as u8 } else { 1 };
        if spec.encodings == 0 || spec.encodings > max {
            return Err(CoreError::BadEncodingCount);
        }
        let throttle = self.config.throttle;
        let encoding = || EncodingState {
            throttle: KeyframeThrottle::new(throttle),
            last_packet_at: None,
            available: false,
            bytes: [0; MAX_TEMPORAL],
            rate: [Bitrate::ZERO; MAX_TEMPORAL],
            layered: false,
            saw_tid: false,
            keyframe_ts: None,
        };
        let id = self.publications.insert(Publication {
            spec,
            encodings: [encoding(), encoding(), encoding()],
            candidates: Vec::new(),
            sending: false,
            rates: [[None; MAX_TEMPORAL]; MAX_ENCODINGS],
        });
        self.route_publication(id);
        self.queue_gained();
        Ok(id)
    }

    /// Removes a publication and every subscription to it.
    pub fn remove_publication(&mut self, publication: PublicationId) -> Result<(), CoreError> {
        let p = self
            .publications
            .get(publication)
            .ok_or(CoreError::UnknownPublication)?;
        let subscriptions: Vec<SubscriptionId> =
            p.candidates.iter().map(|c| c.subscription).collect();
        for sid in subscriptions {
            self.unsubscribe(sid)?;
        }
        self.publications.remove(publication);
        self.routing.remove(publication);
        Ok(())
    }

    /// Subscribes `downlink` to `publication` with outgoing SSRC `ssrc`. Whether packets flow
    /// is the installed policy's decision: a subscription outside the allowed set exists but
    /// receives nothing until a policy allows it.
    pub fn subscribe(
        &mut self,
        now: Instant,
        downlink: DownlinkId,
        publication: PublicationId,
        ssrc: u32,
    ) -> Result<SubscriptionId, CoreError> {
        let p = self
            .publications
            .get(publication)
            .ok_or(CoreError::UnknownPublication)?;
        let (codec, slot) = (p.spec.codec, p.candidates.len());
        let d = self
            .downlinks
            .get_mut(downlink)
            .ok_or(CoreError::UnknownDownlink)?;
        let sid = self.subscriptions.insert(Subscription {
            downlink,
            publication,
            forwarder: Forwarder::new(codec, ssrc),
            priority: 0,
            route_epoch: 0,
            slot,
            lowered_at: None,
        });
        d.subscriptions.push(sid);
        if let Some(p) = self.publications.get_mut(publication) {
            p.candidates.push(Candidate {
                subscription: sid,
                downlink,
                routed: false,
                epoch: 0,
            });
        }
        self.epoch += 1;
        self.clock = self.clock.max(now);
        self.route_publication(publication);
        self.queue_gained();
        self.mark_dirty(downlink);
        Ok(sid)
    }

    pub fn unsubscribe(&mut self, subscription: SubscriptionId) -> Result<(), CoreError> {
        let s = self
            .subscriptions
            .remove(subscription)
            .ok_or(CoreError::UnknownSubscription)?;
        if let Some(d) = self.downlinks.get_mut(s.downlink) {
            d.subscriptions.retain(|x| *x != subscription);
        }
        if let Some(p) = self.publications.get_mut(s.publication) {
            if p.candidates
                .get(s.slot)
                .is_some_and(|c| c.subscription == subscription)
            {
                p.candidates.remove(s.slot);
                for (i, c) in p.candidates.iter().enumerate().skip(s.slot) {
                    if let Some(moved) = self.subscriptions.get_mut(c.subscription) {
                        moved.slot = i;
                    }
                }
            }
        }
        self.route_publication(s.publication);
        Ok(())
    }

    /// The subscriber's wish for `subscription`: the highest layer it wants, or `None` to
    /// pause it (spec: subscription preferences).
    pub fn set_requested(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        requested: Option<Layer>,
    ) -> Result<(), CoreError> {
        let s = self
            .subscriptions
            .get_mut(subscription)
            .ok_or(CoreError::UnknownSubscription)?;
        if s.forwarder.requested() == requested {
            return Ok(());
        }
        // The subscriber changed its mind (or resumed from its own pause): start over like a
        // new subscription, with no dwell left from an earlier bandwidth downgrade.
        s.lowered_at = None;
        s.forwarder.set_requested(requested);
        let downlink = s.downlink;
        self.clock = self.clock.max(now);
        self.mark_dirty(downlink);
        Ok(())
    }

    /// Higher-priority subscriptions are served first when bandwidth is short.
    pub fn set_priority(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        priority: u8,
    ) -> Result<(), CoreError> {
        let s = self
            .subscriptions
            .get_mut(subscription)
            .ok_or(CoreError::UnknownSubscription)?;
        s.priority = priority;
        let downlink = s.downlink;
        self.clock = self.clock.max(now);
        self.mark_dirty(downlink);
        Ok(())
    }

    /// The layer a subscription forwards now, its target, and what was requested.
    pub fn layers(&self, subscription: SubscriptionId) -> Option<SubscriptionLayers> {
        let s = self.subscriptions.get(subscription)?;
        Some(SubscriptionLayers {
            requested: s.forwarder.requested(),
            target: s.forwarder.target(),
            current: s.forwarder.current(),
            routed: self.is_routed(subscription),
        })
    }

    /// Installs a forwarding policy. Every route is rebuilt against it before this returns,
    /// so from the next packet on, forwarding follows `policy` and only `policy` (spec §13.9).
    /// Emits [`CoreEvent::PolicyInstalled`] after the change, and keyframe requests for
    /// publishers whose video gained subscribers (spec §13.3 step 5).
    pub fn install_policy(&mut self, now: Instant, policy: ForwardingPolicy) {
        self.clock = self.clock.max(now);
        self.policy = policy;
        self.stats.policy_installs += 1;
        self.resolved.clear();
        self.epoch += 1;
        let ids: Vec<PublicationId> = self.publications.keys().collect();
        for id in &ids {
            self.route_publication(*id);
        }
        self.queue_gained();
        self.reallocate_dirty(now);
        self.outputs
            .push_back(Output::Event(CoreEvent::PolicyInstalled {
                version: self.policy.version,
            }));
    }

    // ---- sans-IO contract ----------------------------------------------------------------

    pub fn handle_input(&mut self, input: Input) {
        match input {
            Input::Rtp {
                at,
                publication,
                encoding,
                pkt,
            } => self.handle_rtp(at, publication, encoding, pkt),
            Input::Feedback {
                at,
                subscription,
                kind,
            } => self.handle_feedback(at, subscription, kind),
            Input::Estimate {
                at,
                downlink,
                bitrate,
            } => {
                self.clock = self.clock.max(at);
                if let Some(d) = self.downlinks.get_mut(downlink) {
                    d.estimate = Some(bitrate);
                    self.mark_dirty(downlink);
                }
            }
            Input::Loss {
                at,
                subscription,
                lost_per_mille,
            } => {
                self.clock = self.clock.max(at);
                let Some(s) = self.subscriptions.get(subscription) else {
                    return;
                };
                if s.forwarder.kind() != MediaKind::Video {
                    return;
                }
                if let Some(d) = self.downlinks.get_mut(s.downlink) {
                    let lost = lost_per_mille.min(1000);
                    d.loss_in_tick = Some(d.loss_in_tick.map_or(lost, |l| l.max(lost)));
                }
            }
            Input::DownlinkConnected { at, downlink } => {
                self.clock = self.clock.max(at);
                self.restart_downlink(at, downlink);
            }
            Input::Timeout(now) => {
                self.clock = self.clock.max(now);
                self.handle_timeout(now);
            }
        }
    }

    /// The next output; [`Output::Timeout`] when there is nothing more until then.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        if !self.dirty.is_empty() {
            self.reallocate_dirty(self.clock);
        }
        self.outputs
            .pop_front()
            .unwrap_or(Output::Timeout(self.wake_at))
    }

    /// When the core next wants [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Instant {
        self.wake_at
    }

    // ---- the packet path -----------------------------------------------------------------

    fn handle_rtp(
        &mut self,
        at: Instant,
        publication: PublicationId,
        encoding: EncodingIdx,
        pkt: RtpIn,
    ) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += pkt.payload.len() as u64;
        self.clock = self.clock.max(at);
        if !self.dirty.is_empty() {
            self.reallocate_dirty(at);
        }
        let Some(p) = self.publications.get_mut(publication) else {
            self.stats.count_drop(DropReason::UnknownPublication);
            return;
        };
        let e = usize::from(encoding.0);
        if e >= usize::from(p.spec.encodings) {
            self.stats.count_drop(DropReason::UnknownPublication);
            return;
        }
        let enc = &mut p.encodings[e];
        enc.last_packet_at = Some(at);
        let tid = usize::from(pkt.temporal_id()).min(MAX_TEMPORAL - 1);
        if pkt.is_keyframe() {
            enc.throttle.handle_keyframe();
            enc.keyframe_ts = Some(pkt.header.timestamp);
        }
        // The allocator budgets sustained rates. A keyframe (several times a delta frame) is a
        // transient that the pacer absorbs; counted, the keyframe asked for by one layer switch
        // would make that layer look too expensive and switch it back (flapping).
        if enc.keyframe_ts != Some(pkt.header.timestamp) {
            enc.bytes[tid] += pkt.payload.len() as u64;
        }
        enc.saw_tid |= matches!(&pkt.info, PayloadInfo::Vp8(d) if d.tid.is_some());
        if !enc.available {
            // A new layer changes what every subscriber of this publication may be given;
            // decide before this packet (often the keyframe that starts them) is offered.
            enc.available = true;
            enc.layered = enc.saw_tid;
            p.rates = layer_rates(p);
            self.queue_downlinks_of(publication);
            self.reallocate_dirty(at);
        }
        self.forward(at, publication, encoding, &pkt);
    }

    /// Offers one packet to every subscription on the publication's route.
    fn forward(
        &mut self,
        at: Instant,
        publication: PublicationId,
        encoding: EncodingIdx,
        pkt: &RtpIn,
    ) {
        let Some(p) = self.publications.get(publication) else {
            return;
        };
        if !p.sending {
            self.stats.count_drop(DropReason::GateClosed);
            return;
        }
        let is_video = p.spec.codec.is_video();
        for &RouteEntry {
            subscription: sid,
            epoch,
        } in self.routing.routes(publication)
        {
            let Some(s) = self.subscriptions.get_mut(sid) else {
                continue;
            };
            if s.route_epoch != epoch {
                // It was off the route since it last forwarded: start over on a keyframe.
                s.forwarder.stop();
                s.route_epoch = epoch;
            }
            match s.forwarder.handle_packet(at, encoding.0, pkt) {
                Ok(f) => {
                    self.stats.packets_out += 1;
                    self.stats.bytes_out += pkt.payload.len() as u64;
                    if let (Some(layer), true) = (f.switched_to, is_video) {
                        self.stats.layer_switches += 1;
                        self.outputs
                            .push_back(Output::Event(CoreEvent::LayerChanged {
                                subscription: sid,
                                layer,
                            }));
                    }
                    self.outputs.push_back(Output::Forward(Forward {
                        downlink: s.downlink,
                        subscription: sid,
                        pkt: f.pkt,
                    }));
                }
                Err(reason) => self.stats.count_drop(reason),
            }
        }
    }

    fn handle_feedback(&mut self, at: Instant, subscription: SubscriptionId, kind: KeyframeKind) {
        self.stats.keyframe_feedback_in += 1;
        let Some(s) = self.subscriptions.get(subscription) else {
            return;
        };
        // PLI/FIR are video feedback (RFC 4585 §6.3.1); one naming an audio stream is bogus
        // input and must not reach the publisher as a keyframe request.
        if s.forwarder.kind() != MediaKind::Video {
            return;
        }
        if let (true, Some(enc)) = (
            self.is_routed(subscription),
            s.forwarder.receiving_encoding(),
        ) {
            let publication = s.publication;
            self.request_keyframe(at, publication, enc, kind);
        }
    }

    /// Restarts every video subscription of `downlink` on a keyframe and asks for it.
    fn restart_downlink(&mut self, now: Instant, downlink: DownlinkId) {
        let Some(d) = self.downlinks.get(downlink) else {
            return;
        };
        let mut wanted: Vec<(PublicationId, u8)> = Vec::new();
        for &sid in &d.subscriptions {
            let routed = self.is_routed(sid);
            let Some(s) = self.subscriptions.get_mut(sid) else {
                continue;
            };
            if s.forwarder.kind() != MediaKind::Video {
                continue;
            }
            s.forwarder.stop();
            if let (true, Some(enc)) = (routed, s.forwarder.awaited_keyframe()) {
                wanted.push((s.publication, enc));
            }
        }
        for (publication, enc) in wanted {
            self.request_keyframe(now, publication, enc, KeyframeKind::Pli);
        }
    }

    // ---- timers --------------------------------------------------------------------------

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_tick {
            self.tick(now);
            self.next_tick = (self.next_tick + self.config.tick).max(now);
        }
        let mut wake = self.next_tick;
        for (id, p) in &mut self.publications {
            for (e, enc) in p.encodings.iter_mut().enumerate() {
                if let Some(kind) = enc.throttle.handle_timeout(now) {
                    self.stats.keyframe_requests_sent += 1;
                    self.outputs.push_back(Output::RequestKeyframe {
                        publication: id,
                        encoding: EncodingIdx(e as u8),
                        kind,
                    });
                }
                if let Some(t) = enc.throttle.poll_timeout() {
                    wake = wake.min(t);
                }
            }
        }
        self.wake_at = wake;
    }

    /// Measures layer rates and availability, re-allocates every downlink, and re-asks for
    /// keyframes that forwarders still wait for (the throttle keeps that to one per second).
    fn tick(&mut self, now: Instant) {
        let tick_secs = self.config.tick.as_secs_f64();
        for p in self.publications.values_mut() {
            for enc in p.encodings.iter_mut().take(usize::from(p.spec.encodings)) {
                let seen = enc.bytes.iter().any(|&b| b > 0);
                for t in 0..MAX_TEMPORAL {
                    let measured = (enc.bytes[t] * 8) as f64 / tick_secs;
                    // Halfway smoothing: follows a real change within two ticks, but one
                    // keyframe does not double a layer's rate.
                    enc.rate[t] = Bitrate(((enc.rate[t].0 as f64 + measured) / 2.0) as u64);
                    enc.bytes[t] = 0;
                }
                // A publisher may start or stop temporal layering (libwebrtc does per
                // encoding): one tick of packets decides.
                if seen {
                    enc.layered = std::mem::take(&mut enc.saw_tid);
                }
                let alive = enc.last_packet_at.is_some_and(|t| {
                    now.saturating_duration_since(t) < self.config.encoding_timeout
                });
                if enc.available && !alive {
                    enc.available = false;
                }
            }
            p.rates = layer_rates(p);
        }
        // Every downlink: rates moved, and removals since the last tick freed bandwidth.
        for (id, d) in &mut self.downlinks {
            if let Some(lost) = d.loss_in_tick.take() {
                d.congestion.handle_loss(now, lost);
            }
            if !d.dirty {
                d.dirty = true;
                self.dirty.push(id);
            }
        }
        self.reallocate_dirty(now);
        let waiting: Vec<(PublicationId, u8)> = self
            .publications
            .iter()
            .flat_map(|(id, p)| p.candidates.iter().map(move |c| (id, c)))
            .filter(|(_, c)| c.routed)
            .filter_map(|(id, c)| {
                let s = self.subscriptions.get(c.subscription)?;
                Some((id, s.forwarder.awaited_keyframe()?))
            })
            .collect();
        for (publication, enc) in waiting {
            self.request_keyframe(now, publication, enc, KeyframeKind::Pli);
        }
    }

    // ---- routing and allocation ------------------------------------------------------------

    /// Rebuilds one publication's route against the installed policy. Reads only compact
    /// state (candidates, resolved subscribers, route state): a forwarder that left the route
    /// is stopped lazily by its epoch, and the downlink of one that entered is queued for a
    /// target and a keyframe.
    fn route_publication(&mut self, publication: PublicationId) {
        let MediaCore {
            publications,
            downlinks,
            policy,
            routing,
            resolved,
            epoch,
            ..
        } = self;
        let Some(p) = publications.get_mut(publication) else {
            return;
        };
        let publisher = policy.publisher(p.spec.participant, p.spec.stream);
        p.sending = publisher.is_some_and(|q| q.sending);
        routing.rebuild(publication, &mut p.candidates, |c| {
            if !resolved.contains_key(c.downlink) {
                let view = downlinks
                    .get(c.downlink)
                    .and_then(|d| policy.subscriber(d.participant));
                resolved.insert(
                    c.downlink,
                    ResolvedDownlink {
                        view,
                        gained: false,
                    },
                );
            }
            let Some(r) = resolved.get_mut(c.downlink) else {
                return;
            };
            let allowed = match (r.view, publisher) {
                (Some(sv), Some(pv)) => policy.allowed_resolved(&sv, &pv),
                _ => false,
            };
            if allowed != c.routed {
                c.routed = allowed;
                if allowed {
                    c.epoch = *epoch;
                    r.gained = true;
                }
                // Bandwidth a lost route frees is handed out at the next tick.
            }
        });
    }

    /// Queues for reallocation every downlink that gained a route since the last call: its new
    /// subscriptions need a target and a keyframe.
    fn queue_gained(&mut self) {
        let MediaCore {
            resolved,
            downlinks,
            dirty,
            ..
        } = self;
        for (id, r) in resolved.iter_mut().filter(|(_, r)| r.gained) {
            r.gained = false;
            if let Some(d) = downlinks.get_mut(id).filter(|d| !d.dirty) {
                d.dirty = true;
                dirty.push(id);
            }
        }
    }

    /// The route state of a subscription: whether it is routed, and since which epoch.
    fn route_of(&self, subscription: SubscriptionId) -> Option<(bool, u32)> {
        let s = self.subscriptions.get(subscription)?;
        let c = self
            .publications
            .get(s.publication)?
            .candidates
            .get(s.slot)?;
        (c.subscription == subscription).then_some((c.routed, c.epoch))
    }

    fn is_routed(&self, subscription: SubscriptionId) -> bool {
        self.route_of(subscription)
            .is_some_and(|(routed, _)| routed)
    }

    fn mark_dirty(&mut self, downlink: DownlinkId) {
        if let Some(d) = self.downlinks.get_mut(downlink).filter(|d| !d.dirty) {
            d.dirty = true;
            self.dirty.push(downlink);
        }
    }

    fn queue_downlinks_of(&mut self, publication: PublicationId) {
        let Some(p) = self.publications.get(publication) else {
            return;
        };
        for c in &p.candidates {
            if let Some(d) = self.downlinks.get_mut(c.downlink).filter(|d| !d.dirty) {
                d.dirty = true;
                self.dirty.push(c.downlink);
            }
        }
    }

    fn reallocate_dirty(&mut self, now: Instant) {
        let mut pending = std::mem::take(&mut self.dirty);
        for d in pending.drain(..) {
            if let Some(downlink) = self.downlinks.get_mut(d) {
                downlink.dirty = false;
                self.reallocate(now, d);
            }
        }
        // Keep the buffer (and anything queued while reallocating).
        pending.append(&mut self.dirty);
        self.dirty = pending;
    }

    /// Recomputes the targets of one downlink's subscriptions and applies them.
    fn reallocate(&mut self, now: Instant, downlink: DownlinkId) {
        let Some(d) = self.downlinks.get(downlink) else {
            return;
        };
        let mut demands = std::mem::take(&mut self.demands);
        let mut demand_subs = std::mem::take(&mut self.demand_subs);
        let mut targets = std::mem::take(&mut self.targets);
        demands.clear();
        demand_subs.clear();
        let mut audio = Bitrate::ZERO;
        for &sid in &d.subscriptions {
            let Some(s) = self.subscriptions.get_mut(sid) else {
                continue;
            };
            let Some(p) = self.publications.get(s.publication) else {
                continue;
            };
            let route = p
                .candidates
                .get(s.slot)
                .filter(|c| c.subscription == sid)
                .map_or(RouteState::default(), |c| RouteState {
                    routed: c.routed,
                    epoch: c.epoch,
                });
            if route.routed && s.route_epoch != route.epoch {
                // Back on the route since it last forwarded: it restarts on a keyframe, which
                // `apply_target` asks for.
                s.forwarder.stop();
                s.route_epoch = route.epoch;
            }
            if !p.spec.codec.is_video() {
                // Audio is never paused for bandwidth: its rate comes off the top.
                if route.routed {
                    audio.0 += p.rates[0][0].map_or(0, |r| r.0);
                }
                demand_subs.push((sid, route.routed));
                continue;
            }
            if !route.routed {
                continue;
            }
            demands.push(Demand {
                requested: s.forwarder.requested(),
                available: p.rates,
                priority: s.priority,
                target: s.forwarder.target(),
                lowered_at: s.lowered_at,
            });
            demand_subs.push((sid, true));
        }
        let estimate = d.estimate.map(|e| Bitrate(e.0.saturating_sub(audio.0)));
        let keep_lowest = d.congestion.keeps_lowest(now);
        let demand = demands
            .iter()
            .filter_map(|demand| demand.best().and_then(|layer| demand.rate(layer)))
            .fold(audio.0, |sum, rate| sum.saturating_add(rate.0));
        self.report_demand(downlink, Bitrate(demand));
        self.allocator
            .allocate(now, estimate, keep_lowest, &demands, &mut targets);
        let mut video_targets = targets.iter();
        for &(sid, routed) in &demand_subs {
            let Some(s) = self.subscriptions.get(sid) else {
                continue;
            };
            let target = if s.forwarder.kind() == MediaKind::Audio {
                s.forwarder.requested().map(|_| Layer::LOWEST)
            } else {
                video_targets.next().copied().flatten()
            };
            self.apply_target(now, sid, target, routed);
        }
        self.demands = demands;
        self.demand_subs = demand_subs;
        self.targets = targets;
    }

    fn report_demand(&mut self, downlink: DownlinkId, demand: Bitrate) {
        let Some(d) = self.downlinks.get_mut(downlink) else {
            return;
        };
        let moved = d.demand_sent.is_none_or(|sent| {
            demand.0.abs_diff(sent.0).saturating_mul(100) > sent.0.saturating_mul(DEMAND_STEP_PCT)
        });
        if moved {
            d.demand_sent = Some(demand);
            self.outputs
                .push_back(Output::Event(CoreEvent::DownlinkDemand {
                    downlink,
                    bitrate: demand,
                }));
        }
    }

    fn apply_target(
        &mut self,
        now: Instant,
        sid: SubscriptionId,
        target: Option<Layer>,
        routed: bool,
    ) {
        let Some(s) = self.subscriptions.get_mut(sid) else {
            return;
        };
        let old = s.forwarder.target();
        if old != target {
            s.forwarder.set_target(target);
            let lowered = match (old, target) {
                (Some(old), Some(new)) => new < old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if lowered && s.forwarder.requested().is_some() {
                s.lowered_at = Some(now);
            }
            match (old, target) {
                (Some(_), None) => self
                    .outputs
                    .push_back(Output::Event(CoreEvent::Paused { subscription: sid })),
                (None, Some(_)) => self
                    .outputs
                    .push_back(Output::Event(CoreEvent::Resumed { subscription: sid })),
                _ => {}
            }
        }
        if let (true, Some(enc)) = (routed, s.forwarder.awaited_keyframe()) {
            let publication = s.publication;
            self.request_keyframe(now, publication, enc, KeyframeKind::Pli);
        }
    }

    fn request_keyframe(
        &mut self,
        now: Instant,
        publication: PublicationId,
        encoding: u8,
        kind: KeyframeKind,
    ) {
        let Some(p) = self.publications.get_mut(publication) else {
            return;
        };
        let Some(enc) = p.encodings.get_mut(usize::from(encoding)) else {
            return;
        };
        match enc.throttle.handle_request(now, kind) {
            Some(kind) => {
                self.stats.keyframe_requests_sent += 1;
                self.outputs.push_back(Output::RequestKeyframe {
                    publication,
                    encoding: EncodingIdx(encoding),
                    kind,
                });
            }
            None => self.stats.keyframe_requests_suppressed += 1,
        }
        if let Some(t) = enc.throttle.poll_timeout() {
            self.wake_at = self.wake_at.min(t);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct ResolvedDownlink {
    view: Option<SubscriberView>,
    gained: bool,
}

/// Whether a subscription is on its publication's route, and since which epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RouteState {
    routed: bool,
    epoch: u32,
}

/// The layer view the shell can report (and tests assert on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionLayers {
    pub requested: Option<Layer>,
    pub target: Option<Layer>,
    pub current: Option<Layer>,
    /// The installed policy lets this subscription receive packets.
    pub routed: bool,
}

/// The cumulative rate of each available layer of a video publication.
fn layer_rates(p: &Publication) -> LayerRates {
    let mut rates: LayerRates = [[None; MAX_TEMPORAL]; MAX_ENCODINGS];
    for (s, enc) in p
        .encodings
        .iter()
        .enumerate()
        .take(usize::from(p.spec.encodings))
    {
        if !enc.available {
            continue;
        }
        let measured: u64 = enc.rate.iter().map(|r| r.0).sum();
        // An encoding without temporal layers is the one layer `{s, 0}` at its whole rate.
        let layers = if enc.layered { MAX_TEMPORAL } else { 1 };
        let mut cumulative = 0;
        for t in 0..layers {
            cumulative += if enc.layered { enc.rate[t].0 } else { measured };
            let share = if enc.layered {
                TEMPORAL_SHARE_PCT[t]
            } else {
                100
            };
            rates[s][t] = Some(Bitrate(if measured == 0 && !p.spec.codec.is_video() {
                NOMINAL_AUDIO_RATE
            } else if measured == 0 {
                NOMINAL_VIDEO_RATES[s] * share / 100
            } else {
                cumulative
            }));
        }
    }
    rates
}
