//! Redis stopped and restarted (empty) during a meeting: the meeting goes on, new rooms fail
//! with `placement_unavailable` and `/readyz` says 503 meanwhile; once Redis is back the nodes
//! re-claim their rooms by themselves, the room is not split, and new rooms work again.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::harness::{join_via, start_nodes, Redis};
use crate::support::ws::{error_code, ok_result};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_keeps_rooms_whole_and_service_resumes() {
    let mut redis = Redis::start().await;
    let nodes = start_nodes(&redis, 2, &[]).await;
    let (mut ada, owner, _) = join_via(nodes[0].addr, "steady", "ada")
        .await
        .expect("join");
    let (mut bob, at, _) = join_via(nodes[1].addr, "steady", "bob")
        .await
        .expect("join");
    assert_eq!(at, owner);
    let other = nodes
        .iter()
        .map(|node| node.addr)
        .find(|&addr| addr != owner)
        .expect("two nodes");

    redis.stop();
    // The meeting in progress goes on without Redis.
    ok_result(
        &ada.call("send_chat_message", json!({"text": "still here"}))
            .await,
    );
    assert_eq!(
        bob.event("chat_message").await["data"]["text"],
        "still here"
    );
    // A new room cannot be placed, through either node, and says why.
    for node in &nodes {
        let refused = join_via(node.addr, "newcomer", "cy")
            .await
            .err()
            .expect("refused");
        assert_eq!(error_code(&refused), "placement_unavailable", "{refused}");
    }
    // Neither can a join to the meeting through the node that does not run it (it cannot
    // learn the owner), but one through the owner is admitted (no Redis round trip).
    let refused = join_via(other, "steady", "cy")
        .await
        .err()
        .expect("refused");
    assert_eq!(error_code(&refused), "placement_unavailable");
    let (_cy, at, _) = join_via(owner, "steady", "cy")
        .await
        .expect("admitted by the owner");
    assert_eq!(at, owner);
    for node in &nodes {
        assert_eq!(
            node.readyz().await,
            503,
            "{} /readyz while Redis is down",
            node.id
        );
        assert_eq!(node.metric("sfu_cluster_store_up").await, Some(0.0));
    }

    redis.restart().await;
    let back = Instant::now();
    // No split: from the moment Redis is back, a join to the meeting through the other node
    // (whose heartbeat may reach the empty Redis before the owner's) is refused until the
    // owner has re-claimed the room, then sent to it; it is never placed anew.
    let (_dan, at, redirects) = loop {
        match join_via(other, "steady", "dan").await {
            Ok(joined) => break joined,
            Err(answer) => {
                assert_eq!(error_code(&answer), "placement_unavailable", "{answer}");
                assert!(
                    back.elapsed() < Duration::from_secs(10),
                    "the owner never re-claimed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!((at, redirects), (owner, 1));
    // The nodes found Redis again by themselves.
    for node in &nodes {
        while node.readyz().await != 200 {
            assert!(
                back.elapsed() < Duration::from_secs(10),
                "{} stays unready",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // New rooms work again once the store's warm-up is over.
    redis.warmed_up().await;
    let (_eve, _, _) = join_via(other, "fresh", "eve")
        .await
        .expect("a new room after the restart");
    ok_result(
        &ada.call("send_chat_message", json!({"text": "after"}))
            .await,
    );
    assert_eq!(bob.event("chat_message").await["data"]["text"], "after");
}
