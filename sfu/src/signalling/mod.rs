//! The signalling side of the shell: HTTP endpoints now; the `/rtc` WebSocket sessions, frame
//! limits and the session tasks follow (ARCHITECTURE.md §2).

pub mod http;
pub mod token;
