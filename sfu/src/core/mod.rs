//! The sans-IO forwarding core: no sockets, no async runtime, no WebRTC stack, no clock reads.
//!
//! Time comes in as an argument; outputs are drained with `poll_output()` until it returns a
//! timeout (STYLE.md rules 1-4). See `docs/architecture.md` §3.

pub mod allocator;
pub mod congestion;
pub mod drop_reason;
pub mod forwarder;
pub mod h264;
pub mod id;
pub mod keyframe_throttle;
pub mod media_core;
pub mod policy;
pub mod red;
pub mod routing_table;
pub mod rtp_in;
pub mod rtp_out;
pub mod seq_rewriter;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod ts_rewriter;
pub mod vp8;
pub mod vp8_rewriter;

pub use allocator::{Allocator, AllocatorConfig, Demand, LayerRates};
pub use congestion::CongestionMonitor;
pub use drop_reason::{CoreStats, DropReason};
pub use forwarder::{Forwarded, Forwarder};
pub use id::{
    Bitrate, DownlinkId, EncodingIdx, Layer, MediaKind, ParticipantId, PublicationId, SessionId,
    StreamId, StreamRef, SubscriptionId, MAX_ENCODINGS, MAX_TEMPORAL,
};
pub use keyframe_throttle::{KeyframeKind, KeyframeThrottle, ThrottleConfig};
pub use media_core::{
    CoreConfig, CoreError, CoreEvent, Forward, Input, MediaCore, Output, PublicationSpec,
    SubscriptionLayers,
};
pub use policy::{ForwardingPolicy, Location, Member};
pub use rtp_in::{AudioLevel, Codec, PayloadInfo, RtpHeader, RtpIn};
pub use rtp_out::RtpOut;
