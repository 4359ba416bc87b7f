//! A page reload as the server sees it (issue 19, PROTOCOL.md §4.3 "After a page reload"): a
//! participant in a breakout session loses its socket and both media transports at once, then
//! resumes on a new socket with `newTransports: true` and brand-new str0m transports. It keeps
//! its id, role, location, raised hand and chat; media flows both ways again over the new
//! transports, only from its own session; the others never see it leave or join.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::api::*;
use crate::support::media_session::*;
use crate::support::peer::{now, Client as Peer, Publisher, Subscriber};
use crate::support::ws::*;
use serde_json::{json, Value};
use signalling_proto::Role;

/// One person: a socket, a publisher transport and a subscriber transport.
struct Person {
    ws: Client,
    publisher: Publisher,
    subscriber: Subscriber,
    /// Every subscriber offer answered, in order.
    offers: Vec<String>,
}

impl Person {
    async fn publishing(mut ws: Client) -> Person {
        let publisher = start_publishing(&mut ws, false).await;
        Person {
            ws,
            publisher,
            subscriber: Subscriber {
                client: Peer::new(),
                streams: BTreeMap::new(),
            },
            offers: Vec::new(),
        }
    }

    async fn step(&mut self) {
        self.publisher.step(false);
        self.subscriber.step();
        if let Some(sdp) = answer_any_offer(&mut self.ws, &mut self.subscriber).await {
            self.offers.push(sdp);
        }
    }

    /// Packets received in `[from, from + length)`.
    fn received(&self, from: Instant, length: Duration) -> usize {
        self.subscriber
            .streams
            .values()
            .map(|r| r.count_between(from, length))
            .sum()
    }
}

/// Drives everybody for `length`.
async fn run(people: &mut [&mut Person], length: Duration) {
    let until = now() + length;
    while now() < until {
        for p in people.iter_mut() {
            p.step().await;
        }
    }
}

/// Drives everybody until each of `receivers` (indexes into `people`) got at least 40 packets
/// (audio at 50/s plus video at 30/s) in the last second; panics after 15 s.
async fn until_media(people: &mut [&mut Person], receivers: &[usize], what: &str) {
    let deadline = now() + Duration::from_secs(15);
    loop {
        run(people, Duration::from_millis(100)).await;
        let since = now() - Duration::from_secs(1);
        let counts: Vec<usize> = receivers
            .iter()
            .map(|i| people[*i].received(since, Duration::from_secs(1)))
            .collect();
        if counts.iter().all(|c| *c >= 40) {
            return;
        }
        assert!(
            now() < deadline,
            "{what}: packets in the last second {counts:?}"
        );
    }
}

fn session_id(sessions: &Value, index: usize) -> String {
    sessions["sessions"][index]["id"]
        .as_str()
        .expect("session id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_page_keeps_its_id_and_breakout_group_with_new_transports() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let room = "reload-resume";
    let (status, _) = api.post("/rooms", json!({"name": room})).await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    let mut sockets = Vec::new();
    for name in ["ada", "cy", "bo"] {
        let mut ws = server.client().await;
        let joined = join_capable(&mut ws, room, name, Role::Visitor).await;
        ids.push(self_id(&joined));
        tokens.push(ok_result(&joined)["resumeToken"].clone());
        sockets.push(ws);
    }
    let (ada_id, cy_id, bo_id) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let mut sockets = sockets.into_iter();
    let mut ada = Person::publishing(sockets.next().expect("ada")).await;
    let mut cy = Person::publishing(sockets.next().expect("cy")).await;
    let mut bo = Person::publishing(sockets.next().expect("bo")).await;

    // Ada and cy in session 1, bo in session 2.
    let base = format!("/rooms/{room}/breakout");
    api.ok(&format!("{base}/enable"), json!({})).await;
    api.ok(
        &format!("{base}/configure"),
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    let sessions = api
        .ok(&format!("{base}/sessions"), json!({"count": 2}))
        .await;
    let (s1, s2) = (session_id(&sessions, 0), session_id(&sessions, 1));
    api.ok(
        &format!("{base}/assign"),
        json!({"assignments": [
            {"sessionId": s1, "participantIds": [ada_id, cy_id]},
            {"sessionId": s2, "participantIds": [bo_id]},
        ]}),
    )
    .await;
    api.ok(&format!("{base}/start"), json!({})).await;
    for (p, id) in [(&mut ada, &ada_id), (&mut cy, &cy_id)] {
        loop {
            let moved = p.ws.event("breakout_location_changed").await;
            if moved["data"]["participantId"] == id.as_str() {
                assert_eq!(moved["data"]["to"], s1.as_str(), "{moved}");
                break;
            }
        }
    }
    until_media(
        &mut [&mut ada, &mut cy, &mut bo],
        &[0, 1],
        "ada and cy receive each other in session 1",
    )
    .await;

    // What must survive the reload: a raised hand and a chat message in the session. What
    // must not: a screenshare (its tracks died with the page).
    let shared = ok_result(
        &ada.ws
            .call("start_screenshare", json!({"hasAudioTrack": false}))
            .await,
    )["streamId"]
        .clone();
    ok_result(
        &ada.ws
            .call("set_sticky_reaction", json!({"reaction": "✋"}))
            .await,
    );
    ok_result(
        &ada.ws
            .call("send_chat_message", json!({"text": "before the reload"}))
            .await,
    );

    // The reload: both transports are gone at once, and the new page's resume overtakes the
    // server's notice of the old socket's close (it is replaced: 4004).
    let Person { ws: mut old_ws, .. } = ada;
    let last_seq = old_ws.last_seq;
    let started = now();
    let mut ws = server.client().await;
    ws.seq_known = false;
    let resumed = ws
        .call(
            "resume",
            json!({"resumeToken": tokens[0], "lastSeq": last_seq, "newTransports": true}),
        )
        .await;
    let resumed = ok_result(&resumed);
    assert_eq!(old_ws.closed().await.map(|(code, _)| code), Some(4004));
    assert_eq!(resumed["selfId"], ada_id.as_str(), "{resumed}");
    assert_eq!(resumed["location"], s1.as_str(), "{resumed}");
    assert_eq!(resumed["breakoutGroup"]["id"], s1.as_str(), "{resumed}");
    let snapshot = ws.event("room_state").await;
    let state = &snapshot["data"];
    assert_eq!(state["selfId"], ada_id.as_str());
    assert_eq!(state["roleName"], "visitor");
    let me = state["room"]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["id"] == ada_id.as_str())
        .expect("ada in her own roster")
        .clone();
    assert_eq!(me["location"], s1.as_str(), "{me}");
    assert_eq!(me["stickyReaction"]["reaction"], "✋", "{me}");
    assert_eq!(me["screenshares"], json!([]), "{me}");
    assert!(
        state["chatHistory"]
            .as_array()
            .expect("chat history")
            .iter()
            .any(|m| m["text"] == "before the reload"),
        "{state}"
    );

    // New transports: a new publisher offer, and the subscriber offer the server sends.
    let mut ada = Person::publishing(ws).await;
    until_media(
        &mut [&mut ada, &mut cy, &mut bo],
        &[0, 1],
        "after the resume ada and cy receive each other over the new transports",
    )
    .await;
    println!(
        "media both ways again {} ms after the resume",
        started.elapsed().as_millis()
    );
    // Ada's new subscriber transport carries cy (her session), not bo (session 2).
    let offered = ada.offers.join("\n");
    assert!(offered.contains(&format!("{cy_id}-camera")), "{offered}");
    assert!(!offered.contains(&format!("{bo_id}-camera")), "{offered}");

    // Her screenshare ended with the old page. Nobody saw ada leave, join or reconnect; the
    // roster holds her once, in session 1.
    let stopped = cy.ws.event("screenshare_stopped").await;
    assert_eq!(
        stopped["data"]["participantId"],
        ada_id.as_str(),
        "{stopped}"
    );
    assert_eq!(stopped["data"]["streamId"], shared, "{stopped}");
    assert_eq!(stopped["data"]["reason"], "disconnected", "{stopped}");
    run(
        &mut [&mut ada, &mut cy, &mut bo],
        Duration::from_millis(300),
    )
    .await;
    for (name, p) in [("cy", &cy), ("bo", &bo)] {
        let churn: Vec<&Value> =
            p.ws.events
                .iter()
                .filter(|e| {
                    ["client_left", "new_client"].contains(&e["name"].as_str().unwrap_or(""))
                        && (e["data"]["clientId"] == ada_id.as_str()
                            || e["data"]["client"]["id"] == ada_id.as_str())
                })
                .collect();
        assert!(churn.is_empty(), "{name} saw ada leave or join: {churn:?}");
        let reconnecting = p.ws.events.iter().any(|e| {
            e["name"] == "participant_connection_changed"
                && e["data"]["participantId"] == ada_id.as_str()
        });
        assert!(
            !reconnecting,
            "{name} saw ada reconnecting, though the resume came first"
        );
    }
    let (_, people) = api.get(&format!("/rooms/{room}/participants")).await;
    let adas: Vec<&Value> = people["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter(|p| p["id"] == ada_id.as_str())
        .collect();
    assert_eq!(adas.len(), 1, "{people}");
    assert_eq!(adas[0]["location"], s1.as_str(), "{people}");
    assert_eq!(people["participants"].as_array().map(Vec::len), Some(3));

    // A network blip still keeps the transports: cy's socket drops, cy resumes without
    // `newTransports` on the same str0m transports, and media keeps flowing both ways.
    let last_seq = cy.ws.last_seq;
    let mut ws = server.client().await;
    ws.seq_known = false;
    drop(std::mem::replace(&mut cy.ws, ws));
    let resumed = cy
        .ws
        .call(
            "resume",
            json!({"resumeToken": tokens[1], "lastSeq": last_seq}),
        )
        .await;
    assert_eq!(ok_result(&resumed)["selfId"], cy_id.as_str(), "{resumed}");
    let subscribed_before = cy.subscriber.streams.len();
    until_media(
        &mut [&mut ada, &mut cy, &mut bo],
        &[0, 1],
        "after a blip resume ada and cy still receive each other",
    )
    .await;
    assert_eq!(
        cy.subscriber.streams.len(),
        subscribed_before,
        "the blip kept cy's subscriber transport and its streams"
    );
}
