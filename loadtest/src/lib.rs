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

pub mod client_error;
pub mod cpu;
pub mod http_get;
pub mod impair_relay;
pub mod impairment;
pub mod keyframe_feedback;
pub mod link_model;
pub mod location;
pub mod packet_tag;
pub mod participant;
mod peer;
pub use peer::Feedback;
pub mod prom_text;
pub mod publisher;
pub mod quality;
pub mod red;
pub mod report;
pub mod rtx_repair;
pub mod signalling;
pub mod stats;
pub mod subscriber;
pub mod vp8;
pub mod wall_clock;

pub use client_error::ClientError;
pub use participant::{Participant, ParticipantConfig};
pub use publisher::{PublisherConfig, VideoLayer};
pub use subscriber::{SubscriberConfig, SubscriberStats};
