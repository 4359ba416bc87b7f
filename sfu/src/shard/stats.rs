//! `ShardStats`: the plain counters of one shard, and the label sets the metrics module
//! exports them under.
//!
//! The counters are integers on the shard thread (no atomic, lock or allocation per packet);
//! the async side reads a copy with `ShardHandle::stats`.

use super::fixed_histogram::FixedHistogram;
#[cfg(doc)]
use super::fixed_histogram::{
    BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
use crate::core::{CoreStats, Layer, MediaKind, StreamId, StreamRef};

/// The four kinds of publication (spec §13.1), named as the wire's track sources
/// (`publish_tracks`): the `kind` label of the publication and subscription gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicationKind {
    Microphone = 0,
    Camera = 1,
    Screenshare = 2,
    ScreenshareAudio = 3,
}

impl PublicationKind {
    pub const ALL: [PublicationKind; 4] = [
        PublicationKind::Microphone,
        PublicationKind::Camera,
        PublicationKind::Screenshare,
        PublicationKind::ScreenshareAudio,
    ];

    /// The kind of `stream`.
    pub fn of(stream: StreamRef) -> PublicationKind {
        match (stream.stream, stream.kind) {
            (StreamId::Camera, MediaKind::Audio) => PublicationKind::Microphone,
            (StreamId::Camera, MediaKind::Video) => PublicationKind::Camera,
            (StreamId::Screenshare(_), MediaKind::Video) => PublicationKind::Screenshare,
            (StreamId::Screenshare(_), MediaKind::Audio) => PublicationKind::ScreenshareAudio,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationKind::Microphone => "microphone",
            PublicationKind::Camera => "camera",
            PublicationKind::Screenshare => "screenshare",
            PublicationKind::ScreenshareAudio => "screenshare_audio",
        }
    }

    /// The index of this kind in the `_by_kind` arrays of [`ShardStats`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The index of `stream`'s kind in the `_by_kind` arrays of [`ShardStats`].
pub fn publication_kind(stream: StreamRef) -> usize {
    PublicationKind::of(stream).index()
}

/// Why a subscription's video layer changed (the `reason` label of the layer switch counter).
/// The core switches only on a keyframe of the target (STYLE.md rule 7); the shell classifies
/// each switch against the layer the subscription forwarded before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSwitchReason {
    /// Nothing was forwarded before (a new subscription, a resume after a pause), or the same
    /// layer starts again (after a route change).
    Start = 0,
    /// To a higher (spatial, temporal) layer.
    Up = 1,
    /// To a lower (spatial, temporal) layer.
    Down = 2,
}

impl LayerSwitchReason {
    pub const ALL: [LayerSwitchReason; 3] = [
        LayerSwitchReason::Start,
        LayerSwitchReason::Up,
        LayerSwitchReason::Down,
    ];

    /// The reason of a switch from `before` to `after`, by (spatial, temporal) order.
    pub fn of(before: Option<Layer>, after: Layer) -> LayerSwitchReason {
        match before {
            Some(b) if after > b => LayerSwitchReason::Up,
            Some(b) if after < b => LayerSwitchReason::Down,
            _ => LayerSwitchReason::Start,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerSwitchReason::Start => "start",
            LayerSwitchReason::Up => "up",
            LayerSwitchReason::Down => "down",
        }
    }

    /// The index of this reason in [`ShardStats::layer_switches`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The index in [`ShardStats::layer_switches`] of a switch from `before` to `after`
/// ([`LayerSwitchReason::of`]).
pub fn layer_switch_reason(before: Option<Layer>, after: Layer) -> usize {
    LayerSwitchReason::of(before, after).index()
}

/// How a connected transport reaches the shard (the `candidate` label of the connected
/// transports counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateType {
    /// UDP to a host candidate.
    Host = 0,
    /// TCP to the ICE-TCP candidate.
    Tcp = 1,
    /// UDP relayed by a TURN server (a client candidate of type relay, as the client
    /// trickled it).
    Relay = 2,
}

impl CandidateType {
    pub const ALL: [CandidateType; 3] = [
        CandidateType::Host,
        CandidateType::Tcp,
        CandidateType::Relay,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Tcp => "tcp",
            CandidateType::Relay => "relay",
        }
    }

    /// The index of this type in [`ShardStats::transports_connected`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a transport failed (the `cause` label of the transport failure counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailureCause {
    /// ICE lost the client.
    Ice = 0,
    /// str0m returned an error (DTLS, SDP, a write).
    Error = 1,
    /// str0m panicked.
    Panic = 2,
}

impl TransportFailureCause {
    pub const ALL: [TransportFailureCause; 3] = [
        TransportFailureCause::Ice,
        TransportFailureCause::Error,
        TransportFailureCause::Panic,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportFailureCause::Ice => "ice",
            TransportFailureCause::Error => "error",
            TransportFailureCause::Panic => "panic",
        }
    }

    /// The index of this cause in [`ShardStats::peer_failure_causes`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a shard closed (or refused) a TCP media connection (the `cause` label of the closed
/// connections counter); its discriminant indexes [`ShardStats::tcp_closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpCloseCause {
    /// Its first frame was no STUN, or it sent an empty frame.
    Garbage = 0,
    /// A frame longer than any WebRTC packet (`tcp_framing::MAX_FRAME`).
    OversizeFrame = 1,
    /// No STUN request named a transport before the handshake deadline.
    Idle = 2,
    /// Refused: its address already held the most pending connections allowed.
    PerIpLimit = 3,
    /// Refused: the shard already held the most connections allowed.
    TotalLimit = 4,
    /// Refused: not from loopback on a loopback-only shard.
    NotLoopback = 5,
    /// Its write queue overflowed: the client stopped reading.
    SlowReader = 6,
    /// The client closed it or it failed.
    ClosedByPeer = 7,
    /// Its transport was removed (participant left, transport failed, shard stopped).
    TransportGone = 8,
}

impl TcpCloseCause {
    pub const COUNT: usize = 9;
    pub const ALL: [TcpCloseCause; TcpCloseCause::COUNT] = [
        TcpCloseCause::Garbage,
        TcpCloseCause::OversizeFrame,
        TcpCloseCause::Idle,
        TcpCloseCause::PerIpLimit,
        TcpCloseCause::TotalLimit,
        TcpCloseCause::NotLoopback,
        TcpCloseCause::SlowReader,
        TcpCloseCause::ClosedByPeer,
        TcpCloseCause::TransportGone,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpCloseCause::Garbage => "garbage",
            TcpCloseCause::OversizeFrame => "oversize_frame",
            TcpCloseCause::Idle => "idle",
            TcpCloseCause::PerIpLimit => "per_ip_limit",
            TcpCloseCause::TotalLimit => "total_limit",
            TcpCloseCause::NotLoopback => "not_loopback",
            TcpCloseCause::SlowReader => "slow_reader",
            TcpCloseCause::ClosedByPeer => "closed_by_peer",
            TcpCloseCause::TransportGone => "transport_gone",
        }
    }

    /// The index of this cause in [`ShardStats::tcp_closed`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A shard's cumulative RTCP feedback and retransmission totals, summed over its transports
/// from str0m's `MediaIngressStats` / `MediaEgressStats` and kept monotonic when a transport
/// goes away. `_in` is what subscribers sent the server, `_out` what the server sent
/// publishers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpTotals {
    /// NACKs received from subscribers.
    pub nacks_in: u64,
    /// NACKs sent to publishers.
    pub nacks_out: u64,
    pub plis_in: u64,
    pub plis_out: u64,
    pub firs_in: u64,
    pub firs_out: u64,
    /// Packets str0m resent to subscribers from its RTX cache in answer to NACKs: what it
    /// sent on a stream beyond what the shard wrote to it (str0m 0.25 counts resends in
    /// `MediaEgressStats::packets` but does not report them apart).
    pub retransmissions: u64,
}

/// Plain counters of one shard (the metrics module exports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub rooms: usize,
    pub participants: usize,
    /// str0m transports (two per participant once both are negotiated).
    pub peers: usize,
    pub publications: usize,
    pub subscriptions: usize,
    /// Publications by [`PublicationKind`] index.
    pub publications_by_kind: [usize; 4],
    /// Subscriptions by the [`PublicationKind`] index of their publication.
    pub subscriptions_by_kind: [usize; 4],
    /// Subscriptions forwarding nothing now: paused by their subscriber, or no layer fits the
    /// downlink's bandwidth (the core's target is none).
    pub paused_subscriptions: usize,
    /// Video layer switches by [`LayerSwitchReason`] index.
    pub layer_switches: [u64; 3],
    /// From receiving an RTP datagram (the loop's wake-up instant for its batch) to handing
    /// each forwarded copy to the subscriber's transport, in nanoseconds
    /// ([`FORWARDING_LATENCY_BOUNDS_NS`]).
    pub forwarding_latency: FixedHistogram<9>,
    /// From a participant joining the shard (`add_participant`, during `join_room`) to the
    /// first media packet forwarded on its connected subscriber transport, in nanoseconds
    /// ([`JOIN_LATENCY_BOUNDS_NS`]). Participants that never receive media are not counted.
    pub join_latency: FixedHistogram<10>,
    /// Each downlink bandwidth estimate str0m reported (`EgressBitrateEstimate`), in bits per
    /// second ([`BANDWIDTH_BOUNDS_BPS`]).
    pub bandwidth_estimates: FixedHistogram<10>,
    pub rtcp: RtcpTotals,
    pub datagrams_in: u64,
    /// Datagrams that are no STUN, DTLS, RTP or RTCP at all.
    pub datagrams_malformed: u64,
    /// Well-formed datagrams no peer accepted (unknown sender, stale ufrag).
    pub datagrams_unmatched: u64,
    /// Datagrams from a non-loopback source on a loopback-only shard, dropped unread.
    pub datagrams_refused: u64,
    pub datagrams_out: u64,
    /// Datagrams the socket would not take (buffer full): media is dropped and counted.
    pub send_dropped: u64,
    pub rtp_in: u64,
    /// RTP the shell could not map to a publication encoding (unknown rid, codec).
    pub rtp_unmapped: u64,
    /// RTP whose codec payload the core could not parse.
    pub rtp_malformed_payload: u64,
    pub forwards_written: u64,
    pub forwards_dropped: u64,
    pub keyframe_requests_sent: u64,
    pub keyframe_requests_received: u64,
    pub peers_failed: u64,
    /// `peers_failed` by [`TransportFailureCause`] index.
    pub peer_failure_causes: [u64; 3],
    /// Transports that connected (DTLS done), by [`CandidateType`] index.
    pub transports_connected: [u64; 3],
    /// ICE-TCP connections open now.
    pub tcp_connections: usize,
    /// ICE-TCP connections closed or refused, by [`TcpCloseCause`] index.
    pub tcp_closed: [u64; TcpCloseCause::COUNT],
    /// Telemetry events (speaker samples) the async side was too slow to take (their channel
    /// was full). Control events are never dropped.
    pub events_dropped: u64,
    /// The forwarding cores' counters, summed over every room the shard has run.
    pub core: CoreStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    // A switch is `start` with nothing forwarded before or the same layer again, else `up` or
    // `down` by spatial layer first, then temporal.
    #[test]
    fn layer_switch_reasons_follow_the_layer_order() {
        let layer = |spatial, temporal| Layer { spatial, temporal };
        let reason = |before, after| LayerSwitchReason::of(before, after).as_str();
        assert_eq!(reason(None, layer(2, 0)), "start");
        assert_eq!(reason(Some(layer(1, 2)), layer(1, 2)), "start");
        assert_eq!(reason(Some(layer(0, 2)), layer(1, 0)), "up");
        assert_eq!(reason(Some(layer(1, 0)), layer(1, 1)), "up");
        assert_eq!(reason(Some(layer(2, 0)), layer(1, 2)), "down");
    }
}
