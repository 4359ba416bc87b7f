//! A participant's own media flags, screenshares and metadata (spec §8.4).

use crate::control::errors::rate_limited;
use crate::control::errors::{error, forbidden, participant_not_found};
use crate::control::participant::Screenshare;
use crate::control::rate_limit::RateLimits;
use crate::control::room::{MediaGate, Needs};
use crate::control::text_rules::{DISPLAY_NAME, REACTION};
use crate::control::wire_id::{participant_to_wire, stream_from_wire, stream_to_wire};
use crate::control::{Room, ScreensharePolicy};
use crate::core::{ParticipantId, StreamId};
use signalling_proto::{
    Changed, EnabledChanged, EnabledReason, ErrorBody, ErrorCode, Event, ScreenshareStarted,
    ScreenshareStopReason, ScreenshareStopped, SetDisplayNameArgs, SetStickyReactionArgs,
    StartScreenshareArgs, StartScreenshareResult, StickyReaction, StopScreenshareArgs,
};
use std::time::Instant;

impl Room {
    /// `set_audio_enabled` / `set_video_enabled` (spec §8.4): the gate follows the flag.
    pub(crate) fn set_enabled(
        &mut self,
        caller: ParticipantId,
        enabled: bool,
        gate: MediaGate,
    ) -> Result<Changed, ErrorBody> {
        // An assistant's audio gate is its own; its video gate is never open.
        let needs = match gate {
            MediaGate::Audio => Needs::Speaker,
            MediaGate::Video => Needs::Publisher,
        };
        let me = self.require(caller, needs)?;
        // §17.3: after a host mute, unmuting oneself needs the room's permission.
        if gate == MediaGate::Audio
            && enabled
            && me.host_muted_audio
            && !self.policy.allow_self_unmute
        {
            return Err(forbidden());
        }
        let Some(p) = self.state.participants.get_mut(&caller) else {
            return Err(error(ErrorCode::NotConnected, "not admitted"));
        };
        let flag = match gate {
            MediaGate::Audio => &mut p.audio_enabled,
            MediaGate::Video => &mut p.video_enabled,
        };
        if *flag == enabled {
            return Ok(Changed::NO);
        }
        *flag = enabled;
        if gate == MediaGate::Audio && enabled {
            p.host_muted_audio = false;
        }
        let changed = EnabledChanged {
            participant_id: participant_to_wire(caller),
            enabled,
            reason: EnabledReason::Own,
        };
        let everyone = self.everyone();
        self.send(
            everyone,
            match gate {
                MediaGate::Audio => Event::AudioEnabled(changed),
                MediaGate::Video => Event::VideoEnabled(changed),
            },
        );
        Ok(Changed::YES)
    }

    /// `start_screenshare` (spec §8.4, §13.4).
    pub(crate) fn start_screenshare(
        &mut self,
        caller: ParticipantId,
        args: StartScreenshareArgs,
    ) -> Result<StartScreenshareResult, ErrorBody> {
        let me = self.require(caller, Needs::Publisher)?;
        if !me.capabilities.screenshare {
            return Err(forbidden());
        }
        if !me.screenshares.is_empty() {
            return Err(error(ErrorCode::AlreadyScreensharing, "already sharing"));
        }
        let location = me.location;
        if self.policy.screenshare_policy == ScreensharePolicy::OnePerLocation
            && self
                .state
                .participants
                .values()
                .any(|p| p.location == location && !p.screenshares.is_empty())
        {
            return Err(error(ErrorCode::ScreenshareBusy, "someone here is sharing"));
        }
        let stream = StreamId::Screenshare(self.state.next_screenshare);
        self.state.next_screenshare += 1;
        if let Some(p) = self.state.participants.get_mut(&caller) {
            p.screenshares.push(Screenshare {
                stream,
                has_audio_track: args.has_audio_track,
            });
        }
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::ScreenshareStarted(ScreenshareStarted {
                participant_id: participant_to_wire(caller),
                stream_id: stream_to_wire(stream),
                has_audio_track: args.has_audio_track,
            }),
        );
        Ok(StartScreenshareResult {
            stream_id: stream_to_wire(stream),
        })
    }

    /// `stop_screenshare` (spec §8.4): idempotent; an unknown or finished stream is a no-op.
    pub(crate) fn stop_screenshare(
        &mut self,
        caller: ParticipantId,
        args: StopScreenshareArgs,
    ) -> Result<Changed, ErrorBody> {
        let me = self.require(caller, Needs::Publisher)?;
        let stream = match &args.stream_id {
            Some(wire) => stream_from_wire(wire).filter(|s| me.has_stream(*s)),
            None => me.screenshares.first().map(|s| s.stream),
        };
        match stream {
            Some(stream @ StreamId::Screenshare(_)) => {
                self.stop_one_screenshare(caller, stream, ScreenshareStopReason::Own);
                Ok(Changed::YES)
            }
            _ => Ok(Changed::NO),
        }
    }

    /// Removes one screenshare: `screenshare_stopped`, then its spotlight if any.
    pub(crate) fn stop_one_screenshare(
        &mut self,
        id: ParticipantId,
        stream: StreamId,
        reason: ScreenshareStopReason,
    ) {
        let Some(p) = self.state.participants.get_mut(&id) else {
            return;
        };
        let before = p.screenshares.len();
        p.screenshares.retain(|s| s.stream != stream);
        if p.screenshares.len() == before {
            return;
        }
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::ScreenshareStopped(ScreenshareStopped {
                participant_id: participant_to_wire(id),
                stream_id: stream_to_wire(stream),
                reason,
            }),
        );
        self.unspotlight(id, stream, id);
    }

    /// Stops every screenshare of a participant (disconnect, spec §7.2).
    pub(crate) fn stop_all_screenshares(
        &mut self,
        id: ParticipantId,
        reason: ScreenshareStopReason,
    ) {
        let streams: Vec<StreamId> = self
            .state
            .participants
            .get(&id)
            .map(|p| p.screenshares.iter().map(|s| s.stream).collect())
            .unwrap_or_default();
        for stream in streams {
            self.stop_one_screenshare(id, stream, reason);
        }
    }

    fn take_metadata_token(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<(), ErrorBody> {
        let limits = self
            .limits
            .entry(caller)
            .or_insert_with(|| RateLimits::new(now));
        limits.metadata.check(1, now).map_err(rate_limited)?;
        limits.metadata.take(1);
        Ok(())
    }

    /// `set_display_name` (spec §8.4, §3).
    pub(crate) fn set_display_name(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SetDisplayNameArgs,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Person)?;
        self.rename(now, caller, args, true)
    }

    /// A participant's new display name, set by itself (`limited`: its metadata bucket pays)
    /// or by the server API: the same text rule and the same `client_metadata_received`.
    pub(crate) fn rename(
        &mut self,
        now: Instant,
        target: ParticipantId,
        args: SetDisplayNameArgs,
        limited: bool,
    ) -> Result<Changed, ErrorBody> {
        let name = DISPLAY_NAME.check(&args.display_name)?;
        let Some(p) = self.state.participants.get(&target) else {
            return Err(participant_not_found());
        };
        if p.display_name == name {
            return Ok(Changed::NO);
        }
        if limited {
            self.take_metadata_token(now, target)?;
        }
        if let Some(p) = self.state.participants.get_mut(&target) {
            p.display_name = name;
        }
        self.announce_metadata(target);
        Ok(Changed::YES)
    }

    /// `set_sticky_reaction` (spec §8.4): `null` lowers the hand.
    pub(crate) fn set_sticky_reaction(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SetStickyReactionArgs,
    ) -> Result<Changed, ErrorBody> {
        let me = self.require(caller, Needs::Person)?;
        let reaction = args
            .reaction
            .as_deref()
            .map(|r| REACTION.check(r))
            .transpose()?;
        let current = me.sticky_reaction.as_ref().map(|r| r.reaction.as_str());
        if current == reaction.as_deref() {
            return Ok(Changed::NO);
        }
        self.take_metadata_token(now, caller)?;
        let set_at = self.timestamp(now);
        if let Some(p) = self.state.participants.get_mut(&caller) {
            p.sticky_reaction = reaction.map(|reaction| StickyReaction { reaction, set_at });
        }
        self.announce_metadata(caller);
        Ok(Changed::YES)
    }
}
