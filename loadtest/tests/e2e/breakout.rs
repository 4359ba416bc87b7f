//! Breakout groups end to end (issue 4): six webrtc-rs participants publish simulcast VP8 +
//! Opus through the real server; a host splits them into two groups. Checked on the wire (the
//! tag in every packet names its publisher): after `breakout_start` each participant receives
//! media only from its own group, after `breakout_end` and its countdown everyone receives
//! everyone again, and no publisher transport was renegotiated (each publisher kept sending on
//! the transport it opened, with no write error, and the server never sent it an offer).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use loadtest::{Participant, ParticipantConfig, PublisherConfig};
use serde_json::{json, Value};
use signalling_proto::{decode_client_frame, Command, MediaKind};

use crate::support::server::Server;

/// How long any expected state may take to appear.
const DEADLINE: Duration = Duration::from_secs(20);
/// The window over which "receives from" is judged once media has settled.
const WINDOW: Duration = Duration::from_millis(1500);

/// A command from its wire form (the breakout argument types are many; JSON is shorter).
fn command(name: &str, args: Value) -> Command {
    let frame = json!({"type": "command", "name": name, "reqId": "t", "args": args});
    decode_client_frame(&frame.to_string())
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        .command
}

async fn host_does(host: &Participant, name: &str, args: Value) -> serde_json::Map<String, Value> {
    host.signalling
        .request_raw(command(name, args))
        .await
        .unwrap_or_else(|e| panic!("{name} refused: {e}"))
}

/// Video packets received so far from each load-test publisher.
fn video_by_publisher(p: &Participant) -> BTreeMap<u32, u64> {
    let stats = p.subscriber_stats().expect("subscribing");
    let mut by = BTreeMap::new();
    for t in stats.tracks.values().filter(|t| t.kind == MediaKind::Video) {
        *by.entry(t.publisher).or_default() += t.stats.packets;
    }
    by
}

/// The publishers each participant received video from during one window.
async fn heard_in_window(people: &[Participant]) -> Vec<Vec<u32>> {
    let before: Vec<_> = people.iter().map(video_by_publisher).collect();
    tokio::time::sleep(WINDOW).await;
    people
        .iter()
        .zip(before)
        .map(|(p, before)| {
            video_by_publisher(p)
                .into_iter()
                .filter(|(publisher, n)| *n > before.get(publisher).copied().unwrap_or(0))
                .map(|(publisher, _)| publisher)
                .collect()
        })
        .collect()
}

/// Waits until every participant `i` hears exactly `expected(i)` in one window.
async fn until_heard(people: &[Participant], what: &str, expected: impl Fn(usize) -> Vec<u32>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let heard = heard_in_window(people).await;
        if heard.iter().enumerate().all(|(i, h)| *h == expected(i)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: heard {heard:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_participants_two_groups() {
    let server = Server::start().await;
    let url = server.url.clone();

    // Participant i publishes as load-test publisher i; participant 0 is the host.
    let mut people = Vec::new();
    for i in 0..6u32 {
        let mut config = ParticipantConfig::new(&url, "e2e-breakout", &format!("p{i}"));
        if i == 0 {
            config.role = "host".to_owned();
        }
        let mut p = Participant::join(config).await.expect("joins");
        p.publish(&PublisherConfig::simulcast(i))
            .await
            .expect("publishes");
        people.push(p);
    }
    let everyone_else = |i: usize| (0..6u32).filter(|p| *p as usize != i).collect::<Vec<_>>();
    until_heard(&people, "everyone hears everyone", everyone_else).await;
    let sent_before: Vec<u64> = people
        .iter()
        .map(|p| p.send_counters().expect("publishing").packets())
        .collect();

    // Groups: {0, 1, 2} and {3, 4, 5}; the host joins its group itself.
    let host = &people[0];
    host_does(host, "breakout_enable", json!({})).await;
    let created = host_does(host, "breakout_create_sessions", json!({"count": 2})).await;
    let sessions: Vec<String> = created["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    let ids: Vec<String> = people.iter().map(|p| p.id().0.clone()).collect();
    host_does(
        host,
        "breakout_assign",
        json!({"assignments": [
            {"sessionId": sessions[0], "participantIds": [ids[1], ids[2]]},
            {"sessionId": sessions[1], "participantIds": [ids[3], ids[4], ids[5]]},
        ]}),
    )
    .await;
    host_does(
        host,
        "breakout_start",
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    host_does(host, "breakout_join", json!({"sessionId": sessions[0]})).await;
    let group_of = |i: usize| if i < 3 { 0 } else { 1 };
    let own_group = |i: usize| {
        (0..6u32)
            .filter(|p| *p as usize != i && group_of(*p as usize) == group_of(i))
            .collect::<Vec<_>>()
    };
    until_heard(&people, "each group hears only itself", own_group).await;
    // Held: two more windows, nothing crosses.
    for _ in 0..2 {
        let heard = heard_in_window(&people).await;
        for (i, h) in heard.iter().enumerate() {
            assert_eq!(*h, own_group(i), "participant {i} heard across groups");
        }
    }

    // End with a 2 s closing countdown: everyone back in the main room hears everyone.
    let countdown_from = Instant::now();
    host_does(host, "breakout_end", json!({"delayCloseTime": 2})).await;
    until_heard(&people, "everyone hears everyone again", everyone_else).await;
    assert!(
        countdown_from.elapsed() >= Duration::from_secs(2),
        "media crossed groups before the countdown ended"
    );

    // No uplink was renegotiated: every publisher kept sending on its one transport.
    for (i, p) in people.iter().enumerate() {
        let counters = p.send_counters().expect("publishing");
        assert!(counters.packets() > sent_before[i], "p{i} stopped sending");
        assert_eq!(counters.write_errors.load(Ordering::Relaxed), 0, "p{i}");
    }
    for p in people {
        p.close().await;
    }
    server.stop().await;
}
