//! The public view of a participant, its own media state and metadata (spec §5.3, §8.4, §9.1).

use crate::{Location, ParticipantId, Role, SessionId, StreamId, Timestamp};
use serde::{Deserialize, Serialize};

/// `ParticipantView`: the projection of a participant that other clients see (spec §5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParticipantView {
    pub id: ParticipantId,
    pub display_name: String,
    pub role_name: Role,
    pub external_id: Option<String>,
    pub is_dial_in: bool,
    /// A program in the meeting (role `assistant`, issue 20), as the seed SDK's `isAssistant`.
    /// Sent only when true, so person and recorder views are unchanged on the wire.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_assistant: bool,
    /// Server-authoritative audio gate (spec §13.7).
    pub is_audio_enabled: bool,
    /// Server-authoritative video gate (spec §13.7).
    pub is_video_enabled: bool,
    pub screenshares: Vec<ScreenshareView>,
    /// The raised hand, or `null`.
    pub sticky_reaction: Option<StickyReaction>,
    pub connection: ConnectionState,
    pub location: Location,
    /// The session this host monitors (spec §17.1), else `null`.
    pub monitoring: Option<SessionId>,
    /// The assigned session (`null` = unassigned). Present only in managers' views and in the
    /// participant's own projection (spec §5.3); absent otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::patch"
    )]
    pub breakout_assigned: Option<Option<SessionId>>,
}

/// One current screenshare of a participant (spec §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScreenshareView {
    pub stream_id: StreamId,
    pub has_audio_track: bool,
}

/// A raised hand or other sticky reaction (spec §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StickyReaction {
    /// 1-8 characters, default `"✋"` (spec §3).
    pub reaction: String,
    pub set_at: Timestamp,
}

/// Whether an admitted participant's transport is up (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    /// Transport lost; within the reconnect grace.
    Reconnecting,
}

// ---- commands (§8.4) ----

/// `set_audio_enabled` / `set_video_enabled` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEnabledArgs {
    pub enabled: bool,
}

/// `start_screenshare` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartScreenshareArgs {
    pub has_audio_track: bool,
}

/// `start_screenshare` result: the allocated `ss-<n>` id, which the client then uses to tag the
/// published screenshare tracks (`publish_tracks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartScreenshareResult {
    pub stream_id: StreamId,
}

/// `stop_screenshare` arguments; without `streamId` the caller's screenshare is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopScreenshareArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<StreamId>,
}

/// `set_display_name` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetDisplayNameArgs {
    /// 1-100 characters after trim, no control characters (spec §3).
    pub display_name: String,
}

/// `set_sticky_reaction` arguments. `reaction` is required; `null` lowers the hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetStickyReactionArgs {
    #[serde(deserialize_with = "crate::nullable::required")]
    pub reaction: Option<String>,
}

// ---- events (§9.1) ----

/// `audio_enabled` / `video_enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnabledChanged {
    pub participant_id: ParticipantId,
    pub enabled: bool,
    pub reason: EnabledReason,
}

/// Why a media flag changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnabledReason {
    /// The participant itself (`set_audio_enabled`).
    #[serde(rename = "self")]
    Own,
    /// A host mute (`request_audio_enable {enable: false}`).
    Host,
    /// Mute on return from a breakout session (spec §11.9).
    ReturnedToMain,
}

/// `client_metadata_received`: display name or sticky reaction changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientMetadataReceived {
    pub participant_id: ParticipantId,
    pub display_name: String,
    pub sticky_reaction: Option<StickyReaction>,
}

/// `screenshare_started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScreenshareStarted {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    pub has_audio_track: bool,
}

/// `screenshare_stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScreenshareStopped {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    pub reason: ScreenshareStopReason,
}

/// Why a screenshare stopped (spec §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenshareStopReason {
    /// `stop_screenshare`.
    #[serde(rename = "self")]
    Own,
    /// The track ended on the media side.
    TrackEnded,
    /// The publisher's transport was lost.
    Disconnected,
    /// The publisher moved and `stop_screenshare_on_move` is set (spec §13.4).
    LocationChanged,
}

/// `participant_connection_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParticipantConnectionChanged {
    pub participant_id: ParticipantId,
    pub connection: ConnectionState,
}
