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
mod peer;
mod room_id;
mod rtcp_tally;
mod shard_loop;
mod speakers;
mod stats;
mod transport;
mod uplink;

use std::net::{IpAddr, SocketAddr};

pub use command::{AnnouncedTrack, Preference, Subscribed, SubscriberOffer};
pub use error::ShardError;
pub use event::{ForwardingChange, ShardEvent};
pub use fixed_histogram::{
    FixedHistogram, BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
pub use handle::ShardHandle;
pub use room_id::RoomId;
pub use shard_loop::spawn;
pub use stats::{
    layer_switch_reason, publication_kind, RtcpTotals, ShardStats, LAYER_SWITCH_REASONS,
    PUBLICATION_KINDS,
};
pub use transport::Transport;

use crate::config::Config;
use crate::core::CoreConfig;

/// How a shard is set up.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// The media UDP address to bind (port 0: an ephemeral one, DECISIONS.md §13).
    pub bind: SocketAddr,
    /// The address advertised in the host candidate, with the bound port.
    pub public_ip: IpAddr,
    pub core: CoreConfig,
    /// Commands waiting for the shard before callers are made to wait.
    pub command_capacity: usize,
    /// Events waiting for the async side before the shard drops (and counts) them.
    pub event_capacity: usize,
    /// The first downlink bandwidth estimate, in bits per second, before TWCC feedback.
    pub initial_estimate_bps: u64,
    /// What downlink bandwidth estimation probes towards, in bits per second.
    pub desired_bitrate_bps: u64,
    /// Accept datagrams only from loopback addresses. On by default when the advertised
    /// address is loopback: such a server has no business answering anyone else, and a peer
    /// that pairs another local interface with 127.0.0.1 (REAL-PEERS.md) would otherwise make
    /// it send off loopback.
    pub loopback_only: bool,
}

impl ShardConfig {
    pub fn new(bind: SocketAddr, public_ip: IpAddr) -> ShardConfig {
        ShardConfig {
            bind,
            public_ip,
            core: CoreConfig::default(),
            command_capacity: 256,
            event_capacity: 1024,
            initial_estimate_bps: 1_000_000,
            desired_bitrate_bps: 3_000_000,
            loopback_only: public_ip.is_loopback(),
        }
    }

    /// Shard `index` of the server: port `--rtc-port + index` (or ephemeral with port 0) on
    /// the public IP (ARCHITECTURE.md §2, "Ports").
    pub fn from_config(config: &Config, index: u16) -> ShardConfig {
        let port = if config.rtc_port == 0 {
            0
        } else {
            config.rtc_port.saturating_add(index)
        };
        ShardConfig::new(SocketAddr::new(config.public_ip, port), config.public_ip)
    }
}
