//! Webhooks (issue 18) against real HTTP receivers on 127.0.0.1: a scripted meeting yields
//! exactly its events, in `seq` order per room, each signed with HMAC-SHA256 over
//! `"<t>.<body>"`; the receiver answers the first two attempts with 500 and gets the same
//! event again (same id); a second endpoint that accepts connections and never answers fills
//! its own bounded queue (drops counted) and never slows the meeting. The removal in the
//! meeting comes through the server API, whose reason reaches the `participant_left` event.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::peer::Publisher;
use crate::support::ws::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use sfu::webhook::{verify, SIGNATURE_HEADER};
use sfu::Config;
use signalling_proto::Role;
use tokio::net::TcpListener;

const KEY: &str = "webhook-test-key-0123456789";

/// What the receiver got: every attempt, and whether it answered 2xx.
#[derive(Default)]
struct Received {
    attempts: Vec<(Value, bool, Option<u64>)>,
    /// Attempts still to answer with 500.
    fail_next: usize,
}

async fn receive(
    State(state): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed_at = verify(KEY.as_bytes(), signature, &body);
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    let fail = state.fail_next > 0;
    if fail {
        state.fail_next -= 1;
    }
    assert_eq!(
        headers.get("sfu-event-id").and_then(|v| v.to_str().ok()),
        value["id"].as_str(),
        "the id header is the body's id"
    );
    state.attempts.push((value, !fail, signed_at));
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A receiver on 127.0.0.1:0 that fails its first `fail_first` attempts.
async fn receiver(fail_first: usize) -> (SocketAddr, Arc<Mutex<Received>>) {
    let state = Arc::new(Mutex::new(Received {
        fail_next: fail_first,
        ..Received::default()
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&state));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, state)
}

/// A listener that accepts connections and never answers.
async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// Calls `name` and checks it succeeded within a second (never waiting for a webhook).
async fn quick(client: &mut Client, name: &str, args: Value) -> Value {
    let started = sfu::clock::now();
    let response = client.call(name, args).await;
    let took = sfu::clock::now() - started;
    assert!(took < Duration::from_secs(1), "{name} took {took:?}");
    ok_result(&response).clone()
}

fn capable(room: &str, identity: &str, role: Role) -> Value {
    let mut args = join_args(room, &token(room, identity, role));
    args["capabilities"]["breakouts"] = json!(true);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_meeting_is_delivered_signed_ordered_and_retried() {
    crate::support::peer::init_log();
    let (addr, received) = receiver(2).await;
    let dead = black_hole().await;
    let config = Config {
        webhook_url: vec![format!("http://{addr}/hook"), format!("http://{dead}/hook")],
        webhook_key: Some(KEY.into()),
        webhook_queue: std::num::NonZeroUsize::new(32).unwrap(),
        webhook_timeout: Duration::from_secs(3),
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;

    // The scripted meeting.
    let mut host = server.client().await;
    let joined = host
        .call("join_room", capable("hooks", "hal", Role::Host))
        .await;
    let host_id = self_id(&joined);
    let mut ada = server.client().await;
    let joined = ada
        .call("join_room", capable("hooks", "ada", Role::Visitor))
        .await;
    let ada_id = self_id(&joined);
    let (publisher, offer, _pending) = Publisher::new(false);
    quick(
        &mut ada,
        "publisher_offer",
        json!({"sdp": offer.to_sdp_string()}),
    )
    .await;
    let (audio, video) = (publisher.audio.to_string(), publisher.video.to_string());
    quick(
        &mut ada,
        "publish_tracks",
        json!({"tracks": [{"mid": audio, "source": "microphone"}, {"mid": video, "source": "camera"}]}),
    )
    .await;
    quick(&mut host, "breakout_enable", json!({})).await;
    quick(
        &mut host,
        "breakout_configure",
        json!({"config": {"moveGracePeriod": 0}}),
    )
    .await;
    let created = quick(&mut host, "breakout_create_sessions", json!({"count": 1})).await;
    let s1 = created["sessions"][0]["id"].as_str().unwrap().to_owned();
    quick(
        &mut host,
        "breakout_assign",
        json!({"assignments": [{"sessionId": s1, "participantIds": [ada_id]}]}),
    )
    .await;
    let started = quick(&mut host, "breakout_start", json!({})).await;
    let run_id = started["runId"].as_u64().unwrap();
    quick(&mut host, "breakout_end", json!({"immediate": true})).await;
    quick(&mut host, "start_cloud_recording", json!({})).await;
    quick(&mut host, "stop_cloud_recording", json!({})).await;
    quick(
        &mut host,
        "start_live_stream",
        json!({"targetId": "stage-1"}),
    )
    .await;
    quick(&mut host, "stop_live_stream", json!({})).await;
    // A knock at the locked room, rejected.
    quick(&mut host, "set_lock", json!({"locked": true})).await;
    let mut kim = server.client().await;
    let refused = kim.join("hooks", "kim", Role::Visitor).await;
    assert_eq!(error_code(&refused), "room_locked");
    let kim_id = refused["error"]["details"]["selfId"].clone();
    quick(&mut kim, "knock_room", json!({})).await;
    host.event("room_knocked").await;
    quick(
        &mut host,
        "handle_knock",
        json!({"participantId": kim_id, "action": "reject"}),
    )
    .await;
    // The removal comes from the backend, with its reason.
    let api = crate::support::api::Api::new(server.addr);
    let started = sfu::clock::now();
    api.ok(
        &format!("/rooms/hooks/participants/{ada_id}/remove"),
        json!({"reason": "left the class"}),
    )
    .await;
    assert!(sfu::clock::now() - started < Duration::from_secs(1));
    quick(&mut host, "leave_room", json!({})).await;

    let expected = vec![
        json!({"event": "room_started", "data": {"roomSessionId": "hooks-1"}}),
        json!({"event": "participant_joined", "data": {"participantId": host_id, "identity": "hal", "name": "hal", "role": "host"}}),
        json!({"event": "participant_joined", "data": {"participantId": ada_id, "identity": "ada", "name": "ada", "role": "visitor"}}),
        json!({"event": "track_published", "data": {"participantId": ada_id, "mid": audio, "source": "microphone", "streamId": "camera"}}),
        json!({"event": "track_published", "data": {"participantId": ada_id, "mid": video, "source": "camera", "streamId": "camera"}}),
        json!({"event": "breakout_started", "data": {"runId": run_id}}),
        json!({"event": "participant_moved", "data": {"participantId": ada_id, "from": null, "to": s1, "reason": "auto_move"}}),
        json!({"event": "participant_moved", "data": {"participantId": ada_id, "from": s1, "to": null, "reason": "ended"}}),
        json!({"event": "breakout_ended", "data": {"runId": run_id, "reason": "manual"}}),
        json!({"event": "recording_requested"}),
        json!({"event": "recording_stopped"}),
        json!({"event": "live_stream_requested", "data": {"targetId": "stage-1"}}),
        json!({"event": "live_stream_stopped"}),
        json!({"event": "knock", "data": {"participantId": kim_id, "name": "kim"}}),
        json!({"event": "participant_left", "data": {"participantId": ada_id, "identity": "ada", "reason": "kicked", "message": "left the class"}}),
        json!({"event": "participant_left", "data": {"participantId": host_id, "identity": "hal", "reason": "left"}}),
        json!({"event": "room_ended", "data": {"roomSessionId": "hooks-1"}}),
    ];

    let delivered = || -> Vec<Value> {
        received
            .lock()
            .unwrap()
            .attempts
            .iter()
            .filter(|(v, ok, _)| *ok && v["room"] == "hooks")
            // The server's recorder may get in between start and stop, or be refused when the
            // stop overtook its join (README "Cloud recording"); either is right.
            .filter(|(v, _, _)| v["data"]["identity"] != "sfu-cloud-recorder")
            .map(|(v, _, _)| v.clone())
            .collect()
    };
    let deadline = sfu::clock::now() + Duration::from_secs(15);
    while delivered().len() < expected.len() {
        assert!(
            sfu::clock::now() < deadline,
            "{} of {} events delivered",
            delivered().len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything extra would arrive right behind the last expected event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = delivered();
    // Exactly the meeting's events, in seq order, each once.
    let events: Vec<Value> = delivered
        .iter()
        .map(|v| {
            let mut e = json!({"event": v["event"]});
            if let Some(data) = v.get("data") {
                e["data"] = data.clone();
            }
            e
        })
        .collect();
    assert_eq!(events, expected);
    // Every delivery (the recorder's included) once, numbered 1, 2, 3, ...
    let all: Vec<Value> = received
        .lock()
        .unwrap()
        .attempts
        .iter()
        .filter(|(v, ok, _)| *ok && v["room"] == "hooks")
        .map(|(v, _, _)| v.clone())
        .collect();
    for (i, v) in all.iter().enumerate() {
        assert_eq!(v["room"], "hooks");
        assert_eq!(v["seq"], json!(i + 1), "{v}");
        assert!(v["createdAt"].is_string());
    }
    let attempts: Vec<_> = received
        .lock()
        .unwrap()
        .attempts
        .iter()
        .filter(|(v, _, _)| v["room"] == "hooks")
        .cloned()
        .collect();
    // The first event was refused twice with 500, then delivered: three attempts, one id.
    assert_eq!(attempts.len(), all.len() + 2);
    assert!(attempts[..3]
        .iter()
        .all(|(v, _, _)| v["id"] == delivered[0]["id"]));
    assert_eq!(
        attempts
            .iter()
            .map(|(_, ok, _)| *ok)
            .take(3)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    let now = sfu::clock::system_now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (v, _, signed_at) in &attempts {
        let t = signed_at.unwrap_or_else(|| panic!("bad signature on {v}"));
        assert!(t.abs_diff(now) < 60, "signed at {t}, now {now}");
    }
    let ids: std::collections::BTreeSet<&str> = delivered
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), delivered.len(), "ids are unique per event");

    // Another room's traffic overflows the dead endpoint's queue of 32 (one event stuck in
    // its timeouts, the rest of the meeting queued): the overflow is dropped and counted.
    for i in 0..10 {
        let mut guest = server.client().await;
        let started = sfu::clock::now();
        guest
            .join("filler", &format!("guest-{i}"), Role::Visitor)
            .await;
        quick(&mut guest, "leave_room", json!({})).await;
        assert!(sfu::clock::now() - started < Duration::from_secs(1));
    }
    // The other room's events reach the live endpoint in order too. That room stops after
    // each guest leaves, so each of its ten runs counts 1..4 again (started, joined, left,
    // ended).
    let deadline = sfu::clock::now() + Duration::from_secs(10);
    let filler = loop {
        let events: Vec<(u64, String)> = received
            .lock()
            .unwrap()
            .attempts
            .iter()
            .filter(|(v, ok, _)| *ok && v["room"] == "filler")
            .map(|(v, _, _)| (v["seq"].as_u64().unwrap_or(0), v["event"].to_string()))
            .collect();
        if events.len() >= 40 || sfu::clock::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(filler.len(), 40, "{filler:?}");
    for run in filler.chunks(4) {
        let names: Vec<&str> = run.iter().map(|(_, e)| e.trim_matches('"')).collect();
        assert_eq!(
            names,
            [
                "room_started",
                "participant_joined",
                "participant_left",
                "room_ended"
            ]
        );
        assert_eq!(
            run.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }
    let (_, metrics) = http_get(server.addr, "/metrics").await;
    let value = |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("no {name}"));
    assert!(value("sfu_webhook_dropped_total") >= 1.0, "{metrics}");
    assert!(value(r#"sfu_webhook_deliveries_total{result="delivered"}"#) >= 17.0);
    assert!(value("sfu_webhook_retries_total") >= 2.0);
    assert!(value("sfu_webhook_delivery_seconds_count") >= 17.0);
}

// An https:// endpoint with a certificate of a private CA (`--webhook-ca`) gets the events
// over TLS; an endpoint whose certificate the roots do not vouch for gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_checked_against_the_configured_roots() {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("a certificate");
    let dir = std::env::temp_dir().join(format!("sfu-webhook-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).expect("cert written");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("key written");
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("another");
    let other_ca = dir.join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).expect("written");

    // One TLS receiver; two servers, one trusting its certificate and one trusting another.
    let state = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&state));
    let acceptor = sfu::tls_listener::load_acceptor(&cert, &key).expect("acceptor");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let listener = sfu::tls_listener::TlsListener::new(listener, acceptor).expect("TLS listener");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server_with = |ca: &std::path::Path, room: &str| Config {
        webhook_url: vec![format!(
            "https://127.0.0.1:{}/hook?from={room}",
            addr.port()
        )],
        webhook_key: Some(KEY.into()),
        webhook_ca: Some(ca.to_path_buf()),
        ..Config::ephemeral()
    };
    let trusting = TestServer::start_with(server_with(&cert, "trusting")).await;
    let doubting = TestServer::start_with(server_with(&other_ca, "doubting")).await;
    let mut ada = trusting.client().await;
    ada.join("tls-room", "ada", Role::Visitor).await;
    let mut bob = doubting.client().await;
    bob.join("tls-other", "bob", Role::Visitor).await;

    let deadline = sfu::clock::now() + Duration::from_secs(10);
    loop {
        let rooms: Vec<String> = state
            .lock()
            .unwrap()
            .attempts
            .iter()
            .map(|(v, _, signed)| {
                assert!(signed.is_some(), "signed over TLS too");
                v["room"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        if rooms.len() >= 2 {
            assert_eq!(
                rooms,
                ["tls-room", "tls-room"],
                "only the trusting server delivers"
            );
            break;
        }
        assert!(
            sfu::clock::now() < deadline,
            "no delivery over TLS: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The doubting server keeps retrying its failed handshakes and delivers nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = http_get(doubting.addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            r#"sfu_webhook_deliveries_total{result="delivered"}"#
        ),
        Some(0.0)
    );
    assert!(sample(&metrics, "sfu_webhook_retries_total").unwrap_or(0.0) >= 1.0);
    assert!(state
        .lock()
        .unwrap()
        .attempts
        .iter()
        .all(|(v, _, _)| v["room"] == "tls-room"));
    let _ = std::fs::remove_dir_all(&dir);
}
