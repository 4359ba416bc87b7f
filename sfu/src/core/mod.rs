//! The sans-IO forwarding core: no sockets, no async runtime, no WebRTC stack, no clock reads.
//!
//! Time comes in as an argument; outputs are drained with `poll_output()` until it returns a
//! timeout (STYLE.md rules 1-4). See `../shared/design/ARCHITECTURE.md` §3.

pub mod allocator;
pub mod drop_reason;
pub mod h264;
pub mod id;
pub mod policy;
pub mod rtp_in;
pub mod vp8;

pub use allocator::{Allocator, AllocatorConfig, Demand, LayerRates};
pub use drop_reason::{CoreStats, DropReason};
pub use id::{
    Bitrate, DownlinkId, EncodingIdx, Layer, MediaKind, ParticipantId, PublicationId, SessionId,
    StreamId, StreamRef, SubscriptionId, MAX_ENCODINGS, MAX_TEMPORAL,
};
pub use policy::{ForwardingPolicy, Location, Member};
pub use rtp_in::{AudioLevel, Codec, PayloadInfo, RtpHeader, RtpIn};
