//! The sans-IO meeting rules of one room (spec `control-plane.md`, ARCHITECTURE.md §3).
//!
//! [`Room`] is a pure state machine in the shape of STYLE.md rule 2: the room actor (the shell)
//! feeds it with `handle_command`, `handle_join`, `handle_disconnect` and the service reports,
//! calls `handle_timeout` when [`Room::poll_timeout`] is due (the shape of `MediaCore`), then
//! drains [`Room::poll_effect`] until it returns `None` and executes each [`Effect`] in order:
//! install a [`crate::core::ForwardingPolicy`] (and await the shard's ack), send events (adding
//! the per-recipient `seq`), close sockets. The room never does I/O and never reads the clock:
//! `now` is an argument, and wall-clock timestamps for the wire are derived from one anchor
//! taken at construction ([`WallClock`]).
//!
//! Within one command the effects are ordered as spec §13.3 requires: the policy install comes
//! first, then the command's events, then `subscriptions_changed` to every subscriber whose
//! allowed set (computed with the one [`crate::core::ForwardingPolicy::allowed`]) changed.
//!
//! Breakouts (spec §8.7-§8.8, §10-§12, §17.1) live in `breakout/`; every move goes through the
//! relocation procedure of spec §13.3 (`breakout/relocation.rs`), so the install of the new
//! policy precedes the events that announce it.

mod admission;
mod breakout;
mod chat;
mod connection;
mod effect;
mod errors;
mod media_commands;
mod media_state;
mod moderation;
mod notice;
mod participant;
mod policy_builder;
mod rate_limit;
pub(crate) mod recording;
mod room;
mod room_policy;
mod system;
mod text_rules;
mod timer;
mod waiting_room;
mod wire_id;

pub use admission::VerifiedClaims;
pub use connection::ConnectionId;
pub use effect::{CloseReason, Effect, Service};
pub use notice::Notice;
pub use room::{Room, RoomConfig, WallClock};
pub use room_policy::{RoomPolicy, ScreensharePolicy};
pub use system::{system_may_send, SYSTEM, SYSTEM_NAME};
pub use timer::Timer;
pub(crate) use wire_id::location_to_wire;
pub use wire_id::{participant_from_wire, participant_to_wire, stream_from_wire, stream_to_wire};
