//! Editing the breakout sessions of the plan: create, rename, delete, clear, open (spec §8.7)
//! and the session-name rules of spec §3.

use crate::control::breakout::{session_from_wire, BreakoutSession};
use crate::control::errors::{active, closing, duplicate_name, error};
use crate::control::text_rules::TextRule;
use crate::control::wire_id::session_to_wire;
use crate::control::Room;
use crate::core::{ParticipantId, SessionId};
use signalling_proto::{
    ArgumentReason, BreakoutState, Changed, CreateSessionsArgs, CreateSessionsResult,
    DeleteSessionArgs, Empty, ErrorBody, ErrorCode, InvalidArgumentDetails, PlanArgs,
    RenameSessionArgs, Secret, SessionRef, SetSessionOpenArgs, TooManySessionsDetails,
};
use std::collections::BTreeSet;
use std::time::Instant;

/// Session `name`: 1-64 characters, ≤ 256 bytes, no Cc (spec §3); Cf is checked apart.
const SESSION_NAME: TextRule = TextRule {
    field: "name",
    min_chars: 1,
    max_chars: 64,
    max_bytes: Some(256),
    no_control: true,
};

/// Unicode general category Cf (format characters), which session names must not contain
/// (spec §3). The table is the Cf list of Unicode 15.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// The normalised session name, or `invalid_argument` naming `field`.
fn check_name(raw: &str, field: &str) -> Result<String, ErrorBody> {
    let name = SESSION_NAME.check(raw).map_err(|mut e| {
        if let Some(mut d) = e.details_as::<InvalidArgumentDetails>() {
            d.field = field.to_owned();
            e = ErrorBody::invalid_argument(&d, "invalid session name");
        }
        e
    })?;
    if name.chars().any(is_format_char) {
        return Err(ErrorBody::invalid_argument(
            &InvalidArgumentDetails::new(field, ArgumentReason::InvalidChars),
            "session names may not contain format characters",
        ));
    }
    Ok(name)
}

/// The key under which names must be unique: Unicode case folding, approximated by full
/// lowercasing (identical for every script without special folding rules).
pub(crate) fn fold(name: &str) -> String {
    name.to_lowercase()
}

impl Room {
    /// The checks a session edit starts with, in the spec's order: a host with the current
    /// revision, no run closing, and the edit lock (spec §12).
    fn begin_session_edit(
        &self,
        now: Instant,
        caller: ParticipantId,
        if_revision: Option<u64>,
        edit_lock_token: Option<&Secret>,
    ) -> Result<(), ErrorBody> {
        self.manage(caller, if_revision)?;
        if self.state.breakout.state == BreakoutState::Closing {
            return Err(closing());
        }
        self.check_plan_lock(now, caller, edit_lock_token)
    }

    /// `breakout_create_sessions` (spec §8.7): atomic; missing names become `"Session N"`.
    pub(crate) fn breakout_create_sessions(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: CreateSessionsArgs,
    ) -> Result<CreateSessionsResult, ErrorBody> {
        self.begin_session_edit(now, caller, args.if_revision, args.edit_lock_token.as_ref())?;
        let requested = match (&args.sessions, args.count) {
            (Some(sessions), _) => sessions.clone(),
            (None, Some(n)) => vec![Default::default(); usize::try_from(n).unwrap_or(0)],
            (None, None) => Vec::new(),
        };
        let b = &self.state.breakout;
        let max = self.policy.max_sessions;
        if b.sessions.len() + requested.len() > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(ErrorBody::with_details(
                ErrorCode::TooManySessions,
                "too many sessions",
                &TooManySessionsDetails { max },
            ));
        }
        let mut taken: BTreeSet<String> = b.sessions.iter().map(|s| fold(&s.name)).collect();
        // Explicit names first, so generated ones avoid them.
        let mut names: Vec<Option<String>> = Vec::with_capacity(requested.len());
        for (i, new) in requested.iter().enumerate() {
            match &new.name {
                Some(raw) => {
                    let name = check_name(raw, &format!("sessions[{i}].name"))?;
                    if !taken.insert(fold(&name)) {
                        return Err(duplicate_name(&name, Some(i)));
                    }
                    names.push(Some(name));
                }
                None => names.push(None),
            }
        }
        let mut n = 1u64;
        let names: Vec<String> = names
            .into_iter()
            .map(|name| {
                name.unwrap_or_else(|| loop {
                    let candidate = format!("Session {n}");
                    n += 1;
                    if taken.insert(fold(&candidate)) {
                        break candidate;
                    }
                })
            })
            .collect();
        let mut created = Vec::new();
        for (name, new) in names.into_iter().zip(&requested) {
            let b = &mut self.state.breakout;
            let id = SessionId(b.next_session);
            b.next_session += 1;
            created.push(SessionRef {
                id: session_to_wire(id),
                name: name.clone(),
            });
            b.sessions.push(BreakoutSession {
                id,
                name,
                anyone_can_join: new.anyone_can_join.unwrap_or(false),
                created_at: now,
            });
        }
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(CreateSessionsResult { sessions: created })
    }

    /// `breakout_rename_session`: any state but Disabled and Closing.
    pub(crate) fn breakout_rename_session(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: RenameSessionArgs,
    ) -> Result<Changed, ErrorBody> {
        self.begin_session_edit(now, caller, args.if_revision, args.edit_lock_token.as_ref())?;
        let id = session_from_wire(&self.state.breakout, &args.session_id)?;
        let name = check_name(&args.name, "name")?;
        let b = &self.state.breakout;
        if b.sessions
            .iter()
            .any(|s| s.id != id && fold(&s.name) == fold(&name))
        {
            return Err(duplicate_name(&name, None));
        }
        let Some(session) = self.state.breakout.sessions.iter_mut().find(|s| s.id == id) else {
            return Err(error(ErrorCode::InternalError, "session vanished"));
        };
        if session.name == name {
            return Ok(Changed::NO);
        }
        session.name = name;
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(Changed::YES)
    }

    /// Delete and clear need Enabled or Ended (spec §10.4).
    fn require_idle(&self) -> Result<(), ErrorBody> {
        match self.state.breakout.state {
            BreakoutState::Started => Err(active()),
            BreakoutState::Closing => Err(closing()),
            _ => Ok(()),
        }
    }

    /// Forgets every assignment naming a session that is gone.
    fn drop_assignments_to_missing(&mut self) {
        let b = &mut self.state.breakout;
        let ids: BTreeSet<SessionId> = b.sessions.iter().map(|s| s.id).collect();
        b.assignments.retain(|_, s| ids.contains(s));
        b.pending_external.retain(|_, s| ids.contains(s));
    }

    /// `breakout_delete_session`: the session and every (pre-)assignment to it.
    pub(crate) fn breakout_delete_session(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: DeleteSessionArgs,
    ) -> Result<Empty, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        self.require_idle()?;
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        let id = session_from_wire(&self.state.breakout, &args.session_id)?;
        self.state.breakout.sessions.retain(|s| s.id != id);
        self.drop_assignments_to_missing();
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(Empty {})
    }

    /// `breakout_clear_sessions`: all sessions and assignments.
    pub(crate) fn breakout_clear_sessions(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: PlanArgs,
    ) -> Result<Changed, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        self.require_idle()?;
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        let b = &self.state.breakout;
        if b.sessions.is_empty() && b.assignments.is_empty() && b.pending_external.is_empty() {
            return Ok(Changed::NO);
        }
        self.state.breakout.sessions.clear();
        self.drop_assignments_to_missing();
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(Changed::YES)
    }

    /// `breakout_set_session_open` (sets `anyoneCanJoin`).
    pub(crate) fn breakout_set_session_open(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SetSessionOpenArgs,
    ) -> Result<Changed, ErrorBody> {
        self.begin_session_edit(now, caller, args.if_revision, args.edit_lock_token.as_ref())?;
        let id = session_from_wire(&self.state.breakout, &args.session_id)?;
        let Some(session) = self.state.breakout.sessions.iter_mut().find(|s| s.id == id) else {
            return Err(error(ErrorCode::InternalError, "session vanished"));
        };
        if session.anyone_can_join == args.open {
            return Ok(Changed::NO);
        }
        session.anyone_can_join = args.open;
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(Changed::YES)
    }
}
