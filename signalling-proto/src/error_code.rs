//! Error codes of the protocol (spec §6.6).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code of spec §6.6, carried in `error.code` of a failed response.
///
/// Checks run in this order (§6.2): envelope and argument shape (`invalid_request`,
/// `unknown_command`, `invalid_argument`), then admission (`not_connected`), then the caller's
/// role (`forbidden`), then state and targets (every other code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, not a JSON object, or not a command envelope (`type`, `name`, `reqId`, `args`). Sent with `reqId: null` when the id could not be read (§6.2).
    InvalidRequest,
    /// The envelope's `name` is not a command of this protocol.
    UnknownCommand,
    /// An argument is missing, mistyped, unknown, or out of range; `details: {field, reason, min?, max?}` (§6.6).
    InvalidArgument,
    /// The command needs an admitted, connected participant, or the socket's state does not allow it (e.g. `knock_room` without a prior `room_locked`) (§6.1).
    NotConnected,
    /// The caller's role lacks the capability (§4.2); also a non-host using the edit lock (§12).
    Forbidden,
    /// The target is the caller where that is not allowed, or has a role the command cannot act on (kick self, kick the recorder).
    InvalidTarget,
    /// No admitted participant with that id (never existed, left, kicked, grace expired).
    ParticipantNotFound,
    /// The id names a knocker, not an admitted participant.
    ParticipantWaiting,
    /// No knocker with that id (`handle_knock`), or `cancel_knock` while not knocking.
    KnockNotFound,
    /// Unknown chat message id, or a `parentId` from another scope.
    MessageNotFound,
    /// Unknown stream, or a subscription request for a stream outside the caller's allowed set (§13.9: no existence leak across locations).
    StreamNotFound,
    /// Unknown breakout session id; `details: {sessionId}`.
    SessionNotFound,
    /// `join_room` for a room that does not exist while auto-create is off (§3).
    RoomNotFound,
    /// Unknown, expired or used grant, bad token signature, expired token, or a token for another room (§8.1).
    InvalidCredential,
    /// The room is locked and the caller must knock; `details: {selfId, isLocked: true}` (§8.1 check 6).
    RoomLocked,
    /// Non-viewer person count has reached `max_participants`.
    RoomFull,
    /// Viewer count has reached `max_viewers`.
    MaxViewerLimitReached,
    /// A second recorder or streamer tried to join.
    UniqueRoleAlreadyInRoom,
    /// The caller's identity was kicked earlier in this room session (`join_room`, `resume`).
    KickedFromRoom,
    /// `knock_room` while the room is no longer locked: simply `join_room`.
    RoomNotLocked,
    /// `knock_room` twice on one socket.
    AlreadyKnocking,
    /// Resume token unknown or reconnect grace expired; do a fresh `join_room` (§7.1).
    ResumeFailed,
    /// A rate limit or the ask-for-help cooldown; `details: {retryAfterMs}` (§6.5).
    RateLimited,
    /// The connection is closed for abuse (too many malformed or rate-limited commands, §6.5).
    PolicyViolation,
    /// A breakout command while the breakout state is `disabled` (§8.7).
    BreakoutsDisabled,
    /// The command needs breakout state `started` (or `started`/`closing` where stated).
    BreakoutNotActive,
    /// `breakout_start` while `started`.
    BreakoutAlreadyStarted,
    /// The command is not allowed during the closing countdown.
    BreakoutClosing,
    /// The command needs breakout state `enabled` or `ended`.
    BreakoutActive,
    /// `breakout_start` or `breakout_auto_assign` with zero sessions.
    NoSessions,
    /// Creating the sessions would exceed `max_sessions`; `details: {max}`.
    TooManySessions,
    /// A session name is already taken (case-folded) or repeated in the batch; `details: {name, index?}`.
    DuplicateName,
    /// Self-join of a session at `maxSessionSize` (hosts are exempt).
    SessionFull,
    /// Self-join refused by `canSelfJoin` (§11.5).
    NotAllowedInSession,
    /// A late participant tried to self-join while `allowJoinLater` is false (§11.4).
    JoinLaterNotAllowed,
    /// Self-leave refused by `canSelfLeave` (§11.5).
    ReturnNotAllowed,
    /// The caller is in `MAIN` (`breakout_leave`, `breakout_ask_for_help`).
    NotInSession,
    /// Assigning or moving a recorder or streamer.
    RoleNotMovable,
    /// The target (or caller) did not declare the `breakouts` capability at join.
    ClientUnsupported,
    /// Cancel or extend the automatic end when none is scheduled.
    AutoEndNotArmed,
    /// Ask for help with no connected host other than the caller.
    NoHostPresent,
    /// Another host holds the breakout edit lock; `details: {holderId, expiresAt}` (§12).
    EditLocked,
    /// The lock is held by the caller and the supplied token is missing or wrong (§12).
    EditLockTokenMismatch,
    /// Refresh or release of a lock that does not exist or has expired (§12).
    EditLockNotHeld,
    /// `ifRevision` is stale; `details: {current}` (§6.4).
    RevisionConflict,
    /// `start_cloud_recording` while requested or recording.
    AlreadyRecording,
    /// `stop_cloud_recording` while not requested or recording.
    NotRecording,
    /// `start_live_stream` while requested or streaming.
    AlreadyStreaming,
    /// `stop_live_stream` while not streaming.
    NotStreaming,
    /// `start_live_transcription` while requested or transcribing.
    AlreadyTranscribing,
    /// `stop_live_transcription` while not transcribing.
    NotTranscribing,
    /// `start_screenshare` while the caller already shares (one per participant, §8.4).
    AlreadyScreensharing,
    /// `start_screenshare` under policy `OnePerLocation` while someone else in the caller's location shares.
    ScreenshareBusy,
    /// The server is shutting down and admits nobody new: join another server (an addition
    /// to spec §6.6, PROTOCOL.md §10).
    ServerDraining,
    /// `join_room` reached a node of a cluster that does not run the room: connect to
    /// `details: {url, nodeId}` and send the same `join_room` there (PROTOCOL.md §10).
    WrongNode,
    /// The cluster cannot place a new room right now (its store is unreachable, or no node
    /// is serving): try again in a moment; rooms already running are not affected.
    PlacementUnavailable,
    /// A server bug; the state is unchanged.
    InternalError,
}

impl ErrorCode {
    /// Every code, in the order of spec §6.6.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownCommand,
        ErrorCode::InvalidArgument,
        ErrorCode::NotConnected,
        ErrorCode::Forbidden,
        ErrorCode::InvalidTarget,
        ErrorCode::ParticipantNotFound,
        ErrorCode::ParticipantWaiting,
        ErrorCode::KnockNotFound,
        ErrorCode::MessageNotFound,
        ErrorCode::StreamNotFound,
        ErrorCode::SessionNotFound,
        ErrorCode::RoomNotFound,
        ErrorCode::InvalidCredential,
        ErrorCode::RoomLocked,
        ErrorCode::RoomFull,
        ErrorCode::MaxViewerLimitReached,
        ErrorCode::UniqueRoleAlreadyInRoom,
        ErrorCode::KickedFromRoom,
        ErrorCode::RoomNotLocked,
        ErrorCode::AlreadyKnocking,
        ErrorCode::ResumeFailed,
        ErrorCode::RateLimited,
        ErrorCode::PolicyViolation,
        ErrorCode::BreakoutsDisabled,
        ErrorCode::BreakoutNotActive,
        ErrorCode::BreakoutAlreadyStarted,
        ErrorCode::BreakoutClosing,
        ErrorCode::BreakoutActive,
        ErrorCode::NoSessions,
        ErrorCode::TooManySessions,
        ErrorCode::DuplicateName,
        ErrorCode::SessionFull,
        ErrorCode::NotAllowedInSession,
        ErrorCode::JoinLaterNotAllowed,
        ErrorCode::ReturnNotAllowed,
        ErrorCode::NotInSession,
        ErrorCode::RoleNotMovable,
        ErrorCode::ClientUnsupported,
        ErrorCode::AutoEndNotArmed,
        ErrorCode::NoHostPresent,
        ErrorCode::EditLocked,
        ErrorCode::EditLockTokenMismatch,
        ErrorCode::EditLockNotHeld,
        ErrorCode::RevisionConflict,
        ErrorCode::AlreadyRecording,
        ErrorCode::NotRecording,
        ErrorCode::AlreadyStreaming,
        ErrorCode::NotStreaming,
        ErrorCode::AlreadyTranscribing,
        ErrorCode::NotTranscribing,
        ErrorCode::AlreadyScreensharing,
        ErrorCode::ScreenshareBusy,
        ErrorCode::ServerDraining,
        ErrorCode::WrongNode,
        ErrorCode::PlacementUnavailable,
        ErrorCode::InternalError,
    ];

    /// The wire name (`"invalid_argument"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::ParticipantNotFound => "participant_not_found",
            ErrorCode::ParticipantWaiting => "participant_waiting",
            ErrorCode::KnockNotFound => "knock_not_found",
            ErrorCode::MessageNotFound => "message_not_found",
            ErrorCode::StreamNotFound => "stream_not_found",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::InvalidCredential => "invalid_credential",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::MaxViewerLimitReached => "max_viewer_limit_reached",
            ErrorCode::UniqueRoleAlreadyInRoom => "unique_role_already_in_room",
            ErrorCode::KickedFromRoom => "kicked_from_room",
            ErrorCode::RoomNotLocked => "room_not_locked",
            ErrorCode::AlreadyKnocking => "already_knocking",
            ErrorCode::ResumeFailed => "resume_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PolicyViolation => "policy_violation",
            ErrorCode::BreakoutsDisabled => "breakouts_disabled",
            ErrorCode::BreakoutNotActive => "breakout_not_active",
            ErrorCode::BreakoutAlreadyStarted => "breakout_already_started",
            ErrorCode::BreakoutClosing => "breakout_closing",
            ErrorCode::BreakoutActive => "breakout_active",
            ErrorCode::NoSessions => "no_sessions",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::DuplicateName => "duplicate_name",
            ErrorCode::SessionFull => "session_full",
            ErrorCode::NotAllowedInSession => "not_allowed_in_session",
            ErrorCode::JoinLaterNotAllowed => "join_later_not_allowed",
            ErrorCode::ReturnNotAllowed => "return_not_allowed",
            ErrorCode::NotInSession => "not_in_session",
            ErrorCode::RoleNotMovable => "role_not_movable",
            ErrorCode::ClientUnsupported => "client_unsupported",
            ErrorCode::AutoEndNotArmed => "auto_end_not_armed",
            ErrorCode::NoHostPresent => "no_host_present",
            ErrorCode::EditLocked => "edit_locked",
            ErrorCode::EditLockTokenMismatch => "edit_lock_token_mismatch",
            ErrorCode::EditLockNotHeld => "edit_lock_not_held",
            ErrorCode::RevisionConflict => "revision_conflict",
            ErrorCode::AlreadyRecording => "already_recording",
            ErrorCode::NotRecording => "not_recording",
            ErrorCode::AlreadyStreaming => "already_streaming",
            ErrorCode::NotStreaming => "not_streaming",
            ErrorCode::AlreadyTranscribing => "already_transcribing",
            ErrorCode::NotTranscribing => "not_transcribing",
            ErrorCode::AlreadyScreensharing => "already_screensharing",
            ErrorCode::ScreenshareBusy => "screenshare_busy",
            ErrorCode::ServerDraining => "server_draining",
            ErrorCode::WrongNode => "wrong_node",
            ErrorCode::PlacementUnavailable => "placement_unavailable",
            ErrorCode::InternalError => "internal_error",
        }
    }

    /// The code with this wire name, if any.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `as_str` and serde agree on every wire name, and names are unique.
    #[test]
    fn as_str_matches_serde_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
            assert!(seen.insert(code.as_str()), "duplicate {code}");
        }
    }

    // Spec §6.6 has 54 distinct codes, plus `server_draining`, `wrong_node` and
    // `placement_unavailable` (PROTOCOL.md §10); a missing or extra one shows up here.
    #[test]
    fn all_codes_of_the_spec_are_listed() {
        assert_eq!(ErrorCode::ALL.len(), 54 + 3);
    }
}
