//! `POST /api/v1/rooms/{room}/tokens` (issue 20): a backend mints join tokens, by default for
//! an `assistant`, without a CLI or the development endpoint. The token it returns joins the
//! room over `/rtc` with that role; bad input is a 400 naming the field, the server's own
//! `captioner` and the waiting room's `granted_*` roles are refused, and a grant for another
//! room is 403.

use crate::support::api::*;
use crate::support::ws::*;
use serde_json::json;
use sfu::token::TokenKey;
use signalling_proto::Role;

#[tokio::test]
async fn the_api_mints_assistant_tokens_that_join() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, issued) = api
        .post(
            "/rooms/standup/tokens",
            json!({"identity": "note-taker", "name": "Notes", "ttlSeconds": 600}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["role"], "assistant");
    let token = issued["token"].as_str().expect("a token");
    let now = sfu::clock::system_now();
    let claims = TokenKey::development()
        .verify(token, "standup", now)
        .expect("a valid join token");
    assert_eq!(claims.role, Role::Assistant);
    assert_eq!(claims.identity, "note-taker");
    assert_eq!(claims.name.as_deref(), Some("Notes"));
    let exp = claims.exp.expect("an expiry");
    let unix = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!((unix + 595..=unix + 605).contains(&exp), "{exp} vs {unix}");
    let expires_at = issued["expiresAt"].as_str().expect("expiresAt");
    assert!(expires_at.ends_with('Z'), "{expires_at}");

    // It joins with that role (the room starts with the first join).
    let mut bot = server.client().await;
    let joined = bot.call("join_room", join_args("standup", token)).await;
    assert_eq!(
        ok_result(&joined)["roleName"],
        json!("assistant"),
        "{joined}"
    );

    // Another role when asked.
    let (status, host) = api
        .post(
            "/rooms/standup/tokens",
            json!({"identity": "ada", "role": "host"}),
        )
        .await;
    assert_eq!(
        (status, host["role"].as_str()),
        (201, Some("host")),
        "{host}"
    );
}

#[tokio::test]
async fn bad_token_requests_are_refused() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let path = "/rooms/standup/tokens";
    assert_bad_field(&api.post(path, json!({})).await, "identity");
    assert_bad_field(&api.post(path, json!({"identity": " "})).await, "identity");
    for role in ["captioner", "granted_visitor", "pilot"] {
        let answer = api.post(path, json!({"identity": "x", "role": role})).await;
        assert_bad_field(&answer, "role");
    }
    for ttl in [0, 86_401] {
        let answer = api
            .post(path, json!({"identity": "x", "ttlSeconds": ttl}))
            .await;
        assert_bad_field(&answer, "ttlSeconds");
    }
    assert_bad_field(
        &api.post("/rooms/Not_A_Room/tokens", json!({"identity": "x"}))
            .await,
        "room",
    );
    // A grant for one room mints for that room only.
    let scoped = Api {
        token: room_token("other"),
        ..Api::new(server.addr)
    };
    let (status, _) = scoped.post(path, json!({"identity": "x"})).await;
    assert_eq!(status, 403);
    let (status, _) = scoped
        .post("/rooms/other/tokens", json!({"identity": "x"}))
        .await;
    assert_eq!(status, 201);
}
