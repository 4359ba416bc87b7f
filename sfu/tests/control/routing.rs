//! The routing table (`CommandName::handler`): the room actor sends media commands to the
//! shard and the rest to `control::Room`, and the room dispatches every command the table gives
//! it. A command the table routes to the room but the room has no handler for would answer
//! `internal_error` here.

use crate::support::command_samples::{sample_args, typed};
use crate::support::control::*;
use serde_json::json;
use signalling_proto::*;

// A host sends every room command (well-formed sample arguments, or `{}` for those any
// participant may send): whatever the room answers, it is never the dispatch's fallback.
#[test]
fn every_room_command_reaches_a_handler() {
    let mut routed = 0;
    for &name in CommandName::ALL {
        if name.handler() != Handler::Room || name == CommandName::LeaveRoom {
            continue;
        }
        let mut h = Harness::new();
        let (conn, host, _) = h.join("host", Role::Host);
        h.join("guest", Role::Visitor);
        let target = sfu::control::participant_to_wire(host);
        let args = sample_args(name, target.as_str()).unwrap_or_else(|| json!({}));
        let at = h.at(1);
        let result = h.cmd(at, conn, typed(name, &args));
        if let Err(error) = &result {
            assert_ne!(
                error.code,
                ErrorCode::InternalError,
                "{name}: {}",
                error.message
            );
        }
        routed += 1;
    }
    assert!(routed > 40, "only {routed} room commands");
}

// Media commands are the shard's: the room answers them only with the caller check (in
// `authorize_media`), never runs them.
#[test]
fn media_commands_are_not_run_by_the_room() {
    let mut h = Harness::new();
    let (conn, _, _) = h.join("host", Role::Host);
    let mut checked = 0;
    for &name in CommandName::ALL {
        if name.handler() != Handler::Media {
            continue;
        }
        let args = sample_args(name, "p-1").unwrap_or_else(|| json!({}));
        let Ok(command) = decode_client_frame(
            &json!({"type": "command", "name": name.as_str(), "reqId": "r", "args": args})
                .to_string(),
        ) else {
            continue;
        };
        let error = h.cmd(h.at(1), conn, command.command).unwrap_err();
        assert_eq!(error.code, ErrorCode::InternalError, "{name}");
        assert!(h.drain().is_empty(), "{name} had effects");
        checked += 1;
    }
    // publisher_offer, publish_tracks and unpublish_tracks have sample arguments.
    assert!(checked >= 3, "only {checked} media commands checked");
}
