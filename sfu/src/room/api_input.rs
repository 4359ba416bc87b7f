//! The server API's requests into a room (issue 18) and the room as the API describes it.

use signalling_proto::{Command, CommandResult, ErrorBody, ParticipantView, RoomView};
use tokio::sync::oneshot;

use crate::control::RoomPolicy;

/// What the server API asks of a room: commands run as
/// [`control::SYSTEM`](crate::control::SYSTEM) through the same handlers as a host's, and
/// read-only views.
#[derive(Debug)]
pub(super) enum ApiInput {
    Command {
        command: Command,
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
    Describe {
        reply: oneshot::Sender<RoomDescription>,
    },
    Participant {
        id: signalling_proto::ParticipantId,
        reply: oneshot::Sender<Result<ParticipantView, ErrorBody>>,
    },
    /// `kick_participant`, with the backend's reason for the `participant_left` webhook.
    Remove {
        id: signalling_proto::ParticipantId,
        reason: Option<String>,
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
    /// A new display name for a participant.
    Rename {
        id: signalling_proto::ParticipantId,
        args: signalling_proto::SetDisplayNameArgs,
        reply: oneshot::Sender<Result<signalling_proto::Changed, ErrorBody>>,
    },
    /// `end_meeting` for everybody, and the room is no longer held open for the API.
    End {
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
}

/// A room as the server API describes it.
#[derive(Debug, Clone)]
pub struct RoomDescription {
    pub name: String,
    pub policy: RoomPolicy,
    /// Created through the API: kept open while empty, until ended through the API.
    pub held: bool,
    pub session_id: Option<String>,
    /// The host's view: every participant with its assignment, the knockers.
    pub view: RoomView,
}
