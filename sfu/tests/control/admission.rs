//! `control::Room`: joining, the waiting room, resume and leave (spec §5.2, §7, §8.1-§8.2).

use crate::support::control::*;
use sfu::control::{CloseReason, Effect, RoomPolicy, Timer};
use signalling_proto::{
    ClientLeft, Command, CommandResult, ConnectionState, Credential, Empty, ErrorCode, Event,
    EventName, HandleKnockArgs, KnockAction, KnockHandled, KnockHandledReason, KnockResolution,
    KnockRoomArgs, LeaveReason, ParticipantArgs, ResumeArgs, Role, RoomLockedDetails, SetLockArgs,
};
use std::time::Duration;

fn locked() -> Harness {
    Harness::with_policy(RoomPolicy {
        locked: true,
        ..RoomPolicy::default()
    })
}

fn grant_of(events: &[Event]) -> signalling_proto::Secret {
    events
        .iter()
        .find_map(|e| match e {
            Event::KnockHandled(KnockHandled::ToKnocker(k)) => k.grant.clone(),
            _ => None,
        })
        .expect("an accepted knock carries a grant")
}

// A first join starts the room session; the joiner gets a snapshot, others get new_client,
// and both get their allowed sets (policy installed first).
#[test]
fn join_starts_session_announces_and_installs_policy() {
    let mut h = Harness::new();
    let (_, host, joined) = h.join("ann", Role::Host);
    assert!(h.room.has_room_session());
    assert_eq!(joined.role_name, Role::Host);
    assert_eq!(joined.room.participants.len(), 1);
    assert_eq!(joined.room.participants[0].breakout_assigned, Some(None));
    assert_eq!(joined.resume_token, joined.client_claim);

    let conn = h.socket();
    let result = h.try_join_on(h.at(1), conn, "bob", Role::Visitor).unwrap();
    let CommandResult::JoinRoom(bob_joined) = result else {
        panic!()
    };
    let bob = h.room.participant_of(conn).unwrap();
    let effects = h.drain();
    assert!(
        matches!(effects[0], Effect::InstallPolicy(_)),
        "{effects:?}"
    );
    let host_events = events_for(&effects, host);
    let Event::NewClient(new_client) = &host_events[0] else {
        panic!("{host_events:?}")
    };
    assert_eq!(new_client.client.id, wire(bob));
    // Hosts see the assignment; everyone else does not (spec §5.3).
    assert_eq!(new_client.client.breakout_assigned, Some(None));
    assert_eq!(bob_joined.room.participants[0].breakout_assigned, None);
    assert!(names_for(&effects, host).contains(&EventName::SubscriptionsChanged));
    assert_eq!(
        names_for(&effects, bob),
        vec![EventName::SubscriptionsChanged]
    );
    assert!(h
        .room
        .installed_policy()
        .allowed(bob, host, sfu::core::StreamRef::CAMERA_VIDEO));
}

// Admission checks in the spec's order: room name, kicked identity, unique service role,
// capacity (spec §8.1).
#[test]
fn join_errors_follow_the_spec() {
    let mut h = Harness::with_policy(RoomPolicy {
        max_participants: 2,
        max_viewers: 1,
        ..RoomPolicy::default()
    });
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let conn = h.socket();
    let mut args = join_args();
    args.room_name = "other".into();
    let result = h
        .room
        .handle_join(h.t0, conn, args, claims("x", Role::Visitor));
    assert_eq!(code(result), ErrorCode::RoomNotFound);
    h.join("rec", Role::Recorder);
    let conn = h.socket();
    assert_eq!(
        code(h.try_join_on(h.t0, conn, "rec2", Role::Recorder)),
        ErrorCode::UniqueRoleAlreadyInRoom
    );
    let (_, bob, _) = h.join("bob", Role::Visitor);
    let conn = h.socket();
    assert_eq!(
        code(h.try_join_on(h.t0, conn, "cy", Role::Visitor)),
        ErrorCode::RoomFull
    );
    h.join("vic", Role::Viewer);
    let conn = h.socket();
    assert_eq!(
        code(h.try_join_on(h.t0, conn, "val", Role::Viewer)),
        ErrorCode::MaxViewerLimitReached
    );
    // Kick bans the identity for the room session (spec §14 #57).
    h.cmd(
        h.t0,
        host_conn,
        Command::KickParticipant(ParticipantArgs {
            participant_id: wire(bob),
        }),
    )
    .unwrap();
    let conn = h.socket();
    assert_eq!(
        code(h.try_join_on(h.at(1), conn, "bob", Role::Visitor)),
        ErrorCode::KickedFromRoom
    );
    // A token-style credential is only accepted through handle_join.
    let conn = h.socket();
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::JoinRoom(join_args()))),
        ErrorCode::InvalidCredential
    );
}

// Any command but join/knock/cancel/resume before admission is `not_connected` (spec §14 #69).
#[test]
fn commands_before_admission_are_not_connected() {
    let mut h = Harness::new();
    let conn = h.socket();
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::LeaveRoom(Empty {}))),
        ErrorCode::NotConnected
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::KnockRoom(KnockRoomArgs::default()))),
        ErrorCode::NotConnected
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::CancelKnock(Empty {}))),
        ErrorCode::NotConnected
    );
    assert!(h.drain().is_empty());
}

// Locked room: room_locked with a reserved id → knock → accept → join with the grant keeps the
// id and yields granted_visitor (spec §8.1-§8.2, §15 scenario 11 without breakouts).
#[test]
fn waiting_room_accept_flow() {
    let mut h = locked();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let conn = h.socket();
    let err = h
        .try_join_on(h.at(1), conn, "bob", Role::Visitor)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RoomLocked);
    let details: RoomLockedDetails = err.details_as().unwrap();
    assert!(details.is_locked);
    assert_eq!(
        h.cmd(h.at(1), conn, Command::KnockRoom(KnockRoomArgs::default()))
            .unwrap(),
        CommandResult::KnockRoom(Empty {})
    );
    let effects = h.drain();
    assert_eq!(names_for(&effects, host), vec![EventName::RoomKnocked]);
    let knocker = h.room.participant_of(conn).unwrap();
    assert_eq!(
        h.room.timer_at(Timer::KnockTimeout(knocker)),
        Some(h.at(601))
    );
    assert_eq!(
        code(h.cmd(h.at(1), conn, Command::KnockRoom(KnockRoomArgs::default()))),
        ErrorCode::AlreadyKnocking
    );
    // A knocker is not a participant.
    assert_eq!(
        code(h.cmd(
            h.at(2),
            host_conn,
            Command::KickParticipant(ParticipantArgs {
                participant_id: details.self_id.clone()
            })
        )),
        ErrorCode::ParticipantWaiting
    );
    h.cmd(
        h.at(2),
        host_conn,
        Command::HandleKnock(HandleKnockArgs {
            participant_id: details.self_id.clone(),
            action: KnockAction::Accept,
            message: Some("welcome".into()),
            target_session_id: None,
        }),
    )
    .unwrap();
    let effects = h.drain();
    let grant = grant_of(&socket_events(&effects, conn));
    let Event::KnockHandled(KnockHandled::ToHosts(to_hosts)) = &events_for(&effects, host)[0]
    else {
        panic!()
    };
    assert_eq!(to_hosts.resolution, KnockResolution::Accepted);
    assert_eq!(to_hosts.handled_by, Some(wire(host)));
    let mut args = join_args();
    args.credential = Some(Credential::Grant(grant.clone()));
    args.self_id = Some(details.self_id.clone());
    let CommandResult::JoinRoom(joined) = h
        .cmd(h.at(3), conn, Command::JoinRoom(args.clone()))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(joined.self_id, details.self_id);
    assert_eq!(joined.role_name, Role::GrantedVisitor);
    // The grant is one-time (spec §14 #63).
    let other = h.socket();
    args.self_id = None;
    assert_eq!(
        code(h.cmd(h.at(4), other, Command::JoinRoom(args))),
        ErrorCode::InvalidCredential
    );
}

// Grants expire after 60 s; hold and reject reach the knocker, and reject closes its socket.
#[test]
fn waiting_room_hold_reject_and_grant_expiry() {
    let mut h = locked();
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let knock = |h: &mut Harness, who: &str| {
        let conn = h.socket();
        let err = h.try_join_on(h.t0, conn, who, Role::Visitor).unwrap_err();
        let id = err.details_as::<RoomLockedDetails>().unwrap().self_id;
        h.cmd(h.t0, conn, Command::KnockRoom(KnockRoomArgs::default()))
            .unwrap();
        h.drain();
        (conn, id)
    };
    let (bob_conn, bob) = knock(&mut h, "bob");
    let handle = |id: &signalling_proto::ParticipantId, action| {
        Command::HandleKnock(HandleKnockArgs {
            participant_id: id.clone(),
            action,
            message: None,
            target_session_id: None,
        })
    };
    h.cmd(h.at(1), host_conn, handle(&bob, KnockAction::Hold))
        .unwrap();
    let effects = h.drain();
    let Event::KnockHandled(KnockHandled::ToKnocker(k)) = &socket_events(&effects, bob_conn)[0]
    else {
        panic!()
    };
    assert_eq!(k.resolution, KnockResolution::OnHold);
    h.cmd(h.at(2), host_conn, handle(&bob, KnockAction::Reject))
        .unwrap();
    let effects = h.drain();
    assert!(effects.contains(&Effect::Close {
        connection: bob_conn,
        reason: CloseReason::KnockRejected
    }));
    assert_eq!(
        code(h.cmd(h.at(3), host_conn, handle(&bob, KnockAction::Accept))),
        ErrorCode::KnockNotFound
    );

    let (cy_conn, cy) = knock(&mut h, "cy");
    h.cmd(h.at(4), host_conn, handle(&cy, KnockAction::Accept))
        .unwrap();
    let grant = grant_of(&socket_events(&h.drain(), cy_conn));
    let mut args = join_args();
    args.credential = Some(Credential::Grant(grant));
    assert_eq!(
        code(h.cmd(h.at(65), cy_conn, Command::JoinRoom(args))),
        ErrorCode::InvalidCredential
    );
    // Accepting into a session needs a running breakout (spec §14 #62).
    let (_, dan) = knock(&mut h, "dan");
    assert_eq!(
        code(h.cmd(
            h.at(5),
            host_conn,
            Command::HandleKnock(HandleKnockArgs {
                participant_id: dan,
                action: KnockAction::Accept,
                message: None,
                target_session_id: Some("s1".into()),
            })
        )),
        ErrorCode::BreakoutNotActive
    );
}

// The knock timeout rejects with reason timeout, when it is due and not before.
#[test]
fn knock_timeout_rejects() {
    let mut h = locked();
    let (_, host, _) = h.join("ann", Role::Host);
    let conn = h.socket();
    h.try_join_on(h.t0, conn, "bob", Role::Visitor).unwrap_err();
    h.cmd(h.t0, conn, Command::KnockRoom(KnockRoomArgs::default()))
        .unwrap();
    h.drain();
    let at = h.room.poll_timeout().unwrap();
    assert_eq!(at, h.at(600));
    h.room.handle_timeout(h.at(599));
    assert!(h.drain().is_empty());
    h.room.handle_timeout(at);
    assert_eq!(h.room.poll_timeout(), None);
    let effects = h.drain();
    let Event::KnockHandled(KnockHandled::ToHosts(k)) = &events_for(&effects, host)[0] else {
        panic!()
    };
    assert_eq!(k.reason, Some(KnockHandledReason::Timeout));
    assert_eq!(k.handled_by, None);
    h.check();
}

// Unlocking accepts every knocker (spec §8.2); cancel and disconnect leave with knocker_left.
#[test]
fn unlock_accepts_all_and_knockers_can_leave() {
    let mut h = locked();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let mut sockets = Vec::new();
    for who in ["a", "b", "c"] {
        let conn = h.socket();
        h.try_join_on(h.t0, conn, who, Role::Visitor).unwrap_err();
        h.cmd(h.t0, conn, Command::KnockRoom(KnockRoomArgs::default()))
            .unwrap();
        sockets.push(conn);
    }
    h.drain();
    h.cmd(h.at(1), sockets[0], Command::CancelKnock(Empty {}))
        .unwrap();
    assert_eq!(
        code(h.cmd(h.at(1), sockets[0], Command::CancelKnock(Empty {}))),
        ErrorCode::KnockNotFound
    );
    h.room.handle_disconnect(h.at(1), sockets[1]);
    let effects = h.drain();
    assert_eq!(
        names_for(&effects, host),
        vec![EventName::KnockerLeft, EventName::KnockerLeft]
    );
    h.cmd(
        h.at(2),
        host_conn,
        Command::SetLock(SetLockArgs { locked: false }),
    )
    .unwrap();
    let effects = h.drain();
    let grant = grant_of(&socket_events(&effects, sockets[2]));
    assert!(!grant.expose().is_empty());
    let names = names_for(&effects, host);
    assert_eq!(names, vec![EventName::RoomLocked, EventName::KnockHandled]);
    // Locking an already unlocked room is a no-op (spec §14 #58).
    let result = h
        .cmd(
            h.at(3),
            host_conn,
            Command::SetLock(SetLockArgs { locked: false }),
        )
        .unwrap();
    assert_eq!(
        result,
        CommandResult::SetLock(signalling_proto::Changed::NO)
    );
    assert!(h.drain().is_empty());
}

// Hosts and viewers bypass the lock; viewers knock only with viewersMustKnock (spec §7.4).
#[test]
fn lock_applies_to_visitors_and_optionally_viewers() {
    let mut h = locked();
    h.join("host", Role::Host);
    h.join("viewer", Role::Viewer);
    let mut h = Harness::with_policy(RoomPolicy {
        locked: true,
        viewers_must_knock: true,
        ..RoomPolicy::default()
    });
    h.join("host", Role::Host);
    let conn = h.socket();
    assert_eq!(
        code(h.try_join_on(h.t0, conn, "v", Role::Viewer)),
        ErrorCode::RoomLocked
    );
}

// Disconnect → reconnecting with a grace timer; resume within grace keeps id and state and
// re-sends the full allowed set (spec §7.2, §13.8, §15 scenario 10 without breakouts).
#[test]
fn resume_within_grace_keeps_the_participant() {
    let mut h = Harness::new();
    let (_, host, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, joined) = h.join("bob", Role::Visitor);
    h.room.handle_disconnect(h.at(5), bob_conn);
    let effects = h.drain();
    let host_events = events_for(&effects, host);
    assert!(
        matches!(&host_events[0], Event::ParticipantConnectionChanged(c)
        if c.connection == ConnectionState::Reconnecting)
    );
    assert_eq!(h.room.timer_at(Timer::ReconnectGrace(bob)), Some(h.at(35)));
    assert_eq!(h.room.connection_of(bob), None);
    let new_conn = h.socket();
    let result = h
        .cmd(
            h.at(20),
            new_conn,
            Command::Resume(ResumeArgs {
                resume_token: joined.resume_token.clone(),
                last_seq: 3,
                new_transports: false,
            }),
        )
        .unwrap();
    let CommandResult::Resume(resumed) = result else {
        panic!()
    };
    assert_eq!(resumed.self_id, wire(bob));
    assert_eq!(h.room.connection_of(bob), Some(new_conn));
    let effects = h.drain();
    let bob_events = events_for(&effects, bob);
    let Some(Event::SubscriptionsChanged(subs)) = bob_events.last() else {
        panic!("{bob_events:?}")
    };
    assert_eq!(subs.added.len(), 1, "the host's camera, as a full set");
    assert!(subs.removed.is_empty());
    // The grace timer was disarmed: nothing fires when it would have been due.
    assert_eq!(h.room.timer_at(Timer::ReconnectGrace(bob)), None);
    h.room.handle_timeout(h.at(35));
    assert!(h.room.participant_ids().contains(&bob));
}

// Grace expiry: Gone with `client_left {timeout}`; a later resume fails (spec §7.2, §14 #77).
#[test]
fn grace_expiry_removes_and_resume_fails() {
    let mut h = Harness::new();
    let (_, host, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, joined) = h.join("bob", Role::Visitor);
    h.room.handle_disconnect(h.at(1), bob_conn);
    h.drain();
    let at = h.room.poll_timeout().unwrap();
    assert_eq!(at, h.at(31));
    h.room.handle_timeout(at);
    let effects = h.drain();
    assert!(
        events_for(&effects, host).contains(&Event::ClientLeft(ClientLeft {
            client_id: wire(bob),
            reason: LeaveReason::Timeout,
        }))
    );
    assert!(effects.contains(&Effect::Released { participant: bob }));
    h.check();
    let conn = h.socket();
    assert_eq!(
        code(h.cmd(
            h.at(40),
            conn,
            Command::Resume(ResumeArgs {
                resume_token: joined.resume_token,
                last_seq: 0,
                new_transports: false,
            })
        )),
        ErrorCode::ResumeFailed
    );
}

// leave_room: room_left to the leaver, client_left to the others, socket closed; the last one
// out ends the room session and its bans (spec §5.2, §8.1).
#[test]
fn leave_and_room_session_end() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, _) = h.join("bob", Role::Visitor);
    let (_, cy, _) = h.join("cy", Role::Visitor);
    h.cmd(
        h.t0,
        host_conn,
        Command::KickParticipant(ParticipantArgs {
            participant_id: wire(cy),
        }),
    )
    .unwrap();
    h.drain();
    h.cmd(h.at(1), bob_conn, Command::LeaveRoom(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert_eq!(events_for(&effects, bob), vec![Event::RoomLeft(Empty {})]);
    assert!(
        events_for(&effects, host).contains(&Event::ClientLeft(ClientLeft {
            client_id: wire(bob),
            reason: LeaveReason::Left,
        }))
    );
    assert!(effects.contains(&Effect::Close {
        connection: bob_conn,
        reason: CloseReason::Left
    }));
    h.cmd(h.at(2), host_conn, Command::LeaveRoom(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::RoomSessionEnded { .. })));
    assert!(!h.room.has_room_session());
    // The ban ended with the session (spec §5.1 [D]).
    let conn = h.socket();
    h.try_join_on(h.at(3), conn, "cy", Role::Visitor).unwrap();
    let _ = Duration::ZERO;
}

// A socket refused with `room_locked` that knocks only after the room was unlocked gets
// `room_not_locked` (the client should simply join), and then joins (spec §8.1, §14 #59).
#[test]
fn knock_after_unlock_is_room_not_locked() {
    let mut h = locked();
    let (host_conn, _, _) = h.join("host", Role::Host);
    let conn = h.socket();
    let refused = h.try_join_on(h.t0, conn, "bob", Role::Visitor);
    assert_eq!(code(refused), ErrorCode::RoomLocked);
    h.cmd(
        h.t0,
        host_conn,
        Command::SetLock(SetLockArgs { locked: false }),
    )
    .unwrap();
    h.drain();
    let before = h.room.fingerprint();
    assert_eq!(
        code(h.cmd(h.at(1), conn, Command::KnockRoom(KnockRoomArgs::default()))),
        ErrorCode::RoomNotLocked
    );
    assert_eq!(h.room.fingerprint(), before);
    assert!(h.drain().is_empty());
    h.try_join_on(h.at(1), conn, "bob", Role::Visitor).unwrap();
}
