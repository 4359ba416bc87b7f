//! The server API's requests (issue 18) as the actor serves them.

use std::time::Instant;

use signalling_proto::Command;

use super::RoomActor;
use crate::room::api_input::{ApiInput, RoomDescription};

impl RoomActor {
    /// A request of the server API: commands run as [`control::SYSTEM`], their response is
    /// the reply, and their effects run exactly as a host's command's do.
    pub(super) async fn handle_api(&mut self, now: Instant, input: ApiInput) {
        match input {
            ApiInput::Command { command, reply } => {
                let result = self.room.handle_system_command(now, command);
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::Remove { id, reason, reply } => {
                self.removal_reason = reason.map(|reason| (id.clone(), reason));
                let command = Command::KickParticipant(signalling_proto::ParticipantArgs {
                    participant_id: id,
                });
                let result = self.room.handle_system_command(now, command);
                self.refresh_routes();
                self.execute_effects(now).await;
                self.removal_reason = None;
                let _ = reply.send(result);
            }
            ApiInput::Rename { id, args, reply } => {
                let result = self.room.system_rename(now, &id, args);
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::End { reply } => {
                let command = Command::EndMeeting(signalling_proto::EndMeetingArgs::default());
                let result = self.room.handle_system_command(now, command);
                self.held = false;
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::Describe { reply } => {
                let _ = reply.send(RoomDescription {
                    name: self.name.clone(),
                    policy: self.room.policy().clone(),
                    held: self.held,
                    session_id: self.room.room_session_id().map(str::to_owned),
                    view: self.room.system_view(now),
                });
            }
            ApiInput::Participant { id, reply } => {
                let _ = reply.send(self.room.participant_for_system(&id));
            }
        }
    }
}
