//! How every synthetic participant builds its webrtc-rs `PeerConnection`s: loopback only, no
//! STUN, NACK retries capped, and the simulcast and TWCC header extensions registered.

use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RtpCodecKind};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::client_error::ClientError;

/// At most this many NACKs per missing packet (ARCHITECTURE.md §1): webrtc-rs's default is
/// unlimited, which after a loss burst turned into retransmission storms in our measurements.
pub const MAX_NACKS_PER_PACKET: u16 = 3;

/// How long to wait for ICE gathering on loopback (it is immediate in practice).
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// What a peer connection reports back to its owner.
#[derive(Debug)]
pub(crate) struct PeerSignals {
    pub gathered: watch::Receiver<bool>,
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
pub(crate) async fn build(
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
) -> Result<(Arc<dyn PeerConnection>, PeerSignals), ClientError> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs()?;
    configure_simulcast_extension_headers(&mut media_engine)?;
    for parameter in ["", "pli"] {
        media_engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(MAX_NACKS_PER_PACKET)
                .build(),
        );
    let registry = configure_rtcp_reports(registry);
    // The SFU estimates each subscriber's downlink from transport-wide feedback.
    let registry = configure_twcc_receiver_only(registry, &mut media_engine)?;

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

/// Waits until ICE gathering completed, so the local description carries the candidates
/// (the load tester does not trickle: the SFU is ICE-lite and learns our address from our
/// connectivity checks anyway).
pub(crate) async fn wait_gathered(signals: &mut PeerSignals) -> Result<(), ClientError> {
    tokio::time::timeout(GATHER_TIMEOUT, signals.gathered.wait_for(|done| *done))
        .await
        .map_err(|_| ClientError::Timeout("ICE gathering"))?
        .map_err(|_| ClientError::WebRtc("peer connection dropped".into()))?;
    Ok(())
}
