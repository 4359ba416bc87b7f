//! The control plane's breakout policies driven through the media core (spec §15.1-§15.2): the
//! policies `control::Room` installs at start, on a move and at the end are fed to a
//! `core::testing::TestRoom` whose participants publish, and no packet may cross locations.

use crate::support::control::breakout::*;
use serde_json::json;
use sfu::core::testing::TestRoom;
use signalling_proto::Role;
use std::time::Instant;

/// Installs the control plane's current policy in the core and runs two seconds of media.
fn install_and_run(b: &Bx, r: &mut TestRoom) -> Instant {
    let mut policy = b.h.room.installed_policy().clone();
    policy.version = r.policy.version;
    r.policy = policy;
    r.install();
    let at = r.now;
    r.run_for(crate::support::common::ms(2000));
    let leaks = r.leaks();
    assert!(
        leaks.is_empty(),
        "{} packets crossed locations",
        leaks.len()
    );
    at
}

/// Whether subscriber `s` got audio and video from `q` after `since` (+ settling time).
fn receives(r: &TestRoom, s: u64, q: u64, since: Instant) -> bool {
    let since = since + crate::support::common::ms(500);
    [true, false].iter().all(|video| {
        r.received_by(
            crate::support::common::p(s),
            crate::support::common::p(q),
            *video,
        )
        .iter()
        .any(|x| x.at > since)
    })
}

// §15.1 and §15.2 through the forwarding core: 3 sessions × 3 visitors and a host in MAIN;
// after start, a move and the end, every subscriber receives exactly its own location.
#[test]
fn s15_1_and_2_packets_never_cross_locations() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(3, json!({"moveGracePeriod": 0}));
    // p1 is the host; p2..p10 the visitors, three per session.
    let session_of = |i: u64| (i - 2) / 3 + 1;
    for i in 2..=10u64 {
        let (_, id) = b.join(&format!("v{i}"), Role::Visitor);
        assert_eq!(id, crate::support::common::p(i));
        b.ok(host_conn, assign(Some(session_of(i)), &[id]));
    }
    let mut r = crate::support::common::room(10);
    r.run_for(crate::support::common::ms(1000));

    b.ok(host_conn, start());
    let started = install_and_run(&b, &mut r);
    let group = |i: u64| if i == 1 { 0 } else { session_of(i) };
    for s in 1..=10 {
        for q in (1..=10).filter(|q| *q != s) {
            assert_eq!(
                receives(&r, s, q, started),
                group(s) == group(q),
                "{s} from {q}"
            );
        }
    }

    // p2 moves from s1 to s2.
    b.ok(host_conn, mv(&[crate::support::common::p(2)], Some(2)));
    let moved = install_and_run(&b, &mut r);
    assert!(receives(&r, 2, 5, moved) && !receives(&r, 2, 3, moved));
    assert!(!receives(&r, 3, 2, moved) && receives(&r, 5, 2, moved));

    // The end brings everyone back to MAIN in one install.
    b.ok(host_conn, end(None, true));
    let ended = install_and_run(&b, &mut r);
    // Video from everyone; audio of returning visitors is closed by mute on return (§11.9).
    let video = |s: u64, q: u64| {
        r.received_by(
            crate::support::common::p(s),
            crate::support::common::p(q),
            true,
        )
        .iter()
        .any(|x| x.at > ended + crate::support::common::ms(500))
    };
    assert!(video(1, 2) && video(10, 2) && video(2, 10));
    assert!(!receives(&r, 1, 2, ended), "p2's audio is muted on return");
}
