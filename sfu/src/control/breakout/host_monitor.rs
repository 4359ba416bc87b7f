//! A host monitoring one breakout session receive-only without joining it (spec §17.1).

use crate::control::breakout::session_from_wire;
use crate::control::errors::{error, not_active};
use crate::control::room::Needs;
use crate::control::wire_id::{participant_to_wire, session_to_wire};
use crate::control::Room;
use crate::core::{Location, ParticipantId, SessionId};
use signalling_proto::{Changed, ErrorBody, ErrorCode, Event, MonitorChanged, SessionArgs};

impl Room {
    /// `breakout_monitor {sessionId}`: replaces any earlier monitor of that host.
    pub(crate) fn breakout_monitor(
        &mut self,
        caller: ParticipantId,
        args: SessionArgs,
    ) -> Result<Changed, ErrorBody> {
        self.manage(caller, None)?;
        if !self.state.breakout.is_active() {
            return Err(not_active());
        }
        let s = session_from_wire(&self.state.breakout, &args.session_id)?;
        // The monitoring host stays in MAIN so its own streams never enter the session; a host
        // inside a session leaves it first.
        if self.require(caller, Needs::Host)?.location != Location::Main {
            return Err(error(
                ErrorCode::InvalidTarget,
                "leave the session before monitoring another",
            ));
        }
        let old = self.state.breakout.monitors.insert(caller, s);
        if old == Some(s) {
            return Ok(Changed::NO);
        }
        self.announce_monitor(caller, old, Some(s));
        Ok(Changed::YES)
    }

    /// `breakout_stop_monitor`: a no-op when not monitoring.
    pub(crate) fn breakout_stop_monitor(
        &mut self,
        caller: ParticipantId,
    ) -> Result<Changed, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.breakout.monitors.contains_key(&caller) {
            self.stop_monitor(caller);
            Ok(Changed::YES)
        } else {
            Ok(Changed::NO)
        }
    }

    /// Ends `host`'s monitoring, if any (join, leave, Gone, finish).
    pub(crate) fn stop_monitor(&mut self, host: ParticipantId) {
        if let Some(old) = self.state.breakout.monitors.remove(&host) {
            self.announce_monitor(host, Some(old), None);
        }
    }

    pub(crate) fn stop_all_monitors(&mut self) {
        let hosts: Vec<ParticipantId> = self.state.breakout.monitors.keys().copied().collect();
        for host in hosts {
            self.stop_monitor(host);
        }
    }

    /// `breakout_monitor_changed` to members of the old and new session and to all hosts.
    fn announce_monitor(
        &mut self,
        host: ParticipantId,
        old: Option<SessionId>,
        new: Option<SessionId>,
    ) {
        let to: Vec<ParticipantId> = self
            .state
            .participants
            .values()
            .filter(|p| {
                p.is_host()
                    || [old, new]
                        .iter()
                        .flatten()
                        .any(|s| p.location == Location::Session(*s))
            })
            .map(|p| p.id)
            .collect();
        self.send(
            to,
            Event::BreakoutMonitorChanged(MonitorChanged {
                host_id: participant_to_wire(host),
                session_id: new.map(session_to_wire),
            }),
        );
        self.breakout_changed();
    }
}
