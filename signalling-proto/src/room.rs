//! The room snapshot (`room_joined`, `get_room_state`, `room_state`) and room-wide roster events
//! (spec §8.1, §9.1).

use crate::{
    BreakoutView, ChatMessage, KnockerView, LiveStreamView, Location, ParticipantId,
    ParticipantView, RecordingView, Role, Secret, SessionId, StreamId, Timestamp,
    TranscriptionView,
};
use serde::{Deserialize, Serialize};

/// The room part of a snapshot (spec §8.1 `room_joined.room`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomView {
    pub name: String,
    pub is_locked: bool,
    pub session: RoomSessionView,
    pub participants: Vec<ParticipantView>,
    /// Hosts only; `[]` for everybody else.
    pub knockers: Vec<KnockerView>,
    pub spotlights: Vec<Spotlight>,
    /// `null` when idle (spec §5.6).
    pub recording: Option<RecordingView>,
    pub live_stream: Option<LiveStreamView>,
    pub transcription: Option<TranscriptionView>,
}

/// A room session: from the first admission until the room is empty (spec §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomSessionView {
    pub id: String,
    pub created_at: Timestamp,
}

/// One spotlighted stream (spec §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spotlight {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
}

/// `{id, name}` of a breakout session, or `null` for `MAIN` where used as `breakoutGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRef {
    pub id: SessionId,
    pub name: String,
}

/// `join_room` result, the seed's `RoomJoinedSuccess` (spec §8.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomJoined {
    pub self_id: ParticipantId,
    /// Keep it: `resume` with it within the reconnect grace keeps id, role and location.
    pub resume_token: Secret,
    pub role_name: Role,
    /// The seed's name for the resume token; same value.
    pub client_claim: Secret,
    /// Where the participant was placed (`null` = `MAIN`, spec §7.3).
    pub breakout_group: Option<SessionRef>,
    pub room: RoomView,
    pub breakout: BreakoutView,
    /// The last messages of the caller's location (`chat_history_on_enter`).
    pub chat_history: Vec<ChatMessage>,
    /// STUN/TURN servers for the client's peer connections, with time-limited TURN
    /// credentials; absent when the server has none configured (PROTOCOL.md §10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_servers: Vec<crate::IceServer>,
}

/// `get_room_state` result and `room_state` event data: `room_joined` minus the token (spec §8.1,
/// §9.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomState {
    pub self_id: ParticipantId,
    pub role_name: Role,
    pub breakout_group: Option<SessionRef>,
    pub room: RoomView,
    pub breakout: BreakoutView,
    pub chat_history: Vec<ChatMessage>,
}

/// `resume` result (spec §8.1). Missed events (or a `room_state` snapshot) follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomResumed {
    pub self_id: ParticipantId,
    pub location: Location,
    pub breakout_group: Option<SessionRef>,
    /// A fresh view of the breakout as this participant sees it now (spec §7.3 item 1): its
    /// session, assignment, pending move and the run's state, which may have changed while it
    /// was away.
    pub breakout: BreakoutView,
    /// `true`: the missed events follow with their original `seq`; `false`: a `room_state`
    /// snapshot follows instead.
    pub replayed: bool,
}

// ---- events (§9.1) ----

/// `new_client`: someone was admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    pub client: ParticipantView,
    pub room: NewClientRoom,
}

/// `new_client.room`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClientRoom {
    pub session: RoomSessionView,
}

/// `client_left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientLeft {
    pub client_id: ParticipantId,
    pub reason: LeaveReason,
}

/// Why a participant is gone (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Kicked,
    /// Reconnect grace expired.
    Timeout,
    EndMeeting,
}

/// `client_kicked`, to the kicked participant before its socket closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientKicked {
    pub client_id: ParticipantId,
    pub reason: KickReason,
    pub by: ParticipantId,
}

/// Why a participant was kicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KickReason {
    /// `kick_participant`: the identity is banned for the room session.
    Kick,
    /// `end_meeting`: not banned.
    EndMeeting,
}

/// `room_locked` event (not the error of the same name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomLockChanged {
    pub is_locked: bool,
    pub by: ParticipantId,
}

/// `room_session_ended`, for service roles and webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomSessionEnded {
    pub room_session_id: String,
}
