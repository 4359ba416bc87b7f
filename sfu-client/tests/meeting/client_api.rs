//! The client crate's API drives a meeting with breakouts (issue 20, first test): four clients
//! publish Opus and VP8 through the crate, receive each other as tagged frames (content
//! checked: the speaker named inside each frame is the participant the crate tagged it with,
//! VP8 frames come back byte-identical with their keyframe flags), and follow a host's
//! breakout run through their events: moved into groups they hear only their group, moved
//! between groups they hear the new one, back in the main room they hear everyone again.

use std::time::{Duration, Instant};

use serde_json::json;
use sfu_client::{Event, Location, MediaKind};

use crate::support::{breakout_sessions, does, Person, Server, DEADLINE};

/// Waits until `p`'s roster (kept from its events) puts it at `at`.
async fn until_located(p: &Person, at: &Location) {
    let deadline = Instant::now() + DEADLINE;
    while p.client.location() != *at {
        assert!(Instant::now() < deadline, "{} never reached {at:?}", p.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_with_breakouts_through_the_client_api() {
    let server = Server::start().await;
    let room = "client-api";
    let mut host = Person::join(&server, room, "host", "host").await;
    let mut ada = Person::join(&server, room, "ada", "visitor").await;
    let mut bob = Person::join(&server, room, "bob", "visitor").await;
    let mut cyd = Person::join(&server, room, "cyd", "visitor").await;
    for p in [&mut host, &mut ada, &mut bob, &mut cyd] {
        p.speak(true).await;
    }
    // The roster came from `room_joined` and `new_client` events: everyone sees everyone.
    let deadline = Instant::now() + DEADLINE;
    while ada.client.roster().participants.len() < 4 {
        assert!(Instant::now() < deadline, "ada's roster never filled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    ada.until_hears(&["host", "bob", "cyd"], "main room").await;
    let frames = ada.hear(Duration::from_millis(1500)).await;
    let video: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == MediaKind::Video)
        .collect();
    assert!(
        video.len() >= 3 * 10,
        "ada got {} video frames of 3 publishers in 1.5 s",
        video.len()
    );

    // Breakouts: ada and bob to session 0, cyd to session 1; the host stays in main.
    let sessions = breakout_sessions(&host.client, 2).await;
    let id = |p: &Person| p.client.id().0.clone();
    does(
        &host.client,
        "breakout_assign",
        json!({"assignments": [
            {"sessionId": sessions[0], "participantIds": [id(&ada), id(&bob)]},
            {"sessionId": sessions[1], "participantIds": [id(&cyd)]},
        ]}),
    )
    .await;
    does(
        &host.client,
        "breakout_start",
        // Nobody is muted on return (the default mutes returning people's audio, §11.9).
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true, "muteOnReturnToMain": "none"}}),
    )
    .await;
    let s0: Location = serde_json::from_value(json!(sessions[0])).expect("a location");
    let s1: Location = serde_json::from_value(json!(sessions[1])).expect("a location");
    until_located(&ada, &s0).await;
    until_located(&cyd, &s1).await;
    ada.until_hears(&["bob"], "group 0").await;
    cyd.until_hears(&[], "alone in group 1").await;
    host.until_hears(&[], "the main room emptied").await;
    // Held: a second window crosses nothing either.
    let frames = ada.hear(Duration::from_millis(1000)).await;
    let cyd_id = cyd.client.id().clone();
    assert!(frames.iter().all(|f| f.participant_id != cyd_id));
    // The move reached ada as an event about herself, and her roster has bob with her.
    let mut saw_own_move = false;
    while let Ok(event) = ada.events.try_recv() {
        if let Event::BreakoutLocationChanged(change) = event {
            saw_own_move |= change.participant_id == *ada.client.id() && change.to == s0;
        }
    }
    assert!(saw_own_move, "ada's events never told her she moved");
    assert_eq!(
        ada.client.roster().participants[bob.client.id()].location,
        s0
    );

    // The host moves cyd into group 0: ada now hears bob and cyd.
    does(
        &host.client,
        "breakout_move",
        json!({"participantIds": [id(&cyd)], "target": sessions[0]}),
    )
    .await;
    until_located(&cyd, &s0).await;
    ada.until_hears(&["bob", "cyd"], "cyd moved in").await;
    cyd.until_hears(&["ada", "bob"], "cyd in group 0").await;

    // End: everyone back in the main room hears everyone.
    does(&host.client, "breakout_end", json!({"immediate": true})).await;
    until_located(&ada, &Location::Main).await;
    ada.until_hears(&["host", "bob", "cyd"], "back in main")
        .await;
    host.until_hears(&["ada", "bob", "cyd"], "back in main")
        .await;

    for p in [host, ada, bob, cyd] {
        p.close().await;
    }
    server.stop().await;
}
