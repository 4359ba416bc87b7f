//! `join_room` hands out the configured TURN servers with time-limited credentials (TURN REST
//! scheme, PROTOCOL.md §10); without TURN configured the field is absent. The browser through a
//! real coturn is `scripts/browser-turn-test`'s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::ws::{ok_result, TestServer};
use base64::Engine as _;
use sfu::Config;
use signalling_proto::{Role, Secret};

const SECRET: &str = "turn-secret-shared-with-coturn";

// The credential is base64(HMAC-SHA1(secret, username)) with username `<expiry>:<selfId>`,
// expiring one TTL after the join.
#[tokio::test]
async fn join_result_carries_turn_servers_with_rest_credentials() {
    let config = Config {
        turn_url: vec![
            "turn:127.0.0.1:3478?transport=udp".into(),
            "turn:127.0.0.1:3478?transport=tcp".into(),
        ],
        turn_secret: Some(Secret::from(SECRET)),
        turn_credential_ttl: Duration::from_secs(3600),
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let mut ada = server.client().await;
    let joined = ada.join("turn-1", "ada", Role::Visitor).await;
    let result = ok_result(&joined);
    let servers = result["iceServers"].as_array().expect("iceServers");
    assert_eq!(servers.len(), 1, "{result}");
    assert_eq!(
        servers[0]["urls"],
        serde_json::json!([
            "turn:127.0.0.1:3478?transport=udp",
            "turn:127.0.0.1:3478?transport=tcp"
        ])
    );
    let username = servers[0]["username"].as_str().expect("username");
    let (expiry, id) = username.split_once(':').expect("expiry:id");
    assert_eq!(id, result["selfId"].as_str().expect("selfId"));
    #[allow(clippy::disallowed_methods)] // the test compares with the wall clock
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().expect("expiry in Unix seconds");
    assert!(
        expiry > now + 3500 && expiry <= now + 3601,
        "{expiry} vs {now}"
    );
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        SECRET.as_bytes(),
    );
    let expected = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, username.as_bytes()).as_ref());
    assert_eq!(servers[0]["credential"], expected);
}

// A server without TURN sends no iceServers (clients keep their own configuration).
#[tokio::test]
async fn join_result_has_no_ice_servers_without_turn() {
    let server = TestServer::start().await;
    let mut ada = server.client().await;
    let joined = ada.join("turn-2", "ada", Role::Visitor).await;
    assert!(ok_result(&joined).get("iceServers").is_none(), "{joined}");
}
