//! The server API (`/api/v1`) in a cluster: `POST /rooms` places the room like a first join
//! (the room starts where placement says, or the answer is 409 `wrong_node` with that node's
//! API root), every other call about a room another node runs answers the same, and the
//! admin CLI follows it.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{join_via, start_nodes, url_addr, Redis};
use crate::support::api::Api;

/// The node a `409 wrong_node` answer names, checked to be a `http://ip:port/api/v1` root.
fn owner_of(answer: &(u16, Value)) -> SocketAddr {
    let (status, body) = answer;
    assert_eq!(*status, 409, "{body}");
    assert_eq!(body["code"], "wrong_node", "{body}");
    let url = body["details"]["url"].as_str().expect("details.url");
    let origin = url
        .strip_suffix("/api/v1")
        .and_then(|origin| origin.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("not an API root: {url}"));
    assert!(body["details"]["nodeId"].is_string(), "{body}");
    url_addr(&format!("ws://{origin}/rtc"))
}

/// Runs the `sfu` binary with `args` (no `SFU_*` variable of this environment); exit code
/// and stdout.
async fn sfu(args: Vec<String>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SFU_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG").args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the sfu binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_places_rooms_and_names_the_owner_of_rooms_elsewhere() {
    let redis = Redis::start().await;
    let nodes = start_nodes(&redis, 3, &[]).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|node| node.addr).collect();
    let entry = Api::new(addrs[0]);

    // Six rooms created through n1: placement spreads them, so some are sent elsewhere, and
    // a room sent elsewhere is created there at the first try.
    let mut owners = Vec::new();
    for i in 0..6 {
        let room = format!("api-{i}");
        let answer = entry.post("/rooms", json!({"name": room})).await;
        let owner = if answer.0 == 201 {
            addrs[0]
        } else {
            let owner = owner_of(&answer);
            assert_ne!(owner, addrs[0], "sent to itself: {}", answer.1);
            let (status, body) = Api::new(owner).post("/rooms", json!({"name": room})).await;
            assert_eq!(status, 201, "{body}");
            owner
        };
        owners.push((room, owner));
    }
    let elsewhere = owners.iter().filter(|(_, at)| *at != addrs[0]).count();
    assert!(
        (2..6).contains(&elsewhere),
        "placement spreads API rooms: {owners:?}"
    );

    for (room, owner) in &owners {
        // Every node answers for the room: its owner with the room, the others naming it.
        for &addr in &addrs {
            let answer = Api::new(addr).get(&format!("/rooms/{room}")).await;
            if addr == *owner {
                assert_eq!(answer.0, 200, "{}", answer.1);
                assert_eq!(answer.1["summary"]["name"], room.as_str(), "{}", answer.1);
            } else {
                assert_eq!(owner_of(&answer), *owner, "GET {room} at {addr}");
            }
        }
        // Creating it again anywhere is refused: 409 at its owner, wrong_node elsewhere.
        for &addr in &addrs {
            let answer = Api::new(addr).post("/rooms", json!({"name": room})).await;
            if addr == *owner {
                assert_eq!(answer.0, 409, "{}", answer.1);
                assert_eq!(answer.1["code"], "invalid_argument", "{}", answer.1);
            } else {
                assert_eq!(owner_of(&answer), *owner, "POST {room} at {addr}");
            }
        }
        // A participant joining through any node lands in the API's room.
        let (_client, at, _) = join_via(addrs[2], room, "ada").await.expect("join");
        assert_eq!(at, *owner, "{room}: the join and the API agree");
    }

    // A room nobody runs is 404 everywhere.
    for &addr in &addrs {
        let (status, body) = Api::new(addr).get("/rooms/nowhere").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("room_not_found"))
        );
    }

    // The admin CLI follows wrong_node: created, listed at its node, and ended through n1.
    let n1 = format!("http://{}", addrs[0]);
    let mut cli_owner = None;
    for i in 0..6 {
        let room = format!("cli-{i}");
        let (code, out) = sfu(vec![
            "room".into(),
            "create".into(),
            room.clone(),
            "--url".into(),
            n1.clone(),
            "--json".into(),
        ])
        .await;
        assert_eq!(code, 0, "{out}");
        let answer = Api::new(addrs[0]).get(&format!("/rooms/{room}")).await;
        if answer.0 == 409 {
            cli_owner = Some((room, owner_of(&answer)));
            break;
        }
    }
    let (room, owner) = cli_owner.expect("placement put one of 6 CLI rooms on another node");
    let (code, out) = sfu(vec![
        "room".into(),
        "list".into(),
        "--url".into(),
        format!("http://{owner}"),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().any(|line| line.starts_with(&room)), "{out}");
    let (code, out) = sfu(vec![
        "room".into(),
        "end".into(),
        room.clone(),
        "--url".into(),
        n1,
    ])
    .await;
    assert_eq!(
        code, 0,
        "the CLI ends a room of another node through n1: {out}"
    );
    let started = tokio::time::Instant::now();
    while Api::new(owner).get(&format!("/rooms/{room}")).await.0 != 404 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{room} did not end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Each wrong_node answer counted as a redirect on the node that gave it.
    let redirects = nodes[0].metric("sfu_cluster_redirects_total").await;
    assert!(redirects.unwrap_or(0.0) >= 2.0, "{redirects:?}");
}
