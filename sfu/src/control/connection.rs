//! Signalling connections (sockets) as the room sees them (spec §6.1, §7).

use crate::core::ParticipantId;
use std::fmt;

/// One signalling socket, numbered by the shell. Before admission a socket has no participant;
/// `join_room`, `knock_room`, `cancel_knock` and `resume` are the only commands it may send
/// (spec §6.1). After a `resume` the participant continues on a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What a connection is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// `join_room` answered `room_locked`: the id is reserved for `knock_room` (spec §8.1
    /// check 6), together with the already verified identity.
    Reserved(Box<crate::control::waiting_room::Reservation>),
    /// In the waiting room under this id.
    Knocking(ParticipantId),
    /// An admitted participant's current connection.
    Admitted(ParticipantId),
}
