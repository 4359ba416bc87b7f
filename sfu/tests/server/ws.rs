//! The signalling WebSocket `/rtc` over real sockets on 127.0.0.1 (PROTOCOL.md §1-§4): a
//! server in this process (`sfu::bind` + `sfu::run`) and `tokio-tungstenite` clients with
//! development-key tokens. Every wait has a deadline; nothing sleeps for correctness.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::ws::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use sfu::Config;
use signalling_proto::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
#[tokio::test]
async fn two_clients_join_and_see_each_other() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let mut ada = server.client().await;
    let host_id = self_id(&host.join("standup-1", "host", Role::Host).await);
    let joined = ada.join("standup-1", "ada", Role::Visitor).await;
    let ada_id = self_id(&joined);
    let participants = &ok_result(&joined)["room"]["participants"];
    assert!(
        participants
            .as_array()
            .expect("participants list")
            .iter()
            .any(|p| p["id"] == json!(host_id)),
        "the joiner's snapshot lists the host: {participants}"
    );
    let new_client = host.event("new_client").await;
    assert_eq!(new_client["data"]["client"]["id"], json!(ada_id));
    assert!(new_client["seq"].as_u64().is_some_and(|seq| seq >= 1));
    assert!(new_client["ts"]
        .as_str()
        .is_some_and(|ts| ts.ends_with('Z')));
    // More events keep counting up by one (checked in `keep_event`).
    let state = host.call("get_room_state", json!({})).await;
    assert_eq!(
        ok_result(&state)["room"]["participants"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

// A chat message from one participant reaches the other.
#[tokio::test]
async fn chat_message_reaches_the_other_participant() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let mut ada = server.client().await;
    host.join("chat-1", "host", Role::Host).await;
    let ada_id = self_id(&ada.join("chat-1", "ada", Role::Visitor).await);
    let sent = ada
        .call("send_chat_message", json!({"text": "hello there"}))
        .await;
    let message_id = ok_result(&sent)["messageId"].clone();
    let chat = host.event("chat_message").await;
    assert_eq!(chat["data"]["text"], "hello there");
    assert_eq!(chat["data"]["senderId"], json!(ada_id));
    assert_eq!(chat["data"]["id"], message_id);
}

// Host-only commands from a visitor are `forbidden`.
#[tokio::test]
async fn visitor_gets_forbidden_for_host_commands() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let mut ada = server.client().await;
    let host_id = self_id(&host.join("roles-1", "host", Role::Host).await);
    ada.join("roles-1", "ada", Role::Visitor).await;
    let lock = ada.call("set_lock", json!({"locked": true})).await;
    assert_eq!(error_code(&lock), "forbidden");
    let kick = ada
        .call("kick_participant", json!({"participantId": host_id}))
        .await;
    assert_eq!(error_code(&kick), "forbidden");
}

// Locked room: the join is answered `room_locked`, the client knocks on the same socket, the
// host accepts, and the knocker joins with the grant.
#[tokio::test]
async fn locked_room_knock_accept_and_join() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("locked-1", "host", Role::Host).await;
    let locked = host.call("set_lock", json!({"locked": true})).await;
    ok_result(&locked);

    let mut bob = server.client().await;
    let refused = bob.join("locked-1", "bob", Role::Visitor).await;
    assert_eq!(error_code(&refused), "room_locked");
    let knocker_id = refused["error"]["details"]["selfId"].clone();
    assert!(knocker_id.is_string(), "{refused}");

    let knocked = bob.call("knock_room", json!({})).await;
    ok_result(&knocked);
    let room_knocked = host.event("room_knocked").await;
    assert_eq!(room_knocked["data"]["participantId"], knocker_id);

    let accepted = host
        .call(
            "handle_knock",
            json!({"participantId": knocker_id, "action": "accept"}),
        )
        .await;
    ok_result(&accepted);
    let handled = bob.event("knock_handled").await;
    assert!(
        handled.get("seq").is_none(),
        "no seq to a knocker: {handled}"
    );
    assert_eq!(handled["data"]["resolution"], "accepted");
    let grant = handled["data"]["grant"]
        .as_str()
        .expect("a grant")
        .to_owned();

    let joined = bob
        .call(
            "join_room",
            json!({
                "roomName": "locked-1",
                "credential": {"grant": grant},
                "selfId": knocker_id,
                "capabilities": {"breakouts": false, "screenshare": true},
                "media": {"audio": true, "video": true},
            }),
        )
        .await;
    assert_eq!(ok_result(&joined)["selfId"], knocker_id);
    let arrived = host.event("new_client").await;
    assert_eq!(arrived["data"]["client"]["id"], knocker_id);
}

// A kicked participant receives `client_kicked`, then its socket closes with the reason.
#[tokio::test]
async fn kicked_participant_socket_closes_with_reason() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let mut ada = server.client().await;
    host.join("kick-1", "host", Role::Host).await;
    let ada_id = self_id(&ada.join("kick-1", "ada", Role::Visitor).await);
    let kicked = host
        .call("kick_participant", json!({"participantId": ada_id}))
        .await;
    ok_result(&kicked);
    let close = ada.closed().await;
    assert!(
        ada.events.iter().any(|e| e["name"] == "client_kicked"),
        "client_kicked before the close: {:?}",
        ada.events
    );
    assert_eq!(close, Some((4001, "kicked".to_owned())));
    let left = host.event("client_left").await;
    assert_eq!(left["data"]["reason"], "kicked");
}

// Malformed JSON is `invalid_request` with `reqId: null`; the socket keeps serving. An
// unknown command is `unknown_command`.
#[tokio::test]
async fn malformed_and_unknown_frames_are_answered_and_the_socket_stays_open() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client.send_text("{not json".to_owned()).await;
    let answer = client.anonymous_response().await;
    assert_eq!(error_code(&answer), "invalid_request");
    assert_eq!(answer["reqId"], Value::Null);

    let unknown = client.call("fly_to_the_moon", json!({})).await;
    assert_eq!(error_code(&unknown), "unknown_command");

    client
        .ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("binary sent");
    let binary = client.anonymous_response().await;
    assert_eq!(error_code(&binary), "invalid_request");

    // Still open: a join works on the same socket.
    let joined = client.join("open-1", "ada", Role::Visitor).await;
    ok_result(&joined);
}

// Before admission, anything but join_room / resume is `not_connected`.
#[tokio::test]
async fn command_before_join_is_not_connected() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let early = client
        .call("send_chat_message", json!({"text": "hi"}))
        .await;
    assert_eq!(error_code(&early), "not_connected");
    let knock = client.call("knock_room", json!({})).await;
    assert_eq!(error_code(&knock), "not_connected");
}

// A frame over 64 KiB closes the connection with 1009.
#[tokio::test]
async fn oversize_frame_closes_with_1009() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let text = "x".repeat(70 * 1024);
    let frame = json!({"type": "command", "name": "send_chat_message", "reqId": "1",
        "args": {"text": text}});
    // The server may close before the whole frame is written; that is the point.
    let _ = client.ws.send(Message::text(frame.to_string())).await;
    let close = client.closed().await;
    assert_eq!(close.map(|(code, _)| code), Some(1009));
}

// A token that is not signed with the server's key, or is for another room, is
// `invalid_credential`; the socket stays usable.
#[tokio::test]
async fn invalid_token_is_invalid_credential() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let forged = client
        .call("join_room", join_args("cred-1", "not.a.token"))
        .await;
    assert_eq!(error_code(&forged), "invalid_credential");
    let other_room = client
        .call(
            "join_room",
            join_args("cred-1", &token("cred-2", "ada", Role::Visitor)),
        )
        .await;
    assert_eq!(error_code(&other_room), "invalid_credential");
    let joined = client.join("cred-1", "ada", Role::Visitor).await;
    ok_result(&joined);
}

// Shutdown closes open signalling sockets with 1001 (going away) and `run` returns.
#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    ok_result(&client.join("bye-1", "ada", Role::Visitor).await);
    let _ = server.stop.take().expect("running").send(());
    let close = client.closed().await;
    assert_eq!(close.map(|(code, _)| code), Some(1001));
    tokio::time::timeout(DEADLINE, &mut server.task)
        .await
        .expect("run returns")
        .expect("no panic")
        .expect("no I/O error");
}

// A drain answers /readyz with 503, refuses new rooms with `server_draining` while the meeting
// in progress goes on (and still admits joins to it), and ends as soon as the last room empties
// rather than at the grace deadline.
#[tokio::test]
async fn drain_refuses_newcomers_and_ends_when_rooms_empty() {
    let mut config = sfu::Config::ephemeral();
    config.drain_grace = Duration::from_secs(30);
    let mut server = TestServer::start_with(config).await;
    let mut ada = server.client().await;
    ok_result(&ada.join("drain-1", "ada", Role::Host).await);
    let _ = server.stop.take().expect("running").send(());

    // Load balancers see the drain; the process is still alive.
    assert_eq!(http_get(server.addr, "/readyz").await.0, 503);
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    let mut late = server.client().await;
    let refused = late.join("drain-2", "bob", Role::Visitor).await;
    assert_eq!(error_code(&refused), "server_draining");
    let mut bob = server.client().await;
    ok_result(&bob.join("drain-1", "bob", Role::Visitor).await);
    ok_result(&bob.call("leave_room", json!({})).await);
    let chat = ada
        .call("send_chat_message", json!({"text": "still in the meeting"}))
        .await;
    ok_result(&chat);

    let left = ada.call("leave_room", json!({})).await;
    ok_result(&left);
    let started = tokio::time::Instant::now();
    tokio::time::timeout(DEADLINE, &mut server.task)
        .await
        .expect("run returns once the room is empty, long before the 30 s grace")
        .expect("no panic")
        .expect("no I/O error");
    assert!(started.elapsed() < Duration::from_secs(5));
    let close = late.closed().await;
    assert_eq!(close.map(|(code, _)| code), Some(1001));
}

// After the transport drops, `resume` on a new socket finds the room by the resume token; with
// no replay buffer the server answers `replayed: false` and sends a `room_state` snapshot that
// takes the next `seq` (spec §6.3, §7.2).
#[tokio::test]
async fn resume_on_a_new_socket_gets_a_room_state_snapshot() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("resume-1", "host", Role::Host).await;
    let mut ada = server.client().await;
    let joined = ada.join("resume-1", "ada", Role::Visitor).await;
    let ada_id = self_id(&joined);
    let resume_token = ok_result(&joined)["resumeToken"].clone();
    ada.event("subscriptions_changed").await;
    let seen = ada.last_seq;
    drop(ada);
    let lost = host.event("participant_connection_changed").await;
    assert_eq!(lost["data"]["connection"], "reconnecting");

    let mut again = server.client().await;
    again.seq_known = false;
    let resumed = again
        .call(
            "resume",
            json!({"resumeToken": resume_token, "lastSeq": seen}),
        )
        .await;
    assert_eq!(ok_result(&resumed)["selfId"], json!(ada_id));
    assert_eq!(ok_result(&resumed)["replayed"], false);
    let snapshot = again.event("room_state").await;
    assert_eq!(snapshot["data"]["selfId"], json!(ada_id));
    assert!(
        snapshot["seq"].as_u64().is_some_and(|seq| seq > seen),
        "the snapshot continues the participant's seq: {snapshot}"
    );
    let back = host.event("participant_connection_changed").await;
    assert_eq!(back["data"]["connection"], "connected");

    // An unknown token is `resume_failed`.
    let mut stranger = server.client().await;
    let failed = stranger
        .call("resume", json!({"resumeToken": "nope", "lastSeq": 0}))
        .await;
    assert_eq!(error_code(&failed), "resume_failed");
}

// The registry creates a room actor on the first join and forgets it once the room session has
// ended and no socket is bound to it (spec §3, §5.2).
#[tokio::test]
async fn registry_forgets_a_room_after_its_session_ends() {
    use sfu::control::{ConnectionId, VerifiedClaims};
    use sfu::room::{ConnectionLink, Outgoing, RoomRegistry};
    use signalling_proto::{Command, JoinRoomArgs, ReqId};
    use std::sync::Arc;
    use tokio::sync::{mpsc, Notify};

    let registry = RoomRegistry::default();
    let room = registry.get_or_create("solo-1");
    assert_eq!(registry.room_count(), 1);
    let (outgoing, mut queue) = mpsc::channel(64);
    let link = ConnectionLink {
        id: ConnectionId(1),
        outgoing,
        overflowed: Arc::new(Notify::new()),
    };
    let args: JoinRoomArgs = serde_json::from_value(json!({
        "roomName": "solo-1",
        "capabilities": {"breakouts": false, "screenshare": false},
        "media": {"audio": false, "video": false},
    }))
    .expect("join args");
    let claims = VerifiedClaims {
        room: "solo-1".to_owned(),
        identity_key: "ada".to_owned(),
        role: Role::Visitor,
        name: Some("Ada".to_owned()),
        external_id: None,
    };
    let joined = room
        .join(link.clone(), ReqId("1".to_owned()), args, claims)
        .await
        .expect("room running");
    assert!(joined.bound);
    let left = room
        .command(
            link,
            ReqId("2".to_owned()),
            Command::LeaveRoom(Default::default()),
        )
        .await
        .expect("room running");
    assert!(!left.bound);
    // The leaver's frames end with the room's close (1000, left).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, queue.recv()).await {
            Ok(Some(Outgoing::Close { code, .. })) => {
                assert_eq!(code, 1000);
                break;
            }
            Ok(Some(Outgoing::Text(_) | Outgoing::Event { .. })) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
    while registry.room_count() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the empty room is forgotten"
        );
        tokio::task::yield_now().await;
    }
}

// A connection whose bounded outgoing queue is full is disconnected (its session is told
// through `overflowed`), never left with silently dropped frames.
#[tokio::test]
async fn full_outgoing_queue_disconnects_the_client() {
    use sfu::control::{ConnectionId, VerifiedClaims};
    use sfu::room::{ConnectionLink, RoomRegistry};
    use signalling_proto::{Command, JoinRoomArgs, ReqId, SendChatMessageArgs};
    use std::sync::Arc;
    use tokio::sync::{mpsc, Notify};

    let registry = RoomRegistry::default();
    let room = registry.get_or_create("slow-1");
    let join = |identity: &str, id: u64, capacity: usize| {
        let (outgoing, queue) = mpsc::channel(capacity);
        let link = ConnectionLink {
            id: ConnectionId(id),
            outgoing,
            overflowed: Arc::new(Notify::new()),
        };
        let args: JoinRoomArgs = serde_json::from_value(json!({
            "roomName": "slow-1",
            "capabilities": {"breakouts": false, "screenshare": false},
            "media": {"audio": false, "video": false},
        }))
        .expect("join args");
        let claims = VerifiedClaims {
            room: "slow-1".to_owned(),
            identity_key: identity.to_owned(),
            role: Role::Visitor,
            name: Some(identity.to_owned()),
            external_id: None,
        };
        (link, queue, args, claims)
    };
    // The slow client never reads and has room for two frames.
    let (slow, _slow_queue, args, claims) = join("slow", 1, 2);
    let joined = room
        .join(slow.clone(), ReqId("1".to_owned()), args, claims)
        .await
        .expect("room running");
    assert!(joined.bound);
    let (fast, mut fast_queue, args, claims) = join("fast", 2, 1024);
    room.join(fast.clone(), ReqId("1".to_owned()), args, claims)
        .await
        .expect("room running");
    let overflowed = slow.overflowed.notified();
    tokio::pin!(overflowed);
    for n in 0..4 {
        let args: SendChatMessageArgs =
            serde_json::from_value(json!({"text": format!("message {n}")})).expect("chat args");
        room.command(
            fast.clone(),
            ReqId(format!("c{n}")),
            Command::SendChatMessage(args),
        )
        .await
        .expect("room running");
    }
    tokio::time::timeout(DEADLINE, overflowed)
        .await
        .expect("the slow client is told to disconnect");
    // The fast client is unaffected.
    assert!(fast_queue.try_recv().is_ok());
}

// WebSocket protocol errors end with the close code RFC 6455 §7.4.1 names (1002 protocol
// error, 1007 invalid payload data), not a bare TCP close; a valid close is answered with
// its echo (RFC 6455 §5.5.1).
#[tokio::test]
async fn protocol_errors_close_with_1002_or_1007() {
    let server = TestServer::start().await;
    let cases: [(&str, Vec<u8>, u16); 8] = [
        ("unmasked frame", vec![0x81, 0x02, b'h', b'i'], 1002),
        ("reserved bit RSV1", masked_frame(0xc1, b"hi"), 1002),
        (
            "invalid UTF-8 text",
            masked_frame(0x81, &[0xc3, 0x28]),
            1007,
        ),
        (
            "close code 999",
            masked_frame(0x88, &999u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 1005",
            masked_frame(0x88, &1005u16.to_be_bytes()),
            1002,
        ),
        ("one-byte close payload", masked_frame(0x88, &[0x03]), 1002),
        (
            "invalid UTF-8 close reason",
            masked_frame(0x88, &[0x03, 0xe8, 0xff]),
            1007,
        ),
        (
            "normal close",
            masked_frame(0x88, &1000u16.to_be_bytes()),
            1000,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut stream = raw_upgrade(server.addr).await;
        stream.write_all(&bytes).await.expect("frame sent");
        let close = raw_close(&mut stream).await;
        assert_eq!(close.as_ref().map(|c| c.0), Some(code), "{what}: {close:?}");
    }
}

/// A spawned `sfu` binary, killed when dropped (also when the test fails).
struct SpawnedServer {
    child: Child,
    addr: SocketAddr,
}

impl SpawnedServer {
    /// `sfu --http-port 0 --rtc-port 0 --rtc-tcp-port 0 --shards 1 --log-format json` plus
    /// `args`, with no `SFU_*` variable of this environment.
    fn start(args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
        for (name, _) in std::env::vars() {
            if name.starts_with("SFU_") {
                command.env_remove(name);
            }
        }
        let child = command
            .env_remove("RUST_LOG")
            .args(["--http-port", "0", "--rtc-port", "0", "--rtc-tcp-port", "0"])
            .args(["--shards", "1"])
            .args(["--log-format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sfu starts");
        let mut server = SpawnedServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        server.addr = loop {
            let line = lines
                .next()
                .expect("the server logs its address")
                .expect("log line");
            let json: Value = serde_json::from_str(&line).expect("JSON log lines");
            if json["fields"]["message"] == "HTTP listener bound" {
                break json["fields"]["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("socket address");
            }
        };
        // Keep reading the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        server
    }

    /// The server's resident memory in bytes (`VmRSS` of /proc/PID/status).
    fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line");
        kib * 1024
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // Already gone is fine: the test is over either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `n` WebSockets that never join; each has answered a ping, so its session has read
/// from the socket (and allocated what reading takes).
async fn idle_sockets(addr: SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = raw_upgrade(addr).await;
        stream
            .write_all(&masked_frame(0x89, b"ping"))
            .await
            .expect("ping sent");
        let mut pong = [0u8; 6];
        tokio::time::timeout(DEADLINE, stream.read_exact(&mut pong))
            .await
            .expect("pong in time")
            .expect("pong");
        assert_eq!(pong, [0x8a, 4, b'p', b'i', b'n', b'g']);
        sockets.push(stream);
    }
    sockets
}

// An idle WebSocket that never sends `join_room` costs the server less than 16 kB: the
// resident memory of a spawned server grows by less than 16 kB per socket over 400 of them
// (after 50 to warm the allocator up).
#[test]
fn idle_unjoined_sockets_cost_under_16_kb_each() {
    const SOCKETS: u64 = 400;
    // The deadline and the limit out of the way of the measurement.
    let server = SpawnedServer::start(&["--join-deadline", "10m", "--max-unjoined-per-ip", "1000"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let _warm = idle_sockets(server.addr, 50).await;
        let before = server.resident_bytes();
        let _idle = idle_sockets(server.addr, SOCKETS as usize).await;
        let after = server.resident_bytes();
        let per_socket = after.saturating_sub(before) / SOCKETS;
        eprintln!("resident memory {before} -> {after} bytes: {per_socket} bytes per idle socket");
        assert!(
            per_socket < 16 * 1024,
            "an idle unjoined socket costs {per_socket} bytes ({before} -> {after} for {SOCKETS})"
        );
    });
}

// A socket that has not joined a room by the join deadline is closed with 1008 and a reason,
// and counted; one that joined in time is not.
#[tokio::test]
async fn unjoined_socket_is_closed_at_the_join_deadline() {
    let config = Config {
        join_deadline: Duration::from_millis(300),
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let mut joined = server.client().await;
    ok_result(&joined.join("deadline-1", "alice", Role::Host).await);
    // Opened after `joined`, so its deadline passes after `joined`'s would have.
    let mut idle = server.client().await;
    assert_eq!(
        idle.closed().await,
        Some((1008, "no join_room within the join deadline".to_owned()))
    );
    let chat = json!({"text": "still here"});
    ok_result(&joined.call("send_chat_message", chat).await);
    let (_, exposition) = http_get(server.addr, "/metrics").await;
    let closed = r#"sfu_signalling_unjoined_closed_total{reason="join_deadline"}"#;
    assert_eq!(sample(&exposition, closed), Some(1.0), "{exposition}");
}

// An address holds at most `--max-unjoined-per-ip` sockets that have not joined: one more is
// refused with 429 (and counted); a socket that joins gives its place back.
#[tokio::test]
async fn unjoined_sockets_per_address_are_limited() {
    let config = Config {
        max_unjoined_per_ip: std::num::NonZeroU32::new(2).expect("2 > 0"),
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let url = format!("ws://{}/rtc", server.addr);
    let mut first = server.client().await;
    let _second = server.client().await;
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third unjoined socket is refused with 429: {other:?}"),
    }
    ok_result(&first.join("limit-1", "alice", Role::Host).await);
    let mut third = server.client().await;
    ok_result(&third.join("limit-1", "bob", Role::Visitor).await);
    let (_, exposition) = http_get(server.addr, "/metrics").await;
    let refused = r#"sfu_signalling_unjoined_closed_total{reason="address_limit"}"#;
    assert_eq!(sample(&exposition, refused), Some(1.0), "{exposition}");
}
