//! Where a participant is: the main room or one breakout session (spec §0, §5.3).

use crate::SessionId;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

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
        // Not via `Option<SessionId>`: serde fills a missing `Option`-like field with `None`
        // (through `deserialize_option`), which would turn a forgotten `target` into `MAIN`.
        // `deserialize_any` makes a missing field an error.
        deserializer.deserialize_any(LocationVisitor)
    }
}

struct LocationVisitor;

impl<'de> Visitor<'de> for LocationVisitor {
    type Value = Location;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session id or null (MAIN)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Location, E> {
        Ok(Location::Main)
    }

    fn visit_none<E: de::Error>(self) -> Result<Location, E> {
        Ok(Location::Main)
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<Location, E> {
        Ok(Location::Session(SessionId::from(id)))
    }

    fn visit_string<E: de::Error>(self, id: String) -> Result<Location, E> {
        Ok(Location::Session(SessionId(id)))
    }
}

impl schemars::JsonSchema for Location {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Location".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Serialised by hand above: a session id, or `null` for `MAIN`.
        schemars::json_schema!({
            "description": "A breakout session id, or null for the main room (MAIN).",
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": 64
        })
    }
}
