//! Joining, knocking and resuming (spec §7, §8.1, §8.2).

use crate::{ParticipantId, Secret, SessionId, Timestamp};
use serde::{Deserialize, Serialize};

/// `join_room` arguments (spec §8.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinRoomArgs {
    /// `[a-z0-9-]{1,64}`; see [`is_valid_room_name`].
    pub room_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// Defaults to the token's `name`, else `"Guest"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_dial_in: Option<bool>,
    pub capabilities: Capabilities,
    /// Initial camera/microphone flags (forced false for receive-only roles).
    pub media: MediaFlags,
    /// Only together with a knock grant bound to this id (else `invalid_argument`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_id: Option<ParticipantId>,
}

/// `credential`: exactly one of `{token}`, `{roomKey}`, `{grant}` (spec §8.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Credential {
    /// An HS256 JWT with claims `room`, `sub`, `role`, optional `name`, `externalId`, `exp`.
    Token(Secret),
    /// An ordinary room key.
    RoomKey(Secret),
    /// A one-time knock grant from `knock_handled {resolution: "accepted"}`.
    Grant(Secret),
}

/// What the client can do, declared at join (spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Understands breakout sessions; without it the client is never moved (`client_unsupported`).
    pub breakouts: bool,
    pub screenshare: bool,
}

/// Initial camera and microphone state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaFlags {
    pub audio: bool,
    pub video: bool,
}

/// `details` of the `room_locked` error: the id reserved on this socket for `knock_room`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomLockedDetails {
    pub self_id: ParticipantId,
    pub is_locked: bool,
}

/// `knock_room` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnockRoomArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// `resume` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeArgs {
    pub resume_token: Secret,
    /// The last event `seq` the client processed; replay starts after it.
    pub last_seq: u64,
    /// `true` when the client's media transports are gone (a reloaded page): the server drops
    /// the participant's publisher and subscriber transports and the client builds new ones,
    /// keeping its id, role and location (PROTOCOL.md §4.3). Left out: `false`, both
    /// transports are kept (a network blip).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new_transports: bool,
}

/// `handle_knock` arguments (spec §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HandleKnockArgs {
    pub participant_id: ParticipantId,
    pub action: KnockAction,
    /// 0-500 characters, shown to the knocker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Admit straight into this breakout session; only with `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_session_id: Option<SessionId>,
}

/// What a host does with a knocker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnockAction {
    Accept,
    Hold,
    Reject,
}

/// `KnockerView`: a waiting-room entry as hosts see it (spec §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnockerView {
    pub participant_id: ParticipantId,
    pub display_name: String,
    pub image_url: Option<String>,
    pub external_id: Option<String>,
    pub knocked_at: Timestamp,
    pub status: KnockerStatus,
}

/// Waiting-room status of a knocker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnockerStatus {
    Knocking,
    OnHold,
}

// ---- events (§9.1) ----

/// `room_knocked`, to hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomKnocked {
    pub participant_id: ParticipantId,
    pub display_name: String,
    pub image_url: Option<String>,
    pub external_id: Option<String>,
    pub knocked_at: Timestamp,
}

/// `knocker_left`, to hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnockerLeft {
    pub participant_id: ParticipantId,
    pub reason: KnockerLeftReason,
}

/// Why a knocker left the waiting room without being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnockerLeftReason {
    Cancelled,
    Disconnected,
    Timeout,
}

/// `knock_handled`. The knocker and the hosts get different shapes (spec §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KnockHandled {
    /// To hosts: who was handled and by whom (never the grant).
    ToHosts(KnockHandledForHosts),
    /// To the knocker itself (this event carries no `seq`).
    ToKnocker(KnockHandledForKnocker),
}

/// `knock_handled` as the knocker receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnockHandledForKnocker {
    pub resolution: KnockResolution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// With `accepted`: the one-time credential for `join_room {credential: {grant}}`, valid
    /// 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Secret>,
    /// Only for automatic handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<KnockHandledReason>,
}

/// `knock_handled` as hosts receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KnockHandledForHosts {
    pub participant_id: ParticipantId,
    pub resolution: KnockResolution,
    /// `null` for automatic handling.
    #[serde(deserialize_with = "crate::nullable::required")]
    pub handled_by: Option<ParticipantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<KnockHandledReason>,
}

/// Outcome of a knock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnockResolution {
    Accepted,
    OnHold,
    Rejected,
}

/// Why a knock was handled automatically (spec §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KnockHandledReason {
    RoomUnlocked,
    Timeout,
    MeetingEnded,
}

/// Spec §3: a room name is 1-64 characters of `[a-z0-9-]`.
pub fn is_valid_room_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Room names: lower-case ASCII letters, digits and '-', 1 to 64 of them.
    #[test]
    fn room_name_rule_of_spec_section_3() {
        assert!(is_valid_room_name("a"));
        assert!(is_valid_room_name("team-42"));
        assert!(is_valid_room_name(&"x".repeat(64)));
        assert!(!is_valid_room_name(""));
        assert!(!is_valid_room_name(&"x".repeat(65)));
        assert!(!is_valid_room_name("Team"));
        assert!(!is_valid_room_name("a_b"));
        assert!(!is_valid_room_name("a b"));
        assert!(!is_valid_room_name("é"));
    }
}
