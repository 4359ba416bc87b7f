//! Drain in a cluster: SIGTERM marks the node draining in its record at once; it takes no new
//! room, still admits joins to its own rooms, and exits once they are empty.

use std::time::Duration;

use serde_json::json;

use crate::harness::{join_via, start_nodes, Redis};
use crate::support::ws::ok_result;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_node_takes_no_new_room_and_exits_once_its_rooms_empty() {
    let redis = Redis::start().await;
    let mut nodes = start_nodes(&redis, 3, &["--drain-grace", "60s"]).await;
    // A room on n1: rooms go where placement says, so try names until one lands there.
    let n1 = nodes[0].addr;
    let mut meeting = None;
    for i in 0..30 {
        let room = format!("drain-{i}");
        let (client, at, _) = join_via(n1, &room, "ada").await.expect("join");
        if at == n1 {
            meeting = Some((room, client));
            break;
        }
    }
    let (room, mut ada) = meeting.expect("placement put one of 30 rooms on n1");

    nodes[0].signal("TERM");
    let started = tokio::time::Instant::now();
    while nodes[0].readyz().await != 503 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "n1 does not drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The record is written as soon as the drain begins; give the write a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New rooms, through every node including n1 itself, go elsewhere.
    for i in 0..9 {
        let entry = nodes[i % 3].addr;
        let (_client, at, _) = join_via(entry, &format!("after-{i}"), "bob")
            .await
            .unwrap_or_else(|answer| panic!("new room through {entry}: {answer}"));
        assert_ne!(at, n1, "a draining node got a new room");
    }
    // Joins to n1's own room are still admitted there, from any entry.
    let (mut bob, at, redirects) = join_via(nodes[1].addr, &room, "bob").await.expect("join");
    assert_eq!((at, redirects), (n1, 1));

    // The node exits once its room is empty, long before the 60 s grace.
    ok_result(&ada.call("leave_room", json!({})).await);
    ok_result(&bob.call("leave_room", json!({})).await);
    let status = nodes[0]
        .exited(Duration::from_secs(10))
        .await
        .expect("n1 exits once its room is empty");
    assert!(status.success(), "{status:?}");
    // Its record is gone at once: the others count two nodes.
    crate::harness::wait_for_nodes(&nodes[1..], 2).await;
}
