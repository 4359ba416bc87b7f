//! What happened in a room, for the server's webhooks (issue 18): a [`Notice`] is queued at
//! the one place in the rules where each thing happens (admission, removal, relocation, a
//! breakout run starting or finishing, a knock, the room session starting or ending), so the
//! webhook stream cannot disagree with what the participants were told. The room actor drains
//! them with [`crate::control::Room::poll_notice`] after each input.

use crate::core::{Location, ParticipantId};
use signalling_proto::{EndReason, LeaveReason, RelocationReason, Role};

/// One thing that happened, in the order it happened within the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The first admission of a room session (spec §5.2).
    RoomStarted {
        room_session_id: String,
    },
    /// The room session ended: nobody is admitted or waiting.
    RoomEnded {
        room_session_id: String,
    },
    ParticipantJoined {
        participant: ParticipantId,
        identity: String,
        name: String,
        role: Role,
    },
    ParticipantLeft {
        participant: ParticipantId,
        identity: String,
        reason: LeaveReason,
    },
    /// A relocation between `MAIN` and breakout sessions (spec §13.3).
    ParticipantMoved {
        participant: ParticipantId,
        from: Location,
        to: Location,
        reason: RelocationReason,
    },
    BreakoutStarted {
        run_id: u64,
    },
    BreakoutEnded {
        run_id: u64,
        reason: EndReason,
    },
    /// Someone entered the waiting room.
    Knock {
        participant: ParticipantId,
        name: String,
    },
}

impl crate::control::Room {
    /// The next notice, in order; `None` when drained.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    pub(crate) fn notice(&mut self, notice: Notice) {
        self.notices.push_back(notice);
    }
}
