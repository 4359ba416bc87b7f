//! `ShardLoop`: the loop of one shard thread (ARCHITECTURE.md §2).
//!
//! Each iteration waits for the first of: a command, a datagram, or the earliest timer of any
//! `Rtc` or `MediaCore`. Then it feeds that input, drains every `Rtc` it touched until str0m
//! returns a timeout (writing forwards into subscriber `Rtc`s on the way), and fires the timers
//! that are due. Commands are applied between two datagrams, never inside a packet's fan-out,
//! so a command's reply is the ack that it governs every later packet (spec §13.3).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rustc_hash::FxHashMap;
use slotmap::{SecondaryMap, SlotMap};
use str0m::bwe::{Bitrate as RtcBitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind as RtcMediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::{Event, IceConnectionState, Output as RtcOutput};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn, Instrument};

use super::downlink::{rtp_write, Downlink, OutTrack, PendingOffer, Vp8PatchCache};
use super::fixed_histogram::{
    BANDWIDTH_BOUNDS_BPS, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS,
};
use super::handle::{
    layer_switch_reason, publication_kind, AnnouncedTrack, Command, ForwardingChange, Preference,
    Reply, ShardError, ShardEvent, ShardHandle, ShardStats, Subscribed, SubscriberOffer,
};
use super::peer::{Peer, PeerFault, PeerSetup, Role, Transport};
use super::reply_source::ReplySource;
use super::speakers::SpeakerMeter;
use super::uplink::{core_codec, rtp_in, Mapped, NewStream, Uplink};
use super::{RoomId, ShardConfig};
use crate::clock;
use crate::core::{
    Bitrate, Codec, CoreConfig, CoreEvent, CoreStats, DownlinkId, EncodingIdx, Input, KeyframeKind,
    Layer, MediaCore, MediaKind, Output, ParticipantId, PublicationId, PublicationSpec, StreamRef,
    SubscriptionId,
};

slotmap::new_key_type! {
    /// One `Rtc` on the shard.
    struct PeerKey;
}

/// Datagrams read per wake-up before the touched peers are flushed, so one busy socket cannot
/// starve timers and commands (quinn's work limit).
const RECV_BATCH: usize = 64;
/// How far above a downlink's demand its bandwidth estimator probes: enough headroom for the
/// allocator to raise a layer (DECISIONS.md §9) without probing for bandwidth nobody asked for.
const DEMAND_HEADROOM_PCT: u64 = 25;
/// Outputs drained from one `Rtc` per poll before it goes back in the queue.
const POLL_LIMIT: usize = 4096;
/// Rounds of "poll every dirty peer" per wake-up; forwards only ever dirty subscriber peers,
/// whose outputs dirty nothing else, so two rounds settle; the cap only guards a bug.
const FLUSH_ROUNDS: usize = 16;
/// The largest UDP datagram (IPv4 payload limit); WebRTC datagrams stay under the MTU.
const RECV_BUF: usize = 65_536;

/// Starts a shard thread on `config.bind` and returns its handle and event stream.
///
/// Errors are I/O errors of binding the socket or starting the thread.
pub fn spawn(config: ShardConfig) -> io::Result<(ShardHandle, mpsc::Receiver<ShardEvent>)> {
    let std_socket = std::net::UdpSocket::bind(config.bind)?;
    std_socket.set_nonblocking(true)?;
    let local_addr = std_socket.local_addr()?;
    let (tx, commands) = mpsc::channel(config.command_capacity.max(1));
    let (events, events_rx) = mpsc::channel(config.event_capacity.max(1));
    let setup = PeerSetup {
        crypto: std::sync::Arc::new(str0m::crypto::from_feature_flags()),
        candidates: config
            .public_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, config.advertised_port.unwrap_or(local_addr.port())))
            .collect(),
        initial_estimate: RtcBitrate::bps(config.initial_estimate_bps),
        desired_bitrate: RtcBitrate::bps(config.desired_bitrate_bps),
    };
    let core_config = config.core.clone();
    let loopback_only = config.loopback_only;
    let reply_source = ReplySource::new(config.bind.ip(), &config.public_ips);
    std::thread::Builder::new()
        .name(format!("shard-{}", local_addr.port()))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(error) => {
                    warn!(%error, "shard runtime failed to start");
                    return;
                }
            };
            let span = info_span!("shard", addr = %local_addr);
            runtime.block_on(
                async move {
                    let socket = match UdpSocket::from_std(std_socket) {
                        Ok(s) => s,
                        Err(error) => {
                            warn!(%error, "shard socket unusable");
                            return;
                        }
                    };
                    info!("media shard serving");
                    let mut shard = ShardLoop::new(socket, setup, core_config, events);
                    shard.loopback_only = loopback_only;
                    shard.reply_source = reply_source;
                    shard.run(commands).await;
                    info!("media shard stopped");
                }
                .instrument(span),
            );
        })?;
    Ok((ShardHandle { tx, local_addr }, events_rx))
}

#[derive(Debug)]
struct Room {
    core: MediaCore,
    participants: Vec<ParticipantId>,
    /// The subscriber transport of each core downlink (slab-indexed: no hashing per forward).
    downlink_peers: SecondaryMap<DownlinkId, PeerKey>,
    publications: SecondaryMap<PublicationId, PublicationInfo>,
    subscriptions: SecondaryMap<SubscriptionId, SubscriptionInfo>,
    speakers: SpeakerMeter,
}

#[derive(Debug, Clone, Copy)]
struct PublicationInfo {
    peer: PeerKey,
    participant: ParticipantId,
    stream: StreamRef,
    codec: Codec,
}

#[derive(Debug, Clone, Copy)]
struct SubscriptionInfo {
    publication: PublicationId,
    peer: PeerKey,
    /// The video layer forwarded last (none before the first, and after a pause), to tell a
    /// layer switch's reason.
    layer: Option<Layer>,
}

#[derive(Debug)]
struct ParticipantState {
    room: RoomId,
    /// When the participant was added to the shard (the start of its join latency).
    joined_at: Instant,
    downlink: DownlinkId,
    publisher: Option<PeerKey>,
    subscriber: Option<PeerKey>,
}

enum Wake {
    Command(Option<Command>),
    Datagram(io::Result<(usize, SocketAddr)>),
    Timer,
}

#[derive(Debug)]
struct ShardLoop {
    socket: UdpSocket,
    setup: PeerSetup,
    core_config: CoreConfig,
    loopback_only: bool,
    reply_source: ReplySource,
    peers: SlotMap<PeerKey, Peer>,
    /// Remote address -> peer, learnt when a peer accepts a datagram (str0m's `accepts` is
    /// the slow path, for the first STUN of each remote).
    by_addr: FxHashMap<SocketAddr, PeerKey>,
    rooms: FxHashMap<RoomId, Room>,
    participants: FxHashMap<ParticipantId, ParticipantState>,
    /// Peers with new input, to be polled until they return a timeout.
    dirty: Vec<PeerKey>,
    /// Peers whose `Rtc` failed, removed after the current fan-out.
    failed: Vec<(PeerKey, PeerFault)>,
    events: mpsc::Sender<ShardEvent>,
    stats: ShardStats,
    /// While the core fans out one received RTP packet: when the shard received it (for the
    /// forwarding latency of each copy).
    rtp_received_at: Option<Instant>,
    /// The core counters of rooms that have closed, so the shard's totals never go back.
    retired_core: CoreStats,
    vp8: Vp8PatchCache,
    buf: Vec<u8>,
}

impl ShardLoop {
    fn new(
        socket: UdpSocket,
        setup: PeerSetup,
        core_config: CoreConfig,
        events: mpsc::Sender<ShardEvent>,
    ) -> ShardLoop {
        ShardLoop {
            socket,
            setup,
            core_config,
            loopback_only: false,
            reply_source: ReplySource::default(),
            peers: SlotMap::with_key(),
            by_addr: FxHashMap::default(),
            rooms: FxHashMap::default(),
            participants: FxHashMap::default(),
            dirty: Vec::new(),
            failed: Vec::new(),
            events,
            stats: ShardStats::default(),
            rtp_received_at: None,
            retired_core: CoreStats::default(),
            vp8: Vp8PatchCache::default(),
            buf: vec![0; RECV_BUF],
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            let wake = tokio::select! {
                biased;
                cmd = commands.recv() => Wake::Command(cmd),
                r = self.socket.recv_from(&mut self.buf) => Wake::Datagram(r),
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            let now = clock::now();
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(Command::Shutdown { reply })) => {
                    let _ = reply.send(Ok(()));
                    break;
                }
                Wake::Command(Some(cmd)) => self.handle_command(now, cmd),
                Wake::Datagram(Ok((n, source))) => {
                    self.handle_datagram(now, source, n);
                    // Drain what else is queued on the socket, up to a bound.
                    for _ in 1..RECV_BATCH {
                        match self.socket.try_recv_from(&mut self.buf) {
                            Ok((n, source)) => self.handle_datagram(now, source, n),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Datagram(Err(error)) => {
                    // ICMP port unreachable from a closed client surfaces here on some
                    // platforms; it is no reason to stop serving everyone else.
                    debug!(%error, "recv_from failed");
                }
                Wake::Timer => {}
            }
            self.handle_timeouts(now);
            self.flush(now);
        }
    }

    /// The earliest time any `Rtc` or core wants a timeout.
    fn next_deadline(&self) -> Instant {
        let now = clock::now();
        // With nothing on the shard, wake once a second anyway (cheap, and bounds any
        // missed wake-up).
        let mut at = now + std::time::Duration::from_secs(1);
        for p in self.peers.values() {
            at = at.min(p.next_timeout.unwrap_or(now));
        }
        for r in self.rooms.values() {
            at = at.min(r.core.poll_timeout()).min(r.speakers.due());
        }
        at
    }

    // ---- network input ----------------------------------------------------------------

    fn handle_datagram(&mut self, now: Instant, source: SocketAddr, n: usize) {
        self.stats.datagrams_in += 1;
        // On a dual-stack socket an IPv4 peer shows up as ::ffff:a.b.c.d.
        let source = SocketAddr::new(source.ip().to_canonical(), source.port());
        if self.loopback_only && !source.ip().is_loopback() {
            self.stats.datagrams_refused += 1;
            return;
        }
        let Some(data) = self.buf.get(..n) else {
            return;
        };
        // Parses only the first bytes to tell STUN, DTLS, RTP and RTCP apart (RFC 7983);
        // anything else is garbage, dropped and counted.
        // The advertised address the peer sent to (the bound one may be 0.0.0.0 or a NAT's
        // inside address, which str0m does not know).
        let Some(destination) = self.setup.candidate_for(source) else {
            self.stats.datagrams_refused += 1;
            return;
        };
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            self.stats.datagrams_malformed += 1;
            return;
        };
        // RFC 7983 §7: a first byte of 0..=3 is STUN.
        let is_stun = data.first().is_some_and(|b| *b < 4);
        let input = str0m::Input::Receive(now, receive);
        let known = self
            .by_addr
            .get(&source)
            .copied()
            .filter(|k| self.peers.contains_key(*k));
        let key = match known {
            // A STUN request names its transport by ufrag: two transports of one client may
            // share an address, so STUN is always matched by `accepts`.
            Some(k) if !is_stun || self.peers[k].accepts(&input) => Some(k),
            _ => self
                .peers
                .iter()
                .find(|(_, p)| p.accepts(&input))
                .map(|(k, _)| k),
        };
        let Some(key) = key else {
            self.stats.datagrams_unmatched += 1;
            return;
        };
        let peer = &mut self.peers[key];
        if !peer.addrs.contains(&source) {
            peer.addrs.push(source);
        }
        self.by_addr.insert(source, key);
        match peer.guard(|rtc| rtc.handle_input(input)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(key, PeerFault(format!("input: {e}"))),
            Err(fault) => self.fail(key, fault),
        }
        // Poll at once: str0m holds one received RTP packet for `Event::RtpPacket` at a time.
        self.poll_peer(key, now);
    }

    // ---- timers -----------------------------------------------------------------------

    fn handle_timeouts(&mut self, now: Instant) {
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.next_timeout.is_none_or(|t| t <= now))
            .map(|(k, _)| k)
            .collect();
        for key in due {
            if let Some(peer) = self.peers.get_mut(key) {
                match peer.guard(|rtc| rtc.handle_input(str0m::Input::Timeout(now))) {
                    Ok(Ok(())) => self.mark_dirty(key),
                    Ok(Err(e)) => self.fail(key, PeerFault(format!("timeout: {e}"))),
                    Err(fault) => self.fail(key, fault),
                }
            }
        }
        let rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.core.poll_timeout() <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in rooms {
            if let Some(room) = self.rooms.get_mut(&id) {
                room.core.handle_input(Input::Timeout(now));
            }
            self.drain_core(id, now);
        }
        let mut reports = Vec::new();
        for (id, room) in &mut self.rooms {
            if room.speakers.due() <= now {
                if let Some(speakers) = room.speakers.report(now) {
                    reports.push(ShardEvent::Speakers {
                        room: *id,
                        speakers,
                    });
                }
            }
        }
        for report in reports {
            self.emit(report);
        }
    }

    // ---- polling str0m ----------------------------------------------------------------

    fn mark_dirty(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(key) {
            if !p.queued {
                p.queued = true;
                self.dirty.push(key);
            }
        }
    }

    /// Polls every peer with new input until str0m returns a timeout, and removes failed ones.
    fn flush(&mut self, now: Instant) {
        for _ in 0..FLUSH_ROUNDS {
            if self.dirty.is_empty() && self.failed.is_empty() {
                break;
            }
            let dirty = std::mem::take(&mut self.dirty);
            for &key in &dirty {
                if let Some(p) = self.peers.get_mut(key) {
                    p.queued = false;
                }
                self.poll_peer(key, now);
            }
            self.reap_failed(now);
        }
    }

    fn poll_peer(&mut self, key: PeerKey, now: Instant) {
        let mut progressed = false;
        for _ in 0..POLL_LIMIT {
            let Some(peer) = self.peers.get_mut(key) else {
                return;
            };
            let output = match peer.guard(|rtc| rtc.poll_output()) {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => return self.fail(key, PeerFault(format!("poll: {e}"))),
                Err(fault) => return self.fail(key, fault),
            };
            match output {
                // str0m's pacer wants a timeout after each packet it releases before it
                // releases the next (`needs_timeout_before_next_poll` in its leaky bucket):
                // serve it here rather than one whole loop turn later, as long as the
                // previous timeout made progress (a timer that stays due must not spin).
                RtcOutput::Timeout(t) if t <= now && progressed => {
                    progressed = false;
                    match peer.guard(|rtc| rtc.handle_input(str0m::Input::Timeout(now))) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return self.fail(key, PeerFault(format!("timeout: {e}"))),
                        Err(fault) => return self.fail(key, fault),
                    }
                }
                RtcOutput::Timeout(t) => {
                    peer.next_timeout = Some(t);
                    return;
                }
                RtcOutput::Transmit(t) => {
                    progressed = true;
                    let sent =
                        self.reply_source
                            .try_send_to(&self.socket, &t.contents, t.destination);
                    match sent {
                        Ok(_) => self.stats.datagrams_out += 1,
                        // Media over a full socket buffer is dropped and counted; str0m's
                        // NACK/RTX and keyframe requests recover it.
                        Err(_) => self.stats.send_dropped += 1,
                    }
                }
                RtcOutput::Event(e) => {
                    progressed = true;
                    self.handle_peer_event(key, now, e);
                }
            }
        }
        // Still busy: continue in the next flush round.
        self.mark_dirty(key);
    }

    fn handle_peer_event(&mut self, key: PeerKey, now: Instant, event: Event) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        match event {
            Event::Connected => {
                peer.connected = true;
                let e = ShardEvent::TransportConnected {
                    room: peer.room,
                    participant: peer.participant,
                    transport: peer.transport(),
                };
                self.emit(e);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(key, PeerFault("ICE disconnected".into()));
            }
            Event::RtpPacket(pkt) => self.handle_rtp(key, now, &pkt),
            Event::KeyframeRequest(req) => {
                self.stats.keyframe_requests_received += 1;
                let (room, sub) = match peer.downlink() {
                    Some(d) => (peer.room, d.by_mid.get(&req.mid).copied()),
                    None => return,
                };
                let Some(subscription) = sub else {
                    return;
                };
                let kind = match req.kind {
                    KeyframeRequestKind::Pli => KeyframeKind::Pli,
                    KeyframeRequestKind::Fir => KeyframeKind::Fir,
                };
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.core.handle_input(Input::Feedback {
                        at: now,
                        subscription,
                        kind,
                    });
                }
                self.drain_core(room, now);
            }
            Event::EgressBitrateEstimate(
                BweKind::Twcc {
                    estimate: bitrate, ..
                }
                | BweKind::Remb {
                    estimate: bitrate, ..
                },
            ) => {
                self.stats
                    .bandwidth_estimates
                    .record(&BANDWIDTH_BOUNDS_BPS, bitrate.as_u64());
                let Some(d) = peer.downlink() else {
                    return;
                };
                let (room, downlink) = (peer.room, d.id);
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.core.handle_input(Input::Estimate {
                        at: now,
                        downlink,
                        bitrate: Bitrate(bitrate.as_u64()),
                    });
                }
                self.drain_core(room, now);
            }
            Event::MediaEgressStats(stats) => {
                let written = peer.downlink().and_then(|d| {
                    let sid = d.by_mid.get(&stats.mid)?;
                    Some(d.out.get(*sid)?.written)
                });
                peer.rtcp.egress(&mut self.stats.rtcp, &stats, written);
            }
            Event::MediaIngressStats(stats) => peer.rtcp.ingress(&mut self.stats.rtcp, &stats),
            _ => {}
        }
    }

    // ---- the packet path --------------------------------------------------------------

    fn handle_rtp(&mut self, key: PeerKey, now: Instant, pkt: &RtpPacket) {
        self.stats.rtp_in += 1;
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let (room_id, participant) = (peer.room, peer.participant);
        let mapped = match peer.uplink().and_then(|u| u.encoding_of(pkt.header.ssrc)) {
            Some(m) => m,
            None => match self.map_new_ssrc(key, now, pkt) {
                Some(m) => m,
                None => {
                    self.stats.rtp_unmapped += 1;
                    return;
                }
            },
        };
        let Mapped {
            publication,
            encoding,
            codec,
        } = mapped;
        let rtp = match rtp_in(pkt, codec) {
            Ok(r) => r,
            Err(_) => {
                self.stats.rtp_malformed_payload += 1;
                return;
            }
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        debug_assert!(room.participants.contains(&participant));
        if let Some(level) = rtp.header.audio_level {
            room.speakers.observe(participant, level);
        }
        room.core.handle_input(Input::Rtp {
            at: now,
            publication,
            encoding,
            pkt: rtp,
        });
        self.rtp_received_at = Some(now);
        self.drain_core(room_id, now);
        self.rtp_received_at = None;
        self.vp8.clear();
    }

    /// The first packet of an SSRC: find its track, creating the publication on the first
    /// packet of a new track (its codec is known only now).
    fn map_new_ssrc(&mut self, key: PeerKey, now: Instant, pkt: &RtpPacket) -> Option<Mapped> {
        let peer = self.peers.get_mut(key)?;
        let classified = peer.guard_role(|rtc, role| match role {
            Role::Uplink(u) => Some(u.classify(rtc, pkt)),
            Role::Downlink(_) => None,
        });
        let spec = match classified {
            Err(fault) => {
                self.fail(key, fault);
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Err(why))) => {
                debug!(?why, ssrc = %pkt.header.ssrc, "unmapped RTP stream");
                return None;
            }
            Ok(Some(Ok(NewStream::Known(m)))) => return Some(m),
            Ok(Some(Ok(NewStream::NewTrack(spec)))) => spec,
        };
        let (room_id, participant) = (peer.room, peer.participant);
        let room = self.rooms.get_mut(&room_id)?;
        let publication = room
            .core
            .add_publication(PublicationSpec {
                participant,
                stream: spec.stream,
                codec: spec.codec,
                encodings: spec.encodings,
            })
            .ok()?;
        room.publications.insert(
            publication,
            PublicationInfo {
                peer: key,
                participant,
                stream: spec.stream,
                codec: spec.codec,
            },
        );
        let bound = peer.guard_role(|rtc, role| {
            if let Role::Uplink(u) = role {
                u.bind_track(rtc, &spec, publication);
            }
        });
        if let Err(fault) = bound {
            self.fail(key, fault);
            return None;
        }
        info!(%participant, ?publication, stream = %spec.stream.stream, kind = ?spec.stream.kind,
              codec = ?spec.codec, encodings = spec.encodings, "publication added");
        self.drain_core(room_id, now);
        self.emit(ShardEvent::PublicationAdded {
            room: room_id,
            participant,
            publication,
            stream: spec.stream,
            codec: spec.codec,
            encodings: spec.encodings,
        });
        Some(Mapped {
            publication,
            encoding: spec.encoding,
            codec: spec.codec,
        })
    }

    /// Drains the room's core until its timeout, doing what each output asks.
    fn drain_core(&mut self, room_id: RoomId, now: Instant) {
        loop {
            let Some(room) = self.rooms.get_mut(&room_id) else {
                return;
            };
            match room.core.poll_output() {
                Output::Timeout(_) => return,
                Output::Forward(f) => {
                    let Some(&key) = room.downlink_peers.get(f.downlink) else {
                        self.stats.forwards_dropped += 1;
                        continue;
                    };
                    let Some(peer) = self.peers.get_mut(key) else {
                        self.stats.forwards_dropped += 1;
                        continue;
                    };
                    let vp8 = &mut self.vp8;
                    let connected = peer.connected;
                    // `Some(first)` when written; `first` is the join instant of a subscriber
                    // whose connected transport gets its first media packet.
                    let written = peer.guard_role(|rtc, role| {
                        let Role::Downlink(d) = role else {
                            return None;
                        };
                        let track = d.out.get_mut(f.subscription)?;
                        let ssrc = track.ssrc;
                        let write = rtp_write(track, &f.pkt, now, vp8).ok()?;
                        let mut api = rtc.direct_api();
                        let tx = api.stream_tx(&ssrc)?;
                        tx.write_rtp(write);
                        track.written += 1;
                        let first_media = if connected {
                            d.awaiting_first_media.take()
                        } else {
                            None
                        };
                        Some(first_media)
                    });
                    match written {
                        Ok(Some(first_media)) => {
                            self.stats.forwards_written += 1;
                            if let Some(received) = self.rtp_received_at {
                                self.stats.forwarding_latency.record_duration(
                                    &FORWARDING_LATENCY_BOUNDS_NS,
                                    clock::now().saturating_duration_since(received),
                                );
                            }
                            if let Some(joined) = first_media {
                                self.stats.join_latency.record_duration(
                                    &JOIN_LATENCY_BOUNDS_NS,
                                    now.saturating_duration_since(joined),
                                );
                            }
                            self.mark_dirty(key);
                        }
                        Ok(None) => self.stats.forwards_dropped += 1,
                        Err(fault) => self.fail(key, fault),
                    }
                }
                Output::RequestKeyframe {
                    publication,
                    encoding,
                    kind,
                } => {
                    let Some(info) = room.publications.get(publication) else {
                        continue;
                    };
                    let key = info.peer;
                    let Some(peer) = self.peers.get_mut(key) else {
                        continue;
                    };
                    let kind = match kind {
                        KeyframeKind::Pli => KeyframeRequestKind::Pli,
                        KeyframeKind::Fir => KeyframeRequestKind::Fir,
                    };
                    let sent = peer.guard_role(|rtc, role| {
                        request_keyframe(rtc, role, publication, encoding, kind)
                    });
                    match sent {
                        Ok(true) => {
                            self.stats.keyframe_requests_sent += 1;
                            self.mark_dirty(key);
                        }
                        Ok(false) => {}
                        Err(fault) => self.fail(key, fault),
                    }
                }
                Output::Event(e) => {
                    let (subscription, change) = match e {
                        CoreEvent::LayerChanged {
                            subscription,
                            layer,
                        } => {
                            let before = room
                                .subscriptions
                                .get_mut(subscription)
                                .and_then(|s| s.layer.replace(layer));
                            self.stats.layer_switches[layer_switch_reason(before, layer)] += 1;
                            let target = room.core.layers(subscription).and_then(|l| l.target);
                            let change = ForwardingChange::Layer {
                                current: layer,
                                target,
                            };
                            (subscription, change)
                        }
                        CoreEvent::Paused { subscription } => {
                            if let Some(s) = room.subscriptions.get_mut(subscription) {
                                s.layer = None;
                            }
                            (subscription, ForwardingChange::Paused)
                        }
                        CoreEvent::Resumed { subscription } => {
                            (subscription, ForwardingChange::Resumed)
                        }
                        CoreEvent::DownlinkDemand { downlink, bitrate } => {
                            let Some(&key) = room.downlink_peers.get(downlink) else {
                                continue;
                            };
                            let Some(peer) = self.peers.get_mut(key) else {
                                continue;
                            };
                            let desired = RtcBitrate::bps(
                                bitrate.0.saturating_mul(100 + DEMAND_HEADROOM_PCT) / 100,
                            );
                            // No minimum: str0m pads a transport up to its minimum, and media
                            // below the demand needs no padding, only probes towards it.
                            if let Err(fault) =
                                peer.guard(|rtc| rtc.bwe().set_bitrate(RtcBitrate::ZERO, desired))
                            {
                                self.fail(key, fault);
                            }
                            continue;
                        }
                        CoreEvent::PolicyInstalled { .. } => continue,
                    };
                    let subscriber = room
                        .subscriptions
                        .get(subscription)
                        .and_then(|s| self.peers.get(s.peer))
                        .map(|p| p.participant);
                    if let Some(participant) = subscriber {
                        self.emit(ShardEvent::ForwardingChanged {
                            room: room_id,
                            participant,
                            subscription,
                            change,
                        });
                    }
                }
            }
        }
    }

    // ---- commands ---------------------------------------------------------------------

    fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::AddParticipant {
                room,
                participant,
                reply,
            } => {
                let r = self.add_participant(now, room, participant);
                answer(reply, r);
            }
            Command::PublisherOffer {
                participant,
                sdp,
                tracks,
                reply,
            } => {
                let r = self.publisher_offer(now, participant, &sdp, tracks);
                answer(reply, r);
            }
            Command::SetPreferences {
                participant,
                preferences,
                reply,
            } => {
                let r = self.set_preferences(now, participant, &preferences);
                answer(reply, r);
            }
            Command::UpdateSubscriptions {
                participant,
                add,
                remove,
                reply,
            } => {
                let r = self.update_subscriptions(now, participant, &add, &remove);
                answer(reply, r);
            }
            Command::SubscriberAnswer {
                participant,
                sdp,
                reply,
            } => {
                let r = self.subscriber_answer(now, participant, &sdp);
                answer(reply, r);
            }
            Command::InstallPolicy {
                room,
                policy,
                reply,
            } => {
                let r = match self.rooms.get_mut(&room) {
                    Some(r) => {
                        r.core.install_policy(now, policy);
                        Ok(r.core.policy_version())
                    }
                    None => Err(ShardError::UnknownRoom),
                };
                // The install's keyframe requests go out before the ack.
                self.drain_core(room, now);
                answer(reply, r);
            }
            Command::RemoveParticipant { participant, reply } => {
                let r = self.remove_participant(now, participant);
                answer(reply, r);
            }
            Command::Stats { reply } => {
                let r = Ok(self.stats());
                answer(reply, r);
            }
            Command::Shutdown { reply } => answer(reply, Ok(())),
        }
        self.reap_failed(now);
    }

    fn stats(&self) -> ShardStats {
        let mut core = self.retired_core;
        let mut publications_by_kind = [0; 4];
        let mut subscriptions_by_kind = [0; 4];
        let mut paused_subscriptions = 0;
        for room in self.rooms.values() {
            core.accumulate(room.core.stats());
            for info in room.publications.values() {
                publications_by_kind[publication_kind(info.stream)] += 1;
            }
            for (sid, sub) in &room.subscriptions {
                if let Some(info) = room.publications.get(sub.publication) {
                    subscriptions_by_kind[publication_kind(info.stream)] += 1;
                }
                let layers = room.core.layers(sid);
                if layers.is_some_and(|l| l.routed && l.target.is_none()) {
                    paused_subscriptions += 1;
                }
            }
        }
        ShardStats {
            core,
            rooms: self.rooms.len(),
            participants: self.participants.len(),
            peers: self.peers.len(),
            publications: self.rooms.values().map(|r| r.publications.len()).sum(),
            subscriptions: self.rooms.values().map(|r| r.subscriptions.len()).sum(),
            publications_by_kind,
            subscriptions_by_kind,
            paused_subscriptions,
            ..self.stats
        }
    }

    fn add_participant(
        &mut self,
        now: Instant,
        room_id: RoomId,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        if self.participants.contains_key(&participant) {
            return Err(ShardError::ParticipantExists);
        }
        let core_config = &self.core_config;
        let room = self.rooms.entry(room_id).or_insert_with(|| Room {
            core: MediaCore::new(core_config.clone(), now),
            participants: Vec::new(),
            downlink_peers: SecondaryMap::new(),
            publications: SecondaryMap::new(),
            subscriptions: SecondaryMap::new(),
            speakers: SpeakerMeter::new(now),
        });
        room.participants.push(participant);
        let downlink = room.core.add_downlink(participant);
        self.participants.insert(
            participant,
            ParticipantState {
                room: room_id,
                joined_at: now,
                downlink,
                publisher: None,
                subscriber: None,
            },
        );
        Ok(())
    }

    fn publisher_offer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        sdp: &str,
        tracks: Vec<AnnouncedTrack>,
    ) -> Result<String, ShardError> {
        let state = self
            .participants
            .get(&participant)
            .ok_or(ShardError::UnknownParticipant)?;
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| ShardError::BadSdp(e.to_string()))?;
        let key = match state.publisher {
            Some(k) => k,
            None => {
                let peer = Peer::new(
                    now,
                    &self.setup,
                    participant,
                    state.room,
                    Role::Uplink(Uplink::default()),
                )
                .map_err(|f| ShardError::TransportFailed(f.0))?;
                let key = self.peers.insert(peer);
                if let Some(s) = self.participants.get_mut(&participant) {
                    s.publisher = Some(key);
                }
                key
            }
        };
        let peer = &mut self.peers[key];
        if let Role::Uplink(u) = &mut peer.role {
            u.announce(tracks);
        }
        let answer = match peer.guard(|rtc| rtc.sdp_api().accept_offer(offer)) {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(ShardError::BadSdp(e.to_string())),
            Err(fault) => {
                let e = ShardError::TransportFailed(fault.0.clone());
                self.fail(key, fault);
                return Err(e);
            }
        };
        self.mark_dirty(key);
        Ok(answer.to_sdp_string())
    }

    fn set_preferences(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        preferences: &[Preference],
    ) -> Result<(), ShardError> {
        let state = self
            .participants
            .get(&participant)
            .ok_or(ShardError::UnknownParticipant)?;
        let room_id = state.room;
        let own = |sid: SubscriptionId| {
            state
                .subscriber
                .and_then(|key| self.peers.get(key))
                .and_then(|p| p.downlink())
                .is_some_and(|d| d.out.contains_key(sid))
        };
        if !preferences.iter().all(|p| own(p.subscription)) {
            return Err(ShardError::UnknownPublication);
        }
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        for p in preferences {
            room.core
                .set_requested(now, p.subscription, p.requested)
                .and_then(|()| room.core.set_priority(now, p.subscription, p.priority))
                .map_err(|_| ShardError::UnknownPublication)?;
        }
        self.drain_core(room_id, now);
        Ok(())
    }

    fn update_subscriptions(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        add: &[PublicationId],
        remove: &[SubscriptionId],
    ) -> Result<Option<SubscriberOffer>, ShardError> {
        let state = self
            .participants
            .get(&participant)
            .ok_or(ShardError::UnknownParticipant)?;
        let (room_id, downlink, joined_at) = (state.room, state.downlink, state.joined_at);
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        let mut adds = Vec::with_capacity(add.len());
        for &p in add {
            let info = room
                .publications
                .get(p)
                .ok_or(ShardError::UnknownPublication)?;
            adds.push((p, *info));
        }
        let key = match state.subscriber {
            Some(k) => k,
            None => {
                if adds.is_empty() {
                    return Ok(None);
                }
                let peer = Peer::new(
                    now,
                    &self.setup,
                    participant,
                    room_id,
                    Role::Downlink(Downlink::new(downlink, joined_at)),
                )
                .map_err(|f| ShardError::TransportFailed(f.0))?;
                let key = self.peers.insert(peer);
                room.downlink_peers.insert(downlink, key);
                if let Some(s) = self.participants.get_mut(&participant) {
                    s.subscriber = Some(key);
                }
                key
            }
        };
        let peer = &mut self.peers[key];
        if peer.downlink().is_some_and(|d| d.pending.is_some()) {
            return Err(ShardError::OfferPending);
        }
        for &sid in remove {
            if room.subscriptions.remove(sid).is_some() {
                let _ = room.core.unsubscribe(sid);
            }
        }
        let made = peer.guard_role(|rtc, role| {
            let Role::Downlink(d) = role else {
                return None;
            };
            for &sid in remove {
                if let Some(t) = d.remove(sid) {
                    d.stale.push(t.mid);
                }
            }
            let mut api = rtc.sdp_api();
            if !d.keepalive {
                // A data channel keeps one m-line open for the life of the transport: when
                // every media m-line is stopped (the subscriber alone in a breakout session,
                // its last publisher gone), an empty BUNDLE group would end the transport in
                // browsers (JSEP), and no later offer could add media without a new ICE and
                // DTLS handshake.
                api.add_channel("sfu".to_owned());
                d.keepalive = true;
            }
            for mid in d.stale.drain(..) {
                api.stop_media(mid);
            }
            let mut added = Vec::with_capacity(adds.len());
            for (publication, info) in &adds {
                let kind = match info.stream.kind {
                    MediaKind::Audio => RtcMediaKind::Audio,
                    MediaKind::Video => RtcMediaKind::Video,
                };
                // msid: the publisher's stream groups its audio and video for lip sync.
                let stream_id = format!("{}-{}", info.participant, info.stream.stream);
                let mid = api.add_media(kind, Direction::SendOnly, Some(stream_id), None, None);
                added.push((mid, *publication));
            }
            let (offer, pending) = api.apply()?;
            d.pending = Some(PendingOffer { pending, added });
            Some(offer.to_sdp_string())
        });
        match made {
            Ok(sdp) => {
                self.mark_dirty(key);
                self.drain_core(room_id, now);
                Ok(sdp.map(|sdp| SubscriberOffer { sdp }))
            }
            Err(fault) => {
                let e = ShardError::TransportFailed(fault.0.clone());
                self.fail(key, fault);
                Err(e)
            }
        }
    }

    fn subscriber_answer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        sdp: &str,
    ) -> Result<Vec<Subscribed>, ShardError> {
        let state = self
            .participants
            .get(&participant)
            .ok_or(ShardError::UnknownParticipant)?;
        let (room_id, downlink) = (state.room, state.downlink);
        let key = state.subscriber.ok_or(ShardError::NoOfferPending)?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| ShardError::BadSdp(e.to_string()))?;
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        let codecs: FxHashMap<PublicationId, Codec> = room
            .publications
            .iter()
            .map(|(id, info)| (id, info.codec))
            .collect();
        let peer = self.peers.get_mut(key).ok_or(ShardError::NoOfferPending)?;
        let applied = peer.guard_role(|rtc, role| {
            let Role::Downlink(d) = role else {
                return Err(ShardError::NoOfferPending);
            };
            let pending = d.pending.take().ok_or(ShardError::NoOfferPending)?;
            rtc.sdp_api()
                .accept_answer(pending.pending, answer)
                .map_err(|e| ShardError::BadSdp(e.to_string()))?;
            let mut streams = Vec::with_capacity(pending.added.len());
            for (mid, publication) in pending.added {
                let Some(&codec) = codecs.get(&publication) else {
                    d.stale.push(mid);
                    continue;
                };
                // An m-line the client rejected has no send stream or no matching codec.
                match out_track(rtc, mid, codec) {
                    Some(track) => streams.push((publication, track)),
                    None => d.stale.push(mid),
                }
            }
            Ok(streams)
        });
        let streams = match applied {
            Ok(r) => r?,
            Err(fault) => {
                let e = ShardError::TransportFailed(fault.0.clone());
                self.fail(key, fault);
                return Err(e);
            }
        };
        let mut subscribed = Vec::with_capacity(streams.len());
        for (publication, track) in streams {
            let Ok(subscription) = room.core.subscribe(now, downlink, publication, *track.ssrc)
            else {
                continue;
            };
            room.subscriptions.insert(
                subscription,
                SubscriptionInfo {
                    publication,
                    peer: key,
                    layer: None,
                },
            );
            if let Role::Downlink(d) = &mut self.peers[key].role {
                d.out.insert(subscription, track);
                d.by_mid.insert(track.mid, subscription);
            }
            subscribed.push(Subscribed {
                publication,
                subscription,
            });
        }
        self.mark_dirty(key);
        self.drain_core(room_id, now);
        Ok(subscribed)
    }

    fn remove_participant(
        &mut self,
        now: Instant,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        let state = self
            .participants
            .remove(&participant)
            .ok_or(ShardError::UnknownParticipant)?;
        for key in [state.publisher, state.subscriber].into_iter().flatten() {
            self.remove_peer(now, key);
        }
        if let Some(room) = self.rooms.get_mut(&state.room) {
            let _ = room.core.remove_downlink(state.downlink);
            room.participants.retain(|p| *p != participant);
            if room.participants.is_empty() {
                if let Some(closed) = self.rooms.remove(&state.room) {
                    self.retired_core.accumulate(closed.core.stats());
                }
                return Ok(());
            }
        }
        self.drain_core(state.room, now);
        Ok(())
    }

    // ---- failures and removal ---------------------------------------------------------

    fn fail(&mut self, key: PeerKey, fault: PeerFault) {
        if !self.failed.iter().any(|(k, _)| *k == key) {
            self.failed.push((key, fault));
        }
    }

    fn reap_failed(&mut self, now: Instant) {
        while let Some((key, fault)) = self.failed.pop() {
            let Some(peer) = self.peers.get(key) else {
                continue;
            };
            let (room, participant, transport) = (peer.room, peer.participant, peer.transport());
            warn!(%participant, ?transport, reason = %fault.0, "transport failed, dropping it");
            self.stats.peers_failed += 1;
            self.remove_peer(now, key);
            if let Some(s) = self.participants.get_mut(&participant) {
                match transport {
                    Transport::Publisher => s.publisher = None,
                    Transport::Subscriber => s.subscriber = None,
                }
            }
            self.emit(ShardEvent::TransportFailed {
                room,
                participant,
                transport,
                reason: fault.0,
            });
        }
    }

    /// Removes one transport and what hangs off it in its room's core: a publisher's
    /// publications (with every subscription to them), a subscriber's subscriptions.
    fn remove_peer(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.remove(key) else {
            return;
        };
        for addr in &peer.addrs {
            if self.by_addr.get(addr) == Some(&key) {
                self.by_addr.remove(addr);
            }
        }
        let room_id = peer.room;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let mut ended = Vec::new();
        match &peer.role {
            Role::Uplink(u) => {
                for publication in u.publications() {
                    let _ = room.core.remove_publication(publication);
                    room.publications.remove(publication);
                    let subs: Vec<(SubscriptionId, PeerKey)> = room
                        .subscriptions
                        .iter()
                        .filter(|(_, s)| s.publication == publication)
                        .map(|(id, s)| (id, s.peer))
                        .collect();
                    for (sid, sub_peer) in subs {
                        room.subscriptions.remove(sid);
                        ended.push((sid, sub_peer));
                    }
                }
            }
            Role::Downlink(d) => {
                for (sid, _) in &d.out {
                    let _ = room.core.unsubscribe(sid);
                    room.subscriptions.remove(sid);
                }
                room.downlink_peers.remove(d.id);
            }
        }
        for (sid, sub_peer) in ended {
            if let Some(p) = self.peers.get_mut(sub_peer) {
                let participant = p.participant;
                if let Role::Downlink(d) = &mut p.role {
                    if let Some(t) = d.remove(sid) {
                        d.stale.push(t.mid);
                    }
                }
                self.emit(ShardEvent::SubscriptionEnded {
                    room: room_id,
                    participant,
                    subscription: sid,
                });
            }
        }
        self.dirty.retain(|k| *k != key);
        self.drain_core(room_id, now);
    }

    fn emit(&mut self, event: ShardEvent) {
        // The media loop never waits for the async side: a full channel drops the event and
        // counts it.
        if self.events.try_send(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }
}

fn answer<T>(reply: Reply<T>, result: Result<T, ShardError>) {
    // The caller may have given up waiting; the change is applied either way.
    let _ = reply.send(result);
}

/// The send stream and payload type of an answered m-line.
fn out_track(rtc: &mut str0m::Rtc, mid: Mid, codec: Codec) -> Option<OutTrack> {
    let remote_pts: Vec<Pt> = rtc.media(mid)?.remote_pts().to_vec();
    let pt = rtc
        .codec_config()
        .find(|p| remote_pts.contains(&p.pt()) && core_codec(p.spec().codec) == Some(codec))?
        .pt();
    let ssrc: Ssrc = rtc.direct_api().stream_tx_by_mid(mid, None)?.ssrc();
    Some(OutTrack {
        mid,
        ssrc,
        pt,
        nackable: codec.is_video(),
        seq_base: None,
        written: 0,
    })
}

/// Sends a PLI/FIR on the publisher's stream of one encoding. False when that stream has not
/// been seen yet (nothing to ask).
fn request_keyframe(
    rtc: &mut str0m::Rtc,
    role: &mut Role,
    publication: PublicationId,
    encoding: EncodingIdx,
    kind: KeyframeRequestKind,
) -> bool {
    let Role::Uplink(u) = role else {
        return false;
    };
    let Some(track) = u.track_of(publication) else {
        return false;
    };
    let rid = track.rids.get(usize::from(encoding.0)).copied().flatten();
    let mid = track.mid;
    let mut api = rtc.direct_api();
    match api.stream_rx_by_mid(mid, rid) {
        Some(rx) => {
            rx.request_keyframe(kind);
            true
        }
        None => false,
    }
}
