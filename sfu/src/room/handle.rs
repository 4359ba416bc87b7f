//! How the rest of the server reaches a room: the [`RoomHandle`] the connections and the
//! server API hand their inputs to, the [`RoomInput`]s it queues for the actor, and what the
//! room sends back to a socket ([`ConnectionLink`], [`Outgoing`], [`Handled`]).
//!
//! Every input waits for room in the actor's bounded inbox (backpressure); the answer comes on
//! a oneshot, `None` when the actor has already stopped.

use std::sync::Arc;

use signalling_proto::{
    Command, CommandResult, ErrorBody, EventName, JoinRoomArgs, ParticipantView, ReqId,
};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::control::{ConnectionId, VerifiedClaims};
use crate::room::api_input::{ApiInput, RoomDescription};
use crate::room::recording::RecorderEvent;
use crate::room::transcription::TranscriberEvent;
use crate::shard::ShardEvent;

/// What a session's writer is asked to put on its socket, in order.
#[derive(Debug)]
pub enum Outgoing {
    /// One encoded server frame other than an event (a response).
    Text(String),
    /// One encoded event frame and its name, which the session counts once written
    /// (`sfu_signalling_events_total`).
    Event { name: EventName, frame: String },
    /// Close the socket with this code and reason after the frames before it.
    Close { code: u16, reason: &'static str },
}

/// The room's way to reach one socket.
#[derive(Debug, Clone)]
pub struct ConnectionLink {
    pub id: ConnectionId,
    /// Bounded: a full queue means a client too slow to keep up.
    pub outgoing: mpsc::Sender<Outgoing>,
    /// Fired when the queue overflowed: the session closes at once (it cannot be queued).
    pub overflowed: Arc<Notify>,
}

/// The answer a session waits for after each input it hands to the room. The response frame
/// itself went into the connection's outgoing queue ahead of the events it caused (spec §6.3);
/// this only says whether the socket is still bound to the room afterwards (admitted, knocking
/// or holding a `room_locked` reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    pub bound: bool,
}

/// A message to a room actor.
#[derive(Debug)]
pub(super) enum RoomInput {
    /// `join_room` with a verified `{token}` credential.
    Join {
        link: ConnectionLink,
        req_id: ReqId,
        args: JoinRoomArgs,
        claims: VerifiedClaims,
        reply: oneshot::Sender<Handled>,
    },
    /// Any other command (including `join_room` with a knock grant).
    Command {
        link: ConnectionLink,
        req_id: ReqId,
        command: Command,
        reply: oneshot::Sender<Handled>,
    },
    /// The socket is gone.
    Disconnect { connection: ConnectionId },
    /// Something happened on the room's media shard (control events come on their own queue,
    /// telemetry through the inbox).
    Media(ShardEvent),
    /// Another node owns the room with a newer epoch: close every socket with
    /// [`CLOSE_ROOM_MOVED`](crate::room::CLOSE_ROOM_MOVED) and stop at once (no reconnect
    /// grace, no resume here).
    Fence,
    /// A request of the server API (issue 18).
    Api(ApiInput),
    /// What the room's recorder number `generation` reports.
    Recorder {
        generation: u64,
        event: RecorderEvent,
    },
    /// What the room's transcriber number `generation` reports.
    Transcriber {
        generation: u64,
        event: TranscriberEvent,
    },
}

/// A cheap handle to a running room actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    pub(super) name: Arc<str>,
    /// Tells this actor apart from a later one under the same name.
    pub(super) instance: u64,
    /// The cluster placement this actor runs under (0 without a cluster).
    pub(super) epoch: u64,
    pub(super) inbox: mpsc::Sender<RoomInput>,
    /// The room's shard control events: unbounded, so delivering one never waits
    /// ([`RoomRegistry::dispatch_shard_event`](crate::room::RoomRegistry::dispatch_shard_event)).
    pub(super) shard_events: mpsc::UnboundedSender<ShardEvent>,
}

impl RoomHandle {
    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a verified `join_room` to the room. `None` when the actor has already stopped.
    pub async fn join(
        &self,
        link: ConnectionLink,
        req_id: ReqId,
        args: JoinRoomArgs,
        claims: VerifiedClaims,
    ) -> Option<Handled> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Join {
            link,
            req_id,
            args,
            claims,
            reply,
        };
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Hands a command to the room. `None` when the actor has already stopped.
    pub async fn command(
        &self,
        link: ConnectionLink,
        req_id: ReqId,
        command: Command,
    ) -> Option<Handled> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Command {
            link,
            req_id,
            command,
            reply,
        };
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Tells the room the socket is gone (the room decides about grace and resume).
    pub async fn disconnect(&self, connection: ConnectionId) {
        // A stopped actor has nothing left to tell.
        let _ = self.inbox.send(RoomInput::Disconnect { connection }).await;
    }

    /// Runs `command` as the server API ([`control::SYSTEM`](crate::control::SYSTEM)). `None`
    /// when the actor has already stopped.
    pub async fn system_command(
        &self,
        command: Command,
    ) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Command { command, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// The room as the API describes it. `None` when the actor has already stopped.
    pub async fn describe(&self) -> Option<RoomDescription> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Describe { reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// One admitted participant as a host sees it. `None` when the actor has already stopped.
    pub async fn participant(
        &self,
        id: signalling_proto::ParticipantId,
    ) -> Option<Result<ParticipantView, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Participant { id, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Removes (kicks) a participant as the system; `reason` goes into the `participant_left`
    /// webhook. `None` when the actor has already stopped.
    pub async fn remove(
        &self,
        id: signalling_proto::ParticipantId,
        reason: Option<String>,
    ) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Remove { id, reason, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Renames a participant as the system. `None` when the actor has already stopped.
    pub async fn rename(
        &self,
        id: signalling_proto::ParticipantId,
        args: signalling_proto::SetDisplayNameArgs,
    ) -> Option<Result<signalling_proto::Changed, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Rename { id, args, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Ends the meeting for everybody and lets the room stop once it is empty. `None` when
    /// the actor has already stopped.
    pub async fn end(&self) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::End { reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }
}
