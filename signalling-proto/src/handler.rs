//! Which part of the server answers each command: the one routing table (DECISIONS.md §10).
//! The room actor sends media commands to the room's media (the shard that owns the peer),
//! after the room's rules checked the caller; the rules answer the rest.

use crate::CommandName;

/// Who answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    /// The first frames of a socket (spec §8.1): admission to the room, before a participant
    /// exists to run commands.
    Admission,
    /// The room's meeting rules (`control::Room`).
    Room,
    /// Media negotiation and subscription preferences: the room's media, on its shard.
    Media,
}

impl CommandName {
    /// Which part of the server answers this command.
    pub fn handler(self) -> Handler {
        use CommandName as C;
        match self {
            C::JoinRoom | C::KnockRoom | C::CancelKnock | C::Resume => Handler::Admission,
            C::PublisherOffer
            | C::PublishTracks
            | C::UnpublishTracks
            | C::SubscriberAnswer
            | C::IceCandidate
            | C::SetSubscriptionPreferences => Handler::Media,
            _ => Handler::Room,
        }
    }
}
