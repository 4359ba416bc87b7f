//! A room at run time (ARCHITECTURE.md §2): one [`actor::RoomActor`] task per room runs the
//! meeting rules (`control::Room`) against the room's sockets and its media on a shard
//! ([`media::RoomMedia`]), and supervises the room's machines (the cloud recorder and the
//! transcriber, `recording`). The [`actor::RoomRegistry`] finds or places rooms; the
//! `heartbeat` reports this node's rooms to the cluster and fences rooms placed elsewhere.
//!
//! Layers: the room imports the rules (`control`), the media (`shard`) and the cluster store
//! below it; the signalling connections and the server API above it hand it their commands.

pub mod actor;
pub(crate) mod heartbeat;
pub(crate) mod media;
pub mod recording;
pub mod transcription;
pub(crate) mod turn_credentials;
