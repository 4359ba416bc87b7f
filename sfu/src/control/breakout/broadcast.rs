//! Messages between hosts and sessions during a run: the host's broadcast (spec §8.7, §11.7)
//! and a participant's ask for help (spec §8.8, §11.6).

use crate::control::breakout::session_from_wire;
use crate::control::errors::{breakouts_disabled, closing, error, not_active, rate_limited};
use crate::control::room::Needs;
use crate::control::text_rules::TextRule;
use crate::control::wire_id::{participant_to_wire, session_to_wire};
use crate::control::Room;
use crate::core::{Location, ParticipantId};
use signalling_proto::{
    BreakoutMessage, BreakoutState, BroadcastArgs, BroadcastResult, Empty, ErrorBody, ErrorCode,
    Event, HelpRequested,
};
use std::time::{Duration, Instant};

/// Breakout broadcast `message`: 1-1000 characters after trim (spec §3).
const BROADCAST_MESSAGE: TextRule = TextRule {
    field: "message",
    min_chars: 1,
    max_chars: 1000,
    max_bytes: None,
    no_control: false,
};

/// The ask-for-help cooldown, keyed by identity (spec §11.6).
pub(crate) const HELP_COOLDOWN: Duration = Duration::from_secs(10);

impl Room {
    /// `breakout_broadcast` (spec §8.7): union of the selected recipient classes in the target
    /// locations; zero recipients is success.
    pub(crate) fn breakout_broadcast(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: BroadcastArgs,
    ) -> Result<BroadcastResult, ErrorBody> {
        self.manage(caller, args.if_revision)?;
        let message = BROADCAST_MESSAGE.check(&args.message)?;
        if !self.state.breakout.is_active() {
            return Err(not_active());
        }
        let session = args
            .session_id
            .as_ref()
            .map(|id| session_from_wire(&self.state.breakout, id))
            .transpose()?;
        if let Some(limits) = self.limits.get_mut(&caller) {
            limits
                .breakout_broadcast
                .check(1, now)
                .map_err(rate_limited)?;
            limits.breakout_broadcast.take(1);
        }
        let include_main = args.include_main == Some(true);
        let flags = args.recipients.clone().unwrap_or_default();
        let (participants, hosts, presenters) = (
            flags.participants == Some(true),
            flags.hosts == Some(true),
            flags.presenters == Some(true),
        );
        let everybody = !(participants || hosts || presenters);
        let audience: Vec<ParticipantId> = self
            .state
            .participants
            .values()
            .filter(|p| p.role.is_person())
            .filter(|p| match p.location {
                Location::Main => include_main,
                Location::Session(s) => session.is_none_or(|t| t == s),
            })
            .filter(|p| {
                everybody
                    || (hosts && p.is_host())
                    || (presenters && !p.screenshares.is_empty())
                    || (participants && !p.is_host())
            })
            .map(|p| p.id)
            .collect();
        let sender_name = self.require(caller, Needs::Host)?.display_name.clone();
        let delivered = u32::try_from(audience.len()).unwrap_or(u32::MAX);
        let event = Event::BreakoutMessage(BreakoutMessage {
            sender_id: participant_to_wire(caller),
            sender_name,
            sent_at: self.timestamp(now),
            message,
            session_id: session.map(session_to_wire),
        });
        self.send(audience, event);
        Ok(BroadcastResult {
            delivered_to: delivered,
        })
    }

    /// `breakout_ask_for_help` (spec §8.8, §11.6): to every connected host; the cooldown is
    /// consumed only on success.
    pub(crate) fn breakout_ask_for_help(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<Empty, ErrorBody> {
        let me = self.require(caller, crate::control::room::Needs::Person)?;
        match self.state.breakout.state {
            BreakoutState::Started => {}
            BreakoutState::Disabled => return Err(breakouts_disabled()),
            BreakoutState::Closing => return Err(closing()),
            _ => return Err(not_active()),
        }
        let Location::Session(session) = me.location else {
            return Err(error(ErrorCode::NotInSession, "you are in MAIN"));
        };
        let identity = me.identity_key.clone();
        let display_name = me.display_name.clone();
        let last = self
            .state
            .breakout
            .run
            .as_ref()
            .and_then(|r| r.help_last_at.get(&identity).copied());
        if let Some(last) = last {
            let since = now.saturating_duration_since(last);
            if since < HELP_COOLDOWN {
                return Err(rate_limited(HELP_COOLDOWN - since));
            }
        }
        let hosts: Vec<ParticipantId> = self
            .state
            .participants
            .values()
            .filter(|p| p.is_host() && p.id != caller && p.connection_id().is_some())
            .map(|p| p.id)
            .collect();
        if hosts.is_empty() {
            return Err(error(ErrorCode::NoHostPresent, "no host is connected"));
        }
        if let Some(run) = self.state.breakout.run.as_mut() {
            run.help_last_at.insert(identity, now);
        }
        let session_name = self
            .state
            .breakout
            .session(session)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let event = Event::BreakoutHelpRequested(HelpRequested {
            participant_id: participant_to_wire(caller),
            display_name,
            session_id: session_to_wire(session),
            session_name,
            at: self.timestamp(now),
        });
        self.send(hosts, event);
        Ok(Empty {})
    }
}
