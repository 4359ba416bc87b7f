//! The admin CLI (`sfu room|participant|breakout ...`, issue 18) run as the real binary
//! against a server in this process with real WebSocket participants: tables by default,
//! the server's JSON with `--json`, exit 1 with the protocol's error code when refused.

use std::net::SocketAddr;
use std::process::Command;

use crate::support::ws::*;
use serde_json::{json, Value};
use signalling_proto::Role;

/// The `sfu` binary with no `SFU_*` variable of the environment it runs in.
fn sfu_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SFU_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

/// Runs `sfu ARGS --url http://ADDR` (`sfu token ...` without `--url`); exit code, stdout,
/// stderr.
async fn sfu(addr: SocketAddr, args: &[&str]) -> (i32, String, String) {
    let mut command = sfu_command();
    command.args(args);
    if args[0] != "token" {
        command.args(["--url", &format!("http://{addr}")]);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the sfu binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `sfu ARGS` that must succeed; its stdout.
async fn ok(addr: SocketAddr, args: &[&str]) -> String {
    let (code, out, err) = sfu(addr, args).await;
    assert_eq!(code, 0, "sfu {args:?}: {out} {err}");
    out
}

// `--url https://...` with `--ca`: the CLI checks the server's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_https_to_a_tls_server() {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("a certificate");
    let dir = std::env::temp_dir().join(format!("sfu-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).expect("cert written");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("key written");
    let server = TestServer::start_with(sfu::Config {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        ..sfu::Config::ephemeral()
    })
    .await;
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let run = |args: Vec<String>| async move {
        let mut command = sfu_command();
        command.args(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("joined")
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let args = |extra: &[&str]| -> Vec<String> {
        ["room", "create", "tls-room", "--url", url.as_str()]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let (code, out, err) = run(args(&["--ca", cert.to_str().expect("UTF-8 path")])).await;
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("tls-room"), "{out}");
    // Without the CA the handshake fails: exit 2, nothing created twice.
    let (code, _, err) = run(args(&[])).await;
    assert_eq!(code, Some(2), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_a_meeting_with_breakouts() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let created = ok(
        addr,
        &["room", "create", "cli-room", "--max-participants", "3"],
    )
    .await;
    assert!(created.starts_with("NAME"), "a table: {created}");
    assert!(created.contains("cli-room"), "{created}");

    let mut ada = server.client().await;
    let mut args = join_args("cli-room", &token("cli-room", "ada", Role::Visitor));
    args["capabilities"]["breakouts"] = json!(true);
    let ada_id = self_id(&ada.call("join_room", args).await);

    let listed = ok(addr, &["room", "list"]).await;
    let row = listed
        .lines()
        .find(|l| l.starts_with("cli-room"))
        .unwrap_or_else(|| panic!("no cli-room row in {listed}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], "1", "one participant: {row}");

    let people: Value =
        serde_json::from_str(&ok(addr, &["participant", "list", "cli-room", "--json"]).await)
            .expect("--json prints JSON");
    assert_eq!(people["participants"][0]["id"], ada_id.as_str());
    let table = ok(addr, &["participant", "list", "cli-room"]).await;
    assert!(
        table.contains(&ada_id) && table.contains("visitor"),
        "{table}"
    );

    ok(addr, &["participant", "mute", "cli-room", &ada_id]).await;
    let requested = ada.event("audio_enable_requested").await;
    assert_eq!(requested["data"]["enable"], false);

    let started = ok(
        addr,
        &[
            "breakout",
            "start",
            "cli-room",
            "--sessions",
            "2",
            "--auto-assign",
        ],
    )
    .await;
    assert!(started.starts_with("started run"), "{started}");
    let status: Value =
        serde_json::from_str(&ok(addr, &["breakout", "status", "cli-room", "--json"]).await)
            .expect("JSON");
    assert_eq!(status["breakout"]["state"], "started", "{status}");
    let assigned = status["breakout"]["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["assignedIds"].as_array().is_some_and(|a| !a.is_empty()))
        .expect("ada is assigned to a session");
    let session = assigned["id"].as_str().expect("id").to_owned();
    let table = ok(addr, &["breakout", "status", "cli-room"]).await;
    assert!(table.starts_with("state started"), "{table}");

    ok(
        addr,
        &["breakout", "move", "cli-room", "--to", &session, &ada_id],
    )
    .await;
    loop {
        let moved = ada.event("breakout_location_changed").await;
        if moved["data"]["to"] == session.as_str() {
            break;
        }
    }
    let ended = ok(addr, &["breakout", "end", "cli-room", "--now"]).await;
    assert_eq!(ended, "ended\n");

    // Refused: exit 1 with the protocol's code on stderr.
    let (code, _, err) = sfu(addr, &["participant", "remove", "cli-room", "p99"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("participant_not_found"), "{err}");
    let other_secret = "another-secret-0123456789abcdef0123456789";
    let (code, _, err) = sfu(addr, &["room", "list", "--api-secret", other_secret]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("401") && err.contains("invalid_credential"),
        "{err}"
    );

    // `sfu token admin` prints a token a plain HTTP client can use; scoped to another room,
    // it is refused here.
    let (code, token, _) = sfu(addr, &["token", "admin", "--ttl", "1m"]).await;
    assert_eq!(code, 0);
    let api = crate::support::api::Api {
        addr,
        token: token.trim().to_owned(),
    };
    let (status, room) = api.get("/rooms/cli-room").await;
    assert_eq!(status, 200, "{room}");
    let (_, scoped, _) = sfu(addr, &["token", "admin", "--room", "other"]).await;
    let (status, _) = api
        .raw(
            hyper::Method::GET,
            "/rooms/cli-room",
            Some(&format!("Bearer {}", scoped.trim())),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (code, _, err) = sfu(addr, &["token", "admin", "--ttl", "2d"]).await;
    assert_eq!(code, 2, "{err}");

    ok(
        addr,
        &[
            "participant",
            "remove",
            "cli-room",
            &ada_id,
            "--reason",
            "done",
        ],
    )
    .await;
    assert_eq!(ada.closed().await.map(|c| c.0), Some(4001));
    ok(addr, &["room", "end", "cli-room"]).await;
    let (code, _, err) = sfu(addr, &["room", "end", "cli-room"]).await;
    assert_eq!(code, 1, "an ended, empty room is gone");
    assert!(err.contains("room_not_found"), "{err}");
}
