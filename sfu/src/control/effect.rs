//! What the room asks its shell to do (ARCHITECTURE.md §2-§3).

use crate::control::ConnectionId;
use crate::core::{ForwardingPolicy, ParticipantId};
use signalling_proto::Event;

/// One instruction for the room actor, drained with [`crate::control::Room::poll_effect`] and
/// executed in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Install this policy in the room's `MediaCore` and wait for the shard's ack before
    /// executing the effects after it (spec §13.3 steps 3-4, §13.9).
    InstallPolicy(ForwardingPolicy),
    /// Send `event` to each admitted participant in `to` (connected, or buffered for replay
    /// while reconnecting). The shell adds each recipient's own `seq` (spec §6.3).
    Send {
        to: Vec<ParticipantId>,
        event: Event,
    },
    /// Send `event` without a `seq` to a socket that is not admitted: a knocker (spec §8.2).
    SendToConnection {
        connection: ConnectionId,
        event: Event,
    },
    /// Close this socket after the effects before this one were sent.
    Close {
        connection: ConnectionId,
        reason: CloseReason,
    },
    /// The participant is gone (left, kicked, grace expired): drop its replay buffer and its
    /// media peers.
    Released { participant: ParticipantId },
    /// Ask a service to start: the recorder or streamer then joins with its service credential;
    /// transcription reports back through `handle_service_started` (spec §8.6).
    StartService {
        service: Service,
        target_id: Option<String>,
    },
    /// Stop a service (spec §8.6).
    StopService { service: Service },
    /// Nobody remains: the room session ended (spec §5.2, §9.1 `room_session_ended`, for
    /// webhooks and logs).
    RoomSessionEnded { room_session_id: String },
}

/// Why the room closes a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// `leave_room` (or `end_meeting` without `stayBehind` for the caller).
    Left,
    /// `kick_participant` (`client_kicked {reason: kick}` was sent first).
    Kicked,
    /// `end_meeting` (`client_kicked {reason: end_meeting}` was sent first).
    MeetingEnded,
    /// The knock was rejected (by a host, the knock timeout or `end_meeting`).
    KnockRejected,
    /// The participant resumed on another connection; this one is stale.
    Replaced,
    /// The recording or streaming service was stopped by a host.
    ServiceStopped,
}

/// A service whose state the room tracks (spec §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    CloudRecording,
    LiveStream,
    Transcription,
}
