//! Golden JSON of server frames: every event, responses with typed results, error responses
//! (spec §6.2, §6.3, §9, DECISIONS.md §10).

use serde_json::{json, Value};
use signalling_proto::*;

fn participant(id: &str, location: Value) -> Value {
    json!({
        "id": id, "displayName": "Ada", "roleName": "visitor", "externalId": null,
        "isDialIn": false, "isAudioEnabled": true, "isVideoEnabled": false,
        "screenshares": [{"streamId": "ss-1", "hasAudioTrack": false}],
        "stickyReaction": {"reaction": "✋", "setAt": "2024-05-01T12:00:01.000Z"},
        "connection": "connected", "location": location, "monitoring": null
    })
}

fn host_participant() -> Value {
    json!({
        "id": "p-1", "displayName": "Host", "roleName": "host", "externalId": "crm-1",
        "isDialIn": false, "isAudioEnabled": true, "isVideoEnabled": true, "screenshares": [],
        "stickyReaction": null, "connection": "reconnecting", "location": null,
        "monitoring": "s-1", "breakoutAssigned": null
    })
}

fn config() -> Value {
    json!({
        "countdownTimer": 60, "allowReturnToMain": true, "allowJoinLater": true,
        "automaticallyEndBreakoutsAfter": 1800, "assignmentMethod": "manual",
        "autoMoveAssigned": true, "moveGracePeriod": 10, "muteOnReturnToMain": "audio",
        "maxSessionSize": null
    })
}

/// A host's view of a started run, holding the edit lock.
fn host_breakout_view() -> Value {
    json!({
        "revision": 14, "state": "started", "config": config(),
        "runId": 2, "startedAt": "2024-05-01T12:00:00.000Z",
        "autoEndAt": "2024-05-01T12:30:00.000Z", "autoEndCancelled": false,
        "closingEndsAt": null, "endedAt": null, "returnRequestedAt": null,
        "sessions": [{
            "id": "s-1", "name": "Session 1", "anyoneCanJoin": false,
            "memberIds": ["p-2"], "assignedIds": ["p-2", "p-3"], "pendingExternalIds": ["crm-9"],
            "current": false, "assigned": false, "allowed": true, "requested": false
        }],
        "self": {"location": null, "assignedSessionId": null, "late": false, "pendingMove": null},
        "editLock": {"holderId": "p-1", "expiresAt": "2024-05-01T12:00:30.000Z", "token": "t-1"}
    })
}

/// A visitor's view: no host-only fields.
fn visitor_breakout_view() -> Value {
    json!({
        "revision": 14, "state": "started", "config": config(),
        "runId": 2, "startedAt": "2024-05-01T12:00:00.000Z", "autoEndAt": null,
        "autoEndCancelled": true, "closingEndsAt": null, "endedAt": null,
        "returnRequestedAt": "2024-05-01T12:10:00.000Z",
        "sessions": [{
            "id": "s-1", "name": "Session 1", "anyoneCanJoin": true, "memberIds": [],
            "current": false, "assigned": true, "allowed": true, "requested": true
        }],
        "self": {"location": null, "assignedSessionId": "s-1", "late": true,
                 "pendingMove": {"target": "s-1", "deadline": "2024-05-01T12:00:10.000Z"}}
    })
}

fn chat_message() -> Value {
    json!({
        "id": "01HX0000000000000000000000", "senderId": "p-2", "senderName": "Ada",
        "text": "hello", "timestamp": "2024-05-01T12:00:02.000Z", "scope": "s-1",
        "broadcast": false, "parentId": null, "removed": false
    })
}

fn room_view() -> Value {
    json!({
        "name": "standup-42", "isLocked": true,
        "session": {"id": "rs-1", "createdAt": "2024-05-01T11:59:00.000Z"},
        "participants": [host_participant(), participant("p-2", json!("s-1"))],
        "knockers": [{"participantId": "p-9", "displayName": "Bob", "imageUrl": null,
                      "externalId": null, "knockedAt": "2024-05-01T12:00:03.000Z",
                      "status": "on_hold"}],
        "spotlights": [{"participantId": "p-1", "streamId": "camera"}],
        "recording": {"status": "recording", "startedAt": "2024-05-01T12:00:00.000Z",
                      "error": null, "initiator": "p-1"},
        "liveStream": null,
        "transcription": {"status": "error", "startedAt": null, "error": "service down",
                          "transcriptionId": null}
    })
}

fn room_state() -> Value {
    json!({
        "selfId": "p-1", "roleName": "host", "breakoutGroup": null, "room": room_view(),
        "breakout": host_breakout_view(), "chatHistory": [chat_message()]
    })
}

fn event(name: &str, seq: u64, data: Value) -> Value {
    json!({"type": "event", "name": name, "seq": seq, "ts": "2024-05-01T12:00:05.123Z",
           "data": data})
}

fn event_examples() -> Vec<Value> {
    let ts = "2024-05-01T12:00:05.000Z";
    vec![
        // §9.1
        event(
            "new_client",
            1,
            json!({"client": participant("p-3", Value::Null),
                   "room": {"session": {"id": "rs-1", "createdAt": ts}}}),
        ),
        event(
            "client_left",
            2,
            json!({"clientId": "p-3", "reason": "timeout"}),
        ),
        event(
            "client_kicked",
            3,
            json!({"clientId": "p-3", "reason": "kick", "by": "p-1"}),
        ),
        event(
            "participant_connection_changed",
            4,
            json!({"participantId": "p-2", "connection": "reconnecting"}),
        ),
        event("room_locked", 5, json!({"isLocked": true, "by": "p-1"})),
        event("room_session_ended", 6, json!({"roomSessionId": "rs-1"})),
        event("room_state", 7, room_state()),
        event("room_left", 8, json!({})),
        event(
            "room_knocked",
            9,
            json!({"participantId": "p-9", "displayName": "Bob", "imageUrl": null,
                   "externalId": "crm-2", "knockedAt": ts}),
        ),
        event(
            "knocker_left",
            10,
            json!({"participantId": "p-9", "reason": "cancelled"}),
        ),
        event(
            "knock_handled",
            11,
            json!({"participantId": "p-9", "resolution": "accepted", "handledBy": null,
                   "reason": "room_unlocked"}),
        ),
        event(
            "audio_enabled",
            12,
            json!({"participantId": "p-2", "enabled": false, "reason": "host"}),
        ),
        event(
            "video_enabled",
            13,
            json!({"participantId": "p-2", "enabled": false, "reason": "returned_to_main"}),
        ),
        event(
            "audio_enable_requested",
            14,
            json!({"requestedBy": "p-1", "enable": true}),
        ),
        event(
            "video_enable_requested",
            15,
            json!({"requestedBy": "p-1", "enable": false}),
        ),
        event(
            "client_metadata_received",
            16,
            json!({"participantId": "p-2", "displayName": "Ada",
                   "stickyReaction": {"reaction": "✋", "setAt": ts}}),
        ),
        event(
            "screenshare_started",
            17,
            json!({"participantId": "p-2", "streamId": "ss-1", "hasAudioTrack": true}),
        ),
        event(
            "screenshare_stopped",
            18,
            json!({"participantId": "p-2", "streamId": "ss-1", "reason": "location_changed"}),
        ),
        event(
            "spotlight_added",
            19,
            json!({"participantId": "p-1", "streamId": "camera", "by": "p-1"}),
        ),
        event(
            "spotlight_removed",
            20,
            json!({"participantId": "p-1", "streamId": "camera", "by": "p-4"}),
        ),
        event(
            "subscriptions_changed",
            21,
            json!({"added": [{"participantId": "p-2", "streamId": "camera",
                              "kinds": ["audio", "video"], "msid": "p-2-camera"}],
                   "removed": [{"participantId": "p-3", "streamId": "ss-1", "kinds": ["video"],
                                "msid": "p-3-ss-1"}],
                   "policyVersion": 42}),
        ),
        // An older server's entries have no `msid`: they still decode (new fields only).
        event(
            "subscriptions_changed",
            21,
            json!({"added": [{"participantId": "p-2", "streamId": "camera",
                              "kinds": ["audio", "video"]}],
                   "removed": [], "policyVersion": 43}),
        ),
        // §9.2
        event("chat_message", 22, chat_message()),
        event(
            "chat_message_removed",
            23,
            json!({"messageId": "01HX0000000000000000000000", "by": "p-1"}),
        ),
        event(
            "chat_history",
            24,
            json!({"scope": null, "messages": [chat_message()]}),
        ),
        event("cloud_recording_requested", 25, json!({})),
        event("cloud_recording_started", 26, json!({"startedAt": ts})),
        event("cloud_recording_stopped", 27, json!({})),
        event(
            "live_stream_started",
            28,
            json!({"error": "target unreachable"}),
        ),
        event("live_stream_stopped", 29, json!({})),
        event(
            "live_transcription_started",
            30,
            json!({"transcriptionId": "tr-1", "startedAt": ts}),
        ),
        event(
            "live_transcription_stopped",
            31,
            json!({"transcriptionId": "tr-1", "endedAt": ts}),
        ),
        // Issue 20: a caption for the speaker's location.
        event(
            "caption",
            31,
            json!({"participantId": "p-2", "streamId": "camera", "displayName": "Ada",
                   "text": "good morning", "startedAt": ts, "transcriptionId": "tr-1"}),
        ),
        // §9.3
        event("breakout_updated", 32, host_breakout_view()),
        event("breakout_updated", 33, visitor_breakout_view()),
        event(
            "breakout_location_changed",
            34,
            json!({"participantId": "p-2", "from": null, "to": "s-1", "reason": "auto_move"}),
        ),
        event(
            "breakout_move_requested",
            35,
            json!({"sessionId": "s-1", "sessionName": "Session 1", "deadline": null,
                   "reason": "late_join"}),
        ),
        event(
            "breakout_return_requested",
            36,
            json!({"requestedBy": "p-1", "at": ts}),
        ),
        event(
            "breakout_timer_warning",
            37,
            json!({"autoEndAt": ts, "secondsLeft": 60}),
        ),
        event(
            "breakout_timer_changed",
            38,
            json!({"autoEndAt": null, "reason": "cancelled"}),
        ),
        event(
            "breakout_closing",
            39,
            json!({"closingEndsAt": ts, "countdownSeconds": 60, "reason": "auto_end"}),
        ),
        event(
            "breakout_ended",
            40,
            json!({"runId": 2, "reason": "room_empty", "endedAt": ts}),
        ),
        event(
            "breakout_message",
            41,
            json!({"senderId": "p-1", "senderName": "Host", "sentAt": ts,
                   "message": "5 minutes left", "sessionId": null}),
        ),
        event(
            "breakout_monitor_changed",
            42,
            json!({"hostId": "p-1", "sessionId": "s-1"}),
        ),
        event(
            "breakout_help_requested",
            43,
            json!({"participantId": "p-2", "displayName": "Ada", "sessionId": "s-1",
                   "sessionName": "Session 1", "at": ts}),
        ),
        event(
            "breakout_edit_lock_changed",
            44,
            json!({"holderId": null, "expiresAt": null, "reason": "holder_left"}),
        ),
        // media
        event(
            "subscriber_offer",
            45,
            json!({"sdp": "v=0\r\n", "version": 4}),
        ),
        event(
            "ice_candidate",
            46,
            json!({"transport": "subscriber", "candidate": {
                "candidate": "candidate:1 1 udp 2122260223 192.0.2.9 3478 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}}),
        ),
        event(
            "layer_changed",
            47,
            json!({"participantId": "p-2", "streamId": "camera",
                   "target": {"spatial": 2, "temporal": 2}, "current": {"spatial": 1, "temporal": 2}}),
        ),
        event(
            "stream_state_changed",
            48,
            json!({"participantId": "p-2", "streamId": "camera", "kind": "video",
                   "state": "paused", "reason": "bandwidth"}),
        ),
        event(
            "stream_state_changed",
            49,
            json!({"participantId": "p-2", "streamId": "camera", "kind": "video", "state": "active"}),
        ),
        event(
            "active_speakers_changed",
            50,
            json!({"speakers": [{"participantId": "p-2", "level": 0.5},
                                {"participantId": "p-3", "level": 0.25}]}),
        ),
    ]
}

fn server_round_trip(frame: &Value) -> ServerMessage {
    let text = frame.to_string();
    let message =
        decode_server_frame(&text).unwrap_or_else(|e| panic!("{text}\n  failed to decode: {e}"));
    let again: Value = serde_json::from_str(&encode_server_message(&message)).unwrap();
    assert_eq!(&again, frame, "re-encoding changed the frame");
    message
}

// Every event example decodes to its typed event and re-encodes to the same JSON.
#[test]
fn every_event_example_round_trips() {
    for example in event_examples() {
        let ServerMessage::Event(message) = server_round_trip(&example) else {
            panic!("not an event")
        };
        assert_eq!(message.event.name().as_str(), example["name"]);
    }
}

// The examples cover the whole event set.
#[test]
fn every_event_has_a_golden_example() {
    let covered: std::collections::HashSet<String> = event_examples()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for name in EventName::ALL {
        assert!(covered.contains(name.as_str()), "no example for {name}");
    }
}

// Events to a knocker carry no `seq` (spec §8.2); the knocker's shape of knock_handled has the
// grant and no participantId.
#[test]
fn knocker_event_has_no_seq() {
    let frame = json!({"type": "event", "name": "knock_handled", "ts": "2024-05-01T12:00:05Z",
                       "data": {"resolution": "accepted", "grant": "g-1"}});
    let ServerMessage::Event(message) = server_round_trip(&frame) else {
        panic!("not an event")
    };
    assert_eq!(message.seq, None);
    let Event::KnockHandled(KnockHandled::ToKnocker(data)) = message.event else {
        panic!("expected the knocker's shape")
    };
    assert_eq!(data.grant, Some(Secret::from("g-1")));
}

// The spec's response examples (§6.2): success with an object result, failure with details.
#[test]
fn spec_section_6_2_responses_round_trip() {
    let ok = json!({"type": "response", "reqId": "c-17", "ok": true, "result": {}});
    let ServerMessage::Response(response) = server_round_trip(&ok) else {
        panic!("not a response")
    };
    assert_eq!(
        CommandResult::decode(CommandName::BreakoutJoin, json!({})).unwrap(),
        CommandResult::BreakoutJoin(Changed::YES)
    );
    assert_eq!(response.req_id, Some(ReqId::from("c-17")));

    let err = json!({"type": "response", "reqId": "c-17", "ok": false,
                     "error": {"code": "not_allowed_in_session", "message": "human readable",
                               "details": {}}});
    let ServerMessage::Response(response) = server_round_trip(&err) else {
        panic!("not a response")
    };
    let Outcome::Err(error) = response.outcome else {
        panic!("not an error")
    };
    assert_eq!(error.code, ErrorCode::NotAllowedInSession);
}

// Typed results decode strictly and re-encode to the same object.
#[test]
fn typed_results_round_trip() {
    let cases = [
        (
            CommandName::JoinRoom,
            json!({"selfId": "p-1", "resumeToken": "rt-1", "roleName": "host",
                   "clientClaim": "rt-1", "breakoutGroup": {"id": "s-1", "name": "Session 1"},
                   "room": room_view(), "breakout": host_breakout_view(),
                   "chatHistory": [chat_message()]}),
        ),
        (
            CommandName::JoinRoom,
            json!({"selfId": "p-1", "resumeToken": "rt-1", "roleName": "visitor",
                   "clientClaim": "rt-1", "breakoutGroup": null,
                   "room": room_view(), "breakout": host_breakout_view(), "chatHistory": [],
                   "iceServers": [
                       {"urls": ["turn:turn.example.com:3478?transport=udp",
                                 "turns:turn.example.com:443?transport=tcp"],
                        "username": "1714564800:p-1",
                        "credential": "vs8zoigdHJ3iDq1elVuVv93kY1Q="},
                       {"urls": ["stun:stun.example.com:3478"]}]}),
        ),
        (CommandName::GetRoomState, room_state()),
        (
            CommandName::Resume,
            json!({"selfId": "p-1", "location": "s-1",
                   "breakoutGroup": {"id": "s-1", "name": "Session 1"},
                   "breakout": host_breakout_view(), "replayed": true}),
        ),
        (CommandName::SetLock, json!({"changed": false})),
        (CommandName::StartScreenshare, json!({"streamId": "ss-2"})),
        (
            CommandName::SendChatMessage,
            json!({"messageId": "01HX0000000000000000000001", "timestamp": "2024-05-01T12:00:02.000Z"}),
        ),
        (
            CommandName::BreakoutGet,
            json!({"breakout": visitor_breakout_view()}),
        ),
        (
            CommandName::BreakoutGet,
            json!({"breakout": host_breakout_view(), "editLockError": "edit_locked"}),
        ),
        (
            CommandName::BreakoutCreateSessions,
            json!({"sessions": [{"id": "s-4", "name": "Session 4"}]}),
        ),
        (
            CommandName::BreakoutAssign,
            json!({"changed": ["p-2", "p-3"]}),
        ),
        (
            CommandName::BreakoutAutoAssign,
            json!({"assignments": [{"participantId": "p-2", "sessionId": "s-1"}]}),
        ),
        (
            CommandName::BreakoutStart,
            json!({"runId": 3, "startedAt": "2024-05-01T12:00:00.000Z", "autoEndAt": null,
                   "skipped": ["p-7"]}),
        ),
        (
            CommandName::BreakoutEnd,
            json!({"closingEndsAt": "2024-05-01T12:01:00.000Z"}),
        ),
        (
            CommandName::BreakoutEnd,
            json!({"changed": false, "closingEndsAt": "2024-05-01T12:01:00.000Z"}),
        ),
        (
            CommandName::BreakoutExtendAutoEnd,
            json!({"autoEndAt": "2024-05-01T12:40:00.000Z"}),
        ),
        (CommandName::BreakoutBroadcast, json!({"deliveredTo": 0})),
        (
            CommandName::BreakoutEditLockAcquire,
            json!({"token": "t-1", "ttl": 30, "expiresAt": "2024-05-01T12:00:30.000Z"}),
        ),
        (
            CommandName::BreakoutEditLockRefresh,
            json!({"expiresAt": "2024-05-01T12:01:00.000Z"}),
        ),
        (CommandName::PublisherOffer, json!({"sdp": "v=0\r\n"})),
        (CommandName::LeaveRoom, json!({})),
    ];
    for (name, result) in cases {
        let typed = CommandResult::decode(name, result.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{result}"));
        assert_eq!(typed.command(), name);
        let response = Response::ok(ReqId::from("r"), &typed);
        let frame: Value =
            serde_json::from_str(&encode_server_message(&ServerMessage::Response(response)))
                .unwrap();
        assert_eq!(frame["result"], result, "{name}");
    }
}

// A result with a field its command does not define is refused.
#[test]
fn result_with_unknown_field_is_refused() {
    assert!(CommandResult::decode(
        CommandName::BreakoutBroadcast,
        json!({"deliveredTo": 1, "x": 1})
    )
    .is_err());
    assert!(CommandResult::decode(CommandName::LeaveRoom, json!({"changed": false})).is_err());
}

// Error responses carry typed details the client can read back.
#[test]
fn typed_error_details_round_trip() {
    let error = ErrorBody::with_details(
        ErrorCode::RateLimited,
        "slow down",
        &RateLimitedDetails {
            retry_after_ms: 4200,
        },
    );
    let frame = encode_server_message(&ServerMessage::Response(Response::err(
        Some(ReqId::from("c-9")),
        error,
    )));
    assert_eq!(
        serde_json::from_str::<Value>(&frame).unwrap(),
        json!({"type": "response", "reqId": "c-9", "ok": false,
               "error": {"code": "rate_limited", "message": "slow down",
                         "details": {"retryAfterMs": 4200}}})
    );
    let ServerMessage::Response(Response {
        outcome: Outcome::Err(body),
        ..
    }) = decode_server_frame(&frame).unwrap()
    else {
        panic!("not an error response")
    };
    assert_eq!(
        body.details_as::<RateLimitedDetails>(),
        Some(RateLimitedDetails {
            retry_after_ms: 4200
        })
    );
    let locked = ErrorBody::with_details(
        ErrorCode::RoomLocked,
        "knock",
        &RoomLockedDetails {
            self_id: ParticipantId::from("p-9"),
            is_locked: true,
        },
    );
    assert_eq!(
        serde_json::to_value(&locked).unwrap()["details"],
        json!({"selfId": "p-9", "isLocked": true})
    );
}

// Server frames are decoded as strictly as client frames.
#[test]
fn server_frames_reject_unknown_fields_and_bad_shapes() {
    for bad in [
        json!({"type": "event", "name": "room_left", "seq": 1, "ts": "2024-05-01T12:00:00Z", "data": {}, "x": 1}),
        json!({"type": "event", "name": "room_left", "seq": 1, "ts": "2024-05-01T12:00:00Z", "data": {"x": 1}}),
        json!({"type": "event", "name": "no_such_event", "seq": 1, "ts": "2024-05-01T12:00:00Z", "data": {}}),
        json!({"type": "event", "name": "room_left", "seq": 1, "ts": "yesterday", "data": {}}),
        json!({"type": "event", "name": "room_left", "seq": "1", "ts": "2024-05-01T12:00:00Z", "data": {}}),
        json!({"type": "response", "reqId": "1", "ok": true}),
        json!({"type": "response", "reqId": "1", "ok": true, "result": {}, "error": {"code": "forbidden", "message": ""}}),
        json!({"type": "response", "reqId": "1", "ok": false, "error": {"code": "nope", "message": ""}}),
        json!({"type": "command", "name": "x", "reqId": "1"}),
    ] {
        assert!(
            decode_server_frame(&bad.to_string()).is_err(),
            "accepted {bad}"
        );
    }
}
