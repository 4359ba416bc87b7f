//! `BreakoutView`: the breakout state as one recipient sees it (spec §9.3).

use crate::{BreakoutConfig, Location, ParticipantId, Secret, SessionId, Timestamp};
use serde::{Deserialize, Serialize};

/// The per-recipient view sent in `breakout_updated`, `breakout_get` and snapshots (spec §9.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutView {
    /// +1 on every visible change; compare with `ifRevision` (spec §6.4).
    pub revision: u64,
    pub state: BreakoutState,
    pub config: BreakoutConfig,
    pub run_id: Option<u64>,
    pub started_at: Option<Timestamp>,
    pub auto_end_at: Option<Timestamp>,
    pub auto_end_cancelled: bool,
    pub closing_ends_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Set by `breakout_ask_all_to_return` ("main requested").
    pub return_requested_at: Option<Timestamp>,
    /// Hosts: always; others: only in `started` / `closing`.
    pub sessions: Vec<SessionView>,
    #[serde(rename = "self")]
    pub own: OwnBreakoutView,
    /// Hosts only (absent for others); `null` when nobody holds the lock.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::patch"
    )]
    pub edit_lock: Option<Option<EditLockView>>,
}

/// Breakout lifecycle state (spec §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakoutState {
    Disabled,
    Enabled,
    Started,
    Closing,
    Ended,
}

/// One session in a [`BreakoutView`], with flags for the recipient (Webex semantics, §9.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionView {
    pub id: SessionId,
    pub name: String,
    pub anyone_can_join: bool,
    /// Current members (including reconnecting ones).
    pub member_ids: Vec<ParticipantId>,
    /// Hosts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_ids: Option<Vec<ParticipantId>>,
    /// Hosts only: external ids pre-assigned here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_external_ids: Option<Vec<String>>,
    /// The recipient is in this session.
    pub current: bool,
    /// The recipient's resolved assignment is this session.
    pub assigned: bool,
    /// `canSelfJoin(recipient, session)` right now (§11.5).
    pub allowed: bool,
    /// The recipient has a pending move to this session.
    pub requested: bool,
}

/// `self` in a [`BreakoutView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnBreakoutView {
    pub location: Location,
    /// Non-hosts see it only in `started` / `closing` (else `null`).
    pub assigned_session_id: Option<SessionId>,
    /// Not present when the current run started (spec §11.4).
    pub late: bool,
    pub pending_move: Option<PendingMove>,
}

/// An announced move into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingMove {
    pub target: SessionId,
    /// When the auto-move happens; `null` = invitation only.
    pub deadline: Option<Timestamp>,
}

/// `editLock` in a host's [`BreakoutView`] (spec §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditLockView {
    pub holder_id: ParticipantId,
    pub expires_at: Timestamp,
    /// Only in the holder's own view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}
