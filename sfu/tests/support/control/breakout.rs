//! A breakout driver on virtual time: when the test advances the clock it jumps to each of the
//! room's due timers in turn (`Room::poll_timeout`, quinn-style `Pair` jumping), checks the
//! invariants after every input, and builds breakout commands.

use super::*;
use sfu::control::Timer;
use sfu::core::{Location, SessionId, StreamRef};
use signalling_proto as proto;

pub struct Bx {
    pub h: Harness,
    pub now: Instant,
    log: Vec<Effect>,
}

impl Bx {
    pub fn new() -> Self {
        Self::with_policy(RoomPolicy::default())
    }

    pub fn with_policy(policy: RoomPolicy) -> Self {
        let h = Harness::with_policy(policy);
        let now = h.t0;
        Self {
            h,
            now,
            log: Vec::new(),
        }
    }

    fn record(&mut self) {
        self.log.extend(self.h.drain());
        self.h.check();
    }

    /// The effects since the last call.
    pub fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.log)
    }

    pub fn join(&mut self, identity: &str, role: Role) -> (ConnectionId, ParticipantId) {
        self.join_with(identity, role, join_args())
    }

    pub fn join_with(
        &mut self,
        identity: &str,
        role: Role,
        args: JoinRoomArgs,
    ) -> (ConnectionId, ParticipantId) {
        let conn = self.h.socket();
        let result = self
            .h
            .room
            .handle_join(self.now, conn, args, claims(identity, role));
        assert!(result.is_ok(), "join of {identity}: {result:?}");
        self.record();
        (conn, self.h.room.participant_of(conn).expect("bound"))
    }

    pub fn cmd(
        &mut self,
        conn: ConnectionId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        let result = self.h.room.handle_command(self.now, conn, command);
        self.record();
        result
    }

    /// A command that must succeed.
    pub fn ok(&mut self, conn: ConnectionId, command: Command) -> CommandResult {
        let name = command.name();
        self.cmd(conn, command)
            .unwrap_or_else(|e| panic!("{name} failed: {e:?}"))
    }

    /// A command that must fail without changing anything or emitting anything (spec §6.2).
    pub fn err(&mut self, conn: ConnectionId, command: Command) -> ErrorBody {
        let name = command.name();
        let before = self.h.room.fingerprint();
        self.take();
        let error = self
            .cmd(conn, command)
            .expect_err(&format!("{name} must fail"));
        assert_eq!(self.h.room.fingerprint(), before, "{name} changed state");
        assert!(self.take().is_empty(), "{name} emitted effects");
        error
    }

    pub fn disconnect(&mut self, conn: ConnectionId) {
        self.h.room.handle_disconnect(self.now, conn);
        self.record();
    }

    /// Moves the clock to `t0 + secs`, firing every due timer in order.
    pub fn advance_to(&mut self, secs: u64) {
        self.advance_to_instant(self.h.at(secs));
    }

    pub fn advance_to_instant(&mut self, t: Instant) {
        for _ in 0..10_000 {
            let Some(at) = self.h.room.poll_timeout().filter(|at| *at <= t) else {
                self.now = self.now.max(t);
                return;
            };
            self.now = self.now.max(at);
            self.h.room.handle_timeout(self.now);
            self.record();
        }
        panic!("timer livelock");
    }

    /// When `timer` is armed for, if it is.
    pub fn timer_at(&self, timer: Timer) -> Option<Instant> {
        self.h.room.timer_at(timer)
    }

    pub fn loc(&self, id: ParticipantId) -> Location {
        self.h.room.installed_policy().members[&id].location
    }

    /// May `s` receive `q`'s camera audio under the installed policy?
    pub fn hears(&self, s: ParticipantId, q: ParticipantId) -> bool {
        self.h
            .room
            .installed_policy()
            .allowed(s, q, StreamRef::CAMERA_AUDIO)
    }

    pub fn view(&mut self, conn: ConnectionId) -> proto::BreakoutView {
        match self.ok(
            conn,
            Command::BreakoutGet(proto::BreakoutGetArgs::default()),
        ) {
            CommandResult::BreakoutGet(r) => r.breakout,
            other => panic!("{other:?}"),
        }
    }

    /// A host with breakouts enabled and `n` sessions (`s1..sn`), config patched by `config`.
    pub fn setup(&mut self, n: u32, config: serde_json::Value) -> (ConnectionId, ParticipantId) {
        let (host_conn, host) = self.join("host", Role::Host);
        self.ok(host_conn, enable());
        if n > 0 {
            self.ok(host_conn, create(n));
        }
        self.ok(host_conn, configure(config));
        self.take();
        (host_conn, host)
    }
}

pub fn sid(n: u64) -> proto::SessionId {
    proto::SessionId(format!("s{n}"))
}

pub fn at_session(n: u64) -> Location {
    Location::Session(SessionId(n))
}

pub fn enable() -> Command {
    Command::BreakoutEnable(proto::RevisionArgs::default())
}

pub fn create(n: u32) -> Command {
    Command::BreakoutCreateSessions(proto::CreateSessionsArgs {
        sessions: None,
        count: Some(n),
        if_revision: None,
        edit_lock_token: None,
        release_edit_lock: None,
    })
}

pub fn create_named(names: &[&str]) -> Command {
    Command::BreakoutCreateSessions(proto::CreateSessionsArgs {
        sessions: Some(
            names
                .iter()
                .map(|n| proto::NewSession {
                    name: Some((*n).to_owned()),
                    anyone_can_join: None,
                })
                .collect(),
        ),
        count: None,
        if_revision: None,
        edit_lock_token: None,
        release_edit_lock: None,
    })
}

pub fn patch(config: serde_json::Value) -> proto::BreakoutConfigPatch {
    serde_json::from_value(config).expect("config patch")
}

pub fn configure(config: serde_json::Value) -> Command {
    Command::BreakoutConfigure(proto::BreakoutConfigureArgs {
        config: patch(config),
        if_revision: None,
        edit_lock_token: None,
        release_edit_lock: None,
    })
}

pub fn start() -> Command {
    Command::BreakoutStart(proto::StartArgs::default())
}

pub fn end(delay: Option<u32>, immediate: bool) -> Command {
    Command::BreakoutEnd(proto::EndArgs {
        delay_close_time: delay,
        immediate: immediate.then_some(true),
        if_revision: None,
    })
}

pub fn assign(session: Option<u64>, ids: &[ParticipantId]) -> Command {
    Command::BreakoutAssign(proto::AssignArgs {
        assignments: vec![proto::Assignment {
            session_id: session.map(sid),
            participant_ids: Some(ids.iter().map(|p| wire(*p)).collect()),
            external_ids: None,
        }],
        if_revision: None,
        edit_lock_token: None,
        release_edit_lock: None,
    })
}

pub fn mv(ids: &[ParticipantId], target: Option<u64>) -> Command {
    Command::BreakoutMove(proto::MoveArgs {
        participant_ids: ids.iter().map(|p| wire(*p)).collect(),
        target: target.map_or(proto::Location::Main, |n| proto::Location::Session(sid(n))),
        if_revision: None,
    })
}

pub fn join_session(n: u64) -> Command {
    Command::BreakoutJoin(proto::SessionArgs { session_id: sid(n) })
}

pub fn leave() -> Command {
    Command::BreakoutLeave(proto::Empty {})
}

pub fn help() -> Command {
    Command::BreakoutAskForHelp(proto::Empty {})
}

pub fn broadcast(message: &str, session: Option<u64>) -> Command {
    Command::BreakoutBroadcast(proto::BroadcastArgs {
        message: message.to_owned(),
        session_id: session.map(sid),
        recipients: None,
        include_main: None,
        if_revision: None,
    })
}

/// Every event of one kind in `effects`, with its recipients.
pub fn sent(effects: &[Effect], name: EventName) -> Vec<(Vec<ParticipantId>, Event)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, event } if event.name() == name => Some((to.clone(), event.clone())),
            _ => None,
        })
        .collect()
}

/// The index of the first effect matching `pred`.
pub fn position(effects: &[Effect], pred: impl Fn(&Effect) -> bool) -> Option<usize> {
    effects.iter().position(pred)
}
