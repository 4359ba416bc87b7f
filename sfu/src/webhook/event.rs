//! The webhook body: one JSON object per event.
//!
//! ```json
//! {"id": "3f2a..-17", "room": "team-1", "seq": 4, "createdAt": "2026-12-05T13:00:00.000Z",
//!  "event": "participant_left", "data": {"participantId": "p2", "identity": "ada", "reason": "kicked"}}
//! ```

use serde::Serialize;
use signalling_proto::{
    EndReason, LeaveReason, Location, ParticipantId, RelocationReason, Role, StreamId, Timestamp,
    TrackSource,
};

/// What happened; `event` is the variant's snake_case name and `data` its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum WebhookEvent {
    /// The first participant was admitted: a room session began (spec §5.2).
    #[serde(rename_all = "camelCase")]
    RoomStarted {
        room_session_id: String,
    },
    /// Nobody is admitted or waiting any more: the room session ended.
    #[serde(rename_all = "camelCase")]
    RoomEnded {
        room_session_id: String,
    },
    #[serde(rename_all = "camelCase")]
    ParticipantJoined {
        participant_id: ParticipantId,
        /// The join token's `sub`.
        identity: String,
        name: String,
        role: Role,
    },
    #[serde(rename_all = "camelCase")]
    ParticipantLeft {
        participant_id: ParticipantId,
        identity: String,
        reason: LeaveReason,
        /// The reason a backend gave when it removed the participant through the API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A track of `publish_tracks` (by its mid in the publisher offer).
    #[serde(rename_all = "camelCase")]
    TrackPublished {
        participant_id: ParticipantId,
        mid: String,
        source: TrackSource,
        stream_id: StreamId,
    },
    #[serde(rename_all = "camelCase")]
    TrackUnpublished {
        participant_id: ParticipantId,
        mid: String,
    },
    #[serde(rename_all = "camelCase")]
    BreakoutStarted {
        run_id: u64,
    },
    #[serde(rename_all = "camelCase")]
    BreakoutEnded {
        run_id: u64,
        reason: EndReason,
    },
    /// A move between `MAIN` and breakout sessions.
    #[serde(rename_all = "camelCase")]
    ParticipantMoved {
        participant_id: ParticipantId,
        from: Location,
        to: Location,
        reason: RelocationReason,
    },
    RecordingRequested,
    RecordingStopped,
    #[serde(rename_all = "camelCase")]
    LiveStreamRequested {
        target_id: Option<String>,
    },
    LiveStreamStopped,
    TranscriptionRequested,
    TranscriptionStopped,
    /// Someone is in the waiting room of a locked room.
    #[serde(rename_all = "camelCase")]
    Knock {
        participant_id: ParticipantId,
        name: String,
    },
}

impl WebhookEvent {
    /// The `event` name.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookEvent::RoomStarted { .. } => "room_started",
            WebhookEvent::RoomEnded { .. } => "room_ended",
            WebhookEvent::ParticipantJoined { .. } => "participant_joined",
            WebhookEvent::ParticipantLeft { .. } => "participant_left",
            WebhookEvent::TrackPublished { .. } => "track_published",
            WebhookEvent::TrackUnpublished { .. } => "track_unpublished",
            WebhookEvent::BreakoutStarted { .. } => "breakout_started",
            WebhookEvent::BreakoutEnded { .. } => "breakout_ended",
            WebhookEvent::ParticipantMoved { .. } => "participant_moved",
            WebhookEvent::RecordingRequested => "recording_requested",
            WebhookEvent::RecordingStopped => "recording_stopped",
            WebhookEvent::LiveStreamRequested { .. } => "live_stream_requested",
            WebhookEvent::LiveStreamStopped => "live_stream_stopped",
            WebhookEvent::TranscriptionRequested => "transcription_requested",
            WebhookEvent::TranscriptionStopped => "transcription_stopped",
            WebhookEvent::Knock { .. } => "knock",
        }
    }
}

/// The whole body of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// Unique per event, the same on every retry: de-duplicate on it.
    pub id: String,
    pub room: String,
    /// 1, 2, 3, ... per room: order on it. The count starts again at 1 when a room that had
    /// stopped (nobody in it and not kept open by the API) runs again.
    pub seq: u64,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub event: WebhookEvent,
}
