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
//! * `reply_source`: the source address of replies from a socket bound to every interface.
//! * `fixed_histogram`: the fixed-bucket histograms among those counters; `rtcp_tally`: str0m's
//!   per-stream RTCP stats turned into the shard's totals.

mod downlink;
mod fixed_histogram;
mod handle;
mod peer;
mod reply_source;
mod rtcp_tally;
mod shard_loop;
mod speakers;
mod uplink;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use fixed_histogram::{
    FixedHistogram, BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
pub use handle::{
    layer_switch_reason, publication_kind, AnnouncedTrack, ForwardingChange, Preference,
    RtcpTotals, ShardError, ShardEvent, ShardHandle, ShardStats, Subscribed, SubscriberOffer,
    LAYER_SWITCH_REASONS, PUBLICATION_KINDS,
};
pub use peer::Transport;
pub use shard_loop::spawn;

use crate::config::Config;
use crate::core::CoreConfig;

/// A room placed on a shard; minted by the caller (the room registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u64);

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// How a shard is set up.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// The media UDP address to bind (port 0: an ephemeral one, DECISIONS.md §13); may be
    /// unspecified (0.0.0.0 / ::) and differ from what is advertised (DECISIONS.md §23).
    pub bind: SocketAddr,
    /// The addresses advertised in host candidates, one candidate each (IPv4 and IPv6).
    pub public_ips: Vec<IpAddr>,
    /// The port advertised with them: the bound port unless a 1:1 NAT maps another one to it.
    pub advertised_port: Option<u16>,
    pub core: CoreConfig,
    /// Commands waiting for the shard before callers are made to wait.
    pub command_capacity: usize,
    /// Events waiting for the async side before the shard drops (and counts) them.
    pub event_capacity: usize,
    /// The first downlink bandwidth estimate, in bits per second, before TWCC feedback.
    pub initial_estimate_bps: u64,
    /// What downlink bandwidth estimation probes towards, in bits per second.
    pub desired_bitrate_bps: u64,
    /// Accept datagrams only from loopback addresses. On by default when every advertised
    /// address is loopback (whatever the bind address): such a server has no business answering anyone else, and a peer
    /// that pairs another local interface with 127.0.0.1 (REAL-PEERS.md) would otherwise make
    /// it send off loopback.
    pub loopback_only: bool,
}

impl ShardConfig {
    pub fn new(bind: SocketAddr, public_ip: IpAddr) -> ShardConfig {
        ShardConfig {
            bind,
            public_ips: vec![public_ip],
            advertised_port: None,
            core: CoreConfig::default(),
            command_capacity: 256,
            event_capacity: 1024,
            initial_estimate_bps: 1_000_000,
            desired_bitrate_bps: 3_000_000,
            loopback_only: public_ip.is_loopback(),
        }
    }

    /// Shard `index` of the server: port `--rtc-port + index` (or ephemeral with port 0) on
    /// `--rtc-bind`, advertising every `--public-ip` with `--rtc-advertised-port + index` when
    /// set (ARCHITECTURE.md §2, "Ports").
    pub fn from_config(config: &Config, index: u16) -> ShardConfig {
        let port = if config.rtc_port == 0 {
            0
        } else {
            config.rtc_port.saturating_add(index)
        };
        let first_ip = config
            .public_ip
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        ShardConfig {
            public_ips: config.public_ip.clone(),
            advertised_port: config
                .rtc_advertised_port
                .map(|first| first.saturating_add(index)),
            loopback_only: config.advertises_only_loopback(),
            ..ShardConfig::new(SocketAddr::new(config.media_bind_ip(), port), first_ip)
        }
    }
}
