//! `Command`: what the async side asks of a shard thread, with the values those commands carry
//! and the oneshot each is answered on.

use std::net::SocketAddr;

use tokio::sync::oneshot;

use super::error::ShardError;
use super::room_id::RoomId;
use super::stats::ShardStats;
use super::transport_kind::TransportKind;
use crate::core::{
    ForwardingPolicy, Layer, ParticipantId, PublicationId, StreamRef, SubscriptionId,
};

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

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ShardError>>;

#[derive(Debug)]
/// A command that names a participant names its room too: participant ids are counted per
/// room, so two rooms on one shard may each have a `p1`.
pub(crate) enum Command {
    AddParticipant {
        room: RoomId,
        participant: ParticipantId,
        reply: Reply<()>,
    },
    PublisherOffer {
        room: RoomId,
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<AnnouncedTrack>,
        reply: Reply<String>,
    },
    SetPreferences {
        room: RoomId,
        participant: ParticipantId,
        preferences: Vec<Preference>,
        reply: Reply<()>,
    },
    UpdateSubscriptions {
        room: RoomId,
        participant: ParticipantId,
        add: Vec<PublicationId>,
        remove: Vec<SubscriptionId>,
        reply: Reply<Option<SubscriberOffer>>,
    },
    SubscriberAnswer {
        room: RoomId,
        participant: ParticipantId,
        sdp: String,
        reply: Reply<Vec<Subscribed>>,
    },
    InstallPolicy {
        room: RoomId,
        policy: ForwardingPolicy,
        reply: Reply<u64>,
    },
    RelayCandidate {
        room: RoomId,
        participant: ParticipantId,
        transport: TransportKind,
        addr: SocketAddr,
        reply: Reply<()>,
    },
    RemoveParticipant {
        room: RoomId,
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
