//! `ShardEvent`: what a shard tells the async side unprompted, and the two paths that carry it
//! (STYLE.md rule 16: control never drops; telemetry may).
//!
//! * **Control** ([`ShardEvent::is_control`]): events that change what a room knows (a
//!   transport connected or failed, a publication appeared, a subscription ended, what a
//!   subscription forwards). They go through an unbounded channel: the media loop never
//!   waits for the async side and never loses one. The queue cannot grow without bound
//!   because the events are bounded by what authenticated participants do: each one follows
//!   a shard command a participant admitted to a room caused (a participant added, a
//!   publisher offer or subscriber answer applied) or the end of something such a command
//!   created, at most once per transport (connected, failed), per published track
//!   (publication added) and per subscription (ended); a subscription's forwarding changes
//!   only on a keyframe of the target layer or an allocator decision, so at most once per
//!   keyframe its publisher sends. And the room actor drains them as fast as they come: it
//!   handles each in microseconds without awaiting anything.
//! * **Telemetry** (speaker samples, every 500 ms per room): a bounded channel of
//!   [`ShardConfig::event_capacity`](super::ShardConfig::event_capacity) events. When it is
//!   full the sample is dropped and counted (`ShardStats::events_dropped`); the next sample
//!   supersedes it.

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::room_id::RoomId;
use super::transport_kind::TransportKind;
use crate::core::{Codec, Layer, ParticipantId, PublicationId, StreamRef, SubscriptionId};

/// What the shard tells the async side, unprompted: control events, which are never dropped,
/// and telemetry, which may be (see [`ShardEvent::is_control`]).
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
        transport: TransportKind,
    },
    /// A transport failed (str0m error, panic, or ICE gave up) and was dropped with its
    /// publications or subscriptions; the participant stays on the shard.
    TransportFailed {
        room: RoomId,
        participant: ParticipantId,
        transport: TransportKind,
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

/// The shard's end of the two event paths.
#[derive(Debug)]
pub(crate) struct EventSender {
    control: mpsc::UnboundedSender<ShardEvent>,
    telemetry: mpsc::Sender<ShardEvent>,
    /// Telemetry events the async side was too slow to take (`ShardStats::events_dropped`).
    dropped: u64,
}

impl EventSender {
    /// The two paths, with room for `telemetry_capacity` telemetry events (at least one).
    pub(crate) fn channel(telemetry_capacity: usize) -> (EventSender, ShardEvents) {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (telemetry, telemetry_rx) = mpsc::channel(telemetry_capacity.max(1));
        (
            EventSender {
                control,
                telemetry,
                dropped: 0,
            },
            ShardEvents {
                control: control_rx,
                telemetry: telemetry_rx,
            },
        )
    }

    /// Sends `event` without waiting: control events are always queued, telemetry is
    /// dropped and counted when its channel is full.
    pub(crate) fn emit(&mut self, event: ShardEvent) {
        if event.is_control() {
            // A closed receiver means the server is stopping: nobody is left to tell.
            let _ = self.control.send(event);
        } else if let Err(mpsc::error::TrySendError::Full(_)) = self.telemetry.try_send(event) {
            self.dropped += 1;
        }
    }

    /// How many telemetry events were dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The async side's end: every event of one shard, control events first.
#[derive(Debug)]
pub struct ShardEvents {
    control: mpsc::UnboundedReceiver<ShardEvent>,
    telemetry: mpsc::Receiver<ShardEvent>,
}

impl ShardEvents {
    /// The next event, control before telemetry; `None` once the shard has stopped and
    /// everything it sent was taken.
    pub async fn recv(&mut self) -> Option<ShardEvent> {
        tokio::select! {
            biased;
            Some(event) = self.control.recv() => Some(event),
            Some(event) = self.telemetry.recv() => Some(event),
            else => None,
        }
    }

    /// The next event if one is waiting, control before telemetry.
    pub fn try_recv(&mut self) -> Result<ShardEvent, TryRecvError> {
        match self.control.try_recv() {
            Ok(event) => Ok(event),
            Err(control) => match self.telemetry.try_recv() {
                Ok(event) => Ok(event),
                // Disconnected only when both ends are gone.
                Err(TryRecvError::Disconnected) if control == TryRecvError::Disconnected => {
                    Err(TryRecvError::Disconnected)
                }
                Err(_) => Err(TryRecvError::Empty),
            },
        }
    }
}
