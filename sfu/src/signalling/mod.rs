//! The signalling side of the shell: the HTTP endpoints and the `/rtc` WebSocket connections
//! (one task per socket), which hand each room's commands to its actor in [`crate::room`]
//! (ARCHITECTURE.md §2). `unjoined` holds the rules a socket lives under until it joins a room.

pub(crate) mod connection;
pub(crate) mod http;
pub(crate) mod origins;
pub(crate) mod unjoined;
pub mod web_assets;
