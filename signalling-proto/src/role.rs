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
    /// A program in the meeting (issue 20): a service role that may publish audio, receives
    /// the media of its location, may be assigned to a breakout group by a host and may answer
    /// in chat; `isAssistant` in the roster. Any number per room.
    Assistant,
    /// The server's live transcriber (issue 20): receive-only, always in `MAIN`, hears the
    /// audio of every location (its captions go back to the speaker's location only). Joins
    /// only with the server's own token while a transcription is requested; at most one.
    Captioner,
}

impl Role {
    /// Person roles may chat, join breakouts and appear as people; service roles may not
    /// (spec §4.2).
    pub fn is_person(self) -> bool {
        !matches!(
            self,
            Role::Recorder | Role::Streamer | Role::Assistant | Role::Captioner
        )
    }

    /// Service roles of which a room holds at most one (spec §4.1): the recording and
    /// live-stream clients, tied to the room's recording and streaming states.
    pub fn is_unique(self) -> bool {
        matches!(self, Role::Recorder | Role::Streamer | Role::Captioner)
    }

    /// Roles a host may assign or move to a breakout session (spec §4.2 "be assigned/moved by
    /// a host"): every person, and assistants, so that a group can have its own assistant.
    pub fn is_movable(self) -> bool {
        self.is_person() || self == Role::Assistant
    }

    /// Roles that may send chat (to their own location): every person, and assistants, which
    /// answer in chat.
    pub fn may_chat(self) -> bool {
        self.is_person() || self == Role::Assistant
    }

    /// Roles that may publish camera, microphone and screenshare (spec §4.2).
    pub fn may_publish(self) -> bool {
        matches!(self, Role::Host | Role::Visitor | Role::GrantedVisitor)
    }

    /// Roles that may publish a microphone: the publishing roles and assistants (which publish
    /// audio only: no camera, no screenshare).
    pub fn may_publish_audio(self) -> bool {
        self.may_publish() || self == Role::Assistant
    }
}
