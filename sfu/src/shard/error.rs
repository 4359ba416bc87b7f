//! `ShardError`: why a shard command failed.

use std::fmt;

/// Errors a command can answer with. All are caused by the caller or the client's SDP; none
/// stops the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// The participant is not on this shard.
    UnknownParticipant,
    /// The participant is already on this shard.
    ParticipantExists,
    /// No room with this id is on the shard.
    UnknownRoom,
    /// A publication or subscription id the room does not know.
    UnknownPublication,
    /// The client's SDP could not be parsed or applied.
    BadSdp(String),
    /// A subscriber offer is still waiting for its answer (one renegotiation at a time).
    OfferPending,
    /// An answer arrived with no offer outstanding.
    NoOfferPending,
    /// The participant's transport failed (str0m error or panic) and was dropped.
    TransportFailed(String),
    /// The shard thread has stopped.
    ShardGone,
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::UnknownParticipant => f.write_str("unknown participant"),
            ShardError::ParticipantExists => f.write_str("participant already on the shard"),
            ShardError::UnknownRoom => f.write_str("unknown room"),
            ShardError::UnknownPublication => f.write_str("unknown publication or subscription"),
            ShardError::BadSdp(e) => write!(f, "bad SDP: {e}"),
            ShardError::OfferPending => f.write_str("a subscriber offer awaits its answer"),
            ShardError::NoOfferPending => f.write_str("no subscriber offer is pending"),
            ShardError::TransportFailed(e) => write!(f, "transport failed: {e}"),
            ShardError::ShardGone => f.write_str("the shard has stopped"),
        }
    }
}

impl std::error::Error for ShardError {}
