//! Who goes where: explicit assignment, even auto distribution, placement when an assignment
//! becomes effective, and placement of a fresh admission during a run (spec §7.3, §11.1-§11.4).

use crate::control::breakout::{session_from_wire, PendingMove};
use crate::control::errors::{closing, error};
use crate::control::wire_id::{participant_to_wire, session_to_wire};
use crate::control::{Room, Timer};
use crate::core::{Location, ParticipantId, SessionId};
use rand_core::RngCore;
use signalling_proto::{
    AssignArgs, AssignResult, AssignmentMethod, AutoAssignArgs, AutoAssignResult, BreakoutState,
    ErrorBody, ErrorCode, Event, InvalidTargetsDetails, MoveRequestReason, MoveRequested,
    NewAssignment, RelocationReason, Role,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Room {
    /// Auto-eligible participants (spec §11.1); unless `include_assigned`, only those without
    /// an assignment. Sorted by `joined_at`, then id (§11.2 step 1).
    pub(crate) fn auto_eligible(&self, include_assigned: bool) -> Vec<ParticipantId> {
        let b = &self.state.breakout;
        let mut eligible: Vec<_> = self
            .state
            .participants
            .values()
            .filter(|p| matches!(p.role, Role::Visitor | Role::GrantedVisitor))
            .filter(|p| p.capabilities.breakouts && p.location == Location::Main)
            .filter(|p| !b.is_late(p) || b.config.allow_join_later)
            .filter(|p| include_assigned || b.resolved_assignment(p).is_none())
            .map(|p| (p.joined_at, p.id))
            .collect();
        eligible.sort();
        eligible.into_iter().map(|(_, id)| id).collect()
    }

    /// §11.2: shuffle with the room's RNG, then each to the session with the fewest assigned
    /// (ties to the lowest display index). Returns the new assignments.
    pub(crate) fn distribute(
        &mut self,
        mut people: Vec<ParticipantId>,
    ) -> Vec<(ParticipantId, SessionId)> {
        let b = &self.state.breakout;
        if b.sessions.is_empty() {
            return Vec::new();
        }
        // Fisher-Yates with the room's seeded RNG, so tests are reproducible (§16.2-13).
        for i in (1..people.len()).rev() {
            let j = usize::try_from(self.rng_next() % (i as u64 + 1)).unwrap_or(0);
            people.swap(i, j);
        }
        let b = &self.state.breakout;
        let mut counts: BTreeMap<SessionId, usize> = b.sessions.iter().map(|s| (s.id, 0)).collect();
        for s in b.assignments.values() {
            if let Some(c) = counts.get_mut(s) {
                *c += 1;
            }
        }
        let order: Vec<SessionId> = b.sessions.iter().map(|s| s.id).collect();
        let mut made = Vec::new();
        for p in people {
            let Some(identity) = self
                .state
                .participants
                .get(&p)
                .map(|p| p.identity_key.clone())
            else {
                continue;
            };
            let Some(&target) = order
                .iter()
                .min_by_key(|s| counts.get(s).copied().unwrap_or(0))
            else {
                continue;
            };
            *counts.entry(target).or_default() += 1;
            self.state.breakout.assignments.insert(identity, target);
            made.push((p, target));
        }
        made
    }

    fn rng_next(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// §11.4: an assignment of `p` (in `MAIN`) to `target` became effective. Returns the move
    /// to make now; a deferred auto-move or an invitation is recorded and announced instead.
    pub(crate) fn place_assigned(
        &mut self,
        now: Instant,
        p: ParticipantId,
        target: SessionId,
        reason: MoveRequestReason,
    ) -> Option<(ParticipantId, Location)> {
        let config = self.state.breakout.config.clone();
        let grace = Duration::from_secs(config.move_grace_period.into());
        if config.auto_move_assigned && grace.is_zero() {
            return Some((p, Location::Session(target)));
        }
        let deadline = config.auto_move_assigned.then_some(now + grace);
        let run = self.state.breakout.active_run_mut()?;
        run.pending_moves
            .insert(p, PendingMove { target, deadline });
        match deadline {
            Some(at) => self.arm_timer(Timer::MoveGrace(p), at),
            None => self.state.timers.disarm(Timer::MoveGrace(p)),
        }
        let name = self
            .state
            .breakout
            .session(target)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let event = Event::BreakoutMoveRequested(MoveRequested {
            session_id: session_to_wire(target),
            session_name: name,
            deadline: deadline.map(|at| self.timestamp(at)),
            reason,
        });
        self.send(vec![p], event);
        self.breakout_changed();
        None
    }

    /// A move-grace deadline passed: move if still in `MAIN` and still assigned there (§11.4).
    pub(crate) fn move_grace_fired(&mut self, now: Instant, p: ParticipantId) {
        if self.state.breakout.state != BreakoutState::Started {
            return;
        }
        let Some(run) = self.state.breakout.run.as_mut() else {
            return;
        };
        let Some(pending) = run.pending_moves.remove(&p) else {
            return;
        };
        let still = self.state.participants.get(&p).is_some_and(|q| {
            q.location == Location::Main
                && self.state.breakout.resolved_assignment(q) == Some(pending.target)
        });
        if still {
            self.relocate(
                now,
                vec![(p, Location::Session(pending.target))],
                RelocationReason::AutoMove,
            );
        } else {
            self.breakout_changed();
        }
    }

    /// `breakout_assign` (spec §8.7): atomic; during a run, newly assigned participants in
    /// `MAIN` are placed (§11.4); people already in a session are not moved.
    pub(crate) fn breakout_assign(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: AssignArgs,
    ) -> Result<AssignResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        self.state.breakout.require_not_closing()?;
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        // Resolve everything before changing anything.
        let mut plan: Vec<(Option<SessionId>, Vec<ParticipantId>, Vec<String>)> = Vec::new();
        let mut invalid = Vec::new();
        let mut first_error: Option<ErrorBody> = None;
        for entry in &args.assignments {
            let target = match &entry.session_id {
                Some(id) => Some(session_from_wire(&self.state.breakout, id)?),
                None => None,
            };
            let mut ids = Vec::new();
            for wire in entry.participant_ids.iter().flatten() {
                match self.resolve_target(wire) {
                    Ok(id) if !self.state.participants[&id].role.is_movable() => {
                        invalid.push(wire.0.clone());
                        first_error.get_or_insert_with(|| {
                            error(ErrorCode::RoleNotMovable, "service roles stay in MAIN")
                        });
                    }
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        invalid.push(wire.0.clone());
                        first_error.get_or_insert(e);
                    }
                }
            }
            plan.push((target, ids, entry.external_ids.clone().unwrap_or_default()));
        }
        if let Some(e) = first_error {
            return Err(ErrorBody::with_details(
                e.code,
                &e.message,
                &InvalidTargetsDetails { invalid },
            ));
        }
        let before: BTreeMap<ParticipantId, Option<SessionId>> = self
            .state
            .participants
            .values()
            .map(|p| (p.id, self.state.breakout.resolved_assignment(p)))
            .collect();
        let b_before = (
            self.state.breakout.assignments.clone(),
            self.state.breakout.pending_external.clone(),
        );
        for (target, ids, externals) in plan {
            for id in ids {
                let identity = self.state.participants[&id].identity_key.clone();
                match target {
                    Some(s) => self.state.breakout.assignments.insert(identity, s),
                    None => self.state.breakout.assignments.remove(&identity),
                };
            }
            for e in externals {
                match target {
                    Some(s) => self.state.breakout.pending_external.insert(e, s),
                    None => self.state.breakout.pending_external.remove(&e),
                };
            }
        }
        let changed: Vec<(ParticipantId, Option<SessionId>)> = self
            .state
            .participants
            .values()
            .filter_map(|p| {
                let now_assigned = self.state.breakout.resolved_assignment(p);
                (before.get(&p.id).copied().flatten() != now_assigned)
                    .then_some((p.id, now_assigned))
            })
            .collect();
        if (
            &self.state.breakout.assignments,
            &self.state.breakout.pending_external,
        ) != (&b_before.0, &b_before.1)
        {
            self.breakout_changed();
        }
        if self.state.breakout.state == BreakoutState::Started {
            self.place_changed(now, &changed, MoveRequestReason::Assigned);
        }
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(AssignResult {
            changed: changed
                .into_iter()
                .map(|(p, _)| participant_to_wire(p))
                .collect(),
        })
    }

    /// During a run: placement for participants whose assignment changed (§11.4); an unassigned
    /// one loses its pending move.
    fn place_changed(
        &mut self,
        now: Instant,
        changed: &[(ParticipantId, Option<SessionId>)],
        reason: MoveRequestReason,
    ) {
        let mut immediate = Vec::new();
        for (p, target) in changed {
            if let Some(run) = self.state.breakout.run.as_mut() {
                run.pending_moves.remove(p);
            }
            self.state.timers.disarm(Timer::MoveGrace(*p));
            let placeable = self
                .state
                .participants
                .get(p)
                .is_some_and(|q| q.location == Location::Main && q.capabilities.breakouts);
            if let (Some(s), true) = (target, placeable) {
                if let Some(mv) = self.place_assigned(now, *p, *s, reason) {
                    immediate.push(mv);
                }
            }
        }
        self.relocate(now, immediate, RelocationReason::AutoMove);
    }

    /// `breakout_auto_assign` (spec §8.7, §11.2).
    pub(crate) fn breakout_auto_assign(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: AutoAssignArgs,
    ) -> Result<AutoAssignResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        if self.state.breakout.state == BreakoutState::Closing {
            return Err(closing());
        }
        self.check_plan_lock(now, caller, args.edit_lock_token.as_ref())?;
        if self.state.breakout.sessions.is_empty() {
            return Err(error(ErrorCode::NoSessions, "create a session first"));
        }
        let reassign = args.reassign_all == Some(true);
        let people = self.auto_eligible(reassign);
        if reassign {
            for p in &people {
                let identity = self.state.participants[p].identity_key.clone();
                self.state.breakout.assignments.remove(&identity);
            }
        }
        let made = self.distribute(people);
        if !made.is_empty() || reassign {
            self.breakout_changed();
        }
        if self.state.breakout.state == BreakoutState::Started {
            let changed: Vec<_> = made.iter().map(|(p, s)| (*p, Some(*s))).collect();
            self.place_changed(now, &changed, MoveRequestReason::Assigned);
        }
        self.after_plan_mutation(now, caller, args.release_edit_lock == Some(true));
        Ok(AutoAssignResult {
            assignments: made
                .into_iter()
                .map(|(p, s)| NewAssignment {
                    participant_id: participant_to_wire(p),
                    session_id: session_to_wire(s),
                })
                .collect(),
        })
    }

    /// Placement of a fresh admission while the breakout is Started (spec §7.3 item 2, rules
    /// a-e, first match wins). `knock_session` is the session a knock grant named.
    pub(crate) fn place_on_admission(
        &mut self,
        now: Instant,
        id: ParticipantId,
        knock_session: Option<SessionId>,
    ) {
        if self.state.breakout.state != BreakoutState::Started {
            return;
        }
        let Some(p) = self.state.participants.get(&id) else {
            return;
        };
        // An assistant is placed like a person (its assignment, its last session); rule c's
        // auto-assignment takes visitors only.
        if !p.role.is_movable() || !p.capabilities.breakouts {
            return;
        }
        let b = &self.state.breakout;
        let exists = |s: SessionId| b.session(s).is_some();
        // a. A knock grant that names a session.
        if let Some(s) = knock_session.filter(|s| exists(*s)) {
            self.relocate(
                now,
                vec![(id, Location::Session(s))],
                RelocationReason::KnockAdmit,
            );
            return;
        }
        let Some(run) = b.run.as_ref() else {
            return;
        };
        // b. Back to where the person was.
        if let Some(s) = run
            .last_location
            .get(&p.identity_key)
            .copied()
            .filter(|s| exists(*s))
        {
            self.relocate(
                now,
                vec![(id, Location::Session(s))],
                RelocationReason::Rejoin,
            );
            return;
        }
        let present = run.present_at_start.contains(&p.identity_key);
        let may = present || b.config.allow_join_later;
        // c. Auto method: assign the eligible newcomer by §11.2 step 2.
        if b.config.assignment_method == AssignmentMethod::Auto
            && may
            && b.resolved_assignment(p).is_none()
            && self.auto_eligible(false).contains(&id)
        {
            self.distribute(vec![id]);
            self.breakout_changed();
        }
        // d. An assignment becomes effective unless the person chose MAIN in this run.
        let b = &self.state.breakout;
        let Some(p) = self.state.participants.get(&id) else {
            return;
        };
        let returned = b
            .run
            .as_ref()
            .is_some_and(|r| r.returned_to_main.contains(&p.identity_key));
        if let (Some(s), false, true) = (b.resolved_assignment(p), returned, may) {
            let reason = if present {
                MoveRequestReason::Rejoin
            } else {
                MoveRequestReason::LateJoin
            };
            if let Some(mv) = self.place_assigned(now, id, s, reason) {
                self.relocate(now, vec![mv], RelocationReason::AutoMove);
            }
        }
        // e. Otherwise MAIN.
    }
}
