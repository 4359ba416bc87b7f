//! Core ids (numbers) ↔ wire ids (opaque strings, spec §3).
//!
//! The control plane mints participants and sessions as numbers so the forwarding policy
//! compares integers; on the wire they are `p<n>` / `s<n>`. Parsing is strict (the rendering of
//! the parsed number must give back the same text), so `p01` or `p+1` are ids that do not exist
//! rather than aliases of `p1`. An empty or over-long session id never gets here: it is
//! `invalid_argument` at the argument check (spec §14 #4).

use crate::core::{self, ParticipantId, SessionId, StreamId};
use signalling_proto as proto;

/// `p<n>` on the wire.
pub fn participant_to_wire(id: ParticipantId) -> proto::ParticipantId {
    proto::ParticipantId(id.to_string())
}

/// The participant a wire id names, if it is one the room could have minted.
pub fn participant_from_wire(id: &proto::ParticipantId) -> Option<ParticipantId> {
    parse_prefixed(id.as_str(), 'p').map(ParticipantId)
}

/// `"camera"` or `"ss-<n>"`.
pub fn stream_to_wire(stream: StreamId) -> proto::StreamId {
    proto::StreamId(stream.to_string())
}

/// The stream a wire id names, if well formed.
pub fn stream_from_wire(id: &proto::StreamId) -> Option<StreamId> {
    let text = id.as_str();
    if text == "camera" {
        return Some(StreamId::Camera);
    }
    let n = text.strip_prefix("ss-")?;
    let value: u32 = n.parse().ok()?;
    (value.to_string() == n).then_some(StreamId::Screenshare(value))
}

pub(crate) fn session_to_wire(id: SessionId) -> proto::SessionId {
    proto::SessionId(id.to_string())
}

/// The session a wire id names, if well formed (`s<n>`).
pub(crate) fn session_from_wire(id: &proto::SessionId) -> Option<SessionId> {
    parse_prefixed(id.as_str(), 's').map(SessionId)
}

pub(crate) fn location_to_wire(location: core::Location) -> proto::Location {
    match location {
        core::Location::Main => proto::Location::Main,
        core::Location::Session(id) => proto::Location::Session(session_to_wire(id)),
    }
}

fn parse_prefixed(text: &str, prefix: char) -> Option<u64> {
    let digits = text.strip_prefix(prefix)?;
    let value: u64 = digits.parse().ok()?;
    (value.to_string() == digits).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wire ids round-trip and aliases of a valid id are refused.
    #[test]
    fn ids_round_trip_strictly() {
        let p = ParticipantId(42);
        assert_eq!(participant_from_wire(&participant_to_wire(p)), Some(p));
        for bad in [
            "p01",
            "p+1",
            "p",
            "",
            "q1",
            "p1 ",
            "p99999999999999999999999",
        ] {
            assert_eq!(participant_from_wire(&bad.into()), None, "{bad}");
        }
        assert_eq!(stream_from_wire(&"camera".into()), Some(StreamId::Camera));
        assert_eq!(
            stream_from_wire(&"ss-3".into()),
            Some(StreamId::Screenshare(3))
        );
        for bad in ["ss-03", "ss-", "Camera", "ss-x"] {
            assert_eq!(stream_from_wire(&bad.into()), None, "{bad}");
        }
    }
}
