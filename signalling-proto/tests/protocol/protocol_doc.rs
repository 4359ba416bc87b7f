//! PROTOCOL.md stays in step with the crate: it names every command, event and error code, and
//! its example session is made of frames this crate decodes.

use serde_json::Value;
use signalling_proto::*;

const PROTOCOL: &str = include_str!("../../PROTOCOL.md");

fn mentions(name: &str) -> bool {
    PROTOCOL.contains(&format!("`{name}`"))
}

// Every command, event and error code of the crate appears in PROTOCOL.md.
#[test]
fn protocol_md_lists_every_name() {
    let missing: Vec<&str> = CommandName::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(EventName::ALL.iter().map(|e| e.as_str()))
        .chain(ErrorCode::ALL.iter().map(|c| c.as_str()))
        .filter(|name| !mentions(name))
        .collect();
    assert!(
        missing.is_empty(),
        "PROTOCOL.md does not mention {missing:?}"
    );
}

// Each frame of the example session decodes; the malformed `set_lock` is answered exactly as
// the example shows.
#[test]
fn example_session_frames_decode() {
    let lines: Vec<&str> = PROTOCOL
        .lines()
        .filter(|l| l.starts_with("→ ") || l.starts_with("← "))
        .collect();
    assert!(lines.len() > 10, "example session not found");
    let mut open = std::collections::HashMap::new();
    let mut pending_error: Option<DecodeError> = None;
    for line in lines {
        let (arrow, frame) = line.split_at(line.find(' ').unwrap());
        let frame = frame.trim();
        if arrow == "→" {
            match decode_client_frame(frame) {
                Ok(message) => {
                    open.insert(message.req_id.clone(), message.command.name());
                }
                Err(e) => pending_error = Some(e),
            }
            continue;
        }
        let message = decode_server_frame(frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
        if let Some(error) = pending_error.take() {
            let expected: Value = serde_json::from_str(frame).unwrap();
            let actual: Value = serde_json::from_str(&encode_server_message(
                &ServerMessage::Response(error.to_response()),
            ))
            .unwrap();
            assert_eq!(actual, expected);
            continue;
        }
        if let ServerMessage::Response(Response {
            req_id: Some(id),
            outcome: Outcome::Ok(result),
        }) = message
        {
            let command = open[&id];
            CommandResult::decode(command, Value::Object(result))
                .unwrap_or_else(|e| panic!("result of {command}: {e}"));
        }
    }
}
