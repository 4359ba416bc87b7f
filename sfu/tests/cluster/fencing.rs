//! Fencing: a node cut off long enough for its record to expire (here: stopped with SIGSTOP)
//! finds, when it comes back, that its room was placed again elsewhere with a higher epoch. It
//! drops its copy at once (its sockets close with 1012) and the participant rejoins into the
//! one live room: never two live copies.

use std::time::Duration;

use serde_json::json;

use crate::harness::{join_via, start_nodes, wait_for_nodes, Redis};
use crate::support::ws::ok_result;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_back_from_a_partition_drops_its_replaced_room() {
    let redis = Redis::start().await;
    let nodes = start_nodes(&redis, 3, &[]).await;
    let (mut ada, owner, _) = join_via(nodes[0].addr, "split", "ada").await.expect("join");
    let stopped = nodes
        .iter()
        .position(|node| node.addr == owner)
        .expect("the owner is a node");
    let others: Vec<_> = (0..3).filter(|&i| i != stopped).collect();

    nodes[stopped].signal("STOP");
    // Its record expires: the others count two nodes.
    let survivors = [&nodes[others[0]], &nodes[others[1]]];
    for node in survivors {
        let started = tokio::time::Instant::now();
        while node.metric("sfu_cluster_nodes").await != Some(2.0) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{} still sees 3",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Meanwhile the room is placed again, on a live node, with a higher epoch.
    let (mut bob, new_owner, _) = join_via(survivors[0].addr, "split", "bob")
        .await
        .expect("the room is placed again");
    assert_ne!(new_owner, owner);

    nodes[stopped].signal("CONT");
    // Its first heartbeat finds the newer owner: ada's socket is closed with 1012 (service
    // restart: reconnect), and the node's room is gone.
    let closed = tokio::time::timeout(Duration::from_secs(10), ada.closed())
        .await
        .expect("the stale copy closes its sockets");
    assert_eq!(closed.map(|(code, _)| code), Some(1012));
    assert_eq!(
        nodes[stopped]
            .metric("sfu_cluster_fenced_rooms_total")
            .await,
        Some(1.0)
    );
    assert_eq!(nodes[stopped].metric("sfu_rooms").await, Some(0.0));
    // Rejoining through the node that was cut off lands in the one live room.
    let (mut ada, at, redirects) = join_via(owner, "split", "ada").await.expect("rejoin");
    assert_eq!((at, redirects), (new_owner, 1));
    ok_result(
        &ada.call("send_chat_message", json!({"text": "one room"}))
            .await,
    );
    assert_eq!(bob.event("chat_message").await["data"]["text"], "one room");
    wait_for_nodes(&nodes, 3).await;
}
