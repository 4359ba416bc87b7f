//! Assistant participants in the control plane (issue 20): any number may join, they do not
//! count as people, a host assigns and moves them like people (never the auto-assignment),
//! they hear and are heard only in their location, their audio gate is theirs and their video
//! gate never opens, and their chat stays in their location. What they may not do is covered
//! by the role matrix (`roles.rs`), which iterates `Role::ALL`.

use crate::support::control::breakout::*;
use serde_json::json;
use sfu::core::StreamRef;
use signalling_proto::{Command, ErrorCode, EventName, Role, SendChatMessageArgs, SetEnabledArgs};

fn chat(text: &str) -> Command {
    Command::SendChatMessage(SendChatMessageArgs {
        text: text.into(),
        parent_id: None,
        broadcast: None,
        client_msg_id: None,
    })
}

#[test]
fn assistants_are_placed_like_people_and_hear_only_their_group() {
    let mut b = Bx::with_policy(sfu::control::RoomPolicy {
        max_participants: 3,
        ..Default::default()
    });
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, v1) = b.join("v1", Role::Visitor);
    let (_, v2) = b.join("v2", Role::Visitor);
    // Two assistants in a room whose three person places are taken: assistants are neither
    // unique nor counted as people.
    let (bot1_conn, bot1) = b.join("bot-1", Role::Assistant);
    let (_, bot2) = b.join("bot-2", Role::Assistant);

    // Receiving and speaking: the audio gate opens, the video gate is not theirs.
    assert!(b.hears(bot1, v1) && b.hears(v1, bot1));
    let error = b.err(
        bot1_conn,
        Command::SetVideoEnabled(SetEnabledArgs { enabled: true }),
    );
    assert_eq!(error.code, ErrorCode::Forbidden);
    b.ok(
        bot1_conn,
        Command::SetAudioEnabled(SetEnabledArgs { enabled: false }),
    );
    assert!(!b.hears(v1, bot1), "a closed audio gate forwards nothing");
    b.ok(
        bot1_conn,
        Command::SetAudioEnabled(SetEnabledArgs { enabled: true }),
    );
    let policy = b.h.room.installed_policy();
    assert!(!policy.allowed(v1, bot1, StreamRef::CAMERA_VIDEO));
    assert!(!policy.members[&bot1].receive_only);

    // Assigned before the start like people, placed at the start.
    b.ok(host_conn, assign(Some(1), &[v1, bot1]));
    b.ok(host_conn, assign(Some(2), &[v2, bot2]));
    b.ok(host_conn, start());
    assert_eq!(b.loc(bot1), at_session(1));
    assert_eq!(b.loc(bot2), at_session(2));
    assert!(b.hears(bot1, v1) && !b.hears(bot1, v2) && !b.hears(bot1, host));
    assert!(b.hears(v1, bot1) && !b.hears(v2, bot1));
    assert!(b.hears(bot2, v2) && !b.hears(bot2, v1));
    // It cannot leave or join a session by itself.
    assert_eq!(b.err(bot1_conn, leave()).code, ErrorCode::Forbidden);
    assert_eq!(b.err(bot1_conn, join_session(2)).code, ErrorCode::Forbidden);

    // Its chat reaches its own group only (and it reads the group's chat).
    b.take();
    b.ok(bot1_conn, chat("Talk time: v1 3.0 s"));
    let effects = b.take();
    let sent = sent(&effects, EventName::ChatMessage);
    assert_eq!(sent.len(), 1);
    let mut to = sent[0].0.clone();
    to.sort();
    let mut want = vec![v1, bot1];
    want.sort();
    assert_eq!(to, want);

    // A host moves it like a person.
    b.ok(host_conn, mv(&[bot1], Some(2)));
    assert_eq!(b.loc(bot1), at_session(2));
    assert!(b.hears(bot1, v2) && !b.hears(bot1, v1));
    b.ok(host_conn, end(None, true));
    assert_eq!(b.loc(bot1), sfu::core::Location::Main);
}

#[test]
fn assistants_are_never_auto_assigned() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({"assignmentMethod": "auto", "moveGracePeriod": 0}));
    let (_, v1) = b.join("v1", Role::Visitor);
    let (_, bot) = b.join("bot", Role::Assistant);
    b.ok(
        host_conn,
        Command::BreakoutAutoAssign(signalling_proto::AutoAssignArgs::default()),
    );
    b.ok(host_conn, start());
    assert!(matches!(b.loc(v1), sfu::core::Location::Session(_)));
    assert_eq!(b.loc(bot), sfu::core::Location::Main);
}
