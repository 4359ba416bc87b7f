//! The codecs the core forwards, named from str0m's: the one mapping both transports use (a
//! leaf, so the uplink and the downlink need not import each other for it).

use str0m::format::Codec as RtcCodec;

use crate::core::Codec;

/// The core forwards Opus, VP8 and H264 (DECISIONS.md §3).
pub(crate) fn core_codec(codec: RtcCodec) -> Option<Codec> {
    match codec {
        RtcCodec::Opus => Some(Codec::Opus),
        RtcCodec::Vp8 => Some(Codec::Vp8),
        RtcCodec::H264 => Some(Codec::H264),
        _ => None,
    }
}
