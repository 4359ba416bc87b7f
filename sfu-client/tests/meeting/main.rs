//! The client crate against the real server (issue 20): an in-process `sfu` on 127.0.0.1, and
//! webrtc-rs clients built only from the crate's public API.

mod assistant;
mod client_api;
mod real_vp8;
mod recording;
mod resume;
mod support;
mod transcription;
