//! The synthetic publisher: a sendonly webrtc-rs transport with a VP8 camera (three simulcast
//! encodings q/h/f, or one) and an Opus-sized microphone, whose packets are written by hand
//! through `TrackLocalStaticRTP` so that the VP8 payload descriptor (RFC 7741: picture id,
//! TL0PICIDX, TID, layer sync, KEYIDX) and the [`PacketTag`] in each payload are ours.
//!
//! Simulcast send works in webrtc-rs 0.21: one `MediaStreamTrack` with one coding per rid puts
//! `a=rid:<rid> send` and `a=simulcast:send q;h;f` in the offer, and each packet picks its
//! encoding by SSRC. The stack does not add the MID/RID header extensions itself, so the
//! publisher writes them (ids from the negotiated sender parameters).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use signalling_proto::{
    Command, CommandName, CommandResult, MediaKind, PublishTracksArgs, Sdp, SimulcastLayer,
    TrackPublication, TrackSource,
};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use crate::client_error::ClientError;
use crate::impair_relay::{ImpairRelay, ImpairmentConfig, LinkCounters};
use crate::keyframe_feedback;
use crate::location::Whereabouts;
use crate::packet_tag::PacketTag;
use crate::peer;
use crate::red;
use crate::signalling::{unexpected, Signalling};
use crate::vp8::{self, Vp8Descriptor};
use crate::wall_clock::unix_micros;
use sfu_client::rtp_send::{header, sendonly, wait_connected, HeaderIds};

/// Payload bytes per video packet at most (a typical browser's VP8 packetisation stays near
/// 1,100-1,200 bytes so that SRTP + headers fit a 1,280-byte path MTU).
pub const MAX_VIDEO_PAYLOAD: usize = 1100;

/// One video encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoLayer {
    /// The RTP stream id (`a=rid`); unused in single-layer mode.
    pub rid: String,
    pub width: u16,
    pub height: u16,
    pub bitrate_bps: u32,
    pub fps: u32,
}

/// What a synthetic publisher sends.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// The load tester's number for this publisher, written into every packet's tag.
    pub publisher_id: u32,
    /// Video encodings, lowest first; more than one means simulcast with rids; empty means no
    /// camera.
    pub video: Vec<VideoLayer>,
    /// Temporal layers per encoding (1-3), signalled with TID in the VP8 descriptor.
    pub temporal_layers: u8,
    pub keyframe_interval: Duration,
    /// Publish an Opus-sized microphone track (20 ms, 80-160 bytes).
    pub audio: bool,
    /// Route the transport through an impairment relay (its `up` direction is the media).
    pub impairment: Option<ImpairmentConfig>,
}

impl PublisherConfig {
    /// A camera in three simulcast encodings q/h/f (320x180 150 kbit/s, 640x360 500 kbit/s,
    /// 1280x720 1.5 Mbit/s, 30 fps, 3 temporal layers, keyframe every 3 s) and a microphone.
    pub fn simulcast(publisher_id: u32) -> Self {
        let layer = |rid: &str, width, height, bitrate_bps| VideoLayer {
            rid: rid.to_owned(),
            width,
            height,
            bitrate_bps,
            fps: 30,
        };
        Self {
            publisher_id,
            video: vec![
                layer("q", 320, 180, 150_000),
                layer("h", 640, 360, 500_000),
                layer("f", 1280, 720, 1_500_000),
            ],
            temporal_layers: 3,
            keyframe_interval: Duration::from_secs(3),
            audio: true,
            impairment: None,
        }
    }

    /// One 1280x720 1.5 Mbit/s encoding (no rids) and a microphone.
    pub fn single_layer(publisher_id: u32) -> Self {
        let mut config = Self::simulcast(publisher_id);
        config.video.drain(..2);
        config
    }

    /// A microphone only.
    pub fn audio_only(publisher_id: u32) -> Self {
        let mut config = Self::simulcast(publisher_id);
        config.video.clear();
        config
    }

    fn is_simulcast(&self) -> bool {
        self.video.len() > 1
    }
}

/// What a publisher has sent so far.
#[derive(Debug, Default)]
pub struct SendCounters {
    pub video_packets: AtomicU64,
    pub audio_packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Frames the sender loop produced late (more than one frame interval behind): the
    /// client, not the SFU, was the bottleneck (DECISIONS.md §20).
    pub late_frames: AtomicU64,
    /// `write_rtp` failures (the transport was gone or refused the packet).
    pub write_errors: AtomicU64,
    /// Picture loss indications and full intra requests received (each answered with a
    /// keyframe on the next frame, as a real encoder does).
    pub keyframe_requests: AtomicU64,
}

impl SendCounters {
    /// All media packets sent.
    pub fn packets(&self) -> u64 {
        self.video_packets.load(Ordering::Relaxed) + self.audio_packets.load(Ordering::Relaxed)
    }
}

/// A negotiated, sending publisher transport.
pub struct Publisher {
    pc: Arc<dyn PeerConnection>,
    counters: Arc<SendCounters>,
    senders: Vec<JoinHandle<()>>,
    relay: Option<ImpairRelay>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// A track with what the send loop needs to write its packets.
struct Outgoing {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrcs: Vec<u32>,
    /// The transceiver's mid, written into the MID header extension.
    mid: String,
}

impl Publisher {
    /// Publishes per PROTOCOL.md §4.1 step 2: sendonly transceivers, local offer (fixing the
    /// mids), `publish_tracks`, `publisher_offer`, the answer as remote description; then waits
    /// for the transport to connect and starts sending.
    pub async fn start(
        signalling: &Signalling,
        config: &PublisherConfig,
        whereabouts: Arc<Whereabouts>,
    ) -> Result<Publisher, ClientError> {
        let (pc, mut signals) = peer::build(None, peer::Feedback::default()).await?;
        let mut publications = Vec::new();
        let mut video = None;
        if !config.video.is_empty() {
            let codec = RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                ..Default::default()
            };
            let (track, ssrcs) = local_track(config, "camera", RtpCodecKind::Video, codec, {
                if config.is_simulcast() {
                    config.video.iter().map(|l| l.rid.clone()).collect()
                } else {
                    vec![String::new()]
                }
            });
            let transceiver = pc
                .add_transceiver_from_track(Arc::clone(&track) as Arc<dyn TrackLocal>, sendonly())
                .await?;
            video = Some((track, ssrcs, transceiver));
        }
        let mut audio = None;
        if config.audio {
            let codec = RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                ..Default::default()
            };
            let (track, ssrcs) = local_track(
                config,
                "microphone",
                RtpCodecKind::Audio,
                codec,
                vec![String::new()],
            );
            let transceiver = pc
                .add_transceiver_from_track(Arc::clone(&track) as Arc<dyn TrackLocal>, sendonly())
                .await?;
            audio = Some((track, ssrcs, transceiver));
        }

        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        peer::wait_gathered(&mut signals).await?;

        let mut outgoing_video = None;
        if let Some((track, ssrcs, transceiver)) = video {
            let mid = transceiver.mid().await?.unwrap_or_default();
            let layers = if config.is_simulcast() {
                config
                    .video
                    .iter()
                    .map(|l| SimulcastLayer {
                        rid: l.rid.clone(),
                        width: u32::from(l.width),
                        height: u32::from(l.height),
                        max_bitrate: l.bitrate_bps,
                        max_framerate: Some(l.fps),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            publications.push(TrackPublication {
                mid,
                source: TrackSource::Camera,
                stream_id: None,
                layers,
            });
            let sender = transceiver
                .sender()
                .await?
                .ok_or_else(|| ClientError::WebRtc("video transceiver has no sender".into()))?;
            outgoing_video = Some(Outgoing {
                track,
                sender,
                ssrcs,
                mid: publications[publications.len() - 1].mid.clone(),
            });
        }
        let mut outgoing_audio = None;
        if let Some((track, ssrcs, transceiver)) = audio {
            let mid = transceiver.mid().await?.unwrap_or_default();
            publications.push(TrackPublication {
                mid,
                source: TrackSource::Microphone,
                stream_id: None,
                layers: Vec::new(),
            });
            let sender = transceiver
                .sender()
                .await?
                .ok_or_else(|| ClientError::WebRtc("audio transceiver has no sender".into()))?;
            outgoing_audio = Some(Outgoing {
                track,
                sender,
                ssrcs,
                mid: publications[publications.len() - 1].mid.clone(),
            });
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
        let relay = match config.impairment.clone() {
            Some(impairment) => Some(ImpairRelay::start(impairment).await?),
            None => None,
        };
        let sdp = match &relay {
            Some(relay) => relay.rewrite_offer(&answer.sdp)?,
            None => answer.sdp,
        };
        pc.set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        wait_connected(&mut signals).await?;

        let counters = Arc::new(SendCounters::default());
        let mut senders = Vec::new();
        if let Some(out) = outgoing_video {
            let ids = HeaderIds::of(&out.sender, MIME_TYPE_VP8).await?;
            let keyframe_wanted = Arc::new(AtomicBool::new(false));
            senders.push(tokio::spawn(watch_keyframe_requests(
                Arc::clone(&out.track),
                Arc::clone(&keyframe_wanted),
                Arc::clone(&counters),
            )));
            senders.push(tokio::spawn(send_video(
                out,
                ids,
                config.clone(),
                Arc::clone(&whereabouts),
                Arc::clone(&counters),
                keyframe_wanted,
            )));
        }
        if let Some(out) = outgoing_audio {
            let ids = HeaderIds::of(&out.sender, MIME_TYPE_OPUS).await?;
            // RED (RFC 2198) where the SFU accepted it, as a browser sends it.
            let red_pt = HeaderIds::of(&out.sender, red::MIME_TYPE_RED)
                .await
                .ok()
                .map(|red| red.payload_type);
            senders.push(tokio::spawn(send_audio(
                out,
                ids,
                red_pt,
                config.publisher_id,
                whereabouts,
                Arc::clone(&counters),
            )));
        }
        Ok(Publisher {
            pc,
            counters,
            senders,
            relay,
        })
    }

    /// What was sent so far.
    pub fn counters(&self) -> &Arc<SendCounters> {
        &self.counters
    }

    /// The impairment relay's counters, when the transport is impaired.
    pub fn link_counters(&self) -> Option<&Arc<LinkCounters>> {
        self.relay.as_ref().map(ImpairRelay::counters)
    }

    /// Stops sending and closes the transport.
    pub async fn close(self) {
        for sender in &self.senders {
            sender.abort();
        }
        let _ = self.pc.close().await;
        drop(self.relay);
    }
}

/// A local track with one coding per rid (an empty rid: no simulcast), each with its own
/// random SSRC.
fn local_track(
    config: &PublisherConfig,
    name: &str,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    rids: Vec<String>,
) -> (Arc<TrackLocalStaticRTP>, Vec<u32>) {
    let mut ssrcs = Vec::new();
    let codings = rids
        .into_iter()
        .enumerate()
        .map(|(i, rid)| {
            // Distinct and recognisable in captures: publisher id in the top bits.
            let ssrc =
                (config.publisher_id << 8) | ((kind as u32 & 1) << 4) | i as u32 | 0x1000_0000;
            ssrcs.push(ssrc);
            RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid,
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                active: true,
                ..Default::default()
            }
        })
        .collect();
    let track = MediaStreamTrack::new(
        format!("lt-{}", config.publisher_id),
        format!("lt-{}-{name}", config.publisher_id),
        name.to_owned(),
        kind,
        codings,
    );
    (Arc::new(TrackLocalStaticRTP::new(track)), ssrcs)
}

/// Per-encoding state of the VP8 sender.
struct EncodingState {
    ssrc: u32,
    rid: String,
    seq: u16,
    counter: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
    key_idx: u8,
}

async fn send_video(
    out: Outgoing,
    ids: HeaderIds,
    config: PublisherConfig,
    whereabouts: Arc<Whereabouts>,
    counters: Arc<SendCounters>,
    keyframe_wanted: Arc<AtomicBool>,
) {
    let mid = out.mid.clone();
    let fps = config
        .video
        .iter()
        .map(|l| l.fps)
        .max()
        .unwrap_or(30)
        .max(1);
    let frame_interval = Duration::from_secs(1) / fps;
    let frames_per_keyframe = (config.keyframe_interval.as_secs_f64() * f64::from(fps))
        .round()
        .max(1.0) as u64;
    let mut encodings: Vec<EncodingState> = config
        .video
        .iter()
        .zip(&out.ssrcs)
        .enumerate()
        .map(|(i, (layer, ssrc))| EncodingState {
            ssrc: *ssrc,
            rid: if config.is_simulcast() {
                layer.rid.clone()
            } else {
                String::new()
            },
            // Different starting points per encoding, as a real sender has.
            seq: (config.publisher_id as u16)
                .wrapping_mul(7919)
                .wrapping_add(i as u16 * 1000),
            counter: 0,
            picture_id: (i as u16) * 1000,
            tl0_pic_idx: 0,
            key_idx: 0,
        })
        .collect();
    let mut ticker = tokio::time::interval(frame_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = tokio::time::Instant::now();
    // Frames since the last keyframe: periodic ones every `keyframe_interval`, and one on the
    // next frame after a keyframe request, after which the period starts over.
    let mut since_key: u64 = 0;
    loop {
        let tick = ticker.tick().await;
        if tick.elapsed() > frame_interval {
            counters.late_frames.fetch_add(1, Ordering::Relaxed);
        }
        if keyframe_wanted.swap(false, Ordering::Relaxed) || since_key >= frames_per_keyframe {
            since_key = 0;
        }
        let keyframe = since_key == 0;
        let (tid, layer_sync) = vp8::temporal_pattern(since_key, config.temporal_layers);
        let ts = ((tick - start).as_micros() as u64 * 9 / 100) as u32;
        let group = whereabouts.group();
        for (spatial, (layer, enc)) in config.video.iter().zip(&mut encodings).enumerate() {
            if keyframe {
                enc.key_idx = enc.key_idx.wrapping_add(1) & 0x1F;
            }
            if tid == 0 {
                enc.tl0_pic_idx = enc.tl0_pic_idx.wrapping_add(1);
            }
            enc.picture_id = enc.picture_id.wrapping_add(1) & 0x7FFF;
            let mut frame_bytes = (layer.bitrate_bps / layer.fps.max(1) / 8) as usize;
            if keyframe {
                // Keyframes of a real encoder are several times a delta frame.
                frame_bytes *= 4;
            }
            let packets = frame_bytes.div_ceil(MAX_VIDEO_PAYLOAD).max(1);
            for p in 0..packets {
                let first = p == 0;
                let last = p + 1 == packets;
                let mut payload = Vec::with_capacity(MAX_VIDEO_PAYLOAD + 32);
                Vp8Descriptor {
                    non_reference: tid == config.temporal_layers.saturating_sub(1) && tid > 0,
                    start_of_partition: first,
                    partition_id: 0,
                    picture_id: Some(enc.picture_id),
                    tl0_pic_idx: Some(enc.tl0_pic_idx),
                    tid: Some(tid),
                    layer_sync,
                    key_idx: Some(enc.key_idx),
                }
                .write_long(&mut payload);
                if first {
                    vp8::write_frame_header(
                        &mut payload,
                        keyframe,
                        frame_bytes as u32,
                        layer.width,
                        layer.height,
                    );
                }
                enc.counter = enc.counter.wrapping_add(1);
                PacketTag {
                    kind: MediaKind::Video,
                    spatial: spatial as u8,
                    keyframe,
                    publisher: config.publisher_id,
                    group,
                    counter: enc.counter,
                    sent_at_us: unix_micros(),
                }
                .write(&mut payload);
                let size = (frame_bytes / packets).clamp(payload.len(), MAX_VIDEO_PAYLOAD);
                payload.resize(size, 0x5A);
                let packet = rtp::packet::Packet {
                    header: header(ids, &mid, &enc.rid, enc.ssrc, enc.seq, ts, last),
                    payload: Bytes::from(payload),
                };
                enc.seq = enc.seq.wrapping_add(1);
                let bytes = packet.payload.len() as u64;
                match out.track.write_rtp(packet).await {
                    Ok(()) => {
                        counters.video_packets.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                    }
                    Err(_) => {
                        counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        since_key += 1;
    }
}

/// Answers the SFU's keyframe requests (PLI, FIR) as a real encoder does: a keyframe on the
/// next frame of every encoding (libwebrtc's simulcast encoders may key only the asked
/// encoding; keying all of them costs a few more bytes and no delay). Without this the
/// time to a joiner's first frame would measure the publisher's keyframe interval, not the
/// SFU (issue 13, goal 3). The requests reach the track through [`keyframe_feedback`]. Ends
/// with the track.
async fn watch_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    keyframe_wanted: Arc<AtomicBool>,
    counters: Arc<SendCounters>,
) {
    use webrtc::media_stream::track_local::TrackLocalEvent;
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        for packet in packets {
            if keyframe_feedback::is_keyframe_request(packet.as_ref()) {
                counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                keyframe_wanted.store(true, Ordering::Relaxed);
            }
        }
    }
}

async fn send_audio(
    out: Outgoing,
    ids: HeaderIds,
    red_pt: Option<u8>,
    publisher_id: u32,
    whereabouts: Arc<Whereabouts>,
    counters: Arc<SendCounters>,
) {
    let mid = out.mid.clone();
    let ssrc = out.ssrcs[0];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq: u16 = (publisher_id as u16).wrapping_mul(104_729_u32 as u16);
    let mut ts: u32 = publisher_id.wrapping_mul(48_000);
    let mut n: u32 = 0;
    let mut previous: Option<Vec<u8>> = None;
    loop {
        ticker.tick().await;
        n = n.wrapping_add(1);
        let mut payload = Vec::with_capacity(160);
        // An Opus TOC byte (config 31: CELT FB 20 ms, stereo, one frame), then our tag.
        payload.push(0xFC);
        PacketTag {
            kind: MediaKind::Audio,
            spatial: 0,
            keyframe: false,
            publisher: publisher_id,
            group: whereabouts.group(),
            counter: n,
            sent_at_us: unix_micros(),
        }
        .write(&mut payload);
        // 80-160 bytes, varying like a VBR Opus stream.
        payload.resize(80 + (n.wrapping_mul(37) % 81) as usize, 0xA5);
        let mut header = header(ids, &mid, "", ssrc, seq, ts, n == 1);
        // With RED each packet also carries the previous frame (20 ms = 960 ticks earlier).
        let payload = match red_pt {
            Some(pt) => {
                header.payload_type = pt;
                let red = red::encode(
                    ids.payload_type,
                    previous.as_deref().map(|p| (p, 960)),
                    &payload,
                );
                previous = Some(payload);
                red
            }
            None => payload,
        };
        let packet = rtp::packet::Packet {
            header,
            payload: Bytes::from(payload),
        };
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(960);
        let bytes = packet.payload.len() as u64;
        match out.track.write_rtp(packet).await {
            Ok(()) => {
                counters.audio_packets.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(_) => {
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
