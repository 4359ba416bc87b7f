//! `control::Room`: chat (spec §5.5, §6.4, §6.5, §8.5, §14 #49-#54).

use crate::support::control::*;
use sfu::control::RoomPolicy;
use signalling_proto::*;

fn chat(text: &str) -> SendChatMessageArgs {
    SendChatMessageArgs {
        text: text.into(),
        parent_id: None,
        broadcast: None,
        client_msg_id: None,
    }
}

fn sent(result: Result<CommandResult, ErrorBody>) -> SendChatMessageResult {
    match result {
        Ok(CommandResult::SendChatMessage(r)) => r,
        other => panic!("{other:?}"),
    }
}

// A message reaches every person in the scope, the sender included, but not service roles;
// a later joiner gets it as history (spec §8.5, §8.1 `chatHistory`).
#[test]
fn message_reaches_persons_and_history() {
    let mut h = Harness::new();
    let (conn, ann, _) = h.join("ann", Role::Host);
    let (_, bob, _) = h.join("bob", Role::Viewer);
    let (_, rec, _) = h.join("rec", Role::Recorder);
    let r = sent(h.cmd(h.t0, conn, Command::SendChatMessage(chat("  hello  "))));
    let effects = h.drain();
    for who in [ann, bob] {
        let Event::ChatMessage(m) = &events_for(&effects, who)[0] else {
            panic!()
        };
        assert_eq!(m.text, "hello");
        assert_eq!(m.id, r.message_id);
        assert_eq!(m.scope, Location::Main);
    }
    assert!(events_for(&effects, rec).is_empty());
    let (_, _, joined) = h.join("cy", Role::Visitor);
    assert_eq!(joined.chat_history.len(), 1);
    // Ids are time-ordered.
    let r2 = sent(h.cmd(h.at(1), conn, Command::SendChatMessage(chat("again"))));
    assert!(r2.message_id.0 > r.message_id.0);
}

// Text rules, broadcast by a non-host, unknown parent (spec §14 #49, #52, #53).
#[test]
fn chat_errors() {
    let mut h = Harness::new();
    let (host, _, _) = h.join("ann", Role::Host);
    let (v, _, _) = h.join("bob", Role::Visitor);
    for bad in ["", "   ", &"x".repeat(2001)] {
        assert_eq!(
            code(h.cmd(h.t0, v, Command::SendChatMessage(chat(bad)))),
            ErrorCode::InvalidArgument
        );
    }
    let mut broadcast = chat("all");
    broadcast.broadcast = Some(true);
    assert_eq!(
        code(h.cmd(h.t0, v, Command::SendChatMessage(broadcast.clone()))),
        ErrorCode::Forbidden
    );
    sent(h.cmd(h.t0, host, Command::SendChatMessage(broadcast)));
    let mut reply = chat("re");
    reply.parent_id = Some(MessageId::from("nope"));
    assert_eq!(
        code(h.cmd(h.t0, v, Command::SendChatMessage(reply))),
        ErrorCode::MessageNotFound
    );
}

// The same clientMsgId within 60 s returns the original and emits nothing (spec §6.4, §14 #51).
#[test]
fn client_msg_id_is_idempotent_for_60_s() {
    let mut h = Harness::new();
    let (conn, _, _) = h.join("ann", Role::Visitor);
    let mut args = chat("once");
    args.client_msg_id = Some("c-1".into());
    let first = sent(h.cmd(h.t0, conn, Command::SendChatMessage(args.clone())));
    h.drain();
    let again = sent(h.cmd(h.at(59), conn, Command::SendChatMessage(args.clone())));
    assert_eq!(again, first);
    assert!(h.drain().is_empty());
    let later = sent(h.cmd(h.at(61), conn, Command::SendChatMessage(args)));
    assert_ne!(later.message_id, first.message_id);
}

// Chat flood: the 6th message within a second is rate limited (spec §6.5, §14 #50), and the
// 16 KiB / 10 s text budget holds too.
#[test]
fn chat_rate_limits() {
    let mut h = Harness::new();
    let (conn, _, _) = h.join("ann", Role::Visitor);
    for i in 0..5 {
        sent(h.cmd(h.at_ms(i * 10), conn, Command::SendChatMessage(chat("x"))));
    }
    let error = h
        .cmd(h.at_ms(60), conn, Command::SendChatMessage(chat("x")))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert!(
        error
            .details_as::<RateLimitedDetails>()
            .unwrap()
            .retry_after_ms
            > 0
    );
    sent(h.cmd(h.at(2), conn, Command::SendChatMessage(chat("x"))));

    let mut h = Harness::new();
    let (conn, _, _) = h.join("ann", Role::Visitor);
    let big = "😀".repeat(2000); // 8000 bytes
    sent(h.cmd(h.t0, conn, Command::SendChatMessage(chat(&big))));
    sent(h.cmd(h.t0, conn, Command::SendChatMessage(chat(&big))));
    // 16,000 of the 16 KiB spent; one second refills only ~1.6 KiB.
    assert_eq!(
        code(h.cmd(h.at(1), conn, Command::SendChatMessage(chat(&big)))),
        ErrorCode::RateLimited
    );
    sent(h.cmd(h.at(10), conn, Command::SendChatMessage(chat(&big))));
}

// Removing: the sender or a host; others get `forbidden`; the text is dropped (spec §14 #54).
#[test]
fn remove_chat_message_rules() {
    let mut h = Harness::new();
    let (host, _, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, _) = h.join("bob", Role::Visitor);
    let (cy, _, _) = h.join("cy", Role::Visitor);
    let m = sent(h.cmd(h.t0, bob_conn, Command::SendChatMessage(chat("oops")))).message_id;
    let remove = || {
        Command::RemoveChatMessage(RemoveChatMessageArgs {
            message_id: m.clone(),
        })
    };
    assert_eq!(code(h.cmd(h.t0, cy, remove())), ErrorCode::Forbidden);
    h.drain();
    h.cmd(h.t0, host, remove()).unwrap();
    let effects = h.drain();
    assert!(
        matches!(&events_for(&effects, bob)[0], Event::ChatMessageRemoved(r) if r.message_id == m)
    );
    let CommandResult::GetRoomState(state) = h
        .cmd(h.t0, bob_conn, Command::GetRoomState(Empty {}))
        .unwrap()
    else {
        panic!()
    };
    assert!(state.chat_history[0].removed && state.chat_history[0].text.is_empty());
    assert_eq!(
        code(h.cmd(
            h.t0,
            host,
            Command::RemoveChatMessage(RemoveChatMessageArgs {
                message_id: MessageId::from("missing")
            })
        )),
        ErrorCode::MessageNotFound
    );
}

// History on join is capped by `chat_history_on_enter`.
#[test]
fn history_is_capped() {
    let mut h = Harness::with_policy(RoomPolicy {
        chat_history_on_enter: 2,
        ..RoomPolicy::default()
    });
    let (conn, _, _) = h.join("ann", Role::Host);
    for i in 0..3 {
        sent(h.cmd(
            h.at(i * 2),
            conn,
            Command::SendChatMessage(chat(&format!("m{i}"))),
        ));
    }
    let (_, _, joined) = h.join("bob", Role::Visitor);
    let texts: Vec<_> = joined
        .chat_history
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
}
