//! The media shards' families: what each shard counted ([`ShardStats`]), polled by the server
//! ([`ShardMetrics::observe_shards`]) and added here, with the shards' forwarding cores fed
//! to [`ForwardingMetrics`].

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::{counter, counter_vec, gauge, gauge_vec, grow, register};
use super::{ForwardingMetrics, ShardHistogram};
use crate::shard::{
    CandidateType, LayerSwitchReason, PublicationKind, RtcpTotals, ShardHandle, ShardStats,
    TcpCloseCause, TransportFailureCause, BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS,
    JOIN_LATENCY_BOUNDS_NS,
};

/// The shard records latencies in nanoseconds; Prometheus wants seconds.
const NANOS_PER_SECOND: f64 = 1e9;
/// The shard records bandwidth estimates in bits per second; Prometheus wants bytes.
const BITS_PER_BYTE: f64 = 8.0;

/// Why a shard did not pass a datagram, packet or event on (the `reason` label of
/// `sfu_shard_drops_total`; drops inside the forwarding core have a [`crate::core::DropReason`]
/// in `sfu_packets_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardDropReason {
    /// A datagram that is no STUN, DTLS, RTP or RTCP at all.
    DatagramMalformed,
    /// A well-formed datagram no transport accepted (unknown sender, stale ufrag).
    DatagramUnmatched,
    /// A datagram the socket would not take (its buffer was full).
    SendBufferFull,
    /// RTP the shell could not map to a publication encoding (unknown rid, codec).
    RtpUnmapped,
    /// RTP whose codec payload the core could not parse.
    RtpMalformedPayload,
    /// A forwarded copy the subscriber's transport would not take.
    ForwardUnwritable,
    /// A telemetry event (speaker sample) the async side was too slow to take.
    EventChannelFull,
}

impl ShardDropReason {
    pub const ALL: [ShardDropReason; 7] = [
        ShardDropReason::DatagramMalformed,
        ShardDropReason::DatagramUnmatched,
        ShardDropReason::SendBufferFull,
        ShardDropReason::RtpUnmapped,
        ShardDropReason::RtpMalformedPayload,
        ShardDropReason::ForwardUnwritable,
        ShardDropReason::EventChannelFull,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardDropReason::DatagramMalformed => "datagram_malformed",
            ShardDropReason::DatagramUnmatched => "datagram_unmatched",
            ShardDropReason::SendBufferFull => "send_buffer_full",
            ShardDropReason::RtpUnmapped => "rtp_unmapped",
            ShardDropReason::RtpMalformedPayload => "rtp_malformed_payload",
            ShardDropReason::ForwardUnwritable => "forward_unwritable",
            ShardDropReason::EventChannelFull => "event_channel_full",
        }
    }

    /// The shard's cumulative count of drops for this reason.
    fn total(self, stats: &ShardStats) -> u64 {
        match self {
            ShardDropReason::DatagramMalformed => stats.datagrams_malformed,
            ShardDropReason::DatagramUnmatched => stats.datagrams_unmatched,
            ShardDropReason::SendBufferFull => stats.send_dropped,
            ShardDropReason::RtpUnmapped => stats.rtp_unmapped,
            ShardDropReason::RtpMalformedPayload => stats.rtp_malformed_payload,
            ShardDropReason::ForwardUnwritable => stats.forwards_dropped,
            ShardDropReason::EventChannelFull => stats.events_dropped,
        }
    }
}

/// The `direction` label of `sfu_keyframe_rtcp_total`: PLI/FIR the shards saw on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeRtcpDirection {
    FromSubscribers,
    ToPublishers,
}

impl KeyframeRtcpDirection {
    pub const ALL: [KeyframeRtcpDirection; 2] = [
        KeyframeRtcpDirection::FromSubscribers,
        KeyframeRtcpDirection::ToPublishers,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyframeRtcpDirection::FromSubscribers => "from_subscribers",
            KeyframeRtcpDirection::ToPublishers => "to_publishers",
        }
    }

    /// The shard's cumulative count in this direction.
    fn total(self, stats: &ShardStats) -> u64 {
        match self {
            KeyframeRtcpDirection::FromSubscribers => stats.keyframe_requests_received,
            KeyframeRtcpDirection::ToPublishers => stats.keyframe_requests_sent,
        }
    }
}

/// The `type` label of `sfu_rtcp_feedback_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpFeedbackType {
    Nack,
    Pli,
    Fir,
}

impl RtcpFeedbackType {
    pub const ALL: [RtcpFeedbackType; 3] = [
        RtcpFeedbackType::Nack,
        RtcpFeedbackType::Pli,
        RtcpFeedbackType::Fir,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RtcpFeedbackType::Nack => "nack",
            RtcpFeedbackType::Pli => "pli",
            RtcpFeedbackType::Fir => "fir",
        }
    }
}

/// The `direction` label of `sfu_rtcp_feedback_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpDirection {
    /// From subscribers to the server.
    In,
    /// From the server to publishers.
    Out,
}

impl RtcpDirection {
    pub const ALL: [RtcpDirection; 2] = [RtcpDirection::In, RtcpDirection::Out];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RtcpDirection::In => "in",
            RtcpDirection::Out => "out",
        }
    }
}

/// The shard's cumulative count of `kind` feedback in `direction`.
fn rtcp_total(totals: &RtcpTotals, kind: RtcpFeedbackType, direction: RtcpDirection) -> u64 {
    match (kind, direction) {
        (RtcpFeedbackType::Nack, RtcpDirection::In) => totals.nacks_in,
        (RtcpFeedbackType::Nack, RtcpDirection::Out) => totals.nacks_out,
        (RtcpFeedbackType::Pli, RtcpDirection::In) => totals.plis_in,
        (RtcpFeedbackType::Pli, RtcpDirection::Out) => totals.plis_out,
        (RtcpFeedbackType::Fir, RtcpDirection::In) => totals.firs_in,
        (RtcpFeedbackType::Fir, RtcpDirection::Out) => totals.firs_out,
    }
}

/// The shards' gauges, counters and histograms, summed over every shard.
#[derive(Clone, Debug)]
pub struct ShardMetrics {
    /// str0m transports (two per participant once both are negotiated).
    pub transports: IntGauge,
    /// Publications by [`PublicationKind`] (microphone, camera, screenshare,
    /// screenshare_audio).
    pub publications: IntGaugeVec,
    /// Subscriptions by the kind of their publication.
    pub subscriptions: IntGaugeVec,
    /// Subscriptions forwarding nothing: paused by the subscriber or for lack of bandwidth.
    pub paused_subscriptions: IntGauge,
    pub datagrams_in: IntCounter,
    pub datagrams_out: IntCounter,
    /// RTP packets the shards received from publishers (before mapping).
    pub rtp_packets_in: IntCounter,
    /// RTP packets the shards wrote to subscribers' transports.
    pub rtp_packets_out: IntCounter,
    /// Shard drops by [`ShardDropReason`].
    pub drops: IntCounterVec,
    /// PLI/FIR seen by the shards, by [`KeyframeRtcpDirection`].
    pub keyframe_rtcp: IntCounterVec,
    /// Transports that failed (ICE gave up, DTLS or str0m error, panic) and were dropped.
    pub transport_failures: IntCounter,
    /// `transport_failures` by cause ([`TransportFailureCause`]: ice, error, panic).
    pub transport_failure_causes: IntCounterVec,
    /// Transports that connected, by how the client reaches the shard ([`CandidateType`]:
    /// host, tcp, relay).
    pub transports_connected: IntCounterVec,
    /// ICE-TCP media connections open on the shards.
    pub tcp_media_connections: IntGauge,
    /// ICE-TCP media connections closed or refused, by [`TcpCloseCause`].
    pub tcp_media_closed: IntCounterVec,
    /// RTCP feedback from str0m's stream stats, by [`RtcpFeedbackType`] and [`RtcpDirection`].
    pub rtcp_feedback: IntCounterVec,
    /// Packets resent to subscribers in answer to NACKs.
    pub retransmissions: IntCounter,
    /// Video layer switches by reason ([`LayerSwitchReason`]: start, up, down).
    pub layer_switches: IntCounterVec,
    /// Receiving an RTP datagram to handing each forwarded copy to the subscriber's transport.
    pub forwarding_latency: ShardHistogram,
    /// A participant joining the media shard (during `join_room`) to the first media packet
    /// forwarded on its connected subscriber transport.
    pub join_latency: ShardHistogram,
    /// Each downlink bandwidth estimate of a subscriber transport.
    pub bandwidth_estimate: ShardHistogram,
    /// Each shard's totals at the previous observation (index = shard number).
    totals: Arc<Mutex<Vec<ShardStats>>>,
}

impl ShardMetrics {
    /// Registers the families, every label value at zero.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let histogram = |name: &str, help: &str, bounds: Vec<f64>| {
            register(registry, ShardHistogram::new(name, help, bounds)?)
        };
        let metrics = ShardMetrics {
            transports: gauge(
                registry,
                "transports",
                "WebRTC transports on the media shards (two per participant).",
            )?,
            publications: gauge_vec(
                registry,
                "publications",
                "Publications on the media shards, by kind.",
                &["kind"],
            )?,
            subscriptions: gauge_vec(
                registry,
                "subscriptions",
                "Subscriptions on the media shards, by the kind of their publication.",
                &["kind"],
            )?,
            paused_subscriptions: gauge(
                registry,
                "paused_subscriptions",
                "Subscriptions forwarding nothing: paused by the subscriber or for lack of bandwidth.",
            )?,
            datagrams_in: counter(
                registry,
                "datagrams_in_total",
                "UDP datagrams and ICE-TCP frames the shards received.",
            )?,
            datagrams_out: counter(
                registry,
                "datagrams_out_total",
                "UDP datagrams and ICE-TCP frames the shards sent.",
            )?,
            rtp_packets_in: counter(
                registry,
                "rtp_packets_in_total",
                "RTP packets the shards received from publishers.",
            )?,
            rtp_packets_out: counter(
                registry,
                "rtp_packets_out_total",
                "RTP packets the shards wrote to subscribers' transports.",
            )?,
            drops: counter_vec(
                registry,
                "shard_drops_total",
                "Datagrams, packets or events the media shards dropped, by reason.",
                &["reason"],
            )?,
            keyframe_rtcp: counter_vec(
                registry,
                "keyframe_rtcp_total",
                "PLI/FIR keyframe requests on the wire, from subscribers or to publishers.",
                &["direction"],
            )?,
            transport_failures: counter(
                registry,
                "transport_failures_total",
                "WebRTC transports that failed (ICE, DTLS, internal error) and were dropped.",
            )?,
            transport_failure_causes: counter_vec(
                registry,
                "transport_failure_causes_total",
                "WebRTC transports that failed, by cause: ice (ICE lost the client), error (DTLS or another str0m error), panic (a str0m bug, fenced).",
                &["cause"],
            )?,
            transports_connected: counter_vec(
                registry,
                "transports_connected_total",
                "WebRTC transports that connected, by candidate: host (UDP), tcp (ICE-TCP), relay (UDP through a TURN server).",
                &["candidate"],
            )?,
            tcp_media_connections: gauge(
                registry,
                "tcp_media_connections",
                "ICE-TCP media connections open on the shards.",
            )?,
            tcp_media_closed: counter_vec(
                registry,
                "tcp_media_connections_closed_total",
                "ICE-TCP media connections closed or refused, by cause.",
                &["cause"],
            )?,
            rtcp_feedback: counter_vec(
                registry,
                "rtcp_feedback_total",
                "RTCP feedback messages, by type (nack, pli, fir) and direction (in: from subscribers, out: to publishers).",
                &["type", "direction"],
            )?,
            retransmissions: counter(
                registry,
                "retransmissions_total",
                "Packets resent to subscribers in answer to NACKs.",
            )?,
            layer_switches: counter_vec(
                registry,
                "layer_switches_total",
                "Video layer switches of subscriptions (on a keyframe), by reason: start, up, down.",
                &["reason"],
            )?,
            forwarding_latency: histogram(
                "forwarding_latency_seconds",
                "Time from receiving a media packet to handing each forwarded copy to the subscriber's transport.",
                seconds(&FORWARDING_LATENCY_BOUNDS_NS),
            )?,
            join_latency: histogram(
                "join_latency_seconds",
                "Time from a participant joining the media shard to the first media packet forwarded to it.",
                seconds(&JOIN_LATENCY_BOUNDS_NS),
            )?,
            bandwidth_estimate: histogram(
                "bandwidth_estimate_bytes_per_second",
                "Downlink bandwidth estimates of subscriber transports, one per estimate update.",
                BANDWIDTH_BOUNDS_BPS
                    .iter()
                    .map(|&bps| bps as f64 / BITS_PER_BYTE)
                    .collect(),
            )?,
            totals: Arc::default(),
        };
        for reason in ShardDropReason::ALL {
            metrics.drops.with_label_values(&[reason.as_str()]);
        }
        for direction in KeyframeRtcpDirection::ALL {
            metrics
                .keyframe_rtcp
                .with_label_values(&[direction.as_str()]);
        }
        for kind in PublicationKind::ALL {
            metrics.publications.with_label_values(&[kind.as_str()]);
            metrics.subscriptions.with_label_values(&[kind.as_str()]);
        }
        for kind in RtcpFeedbackType::ALL {
            for direction in RtcpDirection::ALL {
                metrics
                    .rtcp_feedback
                    .with_label_values(&[kind.as_str(), direction.as_str()]);
            }
        }
        for reason in LayerSwitchReason::ALL {
            metrics.layer_switches.with_label_values(&[reason.as_str()]);
        }
        for cause in TransportFailureCause::ALL {
            metrics
                .transport_failure_causes
                .with_label_values(&[cause.as_str()]);
        }
        for candidate in CandidateType::ALL {
            metrics
                .transports_connected
                .with_label_values(&[candidate.as_str()]);
        }
        for cause in TcpCloseCause::ALL {
            metrics
                .tcp_media_closed
                .with_label_values(&[cause.as_str()]);
        }
        Ok(metrics)
    }

    /// Takes the cumulative counters of every shard (index = shard number, as
    /// [`ShardHandle::stats`] answers them): gauges are set to the sum, counters grow by what
    /// each shard's totals grew since the previous call, the shards' cores feed `forwarding`.
    pub fn observe(&self, forwarding: &ForwardingMetrics, shards: &[ShardStats]) {
        let sum = |field: fn(&ShardStats) -> usize| -> i64 {
            let total: usize = shards.iter().map(field).sum();
            i64::try_from(total).unwrap_or(i64::MAX)
        };
        self.transports.set(sum(|s: &ShardStats| s.peers));
        self.paused_subscriptions
            .set(sum(|s: &ShardStats| s.paused_subscriptions));
        self.tcp_media_connections
            .set(sum(|s: &ShardStats| s.tcp_connections));
        for kind in PublicationKind::ALL {
            let i = kind.index();
            let publications: usize = shards.iter().map(|s| s.publications_by_kind[i]).sum();
            let subscriptions: usize = shards.iter().map(|s| s.subscriptions_by_kind[i]).sum();
            self.publications
                .with_label_values(&[kind.as_str()])
                .set(i64::try_from(publications).unwrap_or(i64::MAX));
            self.subscriptions
                .with_label_values(&[kind.as_str()])
                .set(i64::try_from(subscriptions).unwrap_or(i64::MAX));
        }

        let mut previous = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        if previous.len() < shards.len() {
            previous.resize(shards.len(), ShardStats::default());
        }
        for (now, last) in shards.iter().zip(previous.iter_mut()) {
            forwarding.observe(&mut last.core.clone(), &now.core);
            self.grow(last, now);
            *last = *now;
        }
    }

    /// Asks every shard for its counters and feeds [`ShardMetrics::observe`]. A stopped shard
    /// keeps its last totals (its counters must not run backwards).
    pub async fn observe_shards(&self, forwarding: &ForwardingMetrics, shards: &[ShardHandle]) {
        let mut stats = Vec::with_capacity(shards.len());
        for (index, shard) in shards.iter().enumerate() {
            let fresh = shard.stats().await.ok();
            let kept = || {
                self.totals
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(index)
                    .copied()
                    .unwrap_or_default()
            };
            stats.push(fresh.unwrap_or_else(kept));
        }
        self.observe(forwarding, &stats);
    }

    /// The `sfu_shard_drops_total` counter of `reason` (the room registry counts its own
    /// telemetry drops there too).
    pub fn dropped(&self, reason: ShardDropReason) -> IntCounter {
        self.drops.with_label_values(&[reason.as_str()])
    }

    /// Adds what one shard's counters (not its core's) grew by from `last` to `now`.
    fn grow(&self, last: &ShardStats, now: &ShardStats) {
        grow(&self.datagrams_in, last.datagrams_in, now.datagrams_in);
        grow(&self.datagrams_out, last.datagrams_out, now.datagrams_out);
        grow(&self.rtp_packets_in, last.rtp_in, now.rtp_in);
        grow(
            &self.rtp_packets_out,
            last.forwards_written,
            now.forwards_written,
        );
        for reason in ShardDropReason::ALL {
            grow(&self.dropped(reason), reason.total(last), reason.total(now));
        }
        for direction in KeyframeRtcpDirection::ALL {
            grow(
                &self.keyframe_rtcp.with_label_values(&[direction.as_str()]),
                direction.total(last),
                direction.total(now),
            );
        }
        grow(
            &self.transport_failures,
            last.peers_failed,
            now.peers_failed,
        );
        for cause in TransportFailureCause::ALL {
            grow(
                &self
                    .transport_failure_causes
                    .with_label_values(&[cause.as_str()]),
                last.peer_failure_causes[cause.index()],
                now.peer_failure_causes[cause.index()],
            );
        }
        for candidate in CandidateType::ALL {
            grow(
                &self
                    .transports_connected
                    .with_label_values(&[candidate.as_str()]),
                last.transports_connected[candidate.index()],
                now.transports_connected[candidate.index()],
            );
        }
        for cause in TcpCloseCause::ALL {
            grow(
                &self.tcp_media_closed.with_label_values(&[cause.as_str()]),
                last.tcp_closed[cause.index()],
                now.tcp_closed[cause.index()],
            );
        }
        let (before, after) = (&last.rtcp, &now.rtcp);
        for kind in RtcpFeedbackType::ALL {
            for direction in RtcpDirection::ALL {
                grow(
                    &self
                        .rtcp_feedback
                        .with_label_values(&[kind.as_str(), direction.as_str()]),
                    rtcp_total(before, kind, direction),
                    rtcp_total(after, kind, direction),
                );
            }
        }
        grow(
            &self.retransmissions,
            before.retransmissions,
            after.retransmissions,
        );
        for reason in LayerSwitchReason::ALL {
            grow(
                &self.layer_switches.with_label_values(&[reason.as_str()]),
                last.layer_switches[reason.index()],
                now.layer_switches[reason.index()],
            );
        }
        self.forwarding_latency.grow(
            &last.forwarding_latency,
            &now.forwarding_latency,
            NANOS_PER_SECOND,
        );
        self.join_latency
            .grow(&last.join_latency, &now.join_latency, NANOS_PER_SECOND);
        self.bandwidth_estimate.grow(
            &last.bandwidth_estimates,
            &now.bandwidth_estimates,
            BITS_PER_BYTE,
        );
    }
}

/// Bounds in nanoseconds as Prometheus bucket bounds in seconds.
fn seconds(bounds_ns: &[u64]) -> Vec<f64> {
    bounds_ns
        .iter()
        .map(|&ns| ns as f64 / NANOS_PER_SECOND)
        .collect()
}
