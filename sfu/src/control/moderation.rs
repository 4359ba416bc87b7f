//! Host moderation: lock, kick, end meeting, remote mute, hands and spotlights (spec §8.3).

use crate::control::errors::error;
use crate::control::room::{MediaGate, Needs};
use crate::control::wire_id::{
    participant_from_wire, participant_to_wire, stream_from_wire, stream_to_wire,
};
use crate::control::{CloseReason, Effect, Room, Service};
use crate::core::ParticipantId;
use signalling_proto::{
    Changed, ClientKicked, ClientMetadataReceived, Empty, EnableRequested, EnabledChanged,
    EnabledReason, EndMeetingArgs, ErrorBody, ErrorCode, Event, InvalidTargetsDetails, KickReason,
    KnockHandledReason, LeaveReason, ParticipantArgs, RequestEnableArgs, RoomLockChanged,
    SetLockArgs, SpotlightArgs, SpotlightChanged,
};
use std::time::Instant;

impl Room {
    /// An admitted participant named on the wire; a knocker's id is `participant_waiting`
    /// (spec §6.6), anything else `participant_not_found`.
    pub(crate) fn resolve_target(
        &self,
        id: &signalling_proto::ParticipantId,
    ) -> Result<ParticipantId, ErrorBody> {
        match participant_from_wire(id) {
            Some(id) if self.state.participants.contains_key(&id) => Ok(id),
            Some(id) if self.state.waiting.iter().any(|k| k.reservation.id == id) => Err(error(
                ErrorCode::ParticipantWaiting,
                "that id is a knocker; use handle_knock",
            )),
            _ => Err(error(ErrorCode::ParticipantNotFound, "no such participant")),
        }
    }

    /// `set_lock` (spec §8.3): unlocking accepts every knocker.
    pub(crate) fn set_lock(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SetLockArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.is_locked == args.locked {
            return Ok(Changed::NO);
        }
        self.state.is_locked = args.locked;
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::RoomLocked(RoomLockChanged {
                is_locked: args.locked,
                by: participant_to_wire(caller),
            }),
        );
        if !args.locked {
            let knockers: Vec<ParticipantId> = self
                .state
                .waiting
                .iter()
                .map(|k| k.reservation.id)
                .collect();
            for id in knockers {
                self.accept_knocker(now, id, None, None, Some(KnockHandledReason::RoomUnlocked));
            }
        }
        Ok(Changed::YES)
    }

    /// `kick_participant` (spec §8.3): the identity is banned for the room session.
    pub(crate) fn kick(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: ParticipantArgs,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let target = self.resolve_target(&args.participant_id)?;
        if target == caller {
            return Err(error(ErrorCode::InvalidTarget, "cannot kick yourself"));
        }
        let p = &self.state.participants[&target];
        if p.role.is_unique() {
            return Err(error(
                ErrorCode::InvalidTarget,
                "stop the recording or stream instead",
            ));
        }
        self.state.kicked_keys.insert(p.identity_key.clone());
        self.kick_out(now, target, caller, KickReason::Kick);
        Ok(Empty {})
    }

    /// `client_kicked` to the target, `client_left` to the others, then its socket closes.
    fn kick_out(
        &mut self,
        now: Instant,
        target: ParticipantId,
        by: ParticipantId,
        reason: KickReason,
    ) {
        self.send(
            vec![target],
            Event::ClientKicked(ClientKicked {
                client_id: participant_to_wire(target),
                reason,
                by: participant_to_wire(by),
            }),
        );
        let connection = self.connection_of(target);
        let (leave, close) = match reason {
            KickReason::Kick => (LeaveReason::Kicked, CloseReason::Kicked),
            KickReason::EndMeeting => (LeaveReason::EndMeeting, CloseReason::MeetingEnded),
        };
        self.remove_participant(now, target, leave);
        if let Some(connection) = connection {
            self.pending.push(Effect::Close {
                connection,
                reason: close,
            });
        }
    }

    /// `end_meeting` (spec §8.3), in the spec's order. Identities are not banned.
    pub(crate) fn end_meeting(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: EndMeetingArgs,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let knockers: Vec<ParticipantId> = self
            .state
            .waiting
            .iter()
            .map(|k| k.reservation.id)
            .collect();
        for id in knockers {
            self.reject_knocker(id, None, None, Some(KnockHandledReason::MeetingEnded));
        }
        // A running breakout ends now, without a countdown.
        self.finish(now, signalling_proto::EndReason::MeetingEnded);
        for service in [
            Service::CloudRecording,
            Service::LiveStream,
            Service::Transcription,
        ] {
            if self.service_state(service).is_active() {
                self.stop_service_now(now, service);
            }
        }
        for target in self.everyone_but(caller) {
            self.kick_out(now, target, caller, KickReason::EndMeeting);
        }
        if !args.stay_behind.unwrap_or(false) {
            self.leave(now, caller)?;
        }
        Ok(Empty {})
    }

    /// `request_audio_enable` / `request_video_enable` (spec §8.3): `false` mutes (closes the
    /// gate, §13.7); `true` only asks.
    pub(crate) fn request_enable(
        &mut self,
        caller: ParticipantId,
        args: RequestEnableArgs,
        gate: MediaGate,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let mut targets = Vec::new();
        let mut invalid = Vec::new();
        let mut waiting_only = true;
        for wire in &args.participant_ids {
            match self.resolve_target(wire) {
                Ok(id) => {
                    if !targets.contains(&id) {
                        targets.push(id);
                    }
                }
                Err(e) => {
                    waiting_only &= e.code == ErrorCode::ParticipantWaiting;
                    invalid.push(wire.0.clone());
                }
            }
        }
        if !invalid.is_empty() {
            // Atomic: nothing happens and every offender is listed (spec §6.2).
            let code = if waiting_only {
                ErrorCode::ParticipantWaiting
            } else {
                ErrorCode::ParticipantNotFound
            };
            return Err(ErrorBody::with_details(
                code,
                "some targets are not admitted participants",
                &InvalidTargetsDetails { invalid },
            ));
        }
        for id in targets {
            let request = EnableRequested {
                requested_by: participant_to_wire(caller),
                enable: args.enable,
            };
            self.send(
                vec![id],
                match gate {
                    MediaGate::Audio => Event::AudioEnableRequested(request),
                    MediaGate::Video => Event::VideoEnableRequested(request),
                },
            );
            let Some(p) = self.state.participants.get_mut(&id) else {
                continue;
            };
            if args.enable {
                // §17.3 with `allowSelfUnmute = false`: a host's request is what re-opens the
                // participant's right to unmute (the flag itself stays the participant's).
                if gate == MediaGate::Audio {
                    p.host_muted_audio = false;
                }
                continue;
            }
            let flag = match gate {
                MediaGate::Audio => &mut p.audio_enabled,
                MediaGate::Video => &mut p.video_enabled,
            };
            if gate == MediaGate::Audio {
                p.host_muted_audio = true;
            }
            if !std::mem::replace(flag, false) {
                continue;
            }
            let changed = EnabledChanged {
                participant_id: participant_to_wire(id),
                enabled: false,
                reason: EnabledReason::Host,
            };
            let everyone = self.everyone();
            self.send(
                everyone,
                match gate {
                    MediaGate::Audio => Event::AudioEnabled(changed),
                    MediaGate::Video => Event::VideoEnabled(changed),
                },
            );
        }
        Ok(Empty {})
    }

    /// `client_metadata_received` for `id` to everyone.
    pub(crate) fn announce_metadata(&mut self, id: ParticipantId) {
        let Some(p) = self.state.participants.get(&id) else {
            return;
        };
        let event = Event::ClientMetadataReceived(ClientMetadataReceived {
            participant_id: participant_to_wire(id),
            display_name: p.display_name.clone(),
            sticky_reaction: p.sticky_reaction.clone(),
        });
        let everyone = self.everyone();
        self.send(everyone, event);
    }

    /// `clear_sticky_reaction` (spec §8.3): lower someone's hand.
    pub(crate) fn clear_sticky_reaction(
        &mut self,
        caller: ParticipantId,
        args: ParticipantArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let target = self.resolve_target(&args.participant_id)?;
        let Some(p) = self.state.participants.get_mut(&target) else {
            return Err(error(ErrorCode::ParticipantNotFound, "no such participant"));
        };
        if p.sticky_reaction.take().is_none() {
            return Ok(Changed::NO);
        }
        self.announce_metadata(target);
        Ok(Changed::YES)
    }

    /// `add_spotlight` (spec §8.3, §13.5).
    pub(crate) fn add_spotlight(
        &mut self,
        caller: ParticipantId,
        args: SpotlightArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let target = self.resolve_target(&args.participant_id)?;
        let stream = stream_from_wire(&args.stream_id)
            .filter(|s| self.state.participants[&target].has_stream(*s))
            .ok_or_else(|| error(ErrorCode::StreamNotFound, "no such stream"))?;
        if self.state.spotlights.contains(&(target, stream)) {
            return Ok(Changed::NO);
        }
        self.state.spotlights.push((target, stream));
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::SpotlightAdded(SpotlightChanged {
                participant_id: participant_to_wire(target),
                stream_id: stream_to_wire(stream),
                by: participant_to_wire(caller),
            }),
        );
        Ok(Changed::YES)
    }

    /// `remove_spotlight` (spec §8.3).
    pub(crate) fn remove_spotlight(
        &mut self,
        caller: ParticipantId,
        args: SpotlightArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let target = self.resolve_target(&args.participant_id)?;
        let stream = stream_from_wire(&args.stream_id)
            .ok_or_else(|| error(ErrorCode::StreamNotFound, "no such stream"))?;
        if !self.state.spotlights.contains(&(target, stream)) {
            if self.state.participants[&target].has_stream(stream) {
                return Ok(Changed::NO);
            }
            return Err(error(ErrorCode::StreamNotFound, "no such stream"));
        }
        self.unspotlight(target, stream, caller);
        Ok(Changed::YES)
    }

    /// Drops one spotlight with `spotlight_removed` to everyone.
    pub(crate) fn unspotlight(
        &mut self,
        target: ParticipantId,
        stream: crate::core::StreamId,
        by: ParticipantId,
    ) {
        let before = self.state.spotlights.len();
        self.state.spotlights.retain(|s| *s != (target, stream));
        if self.state.spotlights.len() == before {
            return;
        }
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::SpotlightRemoved(SpotlightChanged {
                participant_id: participant_to_wire(target),
                stream_id: stream_to_wire(stream),
                by: participant_to_wire(by),
            }),
        );
    }
}
