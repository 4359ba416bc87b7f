//! The receive side: a recvonly webrtc-rs transport that answers the server's
//! `subscriber_offer`s (PROTOCOL.md §4.1 step 3) and turns every remote track into
//! [`MediaFrame`]s tagged with the participant and stream its msid names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use signalling_proto::{Command, MediaKind, ParticipantId, StreamId, VersionedSdp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use crate::client_error::ClientError;
use crate::media_frame::MediaFrame;
use crate::peer::{self, Feedback, PeerSignals};
use crate::roster::Roster;
use crate::signalling::Signalling;
use crate::vp8_frame::Vp8Assembler;

/// A subscriber transport and the tasks reading its tracks.
pub struct Receiver {
    pc: Arc<dyn PeerConnection>,
    signals: PeerSignals,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl Receiver {
    /// A transport waiting for the server's first offer; frames go to `frames`, tagged from
    /// the msids `roster` learns.
    pub async fn new(
        roster: Arc<Mutex<Roster>>,
        frames: mpsc::UnboundedSender<MediaFrame>,
    ) -> Result<Receiver, ClientError> {
        let (tracks_tx, mut tracks_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
        let (pc, signals) = peer::build(Some(tracks_tx), Feedback::default()).await?;
        let reader = tokio::spawn(async move {
            while let Some(track) = tracks_rx.recv().await {
                tokio::spawn(read_track(track, Arc::clone(&roster), frames.clone()));
            }
        });
        Ok(Receiver {
            pc,
            signals,
            reader,
        })
    }

    /// Answers one `subscriber_offer`.
    pub async fn answer(
        &mut self,
        signalling: &Signalling,
        offer: VersionedSdp,
    ) -> Result<(), ClientError> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(offer.sdp)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        peer::wait_gathered(&mut self.signals).await?;
        let local = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| ClientError::WebRtc("no local answer".into()))?;
        signalling
            .request(Command::SubscriberAnswer(VersionedSdp {
                sdp: local.sdp,
                version: offer.version,
            }))
            .await?;
        Ok(())
    }

    /// Closes the transport.
    pub async fn close(self) {
        self.reader.abort();
        let _ = self.pc.close().await;
    }
}

/// Per-SSRC reassembly state of one track (a track keeps its SSRC; the map only guards against
/// a stack that reuses a track object).
#[derive(Default)]
struct TrackState {
    video: HashMap<u32, Vp8Assembler>,
}

async fn read_track(
    track: Arc<dyn TrackRemote>,
    roster: Arc<Mutex<Roster>>,
    frames: mpsc::UnboundedSender<MediaFrame>,
) {
    let msid = track.stream_id().await.to_string();
    let kind = match track.kind().await {
        rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video => MediaKind::Video,
        _ => MediaKind::Audio,
    };
    let mut owner: Option<(ParticipantId, StreamId)> = None;
    let mut state = TrackState::default();
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        if owner.is_none() {
            // `subscriptions_changed` precedes the offer that adds the m-line (spec §6), so the
            // msid is known by the first packet; until it is, packets cannot be attributed.
            owner = lock(&roster).msids.get(&msid).cloned();
        }
        let Some((participant_id, stream_id)) = owner.clone() else {
            debug!(%msid, "packet of a stream no subscriptions_changed named");
            continue;
        };
        let header = &packet.header;
        let frame = match kind {
            MediaKind::Audio => Some((packet.payload.clone(), false, header.sequence_number)),
            MediaKind::Video => state
                .video
                .entry(header.ssrc)
                .or_default()
                .push(header.sequence_number, header.marker, &packet.payload)
                .map(|f| (f.data, f.keyframe, f.first_sequence)),
        };
        let Some((data, keyframe, sequence_number)) = frame else {
            continue;
        };
        let delivered = frames.send(MediaFrame {
            participant_id,
            stream_id,
            kind,
            rtp_timestamp: header.timestamp,
            sequence_number,
            ssrc: header.ssrc,
            keyframe,
            data,
            received_at: Instant::now(),
        });
        if delivered.is_err() {
            // Nobody reads frames any more.
            break;
        }
    }
    debug!(%msid, "remote track ended");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain maps, updated by single inserts: a panicked holder leaves them consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
