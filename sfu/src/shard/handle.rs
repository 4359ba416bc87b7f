//! `ShardHandle`: how the async side (room actors, sessions) talks to a shard thread.
//!
//! Commands travel over a bounded channel with a oneshot reply each (STYLE.md rule 10: control
//! is never dropped; a full channel makes the caller wait, which is the backpressure). The
//! shard applies a command between two packet batches, so a reply is also the ack that the
//! change governs every later packet (spec §13.3: install the policy, await the ack, then send
//! events).

use std::fmt;
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::fixed_histogram::FixedHistogram;
#[cfg(doc)]
use super::fixed_histogram::{
    BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
use super::peer::Transport;
use super::RoomId;
use crate::core::{
    Codec, CoreStats, ForwardingPolicy, Layer, MediaKind, ParticipantId, PublicationId, StreamId,
    StreamRef, SubscriptionId,
};

/// Errors a command can answer with. All are caused by the caller or the client's SDP; none
/// stops the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// The participant is not on this shard.
    UnknownParticipant,
    /// The participant is already on this shard.
    ParticipantExists,
    /// No room with this id is on the shard.
    UnknownRoom,
    /// A publication or subscription id the room does not know.
    UnknownPublication,
    /// The client's SDP could not be parsed or applied.
    BadSdp(String),
    /// A subscriber offer is still waiting for its answer (one renegotiation at a time).
    OfferPending,
    /// An answer arrived with no offer outstanding.
    NoOfferPending,
    /// The participant's transport failed (str0m error or panic) and was dropped.
    TransportFailed(String),
    /// The shard thread has stopped.
    ShardGone,
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::UnknownParticipant => f.write_str("unknown participant"),
            ShardError::ParticipantExists => f.write_str("participant already on the shard"),
            ShardError::UnknownRoom => f.write_str("unknown room"),
            ShardError::UnknownPublication => f.write_str("unknown publication or subscription"),
            ShardError::BadSdp(e) => write!(f, "bad SDP: {e}"),
            ShardError::OfferPending => f.write_str("a subscriber offer awaits its answer"),
            ShardError::NoOfferPending => f.write_str("no subscriber offer is pending"),
            ShardError::TransportFailed(e) => write!(f, "transport failed: {e}"),
            ShardError::ShardGone => f.write_str("the shard has stopped"),
        }
    }
}

impl std::error::Error for ShardError {}

/// What the shard tells the async side, unprompted: control events, which are never dropped,
/// and telemetry, which may be (see [`ShardEvent::is_control`] and the `events` module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEvent {
    /// The first packet of a new published track arrived: the publication exists on the
    /// media side (spec §13.1 rule 2) and may be subscribed to.
    PublicationAdded {
        room: RoomId,
        participant: ParticipantId,
        publication: PublicationId,
        stream: StreamRef,
        codec: Codec,
        encodings: u8,
    },
    /// A transport finished ICE + DTLS.
    TransportConnected {
        room: RoomId,
        participant: ParticipantId,
        transport: Transport,
    },
    /// A transport failed (str0m error, panic, or ICE gave up) and was dropped with its
    /// publications or subscriptions; the participant stays on the shard.
    TransportFailed {
        room: RoomId,
        participant: ParticipantId,
        transport: Transport,
        reason: String,
    },
    /// What a subscription forwards changed (the core's layer switches and pauses).
    ForwardingChanged {
        room: RoomId,
        /// The subscriber.
        participant: ParticipantId,
        subscription: SubscriptionId,
        change: ForwardingChange,
    },
    /// The speakers of the last window (every 500 ms while anyone speaks, and once when
    /// everyone went quiet), loudest first, with their loudest level in dB under full scale.
    Speakers {
        room: RoomId,
        speakers: Vec<(ParticipantId, u8)>,
    },
    /// A subscription ended because its publication went away; the next subscriber offer
    /// stops its m-line.
    SubscriptionEnded {
        room: RoomId,
        participant: ParticipantId,
        subscription: SubscriptionId,
    },
}

impl ShardEvent {
    /// Whether the event changes what the room knows (STYLE.md rule 16): control events
    /// travel a path that never drops them and reach each room on its own queue. The speaker
    /// samples are telemetry: one may be dropped (and is counted), the next supersedes it.
    pub fn is_control(&self) -> bool {
        match self {
            ShardEvent::PublicationAdded { .. }
            | ShardEvent::TransportConnected { .. }
            | ShardEvent::TransportFailed { .. }
            | ShardEvent::ForwardingChanged { .. }
            | ShardEvent::SubscriptionEnded { .. } => true,
            ShardEvent::Speakers { .. } => false,
        }
    }

    /// The room the event concerns.
    pub fn room(&self) -> RoomId {
        match self {
            ShardEvent::PublicationAdded { room, .. }
            | ShardEvent::TransportConnected { room, .. }
            | ShardEvent::TransportFailed { room, .. }
            | ShardEvent::ForwardingChanged { room, .. }
            | ShardEvent::Speakers { room, .. }
            | ShardEvent::SubscriptionEnded { room, .. } => *room,
        }
    }
}

/// A change of what one subscription forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardingChange {
    /// Forwarding `current` now (started, or switched on a keyframe); `target` is what the
    /// allocator allows.
    Layer {
        current: Layer,
        target: Option<Layer>,
    },
    /// Nothing forwarded: paused by the subscriber, or no layer fits the bandwidth.
    Paused,
    Resumed,
}

/// A server offer for the subscriber transport, for the caller to send to the client
/// (DECISIONS.md §10: `subscriber_offer {sdp}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberOffer {
    pub sdp: String,
}

/// The stream a published m-line carries, as the client announced it (`publish_tracks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedTrack {
    /// The `a=mid` of the m-line in the publisher offer.
    pub mid: String,
    pub stream: StreamRef,
}

/// A subscriber's wish for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    pub subscription: SubscriptionId,
    /// The highest layer wanted; `None` pauses the subscription.
    pub requested: Option<Layer>,
    /// Higher is served first when bandwidth is short.
    pub priority: u8,
}

/// The subscriptions an applied answer created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    pub publication: PublicationId,
    pub subscription: SubscriptionId,
}

/// The four kinds of publication (spec §13.1), named as the wire's track sources
/// (`publish_tracks`): the `kind` label of the publication and subscription gauges.
pub const PUBLICATION_KINDS: [&str; 4] =
    ["microphone", "camera", "screenshare", "screenshare_audio"];

/// The index of `stream`'s kind in [`PUBLICATION_KINDS`].
pub fn publication_kind(stream: StreamRef) -> usize {
    match (stream.stream, stream.kind) {
        (StreamId::Camera, MediaKind::Audio) => 0,
        (StreamId::Camera, MediaKind::Video) => 1,
        (StreamId::Screenshare(_), MediaKind::Video) => 2,
        (StreamId::Screenshare(_), MediaKind::Audio) => 3,
    }
}

/// Why a subscription's video layer changed (the `reason` label of the layer switch counter).
/// The core switches only on a keyframe of the target (STYLE.md rule 7); the shell classifies
/// each switch against the layer the subscription forwarded before.
pub const LAYER_SWITCH_REASONS: [&str; 3] = ["start", "up", "down"];

/// The index in [`LAYER_SWITCH_REASONS`] of a switch from `before` to `after`: `start` when
/// nothing was forwarded before (a new subscription, a resume after a pause) or the same layer
/// starts again (after a route change), else `up` or `down` by (spatial, temporal) order.
pub fn layer_switch_reason(before: Option<Layer>, after: Layer) -> usize {
    match before {
        Some(b) if after > b => 1,
        Some(b) if after < b => 2,
        _ => 0,
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
    /// Publications by [`PUBLICATION_KINDS`] index.
    pub publications_by_kind: [usize; 4],
    /// Subscriptions by the [`PUBLICATION_KINDS`] index of their publication.
    pub subscriptions_by_kind: [usize; 4],
    /// Subscriptions forwarding nothing now: paused by their subscriber, or no layer fits the
    /// downlink's bandwidth (the core's target is none).
    pub paused_subscriptions: usize,
    /// Video layer switches by [`LAYER_SWITCH_REASONS`] index.
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
    /// Telemetry events (speaker samples) the async side was too slow to take (their channel
    /// was full). Control events are never dropped.
    pub events_dropped: u64,
    /// The forwarding cores' counters, summed over every room the shard has run.
    pub core: CoreStats,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ShardError>>;

#[derive(Debug)]
pub(crate) enum Command {
    AddParticipant {
        room: RoomId,
        participant: ParticipantId,
        reply: Reply<()>,
    },
    PublisherOffer {
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<AnnouncedTrack>,
        reply: Reply<String>,
    },
    SetPreferences {
        participant: ParticipantId,
        preferences: Vec<Preference>,
        reply: Reply<()>,
    },
    UpdateSubscriptions {
        participant: ParticipantId,
        add: Vec<PublicationId>,
        remove: Vec<SubscriptionId>,
        reply: Reply<Option<SubscriberOffer>>,
    },
    SubscriberAnswer {
        participant: ParticipantId,
        sdp: String,
        reply: Reply<Vec<Subscribed>>,
    },
    InstallPolicy {
        room: RoomId,
        policy: ForwardingPolicy,
        reply: Reply<u64>,
    },
    RemoveParticipant {
        participant: ParticipantId,
        reply: Reply<()>,
    },
    Stats {
        reply: Reply<ShardStats>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// A cheap, cloneable handle to one shard thread.
#[derive(Debug, Clone)]
pub struct ShardHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) local_addr: SocketAddr,
}

impl ShardHandle {
    /// The media UDP address the shard bound (with `--rtc-port 0`, the ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ShardError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ShardError::ShardGone)?;
        rx.await.map_err(|_| ShardError::ShardGone)?
    }

    /// Places a participant in `room` on this shard (the room is created with its first
    /// participant and removed with its last).
    pub async fn add_participant(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::AddParticipant {
            room,
            participant,
            reply,
        })
        .await
    }

    /// Applies the client's publisher-transport offer and returns the shard's answer (with
    /// `a=rid:… recv` / `a=simulcast:recv` for simulcast video). `tracks` names the stream
    /// of each m-line (`publish_tracks`); an m-line not named there is taken in order: the
    /// first audio and video are the camera stream, later ones screenshares.
    pub async fn publisher_offer(
        &self,
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<AnnouncedTrack>,
    ) -> Result<String, ShardError> {
        self.call(|reply| Command::PublisherOffer {
            participant,
            sdp,
            tracks,
            reply,
        })
        .await
    }

    /// Sets what a subscriber wants of some of its subscriptions (`set_subscription_preferences`).
    /// A subscription that is not the participant's is `UnknownPublication`, and then none of
    /// the preferences is applied.
    pub async fn set_preferences(
        &self,
        participant: ParticipantId,
        preferences: Vec<Preference>,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::SetPreferences {
            participant,
            preferences,
            reply,
        })
        .await
    }

    /// Adds m-lines for `add` and removes the subscriptions in `remove`; returns the server
    /// offer to send to the client, or `None` when nothing changed. Subscriptions come into
    /// being when the answer is applied ([`ShardHandle::subscriber_answer`]); removed ones stop
    /// forwarding at once.
    pub async fn update_subscriptions(
        &self,
        participant: ParticipantId,
        add: Vec<PublicationId>,
        remove: Vec<SubscriptionId>,
    ) -> Result<Option<SubscriberOffer>, ShardError> {
        self.call(|reply| Command::UpdateSubscriptions {
            participant,
            add,
            remove,
            reply,
        })
        .await
    }

    /// Applies the client's answer to the last subscriber offer.
    pub async fn subscriber_answer(
        &self,
        participant: ParticipantId,
        sdp: String,
    ) -> Result<Vec<Subscribed>, ShardError> {
        self.call(|reply| Command::SubscriberAnswer {
            participant,
            sdp,
            reply,
        })
        .await
    }

    /// Installs a forwarding policy for a room. The reply (the installed version) comes after
    /// the install was applied between two packet batches: the ack of spec §13.3.
    pub async fn install_policy(
        &self,
        room: RoomId,
        policy: ForwardingPolicy,
    ) -> Result<u64, ShardError> {
        self.call(|reply| Command::InstallPolicy {
            room,
            policy,
            reply,
        })
        .await
    }

    /// Removes a participant: both transports, its publications (and every subscription to
    /// them) and its subscriptions.
    pub async fn remove_participant(&self, participant: ParticipantId) -> Result<(), ShardError> {
        self.call(|reply| Command::RemoveParticipant { participant, reply })
            .await
    }

    pub async fn stats(&self) -> Result<ShardStats, ShardError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// Stops the shard thread (after the reply, the socket is closed).
    pub async fn shutdown(&self) -> Result<(), ShardError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A switch is `start` with nothing forwarded before or the same layer again, else `up` or
    // `down` by spatial layer first, then temporal.
    #[test]
    fn layer_switch_reasons_follow_the_layer_order() {
        let layer = |spatial, temporal| Layer { spatial, temporal };
        let reason = |before, after| LAYER_SWITCH_REASONS[layer_switch_reason(before, after)];
        assert_eq!(reason(None, layer(2, 0)), "start");
        assert_eq!(reason(Some(layer(1, 2)), layer(1, 2)), "start");
        assert_eq!(reason(Some(layer(0, 2)), layer(1, 0)), "up");
        assert_eq!(reason(Some(layer(1, 0)), layer(1, 1)), "up");
        assert_eq!(reason(Some(layer(2, 0)), layer(1, 2)), "down");
    }
}
