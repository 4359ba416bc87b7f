//! Assistant participants (issue 20): one `assistant` per breakout group. Each is marked
//! `isAssistant` in the roster, speaks into its group, hears exactly its group's speakers
//! (content-checked: every frame names its speaker inside, and it must be the participant the
//! client crate tagged it with), is refused what only a person may do, and, running the
//! example assistant's own loop (`examples/assistant/`), answers `!talk` in its group's chat
//! with each speaker's talk time, which the other group never sees.

use std::time::{Duration, Instant};

use serde_json::json;
use sfu_client::{Event, Location};
use signalling_proto::{ErrorCode, Role};

use crate::support::{breakout_sessions, command, does, Person, Server, DEADLINE};

#[path = "../../examples/assistant/assistant_loop.rs"]
mod assistant_loop;
#[path = "../../examples/assistant/talk_time.rs"]
mod talk_time;

async fn until_located(p: &Person, at: &Location) {
    let deadline = Instant::now() + DEADLINE;
    while p.client.location() != *at {
        assert!(Instant::now() < deadline, "{} never reached {at:?}", p.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistant_per_group_hears_only_its_group() {
    let server = Server::start().await;
    let room = "assistants";
    let mut host = Person::join(&server, room, "host", "host").await;
    let mut a1 = Person::join(&server, room, "a1", "visitor").await;
    let mut a2 = Person::join(&server, room, "a2", "visitor").await;
    let mut b1 = Person::join(&server, room, "b1", "visitor").await;
    // Two assistants in one room: unlike the recorder, not a unique role.
    let mut helper_a = Person::join(&server, room, "helper-a", "assistant").await;
    let mut helper_b = Person::join(&server, room, "helper-b", "assistant").await;
    assert_eq!(helper_a.client.joined().role_name, Role::Assistant);
    for p in [&mut host, &mut a1, &mut a2, &mut b1] {
        p.speak(false).await;
    }
    // An assistant may publish audio, and only audio.
    helper_a.speak(false).await;
    let refused = helper_b
        .client
        .publish(sfu_client::PublishOptions::audio_video())
        .await
        .expect_err("an assistant's camera");
    assert_eq!(refused.code(), Some(ErrorCode::Forbidden), "{refused}");

    // The roster marks it; the host sees it as `assistant`, `isAssistant`.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let roster = host.client.roster();
        if let Some(view) = roster.participants.get(helper_a.client.id()) {
            assert!(view.is_assistant);
            assert_eq!(view.role_name, Role::Assistant);
            assert!(!roster.participants[a1.client.id()].is_assistant);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host never saw the assistant"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // What only a person (or a publisher of video) may do is forbidden.
    for (name, args) in [
        ("set_video_enabled", json!({"enabled": true})),
        ("start_screenshare", json!({"hasAudioTrack": false})),
        ("set_display_name", json!({"displayName": "Not a bot"})),
        ("breakout_join", json!({"sessionId": "s-1"})),
        ("breakout_enable", json!({})),
        ("set_lock", json!({"locked": true})),
    ] {
        let refused = helper_a
            .client
            .signalling()
            .request_raw(command(name, args))
            .await
            .expect_err(name);
        assert_eq!(
            refused.code(),
            Some(ErrorCode::Forbidden),
            "{name}: {refused}"
        );
    }

    // Groups: A = a1, a2 and helper-a; B = b1 and helper-b. The host assigns assistants like
    // people.
    let sessions = breakout_sessions(&host.client, 2).await;
    let id = |p: &Person| p.client.id().0.clone();
    does(
        &host.client,
        "breakout_assign",
        json!({"assignments": [
            {"sessionId": sessions[0], "participantIds": [id(&a1), id(&a2), id(&helper_a)]},
            {"sessionId": sessions[1], "participantIds": [id(&b1), id(&helper_b)]},
        ]}),
    )
    .await;
    does(
        &host.client,
        "breakout_start",
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    let group_a: Location = serde_json::from_value(json!(sessions[0])).expect("a location");
    let group_b: Location = serde_json::from_value(json!(sessions[1])).expect("a location");
    until_located(&helper_a, &group_a).await;
    until_located(&helper_b, &group_b).await;

    // Each assistant hears exactly its group's speakers, and its group hears it.
    helper_a
        .until_hears(&["a1", "a2"], "assistant of group A")
        .await;
    helper_b.until_hears(&["b1"], "assistant of group B").await;
    a1.until_hears(&["a2", "helper-a"], "group A hears its assistant")
        .await;
    b1.until_hears(&[], "group B's assistant is silent").await;
    let b1_id = b1.client.id().clone();
    let host_id = host.client.id().clone();
    for _ in 0..2 {
        let frames = helper_a.hear(Duration::from_millis(1000)).await;
        assert!(
            frames
                .iter()
                .all(|f| f.participant_id != b1_id && f.participant_id != host_id),
            "group A's assistant heard outside its group"
        );
    }

    // The example assistant's loop answers `!talk` in group A's chat.
    let (events, frames) = helper_a.take_streams();
    let (stop_tx, stop) = tokio::sync::oneshot::channel();
    let assistant = assistant_loop::run(&helper_a.client, events, frames, stop);
    let a1_id = a1.client.id().clone();
    let a2_id = a2.client.id().clone();
    let driver = async {
        // Let it listen for a while, then ask.
        tokio::time::sleep(Duration::from_secs(3)).await;
        a1.client
            .send_chat(assistant_loop::REQUEST)
            .await
            .expect("a1 asks");
        let deadline = Instant::now() + DEADLINE;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, a2.events.recv()).await {
                Ok(Some(Event::ChatMessage(m))) if m.sender_id == *helper_a.client.id() => {
                    break m;
                }
                Ok(Some(_)) => {}
                other => panic!("no answer from the assistant: {other:?}"),
            }
        };
        let _ = stop_tx.send(());
        answer
    };
    let (heard, answer) = tokio::join!(assistant, driver);
    let heard = heard.expect("the assistant loop");
    assert_eq!(answer.scope, group_a, "the answer is group A's chat");
    assert!(answer.text.starts_with("Talk time: "), "{}", answer.text);
    assert!(
        answer.text.contains("a1 ") && answer.text.contains("a2 "),
        "{}",
        answer.text
    );
    assert!(
        !answer.text.contains("b1") && !answer.text.contains("host"),
        "{}",
        answer.text
    );
    // Separately per speaker: a1 and a2 each spoke for the whole listening time (3 s and
    // more, 20 ms per packet); nobody else was heard.
    let by: Vec<_> = heard.by_speaker().keys().cloned().collect();
    assert_eq!(by, {
        let mut v = vec![a1_id.clone(), a2_id.clone()];
        v.sort();
        v
    });
    for (who, talk) in heard.by_speaker() {
        assert!(*talk >= Duration::from_millis(2500), "{who}: {talk:?}");
    }
    // Group B saw none of group A's chat.
    while let Ok(event) = b1.events.try_recv() {
        if let Event::ChatMessage(m) = event {
            panic!("group B saw group A's chat: {m:?}");
        }
    }

    for p in [host, a1, a2, b1, helper_a, helper_b] {
        p.close().await;
    }
    server.stop().await;
}
