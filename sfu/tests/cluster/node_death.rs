//! Node death: SIGKILL of a node in a meeting. Its record expires within 6 s, the room is
//! placed again (a new epoch) and its participants, rejoining through any node as `client.js`
//! does after its resume fails, meet again within 10 s.

use std::time::Duration;

use serde_json::json;

use crate::harness::{join_via, start_nodes, Redis};
use crate::support::ws::{error_code, ok_result};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn participants_of_a_killed_node_meet_again_within_10_s() {
    let redis = Redis::start().await;
    let mut nodes = start_nodes(&redis, 3, &[]).await;
    let (mut ada, owner, _) = join_via(nodes[0].addr, "fragile", "ada")
        .await
        .expect("join");
    let (mut bob, at, _) = join_via(nodes[1].addr, "fragile", "bob")
        .await
        .expect("join");
    assert_eq!(at, owner);
    let dead = nodes
        .iter()
        .position(|node| node.addr == owner)
        .expect("the owner is a node");
    let survivors: Vec<_> = nodes
        .iter()
        .filter(|node| node.addr != owner)
        .map(|node| node.addr)
        .collect();

    nodes[dead].signal("KILL");
    let killed = tokio::time::Instant::now();
    assert!(nodes[dead].exited(Duration::from_secs(5)).await.is_some());
    // The sockets drop with the process.
    let _ = tokio::time::timeout(Duration::from_secs(5), ada.closed()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), bob.closed()).await;

    // A resume elsewhere fails cleanly (the room's state died with its node).
    let mut probe = crate::support::ws::Client::connect(survivors[0]).await;
    let resumed = probe
        .call(
            "resume",
            json!({"resumeToken": "rt-from-the-dead-node", "lastSeq": 0}),
        )
        .await;
    assert_eq!(error_code(&resumed), "resume_failed");

    // Both rejoin through the survivors, retrying as a client does, until admitted.
    let mut rejoined = Vec::new();
    for (i, who) in ["ada", "bob"].into_iter().enumerate() {
        loop {
            match join_via(survivors[i % 2], "fragile", who).await {
                Ok((client, at, _)) => {
                    rejoined.push((client, at));
                    break;
                }
                Err(_) => {
                    assert!(
                        killed.elapsed() < Duration::from_secs(10),
                        "{who} not back in the room 10 s after the kill"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        rejoined[0].1, rejoined[1].1,
        "both in the one re-placed room"
    );
    assert_ne!(rejoined[0].1, owner);
    // They are in the same room: a chat message of one reaches the other.
    let (ada, _) = &mut rejoined[0];
    ok_result(&ada.call("send_chat_message", json!({"text": "back"})).await);
    let (bob, _) = &mut rejoined[1];
    let chat = bob.event("chat_message").await;
    assert_eq!(chat["data"]["text"], "back");
}
