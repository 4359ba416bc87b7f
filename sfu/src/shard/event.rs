//! `ShardEvent`: what a shard tells the async side unprompted, and the shard's end of the
//! channel that carries it.

use tokio::sync::mpsc;

use super::room_id::RoomId;
use super::transport::Transport;
use crate::core::{Codec, Layer, ParticipantId, PublicationId, StreamRef, SubscriptionId};

/// What the shard tells the async side, unprompted.
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

/// The shard's end of the event channel.
#[derive(Debug)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<ShardEvent>,
    /// Events the async side was too slow to take (`ShardStats::events_dropped`).
    dropped: u64,
}

impl EventSender {
    /// A channel holding up to `capacity` events (at least one).
    pub fn channel(capacity: usize) -> (EventSender, mpsc::Receiver<ShardEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (EventSender { tx, dropped: 0 }, rx)
    }

    pub fn emit(&mut self, event: ShardEvent) {
        // The media loop never waits for the async side: a full channel drops the event and
        // counts it.
        if self.tx.try_send(event).is_err() {
            self.dropped += 1;
        }
    }

    /// How many events were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
