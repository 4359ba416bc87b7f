//! The live transcriber in the control plane (issue 20 item 4): the `captioner` role is
//! admitted only as the server's transcriber for a requested transcription, stays in `MAIN`,
//! hears every location's audio and no video (one tap, `ForwardingPolicy::taps`), and each
//! caption goes to the speaker's location at that moment, like that location's chat.

use crate::support::control::breakout::*;
use crate::support::control::wire;
use serde_json::json;
use sfu::control::Service;
use sfu::core::{ParticipantId, StreamRef};
use signalling_proto::{Command, Empty, ErrorCode, Event, EventName, Role, StreamId, Timestamp};

/// The token identity of the server's transcriber (`control::recording`).
const SERVER_CAPTIONER: &str = "sfu-live-transcriber";

fn caption(b: &mut Bx, speaker: ParticipantId, text: &str) -> (bool, Vec<ParticipantId>) {
    let now = b.now;
    let sent_any = b.h.room.handle_caption(
        now,
        &wire(speaker),
        StreamId::from("camera"),
        text.into(),
        Timestamp::from_unix_millis(1_700_000_000_000),
    );
    let effects = b.h.drain();
    b.h.check();
    let captions = sent(&effects, EventName::Caption);
    let mut to: Vec<ParticipantId> = captions.iter().flat_map(|(to, _)| to.clone()).collect();
    to.sort();
    for (_, event) in &captions {
        let Event::Caption(c) = event else {
            unreachable!()
        };
        assert_eq!(c.participant_id, wire(speaker));
        assert_eq!(c.text, text);
        assert_eq!(c.transcription_id.as_deref(), Some("tr-1"));
    }
    (sent_any, to)
}

fn sorted(mut ids: Vec<ParticipantId>) -> Vec<ParticipantId> {
    ids.sort();
    ids
}

#[test]
fn only_the_servers_captioner_joins_and_only_for_a_transcription() {
    let mut b = Bx::new();
    let (host_conn, _) = b.setup(2, json!({"moveGracePeriod": 0}));
    let conn = b.h.socket();
    let refused =
        b.h.try_join_on(b.now, conn, SERVER_CAPTIONER, Role::Captioner)
            .expect_err("no transcription requested");
    assert_eq!(refused.code, ErrorCode::Forbidden);
    b.ok(host_conn, Command::StartLiveTranscription(Empty {}));
    let conn = b.h.socket();
    let refused =
        b.h.try_join_on(b.now, conn, "someone-else", Role::Captioner)
            .expect_err("not the server's identity");
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let (tap_conn, _) = b.join(SERVER_CAPTIONER, Role::Captioner);
    // It is not a person and has nothing to say.
    assert_eq!(
        b.err(
            tap_conn,
            Command::SendChatMessage(signalling_proto::SendChatMessageArgs {
                text: "hi".into(),
                parent_id: None,
                broadcast: None,
                client_msg_id: None,
            })
        )
        .code,
        ErrorCode::Forbidden
    );
    // The stop removes it.
    b.ok(host_conn, Command::StopLiveTranscription(Empty {}));
    assert_eq!(b.h.room.participant_ids().len(), 1);
}

#[test]
fn one_tap_hears_every_location_and_captions_go_to_the_speakers_location() {
    let mut b = Bx::new();
    let (host_conn, host) = b.setup(2, json!({"moveGracePeriod": 0}));
    let (_, a1) = b.join("a1", Role::Visitor);
    let (_, a2) = b.join("a2", Role::Visitor);
    let (_, b1) = b.join("b1", Role::Visitor);
    let (_, b2) = b.join("b2", Role::Visitor);
    b.ok(host_conn, assign(Some(1), &[a1, a2]));
    b.ok(host_conn, assign(Some(2), &[b1, b2]));
    b.ok(host_conn, start());
    assert_eq!(b.loc(a1), at_session(1));
    assert_eq!(b.loc(b1), at_session(2));

    b.ok(host_conn, Command::StartLiveTranscription(Empty {}));
    let (_, tap) = b.join(SERVER_CAPTIONER, Role::Captioner);
    assert_eq!(b.loc(tap), sfu::core::Location::Main);
    // Every location's audio, no video; nobody hears the tap.
    let policy = b.h.room.installed_policy();
    for q in [host, a1, a2, b1, b2] {
        assert!(policy.allowed(tap, q, StreamRef::CAMERA_AUDIO), "{q:?}");
        assert!(!policy.allowed(tap, q, StreamRef::CAMERA_VIDEO), "{q:?}");
        assert!(!policy.allowed(q, tap, StreamRef::CAMERA_AUDIO), "{q:?}");
    }
    // Nobody else's hearing changed: the groups stay apart.
    assert!(b.hears(a2, a1) && !b.hears(b2, a1) && !b.hears(host, a1));

    // No caption before the engine runs.
    assert_eq!(caption(&mut b, a1, "too early"), (false, vec![]));
    let now = b.now;
    b.h.room
        .handle_service_started(now, Service::Transcription, Some("tr-1".into()));
    b.h.drain();

    assert_eq!(
        caption(&mut b, a1, "hello group one"),
        (true, sorted(vec![a1, a2]))
    );
    assert_eq!(
        caption(&mut b, b1, "hello group two"),
        (true, sorted(vec![b1, b2]))
    );
    assert_eq!(caption(&mut b, host, "hello main"), (true, vec![host]));
    // The speaker's location when the text comes back: a1 was moved to group two.
    b.ok(host_conn, mv(&[a1], Some(2)));
    assert_eq!(
        caption(&mut b, a1, "I moved"),
        (true, sorted(vec![a1, b1, b2]))
    );
    // After the stop, captions on their way are not sent.
    b.ok(host_conn, Command::StopLiveTranscription(Empty {}));
    assert_eq!(caption(&mut b, b1, "late"), (false, vec![]));
}
