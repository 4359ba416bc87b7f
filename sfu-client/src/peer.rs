//! How every client builds its webrtc-rs `PeerConnection`s: loopback only, no
//! STUN, NACK retries capped, and the simulcast and TWCC header extensions registered.

use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::client_error::ClientError;
use crate::keyframe_feedback;
use crate::red;
use crate::rtx_repair::RtxAwareNackGenerator;

/// At most this many NACKs per missing packet (ARCHITECTURE.md §1): webrtc-rs's default is
/// unlimited, which after a loss burst turned into retransmission storms in our measurements.
pub const MAX_NACKS_PER_PACKET: u16 = 3;

/// What a subscriber transport offers the SFU to estimate and repair its downlink with (issue
/// 13, goal 1: "any standard subscriber keeps its video").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Feedback {
    /// TWCC, NACK with RTX, PLI/FIR, REMB advertised (webrtc-rs's default set; a browser's),
    /// and RED (RFC 2198) around Opus.
    #[default]
    TwccRtx,
    /// TWCC, NACK and PLI/FIR, but no RTX codec: str0m cannot pad or probe on RTX.
    TwccNoRtx,
    /// No bandwidth or loss feedback at all: VP8 and Opus with no `a=rtcp-fb`, no TWCC
    /// extension, no NACK (receiver reports only).
    None,
}

impl std::str::FromStr for Feedback {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "twcc-rtx" => Ok(Feedback::TwccRtx),
            "twcc-no-rtx" => Ok(Feedback::TwccNoRtx),
            "none" => Ok(Feedback::None),
            _ => Err(format!("feedback {text:?}: twcc-rtx, twcc-no-rtx or none")),
        }
    }
}

/// How long to wait for ICE gathering on loopback (it is immediate in practice).
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// What a peer connection reports back to its owner.
#[derive(Debug)]
pub struct PeerSignals {
    /// Becomes true when ICE gathering completed.
    pub gathered: watch::Receiver<bool>,
    /// The connection state as webrtc-rs reports it.
    pub state: watch::Receiver<RTCPeerConnectionState>,
}

/// The event handler of one peer connection: gathering and connection state into watch
/// channels, remote tracks into an mpsc channel (subscriber transports only).
struct Handler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(tracks) = &self.tracks {
            let _ = tracks.send(track);
        }
    }
}

/// Builds a peer connection bound to 127.0.0.1 only. With `tracks`, remote tracks are sent
/// there as they open.
pub async fn build(
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
    feedback: Feedback,
) -> Result<(Arc<dyn PeerConnection>, PeerSignals), ClientError> {
    let mut media_engine = MediaEngine::default();
    if feedback == Feedback::TwccRtx {
        media_engine.register_default_codecs()?;
        // RED around Opus, as Chromium offers it (issue 13 goal 4).
        red::register(&mut media_engine)?;
    } else {
        register_plain_codecs(&mut media_engine, feedback)?;
    }
    configure_simulcast_extension_headers(&mut media_engine)?;
    let mut registry = Registry::new();
    if feedback != Feedback::None {
        for parameter in ["", "pli"] {
            media_engine.register_feedback(
                RTCPFeedback {
                    typ: "nack".to_owned(),
                    parameter: parameter.to_owned(),
                },
                RtpCodecKind::Video,
            );
        }
        registry = registry
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(
                Slot::NackGenerator,
                RtxAwareNackGenerator::new(
                    NackGeneratorBuilder::new()
                        .with_max_nacks_per_packet(MAX_NACKS_PER_PACKET)
                        .build(),
                ),
            );
    }
    let mut registry = configure_rtcp_reports(registry).with(
        Slot::from(keyframe_feedback::SLOT),
        keyframe_feedback::KeyframeFeedback::default(),
    );
    if feedback != Feedback::None {
        // The SFU estimates each subscriber's downlink from transport-wide feedback.
        registry = configure_twcc_receiver_only(registry, &mut media_engine)?;
    }

    // webrtc-rs 0.21 has no IP filter (`with_ip_filter` is commented out in its setting
    // engine): binding the one socket to 127.0.0.1 is what keeps ICE on loopback, and the
    // loopback candidate must be allowed explicitly.
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_network_types(vec![NetworkType::Udp4])
        .build();

    let (gathered_tx, gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let handler = Arc::new(Handler {
        gathered: gathered_tx,
        state: state_tx,
        tracks,
    });
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await?;
    Ok((Arc::new(pc), PeerSignals { gathered, state }))
}

/// VP8 and Opus only, without an RTX codec; with `Feedback::TwccNoRtx` VP8 keeps PLI/FIR
/// (NACK and TWCC are added by the caller), with `Feedback::None` it has no feedback at all.
fn register_plain_codecs(engine: &mut MediaEngine, feedback: Feedback) -> Result<(), ClientError> {
    let video_feedback = if feedback == Feedback::None {
        Vec::new()
    } else {
        vec![RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        }]
    };
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: Vec::new(),
            },
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: video_feedback,
            },
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    Ok(())
}

/// Waits until ICE gathering completed, so the local description carries the candidates
/// (the load tester does not trickle: the SFU is ICE-lite and learns our address from our
/// connectivity checks anyway).
pub async fn wait_gathered(signals: &mut PeerSignals) -> Result<(), ClientError> {
    tokio::time::timeout(GATHER_TIMEOUT, signals.gathered.wait_for(|done| *done))
        .await
        .map_err(|_| ClientError::Timeout("ICE gathering"))?
        .map_err(|_| ClientError::WebRtc("peer connection dropped".into()))?;
    Ok(())
}
