//! The API's own request and response bodies. Everything a room already has a protocol type
//! for (participants, the room view, breakout arguments and results, errors) is that type:
//! the OpenAPI document takes their schemas from `signalling-proto`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use signalling_proto::{ArgumentReason, InvalidArgumentDetails, ParticipantView, RoomView};

use crate::control::RoomPolicy;
use crate::room::RoomDescription;

/// `POST /rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateRoomRequest {
    /// 1-64 characters of a-z, 0-9 and '-' (spec §3).
    pub name: String,
    /// This room's policy; each absent field is the server's configured value.
    #[serde(default)]
    pub policy: PolicySettings,
}

/// A room's policy (spec §5.1, §17.3). In a request every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PolicySettings {
    /// People per room, viewers not counted (1..=10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
    /// Viewers per room (1..=100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_viewers: Option<u32>,
    /// The room starts locked: newcomers knock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Viewers knock at a locked room like visitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewers_must_knock: Option<bool>,
    /// Seconds a dropped participant keeps its place for `resume` (1..=3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_grace_seconds: Option<u32>,
    /// Seconds a knocker waits before it is rejected; 0 waits forever (0..=86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knock_timeout_seconds: Option<u32>,
    /// Whether a participant a host muted may unmute itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_self_unmute: Option<bool>,
    /// Breakout sessions at most (1..=100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
}

impl PolicySettings {
    /// `base` with the fields set here; a value out of range names its field
    /// (`policy.maxParticipants`).
    pub(crate) fn apply(&self, base: &RoomPolicy) -> Result<RoomPolicy, InvalidArgumentDetails> {
        let mut policy = base.clone();
        let range = |field: &str, value: Option<u32>, min: u32, max: u32| match value {
            Some(v) if v < min || v > max => Err(InvalidArgumentDetails::out_of_range(
                format!("policy.{field}"),
                i64::from(v),
                i64::from(min),
                i64::from(max),
            )),
            _ => Ok(value),
        };
        if let Some(v) = range("maxParticipants", self.max_participants, 1, 10_000)? {
            policy.max_participants = v;
        }
        if let Some(v) = range("maxViewers", self.max_viewers, 1, 100_000)? {
            policy.max_viewers = v;
        }
        if let Some(v) = range(
            "reconnectGraceSeconds",
            self.reconnect_grace_seconds,
            1,
            3600,
        )? {
            policy.reconnect_grace = Duration::from_secs(v.into());
        }
        if let Some(v) = range("knockTimeoutSeconds", self.knock_timeout_seconds, 0, 86_400)? {
            policy.knock_timeout = (v > 0).then(|| Duration::from_secs(v.into()));
        }
        if let Some(v) = range("maxSessions", self.max_sessions, 1, 100)? {
            policy.max_sessions = v;
        }
        if let Some(v) = self.locked {
            policy.locked = v;
        }
        if let Some(v) = self.viewers_must_knock {
            policy.viewers_must_knock = v;
        }
        if let Some(v) = self.allow_self_unmute {
            policy.allow_self_unmute = v;
        }
        Ok(policy)
    }

    /// Every field of `policy`.
    pub(crate) fn of(policy: &RoomPolicy) -> Self {
        let seconds = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        Self {
            max_participants: Some(policy.max_participants),
            max_viewers: Some(policy.max_viewers),
            locked: Some(policy.locked),
            viewers_must_knock: Some(policy.viewers_must_knock),
            reconnect_grace_seconds: Some(seconds(policy.reconnect_grace)),
            knock_timeout_seconds: Some(policy.knock_timeout.map_or(0, seconds)),
            allow_self_unmute: Some(policy.allow_self_unmute),
            max_sessions: Some(policy.max_sessions),
        }
    }
}

/// One room in `GET /rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomSummary {
    pub name: String,
    /// The running room session (spec §5.2); `null` while nobody is in the room.
    pub session_id: Option<String>,
    /// Created through the API: kept open while empty until `DELETE /rooms/{room}`.
    pub kept_open: bool,
    pub is_locked: bool,
    pub participants: usize,
    pub knockers: usize,
}

/// `GET /rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomList {
    pub rooms: Vec<RoomSummary>,
}

/// `GET /rooms/{room}`, `POST /rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RoomDetails {
    pub summary: RoomSummary,
    pub policy: PolicySettings,
    /// The room as a host sees it: participants with their assignments, knockers, services.
    pub room: RoomView,
}

impl RoomSummary {
    pub(crate) fn of(description: &RoomDescription) -> Self {
        Self {
            name: description.name.clone(),
            session_id: description.session_id.clone(),
            kept_open: description.held,
            is_locked: description.view.is_locked,
            participants: description.view.participants.len(),
            knockers: description.view.knockers.len(),
        }
    }
}

impl RoomDetails {
    pub(crate) fn of(description: RoomDescription) -> Self {
        Self {
            summary: RoomSummary::of(&description),
            policy: PolicySettings::of(&description.policy),
            room: description.view,
        }
    }
}

/// `GET /rooms/{room}/participants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ParticipantList {
    pub participants: Vec<ParticipantView>,
}

/// `POST /rooms/{room}/participants/{participantId}/remove`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RemoveRequest {
    /// Why (logged, and the `message` of the `participant_left` webhook; at most 200
    /// characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Which media gate `mute` closes or asks to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MediaKind {
    Audio,
    Video,
}

/// `POST /rooms/{room}/participants/{participantId}/mute`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MuteRequest {
    pub kind: MediaKind,
    /// `true` closes the gate (a server mute); `false` asks the participant to unmute
    /// (`request_*_enable {enable: true}`, spec §8.3).
    pub muted: bool,
}

/// `POST /rooms/{room}/chat`: a message from the system (`senderId` `p0`) to `MAIN`, or with
/// `broadcast` to every scope.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ChatRequest {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<bool>,
}

/// `POST /rooms/{room}/tokens`: a join token for a program (or a person) the backend lets in.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The token's identity (`sub`): 1-256 characters.
    pub identity: String,
    /// The role; default `assistant` (a program in the meeting). `granted_*` come only through
    /// the waiting room and `captioner` is the server's own: both are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<signalling_proto::Role>,
    /// The display name used when the join gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seconds until the token expires: 1-86400, default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
}

/// A minted join token.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TokenIssued {
    pub token: String,
    pub role: signalling_proto::Role,
    pub expires_at: signalling_proto::Timestamp,
}

/// A removal reason is at most 200 characters.
pub(crate) fn check_reason(reason: Option<&str>) -> Result<(), InvalidArgumentDetails> {
    match reason {
        Some(text) if text.chars().count() > 200 => Err(InvalidArgumentDetails {
            max: Some(200),
            ..InvalidArgumentDetails::new("reason", ArgumentReason::TooLong)
        }),
        _ => Ok(()),
    }
}
