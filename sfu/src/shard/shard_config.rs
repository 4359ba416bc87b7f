//! `ShardConfig`: how a shard is set up (its sockets, advertised address, queue sizes, the
//! ICE-TCP limits and the downlink bandwidth estimator's starting points).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::core::CoreConfig;

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
    /// Telemetry events (speaker samples) waiting for the async side before the shard drops
    /// (and counts) them. Control events have their own queue and are never dropped.
    pub event_capacity: usize,
    /// The first downlink bandwidth estimate, in bits per second, before TWCC feedback.
    pub initial_estimate_bps: u64,
    /// What downlink bandwidth estimation probes towards, in bits per second.
    pub desired_bitrate_bps: u64,
    /// Accept datagrams only from loopback addresses. On by default when every advertised
    /// address is loopback (whatever the bind address): such a server has no business
    /// answering anyone else, and a peer that pairs another local interface with 127.0.0.1
    /// (REAL-PEERS.md) would otherwise make it send off loopback.
    pub loopback_only: bool,
    /// ICE-TCP (RFC 6544 passive candidates beside the UDP one); `None`: UDP only.
    pub tcp: Option<TcpMediaConfig>,
}

/// A shard's ICE-TCP listener and the limits on its connections (`shard::tcp_media`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpMediaConfig {
    /// The address to listen on (port 0: an ephemeral one); its port is advertised.
    pub bind: SocketAddr,
    /// Connections the shard holds at most, pending or not (each is a file descriptor and two
    /// small tasks); one more is refused.
    pub max_connections: usize,
    /// Connections one address (an IPv6 /64) may hold before their first STUN request names
    /// a transport; one more is refused. Connections that reached a transport do not count:
    /// a whole office may share one NAT address.
    pub max_pending_per_ip: usize,
    /// How long a new connection may take to send a STUN request that names a transport.
    pub handshake_timeout: Duration,
    /// Frames queued for one connection's writer; a client that stops reading overflows it
    /// and is dropped rather than stalling the shard.
    pub write_queue: usize,
    /// Set from [`ShardConfig::loopback_only`] when the shard starts.
    pub loopback_only: bool,
}

impl TcpMediaConfig {
    pub fn new(bind: SocketAddr) -> TcpMediaConfig {
        TcpMediaConfig {
            bind,
            max_connections: 4096,
            max_pending_per_ip: 32,
            handshake_timeout: Duration::from_secs(10),
            // About 1.5 MB of video at most, a second of a high simulcast layer.
            write_queue: 1024,
            loopback_only: false,
        }
    }
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
            tcp: None,
        }
    }
}
