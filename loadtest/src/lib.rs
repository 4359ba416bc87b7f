//! Load tester and synthetic WebRTC participants for the SFU (issue 6).
//!
//! The [`Participant`] is a scriptable client built on webrtc-rs 0.21 (ARCHITECTURE.md §1): a
//! signalling WebSocket ([`signalling`]), a sendonly publisher transport sending synthetic VP8
//! simulcast and Opus-sized audio ([`publisher`]), and a recvonly subscriber transport that
//! measures what arrives ([`subscriber`], [`stats`]). Every media packet carries a
//! [`packet_tag::PacketTag`] (publisher, group, layer, counter, send time), so loss, latency and
//! packets that crossed breakout groups are measured from the packets themselves.
//!
//! The `loadtest` binary runs many participants against one server and writes a report
//! ([`report`]); the server's end-to-end tests use [`Participant`] directly.
//!
//! The protocol client underneath (signalling socket, peer connections, errors) is the
//! `sfu-client` crate's, re-exported here under its old module names (issue 20: one client
//! implementation); this crate adds the synthetic media and the measurements.

pub mod cpu;
pub mod impair_relay;
pub mod impairment;
pub mod link_model;
pub mod location;
pub mod packet_tag;
pub mod participant;
pub mod prom_text;
pub mod publisher;
pub mod quality;
pub mod report;
pub mod stats;
pub mod subscriber;
pub mod vp8;
pub mod wall_clock;

pub use participant::{Participant, ParticipantConfig};
pub use publisher::{PublisherConfig, VideoLayer};
pub use sfu_client::peer::Feedback;
pub use sfu_client::ClientError;
pub use sfu_client::{
    client_error, http_get, keyframe_feedback, peer, red, rtx_repair, signalling,
};
pub use subscriber::{SubscriberConfig, SubscriberStats};
