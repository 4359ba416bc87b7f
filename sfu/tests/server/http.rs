//! The server shell over real HTTP on 127.0.0.1: health and readiness, draining, the
//! development token endpoint, join tokens, and the `sfu` binary's command line.
//!
//! Servers run in-process on ephemeral ports (`sfu::bind` + `sfu::run`, mini-redis style), so
//! these tests run in parallel. Waiting is `eventually` polling, never a fixed sleep.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sfu::token::{Claims, TokenError, TokenKey, DEVELOPMENT_SECRET};
use sfu::Config;
use signalling_proto::{Role, Secret};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// A server running in this process until `stop` is sent (or dropped).
struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(config: Config) -> Self {
        let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
        assert_ne!(addr.port(), 0, "bind reports the port it got");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sfu::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn begin_shutdown(&mut self) {
        let _ = self.stop.take().expect("shutdown begins once").send(());
    }

    async fn get(&self, path_and_query: &str) -> (u16, String) {
        get(self.addr, path_and_query).await
    }

    async fn get_json(&self, path_and_query: &str) -> (u16, Value) {
        let (status, body) = self.get(path_and_query).await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("{path_and_query}: body {body:?} is not JSON: {error}"));
        (status, json)
    }
}

async fn get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path_and_query}")
        .parse()
        .expect("a valid URI");
    let response = client.get(uri).await.expect("GET answered");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body read")
        .to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    )
}

fn configured() -> Config {
    Config {
        api_secret: Some(Secret::from(SECRET)),
        ..Config::ephemeral()
    }
}

fn configured_key() -> TokenKey {
    TokenKey::new(&Secret::from(SECRET), None)
}

fn unix_now() -> u64 {
    sfu::clock::system_now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// /healthz and /readyz both answer 200 while the server serves.
#[tokio::test]
async fn healthz_and_readyz_answer_ok_while_serving() {
    let server = TestServer::start(Config::ephemeral()).await;
    assert_eq!(server.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(server.get("/readyz").await.0, 200);
}

// A scrape of the running server's /metrics is lint-clean for promtool and carries the
// process and forwarding metrics.
#[tokio::test]
async fn metrics_scrape_passes_promtool() {
    let server = TestServer::start(Config::ephemeral()).await;
    // The counter has the kernel's tick resolution (10 ms): a test process that has not yet
    // used a whole tick reads 0 however well the counter is fed, so use one first.
    for _ in 0..1_000_000 {
        if cpu_ticks_of_this_process() > 0 {
            break;
        }
        std::hint::black_box((0..10_000u64).sum::<u64>());
    }
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("sfu_packets_out_total"), "{text}");
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    // The load tester's CPU figure: the process's CPU time at tick resolution.
    let cpu = text
        .lines()
        .find_map(|l| l.strip_prefix("sfu_process_cpu_seconds_total "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(cpu.is_some_and(|c| c > 0.0), "{text}");
    if let Err(complaint) = sfu::metrics::promtool_check(&text) {
        panic!("promtool: {complaint}");
    }
}

/// utime + stime of this process in clock ticks (proc(5), fields 14 and 15 of /proc/self/stat;
/// the fields after the command name, which may itself hold spaces, counted from its ")").
fn cpu_ticks_of_this_process() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat is readable");
    let after_comm = &stat[stat
        .rfind(')')
        .expect("stat has the command in parentheses")
        + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After ")" the first field is the state (field 3), so utime (14) is index 11.
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

// With no drain grace, `run` returns Ok soon after the shutdown future resolves, and the port
// stops answering.
#[tokio::test]
async fn run_returns_after_shutdown() {
    let mut server = TestServer::start(Config::ephemeral()).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    server.begin_shutdown();
    let result = tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("run returns within 5 s")
        .expect("run did not panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

// Development mode: /dev/token signs the requested room, identity, role and name with the
// development secret, expiring in about 6 h.
#[tokio::test]
async fn dev_token_returns_a_token_for_the_request() {
    let server = TestServer::start(Config::ephemeral()).await;
    let (status, json) = server
        .get_json("/dev/token?room=team-1&identity=alice&role=host&name=Alice%20A")
        .await;
    assert_eq!(status, 200, "{json}");
    let token = json["token"].as_str().expect("a token string");
    let claims = TokenKey::development()
        .verify(token, "team-1", sfu::clock::system_now())
        .expect("verifies with the development secret");
    assert_eq!(claims.room, "team-1");
    assert_eq!(claims.identity, "alice");
    assert_eq!(claims.role, Role::Host);
    assert_eq!(claims.name.as_deref(), Some("Alice A"));
    let ttl = claims.exp.expect("dev tokens expire") - unix_now();
    assert!((6 * 3600 - 60..=6 * 3600).contains(&ttl), "ttl {ttl}");

    // The role defaults to visitor; the secret really is the published development one.
    let (_, json) = server.get_json("/dev/token?room=r&identity=bob").await;
    let token = json["token"].as_str().unwrap();
    let dev = TokenKey::new(&Secret::from(DEVELOPMENT_SECRET), None);
    let claims = dev.verify(token, "r", sfu::clock::system_now()).unwrap();
    assert_eq!(claims.role, Role::Visitor);
    assert_eq!(claims.name, None);
}

// A bad room name, an unknown or granted_* role, or a missing identity get 400 with a JSON
// error naming the parameter.
#[tokio::test]
async fn dev_token_rejects_bad_requests_with_json_errors() {
    let server = TestServer::start(Config::ephemeral()).await;
    for (query, field) in [
        ("room=Team%20One&identity=a&role=host", "room"),
        ("room=&identity=a", "room"),
        (&format!("room={}&identity=a", "x".repeat(65)), "room"),
        ("room=r&identity=a&role=admin", "role"),
        ("room=r&identity=a&role=granted_visitor", "role"),
        ("room=r&role=host", "identity"),
        ("identity=a", "room"),
    ] {
        let (status, json) = server.get_json(&format!("/dev/token?{query}")).await;
        assert_eq!(status, 400, "{query}: {json}");
        assert_eq!(json["error"], "invalid_argument", "{query}: {json}");
        assert_eq!(json["field"], field, "{query}: {json}");
        assert!(
            json["message"].as_str().unwrap().starts_with(field),
            "{json}"
        );
    }
}

// With an API secret configured the development endpoint does not exist.
#[tokio::test]
async fn dev_token_is_404_when_a_secret_is_configured() {
    let server = TestServer::start(configured()).await;
    assert_eq!(
        server.get("/dev/token?room=r&identity=a&role=host").await.0,
        404
    );
    assert_eq!(server.get("/healthz").await.0, 200);
}

// A token created with the configured secret verifies and carries every claim; an expired one,
// one for another room, one signed with another secret and garbage are refused.
#[test]
fn token_create_verify_and_rejections() {
    let key = configured_key();
    let now = sfu::clock::system_now();
    let claims = Claims::new("team-1", "carol", Role::Viewer)
        .with_name("Carol")
        .with_external_id("crm-7")
        .expiring_after(Duration::from_secs(3600), now);
    let token = key.sign(&claims).unwrap();
    assert_eq!(key.verify(&token, "team-1", now), Ok(claims.clone()));

    assert_eq!(
        key.verify(&token, "team-2", now),
        Err(TokenError::WrongRoom)
    );

    let expired = Claims::new("team-1", "carol", Role::Viewer)
        .expiring_after(Duration::ZERO, now - Duration::from_secs(3600));
    let expired = key.sign(&expired).unwrap();
    assert_eq!(
        key.verify(&expired, "team-1", now),
        Err(TokenError::Expired)
    );

    let foreign = TokenKey::development().sign(&claims).unwrap();
    assert_eq!(
        key.verify(&foreign, "team-1", now),
        Err(TokenError::BadSignature)
    );
    // Our header and signature around another payload.
    let other = Claims::new("team-1", "carol", Role::Host);
    let other_payload = key
        .sign(&other)
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let mut tampered: Vec<&str> = token.split('.').collect();
    tampered[1] = &other_payload;
    assert_eq!(
        key.verify(&tampered.join("."), "team-1", now),
        Err(TokenError::BadSignature)
    );

    assert_eq!(
        key.verify("abc.def", "team-1", now),
        Err(TokenError::Malformed)
    );
}

/// The built binary with no `SFU_*` variables from the test's environment.
fn sfu_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SFU_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

// `sfu token create` prints a token signed with the configured secret, carrying the arguments.
#[test]
fn cli_token_create_prints_a_verifiable_token() {
    let output = sfu_command()
        .args(["token", "create", "--room", "team-1", "--identity", "dave"])
        .args([
            "--role",
            "streamer",
            "--name",
            "Dave",
            "--external-id",
            "x-1",
        ])
        .args(["--ttl", "2h"])
        .env("SFU_API_SECRET", SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "no warning with a secret: {stderr}");
    let token = String::from_utf8(output.stdout).unwrap();
    let claims = configured_key()
        .verify(token.trim(), "team-1", sfu::clock::system_now())
        .expect("verifies with the configured secret");
    assert_eq!(
        (
            claims.identity.as_str(),
            claims.role,
            claims.name.as_deref()
        ),
        ("dave", Role::Streamer, Some("Dave"))
    );
    assert_eq!(claims.external_id.as_deref(), Some("x-1"));
    let ttl = claims.exp.unwrap() - unix_now();
    assert!((7200 - 60..=7200).contains(&ttl), "ttl {ttl}");
}

// Without a secret, `sfu token create` warns on stderr and signs with the development secret.
#[test]
fn cli_token_create_without_secret_uses_the_development_secret() {
    let output = sfu_command()
        .args([
            "token",
            "create",
            "--room",
            "r",
            "--identity",
            "e",
            "--role",
            "host",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("development secret"), "{stderr}");
    let token = String::from_utf8(output.stdout).unwrap();
    let claims = TokenKey::development()
        .verify(token.trim(), "r", sfu::clock::system_now())
        .unwrap();
    assert_eq!(claims.role, Role::Host);
}

/// Runs the binary with `args` and the variable `env`, expecting failure with `flag` in stderr.
fn assert_start_fails_naming(args: &[&str], env: Option<(&str, &str)>, flag: &str) {
    let mut command = sfu_command();
    command.args(args);
    if let Some((name, value)) = env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} {env:?} succeeded");
    assert!(stderr.contains(flag), "{args:?} {env:?}: {stderr}");
}

// Invalid values fail at start, naming the flag: from the command line and from SFU_* variables.
#[test]
fn cli_invalid_values_name_the_flag() {
    assert_start_fails_naming(&["--http-port", "notanumber"], None, "--http-port");
    let env = Some(("SFU_HTTP_PORT", "notanumber"));
    assert_start_fails_naming(&[], env, "--http-port");
    assert_start_fails_naming(&["--public-ip", "nowhere"], None, "--public-ip");
    assert_start_fails_naming(&["--shards", "0"], None, "--shards");
    assert_start_fails_naming(&["--log-format", "xml"], None, "--log-format");
    assert_start_fails_naming(&["--api-secret", "short"], None, "--api-secret");
    let bad_room = ["token", "create", "--room", "Bad Room", "--identity", "a"];
    assert_start_fails_naming(
        &[&bad_room[..], &["--role", "host"]].concat(),
        None,
        "--room",
    );
    let bad_role = ["token", "create", "--room", "r", "--identity", "a"];
    assert_start_fails_naming(
        &[&bad_role[..], &["--role", "admin"]].concat(),
        None,
        "--role",
    );
}

// The binary serves on the port it logs, and SIGTERM shuts it down cleanly (exit 0).
#[cfg(unix)]
#[test]
fn binary_serves_and_stops_on_sigterm() {
    let mut child = sfu_command()
        // Ephemeral ports throughout: the defaults may be taken by another server on the host.
        .args(["--http-port", "0", "--rtc-port", "0", "--rtc-tcp-port", "0"])
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut saw_dev_warning = false;
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("the server logs its address before exiting")
            .unwrap();
        let json: Value = serde_json::from_str(&line).expect("JSON log lines");
        let message = json["fields"]["message"].as_str().unwrap_or_default();
        saw_dev_warning |= message.contains("DEVELOPMENT MODE") && json["level"] == "WARN";
        if message == "HTTP listener bound" {
            break json["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The development-mode warning comes when serving starts, right after the bind.
    for line in lines.by_ref() {
        let line = line.unwrap();
        saw_dev_warning |= line.contains("DEVELOPMENT MODE");
        if line.contains("\"serving\"") {
            break;
        }
    }
    assert!(saw_dev_warning, "development mode is logged loudly");
    assert_eq!(runtime.block_on(get(addr, "/healthz")).0, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = sfu::clock::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|line| line.contains("server stopped")),
        "{rest:?}"
    );
}
