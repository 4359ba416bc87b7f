//! Media shards: the per-core loops that carry media between real WebRTC peers and the
//! sans-IO [`crate::core::MediaCore`] (ARCHITECTURE.md §2).
//!
//! A shard is one OS thread running a current-thread tokio runtime. It owns one UDP socket
//! (and one ICE-TCP listener with its connections, for clients that cannot send UDP),
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
//! A transport owns its operations and the loop only routes (str0m's own SFU example splits
//! the same way: its `Client` does the work, its `main` routes). The modules, each one concept,
//! top to bottom; each imports only from the ones below it:
//!
//! * `shard_loop`: [`spawn`] and the loop: reads the sockets, finds the datagram's transport,
//!   drains every touched `Rtc` and the rooms' cores, fires timers, applies commands, and routes
//!   each output to the transport or room it concerns; its parts `shard_loop/packet_path`
//!   (RTP into a room's core, the core's outputs routed) and `shard_loop/commands` (applying
//!   each command).
//! * `room` (`ShardRoom`): one room's `MediaCore` with the slab-indexed maps from its keys to transports;
//!   `participant_state`: a participant's downlink and two transports, which the loop keeps
//!   by room and participant id together (ids are counted per room).
//! * `peer`: one `Rtc` with its `Uplink` or `Downlink`, behind the `catch_unwind` fence
//!   (`Peer::drive`: a str0m panic or error is a fault of that one transport).
//! * `uplink` / `downlink`: the publisher / subscriber transport's state and operations: the
//!   uplink answers the client's offer, maps each SSRC to a publication encoding and sends
//!   PLI/FIR; the downlink creates offers, applies answers, writes each forward to its stream
//!   and sets the bandwidth estimator's probe target. `rtcp_tally`: str0m's per-stream RTCP
//!   stats turned into the shard's totals.
//! * `handle` ([`ShardHandle`]) over `command` (what the async side asks, and the reply);
//!   `event` ([`ShardEvent`] and its two paths: control, never dropped, and telemetry);
//!   `stats` ([`ShardStats`]) with `fixed_histogram`; `shard_config` ([`ShardConfig`]); `speakers`
//!   (the active-speaker meter); `reply_source` (the source address of replies from a socket
//!   bound to every interface); `tcp_media` (the ICE-TCP listener and connections: framing
//!   readers and queued writers, per-address and total limits, the handshake deadline).
//! * At the bottom, with no shard imports: `codec` (str0m's codec to the core's), `room_id`
//!   ([`RoomId`]), `transport_kind` ([`TransportKind`]), `error` ([`ShardError`]), `tcp_framing` (RFC
//!   4571 frames).

mod codec;
mod command;
mod downlink;
mod error;
mod event;
mod fixed_histogram;
mod handle;
mod participant_state;
mod peer;
mod reply_source;
mod room;
mod room_id;
mod rtcp_tally;
mod shard_config;
mod shard_loop;
mod speakers;
mod stats;
mod tcp_framing;
mod tcp_media;
mod transport_kind;
mod uplink;

pub use command::{AnnouncedTrack, Preference, Subscribed, SubscriberOffer};
pub use error::ShardError;
pub use event::{ForwardingChange, ShardEvent, ShardEvents};
pub use fixed_histogram::{
    FixedHistogram, BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
pub use handle::ShardHandle;
pub use room_id::RoomId;
pub use shard_config::{ShardConfig, TcpMediaConfig};
pub use shard_loop::spawn;
pub use stats::{
    layer_switch_reason, publication_kind, CandidateType, LayerSwitchReason, PublicationKind,
    RtcpTotals, ShardStats, TcpCloseCause, TransportFailureCause,
};
pub use tcp_framing::MAX_FRAME as MAX_TCP_FRAME;
pub use transport_kind::TransportKind;
