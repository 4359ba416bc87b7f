//! Golden JSON of every client command: each example decodes, re-encodes to the same JSON, and
//! every command of the protocol has at least one example (spec §8, §17.1, DECISIONS.md §10).

use serde_json::{json, Value};
use signalling_proto::*;

fn command(name: &str, args: Value) -> Value {
    json!({"type": "command", "name": name, "reqId": format!("r-{name}"), "args": args})
}

/// One example per command, shaped like the spec's examples.
fn examples() -> Vec<Value> {
    vec![
        // §8.1
        command(
            "join_room",
            json!({
                "roomName": "standup-42",
                "credential": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.sig"},
                "displayName": "Ada", "externalId": "crm-17", "isDialIn": false,
                "capabilities": {"breakouts": true, "screenshare": true},
                "media": {"audio": true, "video": false}
            }),
        ),
        command(
            "join_room",
            json!({
                "roomName": "standup-42", "credential": {"grant": "g-1"},
                "capabilities": {"breakouts": true, "screenshare": false},
                "media": {"audio": false, "video": false}, "selfId": "p-9"
            }),
        ),
        command(
            "knock_room",
            json!({"displayName": "Bob", "imageUrl": "https://x/y.png"}),
        ),
        command("cancel_knock", json!({})),
        command("leave_room", json!({})),
        command("resume", json!({"resumeToken": "rt-1", "lastSeq": 411})),
        command("get_room_state", json!({})),
        // §8.2
        command(
            "handle_knock",
            json!({"participantId": "p-9", "action": "accept", "message": "welcome",
                   "targetSessionId": "s-3"}),
        ),
        // §8.3
        command("set_lock", json!({"locked": true})),
        command("kick_participant", json!({"participantId": "p-2"})),
        command("end_meeting", json!({"stayBehind": true})),
        command(
            "request_audio_enable",
            json!({"participantIds": ["p-2", "p-3"], "enable": false}),
        ),
        command(
            "request_video_enable",
            json!({"participantIds": ["p-2"], "enable": true}),
        ),
        command("clear_sticky_reaction", json!({"participantId": "p-2"})),
        command(
            "add_spotlight",
            json!({"participantId": "p-1", "streamId": "camera"}),
        ),
        command(
            "remove_spotlight",
            json!({"participantId": "p-1", "streamId": "ss-1"}),
        ),
        // §8.4
        command("set_audio_enabled", json!({"enabled": true})),
        command("set_video_enabled", json!({"enabled": false})),
        command("start_screenshare", json!({"hasAudioTrack": true})),
        command("stop_screenshare", json!({"streamId": "ss-1"})),
        command("set_display_name", json!({"displayName": "Ada L."})),
        command("set_sticky_reaction", json!({"reaction": "✋"})),
        command("set_sticky_reaction", json!({"reaction": null})),
        // §8.5
        command(
            "send_chat_message",
            json!({"text": "hello", "parentId": "m-01", "broadcast": false, "clientMsgId": "c-1"}),
        ),
        command("remove_chat_message", json!({"messageId": "m-01"})),
        // §8.6
        command("start_cloud_recording", json!({})),
        command("stop_cloud_recording", json!({})),
        command("start_live_stream", json!({"targetId": "youtube-main"})),
        command("stop_live_stream", json!({})),
        command("start_live_transcription", json!({})),
        command("stop_live_transcription", json!({})),
        // §8.7
        command("breakout_enable", json!({})),
        command(
            "breakout_disable",
            json!({"ifRevision": 7, "editLockToken": "t-1"}),
        ),
        command("breakout_get", json!({"acquireEditLock": true})),
        command(
            "breakout_configure",
            json!({
                "config": {"countdownTimer": 30, "allowReturnToMain": false,
                           "automaticallyEndBreakoutsAfter": null, "assignmentMethod": "auto",
                           "muteOnReturnToMain": "audio_video", "maxSessionSize": 8},
                "ifRevision": 3, "editLockToken": "t-1", "releaseEditLock": true
            }),
        ),
        command(
            "breakout_create_sessions",
            json!({"sessions": [{"name": "Red", "anyoneCanJoin": true}, {}]}),
        ),
        command("breakout_create_sessions", json!({"count": 4})),
        command(
            "breakout_rename_session",
            json!({"sessionId": "s-1", "name": "Blue"}),
        ),
        command("breakout_delete_session", json!({"sessionId": "s-1"})),
        command("breakout_clear_sessions", json!({})),
        command(
            "breakout_set_session_open",
            json!({"sessionId": "s-2", "open": true}),
        ),
        command(
            "breakout_assign",
            json!({"assignments": [
                {"sessionId": "s-1", "participantIds": ["p-2", "p-3"], "externalIds": ["crm-9"]},
                {"sessionId": null, "participantIds": ["p-4"]}
            ]}),
        ),
        command("breakout_auto_assign", json!({"reassignAll": true})),
        command(
            "breakout_start",
            json!({"config": {"automaticallyEndBreakoutsAfter": 900}, "editLockToken": "t-1"}),
        ),
        command(
            "breakout_end",
            json!({"delayCloseTime": 0, "immediate": true}),
        ),
        command("breakout_cancel_auto_end", json!({})),
        command("breakout_extend_auto_end", json!({"seconds": 300})),
        command(
            "breakout_move",
            json!({"participantIds": ["p-2"], "target": "s-2"}),
        ),
        command(
            "breakout_move",
            json!({"participantIds": ["p-2", "p-3"], "target": null}),
        ),
        command("breakout_ask_all_to_return", json!({"ifRevision": 12})),
        command(
            "breakout_broadcast",
            json!({"message": "5 minutes left", "sessionId": "s-1",
                   "recipients": {"participants": true, "hosts": false, "presenters": true},
                   "includeMain": true}),
        ),
        command("breakout_edit_lock_acquire", json!({})),
        command("breakout_edit_lock_refresh", json!({"token": "t-1"})),
        command("breakout_edit_lock_release", json!({"token": "t-1"})),
        // §8.8
        command("breakout_join", json!({"sessionId": "s-3"})),
        command("breakout_leave", json!({})),
        command("breakout_ask_for_help", json!({})),
        // §17.1
        command("breakout_monitor", json!({"sessionId": "s-3"})),
        command("breakout_stop_monitor", json!({})),
        // media, DECISIONS.md §10
        command(
            "publisher_offer",
            json!({"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}),
        ),
        command("subscriber_answer", json!({"sdp": "v=0\r\n", "version": 3})),
        command(
            "ice_candidate",
            json!({"transport": "publisher", "candidate": {
                "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"}}),
        ),
        command(
            "ice_candidate",
            json!({"transport": "subscriber", "candidate": null}),
        ),
        command(
            "publish_tracks",
            json!({"tracks": [
                {"mid": "0", "source": "microphone"},
                {"mid": "1", "source": "camera", "streamId": "camera", "layers": [
                    {"rid": "q", "width": 320, "height": 180, "maxBitrate": 150000},
                    {"rid": "h", "width": 640, "height": 360, "maxBitrate": 500000},
                    {"rid": "f", "width": 1280, "height": 720, "maxBitrate": 1500000,
                     "maxFramerate": 30}
                ]},
                {"mid": "2", "source": "screenshare", "streamId": "ss-1"},
                {"mid": "3", "source": "screenshare_audio", "streamId": "ss-1"}
            ]}),
        ),
        command("unpublish_tracks", json!({"mids": ["2", "3"]})),
        command(
            "set_subscription_preferences",
            json!({"preferences": [
                {"participantId": "p-2", "streamId": "camera", "kind": "video", "paused": false,
                 "maxLayer": {"spatial": 1, "temporal": 2}, "priority": 10},
                {"participantId": "p-3", "streamId": "ss-1",
                 "targetSize": {"width": 1280, "height": 720}},
                {"participantId": "p-4", "streamId": "camera", "paused": true}
            ]}),
        ),
    ]
}

// Every example decodes and re-encodes to the same JSON value.
#[test]
fn every_command_example_round_trips() {
    for example in examples() {
        let text = example.to_string();
        let message = decode_client_frame(&text)
            .unwrap_or_else(|e| panic!("{text}\n  failed to decode: {e:?}"));
        assert_eq!(message.req_id.as_str(), example["reqId"].as_str().unwrap());
        assert_eq!(message.command.name().as_str(), example["name"]);
        let again: Value = serde_json::from_str(&encode_client_message(&message)).unwrap();
        assert_eq!(again, example, "re-encoding changed the frame");
    }
}

// The examples cover the whole command set, so a new command cannot land untested.
#[test]
fn every_command_has_a_golden_example() {
    let covered: std::collections::HashSet<String> = examples()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for name in CommandName::ALL {
        assert!(covered.contains(name.as_str()), "no example for {name}");
    }
}

// The spec's own example (§6.2) decodes to the typed command.
#[test]
fn spec_section_6_2_example_decodes() {
    let frame = r#"{ "type": "command", "name": "breakout_join", "reqId": "c-17", "args": { "sessionId": "s-3" } }"#;
    let message = decode_client_frame(frame).unwrap();
    assert_eq!(
        message,
        ClientMessage {
            req_id: ReqId::from("c-17"),
            command: Command::BreakoutJoin(SessionArgs {
                session_id: SessionId::from("s-3")
            }),
        }
    );
}

// Commands without arguments may leave `args` out; it means `{}` (and encodes as `{}`).
#[test]
fn absent_args_mean_empty_object() {
    let message =
        decode_client_frame(r#"{"type":"command","name":"breakout_leave","reqId":"1"}"#).unwrap();
    assert_eq!(message.command, Command::BreakoutLeave(Empty {}));
    let optional_only =
        decode_client_frame(r#"{"type":"command","name":"end_meeting","reqId":"2"}"#).unwrap();
    assert_eq!(
        optional_only.command,
        Command::EndMeeting(EndMeetingArgs::default())
    );
}

// `MAIN` is `null`: a `breakout_move` target of null is the main room, a string a session.
#[test]
fn move_target_null_is_main() {
    let to_main = decode_client_frame(
        r#"{"type":"command","name":"breakout_move","reqId":"1","args":{"participantIds":["p"],"target":null}}"#,
    )
    .unwrap();
    let Command::BreakoutMove(args) = to_main.command else {
        panic!("wrong command")
    };
    assert_eq!(args.target, Location::Main);
}

// A credential is exactly one of token / roomKey / grant.
#[test]
fn credential_is_one_of_three_forms() {
    for (credential, expected) in [
        (json!({"token": "a"}), Credential::Token(Secret::from("a"))),
        (
            json!({"roomKey": "b"}),
            Credential::RoomKey(Secret::from("b")),
        ),
        (json!({"grant": "c"}), Credential::Grant(Secret::from("c"))),
    ] {
        let frame = command(
            "join_room",
            json!({"roomName": "r", "credential": credential,
                   "capabilities": {"breakouts": true, "screenshare": true},
                   "media": {"audio": true, "video": true}}),
        );
        let Command::JoinRoom(args) = decode_client_frame(&frame.to_string()).unwrap().command
        else {
            panic!("wrong command")
        };
        assert_eq!(args.credential, Some(expected));
    }
}
