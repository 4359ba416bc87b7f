//! A real cluster on 127.0.0.1: one Debian `redis-server` in its own temp dir on a free port,
//! and `sfu` processes (the built binary) on it. Clients join through any node and follow
//! `wrong_node` to the room's owner, as `client.js` does.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use signalling_proto::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::ws::{error_code, http_get, sample, Client};

/// A store that (re)started places no new room for the record TTL (6 s); a little more.
pub const WARM_UP: Duration = Duration::from_millis(6500);

/// How long a process may take to start answering.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 (bound and released; the process that takes it binds it
/// again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A fresh directory under the temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sfu-cluster-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` with no persistence (a restart starts empty, the hardest case for the
/// cluster), killed when dropped.
pub struct Redis {
    pub port: u16,
    /// When it last started: it places no new room for the first 6 s (the record TTL), while
    /// nodes re-claim their rooms.
    pub started: Instant,
    child: Option<Child>,
    dir: TempDir,
}

impl Redis {
    pub async fn start() -> Redis {
        let dir = TempDir::new("redis");
        let mut redis = Redis {
            port: free_port(),
            started: Instant::now(),
            child: None,
            dir,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGKILL: everything it held is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until it places new rooms (its warm-up after a start is over).
    pub async fn warmed_up(&self) {
        let warm = self.started + WARM_UP;
        tokio::time::sleep_until(warm).await;
    }

    /// Starts it (again) on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server; scripts/test installs it)");
        self.child = Some(child);
        let started = Instant::now();
        self.started = started;
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut answer = [0u8; 7];
                if stream.write_all(b"PING\r\n").await.is_ok()
                    && stream.read_exact(&mut answer).await.is_ok()
                    && &answer == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `sfu` process of the cluster, killed when dropped.
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Node {
    /// Starts `sfu` on `redis_url` as `id` with one media shard, waiting until it serves.
    pub async fn start(redis_url: &str, id: &str, extra: &[&str]) -> Node {
        let dir = TempDir::new(id);
        let port = free_port();
        let log = std::fs::File::create(dir.0.join("sfu.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
        for (name, _) in std::env::vars() {
            if name.starts_with("SFU_") {
                command.env_remove(name);
            }
        }
        let child = command
            .env("RUST_LOG", "info")
            .args([
                "--http-port",
                &port.to_string(),
                "--rtc-port",
                "0",
                "--rtc-tcp-port",
                "0",
            ])
            .args(["--shards", "1", "--redis-url", redis_url, "--node-id", id])
            .args(extra)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("the sfu binary runs");
        let node = Node {
            id: id.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(node.addr).await.is_err() {
            assert!(started.elapsed() < START_DEADLINE, "{id} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    /// The node's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("sfu.log")).unwrap_or_default()
    }

    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (status, body) = http_get(self.addr, "/metrics").await;
        assert_eq!(status, 200);
        sample(&body, name)
    }

    pub async fn readyz(&self) -> u16 {
        http_get(self.addr, "/readyz").await.0
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit (at most `within`).
    pub async fn exited(&mut self, within: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `count` nodes `n1..` on `redis` and waits until each sees all of them.
pub async fn start_nodes(redis: &Redis, count: usize, extra: &[&str]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 1..=count {
        nodes.push(Node::start(&redis.url(), &format!("n{i}"), extra).await);
    }
    wait_for_nodes(&nodes, count).await;
    redis.warmed_up().await;
    nodes
}

/// Waits until every node in `nodes` counts `count` live nodes.
pub async fn wait_for_nodes(nodes: &[Node], count: usize) {
    let started = Instant::now();
    for node in nodes {
        while node.metric("sfu_cluster_nodes").await != Some(count as f64) {
            assert!(
                started.elapsed() < START_DEADLINE,
                "{} does not see {count} nodes:\n{}",
                node.id,
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The address of a `ws://127.0.0.1:P/rtc` URL.
pub fn url_addr(url: &str) -> SocketAddr {
    url.strip_prefix("ws://")
        .and_then(|rest| rest.strip_suffix("/rtc"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("not a ws://ip:port/rtc URL: {url}"))
}

/// Joins `room` through the node at `entry`, following `wrong_node` (at most 3 times) like
/// `client.js`. The client, the node it joined at and the number of redirects; the last
/// answer when it did not join.
pub async fn join_via(
    entry: SocketAddr,
    room: &str,
    identity: &str,
) -> Result<(Client, SocketAddr, u32), Value> {
    let mut at = entry;
    let mut redirects = 0;
    loop {
        let mut client = match tokio::time::timeout(Duration::from_secs(2), connect(at)).await {
            Ok(Some(client)) => client,
            _ => return Err(serde_json::json!({"ok": false, "error": {"code": "connect_failed"}})),
        };
        let answer = client.join(room, identity, Role::Host).await;
        if answer["ok"] == true {
            return Ok((client, at, redirects));
        }
        if error_code(&answer) != "wrong_node" || redirects == 3 {
            return Err(answer);
        }
        at = url_addr(
            answer["error"]["details"]["url"]
                .as_str()
                .expect("details.url"),
        );
        redirects += 1;
    }
}

async fn connect(addr: SocketAddr) -> Option<Client> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/rtc"))
        .await
        .ok()?;
    Some(Client {
        ws,
        next_req: 0,
        events: Vec::new(),
        last_seq: 0,
        seq_known: true,
    })
}
