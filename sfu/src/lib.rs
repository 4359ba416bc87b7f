//! A selective forwarding unit (SFU) for WebRTC media with breakout groups inside one room.
//!
//! The crate is split the way `docs/architecture.md` (in the repository) describes:
//!
//! * [`core`]: the sans-IO forwarding core. Pure state machines over packets and an injected
//!   clock: no sockets, no async runtime, no WebRTC stack, no clock reads. Everything on the
//!   packet path (routing by the forwarding policy, simulcast layer selection, SSRC / sequence /
//!   timestamp / VP8 picture-id rewriting, keyframe-request throttling, bandwidth allocation)
//!   lives here and is tested on virtual time.
//!
//! The shell (str0m transports, the WebSocket signalling server, metrics) drives the core: it
//! feeds [`core::Input`]s, drains [`core::Output`]s until a [`core::Output::Timeout`], and does
//! the I/O those outputs ask for. Its parts so far:
//!
//! * [`server`]: [`bind`] the HTTP listener, then [`run`] on it until a shutdown future resolves
//!   (mini-redis style, so tests run servers on `127.0.0.1:0` in parallel).
//! * [`config`]: the [`Config`] the `sfu` binary builds from flags, `SFU_*` variables and a
//!   TOML file (`--config`), in that order of precedence.
//! * [`metrics`]: the Prometheus registry behind `/metrics`, fed by the shards, the room actors
//!   and the signalling sessions.
//! * [`signalling`]: the HTTP routes (`/healthz`, `/readyz`, development-only `/dev/token`),
//!   the `/rtc` sessions and the room actors.
//! * [`token`]: the join tokens of spec §8.1 (claims and the signing key), a leaf that
//!   [`control`], [`signalling`] and [`config`] import.
//! * [`shard`]: the media shards: one thread per shard driving str0m transports (ICE-lite,
//!   RTP mode) and one [`core::MediaCore`] per room, from socket to socket in one loop turn.
//! * [`tls_listener`]: HTTPS/WSS on the HTTP port with `--tls-cert` / `--tls-key` (rustls).
//! * [`clock`]: the one place the shell reads time (DECISIONS.md §15).
//! * [`api`]: the server API under `/api/v1` (admin tokens, rooms, participants, breakouts)
//!   and its OpenAPI document; [`webhook`]: room events POSTed as signed JSON.
//! * [`cluster`]: placement of rooms across nodes on a shared store (Redis, or memory for one
//!   node), the node registry and fencing (issue 17).
#![forbid(unsafe_code)]
// `pub` means reachable from outside the crate; the rest is `pub(crate)`, so the compiler
// reports what nothing calls (issue 15).
#![warn(unreachable_pub)]

pub mod admin_args;
pub mod admin_cli;
pub mod api;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod control;
pub mod core;
#[cfg(feature = "testing")]
pub mod fuzz_checks;
pub mod metrics;
pub mod room;
pub mod server;
pub mod shard;
pub mod signalling;
pub mod tls_listener;
pub mod token;
pub mod webhook;

pub use config::Config;
pub use server::{bind, run};
