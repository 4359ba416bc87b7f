//! Identifiers as they travel on the wire: opaque strings (spec §3).
//!
//! The server mints participant, session, stream and message ids; clients only echo them back.
//! A session id argument that is empty or over 64 bytes is `invalid_argument` (spec §14 #4,
//! [`Command::check_arguments`](crate::Command::check_arguments)); other ids of the wrong shape are
//! simply ids that do not exist.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A participant (or knocker: a knocker keeps its id when admitted). Server-minted, never
    /// reused within a room session (spec §3).
    ParticipantId
);
string_id!(
    /// A breakout session. Server-minted, never `""` (spec §3). `MAIN` is not a session id; it is
    /// [`crate::Location::Main`], JSON `null`.
    SessionId
);
string_id!(
    /// A participant's stream: `"camera"` for camera + microphone, `"ss-<n>"` for each
    /// screenshare (spec §3).
    StreamId
);
string_id!(
    /// A chat message. Server-minted and time-ordered (spec §3).
    MessageId
);
string_id!(
    /// The client's correlation id of one command; echoed in its response (spec §6.2).
    ReqId
);

impl StreamId {
    /// The camera + microphone stream every publishing participant has (spec §3).
    pub fn camera() -> Self {
        Self("camera".to_owned())
    }
}
