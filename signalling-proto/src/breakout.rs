//! Breakout commands, results and events (spec §8.7, §8.8, §9.3, §12, §17.1).

use crate::{
    BreakoutConfigPatch, BreakoutView, ErrorCode, Location, ParticipantId, Secret, SessionId,
    SessionRef, Timestamp,
};
use serde::{Deserialize, Serialize};

// ---- management (§8.7) ----

/// Arguments of a runtime management command that takes nothing but the optional revision check:
/// `breakout_enable`, `breakout_cancel_auto_end`, `breakout_ask_all_to_return`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionArgs {
    /// Fail with `revision_conflict {current}` unless the breakout revision equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
}

/// Arguments of a plan mutation without further arguments: `breakout_disable`,
/// `breakout_clear_sessions`. Plan mutations are subject to the edit lock (spec §12).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    /// Required while the caller holds the edit lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    /// Release the lock after a successful mutation (Webex `unlockEdit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_get` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutGetArgs {
    /// Hosts only: also acquire the edit lock (like `breakout_edit_lock_acquire`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_edit_lock: Option<bool>,
}

/// `breakout_get` result: `{breakout}`, plus `editLockError: "edit_locked"` when the lock was
/// requested but another host holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutGetResult {
    pub breakout: BreakoutView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_error: Option<ErrorCode>,
}

/// `breakout_configure` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutConfigureArgs {
    pub config: BreakoutConfigPatch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_create_sessions` arguments: exactly one of `sessions` (1..=100) or `count`
/// (1..=100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionsArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<NewSession>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// One session to create; a missing name becomes `"Session N"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSession {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anyone_can_join: Option<bool>,
}

/// `breakout_create_sessions` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionsResult {
    pub sessions: Vec<SessionRef>,
}

/// `breakout_rename_session` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameSessionArgs {
    pub session_id: SessionId,
    /// 1-64 characters after trim, unique under case folding (spec §3).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_delete_session` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteSessionArgs {
    pub session_id: SessionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_set_session_open` arguments (sets `anyoneCanJoin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetSessionOpenArgs {
    pub session_id: SessionId,
    pub open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_assign` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignArgs {
    pub assignments: Vec<Assignment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// One entry of `breakout_assign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assignment {
    /// Required; `null` unassigns.
    #[serde(deserialize_with = "crate::nullable::required")]
    pub session_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_ids: Option<Vec<ParticipantId>>,
    /// Pre-assignment of people not present yet (spec §5.8 `pending_external`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<String>>,
}

/// `breakout_assign` result: the participants whose assignment changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignResult {
    pub changed: Vec<ParticipantId>,
}

/// `breakout_auto_assign` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoAssignArgs {
    /// Clear the eligible participants' assignments first (Zoom "recreate"). Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_auto_assign` result: the new assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoAssignResult {
    pub assignments: Vec<NewAssignment>,
}

/// One assignment made by `breakout_auto_assign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAssignment {
    pub participant_id: ParticipantId,
    pub session_id: SessionId,
}

/// `breakout_start` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartArgs {
    /// Applied as a `breakout_configure` first, same validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BreakoutConfigPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_lock_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_edit_lock: Option<bool>,
}

/// `breakout_start` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartResult {
    pub run_id: u64,
    pub started_at: Timestamp,
    pub auto_end_at: Option<Timestamp>,
    /// Left in `MAIN` because they lack the `breakouts` capability.
    pub skipped: Vec<ParticipantId>,
}

/// `breakout_end` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndArgs {
    /// Seconds of countdown, 0..=300; default `config.countdownTimer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_close_time: Option<u32>,
    /// End now, also from `closing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
}

/// `breakout_end` result: `closingEndsAt` of the countdown, `null` when the run ended at once;
/// `changed: false` for a repeated non-immediate end while closing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndResult {
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub changed: bool,
    pub closing_ends_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `breakout_extend_auto_end` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtendAutoEndArgs {
    /// 60..=3600.
    pub seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
}

/// `breakout_extend_auto_end` result: the new end time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtendAutoEndResult {
    pub auto_end_at: Timestamp,
}

/// `breakout_move` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveArgs {
    /// 1..=200; atomic.
    pub participant_ids: Vec<ParticipantId>,
    /// Required; `null` = `MAIN` (and clears the assignment).
    pub target: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
}

/// `breakout_broadcast` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastArgs {
    /// 1-1000 characters after trim.
    pub message: String,
    /// One session; absent = every session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<BroadcastRecipients>,
    /// Also `MAIN`. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_main: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_revision: Option<u64>,
}

/// Recipient classes of a broadcast; union semantics, none selected = everybody (spec §11.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastRecipients {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenters: Option<bool>,
}

/// `breakout_broadcast` result; zero is success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastResult {
    pub delivered_to: u32,
}

/// `breakout_edit_lock_acquire` result (spec §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockGrant {
    pub token: Secret,
    /// Seconds; refresh every `ttl / 2`.
    pub ttl: u32,
    pub expires_at: Timestamp,
}

/// `breakout_edit_lock_refresh` / `breakout_edit_lock_release` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockTokenArgs {
    pub token: Secret,
}

/// `breakout_edit_lock_refresh` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockRefreshed {
    pub expires_at: Timestamp,
}

// ---- participation (§8.8) and monitor (§17.1) ----

/// Arguments naming one session: `breakout_join`, `breakout_monitor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionArgs {
    pub session_id: SessionId,
}

// ---- error details ----

/// `details` of `edit_locked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockedDetails {
    pub holder_id: ParticipantId,
    pub expires_at: Timestamp,
}

/// `details` of `revision_conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionConflictDetails {
    pub current: u64,
}

/// `details` of `duplicate_name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DuplicateNameDetails {
    pub name: String,
    /// Index in the `sessions` batch, when the duplicate came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// `details` of `too_many_sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TooManySessionsDetails {
    pub max: u32,
}

/// `details` of `session_not_found`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionNotFoundDetails {
    pub session_id: SessionId,
}

// ---- events (§9.3) ----

/// `breakout_location_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationChanged {
    pub participant_id: ParticipantId,
    pub from: Location,
    pub to: Location,
    pub reason: RelocationReason,
}

/// Why a participant was relocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelocationReason {
    /// `breakout_join` / `breakout_leave`.
    #[serde(rename = "self")]
    Own,
    HostMove,
    AutoMove,
    /// The run finished.
    Ended,
    /// Admitted through a knock grant naming a session.
    KnockAdmit,
    /// Fresh join placed back into the last session (spec §7.3).
    Rejoin,
}

/// `breakout_move_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveRequested {
    pub session_id: SessionId,
    pub session_name: String,
    /// When the auto-move happens; `null` = invitation only.
    pub deadline: Option<Timestamp>,
    pub reason: MoveRequestReason,
}

/// Why a move was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveRequestReason {
    Start,
    Assigned,
    LateJoin,
    Rejoin,
}

/// `breakout_return_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReturnRequested {
    pub requested_by: ParticipantId,
    pub at: Timestamp,
}

/// `breakout_timer_warning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimerWarning {
    pub auto_end_at: Timestamp,
    pub seconds_left: u32,
}

/// `breakout_timer_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimerChanged {
    pub auto_end_at: Option<Timestamp>,
    pub reason: TimerChangeReason,
}

/// Why the auto-end timer changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerChangeReason {
    Cancelled,
    Extended,
}

/// `breakout_closing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Closing {
    pub closing_ends_at: Timestamp,
    pub countdown_seconds: u32,
    pub reason: ClosingReason,
}

/// Why the run entered `closing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosingReason {
    Manual,
    AutoEnd,
}

/// `breakout_ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ended {
    pub run_id: u64,
    pub reason: EndReason,
    pub ended_at: Timestamp,
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Manual,
    AutoEnd,
    MeetingEnded,
    RoomEmpty,
}

/// `breakout_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutMessage {
    pub sender_id: ParticipantId,
    pub sender_name: String,
    pub sent_at: Timestamp,
    pub message: String,
    /// The targeted session, `null` for "every session".
    pub session_id: Option<SessionId>,
}

/// `breakout_monitor_changed` (spec §17.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MonitorChanged {
    pub host_id: ParticipantId,
    pub session_id: Option<SessionId>,
}

/// `breakout_help_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelpRequested {
    pub participant_id: ParticipantId,
    pub display_name: String,
    pub session_id: SessionId,
    pub session_name: String,
    pub at: Timestamp,
}

/// `breakout_edit_lock_changed`, to hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockChanged {
    pub holder_id: Option<ParticipantId>,
    pub expires_at: Option<Timestamp>,
    pub reason: EditLockChangeReason,
}

/// Why the edit lock changed hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EditLockChangeReason {
    Acquired,
    Released,
    Expired,
    HolderLeft,
}
