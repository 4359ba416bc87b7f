//! The load tester (the real binary) drives a cluster: two in-process `sfu` nodes on one
//! Debian `redis-server` (127.0.0.1, a free port, no persistence). A run entering at one node
//! follows `wrong_node` to the room's node, and the JSON's `nodes` reports that node with
//! its participants, tracks and SFU figures from its own `/metrics`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A store that started places no new room for the record TTL (6 s); a little more.
const WARM_UP: Duration = Duration::from_millis(6500);

struct Redis {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_redis(port: u16) -> Redis {
    let dir = std::env::temp_dir().join(format!("loadtest-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (Debian package redis-server; scripts/test installs it)");
    let redis = Redis { child, dir };
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut answer = [0u8; 7];
            if stream.write_all(b"PING\r\n").await.is_ok()
                && stream.read_exact(&mut answer).await.is_ok()
                && &answer == b"+PONG\r\n"
            {
                return redis;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not start");
}

/// An in-process node `id` on `redis_url`; its `ws://` base URL and its stop switch.
async fn start_node(redis_url: &str, id: &str) -> (String, oneshot::Sender<()>) {
    let config = sfu::Config {
        redis_url: Some(redis_url.to_owned()),
        node_id: Some(id.to_owned()),
        ..sfu::Config::ephemeral()
    };
    let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sfu::run(config, listener, async move {
        let _ = stopped.await;
    }));
    (format!("ws://{addr}"), stop)
}

/// Runs the load tester entering at `url` for `room`; its JSON report.
async fn loadtest(url: &str, room: &str) -> Value {
    let report = std::env::temp_dir().join(format!(
        "loadtest-cluster-{}-{room}.json",
        std::process::id()
    ));
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    command
        .args(["--url", url, "--room", room, "--video-publishers", "1"])
        .args([
            "--subscribers",
            "2",
            "--duration",
            "3s",
            "--join-rate",
            "20/s",
        ])
        .arg("--json")
        .arg(&report);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the loadtest binary runs");
    assert!(
        output.status.success(),
        "loadtest: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&report).expect("the report is written");
    let _ = std::fs::remove_file(&report);
    serde_json::from_str(&text).expect("the report is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_through_another_node_reports_the_room_s_node() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _redis = start_redis(port).await;
    let redis_url = format!("redis://127.0.0.1:{port}/0");
    let (a, _stop_a) = start_node(&redis_url, "a").await;
    let (b, _stop_b) = start_node(&redis_url, "b").await;
    tokio::time::sleep(WARM_UP).await;

    // Enter at b until placement puts a room on a (rooms spread, so one of a few does).
    let mut redirected = None;
    for i in 0..4 {
        let json = loadtest(&b, &format!("per-node-{i}")).await;
        let nodes = json["nodes"].as_array().expect("nodes").clone();
        assert_eq!(nodes.len(), 1, "one room, one node: {nodes:?}");
        if nodes[0]["url"] == format!("{a}/rtc").as_str() {
            redirected = Some(nodes[0].clone());
            break;
        }
        assert_eq!(nodes[0]["url"], format!("{b}/rtc").as_str(), "{nodes:?}");
    }
    let node = redirected.expect("placement put one of 4 rooms on the other node");
    assert_eq!(node["participants"], 3, "{node}");
    assert_eq!(node["subscribers"], 2, "{node}");
    // Each subscriber receives the publisher's audio and video.
    assert_eq!(node["tracks_received"], 4, "{node}");
    assert!(node["packets_received"].as_u64() > Some(100), "{node}");
    let out = node["sfu"]["packets_out"]
        .as_f64()
        .expect("a's packets out");
    assert!(out > 100.0, "{node}");
    assert!(node["sfu"]["cpu_seconds"].as_f64() > Some(0.0), "{node}");
}
