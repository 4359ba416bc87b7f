//! Level-2 scenarios: breakout relocation through policy installs (spec §13.2, §13.3, §13.5,
//! §13.7, §17.1). After every `PolicyInstalled`, every packet a subscriber receives must be
//! allowed by the policy in force (`TestRoom::leaks`).

use std::time::{Duration, Instant};

use sfu::core::testing::TestRoom;
use sfu::core::{CoreEvent, DropReason, Location, PublicationId, SessionId, StreamId};

use crate::support::common::*;

const S1: Location = Location::Session(SessionId(1));
const S2: Location = Location::Session(SessionId(2));

fn set_location(r: &mut TestRoom, who: &[u64], location: Location) {
    for i in who {
        r.policy.members.get_mut(&p(*i)).unwrap().location = location;
    }
}

/// Whether `s` received any video and any audio from `q` after `since` (packets at the
/// instant of an install were forwarded before it).
fn receives(r: &TestRoom, s: u64, q: u64, since: Instant) -> (bool, bool) {
    let any = |video| {
        r.received_by(p(s), p(q), video)
            .iter()
            .any(|x| x.at > since)
    };
    (any(true), any(false))
}

fn assert_no_leaks(r: &TestRoom) {
    let leaks = r.leaks();
    assert!(
        leaks.is_empty(),
        "{} packets crossed locations, first: {:?}",
        leaks.len(),
        leaks.first()
    );
}

/// Asserts who hears whom at or after `since` (a settling time after an install), given a
/// predicate on (subscriber, publisher).
fn assert_matrix(r: &TestRoom, n: u64, since: Instant, expect: impl Fn(u64, u64) -> bool) {
    for s in 1..=n {
        for q in (1..=n).filter(|q| *q != s) {
            let want = expect(s, q);
            assert_eq!(
                receives(r, s, q, since),
                (want, want),
                "subscriber {s} from publisher {q}"
            );
        }
    }
}

fn group(i: u64) -> u64 {
    match i {
        1 | 2 => 1,
        3 | 4 => 2,
        _ => 0,
    }
}

// Start (members to sessions), a move between sessions, and the end (everyone back to MAIN):
// after each install nobody receives anything from outside its location, and everyone
// receives everyone inside it.
#[test]
fn breakout_start_move_end_never_leaks() {
    let mut r = room(6);
    r.run_for(ms(1000));

    r.policy.breakout_active = true;
    set_location(&mut r, &[1, 2], S1);
    set_location(&mut r, &[3, 4], S2);
    r.install();
    let started = r.now;
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    assert_matrix(&r, 6, started + ms(500), |s, q| group(s) == group(q));

    // 2 moves from session 1 to session 2.
    set_location(&mut r, &[2], S2);
    r.install();
    let moved = r.now;
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    let group2 = |i: u64| if i == 2 { 2 } else { group(i) };
    assert_matrix(&r, 6, moved + ms(500), |s, q| group2(s) == group2(q));

    // End: everyone back to MAIN in one install.
    r.policy.breakout_active = false;
    set_location(&mut r, &[1, 2, 3, 4], Location::Main);
    r.install();
    let ended = r.now;
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    assert_matrix(&r, 6, ended + ms(500), |_, _| true);
    let installs: Vec<u64> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CoreEvent::PolicyInstalled { version } => Some(*version),
            _ => None,
        })
        .collect();
    assert_eq!(installs.last(), Some(&r.core.policy_version()));
    assert!(
        installs.windows(2).all(|w| w[1] == w[0] + 1),
        "{installs:?}"
    );
}

// Nothing a mover sent before the install is delivered as if it were allowed after it: the
// first packet after an install is already filtered (install is atomic between packets).
#[test]
fn install_takes_effect_before_the_next_packet() {
    let mut r = room(4);
    r.run_for(ms(1000));
    for step in 0..20u64 {
        r.policy.breakout_active = step % 5 != 4;
        let a = if step % 2 == 0 { S1 } else { S2 };
        let b = if step % 3 == 0 { S1 } else { Location::Main };
        set_location(&mut r, &[1 + step % 4], a);
        set_location(&mut r, &[1 + (step + 1) % 4], b);
        r.install();
        r.run_for(ms(137));
    }
    assert_no_leaks(&r);
}

// Stage: a spotlighted MAIN publisher reaches every session (camera video and audio); it still
// hears only MAIN; removing the spotlight removes it from the sessions.
#[test]
fn staged_main_publisher_reaches_every_session() {
    let mut r = room(5);
    r.run_for(ms(1000));
    r.policy.breakout_active = true;
    set_location(&mut r, &[1, 2], S1);
    set_location(&mut r, &[3], S2);
    r.policy.stage.insert((p(5), StreamId::Camera));
    r.install();
    let staged = r.now;
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    let since = staged + ms(500);
    for s in 1..=4 {
        assert_eq!(
            receives(&r, s, 5, since),
            (true, true),
            "{s} sees the stage"
        );
    }
    for q in 1..=3 {
        assert_eq!(
            receives(&r, 5, q, since),
            (false, false),
            "stage hears only MAIN"
        );
    }
    assert_eq!(receives(&r, 5, 4, since), (true, true));
    // The stage does not open sessions to each other or to MAIN.
    assert_eq!(receives(&r, 1, 3, since), (false, false));
    assert_eq!(receives(&r, 4, 1, since), (false, false));

    r.policy.stage.clear();
    r.install();
    let unstaged = r.now;
    r.run_for(ms(1000));
    assert_no_leaks(&r);
    for s in 1..=3 {
        assert_eq!(
            receives(&r, s, 5, unstaged),
            (false, false),
            "{s} after unstage"
        );
    }
    assert_eq!(receives(&r, 4, 5, unstaged), (true, true));
}

// Monitor (§17.1): a host in MAIN monitoring a session receives that session's media and
// nothing from other sessions; the session's members do not receive the host.
#[test]
fn monitoring_host_receives_session_but_is_not_received() {
    let mut r = room(5);
    r.run_for(ms(1000));
    r.policy.breakout_active = true;
    set_location(&mut r, &[1, 2], S1);
    set_location(&mut r, &[3], S2);
    r.policy.monitors.insert(p(5), SessionId(1));
    r.install();
    let since = r.now + ms(500);
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    for q in [1, 2, 4] {
        assert_eq!(receives(&r, 5, q, since), (true, true), "host hears {q}");
    }
    assert_eq!(
        receives(&r, 5, 3, since),
        (false, false),
        "not the other session"
    );
    for s in 1..=3 {
        assert_eq!(
            receives(&r, s, 5, since),
            (false, false),
            "{s} does not get the host"
        );
    }
    assert_eq!(receives(&r, 4, 5, since), (true, true), "MAIN still does");
}

// A receive-only member (viewer) sends nothing even if its client keeps sending, and still
// receives its location.
#[test]
fn receive_only_member_sends_nothing() {
    let mut r = room(3);
    r.policy.members.get_mut(&p(3)).unwrap().receive_only = true;
    r.install();
    r.run_for(ms(2000));
    assert_no_leaks(&r);
    for s in [1, 2] {
        assert_eq!(r.received_by(p(s), p(3), true).len(), 0);
        assert_eq!(r.received_by(p(s), p(3), false).len(), 0);
    }
    assert!(!r.received_by(p(3), p(1), true).is_empty());
    assert!(r.core.stats().drops(DropReason::GateClosed) > 0);
}

/// Keyframe requests for `publication` in `[since, since + window)`.
fn requests_in(
    r: &TestRoom,
    publication: PublicationId,
    since: Instant,
    window: Duration,
) -> usize {
    r.keyframe_requests
        .iter()
        .filter(|(at, pubid, _, _)| *pubid == publication && *at >= since && *at < since + window)
        .count()
}

// A move asks once for a keyframe from each publisher whose video gained a subscriber (spec
// §13.3 step 5), and not from publishers that only kept or lost subscribers.
#[test]
fn move_requests_one_keyframe_per_publisher_that_gained() {
    let mut r = room(4);
    r.policy.breakout_active = true;
    set_location(&mut r, &[1, 2], S1);
    r.install();
    r.run_for(ms(3000));

    // 3 joins 1 and 2: videos of 1, 2 and 3 gain subscribers; 4 only loses one.
    set_location(&mut r, &[3], S1);
    r.install();
    let moved = r.now;
    r.run_for(ms(3000));
    assert_no_leaks(&r);
    for q in 1..=3 {
        let (video, audio) = r.camera(p(q));
        assert_eq!(requests_in(&r, video, moved, ms(3000)), 1, "publisher {q}");
        assert_eq!(requests_in(&r, audio, moved, ms(3000)), 0);
    }
    let (video4, _) = r.camera(p(4));
    assert_eq!(
        requests_in(&r, video4, moved, ms(3000)),
        0,
        "publisher 4 lost only"
    );
    // The new subscribers start on a keyframe.
    for (s, q) in [(3, 1), (3, 2), (1, 3), (2, 3)] {
        let rx: Vec<_> = r
            .received_by(p(s), p(q), true)
            .iter()
            .filter(|x| x.at > moved)
            .collect();
        assert!(rx[0].keyframe, "{s} from {q} starts on a keyframe");
    }
}

// The audit itself is not vacuous: packets forwarded under a policy that (as recorded) did
// not allow them are reported.
#[test]
fn leak_audit_reports_packets_outside_the_recorded_policy() {
    let mut r = room(2);
    r.run_for(ms(500));
    assert_no_leaks(&r);
    let version = r.core.policy_version();
    let mut separated = r.policy.clone();
    separated.breakout_active = true;
    separated.members.get_mut(&p(1)).unwrap().location = S1;
    r.installed.insert(version, separated);
    assert!(!r.leaks().is_empty());
}
