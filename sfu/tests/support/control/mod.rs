//! Shared driver for the pure `control::Room` tests: virtual time from one `Instant::now()`,
//! numbered sockets, and helpers that read effects (STYLE.md testing levels 1-2).
#![allow(dead_code)]

use sfu::control::{ConnectionId, Effect, Room, RoomConfig, RoomPolicy, VerifiedClaims, WallClock};
use sfu::core::ParticipantId;
use signalling_proto::{
    Capabilities, Command, CommandResult, Credential, ErrorBody, ErrorCode, Event, EventName,
    JoinRoomArgs, MediaFlags, Role, RoomJoined, Secret,
};
use std::time::{Duration, Instant};

pub const ROOM: &str = "team-42";

pub struct Harness {
    pub room: Room,
    pub t0: Instant,
    next_connection: u64,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_policy(RoomPolicy::default())
    }

    pub fn with_policy(policy: RoomPolicy) -> Self {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        Self::with_policy_at(policy, t0)
    }

    /// A room whose virtual time starts at `t0` (two harnesses on one `t0` can reach equal
    /// states).
    pub fn with_policy_at(policy: RoomPolicy, t0: Instant) -> Self {
        let room = Room::new(RoomConfig {
            name: ROOM.to_owned(),
            policy,
            seed: [7; 32],
            wall_clock: WallClock {
                at: t0,
                unix_millis: 1_714_564_800_000,
            },
        });
        Self {
            room,
            t0,
            next_connection: 1,
        }
    }

    /// `t0 + secs`.
    pub fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    pub fn at_ms(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub fn socket(&mut self) -> ConnectionId {
        let c = ConnectionId(self.next_connection);
        self.next_connection += 1;
        c
    }

    /// `join_room` with a token the shell verified for `identity` / `role`.
    pub fn try_join_on(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        identity: &str,
        role: Role,
    ) -> Result<CommandResult, ErrorBody> {
        self.room
            .handle_join(now, conn, join_args(), claims(identity, role))
    }

    /// Joins on a new socket and drains the effects; panics on failure (test setup).
    pub fn join(
        &mut self,
        identity: &str,
        role: Role,
    ) -> (ConnectionId, ParticipantId, RoomJoined) {
        let conn = self.socket();
        let now = self.t0;
        let joined = match self.try_join_on(now, conn, identity, role) {
            Ok(CommandResult::JoinRoom(joined)) => *joined,
            other => panic!("join of {identity} failed: {other:?}"),
        };
        let id = self
            .room
            .participant_of(conn)
            .expect("joined socket is bound");
        self.drain();
        self.check();
        (conn, id, joined)
    }

    pub fn cmd(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        let result = self.room.handle_command(now, conn, command);
        self.check();
        result
    }

    pub fn drain(&mut self) -> Vec<Effect> {
        std::iter::from_fn(|| self.room.poll_effect()).collect()
    }

    pub fn check(&self) {
        if let Err(broken) = self.room.check_invariants() {
            panic!("invariant broken: {broken}");
        }
    }
}

pub fn join_args() -> JoinRoomArgs {
    JoinRoomArgs {
        room_name: ROOM.to_owned(),
        credential: Some(Credential::Token(Secret::from("verified-by-the-shell"))),
        display_name: None,
        external_id: None,
        is_dial_in: None,
        capabilities: Capabilities {
            breakouts: true,
            screenshare: true,
        },
        media: MediaFlags {
            audio: true,
            video: true,
        },
        self_id: None,
    }
}

pub fn claims(identity: &str, role: Role) -> VerifiedClaims {
    VerifiedClaims {
        room: ROOM.to_owned(),
        identity_key: identity.to_owned(),
        role,
        name: Some(identity.to_owned()),
        external_id: None,
    }
}

pub fn wire(id: ParticipantId) -> signalling_proto::ParticipantId {
    sfu::control::participant_to_wire(id)
}

/// The events sent (sequenced) to `who`, in order.
pub fn events_for(effects: &[Effect], who: ParticipantId) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, event } if to.contains(&who) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

pub fn names_for(effects: &[Effect], who: ParticipantId) -> Vec<EventName> {
    events_for(effects, who).iter().map(Event::name).collect()
}

/// The events sent without `seq` to a socket (knockers).
pub fn socket_events(effects: &[Effect], conn: ConnectionId) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendToConnection { connection, event } if *connection == conn => {
                Some(event.clone())
            }
            _ => None,
        })
        .collect()
}

pub fn code(result: Result<CommandResult, ErrorBody>) -> ErrorCode {
    match result {
        Err(e) => e.code,
        Ok(ok) => panic!("expected an error, got {ok:?}"),
    }
}

pub fn policy_installs(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::InstallPolicy(_)))
        .count()
}

impl Harness {
    /// Admits `identity` through the waiting room (the room must be locked): `room_locked`,
    /// knock, a host accepts, join with the grant. Yields a `granted_*` role.
    pub fn join_through_knock(
        &mut self,
        host_conn: ConnectionId,
        identity: &str,
        requested: Role,
    ) -> (ConnectionId, ParticipantId) {
        use signalling_proto::{
            HandleKnockArgs, KnockAction, KnockHandled, KnockRoomArgs, RoomLockedDetails,
        };
        let conn = self.socket();
        let now = self.t0;
        let err = self
            .try_join_on(now, conn, identity, requested)
            .unwrap_err();
        let id = err
            .details_as::<RoomLockedDetails>()
            .expect("room_locked")
            .self_id;
        self.cmd(now, conn, Command::KnockRoom(KnockRoomArgs::default()))
            .unwrap();
        self.cmd(
            now,
            host_conn,
            Command::HandleKnock(HandleKnockArgs {
                participant_id: id.clone(),
                action: KnockAction::Accept,
                message: None,
                target_session_id: None,
            }),
        )
        .unwrap();
        let grant = socket_events(&self.drain(), conn)
            .into_iter()
            .find_map(|e| match e {
                Event::KnockHandled(KnockHandled::ToKnocker(k)) => k.grant,
                _ => None,
            })
            .expect("grant");
        let mut args = join_args();
        args.credential = Some(Credential::Grant(grant));
        args.self_id = Some(id);
        self.cmd(now, conn, Command::JoinRoom(args))
            .expect("grant join");
        self.drain();
        (conn, self.room.participant_of(conn).expect("bound"))
    }
}

pub mod breakout;
