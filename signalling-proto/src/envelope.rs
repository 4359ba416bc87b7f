//! The message envelope (spec §6.2, §6.3): client commands, server responses and events, and the
//! functions that turn WebSocket text frames into them and back.

use crate::argument_error::ArgumentError;
use crate::{
    ArgumentReason, Command, CommandName, CommandResult, ErrorBody, ErrorCode, Event, EventName,
    InvalidArgumentDetails, ReqId, Timestamp,
};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Frames above this size close the connection with [`CLOSE_MESSAGE_TOO_BIG`] (spec §3).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// WebSocket close code for an oversize frame (RFC 6455 §7.4.1, spec §3).
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

/// A client → server frame: `{"type": "command", "name", "reqId", "args"}` (spec §6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMessage {
    pub req_id: ReqId,
    pub command: Command,
}

/// A server → client frame.
// Events are the frequent variant; boxing them would allocate for the common case to shrink a
// value that only lives between building and encoding one frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Exactly one per command, correlated by `reqId`.
    Response(Response),
    /// `{"type": "event", "name", "seq", "ts", "data"}`.
    Event(EventMessage),
}

/// `{"type": "response", "reqId", "ok", "result" | "error"}` (spec §6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `null` only when the frame's `reqId` could not be read (`invalid_request`).
    pub req_id: Option<ReqId>,
    pub outcome: Outcome,
}

/// `ok: true` with a `result` object, or `ok: false` with an `error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The `result` object; decode it with [`CommandResult::decode`].
    Ok(Map<String, Value>),
    Err(ErrorBody),
}

/// An event frame (spec §6.3).
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage {
    /// Per connection, +1 per delivered event, 1 after `room_joined`. Absent on events to a
    /// knocker (spec §8.2).
    pub seq: Option<u64>,
    pub ts: Timestamp,
    pub event: Event,
}

impl Response {
    /// A success response with a typed result.
    pub fn ok(req_id: ReqId, result: &CommandResult) -> Self {
        Self {
            req_id: Some(req_id),
            outcome: Outcome::Ok(result.to_object()),
        }
    }

    /// A failure response.
    pub fn err(req_id: Option<ReqId>, error: ErrorBody) -> Self {
        Self {
            req_id,
            outcome: Outcome::Err(error),
        }
    }
}

/// Why a client frame could not be decoded into a [`ClientMessage`]: the error response the
/// server sends back (spec §6.2), with the `reqId` when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub req_id: Option<ReqId>,
    pub error: ErrorBody,
}

impl DecodeError {
    fn invalid_request(req_id: Option<ReqId>, message: impl Into<String>) -> Self {
        Self {
            req_id,
            error: ErrorBody::new(ErrorCode::InvalidRequest, message),
        }
    }

    fn invalid_argument(req_id: ReqId, details: &InvalidArgumentDetails, message: String) -> Self {
        Self {
            req_id: Some(req_id),
            error: ErrorBody::invalid_argument(details, message),
        }
    }

    /// The error code: `invalid_request`, `unknown_command` or `invalid_argument`.
    pub fn code(&self) -> ErrorCode {
        self.error.code
    }

    /// `invalid_argument` details, if that is the code.
    pub fn argument_details(&self) -> Option<InvalidArgumentDetails> {
        (self.error.code == ErrorCode::InvalidArgument)
            .then(|| self.error.details_as())
            .flatten()
    }

    /// The response to send back.
    pub fn to_response(&self) -> Response {
        Response::err(self.req_id.clone(), self.error.clone())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error.code, self.error.message)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one client text frame, classifying failures the way spec §6.2 answers them:
///
/// * not JSON, not an object, `type` ≠ `"command"`, `reqId` not a string, `name` not a string,
///   or an unknown envelope field → `invalid_request` (with the `reqId` if it was a string,
///   else `null`);
/// * `name` not a command → `unknown_command`;
/// * `args` (absent means `{}`) not an object, a field missing, mistyped, unknown or out of a
///   range the spec states exactly → `invalid_argument` with `details {field, reason}`.
///
/// The frame size limit ([`MAX_FRAME_BYTES`]) is the transport's to enforce before this.
pub fn decode_client_frame(text: &str) -> Result<ClientMessage, DecodeError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| DecodeError::invalid_request(None, format!("frame is not JSON: {e}")))?;
    ClientMessage::from_value(&value)
}

/// Encodes a server message as one text frame.
pub fn encode_server_message(message: &ServerMessage) -> String {
    to_json(message)
}

/// Encodes a client message as one text frame (for clients and tests).
pub fn encode_client_message(message: &ClientMessage) -> String {
    to_json(message)
}

/// Decodes a server text frame (for clients and tests). Strict like everything else: unknown
/// fields and wrong types are errors.
pub fn decode_server_frame(text: &str) -> Result<ServerMessage, serde_json::Error> {
    serde_json::from_str(text)
}

fn to_json<T: Serialize>(message: &T) -> String {
    match serde_json::to_string(message) {
        Ok(text) => text,
        // Our Serialize impls write only string-keyed maps and plain values, which serde_json
        // cannot fail on; an empty object keeps the contract "one JSON object per frame".
        Err(_) => "{}".to_owned(),
    }
}

impl ClientMessage {
    /// Decodes an already parsed frame; see [`decode_client_frame`].
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        let Value::Object(envelope) = value else {
            return Err(DecodeError::invalid_request(
                None,
                "frame is not a JSON object",
            ));
        };
        let req_id = match envelope.get("reqId") {
            Some(Value::String(id)) => Some(ReqId(id.clone())),
            _ => None,
        };
        if let Some(key) = envelope
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "name" | "reqId" | "args"))
        {
            return Err(DecodeError::invalid_request(
                req_id,
                format!("unknown envelope field `{key}`"),
            ));
        }
        if envelope.get("type").and_then(Value::as_str) != Some("command") {
            return Err(DecodeError::invalid_request(
                req_id,
                "`type` must be \"command\"",
            ));
        }
        let Some(req_id) = req_id else {
            return Err(DecodeError::invalid_request(
                None,
                "`reqId` must be a string",
            ));
        };
        let Some(name) = envelope.get("name").and_then(Value::as_str) else {
            return Err(DecodeError::invalid_request(
                Some(req_id),
                "`name` must be a string",
            ));
        };
        let Some(command_name) = CommandName::from_wire(name) else {
            return Err(DecodeError {
                req_id: Some(req_id),
                error: ErrorBody::new(
                    ErrorCode::UnknownCommand,
                    format!("unknown command `{name}`"),
                ),
            });
        };
        let no_args = Value::Object(Map::new());
        let args = match envelope.get("args") {
            None => &no_args,
            Some(args @ Value::Object(_)) => args,
            Some(_) => {
                let details = InvalidArgumentDetails::new("args", ArgumentReason::Type);
                return Err(DecodeError::invalid_argument(
                    req_id,
                    &details,
                    "args: must be an object".to_owned(),
                ));
            }
        };
        let command = Command::decode_args(command_name, args).map_err(|e: ArgumentError| {
            DecodeError::invalid_argument(req_id.clone(), &e.details(), e.to_string())
        })?;
        if let Err(details) = command.check_arguments() {
            let message = details.describe();
            return Err(DecodeError::invalid_argument(req_id, &details, message));
        }
        Ok(ClientMessage { req_id, command })
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("type", "command")?;
        map.serialize_entry("name", self.command.name().as_str())?;
        map.serialize_entry("reqId", &self.req_id)?;
        self.command.serialize_args(&mut map)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        ClientMessage::from_value(&value).map_err(D::Error::custom)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            ServerMessage::Response(response) => {
                map.serialize_entry("type", "response")?;
                map.serialize_entry("reqId", &response.req_id)?;
                match &response.outcome {
                    Outcome::Ok(result) => {
                        map.serialize_entry("ok", &true)?;
                        map.serialize_entry("result", result)?;
                    }
                    Outcome::Err(error) => {
                        map.serialize_entry("ok", &false)?;
                        map.serialize_entry("error", error)?;
                    }
                }
            }
            ServerMessage::Event(event) => {
                map.serialize_entry("type", "event")?;
                map.serialize_entry("name", event.event.name().as_str())?;
                if let Some(seq) = event.seq {
                    map.serialize_entry("seq", &seq)?;
                }
                map.serialize_entry("ts", &event.ts)?;
                event.event.serialize_data(&mut map)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        server_message_from_value(value).map_err(D::Error::custom)
    }
}

fn server_message_from_value(value: Value) -> Result<ServerMessage, String> {
    let Value::Object(mut envelope) = value else {
        return Err("frame is not a JSON object".to_owned());
    };
    let kind = envelope.remove("type");
    match kind.as_ref().and_then(Value::as_str) {
        Some("response") => response_from_map(envelope).map(ServerMessage::Response),
        Some("event") => event_from_map(envelope).map(ServerMessage::Event),
        _ => Err("`type` must be \"response\" or \"event\"".to_owned()),
    }
}

fn reject_unknown(envelope: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match envelope.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("unknown envelope field `{key}`")),
        None => Ok(()),
    }
}

fn response_from_map(mut envelope: Map<String, Value>) -> Result<Response, String> {
    reject_unknown(&envelope, &["reqId", "ok", "result", "error"])?;
    let req_id = match envelope.remove("reqId") {
        Some(Value::String(id)) => Some(ReqId(id)),
        Some(Value::Null) => None,
        _ => return Err("`reqId` must be a string or null".to_owned()),
    };
    let outcome =
        match (
            envelope.remove("ok"),
            envelope.remove("result"),
            envelope.remove("error"),
        ) {
            (Some(Value::Bool(true)), Some(Value::Object(result)), None) => Outcome::Ok(result),
            (Some(Value::Bool(false)), None, Some(error)) => {
                Outcome::Err(serde_json::from_value(error).map_err(|e| format!("error: {e}"))?)
            }
            _ => return Err(
                "a response has `ok: true` with a `result` object or `ok: false` with an `error`"
                    .to_owned(),
            ),
        };
    Ok(Response { req_id, outcome })
}

fn event_from_map(mut envelope: Map<String, Value>) -> Result<EventMessage, String> {
    reject_unknown(&envelope, &["name", "seq", "ts", "data"])?;
    let name = match envelope.remove("name") {
        Some(Value::String(name)) => name,
        _ => return Err("`name` must be a string".to_owned()),
    };
    let name = EventName::from_wire(&name).ok_or_else(|| format!("unknown event `{name}`"))?;
    let seq = match envelope.remove("seq") {
        None => None,
        Some(seq) => Some(serde_json::from_value(seq).map_err(|e| format!("seq: {e}"))?),
    };
    let ts = serde_json::from_value(envelope.remove("ts").ok_or("missing `ts`")?)
        .map_err(|e| format!("ts: {e}"))?;
    let data = envelope.remove("data").ok_or("missing `data`")?;
    let event = Event::decode(name, data).map_err(|e| format!("{name}: {e}"))?;
    Ok(EventMessage { seq, ts, event })
}
