//! Participant roles (spec §4.1).

use serde::{Deserialize, Serialize};

/// The role of an admitted participant, as `roleName` on the wire (spec §4.1).
///
/// The spec's `none` (before admission) never appears in a message, so it has no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manager: locks, kicks, moderates, runs breakouts. Bypasses the lock.
    Host,
    /// Normal participant; must knock when the room is locked.
    Visitor,
    /// A `visitor` admitted through the waiting room.
    GrantedVisitor,
    /// Receive-only person; can chat.
    Viewer,
    /// A `viewer` admitted through the waiting room (only with `viewersMustKnock`).
    GrantedViewer,
    /// The cloud-recording client; receive-only, always in `MAIN`.
    Recorder,
    /// The live-stream client; receive-only, always in `MAIN`.
    Streamer,
}

impl Role {
    /// Person roles may chat, join breakouts and appear as people; service roles may not
    /// (spec §4.2).
    pub fn is_person(self) -> bool {
        !matches!(self, Role::Recorder | Role::Streamer)
    }

    /// Roles that may publish camera, microphone and screenshare (spec §4.2).
    pub fn may_publish(self) -> bool {
        matches!(self, Role::Host | Role::Visitor | Role::GrantedVisitor)
    }
}
