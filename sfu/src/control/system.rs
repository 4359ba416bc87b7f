//! The server API's way into a room (issue 18): a backend acts as [`SYSTEM`], a host that is
//! never admitted, through the same command handlers the hosts' sockets reach. The API is one
//! more caller of the rules, not a second copy of them: the system passes the same argument,
//! state and target checks, gets the same error codes, and its commands cause the same
//! effects (policy install first, then the events).

use crate::control::errors::{forbidden, participant_not_found};
use crate::control::participant::{Connection, Participant};
use crate::control::wire_id::participant_from_wire;
use crate::control::Room;
use crate::core::{Location, ParticipantId};
use signalling_proto::{
    Capabilities, Command, CommandName, CommandResult, ErrorBody, ParticipantView, Role, RoomView,
    Secret,
};
use std::time::Instant;

/// The participant id the server API acts under: `p0` on the wire (in `by`, `senderId`,
/// `requestedBy`). Rooms mint ids from 1, so no participant ever has it.
pub const SYSTEM: ParticipantId = ParticipantId(0);

/// The display name of the system in chat messages and breakout broadcasts.
pub const SYSTEM_NAME: &str = "System";

/// The commands the server API may send: a host's moderation, chat and breakout management.
/// A participant's own media, hand, screenshare, edit lock and self-moves are not the system's.
pub fn system_may_send(name: CommandName) -> bool {
    use CommandName as C;
    matches!(
        name,
        C::HandleKnock
            | C::SetLock
            | C::KickParticipant
            | C::EndMeeting
            | C::RequestAudioEnable
            | C::RequestVideoEnable
            | C::ClearStickyReaction
            | C::AddSpotlight
            | C::RemoveSpotlight
            | C::SendChatMessage
            | C::RemoveChatMessage
            | C::StartCloudRecording
            | C::StopCloudRecording
            | C::StartLiveStream
            | C::StopLiveStream
            | C::StartLiveTranscription
            | C::StopLiveTranscription
            | C::BreakoutEnable
            | C::BreakoutDisable
            | C::BreakoutGet
            | C::BreakoutConfigure
            | C::BreakoutCreateSessions
            | C::BreakoutRenameSession
            | C::BreakoutDeleteSession
            | C::BreakoutClearSessions
            | C::BreakoutSetSessionOpen
            | C::BreakoutAssign
            | C::BreakoutAutoAssign
            | C::BreakoutStart
            | C::BreakoutEnd
            | C::BreakoutCancelAutoEnd
            | C::BreakoutExtendAutoEnd
            | C::BreakoutMove
            | C::BreakoutAskAllToReturn
            | C::BreakoutBroadcast
    )
}

/// The system's stand-in participant: a host in `MAIN` with no connection.
pub(crate) fn system_participant(at: Instant) -> Participant {
    Participant {
        id: SYSTEM,
        identity_key: String::new(),
        display_name: SYSTEM_NAME.to_owned(),
        role: Role::Host,
        external_id: None,
        is_dial_in: false,
        capabilities: Capabilities {
            breakouts: true,
            screenshare: false,
        },
        audio_enabled: false,
        video_enabled: false,
        host_muted_audio: false,
        screenshares: Vec::new(),
        sticky_reaction: None,
        connection: Connection::Reconnecting { since: at },
        joined_at: at,
        location: Location::Main,
        resume_token: Secret(String::new()),
    }
}

impl Room {
    /// Applies one command of the server API as [`SYSTEM`]. Arguments are checked as for a
    /// socket; a command outside [`system_may_send`] is `forbidden`. The system has no rate
    /// limit on commands (the API is authenticated with the server's own secret), but the
    /// per-command limits the handlers apply (chat) hold for it as for anyone.
    pub fn handle_system_command(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        if let Err(details) = command.check_arguments() {
            return Err(ErrorBody::invalid_argument(&details, details.describe()));
        }
        if !system_may_send(command.name()) {
            return Err(forbidden());
        }
        // `end_meeting` would make the caller leave; the system was never in the room.
        let command = match command {
            Command::EndMeeting(mut args) => {
                args.stay_behind = Some(true);
                Command::EndMeeting(args)
            }
            other => other,
        };
        self.last_input_at = now;
        let result = self.dispatch_as(now, SYSTEM, command);
        self.settle(now, result.is_ok());
        result
    }

    /// The server API renames an admitted participant (`set_display_name`'s rule and event;
    /// the participant's own metadata rate limit is not charged for it).
    pub fn system_rename(
        &mut self,
        now: Instant,
        id: &signalling_proto::ParticipantId,
        args: signalling_proto::SetDisplayNameArgs,
    ) -> Result<signalling_proto::Changed, ErrorBody> {
        let target = self.resolve_target(id)?;
        self.last_input_at = now;
        let result = self.rename(now, target, args, false);
        self.settle(now, result.is_ok());
        result
    }

    /// The room as a host sees it (participants with their assignments, knockers).
    pub fn system_view(&self, now: Instant) -> RoomView {
        self.room_view(now, &self.system)
    }

    /// One admitted participant as a host sees it; a knocker is `participant_waiting`,
    /// anything else `participant_not_found`.
    pub fn participant_for_system(
        &self,
        id: &signalling_proto::ParticipantId,
    ) -> Result<ParticipantView, ErrorBody> {
        let target = self.resolve_target(id)?;
        let p = self
            .state
            .participants
            .get(&target)
            .ok_or_else(participant_not_found)?;
        Ok(self.participant_view(p, &self.system))
    }

    /// The policy the room was created with.
    pub fn policy(&self) -> &crate::control::RoomPolicy {
        &self.policy
    }

    /// The room session's id, if one is running.
    pub fn room_session_id(&self) -> Option<&str> {
        self.state.room_session.as_ref().map(|s| s.id.as_str())
    }

    /// Whether `id` names an admitted participant (for the API's 404s).
    pub fn is_admitted(&self, id: &signalling_proto::ParticipantId) -> bool {
        participant_from_wire(id).is_some_and(|id| self.state.participants.contains_key(&id))
    }
}
