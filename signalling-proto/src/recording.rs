//! Cloud recording, live stream and live transcription state (spec §5.6, §8.6, §9.2).
//!
//! Only the state is signalled; the pipelines are services that join as `recorder` / `streamer`.

use crate::{ParticipantId, StreamId, Timestamp};
use serde::{Deserialize, Serialize};

/// `room.recording` when not idle (idle is `null`, spec §5.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordingView {
    pub status: RecordingStatus,
    pub started_at: Option<Timestamp>,
    pub error: Option<String>,
    pub initiator: Option<ParticipantId>,
}

/// Non-idle recording states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    Requested,
    Recording,
    Error,
}

/// `room.liveStream` when not idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiveStreamView {
    pub status: LiveStreamStatus,
    pub started_at: Option<Timestamp>,
    pub error: Option<String>,
    pub initiator: Option<ParticipantId>,
}

/// Non-idle live-stream states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveStreamStatus {
    Requested,
    Streaming,
    Error,
}

/// `room.transcription` when not idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptionView {
    pub status: TranscriptionStatus,
    pub started_at: Option<Timestamp>,
    pub error: Option<String>,
    pub transcription_id: Option<String>,
}

/// Non-idle transcription states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptionStatus {
    Requested,
    Transcribing,
    Error,
}

/// `start_live_stream` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartLiveStreamArgs {
    /// The configured streaming destination.
    pub target_id: String,
}

// ---- events (§9.2) ----

/// `cloud_recording_started` and `live_stream_started`: `{startedAt}` on success or `{error}`
/// when the service failed (spec §8.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `live_transcription_started`: `{transcriptionId, startedAt}` or `{error}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptionStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `live_transcription_stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TranscriptionStopped {
    pub transcription_id: String,
    pub ended_at: Timestamp,
}

/// `caption`: what the live transcriber heard one speaker say (issue 20). Sent to the
/// participants in the speaker's location when the text came back (the main room or the
/// speaker's breakout session), like chat of that location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Caption {
    /// The speaker.
    pub participant_id: ParticipantId,
    /// The speaker's stream whose audio was transcribed (`camera`, or a screenshare's audio).
    pub stream_id: StreamId,
    /// The speaker's display name when the caption was made.
    pub display_name: String,
    /// One line of text from the transcription engine.
    pub text: String,
    /// When the transcribed audio started (server time).
    pub started_at: Timestamp,
    /// The transcription this caption belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_id: Option<String>,
}
