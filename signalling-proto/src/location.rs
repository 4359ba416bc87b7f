//! Where a participant is: the main room or one breakout session (spec §0, §5.3).

use crate::SessionId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `MAIN` or a breakout session. On the wire `MAIN` is JSON `null` and a session is its id
/// (spec §0).
///
/// A field of this type is required even though it may be `null`: a missing `target` in
/// `breakout_move` is `invalid_argument {reason: "missing"}`, never silently `MAIN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Location {
    /// The main room (`null`).
    #[default]
    Main,
    /// A breakout session.
    Session(SessionId),
}

impl Location {
    /// The session id, or `None` for `MAIN`.
    pub fn session(&self) -> Option<&SessionId> {
        match self {
            Location::Main => None,
            Location::Session(id) => Some(id),
        }
    }
}

impl From<Option<SessionId>> for Location {
    fn from(value: Option<SessionId>) -> Self {
        value.map_or(Location::Main, Location::Session)
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.session().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<SessionId>::deserialize(deserializer).map(Location::from)
    }
}
