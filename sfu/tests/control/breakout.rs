//! `control::Room` breakouts on virtual time: the conformance scenarios of spec §15 that
//! concern breakouts, each named after its scenario, with the invariants of §5.9 checked after
//! every input (the driver does it) and the allowed sets read from the installed policy.

use crate::support::control::breakout::*;
use crate::support::control::*;
use serde_json::json;
use sfu::control::Effect;
use sfu::core::Location;
use signalling_proto::*;

/// Everybody in MAIN receives everybody else; nobody receives across locations.
fn assert_isolated(b: &Bx, ids: &[sfu::core::ParticipantId]) {
    for &s in ids {
        for &q in ids {
            let expect = s != q && b.loc(s) == b.loc(q);
            assert_eq!(b.hears(s, q), expect, "{s} hears {q}");
        }
    }
}

// §15.1 Isolation: 3 sessions × 3 participants + a host in MAIN; every subscriber's allowed set
// is exactly its own location's publishers. (Packets never leaving a location under such a
// policy is pinned in `forwarding_core/breakout.rs`.)
#[test]
fn s15_1_isolation_three_sessions_of_three() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(3, json!({"moveGracePeriod": 0}));
    let mut ids = vec![host];
    for i in 0..9u64 {
        let (_, p) = b.join(&format!("v{i}"), Role::Visitor);
        ids.push(p);
        b.ok(host_conn, assign(Some(i / 3 + 1), &[p]));
    }
    b.take();
    let CommandResult::BreakoutStart(started) = b.ok(host_conn, start()) else {
        panic!()
    };
    assert_eq!(started.run_id, 1);
    assert!(started.skipped.is_empty());
    for (i, p) in ids[1..].iter().enumerate() {
        assert_eq!(b.loc(*p), at_session(i as u64 / 3 + 1));
    }
    assert_eq!(b.loc(host), Location::Main);
    assert!(b.h.room.installed_policy().breakout_active);
    assert_isolated(&b, &ids);
    // The host hears nobody (MAIN is empty of publishers but itself).
    assert!(ids[1..].iter().all(|q| !b.hears(host, *q)));
}

// §15.2 Atomic move: the policy install precedes every event of the move, and X's allowed set
// loses A and gains B in one `subscriptions_changed`.
#[test]
fn s15_2_atomic_move_installs_before_events() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, x) = b.join("x", Role::Visitor);
    let (_, a) = b.join("a", Role::Visitor);
    let (_, c) = b.join("c", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[x, a]));
    b.ok(host_conn, assign(Some(2), &[c]));
    b.ok(host_conn, start());
    assert!(b.hears(x, a) && !b.hears(x, c));
    b.take();
    b.ok(host_conn, mv(&[x], Some(2)));
    let effects = b.take();
    let install = position(&effects, |e| matches!(e, Effect::InstallPolicy(_))).unwrap();
    let first_event = position(&effects, |e| matches!(e, Effect::Send { .. })).unwrap();
    assert!(install < first_event, "install first (§13.3 step 3-4)");
    let Effect::InstallPolicy(policy) = &effects[install] else {
        panic!()
    };
    assert_eq!(policy.members[&x].location, at_session(2));
    assert!(b.hears(x, c) && !b.hears(x, a) && !b.hears(a, x));
    let changed = sent(&effects, EventName::SubscriptionsChanged);
    let mine: Vec<_> = changed.iter().filter(|(to, _)| to == &vec![x]).collect();
    assert_eq!(mine.len(), 1);
    let Event::SubscriptionsChanged(sc) = &mine[0].1 else {
        panic!()
    };
    assert!(sc.added.iter().all(|s| s.participant_id == wire(c)));
    assert!(sc.removed.iter().all(|s| s.participant_id == wire(a)));
    // Order of §13.3 step 4: location change, subscriptions, chat history, breakout_updated.
    let names = names_for(&effects, x);
    let pos = |n| names.iter().position(|m| *m == n).unwrap();
    assert!(pos(EventName::BreakoutLocationChanged) < pos(EventName::SubscriptionsChanged));
    assert!(pos(EventName::SubscriptionsChanged) < pos(EventName::ChatHistory));
    assert!(pos(EventName::ChatHistory) < pos(EventName::BreakoutUpdated));
    // The move made B the assignment (so reconnects agree).
    let view = b.view(host_conn);
    assert_eq!(view.sessions[1].assigned_ids.as_ref().unwrap().len(), 2);
}

// §15.3 Stage: a spotlighted host in MAIN reaches every session; unspotlight removes it; the
// host moving into a session drops the stage.
#[test]
fn s15_3_stage_reaches_every_session() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, p1) = b.join("p1", Role::Visitor);
    let (_, p2) = b.join("p2", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p1]));
    b.ok(host_conn, assign(Some(2), &[p2]));
    b.ok(host_conn, start());
    assert!(!b.hears(p1, host));
    let spot = |add: bool| {
        let args = SpotlightArgs {
            participant_id: wire(host),
            stream_id: StreamId::camera(),
        };
        if add {
            Command::AddSpotlight(args)
        } else {
            Command::RemoveSpotlight(args)
        }
    };
    b.ok(host_conn, spot(true));
    assert!(b.hears(p1, host) && b.hears(p2, host));
    assert!(!b.hears(host, p1), "the host still hears only MAIN");
    b.ok(host_conn, spot(false));
    assert!(!b.hears(p1, host) && !b.hears(p2, host));
    b.ok(host_conn, spot(true));
    b.take();
    b.ok(host_conn, join_session(1));
    let effects = b.take();
    assert_eq!(sent(&effects, EventName::SpotlightRemoved).len(), 1);
    assert!(b.hears(p1, host) && !b.hears(p2, host));
}

// §15.4 Even distribution: 10 eligible visitors over 3 sessions → {4,3,3}; hosts and viewers
// stay unassigned; reassignAll keeps sizes within one.
#[test]
fn s15_4_even_distribution_of_ten_over_three() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(3, json!({}));
    let (_, viewer) = b.join("viewer", Role::Viewer);
    for i in 0..10 {
        b.join(&format!("v{i}"), Role::Visitor);
    }
    let CommandResult::BreakoutAutoAssign(r) = b.ok(
        host_conn,
        Command::BreakoutAutoAssign(AutoAssignArgs::default()),
    ) else {
        panic!()
    };
    assert_eq!(r.assignments.len(), 10);
    let sizes = |b: &mut Bx| -> Vec<usize> {
        b.view(host_conn)
            .sessions
            .iter()
            .map(|s| s.assigned_ids.as_ref().unwrap().len())
            .collect()
    };
    assert_eq!(sizes(&mut b), vec![4, 3, 3]);
    assert!(r
        .assignments
        .iter()
        .all(|a| a.participant_id != wire(viewer)));
    let CommandResult::BreakoutAutoAssign(r) = b.ok(
        host_conn,
        Command::BreakoutAutoAssign(AutoAssignArgs {
            reassign_all: Some(true),
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.assignments.len(), 10);
    let s = sizes(&mut b);
    assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
    // Nobody left to assign: success with nothing (§14 #72).
    let CommandResult::BreakoutAutoAssign(r) = b.ok(
        host_conn,
        Command::BreakoutAutoAssign(AutoAssignArgs::default()),
    ) else {
        panic!()
    };
    assert!(r.assignments.is_empty());
}

// §15.5 Auto end: 300 s with a 60 s countdown → warning at 240 s, Closing at 300 s, everyone in
// MAIN at 360 s and muted per `muteOnReturnToMain`.
#[test]
fn s15_5_auto_end_warning_closing_return_muted() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(
        1,
        json!({"automaticallyEndBreakoutsAfter": 300, "countdownTimer": 60, "moveGracePeriod": 0,
               "muteOnReturnToMain": "audio_video"}),
    );
    let (_, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p]));
    b.ok(host_conn, start());
    b.take();
    b.advance_to(239);
    assert!(sent(&b.take(), EventName::BreakoutTimerWarning).is_empty());
    b.advance_to(240);
    let warnings = sent(&b.take(), EventName::BreakoutTimerWarning);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].0.contains(&p) && warnings[0].0.contains(&host));
    b.advance_to(300);
    let effects = b.take();
    let closing = sent(&effects, EventName::BreakoutClosing);
    assert_eq!(closing.len(), 1);
    let Event::BreakoutClosing(c) = &closing[0].1 else {
        panic!()
    };
    assert_eq!(
        (c.countdown_seconds, c.reason),
        (60, ClosingReason::AutoEnd)
    );
    assert_eq!(b.loc(p), at_session(1), "unchanged while closing");
    b.advance_to(359);
    assert_eq!(b.loc(p), at_session(1));
    b.advance_to(360);
    let effects = b.take();
    assert_eq!(b.loc(p), Location::Main);
    assert!(b.hears(host, p) || !b.hears(host, p)); // gates decide below
    let audio = sent(&effects, EventName::AudioEnabled);
    let video = sent(&effects, EventName::VideoEnabled);
    assert_eq!((audio.len(), video.len()), (1, 1));
    let Event::AudioEnabled(a) = &audio[0].1 else {
        panic!()
    };
    assert_eq!(a.reason, EnabledReason::ReturnedToMain);
    assert!(!b.hears(host, p), "muted audio is not forwarded");
    let ended = sent(&effects, EventName::BreakoutEnded);
    let Event::BreakoutEnded(e) = &ended[0].1 else {
        panic!()
    };
    assert_eq!(e.reason, EndReason::AutoEnd);
    // breakout_ended comes after the relocation events.
    let names = names_for(&effects, host);
    let pos = |n| names.iter().position(|m| *m == n).unwrap();
    assert!(pos(EventName::BreakoutLocationChanged) < pos(EventName::BreakoutEnded));
    assert!(!b.h.room.installed_policy().breakout_active);
    assert_eq!(b.view(host_conn).state, BreakoutState::Ended);
    // The host is not muted on return (§11.9) and the run can be restarted with a new id.
    let CommandResult::BreakoutStart(again) = b.ok(host_conn, start()) else {
        panic!()
    };
    assert_eq!(again.run_id, 2);
}

// §15.6 Countdown 0: ending goes straight to Ended without `breakout_closing`.
#[test]
fn s15_6_countdown_zero_ends_at_once() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"countdownTimer": 0, "moveGracePeriod": 0}));
    let (_, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p]));
    b.ok(host_conn, start());
    b.take();
    let CommandResult::BreakoutEnd(r) = b.ok(host_conn, end(None, false)) else {
        panic!()
    };
    assert_eq!(r.closing_ends_at, None);
    let effects = b.take();
    assert!(sent(&effects, EventName::BreakoutClosing).is_empty());
    assert_eq!(sent(&effects, EventName::BreakoutEnded).len(), 1);
    assert_eq!(b.loc(p), Location::Main);
}

// §15.7 Cancel auto end: no Closing happens until a manual end; extend then fails.
#[test]
fn s15_7_cancel_auto_end_then_no_closing() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"automaticallyEndBreakoutsAfter": 300}));
    b.ok(host_conn, start());
    b.take();
    b.ok(
        host_conn,
        Command::BreakoutCancelAutoEnd(RevisionArgs::default()),
    );
    let changed = sent(&b.take(), EventName::BreakoutTimerChanged);
    let Event::BreakoutTimerChanged(t) = &changed[0].1 else {
        panic!()
    };
    assert_eq!(
        (t.auto_end_at.clone(), t.reason),
        (None, TimerChangeReason::Cancelled)
    );
    b.advance_to(10_000);
    assert!(sent(&b.take(), EventName::BreakoutClosing).is_empty());
    assert_eq!(b.view(host_conn).state, BreakoutState::Started);
    let extend = Command::BreakoutExtendAutoEnd(ExtendAutoEndArgs {
        seconds: 60,
        if_revision: None,
    });
    assert_eq!(b.err(host_conn, extend).code, ErrorCode::AutoEndNotArmed);
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutCancelAutoEnd(RevisionArgs::default())
        )
        .code,
        ErrorCode::AutoEndNotArmed
    );
    b.ok(host_conn, end(Some(10), false));
    assert_eq!(sent(&b.take(), EventName::BreakoutClosing).len(), 1);
}

// §15.8 Timer race: a manual end and the auto-end timer in the same tick give one Closing; a
// cancel after the timer fired gets `breakout_closing`.
#[test]
fn s15_8_timer_race_gives_one_closing() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"automaticallyEndBreakoutsAfter": 300}));
    b.ok(host_conn, start());
    b.advance_to(299);
    b.take();
    // The manual end is processed at 300 s, then the (now stale) auto-end timer of 300 s.
    b.now = b.h.at(300);
    b.ok(host_conn, end(None, false));
    b.advance_to(300);
    assert_eq!(sent(&b.take(), EventName::BreakoutClosing).len(), 1);
    // The other order: the timer fires first; the cancel then finds Closing.
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"automaticallyEndBreakoutsAfter": 300}));
    b.ok(host_conn, start());
    b.advance_to(300);
    assert_eq!(
        b.err(
            host_conn,
            Command::BreakoutCancelAutoEnd(RevisionArgs::default())
        )
        .code,
        ErrorCode::BreakoutClosing
    );
    let CommandResult::BreakoutEnd(r) = b.ok(host_conn, end(None, false)) else {
        panic!()
    };
    assert!(!r.changed && r.closing_ends_at.is_some());
}

// §15.9 Late joiner: `allowJoinLater` true/false under auto, manual and choose (6 cases).
#[test]
fn s15_9_late_joiner_six_cases() {
    for method in ["auto", "manual", "choose"] {
        for later in [true, false] {
            let case = format!("{method} allowJoinLater={later}");
            let mut b = Bx::new();
            let (host_conn, _) = b.setup(
                2,
                json!({"assignmentMethod": method, "allowJoinLater": later, "moveGracePeriod": 0}),
            );
            b.join("early", Role::Visitor);
            b.ok(host_conn, start());
            let (late_conn, late) = b.join("late", Role::Visitor);
            if method == "manual" {
                // A pre-existing explicit assignment becomes effective only if late joins are on.
                b.ok(host_conn, assign(Some(2), &[late]));
            }
            let view = b.view(late_conn);
            assert!(view.own.late, "{case}");
            match (method, later) {
                ("auto", true) => assert_ne!(b.loc(late), Location::Main, "{case}"),
                ("auto", false) => {
                    assert_eq!(b.loc(late), Location::Main, "{case}");
                    assert_eq!(view.own.assigned_session_id, None, "{case}");
                }
                // An explicit host assignment of a late participant triggers placement.
                ("manual", _) => assert_eq!(b.loc(late), at_session(2), "{case}"),
                _ => assert_eq!(b.loc(late), Location::Main, "{case}"),
            }
            // Self-join of session 1: choose allows anyone not barred as late.
            let result = if b.loc(late) == at_session(1) {
                None
            } else {
                Some(b.cmd(late_conn, join_session(1)))
            };
            match (method, later, result) {
                (_, _, None) => {}
                ("choose", true, Some(r)) => assert!(r.is_ok(), "{case}"),
                (_, false, Some(r)) => {
                    assert_eq!(code(r), ErrorCode::JoinLaterNotAllowed, "{case}")
                }
                (_, true, Some(r)) => {
                    assert_eq!(code(r), ErrorCode::NotAllowedInSession, "{case}")
                }
            }
        }
    }
}

// §15.10 Reconnect: resume within grace → same id in A; grace expiry + rejoin → A via
// `last_location`; rejoin after the run ended → MAIN.
#[test]
fn s15_10_reconnect_keeps_the_group() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(
        2,
        json!({"assignmentMethod": "choose", "moveGracePeriod": 0}),
    );
    let (conn, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, start());
    b.ok(conn, join_session(1));
    b.disconnect(conn);
    assert_eq!(b.loc(p), at_session(1));
    b.advance_to(40);
    // Grace (30 s) expired: p is gone; a fresh join of the same identity goes back to s1.
    assert!(!b.h.room.participant_ids().contains(&p));
    b.take();
    let (_, p2) = b.join("p", Role::Visitor);
    assert_ne!(p2, p);
    assert_eq!(b.loc(p2), at_session(1));
    let moved = sent(&b.take(), EventName::BreakoutLocationChanged);
    let Event::BreakoutLocationChanged(lc) = &moved[0].1 else {
        panic!()
    };
    assert_eq!(lc.reason, RelocationReason::Rejoin);
    // After the run ends, a rejoin lands in MAIN (§14 #79).
    b.ok(host_conn, end(None, true));
    let conn2 = b.h.room.connection_of(p2).unwrap();
    b.disconnect(conn2);
    b.advance_to(100);
    let (_, p3) = b.join("p", Role::Visitor);
    assert_eq!(b.loc(p3), Location::Main);
}

// §15.10 (resume half): a resume within grace keeps id and session; `room_resumed` reports
// the group and carries a fresh breakout view, also after the run ended meanwhile.
#[test]
fn s15_10_resume_within_grace_returns_to_the_session() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"assignmentMethod": "choose"}));
    let conn = b.h.socket();
    let joined =
        b.h.room
            .handle_join(b.now, conn, join_args(), claims("p", Role::Visitor))
            .unwrap();
    let CommandResult::JoinRoom(joined) = joined else {
        panic!()
    };
    b.h.drain();
    let p = b.h.room.participant_of(conn).unwrap();
    b.ok(host_conn, start());
    b.ok(conn, join_session(1));
    b.disconnect(conn);
    // A host move while away applies (§14 #22).
    b.ok(host_conn, mv(&[p], None));
    b.ok(host_conn, mv(&[p], Some(1)));
    let new_conn = b.h.socket();
    let resumed = b.ok(
        new_conn,
        Command::Resume(ResumeArgs {
            resume_token: joined.resume_token.clone(),
            last_seq: 0,
            new_transports: false,
        }),
    );
    let CommandResult::Resume(r) = resumed else {
        panic!()
    };
    assert_eq!(r.self_id, wire(p));
    assert_eq!(r.location, signalling_proto::Location::Session(sid(1)));
    assert_eq!(r.breakout_group.unwrap().id, sid(1));
    // The fresh breakout view (spec §7.3 item 1): the run, its session, the host's move.
    assert_eq!(r.breakout, b.view(new_conn));
    assert_eq!(r.breakout.state, BreakoutState::Started);
    assert_eq!(r.breakout.own.location, r.location);
    assert_eq!(r.breakout.own.assigned_session_id, Some(sid(1)));
    assert!(r.breakout.sessions[0].current);
    // The run ends while it is away again: it resumes in MAIN with the ended run's view.
    b.disconnect(new_conn);
    b.ok(host_conn, end(None, true));
    let third_conn = b.h.socket();
    let CommandResult::Resume(r) = b.ok(
        third_conn,
        Command::Resume(ResumeArgs {
            resume_token: joined.resume_token.clone(),
            last_seq: 0,
            new_transports: false,
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.location, signalling_proto::Location::Main);
    assert_eq!(r.breakout_group, None);
    assert_eq!(r.breakout.state, BreakoutState::Ended);
    assert_eq!(r.breakout.own.location, signalling_proto::Location::Main);
}

// §15.11 Locked room reconnect: a fresh rejoin to a locked room knocks, is accepted as
// `granted_visitor`, and breakout placement applies on admission.
#[test]
fn s15_11_locked_room_rejoin_is_placed_after_the_knock() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({"assignmentMethod": "choose"}));
    let (conn, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, start());
    b.ok(conn, join_session(2));
    b.ok(conn, Command::LeaveRoom(Empty {}));
    b.ok(host_conn, Command::SetLock(SetLockArgs { locked: true }));
    b.take();
    let (_, p2) = b.h.join_through_knock(host_conn, "p", Role::Visitor);
    b.h.check();
    assert_ne!(p, p2);
    assert_eq!(b.loc(p2), at_session(2));
    let snapshot = b.h.room.snapshot_for(b.now, p2).unwrap();
    assert_eq!(snapshot.role_name, Role::GrantedVisitor);
    // A knock accepted into a named session places there (reason knock_admit), and that
    // needs a running breakout (§14 #62 is the Enabled case).
    let knock_into = |id: ParticipantId, s: u64| {
        Command::HandleKnock(HandleKnockArgs {
            participant_id: id,
            action: KnockAction::Accept,
            message: None,
            target_session_id: Some(sid(s)),
        })
    };
    assert_eq!(
        b.err(host_conn, knock_into(ParticipantId::from("p99"), 1))
            .code,
        ErrorCode::KnockNotFound
    );
    let conn_k = b.h.socket();
    let err =
        b.h.try_join_on(b.now, conn_k, "k", Role::Visitor)
            .unwrap_err();
    let k = err.details_as::<RoomLockedDetails>().unwrap().self_id;
    b.ok(conn_k, Command::KnockRoom(KnockRoomArgs::default()));
    assert_eq!(
        b.err(host_conn, knock_into(k.clone(), 9)).code,
        ErrorCode::SessionNotFound
    );
    b.ok(host_conn, knock_into(k.clone(), 1));
    let grant = socket_events(&b.take(), conn_k)
        .into_iter()
        .find_map(|e| match e {
            Event::KnockHandled(KnockHandled::ToKnocker(k)) => k.grant,
            _ => None,
        })
        .unwrap();
    let mut args = join_args();
    args.credential = Some(Credential::Grant(grant));
    args.self_id = Some(k);
    let CommandResult::JoinRoom(joined) = b.ok(conn_k, Command::JoinRoom(args)) else {
        panic!()
    };
    assert_eq!(joined.breakout_group.unwrap().id, sid(1));
    let moved = sent(&b.take(), EventName::BreakoutLocationChanged);
    let Event::BreakoutLocationChanged(lc) = &moved[0].1 else {
        panic!()
    };
    assert_eq!(lc.reason, RelocationReason::KnockAdmit);
}

// §15.12 Edit lock: B's plan mutations fail with `edit_locked` until A's lock expires after
// 30 s without refresh; `breakout_end` by B always works.
#[test]
fn s15_12_edit_lock_between_two_hosts() {
    let mut b = Bx::new();
    let (a_conn, a) = b.setup(1, json!({"assignmentMethod": "choose"}));
    let (b_conn, _) = b.join("host-b", Role::Host);
    let CommandResult::BreakoutEditLockAcquire(grant) =
        b.ok(a_conn, Command::BreakoutEditLockAcquire(Empty {}))
    else {
        panic!()
    };
    assert_eq!(grant.ttl, 30);
    let e = b.err(b_conn, create(1));
    assert_eq!(e.code, ErrorCode::EditLocked);
    assert_eq!(
        e.details_as::<EditLockedDetails>().unwrap().holder_id,
        wire(a)
    );
    // The holder without its token: mismatch (§14 #44); with it: fine and refreshed.
    assert_eq!(
        b.err(a_conn, create(1)).code,
        ErrorCode::EditLockTokenMismatch
    );
    b.advance_to(20);
    b.ok(
        a_conn,
        Command::BreakoutCreateSessions(CreateSessionsArgs {
            sessions: None,
            count: Some(1),
            if_revision: None,
            edit_lock_token: Some(grant.token.clone()),
            release_edit_lock: None,
        }),
    );
    // `breakout_start` is a plan mutation: B is locked out, A starts with its token.
    assert_eq!(b.err(b_conn, start()).code, ErrorCode::EditLocked);
    b.ok(
        a_conn,
        Command::BreakoutStart(StartArgs {
            edit_lock_token: Some(grant.token.clone()),
            ..Default::default()
        }),
    );
    // A refreshed at 20 s: still locked at 45 s, expired at 50 s.
    b.advance_to(45);
    assert_eq!(b.err(b_conn, create(1)).code, ErrorCode::EditLocked);
    // Runtime commands are never blocked (§14 #47).
    b.ok(b_conn, end(None, true));
    b.take();
    b.advance_to(50);
    let changed = sent(&b.take(), EventName::BreakoutEditLockChanged);
    let Event::BreakoutEditLockChanged(c) = &changed[0].1 else {
        panic!()
    };
    assert_eq!(c.reason, EditLockChangeReason::Expired);
    b.ok(b_conn, create(1));
    // Refreshing an expired lock: not held (§14 #45).
    assert_eq!(
        b.err(
            a_conn,
            Command::BreakoutEditLockRefresh(EditLockTokenArgs { token: grant.token })
        )
        .code,
        ErrorCode::EditLockNotHeld
    );
    // The holder leaving releases it (§14 #48).
    b.ok(b_conn, Command::BreakoutEditLockAcquire(Empty {}));
    b.take();
    b.ok(b_conn, Command::LeaveRoom(Empty {}));
    let changed = sent(&b.take(), EventName::BreakoutEditLockChanged);
    let Event::BreakoutEditLockChanged(c) = &changed[0].1 else {
        panic!()
    };
    assert_eq!(c.reason, EditLockChangeReason::HolderLeft);
    // breakout_get {acquireEditLock} gives the holder its token.
    let CommandResult::BreakoutGet(got) = b.ok(
        a_conn,
        Command::BreakoutGet(BreakoutGetArgs {
            acquire_edit_lock: Some(true),
        }),
    ) else {
        panic!()
    };
    assert!(got.breakout.edit_lock.unwrap().unwrap().token.is_some());
}

// §15.13 Ask for help: 10 s cooldown, also across a reconnect; hosts in any location are told.
#[test]
fn s15_13_ask_for_help_cooldown_and_hosts_everywhere() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"assignmentMethod": "choose"}));
    let (h2_conn, host2) = b.join("host-2", Role::Host);
    let (conn, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, start());
    assert_eq!(b.err(conn, help()).code, ErrorCode::NotInSession);
    b.ok(conn, join_session(1));
    b.ok(h2_conn, join_session(2));
    b.take();
    b.ok(conn, help());
    let asked = sent(&b.take(), EventName::BreakoutHelpRequested);
    assert_eq!(asked.len(), 1);
    assert!(asked[0].0.contains(&host) && asked[0].0.contains(&host2));
    b.advance_to(4);
    let e = b.err(conn, help());
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(
        e.details_as::<RateLimitedDetails>().unwrap().retry_after_ms,
        6000
    );
    // Across a grace expiry and a fresh join (same identity, back into s1 by rejoin).
    b.disconnect(conn);
    b.now = b.h.at(5);
    let (conn, p2) = b.join("p", Role::Visitor);
    assert_ne!(p, p2);
    assert_eq!(b.loc(p2), at_session(1));
    assert_eq!(b.err(conn, help()).code, ErrorCode::RateLimited);
    b.advance_to(10);
    b.ok(conn, help());
}

// §14 #31 and #73: with no connected host, help is refused and the cooldown not consumed; the
// run goes on when the last host leaves, and a returning host can end it.
#[test]
fn s14_no_host_present_keeps_the_cooldown() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(1, json!({"assignmentMethod": "choose"}));
    let (conn, _) = b.join("p", Role::Visitor);
    b.ok(host_conn, start());
    b.ok(conn, join_session(1));
    b.ok(host_conn, Command::LeaveRoom(Empty {}));
    assert_eq!(b.err(conn, help()).code, ErrorCode::NoHostPresent);
    let (host_conn, _) = b.join("host", Role::Host);
    b.ok(conn, help());
    b.ok(host_conn, end(None, true));
}

// §15.14 Return rules: `allowReturnToMain = false` blocks leave; ask-all-to-return unblocks;
// Closing unblocks.
#[test]
fn s15_14_return_rules() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(1, json!({"allowReturnToMain": false}));
    let (c1, p1) = b.join("p1", Role::Visitor);
    let (c2, p2) = b.join("p2", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p1, p2]));
    b.ok(host_conn, configure(json!({"moveGracePeriod": 0})));
    b.ok(host_conn, start());
    assert_eq!(b.err(c1, leave()).code, ErrorCode::ReturnNotAllowed);
    b.take();
    b.ok(
        host_conn,
        Command::BreakoutAskAllToReturn(RevisionArgs::default()),
    );
    let asked = sent(&b.take(), EventName::BreakoutReturnRequested);
    assert!(asked[0].0.contains(&p1) && asked[0].0.contains(&host));
    b.ok(c1, leave());
    assert_eq!(b.loc(p1), Location::Main);
    // Self-joins stay possible after the request (§11.8).
    b.ok(c1, join_session(1));
    // A fresh run forgets the request; Closing unblocks.
    b.ok(host_conn, end(None, true));
    b.ok(host_conn, start());
    assert_eq!(b.loc(p2), at_session(1));
    assert_eq!(b.err(c2, leave()).code, ErrorCode::ReturnNotAllowed);
    b.ok(host_conn, end(Some(30), false));
    b.ok(c2, leave());
    assert_eq!(b.loc(p2), Location::Main);
}

// §15.15 Chat scoping: a message in A is invisible in B and MAIN; a host broadcast reaches
// everyone; session history is discarded at the end of the run.
#[test]
fn s15_15_chat_scoping_and_discard() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (ca, a) = b.join("a", Role::Visitor);
    let (_, bb) = b.join("b", Role::Visitor);
    let (_, m) = b.join("m", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[a]));
    b.ok(host_conn, assign(Some(2), &[bb]));
    b.ok(host_conn, start());
    b.take();
    let chat = |text: &str, broadcast: bool| {
        Command::SendChatMessage(SendChatMessageArgs {
            text: text.into(),
            parent_id: None,
            broadcast: broadcast.then_some(true),
            client_msg_id: None,
        })
    };
    b.ok(ca, chat("in A", false));
    let to = &sent(&b.take(), EventName::ChatMessage)[0].0;
    assert!(to.contains(&a) && !to.contains(&bb) && !to.contains(&m) && !to.contains(&host));
    b.ok(host_conn, chat("to all", true));
    let to: Vec<_> = sent(&b.take(), EventName::ChatMessage)
        .into_iter()
        .flat_map(|(to, _)| to)
        .collect();
    for p in [a, bb, m, host] {
        assert!(to.contains(&p), "{p} got the broadcast");
    }
    b.ok(host_conn, end(None, true));
    b.ok(host_conn, start());
    let history = b.h.room.snapshot_for(b.now, a).unwrap().chat_history;
    assert!(
        history.iter().all(|m| m.text != "in A"),
        "session history discarded"
    );
}

// §15.16 End meeting during Closing: the breakout finishes at once (`meeting_ended`), then
// everyone is kicked.
#[test]
fn s15_16_end_meeting_finishes_the_breakout() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(1, json!({"moveGracePeriod": 0}));
    let (_, p) = b.join("p", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[p]));
    b.ok(host_conn, start());
    b.ok(host_conn, end(Some(60), false));
    b.take();
    b.ok(
        host_conn,
        Command::EndMeeting(EndMeetingArgs {
            stay_behind: Some(true),
        }),
    );
    let effects = b.take();
    let ended = sent(&effects, EventName::BreakoutEnded);
    let Event::BreakoutEnded(e) = &ended[0].1 else {
        panic!()
    };
    assert_eq!(e.reason, EndReason::MeetingEnded);
    let names = names_for(&effects, p);
    let pos = |n| names.iter().position(|m| *m == n).unwrap();
    assert!(pos(EventName::BreakoutEnded) < pos(EventName::ClientKicked));
    assert_eq!(b.h.room.participant_ids(), vec![host]);
    assert_eq!(b.view(host_conn).state, BreakoutState::Ended);
    // The identity is not banned.
    b.join("p", Role::Visitor);
}
