//! What the rules' notices are called on the webhooks: one [`WebhookEvent`] per [`Notice`].

use crate::control::{self, Notice};
use crate::webhook::WebhookEvent;

/// The webhook event of one of the rules' notices.
pub(super) fn webhook_event(notice: Notice) -> WebhookEvent {
    use control::participant_to_wire as wire;
    match notice {
        Notice::RoomStarted { room_session_id } => WebhookEvent::RoomStarted { room_session_id },
        Notice::RoomEnded { room_session_id } => WebhookEvent::RoomEnded { room_session_id },
        Notice::ParticipantJoined {
            participant,
            identity,
            name,
            role,
        } => WebhookEvent::ParticipantJoined {
            participant_id: wire(participant),
            identity,
            name,
            role,
        },
        Notice::ParticipantLeft {
            participant,
            identity,
            reason,
        } => WebhookEvent::ParticipantLeft {
            participant_id: wire(participant),
            identity,
            reason,
            message: None,
        },
        Notice::ParticipantMoved {
            participant,
            from,
            to,
            reason,
        } => WebhookEvent::ParticipantMoved {
            participant_id: wire(participant),
            from: control::location_to_wire(from),
            to: control::location_to_wire(to),
            reason,
        },
        Notice::BreakoutStarted { run_id } => WebhookEvent::BreakoutStarted { run_id },
        Notice::BreakoutEnded { run_id, reason } => WebhookEvent::BreakoutEnded { run_id, reason },
        Notice::Knock { participant, name } => WebhookEvent::Knock {
            participant_id: wire(participant),
            name,
        },
    }
}
