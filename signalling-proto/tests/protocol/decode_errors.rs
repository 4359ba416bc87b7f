//! How `decode_client_frame` classifies bad frames into the spec's error codes and details
//! (spec §3, §6.2, §6.6, §14).

use serde_json::{json, Value};
use signalling_proto::*;

fn decode_err(frame: &str) -> DecodeError {
    match decode_client_frame(frame) {
        Ok(message) => panic!("accepted {frame}: {message:?}"),
        Err(e) => e,
    }
}

fn args_err(name: &str, args: Value) -> InvalidArgumentDetails {
    let frame = json!({"type": "command", "name": name, "reqId": "r-1", "args": args});
    let err = decode_err(&frame.to_string());
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert_eq!(err.req_id, Some(ReqId::from("r-1")));
    err.argument_details()
        .expect("invalid_argument carries details")
}

fn response_json(err: &DecodeError) -> Value {
    serde_json::from_str(&encode_server_message(&ServerMessage::Response(
        err.to_response(),
    )))
    .unwrap()
}

// Malformed JSON is invalid_request with reqId null (spec §6.2, §14 #70).
#[test]
fn not_json_is_invalid_request_with_null_req_id() {
    let err = decode_err(r#"{"type": "command", "name": "#);
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    assert_eq!(err.req_id, None);
    let response = response_json(&err);
    assert_eq!(response["reqId"], Value::Null);
    assert_eq!(response["ok"], json!(false));
    assert_eq!(response["error"]["code"], "invalid_request");
}

// JSON that is not an envelope is invalid_request too.
#[test]
fn non_envelopes_are_invalid_request() {
    for frame in [
        "[]",
        "42",
        "null",
        r#""join_room""#,
        r#"{"name": "leave_room", "reqId": "1"}"#,
        r#"{"type": "event", "name": "leave_room", "reqId": "1"}"#,
        r#"{"type": "command", "reqId": "1"}"#,
        r#"{"type": "command", "name": 7, "reqId": "1"}"#,
        r#"{"type": "command", "name": "leave_room", "reqId": "1", "extra": true}"#,
    ] {
        assert_eq!(
            decode_err(frame).code(),
            ErrorCode::InvalidRequest,
            "{frame}"
        );
    }
}

// Without a readable reqId the error cannot be correlated: reqId null. With one, it is echoed.
#[test]
fn missing_or_mistyped_req_id_gives_null_req_id() {
    for frame in [
        r#"{"type": "command", "name": "leave_room"}"#,
        r#"{"type": "command", "name": "leave_room", "reqId": 17}"#,
        r#"{"type": "command", "name": "leave_room", "reqId": null}"#,
    ] {
        let err = decode_err(frame);
        assert_eq!(err.code(), ErrorCode::InvalidRequest, "{frame}");
        assert_eq!(err.req_id, None, "{frame}");
    }
    let err = decode_err(r#"{"type": "command", "reqId": "c-3"}"#);
    assert_eq!(err.req_id, Some(ReqId::from("c-3")));
}

// An unknown command name is unknown_command, with the reqId echoed (spec §14 #70).
#[test]
fn unknown_command_is_classified_and_keeps_req_id() {
    let err =
        decode_err(r#"{"type": "command", "name": "fly_to_moon", "reqId": "c-8", "args": {}}"#);
    assert_eq!(err.code(), ErrorCode::UnknownCommand);
    assert_eq!(err.req_id, Some(ReqId::from("c-8")));
    assert_eq!(response_json(&err)["reqId"], "c-8");
}

// Unknown fields in args are invalid_argument {reason: unknown_field} naming the field (§3).
#[test]
fn unknown_field_is_named() {
    let details = args_err(
        "breakout_join",
        json!({"sessionId": "s-1", "sessoinId": "s-1"}),
    );
    assert_eq!(details.field, "sessoinId");
    assert_eq!(details.reason, ArgumentReason::UnknownField);
    let nested = args_err(
        "breakout_configure",
        json!({"config": {"countdownTimer": 5, "colour": "red"}}),
    );
    assert_eq!(nested.field, "config.colour");
    assert_eq!(nested.reason, ArgumentReason::UnknownField);
    let no_args_expected = args_err("leave_room", json!({"now": true}));
    assert_eq!(no_args_expected.field, "now");
}

// A string "true" for a boolean is invalid_argument {reason: type} (spec §3).
#[test]
fn string_for_boolean_is_a_type_error() {
    let details = args_err("set_lock", json!({"locked": "true"}));
    assert_eq!(details.field, "locked");
    assert_eq!(details.reason, ArgumentReason::Type);
}

// A float 60.0 (or 60.5) for an integer is invalid_argument {reason: type} (spec §3, §14 #37).
#[test]
fn float_for_integer_is_a_type_error() {
    for value in [json!(60.0), json!(60.5)] {
        let details = args_err(
            "breakout_configure",
            json!({"config": {"countdownTimer": value}}),
        );
        assert_eq!(details.field, "config.countdownTimer");
        assert_eq!(details.reason, ArgumentReason::Type);
    }
    let string = args_err(
        "breakout_configure",
        json!({"config": {"countdownTimer": "60"}}),
    );
    assert_eq!(string.reason, ArgumentReason::Type);
}

// A negative or oversized integer is refused, naming the field (spec §14 #37).
#[test]
fn out_of_range_integers_are_refused() {
    let negative = args_err(
        "breakout_configure",
        json!({"config": {"countdownTimer": -1}}),
    );
    assert_eq!(negative.field, "config.countdownTimer");
    assert_eq!(
        (negative.reason, negative.min),
        (ArgumentReason::BelowMinimum, Some(0))
    );
    let too_big = args_err(
        "breakout_configure",
        json!({"config": {"countdownTimer": 301}}),
    );
    assert_eq!(too_big.reason, ArgumentReason::AboveMaximum);
    assert_eq!(too_big.max, Some(300));
    let auto_end = args_err(
        "breakout_start",
        json!({"config": {"automaticallyEndBreakoutsAfter": 120}}),
    );
    assert_eq!(auto_end.reason, ArgumentReason::BelowMinimum);
    assert_eq!(auto_end.min, Some(300));
    let extend = args_err("breakout_extend_auto_end", json!({"seconds": 59}));
    assert_eq!(
        (extend.field.as_str(), extend.reason),
        ("seconds", ArgumentReason::BelowMinimum)
    );
}

// A missing required field is invalid_argument {reason: missing}; a required nullable field
// (`target`, `reaction`) must be present even though it may be null.
#[test]
fn missing_fields_are_named() {
    let text = args_err("send_chat_message", json!({}));
    assert_eq!(
        (text.field.as_str(), text.reason),
        ("text", ArgumentReason::Missing)
    );
    let target = args_err("breakout_move", json!({"participantIds": ["p-1"]}));
    assert_eq!(
        (target.field.as_str(), target.reason),
        ("target", ArgumentReason::Missing)
    );
    let reaction = args_err("set_sticky_reaction", json!({}));
    assert_eq!(reaction.field, "reaction");
    let assignment = args_err(
        "breakout_assign",
        json!({"assignments": [{"participantIds": ["p"]}]}),
    );
    assert_eq!(assignment.field, "assignments[0].sessionId");
    assert_eq!(assignment.reason, ArgumentReason::Missing);
}

// Errors deep inside arrays name the element (`tracks[1].layers[0].width`).
#[test]
fn paths_name_array_elements() {
    let details = args_err(
        "publish_tracks",
        json!({"tracks": [
            {"mid": "0", "source": "microphone"},
            {"mid": "1", "source": "camera", "layers": [
                {"rid": "q", "width": "320", "height": 180, "maxBitrate": 150000}
            ]}
        ]}),
    );
    assert_eq!(details.field, "tracks[1].layers[0].width");
    assert_eq!(details.reason, ArgumentReason::Type);
}

// Unknown enum values are invalid_value (spec §14 #38).
#[test]
fn unknown_enum_value_is_invalid_value() {
    let details = args_err(
        "breakout_configure",
        json!({"config": {"assignmentMethod": "random"}}),
    );
    assert_eq!(details.field, "config.assignmentMethod");
    assert_eq!(details.reason, ArgumentReason::InvalidValue);
    let source = args_err(
        "publish_tracks",
        json!({"tracks": [{"mid": "0", "source": "screenshare-audio"}]}),
    );
    assert_eq!(source.field, "tracks[0].source");
}

// `args` that is not an object, and a struct given as an array, are type errors.
#[test]
fn wrong_container_types_are_type_errors() {
    let frame = r#"{"type": "command", "name": "set_lock", "reqId": "1", "args": [true]}"#;
    let details = decode_err(frame).argument_details().unwrap();
    assert_eq!(
        (details.field.as_str(), details.reason),
        ("args", ArgumentReason::Type)
    );
    let nested = args_err(
        "join_room",
        json!({
            "roomName": "r", "capabilities": [true, true], "media": {"audio": true, "video": true}
        }),
    );
    assert_eq!(
        (nested.field.as_str(), nested.reason),
        ("capabilities", ArgumentReason::Type)
    );
}

// A credential must be exactly one of its three forms.
#[test]
fn credential_with_two_forms_or_an_unknown_form_is_refused() {
    let base = |credential: Value| {
        json!({"roomName": "r", "credential": credential,
               "capabilities": {"breakouts": true, "screenshare": true},
               "media": {"audio": true, "video": true}})
    };
    let two = args_err("join_room", base(json!({"token": "a", "grant": "b"})));
    assert_eq!(two.field, "credential");
    let unknown = args_err("join_room", base(json!({"password": "a"})));
    assert_eq!(unknown.field, "credential");
    let wrong_type = args_err("join_room", base(json!({"token": 5})));
    assert_eq!(
        (wrong_type.field.as_str(), wrong_type.reason),
        ("credential.token", ArgumentReason::Type)
    );
}

// Field combinations and list sizes the spec fixes (§8.1, §8.2, §8.3, §8.7, §14 #68).
#[test]
fn argument_rules_of_the_spec() {
    let join = |extra: Value| {
        let mut args = json!({"roomName": "r", "capabilities": {"breakouts": true, "screenshare": true},
                              "media": {"audio": true, "video": true}});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };
    assert_eq!(
        args_err("join_room", join(json!({"selfId": "p-1"}))).field,
        "selfId"
    );
    assert_eq!(
        args_err("join_room", join(json!({"roomName": "Bad Room"}))).reason,
        ArgumentReason::InvalidChars
    );
    assert_eq!(
        args_err(
            "handle_knock",
            json!({"participantId": "p", "action": "hold", "targetSessionId": "s"})
        )
        .field,
        "targetSessionId"
    );
    let empty = args_err(
        "request_audio_enable",
        json!({"participantIds": [], "enable": false}),
    );
    assert_eq!(empty.reason, ArgumentReason::Empty);
    let ids: Vec<String> = (0..201).map(|i| format!("p-{i}")).collect();
    let many = args_err(
        "request_video_enable",
        json!({"participantIds": ids, "enable": false}),
    );
    assert_eq!(
        (many.reason, many.max),
        (ArgumentReason::TooMany, Some(200))
    );
    assert_eq!(
        args_err("breakout_create_sessions", json!({})).reason,
        ArgumentReason::Missing
    );
    assert_eq!(
        args_err(
            "breakout_create_sessions",
            json!({"count": 2, "sessions": [{}]})
        )
        .field,
        "count"
    );
    assert_eq!(
        args_err("breakout_create_sessions", json!({"count": 101})).reason,
        ArgumentReason::AboveMaximum
    );
    assert_eq!(
        args_err(
            "breakout_assign",
            json!({"assignments": [
                {"sessionId": "s-1", "participantIds": ["p-1"]},
                {"sessionId": "s-2", "participantIds": ["p-1"]}
            ]})
        )
        .field,
        "assignments[1].participantIds[0]"
    );
    assert_eq!(
        args_err("breakout_end", json!({"delayCloseTime": 301})).field,
        "delayCloseTime"
    );
    assert_eq!(
        args_err(
            "publish_tracks",
            json!({"tracks": [{"mid": "2", "source": "screenshare"}]})
        )
        .field,
        "tracks[0].streamId"
    );
    assert_eq!(
        args_err("set_subscription_preferences", json!({"preferences": [
            {"participantId": "p", "streamId": "camera", "maxLayer": {"spatial": 0, "temporal": 0},
             "targetSize": {"width": 1, "height": 1}}
        ]}))
        .field,
        "preferences[0].targetSize"
    );
    let long_id = "x".repeat(65);
    assert_eq!(
        args_err(
            "send_chat_message",
            json!({"text": "hi", "clientMsgId": long_id})
        )
        .reason,
        ArgumentReason::TooLong
    );
}

// The invalid_argument response carries the spec's details object.
#[test]
fn invalid_argument_response_shape() {
    let err = decode_err(
        r#"{"type":"command","name":"set_lock","reqId":"c-2","args":{"locked":"true"}}"#,
    );
    let response = response_json(&err);
    assert_eq!(response["reqId"], "c-2");
    assert_eq!(response["error"]["code"], "invalid_argument");
    assert_eq!(
        response["error"]["details"],
        json!({"field": "locked", "reason": "type"})
    );
}

// Messages are plain words for a client developer: never an internal enum name (`InvalidValue`,
// `AboveMaximum`) or a Rust type (`u32`); range errors name the bound.
#[test]
fn messages_are_plain_words() {
    let message = |name: &str, args: Value| {
        let frame = json!({"type": "command", "name": name, "reqId": "r-1", "args": args});
        decode_err(&frame.to_string()).error.message
    };
    let cases = [
        (
            message("breakout_configure", json!({"config": {"countdownTimer": 301}})),
            "config.countdownTimer: must be at most 300",
        ),
        (
            message("breakout_configure", json!({"config": {"countdownTimer": -1}})),
            "config.countdownTimer: must be at least 0",
        ),
        (
            message("join_room", json!({"roomName": "", "capabilities": {"breakouts": true, "screenshare": true}, "media": {"audio": true, "video": true}})),
            "roomName: must not be empty",
        ),
        (
            message("breakout_join", json!({"sessionId": "s".repeat(65)})),
            "sessionId: is too long (at most 64)",
        ),
        (
            message("set_subscription_preferences", json!({"preferences": [{"participantId": "p1", "streamId": "camera", "priority": 256}]})),
            "preferences[0].priority: must be at most 255",
        ),
        (
            message("breakout_configure", json!({"config": {"countdownTimer": 60.5}})),
            "config.countdownTimer: invalid type: floating point `60.5`, expected a whole number, 0 or more",
        ),
    ];
    for (actual, expected) in cases {
        assert_eq!(actual, expected);
    }
}

// §14 #4: an empty or over-long session id is an argument error in every command that takes
// one, naming the field; 64 bytes is still a well-formed id.
#[test]
fn empty_or_long_session_ids_are_invalid_argument() {
    let long = "s".repeat(65);
    for value in [json!(""), json!(long)] {
        for (name, args, field) in [
            ("breakout_join", json!({"sessionId": value}), "sessionId"),
            ("breakout_monitor", json!({"sessionId": value}), "sessionId"),
            (
                "breakout_delete_session",
                json!({"sessionId": value}),
                "sessionId",
            ),
            (
                "breakout_rename_session",
                json!({"sessionId": value, "name": "A"}),
                "sessionId",
            ),
            (
                "breakout_set_session_open",
                json!({"sessionId": value, "open": true}),
                "sessionId",
            ),
            (
                "breakout_move",
                json!({"participantIds": ["p1"], "target": value}),
                "target",
            ),
            (
                "breakout_broadcast",
                json!({"message": "hi", "sessionId": value}),
                "sessionId",
            ),
            (
                "breakout_assign",
                json!({"assignments": [{"sessionId": "s1"}, {"sessionId": value}]}),
                "assignments[1].sessionId",
            ),
            (
                "handle_knock",
                json!({"participantId": "p1", "action": "accept", "targetSessionId": value}),
                "targetSessionId",
            ),
        ] {
            let details = args_err(name, args);
            let reason = if value == "" {
                ArgumentReason::Empty
            } else {
                ArgumentReason::TooLong
            };
            assert_eq!(
                (details.field.as_str(), details.reason),
                (field, reason),
                "{name}"
            );
        }
    }
    let frame = json!({"type": "command", "name": "breakout_join", "reqId": "r",
                       "args": {"sessionId": "s".repeat(64)}});
    assert!(decode_client_frame(&frame.to_string()).is_ok());
}
