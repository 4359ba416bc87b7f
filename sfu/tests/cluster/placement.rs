//! Placement: joins arriving at random nodes end up, for each room, on exactly one node, and
//! rooms spread over the nodes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::harness::{join_via, start_nodes, Redis};

// 100 concurrent joins to 10 rooms, each at a random one of three nodes: every room lives on
// exactly one node, everyone of a room is in it, and each node got some of the rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joins_at_random_nodes_meet_on_one_node_per_room() {
    let redis = Redis::start().await;
    let nodes = start_nodes(&redis, 3, &[]).await;
    let entries: Vec<SocketAddr> = nodes.iter().map(|node| node.addr).collect();
    let mut joins = Vec::new();
    for i in 0..100usize {
        let room = format!("room-{}", i % 10);
        // A fixed but scattered choice: the order of arrival is up to the scheduler.
        let entry = entries[(i * 7 + i / 10) % entries.len()];
        joins.push(tokio::spawn(async move {
            let joined = join_via(entry, &room, &format!("p{i}")).await;
            (room, entry, joined)
        }));
    }
    let mut room_nodes: HashMap<String, HashSet<SocketAddr>> = HashMap::new();
    let mut clients = Vec::new();
    let mut redirected = 0;
    for join in joins {
        let (room, entry, joined) = join.await.expect("no panic");
        let (client, at, redirects) =
            joined.unwrap_or_else(|answer| panic!("a join to {room} at {entry} failed: {answer}"));
        redirected += u32::from(redirects > 0);
        assert!(
            redirects <= 1,
            "one redirect reaches the owner, not {redirects}"
        );
        room_nodes.entry(room).or_default().insert(at);
        clients.push(client);
    }
    assert_eq!(room_nodes.len(), 10);
    for (room, at) in &room_nodes {
        assert_eq!(at.len(), 1, "{room} is on more than one node: {at:?}");
    }
    assert!(
        redirected > 0,
        "some joins arrived at a node that does not own their room"
    );
    // Each node runs exactly the rooms the clients found there, with everyone in them.
    let mut rooms_per_node = Vec::new();
    for node in &nodes {
        let expected = room_nodes
            .values()
            .filter(|at| at.contains(&node.addr))
            .count();
        assert_eq!(
            node.metric("sfu_rooms").await,
            Some(expected as f64),
            "{}",
            node.id
        );
        assert_eq!(
            node.metric("sfu_participants").await,
            Some(expected as f64 * 10.0),
            "{}",
            node.id
        );
        rooms_per_node.push(expected);
    }
    // Load plus recent placements spread a burst: with three idle nodes, 10 rooms go 3-4 each
    // (2-5 allows for CPU load differences on a busy machine).
    for (node, rooms) in nodes.iter().zip(&rooms_per_node) {
        assert!(
            (2..=5).contains(rooms),
            "{} got {rooms} of 10 rooms: {rooms_per_node:?}",
            node.id
        );
    }
    let placed: f64 = {
        let mut sum = 0.0;
        for node in &nodes {
            let (_, body) = crate::support::ws::http_get(node.addr, "/metrics").await;
            sum += body
                .lines()
                .filter(|line| line.starts_with("sfu_cluster_placements_total{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        sum
    };
    assert_eq!(placed, 10.0, "one placement per room");
    drop(clients);
}
