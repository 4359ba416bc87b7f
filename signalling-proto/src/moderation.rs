//! Host moderation: lock, kick, end, remote mute, spotlights (spec §8.3).

use crate::{ParticipantId, StreamId};
use serde::{Deserialize, Serialize};

/// `set_lock` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetLockArgs {
    pub locked: bool,
}

/// Arguments naming one participant: `kick_participant`, `clear_sticky_reaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParticipantArgs {
    pub participant_id: ParticipantId,
}

/// `end_meeting` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndMeetingArgs {
    /// `true`: the caller stays and the room session continues. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stay_behind: Option<bool>,
}

/// `request_audio_enable` / `request_video_enable` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestEnableArgs {
    /// 1..=200 admitted participants; the command is atomic.
    pub participant_ids: Vec<ParticipantId>,
    /// `false` is a server mute; `true` only asks ("ask to speak").
    pub enable: bool,
}

/// `add_spotlight` / `remove_spotlight` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpotlightArgs {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
}

// ---- events (§9.1) ----

/// `audio_enable_requested` / `video_enable_requested`, to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableRequested {
    pub requested_by: ParticipantId,
    pub enable: bool,
}

/// `spotlight_added` / `spotlight_removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpotlightChanged {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    pub by: ParticipantId,
}
