//! `control::Room`: the capability matrix of spec §4.2 — every command a role lacks fails with
//! `forbidden` and changes nothing (spec §14 #1, #66).

use crate::support::control::*;
use signalling_proto::*;

/// Every role but `host`; the granted ones come through the waiting room.
fn non_host() -> impl Iterator<Item = Role> {
    Role::ALL.iter().copied().filter(|r| *r != Role::Host)
}

// The sample table covers exactly the commands with a role rule narrower than "admitted".
#[test]
fn every_narrow_command_has_a_sample() {
    crate::support::command_samples::check_samples("p-1");
}

// Every command whose issuer (spec §4.2, `CommandName::issuer`) the role lacks, by every
// non-host role: `forbidden`, no state change, no effect. Iterating over `CommandName::ALL`
// means a new command cannot be left out. The argument-dependent extras come last.
#[test]
fn every_command_outside_the_role_is_forbidden_and_changes_nothing() {
    for role in non_host() {
        let granted = matches!(role, Role::GrantedVisitor | Role::GrantedViewer);
        let mut h = Harness::with_policy(sfu::control::RoomPolicy {
            locked: granted,
            viewers_must_knock: true,
            ..Default::default()
        });
        let (host_conn, host, _) = h.join("host", Role::Host);
        let conn = if granted {
            let requested = if role == Role::GrantedViewer {
                Role::Viewer
            } else {
                Role::Visitor
            };
            h.join_through_knock(host_conn, "caller", requested).0
        } else if role == Role::Captioner {
            // The server's transcriber joins only for a requested transcription, with the
            // server's identity (issue 20).
            h.cmd(h.t0, host_conn, Command::StartLiveTranscription(Empty {}))
                .expect("a host starts a transcription");
            h.drain();
            h.join("sfu-live-transcriber", role).0
        } else {
            h.join("caller", role).0
        };
        let mut cases: Vec<Command> =
            crate::support::command_samples::refused_for(role, wire(host).as_str())
                .iter()
                .map(|(name, args)| crate::support::command_samples::typed(*name, args))
                .collect();
        cases.push(Command::BreakoutGet(BreakoutGetArgs {
            acquire_edit_lock: Some(true),
        }));
        // Assistants chat too (issue 20), but never to everyone.
        if role.may_chat() {
            cases.push(Command::SendChatMessage(SendChatMessageArgs {
                text: "to everyone".into(),
                parent_id: None,
                broadcast: Some(true),
                client_msg_id: None,
            }));
        }
        for (i, command) in cases.into_iter().enumerate() {
            let name = command.name();
            let before = h.room.fingerprint();
            let result = h.cmd(h.at_ms(i as u64 * 100), conn, command);
            let error = result.expect_err(&format!("{role:?} {name} must fail"));
            assert_eq!(error.code, ErrorCode::Forbidden, "{role:?} {name}");
            assert_eq!(
                h.room.fingerprint(),
                before,
                "{role:?} {name} changed state"
            );
            assert!(h.drain().is_empty(), "{role:?} {name} emitted effects");
        }
    }
}

// Role is checked before state (spec §6.2): a visitor stopping a recording that is not
// running gets `forbidden`, a host gets `not_recording`.
#[test]
fn role_check_precedes_state_checks() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("host", Role::Host);
    let (conn, _, _) = h.join("v", Role::Visitor);
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::StopCloudRecording(Empty {}))),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, Command::StopCloudRecording(Empty {}))),
        ErrorCode::NotRecording
    );
    // Breakouts are disabled: non-hosts still get `forbidden` for management, hosts
    // `breakouts_disabled` (spec §14 #2); participation commands give `breakouts_disabled`.
    assert_eq!(
        code(h.cmd(
            h.t0,
            host_conn,
            Command::BreakoutAskAllToReturn(RevisionArgs::default())
        )),
        ErrorCode::BreakoutsDisabled
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::BreakoutLeave(Empty {}))),
        ErrorCode::BreakoutsDisabled
    );
    let CommandResult::BreakoutGet(view) = h
        .cmd(h.t0, conn, Command::BreakoutGet(BreakoutGetArgs::default()))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(view.breakout.state, BreakoutState::Disabled);
    assert_eq!(view.breakout.edit_lock, None);
}

// The "all commands" bucket: 50 at once, then 25 / s (spec §6.5).
#[test]
fn command_rate_limit() {
    let mut h = Harness::new();
    let (conn, _, _) = h.join("v", Role::Visitor);
    for _ in 0..50 {
        h.cmd(h.t0, conn, Command::GetRoomState(Empty {})).unwrap();
    }
    let error = h
        .cmd(h.t0, conn, Command::GetRoomState(Empty {}))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(
        error
            .details_as::<RateLimitedDetails>()
            .unwrap()
            .retry_after_ms,
        40
    );
    h.cmd(h.at_ms(40), conn, Command::GetRoomState(Empty {}))
        .unwrap();
}

/// A room with a host and `visitors` visitors, the last `dropped` of which lost their sockets
/// (each arms a reconnect-grace timer), all at `t0`.
fn room_with_dropped_visitors(t0: std::time::Instant, visitors: usize, dropped: usize) -> Harness {
    let mut h = Harness::with_policy_at(sfu::control::RoomPolicy::default(), t0);
    h.join("host", Role::Host);
    let conns: Vec<_> = (0..visitors)
        .map(|n| h.join(&format!("visitor-{n}"), Role::Visitor).0)
        .collect();
    for conn in &conns[visitors - dropped..] {
        h.room.handle_disconnect(t0, *conn);
        h.drain();
        h.check();
    }
    h
}

// `fingerprint()` is what the "no state change" assertions compare, so two rooms in the same
// state print the same, whatever order their hash maps (armed timers, allowed sets, the
// policy's members) happen to iterate in: each map has its own random seed.
#[test]
fn equal_rooms_have_equal_fingerprints() {
    let first = room_with_dropped_visitors(Harness::new().t0, 12, 6);
    for _ in 0..4 {
        let second = room_with_dropped_visitors(first.t0, 12, 6);
        // Not `assert_eq!`: a room's fingerprint runs to tens of kilobytes.
        assert!(
            first.room.fingerprint() == second.room.fingerprint(),
            "equal rooms print differently"
        );
    }
}
