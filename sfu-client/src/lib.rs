//! The Rust client of the SFU (issue 20): the signalling protocol of `signalling-proto` over the
//! `/rtc` WebSocket, and media over webrtc-rs 0.21 (ARCHITECTURE.md §1).
//!
//! A [`Client`] joins a room with a token, keeps the roster and its own location up to date
//! from the server's events (joins, leaves, breakout moves, reconnects and resumes) and hands
//! every event on in order. It publishes audio and video ([`Publisher`]: Opus packets, VP8
//! frames, or ready RTP packets) and receives every participant it may hear as
//! [`MediaFrame`]s: one per Opus packet and one per reassembled VP8 frame, tagged with the
//! sending participant and stream, with the RTP timestamp and, for video, the keyframe flag,
//! which is what a recorder or a transcriber needs.
//!
//! The load tester (`loadtest`) and the end-to-end tests build on the same [`signalling`] and
//! [`peer`] modules: one client implementation.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sfu_client::ClientError> {
//! use sfu_client::{Client, JoinOptions, MediaKind, PublishOptions};
//!
//! let token = sfu_client::signalling::fetch_dev_token(
//!     "ws://127.0.0.1:7880", "standup", "bot-1", "assistant",
//! ).await?;
//! let (client, mut events) = Client::join(JoinOptions::new(
//!     "ws://127.0.0.1:7880", "standup", &token, "Note taker",
//! )).await?;
//! let mut frames = client.take_frames().expect("receiving is on by default");
//! let publisher = client.publish(PublishOptions::audio_only()).await?;
//! tokio::spawn(async move { while let Some(_event) = events.recv().await {} });
//! while let Some(frame) = frames.recv().await {
//!     if frame.kind == MediaKind::Audio {
//!         println!("{} said {} bytes at {}", frame.participant_id, frame.data.len(), frame.rtp_timestamp);
//!     }
//! #   break;
//! }
//! publisher.send_opus(&[0xFC, 0, 0], 960).await?;
//! client.send_chat("thanks, everyone").await?;
//! client.leave().await
//! # }
//! ```
#![warn(missing_docs)]

pub mod client;
pub mod client_error;
pub mod http_get;
pub mod keyframe_feedback;
pub mod media_frame;
pub mod peer;
pub mod publisher;
pub mod receiver;
pub mod recorder;
pub mod red;
pub mod roster;
pub mod rtp_send;
pub mod rtx_repair;
pub mod signalling;
pub mod transcriber;
pub mod vp8_frame;

pub use client::{Client, EventStream, JoinOptions};
pub use client_error::ClientError;
pub use media_frame::{FrameStream, MediaFrame};
pub use publisher::{PublishOptions, Publisher};
pub use roster::Roster;
pub use signalling_proto::{Event, Location, MediaKind, ParticipantId, StreamId};
