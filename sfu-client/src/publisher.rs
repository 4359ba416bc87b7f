//! The send side: a sendonly webrtc-rs transport with an Opus microphone track and, when asked,
//! a VP8 camera track (one layer, or three simulcast encodings `q`/`h`/`f`) and a VP8
//! screenshare track, published per PROTOCOL.md §4.1 step 2 (`start_screenshare`,
//! `publish_tracks`, `publisher_offer`). The application brings encoded media: Opus packets,
//! VP8 frames (which [`crate::vp8_frame::packetize`] splits), or whole RTP packets it built
//! itself.
//!
//! Simulcast send works in webrtc-rs 0.21 as the load tester does it: one track with one coding
//! per rid (`a=rid`, `a=simulcast:send q;h;f` in the offer); each packet picks its encoding by
//! SSRC and carries the RID header extension, which the stack does not add by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use signalling_proto::{
    Command, CommandName, CommandResult, MediaKind, PublishTracksArgs, Sdp, SimulcastLayer,
    StartScreenshareArgs, TrackPublication, TrackSource,
};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use crate::client_error::ClientError;
use crate::keyframe_feedback;
use crate::peer;
use crate::rtp_send::{self, HeaderIds};
use crate::signalling::{unexpected, Signalling};
use crate::vp8_frame;

/// What to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOptions {
    /// An Opus microphone track.
    pub audio: bool,
    /// A VP8 camera track.
    pub video: bool,
    /// The camera as three simulcast encodings `q`, `h`, `f` (lowest first, sent with
    /// [`Publisher::send_vp8_layer`]) instead of one.
    pub simulcast: bool,
    /// A VP8 screenshare track (`start_screenshare` first; sent with
    /// [`Publisher::send_screenshare_vp8`]).
    pub screenshare: bool,
}

impl PublishOptions {
    /// Microphone only: what an assistant may publish.
    pub fn audio_only() -> Self {
        Self {
            audio: true,
            video: false,
            simulcast: false,
            screenshare: false,
        }
    }

    /// Microphone and camera.
    pub fn audio_video() -> Self {
        Self {
            audio: true,
            video: true,
            simulcast: false,
            screenshare: false,
        }
    }
}

/// The simulcast ladder the publisher announces (`publish_tracks` layers), lowest first: the
/// server picks a layer for a subscriber's `targetSize` with it.
const SIMULCAST: [(&str, u32, u32, u32); 3] = [
    ("q", 320, 180, 150_000),
    ("h", 640, 360, 500_000),
    ("f", 1280, 720, 1_500_000),
];

/// What a publisher's video tracks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Microphone,
    Camera,
    Screenshare,
}

/// One outgoing track and its encodings.
struct Outgoing {
    track: Arc<TrackLocalStaticRTP>,
    ids: HeaderIds,
    mid: String,
    encodings: Vec<Encoding>,
}

/// One RTP stream of a track: its rid (empty without simulcast), SSRC and state.
struct Encoding {
    rid: String,
    ssrc: u32,
    state: AsyncMutex<SendState>,
}

/// Sequence number and codec state of one track, advanced per packet.
struct SendState {
    seq: u16,
    /// The RTP timestamp of the next Opus packet.
    audio_ts: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
}

/// A connected publisher transport. Send with [`Publisher::send_opus`],
/// [`Publisher::send_vp8`] or [`Publisher::send_rtp`]; close with [`Publisher::close`].
pub struct Publisher {
    pc: Arc<dyn PeerConnection>,
    audio: Option<Outgoing>,
    video: Option<Outgoing>,
    screen: Option<Outgoing>,
    keyframe_wanted: Arc<AtomicBool>,
    watchers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("audio", &self.audio.is_some())
            .field("video", &self.video.is_some())
            .field("screen", &self.screen.is_some())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Creates the transport, publishes its tracks and waits until it is connected.
    pub async fn start(
        signalling: &Signalling,
        options: PublishOptions,
    ) -> Result<Publisher, ClientError> {
        if !options.audio && !options.video {
            return Err(ClientError::Protocol("nothing to publish".into()));
        }
        // The screenshare's stream id comes first: `publish_tracks` names it.
        let screen_stream = if options.screenshare {
            match signalling
                .request(Command::StartScreenshare(StartScreenshareArgs {
                    has_audio_track: false,
                }))
                .await?
            {
                CommandResult::StartScreenshare(started) => Some(started.stream_id),
                other => return Err(unexpected(CommandName::StartScreenshare, &other)),
            }
        } else {
            None
        };
        let (pc, mut signals) = peer::build(None, peer::Feedback::default()).await?;
        let seed = random_u32();
        let vp8 = || RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            ..Default::default()
        };
        // (source, track name, codec, [(rid, ssrc)]): SSRCs distinct per encoding.
        let mut planned = Vec::new();
        if options.video {
            let codings = if options.simulcast {
                SIMULCAST
                    .iter()
                    .enumerate()
                    .map(|(i, (rid, ..))| {
                        ((*rid).to_owned(), (seed | 1).wrapping_add(2 * i as u32 + 2))
                    })
                    .collect()
            } else {
                vec![(String::new(), seed | 1)]
            };
            planned.push((Source::Camera, "camera", vp8(), codings));
        }
        if screen_stream.is_some() {
            planned.push((
                Source::Screenshare,
                "screen",
                vp8(),
                vec![(String::new(), (seed | 1).wrapping_add(16))],
            ));
        }
        if options.audio {
            let codec = RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                ..Default::default()
            };
            planned.push((
                Source::Microphone,
                "microphone",
                codec,
                vec![(String::new(), seed & !1)],
            ));
        }
        let mut added = Vec::new();
        for (source, name, codec, codings) in planned {
            let rtp_kind = match source {
                Source::Microphone => RtpCodecKind::Audio,
                Source::Camera | Source::Screenshare => RtpCodecKind::Video,
            };
            let mime = codec.mime_type.clone();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                format!("sfu-client-{seed:08x}"),
                format!("sfu-client-{seed:08x}-{name}"),
                name.to_owned(),
                rtp_kind,
                codings
                    .iter()
                    .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            rid: rid.clone(),
                            ssrc: Some(*ssrc),
                            ..Default::default()
                        },
                        codec: codec.clone(),
                        active: true,
                        ..Default::default()
                    })
                    .collect(),
            )));
            let transceiver = pc
                .add_transceiver_from_track(
                    Arc::clone(&track) as Arc<dyn TrackLocal>,
                    rtp_send::sendonly(),
                )
                .await?;
            added.push((source, track, transceiver, codings, mime));
        }
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        peer::wait_gathered(&mut signals).await?;

        let mut publications = Vec::new();
        let mut senders = Vec::new();
        for (source, track, transceiver, codings, mime) in added {
            let mid = transceiver.mid().await?.unwrap_or_default();
            let simulcast = codings.len() > 1;
            publications.push(TrackPublication {
                mid: mid.clone(),
                source: match source {
                    Source::Microphone => TrackSource::Microphone,
                    Source::Camera => TrackSource::Camera,
                    Source::Screenshare => TrackSource::Screenshare,
                },
                stream_id: match source {
                    Source::Screenshare => screen_stream.clone(),
                    _ => None,
                },
                layers: if simulcast {
                    SIMULCAST
                        .iter()
                        .map(|(rid, width, height, max_bitrate)| SimulcastLayer {
                            rid: (*rid).to_owned(),
                            width: *width,
                            height: *height,
                            max_bitrate: *max_bitrate,
                            max_framerate: None,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
            let sender = transceiver
                .sender()
                .await?
                .ok_or_else(|| ClientError::WebRtc("transceiver has no sender".into()))?;
            senders.push((source, track, sender, codings, mime, mid));
        }
        signalling
            .request(Command::PublishTracks(PublishTracksArgs {
                tracks: publications,
            }))
            .await?;
        let local = pc
            .local_description()
            .await
            .ok_or_else(|| ClientError::WebRtc("no local description".into()))?;
        let answer = match signalling
            .request(Command::PublisherOffer(Sdp { sdp: local.sdp }))
            .await?
        {
            CommandResult::PublisherOffer(answer) => answer,
            other => return Err(unexpected(CommandName::PublisherOffer, &other)),
        };
        pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?)
            .await?;
        rtp_send::wait_connected(&mut signals).await?;

        let keyframe_wanted = Arc::new(AtomicBool::new(false));
        let mut publisher = Publisher {
            pc,
            audio: None,
            video: None,
            screen: None,
            keyframe_wanted,
            watchers: Vec::new(),
        };
        for (source, track, sender, codings, mime, mid) in senders {
            let ids = HeaderIds::of(&sender, &mime).await?;
            let outgoing = Outgoing {
                track,
                ids,
                mid,
                encodings: codings
                    .into_iter()
                    .map(|(rid, ssrc)| Encoding {
                        rid,
                        ssrc,
                        state: AsyncMutex::new(SendState {
                            seq: (seed ^ ssrc) as u16,
                            audio_ts: seed,
                            picture_id: (seed >> 8) as u16 & 0x7FFF,
                            tl0_pic_idx: 0,
                        }),
                    })
                    .collect(),
            };
            if source != Source::Microphone {
                publisher
                    .watchers
                    .push(tokio::spawn(watch_keyframe_requests(
                        Arc::clone(&outgoing.track),
                        Arc::clone(&publisher.keyframe_wanted),
                    )));
            }
            match source {
                Source::Microphone => publisher.audio = Some(outgoing),
                Source::Camera => publisher.video = Some(outgoing),
                Source::Screenshare => publisher.screen = Some(outgoing),
            }
        }
        Ok(publisher)
    }

    /// Sends one Opus packet lasting `samples` at 48 kHz (960 for 20 ms) on the microphone
    /// track; RTP timestamps advance by `samples` per packet.
    pub async fn send_opus(&self, packet: &[u8], samples: u32) -> Result<(), ClientError> {
        let out = self.track(MediaKind::Audio)?;
        let enc = &out.encodings[0];
        let mut state = enc.state.lock().await;
        let header = rtp_send::header(
            out.ids,
            &out.mid,
            "",
            enc.ssrc,
            state.seq,
            state.audio_ts,
            false,
        );
        state.seq = state.seq.wrapping_add(1);
        state.audio_ts = state.audio_ts.wrapping_add(samples);
        write(out, header, Bytes::copy_from_slice(packet)).await
    }

    /// Sends one VP8 frame with the 90 kHz RTP timestamp `rtp_timestamp` on the camera track
    /// (its lowest encoding with simulcast), split into packets with payload descriptors
    /// (RFC 7741).
    pub async fn send_vp8(&self, frame: &[u8], rtp_timestamp: u32) -> Result<(), ClientError> {
        self.send_vp8_layer(0, frame, rtp_timestamp).await
    }

    /// [`Publisher::send_vp8`] on simulcast encoding `layer` (0 = `q`, 1 = `h`, 2 = `f`). Each
    /// encoding is its own RTP stream: send every layer's frames with the same timestamps.
    pub async fn send_vp8_layer(
        &self,
        layer: usize,
        frame: &[u8],
        rtp_timestamp: u32,
    ) -> Result<(), ClientError> {
        let out = self.track(MediaKind::Video)?;
        let enc = out
            .encodings
            .get(layer)
            .ok_or_else(|| ClientError::Protocol(format!("no simulcast layer {layer}")))?;
        send_vp8_on(out, enc, frame, rtp_timestamp).await
    }

    /// Sends one VP8 frame on the screenshare track ([`PublishOptions::screenshare`]).
    pub async fn send_screenshare_vp8(
        &self,
        frame: &[u8],
        rtp_timestamp: u32,
    ) -> Result<(), ClientError> {
        let out = self
            .screen
            .as_ref()
            .ok_or_else(|| ClientError::Protocol("no screenshare published".into()))?;
        send_vp8_on(out, &out.encodings[0], frame, rtp_timestamp).await
    }

    /// Sends an RTP packet the application built (from another source, or its own
    /// packetiser). Its SSRC, payload type and MID extension are replaced with the track's;
    /// sequence numbers and timestamps are the application's.
    pub async fn send_rtp(
        &self,
        kind: MediaKind,
        mut packet: rtp::packet::Packet,
    ) -> Result<(), ClientError> {
        let out = self.track(kind)?;
        let mut header = rtp_send::header(
            out.ids,
            &out.mid,
            "",
            out.encodings[0].ssrc,
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.header.marker,
        );
        std::mem::swap(&mut packet.header, &mut header);
        out.track.write_rtp(packet).await.map_err(ClientError::from)
    }

    /// Whether the SFU asked for a keyframe (PLI or FIR) since the last call: an encoder should
    /// make its next frame a keyframe.
    pub fn keyframe_requested(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::Relaxed)
    }

    /// Stops sending and closes the transport (the server unpublishes the tracks).
    pub async fn close(self) {
        for watcher in self.watchers {
            watcher.abort();
        }
        let _ = self.pc.close().await;
    }

    fn track(&self, kind: MediaKind) -> Result<&Outgoing, ClientError> {
        match kind {
            MediaKind::Audio => self.audio.as_ref(),
            MediaKind::Video => self.video.as_ref(),
        }
        .ok_or_else(|| ClientError::Protocol(format!("no {kind:?} track published")))
    }
}

/// One VP8 frame on one encoding of `out`, packetised with its own picture ids.
async fn send_vp8_on(
    out: &Outgoing,
    enc: &Encoding,
    frame: &[u8],
    rtp_timestamp: u32,
) -> Result<(), ClientError> {
    let mut state = enc.state.lock().await;
    state.picture_id = state.picture_id.wrapping_add(1) & 0x7FFF;
    state.tl0_pic_idx = state.tl0_pic_idx.wrapping_add(1);
    let payloads = vp8_frame::packetize(frame, state.picture_id, state.tl0_pic_idx);
    let last = payloads.len().saturating_sub(1);
    for (i, payload) in payloads.into_iter().enumerate() {
        let header = rtp_send::header(
            out.ids,
            &out.mid,
            &enc.rid,
            enc.ssrc,
            state.seq,
            rtp_timestamp,
            i == last,
        );
        state.seq = state.seq.wrapping_add(1);
        write(out, header, Bytes::from(payload)).await?;
    }
    Ok(())
}

async fn write(
    out: &Outgoing,
    header: rtp::header::Header,
    payload: Bytes,
) -> Result<(), ClientError> {
    out.track
        .write_rtp(rtp::packet::Packet { header, payload })
        .await
        .map_err(ClientError::from)
}

/// Raises `wanted` on every PLI or FIR the SFU sends for the camera (they reach the track
/// through [`keyframe_feedback`]). Ends with the track.
async fn watch_keyframe_requests(track: Arc<TrackLocalStaticRTP>, wanted: Arc<AtomicBool>) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets
            .iter()
            .any(|p| keyframe_feedback::is_keyframe_request(p.as_ref()))
        {
            wanted.store(true, Ordering::Relaxed);
        }
    }
}

/// A random 32-bit value for SSRCs and initial sequence numbers (RFC 3550 §5.1 wants them
/// unpredictable), from the standard library's randomly keyed hasher.
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}
