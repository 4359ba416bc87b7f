//! Wire types of the SFU's signalling protocol: JSON text frames over one WebSocket per
//! participant. `PROTOCOL.md` beside this crate is the reference; the meeting rules it cites as
//! "spec §N" are summarised in the repository's `docs/control-plane.md`.
//!
//! * Client → server frames are commands: [`ClientMessage`] = `reqId` + [`Command`]. Decode
//!   them with [`decode_client_frame`], which classifies failures into the spec's
//!   `invalid_request` / `unknown_command` / `invalid_argument` (with `details {field, reason}`)
//!   and keeps the `reqId` whenever it could be read ([`DecodeError::to_response`]).
//! * Server → client frames are [`ServerMessage`]s: a [`Response`] per command (typed results
//!   in [`CommandResult`]) or an [`EventMessage`] carrying an [`Event`]. Encode them with
//!   [`encode_server_message`].
//!
//! Decoding is strict everywhere: unknown fields, wrong JSON types (`"true"` for a boolean,
//! `60.0` for an integer) and unknown enum values are errors (spec §3). `PROTOCOL.md` beside
//! this crate is the reference for client authors.
#![forbid(unsafe_code)]

mod admission;
mod args_deserializer;
mod argument_error;
mod argument_rules;
mod breakout;
mod breakout_config;
mod breakout_view;
mod changed;
mod chat;
mod command;
mod empty;
mod envelope;
mod error_body;
mod error_code;
mod event;
mod handler;
mod ice_server;
mod ids;
mod issuer;
mod location;
mod media;
mod moderation;
mod nullable;
mod participant;
mod protocol_schema;
mod recording;
mod role;
mod room;
mod secret;
mod timestamp;

pub use admission::*;
pub use args_deserializer::decode_value;
pub use argument_error::{ArgumentError, ArgumentReason, InvalidArgumentDetails};
pub use argument_rules::{
    MAX_CLIENT_MSG_ID_CHARS, MAX_ID_BYTES, MAX_SESSIONS_PER_CREATE, MAX_TARGETS,
};
pub use breakout::*;
pub use breakout_config::*;
pub use breakout_view::*;
pub use changed::Changed;
pub use chat::*;
pub use command::{Command, CommandName, CommandResult};
pub use empty::Empty;
pub use envelope::*;
pub use error_body::*;
pub use error_code::ErrorCode;
pub use event::{Event, EventName};
pub use handler::Handler;
pub use ice_server::IceServer;
pub use ids::*;
pub use issuer::Issuer;
pub use location::Location;
pub use media::*;
pub use moderation::*;
pub use participant::*;
pub use protocol_schema::protocol_schema;
pub use recording::*;
pub use role::Role;
pub use room::*;
pub use secret::Secret;
pub use timestamp::{InvalidTimestamp, Timestamp};
