//! The synthetic subscriber: answers the server's `subscriber_offer`s on a recvonly webrtc-rs
//! transport and reads every remote track, counting per received RTP stream (SSRC) the
//! packets, loss, duplicates, freezes and keyframe wait ([`TrackStats`]), and per subscriber
//! one-way latency, join time and packets that crossed breakout groups.
//!
//! Who sent a packet comes from its [`PacketTag`], not from SDP, so the counts hold whatever
//! the SFU rewrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rtc::rtp;
use signalling_proto::{Command, MediaKind, VersionedSdp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

use crate::client_error::ClientError;
use crate::impair_relay::{ImpairRelay, ImpairmentConfig, LinkCounters};
use crate::location::Whereabouts;
use crate::packet_tag::{PacketTag, TAG_LEN};
use crate::peer::{self, Feedback, PeerSignals};
use crate::red;
use crate::signalling::Signalling;
use crate::stats::{LatencyHistogram, TrackStats, LONG_GAP};
use crate::vp8::{self, Vp8Descriptor};
use crate::wall_clock::unix_micros;

/// One received RTP stream.
#[derive(Debug, Clone)]
pub struct ReceivedTrack {
    pub publisher: u32,
    pub kind: MediaKind,
    pub ssrc: u32,
    pub stats: TrackStats,
    /// Packets per simulcast encoding index (which layer the SFU forwarded).
    pub per_spatial: [u64; 4],
    /// Every change of the spatial layer received: `(from, to, first packet was a keyframe
    /// start)`; `from` is `u8::MAX` for a track whose very first packet was no keyframe. A
    /// simulcast switch must begin on a keyframe of the new layer.
    pub switches: Vec<(u8, u8, bool)>,
    /// The spatial layer of the last video packet.
    pub last_spatial: Option<u8>,
    /// When each spatial layer began (in sequence order): the first entry is the first
    /// video packet's layer.
    pub layer_changes: Vec<(Instant, u8)>,
    /// When each temporal layer level began: the highest VP8 TID among the frames of the last
    /// [`TEMPORAL_WINDOW`] (the frame rate the SFU forwards).
    pub temporal_changes: Vec<(Instant, u8)>,
    /// When a frame of each TID last started.
    pub tid_seen: [Option<Instant>; 4],
    /// Spans longer than [`LONG_GAP`] without any new video packet (the SFU paused the
    /// stream, or everything was lost): (last packet, next packet or the end).
    pub packet_gaps: Vec<(Instant, Instant)>,
}

/// Everything one subscriber measured.
#[derive(Debug, Clone, Default)]
pub struct SubscriberStats {
    /// Keyed by SSRC: a breakout move or resubscription gives a new stream.
    pub tracks: HashMap<u32, ReceivedTrack>,
    pub latency: LatencyHistogram,
    /// From `Participant::join` start (WebSocket open) to the first media packet.
    pub join_time: Option<Duration>,
    /// Packets whose tag names a group other than the subscriber's own.
    pub cross_group_packets: u64,
    /// Packets dropped on purpose by `--loss` before counting.
    pub injected_losses: u64,
    /// Packets without a load-test tag (not ours, or corrupted on the way).
    pub untagged_packets: u64,
    /// Subscriber offers answered.
    pub offers_answered: u64,
    /// Remote tracks that ended (the server stopped their m-line): the publisher whose packets
    /// the track carried (if any arrived) and when. webrtc-rs 0.21 does not always end a
    /// track whose m-line was stopped; [`SubscriberStats::offers`] tells it from the SDP.
    pub ended: Vec<(Option<u32>, Instant)>,
    /// Every server offer received: when, and how many of its media m-lines are open.
    pub offers: Vec<(Instant, usize)>,
    /// When the subscriber transport first reached `connected`.
    pub connected_at: Option<Instant>,
    /// The impairment relay's counters, when this subscriber's path is impaired.
    pub link: Option<Arc<LinkCounters>>,
    /// The RED (RFC 2198) payload types of the server's last offer: packets with one are
    /// unwrapped, and their redundant blocks recover lost audio.
    pub red_pts: Vec<u8>,
}

impl SubscriberStats {
    /// Closes the freeze accounting at `now` of every track whose publisher `still_heard`
    /// says this subscriber should still receive. A track that stopped because someone moved
    /// to another group ended as it should, and its silence since is no freeze.
    pub fn finish(&mut self, now: Instant, still_heard: impl Fn(u32) -> bool) {
        for track in self.tracks.values_mut() {
            if still_heard(track.publisher) {
                track.stats.finish(now);
                if let Some(last) = track.stats.last_packet_at {
                    if track.kind == MediaKind::Video
                        && now.saturating_duration_since(last) > LONG_GAP
                    {
                        track.packet_gaps.push((last, now));
                    }
                }
            }
        }
    }
}

/// Subscriber options.
#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    /// Percentage (0-100) of received packets to drop before counting (seeded).
    pub loss_pct: f64,
    pub seed: u64,
    /// Route the transport through an impairment relay ([`ImpairRelay`]).
    pub impairment: Option<ImpairmentConfig>,
    /// What the transport offers for congestion control and repair.
    pub feedback: Feedback,
}

impl SubscriberConfig {
    /// No loss, no impairment.
    pub fn new(seed: u64) -> Self {
        Self {
            loss_pct: 0.0,
            seed,
            impairment: None,
            feedback: Feedback::default(),
        }
    }
}

/// A subscriber transport and the tasks reading its tracks.
pub struct Subscriber {
    pc: Arc<dyn PeerConnection>,
    signals: PeerSignals,
    stats: Arc<Mutex<SubscriberStats>>,
    reader: JoinHandle<()>,
    watcher: JoinHandle<()>,
    relay: Option<ImpairRelay>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Subscriber {
    /// A subscriber transport waiting for the server's first offer; `joined_at` is when the
    /// participant opened its WebSocket (for the join time).
    pub async fn new(
        config: SubscriberConfig,
        whereabouts: Arc<Whereabouts>,
        joined_at: Instant,
    ) -> Result<Subscriber, ClientError> {
        let (tracks_tx, mut tracks_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
        let (pc, signals) = peer::build(Some(tracks_tx), config.feedback).await?;
        let relay = match config.impairment.clone() {
            Some(impairment) => Some(ImpairRelay::start(impairment).await?),
            None => None,
        };
        let stats = Arc::new(Mutex::new(SubscriberStats {
            link: relay.as_ref().map(|r| Arc::clone(r.counters())),
            ..SubscriberStats::default()
        }));
        let mut state = signals.state.clone();
        let watcher_stats = Arc::clone(&stats);
        let watcher = tokio::spawn(async move {
            if state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected)
                .await
                .is_ok()
            {
                lock(&watcher_stats).connected_at = Some(Instant::now());
            }
        });
        let reader_stats = Arc::clone(&stats);
        let reader = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(track) = tracks_rx.recv().await {
                n += 1;
                let rng = ChaCha8Rng::seed_from_u64(config.seed ^ (n << 32));
                tokio::spawn(read_track(
                    track,
                    Arc::clone(&reader_stats),
                    Arc::clone(&whereabouts),
                    config.loss_pct,
                    rng,
                    joined_at,
                ));
            }
        });
        Ok(Subscriber {
            pc,
            signals,
            stats,
            reader,
            watcher,
            relay,
        })
    }

    /// Answers one `subscriber_offer` (PROTOCOL.md §4.1 step 3).
    pub async fn answer(
        &mut self,
        signalling: &Signalling,
        offer: VersionedSdp,
    ) -> Result<(), ClientError> {
        {
            let mut stats = lock(&self.stats);
            stats
                .offers
                .push((Instant::now(), open_m_lines(&offer.sdp)));
            stats.red_pts = red::payload_types(&offer.sdp);
        }
        let sdp = match &self.relay {
            Some(relay) => relay.rewrite_offer(&offer.sdp)?,
            None => offer.sdp,
        };
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
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
        lock(&self.stats).offers_answered += 1;
        Ok(())
    }

    /// A copy of the measurements so far.
    pub fn snapshot(&self) -> SubscriberStats {
        lock(&self.stats).clone()
    }

    /// The live measurements (lock briefly: the track readers write here per packet).
    pub fn stats(&self) -> &Arc<Mutex<SubscriberStats>> {
        &self.stats
    }

    /// Closes the transport.
    pub async fn close(self) {
        self.reader.abort();
        self.watcher.abort();
        let _ = self.pc.close().await;
        drop(self.relay);
    }
}

async fn read_track(
    track: Arc<dyn TrackRemote>,
    stats: Arc<Mutex<SubscriberStats>>,
    whereabouts: Arc<Whereabouts>,
    loss_pct: f64,
    mut rng: ChaCha8Rng,
    joined_at: Instant,
) {
    let drop_below = (loss_pct.clamp(0.0, 100.0) / 100.0 * u32::MAX as f64) as u32;
    let mut publisher = None;
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => {
                lock(&stats).ended.push((publisher, Instant::now()));
                break;
            }
            _ => continue,
        };
        if publisher.is_none() {
            publisher = read_payload(&packet.payload).map(|(tag, _)| tag.publisher);
        }
        let at = Instant::now();
        if drop_below > 0 && rng.next_u32() < drop_below {
            lock(&stats).injected_losses += 1;
            continue;
        }
        count_packet(&mut lock(&stats), &packet, at, &whereabouts, joined_at);
    }
    debug!("remote track ended");
}

/// Reads a packet's VP8 descriptor (video) and tag, and counts it.
fn count_packet(
    stats: &mut SubscriberStats,
    packet: &rtp::packet::Packet,
    at: Instant,
    whereabouts: &Whereabouts,
    joined_at: Instant,
) {
    let (unwrapped, repairs);
    let packet = if stats.red_pts.contains(&packet.header.payload_type) {
        let Some(split) = red::split_packet(packet) else {
            stats.untagged_packets += 1;
            return;
        };
        (unwrapped, repairs) = split;
        &unwrapped
    } else {
        repairs = Vec::new();
        packet
    };
    let Some((tag, keyframe_start)) = read_payload(&packet.payload) else {
        stats.untagged_packets += 1;
        return;
    };
    let now_us = unix_micros();
    if stats.join_time.is_none() {
        stats.join_time = Some(at - joined_at);
    }
    if whereabouts.is_crossing(tag.group) == Some(true) {
        stats.cross_group_packets += 1;
    }
    let ssrc = packet.header.ssrc;
    let track = stats.tracks.entry(ssrc).or_insert_with(|| ReceivedTrack {
        publisher: tag.publisher,
        kind: tag.kind,
        ssrc,
        stats: TrackStats::new(tag.kind == MediaKind::Video),
        per_spatial: [0; 4],
        switches: Vec::new(),
        last_spatial: None,
        layer_changes: Vec::new(),
        temporal_changes: Vec::new(),
        tid_seen: [None; 4],
        packet_gaps: Vec::new(),
    });
    track.per_spatial[usize::from(tag.spatial & 3)] += 1;
    // Layer switches are read from packets in sequence order only: a retransmission (RTX after
    // a NACK) of an older packet arriving late is no switch.
    let in_order = track.stats.is_newest(packet.header.sequence_number);
    if tag.kind == MediaKind::Video && in_order {
        match track.last_spatial {
            Some(last) if last != tag.spatial => {
                track.switches.push((last, tag.spatial, keyframe_start));
            }
            None if !keyframe_start => track.switches.push((u8::MAX, tag.spatial, false)),
            _ => {}
        }
        note_temporal(track, &packet.payload, at);
        if track.last_spatial != Some(tag.spatial) {
            track.layer_changes.push((at, tag.spatial));
        }
        track.last_spatial = Some(tag.spatial);
        if let Some(last) = track.stats.last_packet_at {
            if at.saturating_duration_since(last) > LONG_GAP {
                track.packet_gaps.push((last, at));
            }
        }
    }
    let first_copy = track.stats.handle_packet(
        packet.header.sequence_number,
        packet.payload.len(),
        packet.header.marker,
        keyframe_start,
        at,
    );
    for (seq, len) in repairs {
        track.stats.recover(seq, len);
    }
    // One-way latency of each packet's first arrival; a duplicate (a retransmission of a
    // packet that had arrived) says nothing about the path.
    if first_copy {
        stats
            .latency
            .record(Duration::from_micros(now_us.saturating_sub(tag.sent_at_us)));
    }
}

/// A VP8 frame's temporal layers arrive interleaved (TID 0, 2, 1, 2 at 30 fps with three
/// layers): within this window every forwarded TID shows up at least once.
pub const TEMPORAL_WINDOW: Duration = Duration::from_millis(250);

/// Updates the temporal level of `track` from a video packet that starts a frame.
fn note_temporal(track: &mut ReceivedTrack, payload: &[u8], at: Instant) {
    let Some((descriptor, _)) = Vp8Descriptor::parse(payload) else {
        return;
    };
    let (true, Some(tid)) = (descriptor.starts_frame(), descriptor.tid) else {
        return;
    };
    track.tid_seen[usize::from(tid & 3)] = Some(at);
    let level = (0..4u8)
        .rev()
        .find(|t| {
            track.tid_seen[usize::from(*t)]
                .is_some_and(|seen| at.saturating_duration_since(seen) <= TEMPORAL_WINDOW)
        })
        .unwrap_or(0);
    if track.temporal_changes.last().map(|c| c.1) != Some(level) {
        track.temporal_changes.push((at, level));
    }
}

/// The tag of a synthetic payload and whether the packet starts a keyframe: audio tags follow
/// the 1-byte Opus TOC; video tags follow the VP8 descriptor, and in a frame's first packet the
/// VP8 frame header.
pub fn read_payload(payload: &[u8]) -> Option<(PacketTag, bool)> {
    if let Some(tag) = payload.get(1..).and_then(PacketTag::read) {
        if tag.kind == MediaKind::Audio {
            return Some((tag, false));
        }
    }
    let (descriptor, at) = Vp8Descriptor::parse(payload)?;
    let rest = payload.get(at..)?;
    let (keyframe, skip) = if descriptor.starts_frame() {
        let keyframe = vp8::is_keyframe_header(rest);
        (keyframe, vp8::frame_header_len(keyframe))
    } else {
        (false, 0)
    };
    let tag = PacketTag::read(rest.get(skip..skip + TAG_LEN)?)?;
    Some((tag, keyframe))
}

/// The audio and video m-lines of an SDP that are not stopped (port 0 means stopped, JSEP).
/// The data channel's `m=application` line, which the server never stops, is not counted.
pub fn open_m_lines(sdp: &str) -> usize {
    sdp.lines()
        .filter(|l| l.starts_with("m=audio ") || l.starts_with("m=video "))
        .filter(|l| l.split_whitespace().nth(1) != Some("0"))
        .count()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters only: a panicked reader leaves them consistent enough to report.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
