//! A room at run time (ARCHITECTURE.md §2): one [`RoomActor`] task per room runs the meeting
//! rules (`control::Room`) against the room's sockets and its media on a shard
//! ([`media::RoomMedia`]), and supervises the room's machines (the cloud recorder and the
//! transcriber). The [`RoomRegistry`] finds or places rooms; the `heartbeat` reports this
//! node's rooms to the cluster and fences rooms placed elsewhere.
//!
//! One concept a file, importing downward: `registry` (rooms by name, placement, fencing)
//! starts `actor`s (the loop, the effects; `actor/` holds its media side, its services and
//! the API's requests), which others reach through `handle` (the [`RoomHandle`], the inputs,
//! what goes back to a socket); below them the leaves `api_input`, `close_code`,
//! `webhook_event` and `refusals` (error bodies). One reference points back up: an actor holds
//! the registry that started it, to unregister, to record its resume tokens and to reach the
//! node's TURN credentials, recorder and transcriber.
//!
//! Layers: the room imports the rules (`control`), the media (`shard`) and the cluster store
//! below it; the signalling connections and the server API above it hand it their commands.

mod actor;
mod api_input;
mod close_code;
mod handle;
pub(crate) mod heartbeat;
pub(crate) mod media;
pub mod recording;
mod refusals;
mod registry;
pub mod transcription;
pub(crate) mod turn_credentials;
mod webhook_event;

pub use actor::RoomActor;
pub use api_input::RoomDescription;
pub use close_code::{close_code, CLOSE_ROOM_MOVED, CLOSE_SLOW_CONSUMER};
pub use handle::{ConnectionLink, Handled, Outgoing, RoomHandle};
pub(crate) use refusals::room_gone;
pub use registry::{Placed, RoomRegistry};
