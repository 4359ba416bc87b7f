//! Typed ids of the core's vocabulary (STYLE.md "Vocabulary").
//!
//! Ids of objects the core owns (publications, subscriptions, downlinks) are generational slab
//! keys, so the packet path reaches them by index with no hashing (DECISIONS.md §6). Ids that
//! come from the control plane (participants, breakout sessions, streams) are plain values.

use std::fmt;

slotmap::new_key_type! {
    /// One published source of one participant in the media core (camera audio, camera video,
    /// screenshare video or screenshare audio).
    pub struct PublicationId;
    /// One subscriber's copy of one publication; owns a fixed outgoing SSRC.
    pub struct SubscriptionId;
    /// The receiving side of one participant's WebRTC peer (its subscriber transport).
    pub struct DownlinkId;
}

/// A participant of a room, minted by the control plane (spec §3). On the wire it is rendered
/// as an opaque string; inside the server it is a number so the policy compares integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A breakout session of a room, minted by the control plane (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A participant's stream (spec §3): `"camera"` carries camera video and microphone audio;
/// each screenshare is `"ss-<n>"` and carries screen video and, optionally, screen audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamId {
    Camera,
    Screenshare(u32),
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamId::Camera => f.write_str("camera"),
            StreamId::Screenshare(n) => write!(f, "ss-{n}"),
        }
    }
}

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaKind {
    Audio,
    Video,
}

/// One of the four kinds of publication of spec §13.1: a stream and a media kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamRef {
    pub stream: StreamId,
    pub kind: MediaKind,
}

impl StreamRef {
    pub const CAMERA_AUDIO: StreamRef = StreamRef {
        stream: StreamId::Camera,
        kind: MediaKind::Audio,
    };
    pub const CAMERA_VIDEO: StreamRef = StreamRef {
        stream: StreamId::Camera,
        kind: MediaKind::Video,
    };
}

/// The most simulcast encodings a publication may have (q, h, f).
pub const MAX_ENCODINGS: usize = 3;
/// The most VP8 temporal layers we select between (L1T3).
pub const MAX_TEMPORAL: usize = 3;

/// One simulcast encoding of a publication; its index is its spatial layer (0 = lowest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncodingIdx(pub u8);

/// A video layer: a simulcast encoding (spatial) and a VP8 temporal layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Layer {
    pub spatial: u8,
    pub temporal: u8,
}

impl Layer {
    pub const LOWEST: Layer = Layer {
        spatial: 0,
        temporal: 0,
    };
    pub const HIGHEST: Layer = Layer {
        spatial: MAX_ENCODINGS as u8 - 1,
        temporal: MAX_TEMPORAL as u8 - 1,
    };

    pub fn new(spatial: u8, temporal: u8) -> Layer {
        Layer { spatial, temporal }
    }
}

/// A bitrate in bits per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bitrate(pub u64);

impl Bitrate {
    pub const ZERO: Bitrate = Bitrate(0);

    pub fn kbps(k: u64) -> Bitrate {
        Bitrate(k * 1000)
    }
}
