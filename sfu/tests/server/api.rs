//! The server API (`/api/v1`, issue 18) over real HTTP against an in-process server with real
//! WebSocket participants: admin tokens (a participant's join token is refused), rooms with
//! their own policy, participants (list, get, remove, mute), system chat, the errors of bad
//! input, every documented operation routed, and the OpenAPI document the server serves.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::peer::{Client as Peer, Subscriber};

use crate::support::api::*;
use crate::support::media_session::*;
use crate::support::ws::*;
use hyper::Method;
use serde_json::{json, Value};
use sfu::token::{Claims, TokenKey};
use signalling_proto::{Role, Secret};

// Missing, malformed and foreign credentials are 401; a participant's join token (even a
// host's, correctly signed) and a grant for another room are 403; an admin token passes.
#[tokio::test]
async fn participant_tokens_and_bad_credentials_are_refused() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, body) = api.raw(Method::GET, "/rooms", None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credential")),
        "{body}"
    );
    let (status, _) = api
        .raw(Method::GET, "/rooms", Some("Bearer not-a-token"), None)
        .await;
    assert_eq!(status, 401);

    let mut host = server.client().await;
    host.join("api-auth", "hal", Role::Host).await;
    let join = token("api-auth", "hal", Role::Host);
    for path in ["/rooms", "/rooms/api-auth", "/rooms/api-auth/participants"] {
        let (status, body) = api
            .raw(Method::GET, path, Some(&format!("Bearer {join}")), None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{path}: {body}"
        );
    }
    let (status, _) = api
        .raw(
            Method::POST,
            "/rooms/api-auth/participants/p1/remove",
            Some(&format!("Bearer {join}")),
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, 403, "a join token cannot kick");

    let other_key = TokenKey::new(&Secret::from("0123456789abcdef0123456789abcdef"), None);
    let foreign = other_key.sign_json(&sfu::api::auth::AdminClaims::new(
        "x",
        std::time::Duration::from_secs(60),
        sfu::clock::system_now(),
    ));
    let (status, _) = api
        .raw(
            Method::GET,
            "/rooms",
            Some(&format!("Bearer {foreign}")),
            None,
        )
        .await;
    assert_eq!(status, 401, "signed with another secret");

    let scoped = format!("Bearer {}", room_token("api-other"));
    let (status, _) = api
        .raw(Method::GET, "/rooms/api-auth", Some(&scoped), None)
        .await;
    assert_eq!(status, 403, "a grant for another room");
    let (status, listed) = api.raw(Method::GET, "/rooms", Some(&scoped), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["rooms"],
        json!([]),
        "the scoped grant lists only its room"
    );

    let (status, listed) = api.get("/rooms").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["rooms"][0]["name"], "api-auth");

    // An admin token is no join token either.
    let mut sneaky = server.client().await;
    let refused = sneaky
        .call("join_room", join_args("api-auth", &api.token))
        .await;
    assert_eq!(error_code(&refused), "invalid_credential");
}

// A room created through the API runs with its own policy (max 2 participants: the third
// person gets room_full), stays listed while empty, and `DELETE` ends the meeting for
// everybody. Participants are listed and read as a host sees them; a mute closes the
// target's gate; a system chat message reaches the room from `p0`; a removal closes the
// target's socket with 4001 and bans it for the session.
#[tokio::test]
async fn rooms_participants_mute_chat_remove_and_end() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, created) = api
        .post(
            "/rooms",
            json!({"name": "api-room", "policy": {"maxParticipants": 2, "reconnectGraceSeconds": 5}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["summary"]["keptOpen"], true);
    assert_eq!(created["policy"]["maxParticipants"], 2);
    assert_eq!(created["policy"]["reconnectGraceSeconds"], 5);
    assert_eq!(created["summary"]["sessionId"], Value::Null);
    let (status, again) = api.post("/rooms", json!({"name": "api-room"})).await;
    assert_eq!(status, 409, "{again}");

    let (status, listed) = api.get("/rooms").await;
    assert_eq!(status, 200);
    assert!(
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "api-room"),
        "an empty API room stays: {listed}"
    );

    let mut ada = server.client().await;
    let ada_id = self_id(&ada.join("api-room", "ada", Role::Visitor).await);
    let mut bob = server.client().await;
    let bob_id = self_id(&bob.join("api-room", "bob", Role::Visitor).await);
    let mut cat = server.client().await;
    let full = cat.join("api-room", "cat", Role::Visitor).await;
    assert_eq!(
        error_code(&full),
        "room_full",
        "the room's own maxParticipants"
    );

    let (status, people) = api.get("/rooms/api-room/participants").await;
    assert_eq!(status, 200, "{people}");
    let ids: Vec<&str> = people["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ada_id.as_str(), bob_id.as_str()]);
    let (status, one) = api
        .get(&format!("/rooms/api-room/participants/{bob_id}"))
        .await;
    assert_eq!(
        (status, one["displayName"].as_str()),
        (200, Some("bob")),
        "{one}"
    );
    assert_eq!(one["isAudioEnabled"], true);

    // Mute bob's microphone: the gate closes for everyone to see, by the host rule.
    let muted = api
        .ok(
            &format!("/rooms/api-room/participants/{bob_id}/mute"),
            json!({"kind": "audio", "muted": true}),
        )
        .await;
    assert_eq!(muted, json!({}));
    let requested = bob.event("audio_enable_requested").await;
    assert_eq!(requested["data"]["requestedBy"], "p0");
    let changed = ada.event("audio_enabled").await;
    assert_eq!(changed["data"]["participantId"], bob_id.as_str());
    assert_eq!(changed["data"]["enabled"], false);
    let (_, one) = api
        .get(&format!("/rooms/api-room/participants/{bob_id}"))
        .await;
    assert_eq!(one["isAudioEnabled"], false);

    // Rename: everyone hears the new name; a bad one names its field.
    let renamed = api
        .ok(
            &format!("/rooms/api-room/participants/{bob_id}/name"),
            json!({"displayName": "Robert"}),
        )
        .await;
    assert_eq!(renamed, json!({}));
    let metadata = ada.event("client_metadata_received").await;
    assert_eq!(metadata["data"]["participantId"], bob_id.as_str());
    assert_eq!(metadata["data"]["displayName"], "Robert");
    assert_bad_field(
        &api.post(
            &format!("/rooms/api-room/participants/{bob_id}/name"),
            json!({"displayName": " "}),
        )
        .await,
        "displayName",
    );
    let (status, _) = api
        .post(
            "/rooms/api-room/participants/p9/name",
            json!({"displayName": "X"}),
        )
        .await;
    assert_eq!(status, 404);

    // System chat.
    let (status, sent) = api
        .post(
            "/rooms/api-room/chat",
            json!({"text": "Class starts in 5 minutes"}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent["messageId"].is_string());
    let chat = ada.event("chat_message").await;
    assert_eq!(chat["data"]["senderId"], "p0");
    assert_eq!(chat["data"]["senderName"], "System");
    assert_eq!(chat["data"]["text"], "Class starts in 5 minutes");

    // Remove bob with a reason: kicked, socket closed 4001, banned for the session.
    let removed = api
        .ok(
            &format!("/rooms/api-room/participants/{bob_id}/remove"),
            json!({"reason": "disruptive"}),
        )
        .await;
    assert_eq!(removed, json!({}));
    let kicked = bob.event("client_kicked").await;
    assert_eq!(kicked["data"]["by"], "p0");
    assert_eq!(bob.closed().await.map(|c| c.0), Some(4001));
    let left = ada.event("client_left").await;
    assert_eq!(left["data"]["reason"], "kicked");
    let mut bob_again = server.client().await;
    let banned = bob_again.join("api-room", "bob", Role::Visitor).await;
    assert_eq!(error_code(&banned), "kicked_from_room");
    let (status, gone) = api
        .get(&format!("/rooms/api-room/participants/{bob_id}"))
        .await;
    assert_eq!(
        (status, gone["code"].as_str()),
        (404, Some("participant_not_found"))
    );

    // End: everybody out with 4002; the room stops once empty.
    let (status, ended) = api.call(Method::DELETE, "/rooms/api-room", None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ada.closed().await.map(|c| c.0), Some(4002));
    let deadline = sfu::clock::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, _) = api.get("/rooms/api-room").await;
        if status == 404 {
            break;
        }
        assert!(sfu::clock::now() < deadline, "the ended room still runs");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// Bad input is 400 naming the field, unknown rooms and ids 404, state conflicts 409; the
// room is unchanged after each.
#[tokio::test]
async fn bad_input_names_the_field() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    assert_bad_field(
        &api.post("/rooms", json!({"name": "Bad Name"})).await,
        "name",
    );
    assert_bad_field(&api.post("/rooms", json!({})).await, "name");
    assert_bad_field(
        &api.post(
            "/rooms",
            json!({"name": "ok", "policy": {"maxParticipants": 0}}),
        )
        .await,
        "policy.maxParticipants",
    );
    assert_bad_field(
        &api.post("/rooms", json!({"name": "ok", "policy": {"locked": "yes"}}))
            .await,
        "policy.locked",
    );
    assert_bad_field(
        &api.post("/rooms", json!({"name": "ok", "colour": "red"}))
            .await,
        "colour",
    );
    let (status, body) = api
        .raw(
            Method::POST,
            "/rooms",
            Some(&format!("Bearer {}", api.token)),
            Some("{not json".into()),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_bad_field(&api.get("/rooms/Not_A_Room").await, "room");
    let (status, body) = api.get("/rooms/no-such-room").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("room_not_found"))
    );

    let mut host = server.client().await;
    let host_id = self_id(&join_capable(&mut host, "api-bad", "hal", Role::Host).await);
    let base = "/rooms/api-bad";
    assert_bad_field(
        &api.post(
            &format!("{base}/participants/{host_id}/mute"),
            json!({"kind": "smell", "muted": true}),
        )
        .await,
        "kind",
    );
    assert_bad_field(
        &api.post(
            &format!("{base}/participants/{host_id}/mute"),
            json!({"kind": "audio"}),
        )
        .await,
        "muted",
    );
    assert_bad_field(
        &api.post(&format!("{base}/chat"), json!({"text": ""})).await,
        "text",
    );
    assert_bad_field(
        &api.post(
            &format!("{base}/participants/{host_id}/remove"),
            json!({"reason": "x".repeat(201)}),
        )
        .await,
        "reason",
    );
    let (status, body) = api
        .post(&format!("{base}/participants/p99/remove"), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("participant_not_found"))
    );
    // Breakout commands: the protocol's own argument checks and state codes.
    let (status, body) = api.post(&format!("{base}/breakout/start"), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("breakouts_disabled")),
        "{body}"
    );
    api.ok(&format!("{base}/breakout/enable"), json!({})).await;
    assert_bad_field(
        &api.post(
            &format!("{base}/breakout/sessions"),
            json!({"count": "three"}),
        )
        .await,
        "count",
    );
    assert_bad_field(
        &api.post(
            &format!("{base}/breakout/end"),
            json!({"delayCloseTime": 301}),
        )
        .await,
        "delayCloseTime",
    );
    let (status, body) = api
        .post(
            &format!("{base}/breakout/move"),
            json!({"participantIds": [host_id], "target": "s9"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("breakout_not_active")),
        "{body}"
    );
    // None of the refused commands changed the room.
    let state = host.call("get_room_state", json!({})).await;
    let state = ok_result(&state);
    assert_eq!(state["room"]["participants"][0]["isAudioEnabled"], true);
    assert_eq!(state["breakout"]["sessions"], json!([]));
}

// Every operation the OpenAPI document lists is routed (401 without a token, never 404 or
// 405), and the document the server serves is the one in docs/openapi.json.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, served) = api.raw(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("JSON");
    assert_eq!(served, committed);
    let paths = served["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        let path = path
            .strip_prefix("/api/v1")
            .expect("under the prefix")
            .replace("{room}", "some-room")
            .replace("{participantId}", "p1");
        for method in item.as_object().expect("operations").keys() {
            let method: Method = method.to_uppercase().parse().expect("a method");
            let (status, body) = api
                .raw(method.clone(), &path, None, Some("{}".into()))
                .await;
            assert_eq!(status, 401, "{method} {path}: {body}");
        }
    }
}

// The join token's claims stay what they were: an admin claim set is no join token, and a
// join token signed for the API is no admin token (checked in `api::auth`'s unit tests too).
#[test]
fn a_join_token_has_no_admin_grant() {
    let token = TokenKey::development()
        .sign(&Claims::new("r", "a", Role::Host))
        .unwrap();
    let claims: sfu::api::auth::AdminClaims = TokenKey::development().decode_json(&token).unwrap();
    assert_eq!(claims.admin, None);
}

// A breakout run driven only by the API, in a room with no host: the same rules as a host's
// commands move the media. Ada publishes, cy subscribes; assigned to different sessions, cy
// stops receiving ada; moved into ada's session, cy receives her again; a broadcast reaches
// the session from `p0`; the end's countdown brings everybody back to MAIN with media.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_breakout_run_moves_media() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, _) = api.post("/rooms", json!({"name": "api-brk"})).await;
    assert_eq!(status, 201);
    let mut ada = server.client().await;
    let ada_id = self_id(&join_capable(&mut ada, "api-brk", "ada", Role::Visitor).await);
    let mut cy = server.client().await;
    let cy_id = self_id(&join_capable(&mut cy, "api-brk", "cy", Role::Visitor).await);
    let publisher = start_publishing(&mut ada, false).await;
    let mut media = Media {
        ada,
        publisher,
        cy,
        subscriber: Subscriber {
            client: Peer::new(),
            streams: BTreeMap::new(),
        },
        offers: Vec::new(),
    };
    let until = crate::support::peer::now() + Duration::from_secs(15);
    while media.received(
        crate::support::peer::now() - Duration::from_secs(1),
        Duration::from_secs(1),
    ) < 40
    {
        assert!(
            crate::support::peer::now() < until,
            "no media before the breakout"
        );
        media.run_for(Duration::from_millis(100)).await;
    }

    let base = "/rooms/api-brk/breakout";
    api.ok(&format!("{base}/enable"), json!({})).await;
    api.ok(
        &format!("{base}/configure"),
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    let sessions = api
        .ok(&format!("{base}/sessions"), json!({"count": 2}))
        .await;
    let s1 = sessions["sessions"][0]["id"]
        .as_str()
        .expect("s1")
        .to_owned();
    let s2 = sessions["sessions"][1]["id"]
        .as_str()
        .expect("s2")
        .to_owned();
    api.ok(
        &format!("{base}/assign"),
        json!({"assignments": [
            {"sessionId": s1, "participantIds": [ada_id]},
            {"sessionId": s2, "participantIds": [cy_id]},
        ]}),
    )
    .await;
    let started = api.ok(&format!("{base}/start"), json!({})).await;
    assert!(started["runId"].is_u64(), "{started}");
    loop {
        let moved = media.cy.event("breakout_location_changed").await;
        if moved["data"]["participantId"] == cy_id.as_str() {
            assert_eq!(moved["data"]["to"], s2.as_str(), "{moved}");
            break;
        }
    }
    let apart = media.second_after(Duration::from_millis(500)).await;
    assert_eq!(apart, 0, "cy in {s2} still receives ada in {s1}");
    let (_, view) = api.get(base).await;
    assert_eq!(view["breakout"]["state"], "started", "{view}");

    // A move to a session that does not exist is refused; into ada's session, media returns.
    let (status, body) = api
        .post(
            &format!("{base}/move"),
            json!({"participantIds": [cy_id], "target": "s9"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("session_not_found")),
        "{body}"
    );
    api.ok(
        &format!("{base}/move"),
        json!({"participantIds": [cy_id], "target": s1}),
    )
    .await;
    loop {
        let moved = media.cy.event("breakout_location_changed").await;
        if moved["data"]["participantId"] == cy_id.as_str() {
            assert_eq!(moved["data"]["to"], s1.as_str());
            break;
        }
    }
    let together = media.second_after(Duration::from_millis(500)).await;
    assert!(
        together >= 40,
        "cy moved into {s1} receives ada: {together} packets"
    );

    let broadcast = api
        .ok(
            &format!("{base}/broadcast"),
            json!({"message": "Two minutes left"}),
        )
        .await;
    assert_eq!(broadcast["deliveredTo"], 2, "{broadcast}");
    let message = media.cy.event("breakout_message").await;
    assert_eq!(message["data"]["senderId"], "p0");

    // End with a one-second countdown: closing first, then everybody in MAIN.
    let ended = api
        .ok(&format!("{base}/end"), json!({"delayCloseTime": 1}))
        .await;
    assert!(ended["closingEndsAt"].is_string(), "{ended}");
    media.run_for(Duration::from_millis(1500)).await;
    let done = media.cy.event("breakout_ended").await;
    assert_eq!(done["data"]["reason"], "manual", "{done}");
    // Ada's microphone is muted on the way back (`muteOnReturnToMain` defaults to audio), so
    // only her camera (30 fps) comes back.
    let back = media.second_after(Duration::from_millis(300)).await;
    assert!(back >= 20, "back in MAIN cy receives ada: {back} packets");
    let ada_view = api
        .get(&format!("/rooms/api-brk/participants/{ada_id}"))
        .await
        .1;
    assert_eq!(ada_view["isAudioEnabled"], false, "{ada_view}");
    let (_, people) = api.get("/rooms/api-brk/participants").await;
    for p in people["participants"].as_array().expect("participants") {
        assert_eq!(p["location"], Value::Null, "{p}");
    }
    drop(media.ada);
}
