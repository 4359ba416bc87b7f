//! The signalling side of the shell: the HTTP endpoints, the `/rtc` WebSocket sessions (one
//! task per socket) and the room actors they talk to (one task per room), ARCHITECTURE.md §2.
//! `unjoined` holds the rules a socket lives under until it joins a room.

pub(crate) mod http;
pub(crate) mod origins;
pub mod recording;
pub mod room_actor;
pub(crate) mod room_media;
pub(crate) mod session;
pub mod transcription;
pub(crate) mod turn_credentials;
pub(crate) mod unjoined;
pub mod web_assets;
