//! Moving participants between `MAIN` and sessions: the relocation procedure of spec §13.3 and
//! the commands that relocate (`breakout_move`, `breakout_join`, `breakout_leave`).

use crate::control::breakout::session_from_wire;
use crate::control::errors::{breakouts_disabled, closing, error, not_active, rate_limited};
use crate::control::room::Needs;
use crate::control::wire_id::{location_to_wire, participant_to_wire};
use crate::control::{Room, ScreensharePolicy, Timer};
use crate::core::{Location, ParticipantId, SessionId};
use signalling_proto::{
    BreakoutState, Changed, ChatHistory, Empty, EnabledChanged, EnabledReason, ErrorBody,
    ErrorCode, Event, InvalidTargetsDetails, LocationChanged, MoveArgs, MuteOnReturn,
    RelocationReason, ScreenshareStopReason, SessionArgs,
};
use std::time::Instant;

impl Room {
    /// Spec §13.3 for one batch of moves: the whole batch changes state together (step 1); the
    /// policy install and the events follow in `settle` (steps 2-4). Moves to where the
    /// participant already is are dropped.
    pub(crate) fn relocate(
        &mut self,
        _now: Instant,
        moves: Vec<(ParticipantId, Location)>,
        reason: RelocationReason,
    ) {
        let mut movers = Vec::new();
        for (id, to) in moves {
            let Some(p) = self.state.participants.get_mut(&id) else {
                continue;
            };
            let from = p.location;
            if from == to {
                continue;
            }
            p.location = to;
            let identity = p.identity_key.clone();
            if let Some(run) = self.state.breakout.run.as_mut() {
                run.pending_moves.remove(&id);
                match to {
                    Location::Session(s) => {
                        run.last_location.insert(identity, s);
                    }
                    Location::Main => {
                        run.last_location.remove(&identity);
                        if matches!(reason, RelocationReason::Own | RelocationReason::HostMove) {
                            run.returned_to_main.insert(identity);
                        }
                    }
                }
            }
            self.state.timers.disarm(Timer::MoveGrace(id));
            self.notice(crate::control::Notice::ParticipantMoved {
                participant: id,
                from,
                to,
                reason,
            });
            movers.push((id, from, to));
        }
        if movers.is_empty() {
            return;
        }
        let everyone = self.everyone();
        for (id, from, to) in &movers {
            self.send(
                everyone.clone(),
                Event::BreakoutLocationChanged(LocationChanged {
                    participant_id: participant_to_wire(*id),
                    from: location_to_wire(*from),
                    to: location_to_wire(*to),
                    reason,
                }),
            );
        }
        for (id, from, to) in &movers {
            self.relocation_side_effects(*id, *from, *to);
        }
        for (id, _, to) in &movers {
            let history = self.chat_history_for(*to);
            self.pending_after.push(crate::control::Effect::Send {
                to: vec![*id],
                event: Event::ChatHistory(ChatHistory {
                    scope: location_to_wire(*to),
                    messages: history,
                }),
            });
        }
        self.breakout_changed();
    }

    /// Step 1's consequences for one mover: monitor ended when a host enters a session,
    /// mute on return (§11.9), screenshares (§13.4), stage spotlights (§13.5).
    fn relocation_side_effects(&mut self, id: ParticipantId, from: Location, to: Location) {
        if to != Location::Main {
            self.stop_monitor(id);
        }
        let Some(p) = self.state.participants.get_mut(&id) else {
            return;
        };
        let is_host = p.is_host();
        let mut muted = Vec::new();
        if !is_host && from != Location::Main && to == Location::Main {
            let mode = self.state.breakout.config.mute_on_return_to_main;
            if mode != MuteOnReturn::None && p.audio_enabled {
                p.audio_enabled = false;
                muted.push(true);
            }
            if mode == MuteOnReturn::AudioVideo && p.video_enabled {
                p.video_enabled = false;
                muted.push(false);
            }
        }
        let everyone = self.everyone();
        for audio in muted {
            let changed = EnabledChanged {
                participant_id: participant_to_wire(id),
                enabled: false,
                reason: EnabledReason::ReturnedToMain,
            };
            self.send(
                everyone.clone(),
                if audio {
                    Event::AudioEnabled(changed)
                } else {
                    Event::VideoEnabled(changed)
                },
            );
        }
        let sharing = self
            .state
            .participants
            .get(&id)
            .is_some_and(|p| !p.screenshares.is_empty());
        if sharing {
            let busy = self.policy.screenshare_policy == ScreensharePolicy::OnePerLocation
                && self
                    .state
                    .participants
                    .values()
                    .any(|q| q.id != id && q.location == to && !q.screenshares.is_empty());
            if self.policy.stop_screenshare_on_move || busy {
                self.stop_all_screenshares(id, ScreenshareStopReason::LocationChanged);
            }
        }
        // The stage is only valid from MAIN.
        if from == Location::Main && to != Location::Main {
            let spots: Vec<_> = self
                .state
                .spotlights
                .iter()
                .filter(|(who, _)| *who == id)
                .map(|(_, stream)| *stream)
                .collect();
            for stream in spots {
                self.unspotlight(id, stream, id);
            }
        }
    }

    /// `breakout_move` (spec §8.7): atomic over its targets; host moves bypass the self-join
    /// rules; a session target becomes the assignment, `null` clears it.
    pub(crate) fn breakout_move(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: MoveArgs,
    ) -> Result<Changed, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        let state = self.state.breakout.state;
        let target = match &args.target {
            signalling_proto::Location::Main => match state {
                BreakoutState::Started | BreakoutState::Closing => None,
                _ => return Err(not_active()),
            },
            signalling_proto::Location::Session(id) => {
                match state {
                    BreakoutState::Started => {}
                    BreakoutState::Closing => return Err(closing()),
                    _ => return Err(not_active()),
                }
                Some(session_from_wire(&self.state.breakout, id)?)
            }
        };
        let mut ids = Vec::new();
        let mut invalid = Vec::new();
        let mut first_error: Option<ErrorBody> = None;
        for wire in &args.participant_ids {
            let checked = self.resolve_target(wire).and_then(|id| {
                let p = &self.state.participants[&id];
                if !p.role.is_movable() {
                    Err(error(
                        ErrorCode::RoleNotMovable,
                        "service roles stay in MAIN",
                    ))
                } else if !p.capabilities.breakouts {
                    Err(error(
                        ErrorCode::ClientUnsupported,
                        "the client does not support breakouts",
                    ))
                } else {
                    Ok(id)
                }
            });
            match checked {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(e) => {
                    invalid.push(wire.0.clone());
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(ErrorBody::with_details(
                e.code,
                &e.message,
                &InvalidTargetsDetails { invalid },
            ));
        }
        let to = target.map_or(Location::Main, Location::Session);
        let mut changed = false;
        for id in &ids {
            let identity = self.state.participants[id].identity_key.clone();
            let b = &mut self.state.breakout;
            let assignment_changed = match target {
                Some(s) => b.assignments.insert(identity, s) != Some(s),
                None => b.assignments.remove(&identity).is_some(),
            };
            changed |= assignment_changed;
        }
        let moves: Vec<(ParticipantId, Location)> = ids
            .into_iter()
            .filter(|id| self.state.participants[id].location != to)
            .map(|id| (id, to))
            .collect();
        changed |= !moves.is_empty();
        if !changed {
            return Ok(Changed::NO);
        }
        self.relocate(now, moves, RelocationReason::HostMove);
        self.breakout_changed();
        Ok(Changed::YES)
    }

    /// The breakout join/leave bucket (spec §6.5): checked first, taken only on success.
    fn check_join_leave_bucket(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<(), ErrorBody> {
        match self.limits.get_mut(&caller) {
            Some(limits) => limits.breakout_moves.check(1, now).map_err(rate_limited),
            None => Ok(()),
        }
    }

    fn take_join_leave_token(&mut self, caller: ParticipantId) {
        if let Some(limits) = self.limits.get_mut(&caller) {
            limits.breakout_moves.take(1);
        }
    }

    /// `breakout_join` (spec §8.8): from `MAIN` or another session.
    pub(crate) fn breakout_join(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SessionArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Person)?;
        match self.state.breakout.state {
            BreakoutState::Started => {}
            BreakoutState::Disabled => return Err(breakouts_disabled()),
            BreakoutState::Closing => return Err(closing()),
            _ => return Err(not_active()),
        }
        let s: SessionId = session_from_wire(&self.state.breakout, &args.session_id)?;
        let me = &self.state.participants[&caller];
        if !me.capabilities.breakouts {
            return Err(error(
                ErrorCode::ClientUnsupported,
                "the client does not support breakouts",
            ));
        }
        if me.location == Location::Session(s) {
            return Ok(Changed::NO);
        }
        self.can_self_join(me, s).map_err(|code| {
            let message = match code {
                ErrorCode::SessionFull => "the session is full",
                ErrorCode::JoinLaterNotAllowed => "late participants may not join",
                _ => "you may not join this session",
            };
            error(code, message)
        })?;
        self.check_join_leave_bucket(now, caller)?;
        self.take_join_leave_token(caller);
        self.relocate(
            now,
            vec![(caller, Location::Session(s))],
            RelocationReason::Own,
        );
        Ok(Changed::YES)
    }

    /// `breakout_leave` (spec §8.8): back to `MAIN`.
    pub(crate) fn breakout_leave(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<Empty, ErrorBody> {
        let me = self.require(caller, Needs::Person)?;
        if self.state.breakout.state == BreakoutState::Disabled {
            return Err(breakouts_disabled());
        }
        if me.location == Location::Main {
            return Err(error(ErrorCode::NotInSession, "you are in MAIN"));
        }
        if !self.can_self_leave(me) {
            return Err(error(
                ErrorCode::ReturnNotAllowed,
                "returning to MAIN is not allowed now",
            ));
        }
        self.check_join_leave_bucket(now, caller)?;
        self.take_join_leave_token(caller);
        self.relocate(now, vec![(caller, Location::Main)], RelocationReason::Own);
        Ok(Empty {})
    }
}
