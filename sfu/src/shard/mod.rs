//! Media shards: the per-core loops that carry media between real WebRTC peers and the
//! sans-IO [`crate::core::MediaCore`] (ARCHITECTURE.md §2).
//!
//! A shard is one OS thread running a current-thread tokio runtime. It owns one UDP socket,
//! every str0m `Rtc` of the participants placed on it (two per participant: a publisher and a
//! subscriber transport, DECISIONS.md §10) and one `MediaCore` per room placed on it. A packet
//! goes from socket to socket in one loop iteration: str0m decrypts and parses it, the shell
//! maps its SSRC to a publication encoding and builds the core's [`crate::core::RtpIn`], the
//! core decides, and each [`crate::core::Forward`] is written to the subscriber's `Rtc`, which
//! encrypts, paces and sends it. No channel, lock or task wake-up sits on that path.
//!
//! The async side drives a shard through a [`ShardHandle`] (commands with oneshot replies over
//! a bounded channel) and hears from it through [`ShardEvent`]s. Membership and policy
//! decisions belong to the caller; the shard executes them.
//!
//! * `peer`: one `Rtc` and the `catch_unwind` fence around it.
//! * `uplink` / `downlink`: the shell state of the publisher / subscriber transports (SSRC and
//!   mid/rid maps, pending offers) and the packet conversions in each direction.
//! * `shard_loop`: the loop (socket, demux, timers, command handling, the core drain).
//! * `handle`: the public command/event API and the shard's counters.
//! * `fixed_histogram`: the fixed-bucket histograms among those counters; `rtcp_tally`: str0m's
//!   per-stream RTCP stats turned into the shard's totals.

mod command;
mod downlink;
mod error;
mod event;
mod fixed_histogram;
mod handle;
mod participant_state;
mod peer;
mod room;
mod room_id;
mod rtcp_tally;
mod shard_config;
mod shard_loop;
mod speakers;
mod stats;
mod transport;
mod uplink;

pub use command::{AnnouncedTrack, Preference, Subscribed, SubscriberOffer};
pub use error::ShardError;
pub use event::{ForwardingChange, ShardEvent};
pub use fixed_histogram::{
    FixedHistogram, BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
pub use handle::ShardHandle;
pub use room_id::RoomId;
pub use shard_config::ShardConfig;
pub use shard_loop::spawn;
pub use stats::{
    layer_switch_reason, publication_kind, RtcpTotals, ShardStats, LAYER_SWITCH_REASONS,
    PUBLICATION_KINDS,
};
pub use transport::Transport;
