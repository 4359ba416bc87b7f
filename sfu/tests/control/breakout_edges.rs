//! `control::Room` breakouts: the edge cases and bad inputs of spec §14 (numbered as there),
//! the allowed operations per state of §10.4, and every host-only breakout command by every
//! non-host role (`forbidden`, nothing changed).

use crate::support::control::breakout::*;
use crate::support::control::*;
use serde_json::json;
use sfu::core::Location;
use signalling_proto::*;

/// A started run: host, and visitors `a` (in s1) and `b` (in MAIN); sessions s1, s2.
fn started() -> (
    Bx,
    sfu::control::ConnectionId,
    Vec<sfu::core::ParticipantId>,
) {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, a) = b.join("a", Role::Visitor);
    let (_, v) = b.join("b", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[a]));
    b.ok(host_conn, start());
    b.take();
    (b, host_conn, vec![host, a, v])
}

// Every command a non-host role lacks (the issuer table, so every host-only breakout command)
// while a run is active and the target sits in a session: `forbidden`, no state change, no
// effect (spec §4.2, §14 #1). The granted roles, which only a knock yields, are covered the
// same way by `control/roles.rs`.
#[test]
fn s14_1_host_only_breakout_commands_are_forbidden_for_every_other_role() {
    for role in [
        Role::Visitor,
        Role::Viewer,
        Role::Recorder,
        Role::Streamer,
        Role::Assistant,
    ] {
        let (mut b, _, ids) = started();
        let (conn, _) = b.join("caller", role);
        let target = wire(ids[1]);
        let refused = crate::support::command_samples::refused_for(role, target.as_str());
        assert!(refused.len() >= 22, "{role:?}: {}", refused.len());
        for (name, args) in refused {
            // Past the "all commands" bucket's refill (spec §6.5), far from any timer.
            let next = b.now + std::time::Duration::from_millis(100);
            b.advance_to_instant(next);
            let e = b.err(conn, crate::support::command_samples::typed(name, &args));
            assert_eq!(e.code, ErrorCode::Forbidden, "{role:?} {name}");
        }
    }
}

// §14 #2 and §10.4's Disabled column: everything but enable/disable/get is
// `breakouts_disabled`; disable is a no-op.
#[test]
fn s14_2_disabled_refuses_breakout_commands() {
    let mut b = Bx::new();
    let (host_conn, _) = b.join("host", Role::Host);
    let (conn, _) = b.join("v", Role::Visitor);
    for command in [
        create(1),
        configure(json!({})),
        start(),
        end(None, false),
        mv(&[], None),
        Command::BreakoutEditLockAcquire(Empty {}),
        Command::BreakoutAskAllToReturn(RevisionArgs::default()),
    ] {
        let name = command.name();
        let result = b.cmd(host_conn, command);
        // `mv(&[])` is an argument error before anything else.
        if name != CommandName::BreakoutMove {
            assert_eq!(code(result), ErrorCode::BreakoutsDisabled, "{name}");
        }
    }
    for command in [join_session(1), leave(), help()] {
        assert_eq!(b.err(conn, command).code, ErrorCode::BreakoutsDisabled);
    }
    let CommandResult::BreakoutDisable(c) =
        b.ok(host_conn, Command::BreakoutDisable(PlanArgs::default()))
    else {
        panic!()
    };
    assert!(!c.changed);
    assert_eq!(b.view(conn).state, BreakoutState::Disabled);
    b.ok(host_conn, enable());
    let CommandResult::BreakoutEnable(c) = b.ok(host_conn, enable()) else {
        panic!()
    };
    assert!(!c.changed);
}

// §14 #3-#13: session ids and names, start/end in the wrong state, atomic create.
#[test]
fn s14_3_to_13_sessions_and_states() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(0, json!({}));
    // #5 start with no sessions; #7 end while Enabled.
    assert_eq!(b.err(host_conn, start()).code, ErrorCode::NoSessions);
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutAutoAssign(AutoAssignArgs::default())
        )
        .code,
        ErrorCode::NoSessions
    );
    assert_eq!(
        b.err(host_conn, end(None, false)).code,
        ErrorCode::BreakoutNotActive
    );
    // #9 duplicates, inside the batch or against existing, under case folding.
    let e = b.err(host_conn, create_named(&["Room A", "room a"]));
    assert_eq!(e.code, ErrorCode::DuplicateName);
    assert_eq!(
        e.details_as::<DuplicateNameDetails>().unwrap().index,
        Some(1)
    );
    let CommandResult::BreakoutCreateSessions(made) = b.ok(host_conn, create_named(&["Room A"]))
    else {
        panic!()
    };
    assert_eq!(made.sessions[0].id, sid(1));
    assert_eq!(
        b.err(host_conn, create_named(&["ROOM A"])).code,
        ErrorCode::DuplicateName
    );
    // #10 empty / too long / control character.
    for (name, reason) in [
        ("   ", ArgumentReason::Empty),
        (&"x".repeat(65)[..], ArgumentReason::TooLong),
        ("a\u{7}b", ArgumentReason::InvalidChars),
        ("a\u{200B}b", ArgumentReason::InvalidChars),
    ] {
        let e = b.err(host_conn, create_named(&[name]));
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(
            e.details_as::<InvalidArgumentDetails>().unwrap().reason,
            reason
        );
    }
    // Generated names skip taken ones.
    b.ok(host_conn, create_named(&["Session 1"]));
    let CommandResult::BreakoutCreateSessions(made) = b.ok(host_conn, create(2)) else {
        panic!()
    };
    let names: Vec<_> = made.sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Session 2", "Session 3"]);
    // #11 past max_sessions (50), atomically.
    let e = b.err(host_conn, create(47));
    assert_eq!(e.code, ErrorCode::TooManySessions);
    assert_eq!(e.details_as::<TooManySessionsDetails>().unwrap().max, 50);
    // #3 unknown session ids: well-formed strings that name no session (#4, an empty or
    // over-long id, is an argument error: `s14_4_empty_or_long_session_ids_are_invalid_argument`).
    let rename = |id: SessionId, name: &str| {
        Command::BreakoutRenameSession(RenameSessionArgs {
            session_id: id,
            name: name.into(),
            if_revision: None,
            edit_lock_token: None,
            release_edit_lock: None,
        })
    };
    for bad in ["s99", "s01", "x"] {
        let e = b.err(host_conn, rename(SessionId(bad.into()), "Z"));
        assert_eq!(e.code, ErrorCode::SessionNotFound);
    }
    // #13 same name → changed false; case-only change allowed; taken → duplicate.
    let CommandResult::BreakoutRenameSession(c) = b.ok(host_conn, rename(sid(1), "Room A")) else {
        panic!()
    };
    assert!(!c.changed);
    let CommandResult::BreakoutRenameSession(c) = b.ok(host_conn, rename(sid(1), "ROOM A")) else {
        panic!()
    };
    assert!(c.changed);
    assert_eq!(
        b.err(host_conn, rename(sid(1), "session 2")).code,
        ErrorCode::DuplicateName
    );
    // #6 start twice; #12 delete/clear while Started / Closing; #8 end twice while Closing.
    b.ok(host_conn, start());
    assert_eq!(
        b.err(host_conn, start()).code,
        ErrorCode::BreakoutAlreadyStarted
    );
    let delete = Command::BreakoutDeleteSession(DeleteSessionArgs {
        session_id: sid(1),
        if_revision: None,
        edit_lock_token: None,
        release_edit_lock: None,
    });
    assert_eq!(
        b.err(host_conn, delete.clone()).code,
        ErrorCode::BreakoutActive
    );
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutClearSessions(PlanArgs::default())
        )
        .code,
        ErrorCode::BreakoutActive
    );
    b.ok(host_conn, end(Some(30), false));
    assert_eq!(b.err(host_conn, start()).code, ErrorCode::BreakoutClosing);
    assert_eq!(
        b.err(host_conn, delete.clone()).code,
        ErrorCode::BreakoutClosing
    );
    assert_eq!(b.err(host_conn, create(1)).code, ErrorCode::BreakoutClosing);
    assert_eq!(
        b.err(host_conn, configure(json!({"countdownTimer": 1})))
            .code,
        ErrorCode::BreakoutClosing
    );
    let CommandResult::BreakoutEnd(r) = b.ok(host_conn, end(None, false)) else {
        panic!()
    };
    assert!(!r.changed && r.closing_ends_at.is_some());
    b.ok(host_conn, end(None, true));
    assert_eq!(
        b.err(host_conn, end(None, false)).code,
        ErrorCode::BreakoutNotActive
    );
    // Ended behaves like Enabled: delete works again.
    b.ok(host_conn, delete);
}

// §14 #14-#22 and #71: host moves.
#[test]
fn s14_14_to_22_host_moves() {
    let (mut b, host_conn, ids) = started();
    let (a, v) = (ids[1], ids[2]);
    // #14 unknown participant; #21 one bad id fails the batch and is listed.
    let e = b.err(
        host_conn,
        Command::BreakoutMove(MoveArgs {
            participant_ids: vec![wire(v), ParticipantId::from("p999")],
            target: signalling_proto::Location::Session(sid(2)),
            if_revision: None,
        }),
    );
    assert_eq!(e.code, ErrorCode::ParticipantNotFound);
    assert_eq!(
        e.details_as::<InvalidTargetsDetails>().unwrap().invalid,
        vec!["p999".to_owned()]
    );
    // #16 the recorder; #17 a client without the capability.
    let (_, rec) = b.join("rec", Role::Recorder);
    assert_eq!(
        b.err(host_conn, mv(&[rec], Some(1))).code,
        ErrorCode::RoleNotMovable
    );
    let mut args = join_args();
    args.capabilities.breakouts = false;
    let (_, old) = b.join_with("old", Role::Visitor, args);
    assert_eq!(
        b.err(host_conn, mv(&[old], Some(1))).code,
        ErrorCode::ClientUnsupported
    );
    // #3 unknown session.
    assert_eq!(
        b.err(host_conn, mv(&[v], Some(9))).code,
        ErrorCode::SessionNotFound
    );
    // #20 already there: changed false, no events.
    b.ok(host_conn, mv(&[a], Some(1)));
    let effects = b.take();
    assert!(effects
        .iter()
        .all(|e| !matches!(e, sfu::control::Effect::Send { .. })));
    // #71 two moves in arrival order: the later one wins.
    b.ok(host_conn, mv(&[v], Some(1)));
    b.ok(host_conn, mv(&[v], Some(2)));
    assert_eq!(b.loc(v), at_session(2));
    // #71 with a stale ifRevision.
    let rev = b.view(host_conn).revision;
    b.ok(host_conn, mv(&[v], Some(1)));
    let e = b.err(
        host_conn,
        Command::BreakoutMove(MoveArgs {
            participant_ids: vec![wire(v)],
            target: signalling_proto::Location::Session(sid(2)),
            if_revision: Some(rev),
        }),
    );
    assert_eq!(e.code, ErrorCode::RevisionConflict);
    // #22 a reconnecting participant can be moved.
    let conn_v = b.h.room.connection_of(v).unwrap();
    b.disconnect(conn_v);
    b.ok(host_conn, mv(&[v], None));
    assert_eq!(b.loc(v), Location::Main);
    // #19 into a session during Closing refused; to MAIN allowed.
    b.ok(host_conn, end(Some(30), false));
    assert_eq!(
        b.err(host_conn, mv(&[a], Some(2))).code,
        ErrorCode::BreakoutClosing
    );
    b.ok(host_conn, mv(&[a], None));
    // #18 into a session while Ended.
    b.ok(host_conn, end(None, true));
    assert_eq!(
        b.err(host_conn, mv(&[a], Some(1))).code,
        ErrorCode::BreakoutNotActive
    );
    assert_eq!(
        b.err(host_conn, mv(&[a], None)).code,
        ErrorCode::BreakoutNotActive
    );
}

// §14 #23-#28: self-service joins and leaves.
#[test]
fn s14_23_to_28_self_service() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(
        2,
        json!({"allowReturnToMain": false, "maxSessionSize": 1, "moveGracePeriod": 0}),
    );
    let (ca, a) = b.join("a", Role::Visitor);
    let (cv, _) = b.join("v", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[a]));
    b.ok(host_conn, start());
    // #27 leave from MAIN.
    assert_eq!(b.err(cv, leave()).code, ErrorCode::NotInSession);
    // #23 a closed session without assignment.
    assert_eq!(
        b.err(cv, join_session(2)).code,
        ErrorCode::NotAllowedInSession
    );
    // #25 a full open session; hosts exempt.
    b.ok(
        host_conn,
        Command::BreakoutSetSessionOpen(SetSessionOpenArgs {
            session_id: sid(1),
            open: true,
            if_revision: None,
            edit_lock_token: None,
            release_edit_lock: None,
        }),
    );
    assert_eq!(b.err(cv, join_session(1)).code, ErrorCode::SessionFull);
    b.ok(host_conn, join_session(1));
    assert_eq!(b.loc(host), at_session(1));
    // #26 already there.
    let CommandResult::BreakoutJoin(c) = b.ok(ca, join_session(1)) else {
        panic!()
    };
    assert!(!c.changed);
    // #28 leave with allowReturnToMain = false; the host may.
    assert_eq!(b.err(ca, leave()).code, ErrorCode::ReturnNotAllowed);
    b.ok(host_conn, leave());
    // The join/leave bucket: 5, then 1 / 2 s.
    b.ok(
        host_conn,
        configure(json!({"allowReturnToMain": true, "maxSessionSize": null})),
    );
    for i in 0..5 {
        let cmd = if i % 2 == 0 { leave() } else { join_session(1) };
        b.ok(ca, cmd);
    }
    assert_eq!(b.err(ca, join_session(1)).code, ErrorCode::RateLimited);
}

// §14 #29-#35: help and broadcast.
#[test]
fn s14_29_to_35_help_and_broadcast() {
    let (mut b, host_conn, ids) = started();
    let (host, a, v) = (ids[0], ids[1], ids[2]);
    let conn_v = b.h.room.connection_of(v).unwrap();
    assert_eq!(b.err(conn_v, help()).code, ErrorCode::NotInSession);
    // #32 empty / too long message.
    assert_eq!(
        b.err(host_conn, broadcast("  ", None)).code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        b.err(host_conn, broadcast(&"x".repeat(1001), None)).code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        b.err(host_conn, broadcast("hi", Some(9))).code,
        ErrorCode::SessionNotFound
    );
    // #35 all flags false: everybody in the targets; MAIN only with includeMain.
    let CommandResult::BreakoutBroadcast(r) = b.ok(
        host_conn,
        Command::BreakoutBroadcast(BroadcastArgs {
            message: "hi".into(),
            session_id: None,
            recipients: Some(BroadcastRecipients {
                participants: Some(false),
                hosts: Some(false),
                presenters: Some(false),
            }),
            include_main: None,
            if_revision: None,
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.delivered_to, 1);
    let to = &sent(&b.take(), EventName::BreakoutMessage)[0].0;
    assert_eq!(to, &vec![a]);
    // Hosts only, including MAIN: just the host (the sender gets it as part of the audience).
    let CommandResult::BreakoutBroadcast(r) = b.ok(
        host_conn,
        Command::BreakoutBroadcast(BroadcastArgs {
            message: "hosts".into(),
            session_id: None,
            recipients: Some(BroadcastRecipients {
                participants: None,
                hosts: Some(true),
                presenters: None,
            }),
            include_main: Some(true),
            if_revision: None,
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.delivered_to, 1);
    assert_eq!(
        &sent(&b.take(), EventName::BreakoutMessage)[0].0,
        &vec![host]
    );
    // #33 nobody in the target session: zero is success.
    let CommandResult::BreakoutBroadcast(r) = b.ok(host_conn, broadcast("s2?", Some(2))) else {
        panic!()
    };
    assert_eq!(r.delivered_to, 0);
    // The broadcast bucket (3, 1 / 5 s) is spent now.
    assert_eq!(
        b.err(host_conn, broadcast("more", None)).code,
        ErrorCode::RateLimited
    );
    // #34 while Ended.
    b.ok(host_conn, end(None, true));
    b.advance_to(60);
    assert_eq!(
        b.err(host_conn, broadcast("late", None)).code,
        ErrorCode::BreakoutNotActive
    );
}

// §14 #4: a `sessionId` argument that is empty or over 64 bytes is `invalid_argument` naming
// the field (`empty` / `too_long`), in every command that takes one, whatever the state; a
// well-formed id that names no session stays `session_not_found` (#3).
#[test]
fn s14_4_empty_or_long_session_ids_are_invalid_argument() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"moveGracePeriod": 0}));
    let (v_conn, v) = b.join("v", Role::Visitor);
    let long = format!("s{}", "1".repeat(64));
    let args =
        |value: serde_json::Value| -> Vec<(sfu::control::ConnectionId, Command, &'static str)> {
            vec![
            (host_conn, Command::BreakoutRenameSession(serde_json::from_value(json!({"sessionId": value, "name": "Z"})).unwrap()), "sessionId"),
            (host_conn, Command::BreakoutDeleteSession(serde_json::from_value(json!({"sessionId": value})).unwrap()), "sessionId"),
            (host_conn, Command::BreakoutSetSessionOpen(serde_json::from_value(json!({"sessionId": value, "open": true})).unwrap()), "sessionId"),
            (host_conn, Command::BreakoutAssign(serde_json::from_value(json!({"assignments": [{"sessionId": value, "participantIds": [v.to_string()]}]})).unwrap()), "assignments[0].sessionId"),
            (host_conn, Command::BreakoutMove(serde_json::from_value(json!({"participantIds": [v.to_string()], "target": value})).unwrap()), "target"),
            (host_conn, Command::BreakoutBroadcast(serde_json::from_value(json!({"message": "hi", "sessionId": value})).unwrap()), "sessionId"),
            (host_conn, Command::BreakoutMonitor(serde_json::from_value(json!({"sessionId": value})).unwrap()), "sessionId"),
            (host_conn, Command::HandleKnock(serde_json::from_value(json!({"participantId": "p99", "action": "accept", "targetSessionId": value})).unwrap()), "targetSessionId"),
            (v_conn, Command::BreakoutJoin(serde_json::from_value(json!({"sessionId": value})).unwrap()), "sessionId"),
        ]
        };
    b.take();
    for started in [false, true] {
        if started {
            b.ok(host_conn, start());
            b.take();
        }
        for (value, reason, max) in [
            (json!(""), ArgumentReason::Empty, None),
            (json!(long), ArgumentReason::TooLong, Some(64)),
        ] {
            for (conn, command, field) in args(value.clone()) {
                let name = command.name();
                let e = b.err(conn, command);
                assert_eq!(e.code, ErrorCode::InvalidArgument, "{name} {value}: {e:?}");
                let d = e.details_as::<InvalidArgumentDetails>().expect("details");
                assert_eq!(
                    (d.field.as_str(), d.reason, d.max),
                    (field, reason, max),
                    "{name}"
                );
            }
        }
        assert!(b.take().is_empty(), "a refused command emits nothing");
    }
    // 64 bytes is a well-formed id: it names no session.
    let longest = format!("s{}", "1".repeat(63));
    let e = b.err(
        v_conn,
        Command::BreakoutJoin(serde_json::from_value(json!({"sessionId": longest})).unwrap()),
    );
    assert_eq!(e.code, ErrorCode::SessionNotFound);
}

// §14 #36-#42: configuration ranges and the automatic-end commands.
#[test]
fn s14_36_to_42_config_and_auto_end() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({}));
    // #36-#38 are argument errors (checked with the arguments).
    let e = b.err(
        host_conn,
        configure(json!({"automaticallyEndBreakoutsAfter": 120})),
    );
    let d = e.details_as::<InvalidArgumentDetails>().unwrap();
    assert_eq!((d.reason, d.min), (ArgumentReason::BelowMinimum, Some(300)));
    assert_eq!(
        b.err(host_conn, configure(json!({"countdownTimer": 301})))
            .code,
        ErrorCode::InvalidArgument
    );
    // #40 nothing armed while Enabled is `breakout_not_active`; armed-less run is `auto_end_not_armed`.
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutCancelAutoEnd(RevisionArgs::default())
        )
        .code,
        ErrorCode::BreakoutNotActive
    );
    b.ok(
        host_conn,
        configure(json!({"automaticallyEndBreakoutsAfter": null})),
    );
    b.ok(host_conn, start());
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutCancelAutoEnd(RevisionArgs::default())
        )
        .code,
        ErrorCode::AutoEndNotArmed
    );
    // #39 assignmentMethod while Started; allowed subset passes.
    assert_eq!(
        b.err(host_conn, configure(json!({"assignmentMethod": "auto"})))
            .code,
        ErrorCode::BreakoutActive
    );
    b.ok(
        host_conn,
        configure(json!({"allowJoinLater": false, "countdownTimer": 0})),
    );
    b.ok(host_conn, end(None, false));
    // Extend an armed timer moves the end and the warning.
    b.ok(
        host_conn,
        configure(json!({"automaticallyEndBreakoutsAfter": 300, "countdownTimer": 0})),
    );
    b.ok(host_conn, start());
    let CommandResult::BreakoutExtendAutoEnd(r) = b.ok(
        host_conn,
        Command::BreakoutExtendAutoEnd(ExtendAutoEndArgs {
            seconds: 120,
            if_revision: None,
        }),
    ) else {
        panic!()
    };
    assert_eq!(Some(r.auto_end_at), b.view(host_conn).auto_end_at);
    b.advance_to(400);
    assert_eq!(b.view(host_conn).state, BreakoutState::Started);
    b.advance_to(420);
    assert_eq!(b.view(host_conn).state, BreakoutState::Ended);
}

// §14 #43-#48 besides §15.12: non-hosts cannot lock; plan mutations with the token may
// release the lock; disable releases it.
#[test]
fn s14_43_to_48_edit_lock_rules() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({}));
    let CommandResult::BreakoutEditLockAcquire(grant) =
        b.ok(host_conn, Command::BreakoutEditLockAcquire(Empty {}))
    else {
        panic!()
    };
    // Re-acquire by the holder returns the same token.
    let CommandResult::BreakoutEditLockAcquire(again) =
        b.ok(host_conn, Command::BreakoutEditLockAcquire(Empty {}))
    else {
        panic!()
    };
    assert_eq!(again.token, grant.token);
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutEditLockRelease(EditLockTokenArgs {
                token: Secret::from("wrong")
            })
        )
        .code,
        ErrorCode::EditLockTokenMismatch
    );
    b.ok(
        host_conn,
        Command::BreakoutCreateSessions(CreateSessionsArgs {
            sessions: None,
            count: Some(1),
            if_revision: None,
            edit_lock_token: Some(grant.token.clone()),
            release_edit_lock: Some(true),
        }),
    );
    assert_eq!(b.view(host_conn).edit_lock, Some(None));
    let CommandResult::BreakoutEditLockAcquire(grant) =
        b.ok(host_conn, Command::BreakoutEditLockAcquire(Empty {}))
    else {
        panic!()
    };
    b.ok(
        host_conn,
        Command::BreakoutDisable(PlanArgs {
            if_revision: None,
            edit_lock_token: Some(grant.token),
            release_edit_lock: None,
        }),
    );
    b.ok(host_conn, enable());
    let view = b.view(host_conn);
    assert_eq!(view.edit_lock, Some(None));
    // The plan survived disable/enable.
    assert_eq!(view.sessions.len(), 2);
}

// §14 #74-#75: identity beats external id; deleting a session clears its assignments.
#[test]
fn s14_74_75_assignment_resolution() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({}));
    let mut args = join_args();
    args.external_id = Some("ext-1".into());
    let (conn, p) = b.join_with("p", Role::Visitor, args);
    b.ok(
        host_conn,
        Command::BreakoutAssign(AssignArgs {
            assignments: vec![
                Assignment {
                    session_id: Some(sid(1)),
                    participant_ids: Some(vec![wire(p)]),
                    external_ids: None,
                },
                Assignment {
                    session_id: Some(sid(2)),
                    participant_ids: None,
                    external_ids: Some(vec!["ext-1".into()]),
                },
            ],
            if_revision: None,
            edit_lock_token: None,
            release_edit_lock: None,
        }),
    );
    // Non-hosts see their assignment only during a run.
    assert_eq!(b.view(conn).own.assigned_session_id, None);
    assert_eq!(
        b.view(host_conn).sessions[0].assigned_ids,
        Some(vec![wire(p)])
    );
    b.ok(
        host_conn,
        Command::BreakoutDeleteSession(DeleteSessionArgs {
            session_id: sid(1),
            if_revision: None,
            edit_lock_token: None,
            release_edit_lock: None,
        }),
    );
    // The external pre-assignment now resolves.
    let view = b.view(host_conn);
    assert_eq!(view.sessions.len(), 1);
    assert_eq!(view.sessions[0].assigned_ids, Some(vec![wire(p)]));
    // Assigning the recorder: role_not_movable.
    let (_, rec) = b.join("rec", Role::Recorder);
    assert_eq!(
        b.err(host_conn, assign(Some(2), &[rec])).code,
        ErrorCode::RoleNotMovable
    );
}

// §11.4: with a move grace the assigned participant is invited with a deadline, then moved at
// it; `auto_move_assigned = false` only invites.
#[test]
fn s11_4_move_grace_and_invitation() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"moveGracePeriod": 10}));
    let (conn, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p]));
    b.take();
    b.ok(host_conn, start());
    let requested = sent(&b.take(), EventName::BreakoutMoveRequested);
    let Event::BreakoutMoveRequested(r) = &requested[0].1 else {
        panic!()
    };
    assert!(r.deadline.is_some() && r.reason == MoveRequestReason::Start);
    assert!(b.view(conn).own.pending_move.is_some());
    b.advance_to(9);
    assert_eq!(b.loc(p), Location::Main);
    b.advance_to(10);
    assert_eq!(b.loc(p), at_session(1));
    // Invitation only.
    b.ok(host_conn, end(None, true));
    b.ok(host_conn, configure(json!({"autoMoveAssigned": false})));
    b.ok(host_conn, start());
    b.advance_to(100);
    assert_eq!(b.loc(p), Location::Main);
    let view = b.view(conn);
    assert!(view.sessions[0].requested && view.sessions[0].allowed);
    b.ok(conn, join_session(1));
    assert_eq!(b.loc(p), at_session(1));
}

// §17.1 Host monitor: the monitoring host receives the session receive-only; members do not
// receive the host; joining a session ends monitoring; the run's end ends it too.
#[test]
fn s17_1_host_monitor() {
    let (mut b, host_conn, ids) = started();
    let (host, a) = (ids[0], ids[1]);
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutMonitor(SessionArgs { session_id: sid(9) })
        )
        .code,
        ErrorCode::SessionNotFound
    );
    b.ok(
        host_conn,
        Command::BreakoutMonitor(SessionArgs { session_id: sid(1) }),
    );
    let changed = sent(&b.take(), EventName::BreakoutMonitorChanged);
    assert!(changed[0].0.contains(&a) && changed[0].0.contains(&host));
    assert!(b.hears(host, a) && !b.hears(a, host));
    let snapshot = b.h.room.snapshot_for(b.now, a).unwrap();
    let me = snapshot
        .room
        .participants
        .iter()
        .find(|p| p.id == wire(host))
        .unwrap();
    assert_eq!(me.monitoring, Some(sid(1)));
    b.ok(host_conn, join_session(2));
    assert!(!b.hears(host, a));
    assert!(b.h.room.installed_policy().monitors.is_empty());
    b.ok(host_conn, leave());
    b.ok(
        host_conn,
        Command::BreakoutMonitor(SessionArgs { session_id: sid(1) }),
    );
    b.ok(host_conn, end(None, true));
    assert!(b.h.room.installed_policy().monitors.is_empty());
    let CommandResult::BreakoutStopMonitor(c) =
        b.ok(host_conn, Command::BreakoutStopMonitor(Empty {}))
    else {
        panic!()
    };
    assert!(!c.changed);
}

// §13.4 / §11.9: a mover's screenshare stops; the host is not muted on return; a visitor is.
#[test]
fn s13_4_move_stops_screenshare_and_mutes_on_return() {
    let (mut b, host_conn, ids) = started();
    let (host, a) = (ids[0], ids[1]);
    let conn_a = b.h.room.connection_of(a).unwrap();
    b.ok(
        conn_a,
        Command::StartScreenshare(StartScreenshareArgs {
            has_audio_track: false,
        }),
    );
    b.take();
    b.ok(host_conn, mv(&[a], Some(2)));
    let stopped = sent(&b.take(), EventName::ScreenshareStopped);
    assert_eq!(stopped.len(), 1);
    b.ok(host_conn, join_session(2));
    b.ok(host_conn, mv(&[a, host], None));
    let effects = b.take();
    let muted = sent(&effects, EventName::AudioEnabled);
    assert_eq!(muted.len(), 1, "only the visitor is muted");
    assert!(!b.hears(host, a));
    // The mute is not a host mute: a can unmute itself.
    b.ok(
        conn_a,
        Command::SetAudioEnabled(SetEnabledArgs { enabled: true }),
    );
    assert!(b.hears(host, a));
}

// §9.3: `breakout_updated` goes to a recipient only when something it sees changed. Hosts get
// every revision (they guard commands with `ifRevision`); a visitor sees no plan before the
// start and never the edit lock, so editing the plan and taking the lock send it nothing.
#[test]
fn s9_3_breakout_updated_only_when_the_recipients_view_changed() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, h2) = b.join("h2", Role::Host);
    let (_, v) = b.join("v", Role::Visitor);
    let (_, w) = b.join("w", Role::Visitor);
    b.take();
    let updated = |effects: &[sfu::control::Effect], who| {
        names_for(effects, who)
            .iter()
            .filter(|n| **n == EventName::BreakoutUpdated)
            .count()
    };
    // Plan edits while Enabled: hosts only.
    b.ok(host_conn, assign(Some(1), &[v]));
    b.ok(host_conn, create(1));
    let effects = b.take();
    assert_eq!((updated(&effects, host), updated(&effects, h2)), (2, 2));
    assert_eq!((updated(&effects, v), updated(&effects, w)), (0, 0));
    // The start changes everybody's view, once.
    b.ok(host_conn, start());
    let effects = b.take();
    for who in [host, h2, v, w] {
        assert_eq!(updated(&effects, who), 1, "{who}");
    }
    // The edit lock is for hosts' eyes only.
    let token = match b.ok(host_conn, Command::BreakoutEditLockAcquire(Empty {})) {
        CommandResult::BreakoutEditLockAcquire(grant) => grant.token,
        other => panic!("{other:?}"),
    };
    let effects = b.take();
    assert_eq!((updated(&effects, host), updated(&effects, h2)), (1, 1));
    assert_eq!((updated(&effects, v), updated(&effects, w)), (0, 0));
    // A config change during the run is everyone's (clients read `allowReturnToMain`).
    let mut patch = configure(json!({"allowReturnToMain": false}));
    if let Command::BreakoutConfigure(args) = &mut patch {
        args.edit_lock_token = Some(token);
    }
    b.ok(host_conn, patch);
    let effects = b.take();
    for who in [host, h2, v, w] {
        assert_eq!(updated(&effects, who), 1, "{who}");
    }
    // The visitor's next update carries the latest revision.
    let latest = b.view(host_conn).revision;
    let to_v = events_for(&effects, v);
    assert!(to_v
        .iter()
        .any(|e| matches!(e, Event::BreakoutUpdated(view) if view.revision == latest)));
}

// The seed's `unassignAll` (spec §16.1): `breakout_assign {sessionId: null}` clears the
// assignment, so the start leaves the participant in MAIN; during a run it does not move anyone.
#[test]
fn s8_7_assign_to_null_unassigns() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, a) = b.join("a", Role::Visitor);
    let (_, c) = b.join("c", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[a, c]));
    b.ok(host_conn, assign(None, &[a]));
    b.ok(host_conn, start());
    assert_eq!(b.loc(a), Location::Main);
    assert_eq!(b.loc(c), at_session(1));
    b.ok(host_conn, assign(None, &[c]));
    assert_eq!(b.loc(c), at_session(1), "unassigning does not move");
    let view = b.view(host_conn);
    assert_eq!(view.sessions[0].assigned_ids, Some(vec![]));
}
