//! The breakout plan and its runs (spec §5.8, §10): the state the room keeps, the per-recipient
//! `BreakoutView` (§9.3), the self-service predicates (§11.5) and the lifecycle commands
//! (enable, disable, configure, start, end, the automatic end and its timers).
//!
//! Sessions are edited in `sessions.rs`, assignments in `assign.rs`, broadcasts and help
//! requests in `broadcast.rs`, moves in `relocation.rs`, the edit lock in `edit_lock.rs` and host
//! monitoring in `host_monitor.rs`; this module owns the state machine of §10.

mod assign;
mod broadcast;
mod edit_lock;
mod host_monitor;
mod relocation;
mod sessions;

use crate::control::errors::{
    active, auto_end_not_armed, breakouts_disabled, closing, error, forbidden, not_active,
    session_not_found,
};
use crate::control::participant::Participant;
use crate::control::room::Needs;
use crate::control::wire_id::{location_to_wire, participant_to_wire, session_to_wire};
use crate::control::{Room, Timer};
use crate::core::{Location, ParticipantId, SessionId};
use edit_lock::EditLock;
use signalling_proto::{
    AssignmentMethod, BreakoutConfig, BreakoutConfigPatch, BreakoutState, BreakoutView, Changed,
    Closing, ClosingReason, Empty, EndArgs, EndReason, EndResult, Ended, ErrorBody, ErrorCode,
    Event, ExtendAutoEndArgs, ExtendAutoEndResult, OwnBreakoutView, PendingMove as WirePending,
    RelocationReason, ReturnRequested, RevisionConflictDetails, Role, SessionView, StartArgs,
    StartResult, TimerChangeReason, TimerChanged, TimerWarning,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The automatic-end warning comes this long before the end (spec §9.3 `secondsLeft: 60`).
pub(crate) const WARNING_BEFORE_END: Duration = Duration::from_secs(60);

/// Everything the room keeps about breakouts (spec §5.8). The plan (config, sessions,
/// assignments) lives as long as the room; the run is per start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Breakout {
    pub state: BreakoutState,
    pub revision: u64,
    pub config: BreakoutConfig,
    /// Display order = creation order.
    pub sessions: Vec<BreakoutSession>,
    /// Explicit assignments by identity key.
    pub assignments: BTreeMap<String, SessionId>,
    /// Pre-assignments by external id of people not present yet.
    pub pending_external: BTreeMap<String, SessionId>,
    /// Present while Started/Closing; the last one is kept in Ended.
    pub run: Option<Run>,
    pub edit_lock: Option<EditLock>,
    /// Hosts monitoring a session receive-only (spec §17.1).
    pub monitors: BTreeMap<ParticipantId, SessionId>,
    pub next_session: u64,
    /// Run ids are never reused in the room.
    pub next_run: u64,
}

impl Default for Breakout {
    fn default() -> Self {
        Self {
            state: BreakoutState::Disabled,
            revision: 0,
            config: BreakoutConfig::default(),
            sessions: Vec::new(),
            assignments: BTreeMap::new(),
            pending_external: BTreeMap::new(),
            run: None,
            edit_lock: None,
            monitors: BTreeMap::new(),
            next_session: 1,
            next_run: 1,
        }
    }
}

/// One breakout session (spec §5.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BreakoutSession {
    pub id: SessionId,
    pub name: String,
    pub anyone_can_join: bool,
    pub created_at: Instant,
}

/// One run of the breakout, from start to finish (spec §5.8 `Run`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub id: u64,
    pub started_at: Instant,
    pub started_by: ParticipantId,
    pub auto_end_at: Option<Instant>,
    pub auto_end_cancelled: bool,
    pub closing_ends_at: Option<Instant>,
    /// Why the run is closing, so the end names the same cause.
    pub closing_reason: Option<ClosingReason>,
    pub ended_at: Option<Instant>,
    pub present_at_start: BTreeSet<String>,
    pub last_location: BTreeMap<String, SessionId>,
    pub returned_to_main: BTreeSet<String>,
    pub pending_moves: BTreeMap<ParticipantId, PendingMove>,
    pub return_requested_at: Option<Instant>,
    pub help_last_at: BTreeMap<String, Instant>,
}

/// An announced move into a session: an auto-move at `deadline`, or an invitation (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingMove {
    pub target: SessionId,
    pub deadline: Option<Instant>,
}

impl Breakout {
    /// State ∈ {Started, Closing} (spec §13.1 `active`).
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.state, BreakoutState::Started | BreakoutState::Closing)
    }

    pub(crate) fn session(&self, id: SessionId) -> Option<&BreakoutSession> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// The run, only while it is Started or Closing.
    pub(crate) fn active_run(&self) -> Option<&Run> {
        self.run.as_ref().filter(|_| self.is_active())
    }

    pub(crate) fn active_run_mut(&mut self) -> Option<&mut Run> {
        if self.is_active() {
            self.run.as_mut()
        } else {
            None
        }
    }

    /// The assigned session of `p` (spec §5.8): identity wins over external id.
    pub(crate) fn resolved_assignment(&self, p: &Participant) -> Option<SessionId> {
        self.assignments.get(&p.identity_key).copied().or_else(|| {
            p.external_id
                .as_ref()
                .and_then(|e| self.pending_external.get(e).copied())
        })
    }

    /// Not present when the current run started (spec §11.4); never late outside a run.
    pub(crate) fn is_late(&self, p: &Participant) -> bool {
        self.active_run()
            .is_some_and(|run| !run.present_at_start.contains(&p.identity_key))
    }

    // ---- the state machine of spec §10.2: each transition changes only this state; the
    // room sends the events, arms the timers and moves people around it ----

    /// The rows of spec §10.4 for commands allowed in Enabled, Started and Ended.
    pub(crate) fn require_not_closing(&self) -> Result<(), ErrorBody> {
        match self.state {
            BreakoutState::Closing => Err(closing()),
            BreakoutState::Disabled => Err(breakouts_disabled()),
            _ => Ok(()),
        }
    }

    /// The run whose automatic end is armed (`auto_end_not_armed` otherwise).
    fn armed_run_mut(&mut self) -> Result<&mut Run, ErrorBody> {
        self.run
            .as_mut()
            .filter(|r| r.auto_end_at.is_some())
            .ok_or_else(auto_end_not_armed)
    }

    /// Started only: Closing → `breakout_closing`, otherwise `breakout_not_active`.
    pub(crate) fn require_started(&self) -> Result<(), ErrorBody> {
        match self.state {
            BreakoutState::Started => Ok(()),
            BreakoutState::Closing => Err(closing()),
            BreakoutState::Disabled => Err(breakouts_disabled()),
            _ => Err(not_active()),
        }
    }

    /// Disabled → Enabled; the kept plan and the last run's record come back. False when
    /// breakouts were already enabled.
    fn enable(&mut self) -> bool {
        if self.state != BreakoutState::Disabled {
            return false;
        }
        self.state = BreakoutState::Enabled;
        true
    }

    /// Enabled/Ended → Disabled; the plan is kept.
    fn disable(&mut self) -> Result<(), ErrorBody> {
        if self.is_active() {
            return Err(active());
        }
        self.state = BreakoutState::Disabled;
        Ok(())
    }

    /// Enabled/Ended → Started: a new run, with the automatic end the config asks for. Returns
    /// the run's id and that end.
    fn begin_run(
        &mut self,
        now: Instant,
        started_by: ParticipantId,
        present_at_start: BTreeSet<String>,
    ) -> (u64, Option<Instant>) {
        let id = self.next_run;
        self.next_run += 1;
        let auto_end_at = self
            .config
            .automatically_end_after
            .map(|secs| now + Duration::from_secs(secs.into()));
        self.run = Some(Run {
            id,
            started_at: now,
            started_by,
            auto_end_at,
            auto_end_cancelled: false,
            closing_ends_at: None,
            closing_reason: None,
            ended_at: None,
            present_at_start,
            last_location: BTreeMap::new(),
            returned_to_main: BTreeSet::new(),
            pending_moves: BTreeMap::new(),
            return_requested_at: None,
            help_last_at: BTreeMap::new(),
        });
        self.state = BreakoutState::Started;
        (id, auto_end_at)
    }

    /// Started → Closing until `at`: pending moves and the automatic end are cancelled.
    /// Returns the run's id and the participants whose pending moves were cancelled.
    fn close(&mut self, at: Instant, reason: ClosingReason) -> Option<(u64, Vec<ParticipantId>)> {
        let run = self.run.as_mut()?;
        let cancelled = std::mem::take(&mut run.pending_moves).into_keys().collect();
        run.auto_end_at = None;
        run.closing_ends_at = Some(at);
        run.closing_reason = Some(reason);
        self.state = BreakoutState::Closing;
        Some((run.id, cancelled))
    }

    /// Started/Closing → Ended: the run's movement data is cleared, its record kept. Returns
    /// the run's id and the participants whose pending moves were cancelled.
    fn end_run(&mut self, now: Instant) -> Option<(u64, Vec<ParticipantId>)> {
        let run = self.run.as_mut()?;
        let cancelled = std::mem::take(&mut run.pending_moves).into_keys().collect();
        run.return_requested_at = None;
        run.last_location.clear();
        run.returned_to_main.clear();
        run.auto_end_at = None;
        run.closing_ends_at = None;
        run.ended_at = Some(now);
        self.state = BreakoutState::Ended;
        Some((run.id, cancelled))
    }
}

/// The session a wire id names, if it exists.
pub(crate) fn session_from_wire(
    breakout: &Breakout,
    id: &signalling_proto::SessionId,
) -> Result<SessionId, ErrorBody> {
    crate::control::wire_id::session_from_wire(id)
        .filter(|s| breakout.session(*s).is_some())
        .ok_or_else(|| session_not_found(id))
}

impl Room {
    /// The common preamble of every management command (spec §6.2 check order, §8.7): a host,
    /// breakouts enabled, and `ifRevision` current.
    pub(crate) fn manage(
        &self,
        caller: ParticipantId,
        if_revision: Option<u64>,
    ) -> Result<(), ErrorBody> {
        self.require(caller, Needs::Host)?;
        let b = &self.state.breakout;
        if b.state == BreakoutState::Disabled {
            return Err(breakouts_disabled());
        }
        match if_revision {
            Some(r) if r != b.revision => Err(ErrorBody::with_details(
                ErrorCode::RevisionConflict,
                "the breakout changed since that revision",
                &RevisionConflictDetails {
                    current: b.revision,
                },
            )),
            _ => Ok(()),
        }
    }

    /// A change visible in `BreakoutView`: bump the revision; `settle` sends each admitted
    /// participant its own `breakout_updated` once per command (spec §9.3 allows merging).
    pub(crate) fn breakout_changed(&mut self) {
        self.state.breakout.revision += 1;
        self.breakout_dirty = true;
    }

    /// `canSelfJoin(p, s)` (spec §11.5) with the size rule; the error is the one `breakout_join`
    /// answers with.
    pub(crate) fn can_self_join(&self, p: &Participant, s: SessionId) -> Result<(), ErrorCode> {
        let b = &self.state.breakout;
        let Some(session) = b.session(s) else {
            return Err(ErrorCode::SessionNotFound);
        };
        if !p.role.is_person() || !p.capabilities.breakouts {
            return Err(ErrorCode::NotAllowedInSession);
        }
        if p.is_host() {
            return Ok(());
        }
        if b.is_late(p) && !b.config.allow_join_later {
            return Err(ErrorCode::JoinLaterNotAllowed);
        }
        let allowed = b.config.assignment_method == AssignmentMethod::Choose
            || session.anyone_can_join
            || b.resolved_assignment(p) == Some(s);
        if !allowed {
            return Err(ErrorCode::NotAllowedInSession);
        }
        if let Some(max) = b.config.max_session_size {
            let members = self.members_of(Location::Session(s)).len();
            if members >= usize::try_from(max).unwrap_or(usize::MAX) {
                return Err(ErrorCode::SessionFull);
            }
        }
        Ok(())
    }

    /// `canSelfLeave(p)` (spec §11.5).
    pub(crate) fn can_self_leave(&self, p: &Participant) -> bool {
        let b = &self.state.breakout;
        p.is_host()
            || b.config.allow_return_to_main
            || b.state == BreakoutState::Closing
            || b.active_run()
                .is_some_and(|r| r.return_requested_at.is_some())
    }

    /// Admitted participants located in `location` (reconnecting ones included).
    pub(crate) fn members_of(&self, location: Location) -> Vec<ParticipantId> {
        self.state
            .participants
            .values()
            .filter(|p| p.location == location)
            .map(|p| p.id)
            .collect()
    }

    /// Participants in any session, plus hosts (the audience of warnings and return requests,
    /// spec §9.3).
    pub(crate) fn in_sessions_and_hosts(&self) -> Vec<ParticipantId> {
        self.state
            .participants
            .values()
            .filter(|p| p.location != Location::Main || p.is_host())
            .map(|p| p.id)
            .collect()
    }

    /// The recipient's `BreakoutView` (spec §9.3).
    pub(crate) fn breakout_view(&self, me: &Participant) -> BreakoutView {
        let b = &self.state.breakout;
        let host = me.is_host();
        let disabled = b.state == BreakoutState::Disabled;
        let active = b.is_active();
        let run = b.run.as_ref().filter(|_| !disabled);
        let ts = |i: Instant| self.timestamp(i);
        let mine = b.resolved_assignment(me);
        let my_move = b.active_run().and_then(|r| r.pending_moves.get(&me.id));
        let sessions = if !disabled && (host || active) {
            b.sessions
                .iter()
                .map(|s| {
                    let here = Location::Session(s.id);
                    SessionView {
                        id: session_to_wire(s.id),
                        name: s.name.clone(),
                        anyone_can_join: s.anyone_can_join,
                        member_ids: self
                            .members_of(here)
                            .into_iter()
                            .map(participant_to_wire)
                            .collect(),
                        assigned_ids: host.then(|| {
                            self.state
                                .participants
                                .values()
                                .filter(|p| b.resolved_assignment(p) == Some(s.id))
                                .map(|p| participant_to_wire(p.id))
                                .collect()
                        }),
                        pending_external_ids: host.then(|| {
                            b.pending_external
                                .iter()
                                .filter(|(_, t)| **t == s.id)
                                .map(|(e, _)| e.clone())
                                .collect()
                        }),
                        current: me.location == here,
                        assigned: mine == Some(s.id),
                        allowed: b.state == BreakoutState::Started
                            && self.can_self_join(me, s.id).is_ok(),
                        requested: my_move.is_some_and(|m| m.target == s.id),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        BreakoutView {
            revision: b.revision,
            state: b.state,
            config: b.config.clone(),
            run_id: run.map(|r| r.id),
            started_at: run.map(|r| ts(r.started_at)),
            auto_end_at: run.and_then(|r| r.auto_end_at).map(ts),
            auto_end_cancelled: run.is_some_and(|r| r.auto_end_cancelled),
            closing_ends_at: run.and_then(|r| r.closing_ends_at).map(ts),
            ended_at: run.and_then(|r| r.ended_at).map(ts),
            return_requested_at: b.active_run().and_then(|r| r.return_requested_at).map(ts),
            sessions,
            own: OwnBreakoutView {
                location: location_to_wire(me.location),
                assigned_session_id: if !disabled && (host || active) {
                    mine.map(session_to_wire)
                } else {
                    None
                },
                late: b.is_late(me),
                pending_move: my_move.map(|m| WirePending {
                    target: session_to_wire(m.target),
                    deadline: m.deadline.map(ts),
                }),
            },
            edit_lock: host.then(|| self.edit_lock_view(me.id)),
        }
    }

    // ---- lifecycle commands (§8.7, §10) ----

    /// `breakout_enable`: Disabled → Enabled; the stored plan comes back (spec §10.2).
    pub(crate) fn breakout_enable(
        &mut self,
        caller: ParticipantId,
        if_revision: Option<u64>,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.breakout.state != BreakoutState::Disabled {
            return Ok(Changed::NO);
        }
        if let Some(r) = if_revision {
            if r != self.state.breakout.revision {
                return Err(ErrorBody::with_details(
                    ErrorCode::RevisionConflict,
                    "the breakout changed since that revision",
                    &RevisionConflictDetails {
                        current: self.state.breakout.revision,
                    },
                ));
            }
        }
        self.state.breakout.enable();
        self.breakout_changed();
        Ok(Changed::YES)
    }

    /// `breakout_disable`: Enabled/Ended → Disabled, releasing the edit lock; the plan is kept.
    pub(crate) fn breakout_disable(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: signalling_proto::PlanArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.breakout.state == BreakoutState::Disabled {
            return Ok(Changed::NO);
        }
        self.manage(caller, args.if_revision)?;
        if self.state.breakout.is_active() {
            return Err(active());
        }
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        self.state.breakout.disable()?;
        self.drop_edit_lock(signalling_proto::EditLockChangeReason::Released);
        self.breakout_changed();
        Ok(Changed::YES)
    }

    /// `breakout_configure` (spec §8.7): the ranges were checked with the arguments.
    pub(crate) fn breakout_configure(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: signalling_proto::BreakoutConfigureArgs,
    ) -> Result<Changed, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        self.check_config_patch(&args.config)?;
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        let mut config = self.state.breakout.config.clone();
        config.apply(&args.config);
        let changed = config != self.state.breakout.config;
        if changed {
            self.state.breakout.config = config;
            self.breakout_changed();
        }
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(if changed { Changed::YES } else { Changed::NO })
    }

    /// Which fields may change in the current state (spec §8.7 `breakout_configure`).
    fn check_config_patch(&self, patch: &BreakoutConfigPatch) -> Result<(), ErrorBody> {
        match self.state.breakout.state {
            BreakoutState::Closing => Err(closing()),
            BreakoutState::Started => match patch.first_field_locked_while_started() {
                Some(field) => Err(error(
                    ErrorCode::BreakoutActive,
                    &format!("{field} cannot change while the breakout runs"),
                )),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// `breakout_start` (spec §10.2 Enabled/Ended → Started, effects 1-7).
    pub(crate) fn breakout_start(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: StartArgs,
    ) -> Result<StartResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        match self.state.breakout.state {
            BreakoutState::Started => {
                return Err(error(
                    ErrorCode::BreakoutAlreadyStarted,
                    "the breakout already runs",
                ))
            }
            BreakoutState::Closing => return Err(closing()),
            _ => {}
        }
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        if self.state.breakout.sessions.is_empty() {
            return Err(error(ErrorCode::NoSessions, "create a session first"));
        }
        // 1. The config override.
        if let Some(patch) = &args.config {
            self.state.breakout.config.apply(patch);
        }
        // 2. A new run.
        let present = self
            .state
            .participants
            .values()
            .map(|p| p.identity_key.clone())
            .collect();
        let (id, auto_end_at) = self.state.breakout.begin_run(now, caller, present);
        self.notice(crate::control::Notice::BreakoutStarted { run_id: id });
        // 3. Auto distribution of the unassigned.
        if self.state.breakout.config.assignment_method == AssignmentMethod::Auto {
            let eligible = self.auto_eligible(false);
            self.distribute(eligible);
        }
        // 4. The automatic end and its warning.
        if let Some(at) = auto_end_at {
            self.arm_auto_end(now, id, at);
        }
        // 5. Placement of everyone with an assignment; 6-7 happen in `settle`.
        let mut skipped = Vec::new();
        let mut immediate = Vec::new();
        let candidates: Vec<(ParticipantId, SessionId, bool)> = self
            .state
            .participants
            .values()
            .filter(|p| p.role.is_movable() && p.location == Location::Main)
            .filter_map(|p| {
                self.state
                    .breakout
                    .resolved_assignment(p)
                    .map(|s| (p.id, s, p.capabilities.breakouts))
            })
            .collect();
        for (p, s, capable) in candidates {
            if !capable {
                skipped.push(participant_to_wire(p));
                continue;
            }
            if let Some(mv) =
                self.place_assigned(now, p, s, signalling_proto::MoveRequestReason::Start)
            {
                immediate.push(mv);
            }
        }
        self.relocate(now, immediate, RelocationReason::AutoMove);
        self.breakout_changed();
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(StartResult {
            run_id: id,
            started_at: self.timestamp(now),
            auto_end_at: auto_end_at.map(|at| self.timestamp(at)),
            skipped,
        })
    }

    /// Arms the automatic end at `at` and its warning 60 s before (sent now if less is left).
    fn arm_auto_end(&mut self, now: Instant, run: u64, at: Instant) {
        self.arm_timer(Timer::BreakoutAutoEnd { run }, at);
        match at.checked_sub(WARNING_BEFORE_END) {
            Some(warn) if warn > now => self.arm_timer(Timer::BreakoutWarning { run }, warn),
            _ => {
                self.state.timers.disarm(Timer::BreakoutWarning { run });
                self.send_timer_warning(at);
            }
        }
    }

    fn send_timer_warning(&mut self, at: Instant) {
        let to = self.in_sessions_and_hosts();
        let event = Event::BreakoutTimerWarning(TimerWarning {
            auto_end_at: self.timestamp(at),
            seconds_left: 60,
        });
        self.send(to, event);
    }

    fn disarm_run_timers(&mut self, run: u64) {
        for timer in [
            Timer::BreakoutAutoEnd { run },
            Timer::BreakoutWarning { run },
            Timer::BreakoutClosing { run },
        ] {
            self.state.timers.disarm(timer);
        }
    }

    /// `breakout_end` (spec §8.7).
    pub(crate) fn breakout_end(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: EndArgs,
    ) -> Result<EndResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        let immediate = args.immediate == Some(true);
        match self.state.breakout.state {
            BreakoutState::Started => {
                let delay = if immediate {
                    0
                } else {
                    args.delay_close_time
                        .unwrap_or(self.state.breakout.config.countdown_timer)
                };
                if delay == 0 {
                    self.finish(now, EndReason::Manual);
                    Ok(EndResult {
                        changed: true,
                        closing_ends_at: None,
                    })
                } else {
                    let at = self.enter_closing(now, delay, ClosingReason::Manual);
                    Ok(EndResult {
                        changed: true,
                        closing_ends_at: Some(self.timestamp(at)),
                    })
                }
            }
            BreakoutState::Closing if immediate => {
                self.finish(now, EndReason::Manual);
                Ok(EndResult {
                    changed: true,
                    closing_ends_at: None,
                })
            }
            BreakoutState::Closing => Ok(EndResult {
                changed: false,
                closing_ends_at: self
                    .state
                    .breakout
                    .run
                    .as_ref()
                    .and_then(|r| r.closing_ends_at)
                    .map(|at| self.timestamp(at)),
            }),
            _ => Err(not_active()),
        }
    }

    /// Started → Closing: pending moves and the automatic end are cancelled (spec §10.2).
    fn enter_closing(&mut self, now: Instant, delay: u32, reason: ClosingReason) -> Instant {
        let at = now + Duration::from_secs(delay.into());
        let Some((id, moves)) = self.state.breakout.close(at, reason) else {
            return at;
        };
        for p in moves {
            self.state.timers.disarm(Timer::MoveGrace(p));
        }
        self.disarm_run_timers(id);
        self.arm_timer(Timer::BreakoutClosing { run: id }, at);
        let everyone = self.everyone();
        let event = Event::BreakoutClosing(Closing {
            closing_ends_at: self.timestamp(at),
            countdown_seconds: delay,
            reason,
        });
        self.send(everyone, event);
        self.breakout_changed();
        at
    }

    /// Finish (spec §10.2): everyone in a session back to `MAIN` in one policy update, session
    /// chat discarded, per-run movement data cleared; assignments are kept.
    pub(crate) fn finish(&mut self, now: Instant, reason: EndReason) {
        if !self.state.breakout.is_active() {
            return;
        }
        let movers: Vec<(ParticipantId, Location)> = self
            .state
            .participants
            .values()
            .filter(|p| p.location != Location::Main)
            .map(|p| (p.id, Location::Main))
            .collect();
        self.relocate(now, movers, RelocationReason::Ended);
        self.stop_all_monitors();
        let Some((id, moves)) = self.state.breakout.end_run(now) else {
            return;
        };
        self.notice(crate::control::Notice::BreakoutEnded { run_id: id, reason });
        for p in moves {
            self.state.timers.disarm(Timer::MoveGrace(p));
        }
        self.disarm_run_timers(id);
        self.state.chat.discard_sessions();
        let everyone = self.everyone();
        let event = Event::BreakoutEnded(Ended {
            run_id: id,
            reason,
            ended_at: self.timestamp(now),
        });
        self.send(everyone, event);
        self.breakout_changed();
    }

    /// `breakout_cancel_auto_end` (spec §8.7): it cannot be re-armed in this run.
    pub(crate) fn breakout_cancel_auto_end(
        &mut self,
        caller: ParticipantId,
        if_revision: Option<u64>,
    ) -> Result<Empty, ErrorBody> {
        self.manage(caller, if_revision)?;
        self.state.breakout.require_started()?;
        let run = self.state.breakout.armed_run_mut()?;
        run.auto_end_at = None;
        run.auto_end_cancelled = true;
        let id = run.id;
        self.disarm_run_timers(id);
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::BreakoutTimerChanged(TimerChanged {
                auto_end_at: None,
                reason: TimerChangeReason::Cancelled,
            }),
        );
        self.breakout_changed();
        Ok(Empty {})
    }

    /// `breakout_extend_auto_end` (spec §8.7 [Ext]).
    pub(crate) fn breakout_extend_auto_end(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: ExtendAutoEndArgs,
    ) -> Result<ExtendAutoEndResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        self.state.breakout.require_started()?;
        let run = self.state.breakout.armed_run_mut()?;
        let at = run.auto_end_at.unwrap_or(now) + Duration::from_secs(args.seconds.into());
        run.auto_end_at = Some(at);
        let id = run.id;
        self.arm_auto_end(now, id, at);
        let everyone = self.everyone();
        let stamp = self.timestamp(at);
        self.send(
            everyone,
            Event::BreakoutTimerChanged(TimerChanged {
                auto_end_at: Some(stamp.clone()),
                reason: TimerChangeReason::Extended,
            }),
        );
        self.breakout_changed();
        Ok(ExtendAutoEndResult { auto_end_at: stamp })
    }

    /// `breakout_ask_all_to_return` (spec §8.7, §11.8): lifts the return restriction and
    /// cancels pending moves; the run goes on.
    pub(crate) fn breakout_ask_all_to_return(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        if_revision: Option<u64>,
    ) -> Result<Empty, ErrorBody> {
        self.manage(caller, if_revision)?;
        self.state.breakout.require_started()?;
        let Some(run) = self.state.breakout.run.as_mut() else {
            return Err(not_active());
        };
        run.return_requested_at = Some(now);
        let moves: Vec<ParticipantId> = run.pending_moves.keys().copied().collect();
        run.pending_moves.clear();
        for p in moves {
            self.state.timers.disarm(Timer::MoveGrace(p));
        }
        let to = self.in_sessions_and_hosts();
        let event = Event::BreakoutReturnRequested(ReturnRequested {
            requested_by: participant_to_wire(caller),
            at: self.timestamp(now),
        });
        self.send(to, event);
        self.breakout_changed();
        Ok(Empty {})
    }

    // ---- timers (§10.3) ----

    /// The automatic end fired: Closing, or Ended with a zero countdown (spec §10.2).
    pub(crate) fn auto_end_fired(&mut self, now: Instant, run: u64) {
        let b = &self.state.breakout;
        let current = b.state == BreakoutState::Started
            && b.run
                .as_ref()
                .is_some_and(|r| r.id == run && r.auto_end_at.is_some());
        if !current {
            return;
        }
        let countdown = b.config.countdown_timer;
        if countdown == 0 {
            self.finish(now, EndReason::AutoEnd);
        } else {
            self.enter_closing(now, countdown, ClosingReason::AutoEnd);
        }
    }

    pub(crate) fn warning_fired(&mut self, run: u64) {
        let at = self
            .state
            .breakout
            .active_run()
            .filter(|r| r.id == run)
            .and_then(|r| r.auto_end_at);
        if let Some(at) = at {
            self.send_timer_warning(at);
        }
    }

    pub(crate) fn closing_fired(&mut self, now: Instant, run: u64) {
        let reason = match self.state.breakout.run.as_ref() {
            Some(r) if r.id == run && self.state.breakout.state == BreakoutState::Closing => {
                r.closing_reason
            }
            _ => return,
        };
        self.finish(
            now,
            match reason {
                Some(ClosingReason::AutoEnd) => EndReason::AutoEnd,
                _ => EndReason::Manual,
            },
        );
    }

    /// `breakout_get` (spec §8.7): the caller's view; hosts may take the edit lock with it.
    pub(crate) fn breakout_get(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        acquire: bool,
    ) -> Result<signalling_proto::BreakoutGetResult, ErrorBody> {
        let me = self.require(caller, Needs::Admitted)?;
        let mut edit_lock_error = None;
        if acquire {
            if !me.is_host() {
                return Err(forbidden());
            }
            if self.state.breakout.state == BreakoutState::Disabled {
                return Err(breakouts_disabled());
            }
            if let Err(e) = self.acquire_edit_lock(now, caller) {
                edit_lock_error = Some(e.code);
            }
        }
        let breakout = self.breakout_view(self.require(caller, Needs::Admitted)?);
        self.note_breakout_view(caller, &breakout);
        Ok(signalling_proto::BreakoutGetResult {
            breakout,
            edit_lock_error,
        })
    }

    /// Per-run data of a room session that ended (spec §5.2): a running breakout ends with
    /// `room_empty`, the edit lock goes.
    pub(crate) fn breakout_room_session_ended(&mut self, now: Instant) {
        self.finish(now, EndReason::RoomEmpty);
        self.drop_edit_lock(signalling_proto::EditLockChangeReason::Released);
        if let Some(run) = self.state.breakout.run.as_mut() {
            run.help_last_at.clear();
            run.present_at_start.clear();
        }
    }

    /// A participant is Gone (spec §7.2): its pending move, monitor and edit lock go.
    pub(crate) fn breakout_participant_gone(&mut self, id: ParticipantId) {
        if let Some(run) = self.state.breakout.run.as_mut() {
            run.pending_moves.remove(&id);
        }
        self.state.timers.disarm(Timer::MoveGrace(id));
        self.stop_monitor(id);
        if self
            .state
            .breakout
            .edit_lock
            .as_ref()
            .is_some_and(|l| l.holder == id)
        {
            self.drop_edit_lock(signalling_proto::EditLockChangeReason::HolderLeft);
        }
    }

    /// Spec §5.9 items 2-8 and the breakout parts of 9; `Err` names the first one broken.
    pub(crate) fn check_breakout_invariants(&self) -> Result<(), String> {
        let s = &self.state;
        let b = &s.breakout;
        let exists = |id: &SessionId| b.session(*id).is_some();
        for p in s.participants.values() {
            if let Location::Session(id) = p.location {
                if !b.is_active() || !exists(&id) {
                    return Err(format!("{} is in {id} without a running breakout", p.id));
                }
                if !p.role.is_movable() {
                    return Err(format!("service participant {} is not in MAIN", p.id));
                }
            }
        }
        if b.sessions.len() > usize::try_from(self.policy.max_sessions).unwrap_or(usize::MAX) {
            return Err("more sessions than max_sessions".into());
        }
        let mut names = BTreeSet::new();
        for session in &b.sessions {
            if !names.insert(crate::control::breakout::sessions::fold(&session.name)) {
                return Err(format!("duplicate session name {}", session.name));
            }
        }
        if !b.assignments.values().all(exists) || !b.pending_external.values().all(exists) {
            return Err("an assignment names a missing session".into());
        }
        if let Some(run) = &b.run {
            if !run.pending_moves.values().all(|m| exists(&m.target))
                || !run.last_location.values().all(exists)
            {
                return Err("a run record names a missing session".into());
            }
            if !run.pending_moves.is_empty() && b.state != BreakoutState::Started {
                return Err("pending moves outside Started".into());
            }
            if run.auto_end_at.is_some()
                && (b.state != BreakoutState::Started || run.auto_end_cancelled)
            {
                return Err("auto_end_at set outside Started".into());
            }
            if run.closing_ends_at.is_some() != (b.state == BreakoutState::Closing) {
                return Err("closing_ends_at does not match Closing".into());
            }
        } else if b.is_active() {
            return Err("an active breakout without a run".into());
        }
        if let Some(lock) = &b.edit_lock {
            if !s
                .participants
                .get(&lock.holder)
                .is_some_and(|p| p.is_host())
            {
                return Err("the edit lock holder is not an admitted host".into());
            }
        }
        for (host, session) in &b.monitors {
            let ok = b.is_active()
                && exists(session)
                && s.participants
                    .get(host)
                    .is_some_and(|p| p.is_host() && p.location == Location::Main);
            if !ok {
                return Err(format!("{host} monitors {session} illegally"));
            }
        }
        if s.participants.values().any(|p| {
            matches!(p.role, Role::Recorder | Role::Captioner) && p.location != Location::Main
        }) {
            return Err("the recorder or the captioner left MAIN".into());
        }
        Ok(())
    }
}
