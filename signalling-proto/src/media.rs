//! WebRTC negotiation and media control over the signalling socket (DECISIONS.md §10).
//!
//! Each participant has two transports: the **publisher** transport, offered by the client
//! (`publisher_offer`, answered in the response) and never renegotiated by subscription changes
//! or breakout moves; and the **subscriber** transport, offered by the server
//! (`subscriber_offer` event, answered by the `subscriber_answer` command) whenever the
//! participant's subscriptions change. Trickle candidates name their transport.

use crate::{ParticipantId, StreamId};
use serde::{Deserialize, Serialize};

/// Which of a participant's two transports a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// Client → SFU media; the client offers.
    Publisher,
    /// SFU → client media; the server offers.
    Subscriber,
}

/// Audio or video.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// What a published track carries. Camera and microphone belong to stream `"camera"`; screen
/// video and screen audio to a screenshare's `"ss-<n>"` stream (spec §3, §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Camera,
    Microphone,
    Screenshare,
    /// Spelled `screenshare_audio` (snake_case like every enum value of the spec).
    ScreenshareAudio,
}

impl TrackSource {
    /// The media kind of a track from this source.
    pub fn kind(self) -> MediaKind {
        match self {
            TrackSource::Camera | TrackSource::Screenshare => MediaKind::Video,
            TrackSource::Microphone | TrackSource::ScreenshareAudio => MediaKind::Audio,
        }
    }
}

/// An SDP body (`publisher_offer` arguments and result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sdp {
    pub sdp: String,
}

/// `subscriber_offer` event data and `subscriber_answer` arguments. `version` increases with
/// every server offer; an answer for an older version is ignored by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionedSdp {
    pub sdp: String,
    pub version: u64,
}

/// `ice_candidate` command arguments and event data (trickle ICE, RFC 8838).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrickleCandidate {
    pub transport: TransportKind,
    /// Required; `null` signals end of candidates.
    #[serde(deserialize_with = "crate::nullable::required")]
    pub candidate: Option<IceCandidate>,
}

/// The browser's `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IceCandidate {
    /// The `candidate:` attribute line (RFC 8839 §5.1).
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// `publish_tracks` arguments: announce the tracks of the publisher offer by `mid` before (or
/// with) the `publisher_offer` that contains them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishTracksArgs {
    pub tracks: Vec<TrackPublication>,
}

/// One published track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackPublication {
    /// The `a=mid` of the track's m-section in the publisher offer.
    pub mid: String,
    pub source: TrackSource,
    /// `"camera"` for camera and microphone (the default); the `streamId` returned by
    /// `start_screenshare` for screenshare sources (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<StreamId>,
    /// Simulcast encodings, lowest first: index = spatial layer. Absent or `[]` for audio and
    /// single-encoding video.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<SimulcastLayer>,
}

/// One simulcast encoding as the client configured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulcastLayer {
    /// The RTP stream id (`a=rid`), e.g. `"q"`, `"h"`, `"f"`.
    pub rid: String,
    pub width: u32,
    pub height: u32,
    /// Bits per second.
    pub max_bitrate: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_framerate: Option<u32>,
}

/// `unpublish_tracks` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnpublishTracksArgs {
    pub mids: Vec<String>,
}

/// `set_subscription_preferences` arguments. Preferences are intersected with the allowed set
/// (spec §13.9): a stream outside it is `stream_not_found`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionPreferencesArgs {
    pub preferences: Vec<SubscriptionPreference>,
}

/// What a subscriber wants of one stream. Absent fields keep their previous value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionPreference {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    /// Only this kind of the stream; absent = both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MediaKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Highest layer wanted (the `requested` layer). At most one of `maxLayer`, `targetSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_layer: Option<Layer>,
    /// Rendered size; the server picks the smallest layer covering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_size: Option<VideoSize>,
    /// Higher wins bandwidth first; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// A video layer: spatial = simulcast encoding index, temporal = VP8 temporal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Layer {
    pub spatial: u8,
    pub temporal: u8,
}

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VideoSize {
    pub width: u32,
    pub height: u32,
}

// ---- events ----

/// `subscriptions_changed` (spec §9.1): the subscriber's allowed set changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionsChanged {
    pub added: Vec<StreamKinds>,
    pub removed: Vec<StreamKinds>,
    /// The forwarding-policy version this reflects (spec §13.9).
    pub policy_version: u64,
}

/// A stream and which of its kinds are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamKinds {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    pub kinds: Vec<MediaKind>,
    /// The msid stream id of this stream's m-lines in subscriber offers ([`msid_stream_id`]):
    /// clients look a received track's stream up by it instead of splitting it, because ids
    /// are opaque and may contain `-`. Always sent by this server; optional so that frames of
    /// a server that predates it still decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msid: Option<String>,
}

impl StreamKinds {
    /// `participant`'s `stream`, for `kinds`, with its msid filled in.
    pub fn new(participant_id: ParticipantId, stream_id: StreamId, kinds: Vec<MediaKind>) -> Self {
        let msid = msid_stream_id(&participant_id, &stream_id);
        Self {
            participant_id,
            stream_id,
            kinds,
            msid: Some(msid),
        }
    }
}

/// The msid stream id (RFC 8830 `msid-id`) of a publisher's stream in subscriber offers:
/// `<participantId>-<streamId>`. Audio and video of one stream share it, so a browser puts
/// them in one `MediaStream` and plays them in sync. It is one opaque token: the events carry
/// it whole (`subscriptions_changed`), so nobody needs to split it.
pub fn msid_stream_id(participant: &ParticipantId, stream: &StreamId) -> String {
    format!("{participant}-{stream}")
}

/// The msid track id (RFC 8830 `msid-appdata`) of one kind of a stream:
/// `<msid stream id>-audio` or `-video`, so each m-line of a subscriber offer is named.
pub fn msid_track_id(participant: &ParticipantId, stream: &StreamId, kind: MediaKind) -> String {
    let kind = match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    };
    format!("{}-{kind}", msid_stream_id(participant, stream))
}

/// `layer_changed`: the video layer forwarded to this subscriber changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerChanged {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    /// What the allocator allows now; the switch waits for a keyframe of it.
    pub target: Option<Layer>,
    /// What is forwarded now; `null` while nothing is.
    pub current: Option<Layer>,
}

/// `stream_state_changed`: a subscribed stream paused or resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamStateChanged {
    pub participant_id: ParticipantId,
    pub stream_id: StreamId,
    pub kind: MediaKind,
    pub state: StreamState,
    /// Why it is paused; absent when active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<PauseReason>,
}

/// Whether media of a subscribed stream flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    Active,
    Paused,
}

/// Why a subscribed stream is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// The subscriber asked (`paused: true`).
    Subscriber,
    /// Even the lowest layer does not fit the bandwidth estimate (DECISIONS.md §9).
    Bandwidth,
    /// The publisher sends nothing (e.g. reconnecting).
    NoMedia,
}

/// `active_speakers_changed`: loudest first, computed per location (spec §13.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveSpeakers {
    pub speakers: Vec<Speaker>,
}

/// One active speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Speaker {
    pub participant_id: ParticipantId,
    /// 0.0 (silence) to 1.0 (full scale), from the RFC 6464 audio level.
    pub level: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The msid is one token built from the whole ids, so ids containing `-` give distinct msids
    // for distinct streams; the track id appends the kind.
    #[test]
    fn msid_names_the_stream_and_the_track() {
        let entry = StreamKinds::new("p-2".into(), "ss-1".into(), vec![MediaKind::Video]);
        assert_eq!(entry.msid.as_deref(), Some("p-2-ss-1"));
        assert_eq!(
            msid_track_id(&"p-2".into(), &"ss-1".into(), MediaKind::Audio),
            "p-2-ss-1-audio"
        );
        assert_ne!(
            msid_stream_id(&"p-2".into(), &"camera".into()),
            msid_stream_id(&"p".into(), &"camera".into())
        );
    }
}
