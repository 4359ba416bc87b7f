//! `ShardLoop`: the loop of one shard thread (ARCHITECTURE.md §2).
//!
//! Each iteration waits for the first of: a command, a datagram, or the earliest timer of any
//! `Rtc` or `MediaCore`. Then it feeds that input, drains every `Rtc` it touched until str0m
//! returns a timeout (writing forwards into subscriber `Rtc`s on the way), and fires the timers
//! that are due. Commands are applied between two datagrams, never inside a packet's fan-out,
//! so a command's reply is the ack that it governs every later packet (spec §13.3).
//!
//! This file holds the loop itself: the sockets, demux, timers, polling each touched `Rtc`, and
//! dropping failed transports. ICE-TCP connections (`tcp_media`) are one more input: their
//! frames take the datagrams' path, and a transport's packets go back on the connection its
//! pair uses. `packet_path` takes an RTP packet into its room's core and
//! routes the core's outputs; `commands` applies each command.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rustc_hash::FxHashMap;
use slotmap::SlotMap;
use str0m::bwe::{Bitrate as RtcBitrate, BweKind};
use str0m::media::KeyframeRequestKind;
use str0m::net::{Protocol, Receive};
use str0m::stats::MediaEgressStats;
use str0m::{Event, IceConnectionState, Output as RtcOutput};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn, Instrument};

use super::command::Command;
use super::error::ShardError;
use super::event::{EventSender, ShardEvent, ShardEvents};
use super::fixed_histogram::BANDWIDTH_BOUNDS_BPS;
use super::handle::ShardHandle;
use super::participant_state::ParticipantState;
use super::peer::{Peer, PeerFault, PeerKey, PeerSetup, Role};
use super::reply_source::ReplySource;
use super::room::ShardRoom;
use super::room_id::RoomId;
use super::shard_config::{ShardConfig, TcpMediaConfig};
use super::stats::{ShardStats, TcpCloseCause};
use super::tcp_media::{ConnKey, Sent, TcpInput, TcpMedia};
use super::transport_kind::TransportKind;
use crate::clock;
use crate::core::{Bitrate, CoreConfig, CoreStats, Input, KeyframeKind, ParticipantId};

mod commands;
mod packet_path;

/// Datagrams read per wake-up before the touched peers are flushed, so one busy socket cannot
/// starve timers and commands (quinn's work limit).
const RECV_BATCH: usize = 64;
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
pub fn spawn(config: ShardConfig) -> io::Result<(ShardHandle, ShardEvents)> {
    let std_socket = std::net::UdpSocket::bind(config.bind)?;
    std_socket.set_nonblocking(true)?;
    let local_addr = std_socket.local_addr()?;
    let tcp_config = config.tcp.clone().map(|tcp| TcpMediaConfig {
        loopback_only: config.loopback_only,
        ..tcp
    });
    let std_listener = match &tcp_config {
        Some(tcp) => {
            let listener = std::net::TcpListener::bind(tcp.bind).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("ICE-TCP port {} (--rtc-tcp-port): {error}", tcp.bind),
                )
            })?;
            listener.set_nonblocking(true)?;
            Some(listener)
        }
        None => None,
    };
    let tcp_addr = match &std_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let (tx, commands) = mpsc::channel(config.command_capacity.max(1));
    let (events, events_rx) = EventSender::channel(config.event_capacity);
    let setup = PeerSetup {
        crypto: std::sync::Arc::new(str0m::crypto::from_feature_flags()),
        candidates: config
            .public_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, config.advertised_port.unwrap_or(local_addr.port())))
            .collect(),
        tcp_candidates: tcp_addr
            .iter()
            .flat_map(|tcp| {
                config
                    .public_ips
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, tcp.port()))
            })
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
                    let listener = match std_listener.map(TcpListener::from_std).transpose() {
                        Ok(l) => l,
                        Err(error) => {
                            warn!(%error, "shard TCP listener unusable");
                            return;
                        }
                    };
                    info!(tcp = ?tcp_addr, "media shard serving");
                    // With ICE-TCP off there is no listener: the TcpMedia stays empty and
                    // its `accept` never resolves, so the loop has one shape either way.
                    let tcp = TcpMedia::new(
                        listener,
                        tcp_config.unwrap_or_else(|| TcpMediaConfig::new(local_addr)),
                    );
                    let mut shard = ShardLoop::new(socket, tcp, setup, core_config, events);
                    shard.loopback_only = loopback_only;
                    shard.reply_source = reply_source;
                    shard.run(commands).await;
                    info!("media shard stopped");
                }
                .instrument(span),
            );
        })?;
    Ok((
        ShardHandle {
            tx,
            local_addr,
            tcp_addr,
        },
        events_rx,
    ))
}

enum Wake {
    Command(Option<Command>),
    Datagram(io::Result<(usize, SocketAddr)>),
    TcpAccept(io::Result<(TcpStream, SocketAddr)>),
    Tcp(Option<TcpInput>),
    Timer,
}

#[derive(Debug)]
struct ShardLoop {
    socket: UdpSocket,
    tcp: TcpMedia,
    setup: PeerSetup,
    core_config: CoreConfig,
    loopback_only: bool,
    reply_source: ReplySource,
    peers: SlotMap<PeerKey, Peer>,
    /// Remote address -> peer, learnt when a peer accepts a datagram (str0m's `accepts` is
    /// the slow path, for the first STUN of each remote).
    by_addr: FxHashMap<SocketAddr, PeerKey>,
    rooms: FxHashMap<RoomId, ShardRoom>,
    /// Keyed by room and participant: participant ids are counted per room, so two rooms on
    /// this shard may each have a `p1`. Only commands and transport failures look here, never
    /// the packet path.
    participants: FxHashMap<(RoomId, ParticipantId), ParticipantState>,
    /// Peers with new input, to be polled until they return a timeout.
    dirty: Vec<PeerKey>,
    /// Peers whose `Rtc` failed, removed after the current fan-out.
    failed: Vec<(PeerKey, PeerFault)>,
    events: EventSender,
    stats: ShardStats,
    /// While the core fans out one received RTP packet: when the shard received it (for the
    /// forwarding latency of each copy).
    rtp_received_at: Option<Instant>,
    /// The core counters of rooms that have closed, so the shard's totals never go back.
    retired_core: CoreStats,
    buf: Vec<u8>,
}

impl ShardLoop {
    fn new(
        socket: UdpSocket,
        tcp: TcpMedia,
        setup: PeerSetup,
        core_config: CoreConfig,
        events: EventSender,
    ) -> ShardLoop {
        ShardLoop {
            socket,
            tcp,
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
            buf: vec![0; RECV_BUF],
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            let (listener, tcp_inputs) = self.tcp.wake_sources();
            let wake = tokio::select! {
                biased;
                cmd = commands.recv() => Wake::Command(cmd),
                r = self.socket.recv_from(&mut self.buf) => Wake::Datagram(r),
                input = tcp_inputs.recv() => Wake::Tcp(input),
                r = TcpMedia::accept(listener) => Wake::TcpAccept(r),
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
                    // The socket comes first in the `select!`; under a UDP load that never
                    // lets up, ICE-TCP frames still get their turn here.
                    self.drain_tcp(now);
                }
                Wake::Datagram(Err(error)) => {
                    // ICMP port unreachable from a closed client surfaces here on some
                    // platforms; it is no reason to stop serving everyone else.
                    debug!(%error, "recv_from failed");
                }
                Wake::Tcp(Some(input)) => {
                    self.handle_tcp_input(now, input);
                    self.drain_tcp(now);
                }
                // The loop holds a sender itself; the channel never closes.
                Wake::Tcp(None) => {}
                Wake::TcpAccept(Ok((stream, remote))) => self.tcp.admit(now, stream, remote),
                // Out of file descriptors, or a connection reset before it was taken.
                Wake::TcpAccept(Err(error)) => debug!(%error, "TCP accept failed"),
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
        if let Some(tcp) = self.tcp.next_deadline() {
            at = at.min(tcp);
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
        peer.via_tcp = false;
        peer.last_source = Some(source);
        if let Err(fault) = peer.drive("input", |rtc| rtc.handle_input(input)) {
            self.fail(key, fault);
        }
        // Poll at once: str0m holds one received RTP packet for `Event::RtpPacket` at a time.
        self.poll_peer(key, now);
    }

    /// Takes the ICE-TCP frames (and closes) waiting, up to a bound.
    fn drain_tcp(&mut self, now: Instant) {
        for _ in 0..RECV_BATCH {
            match self.tcp.try_input() {
                Some(input) => self.handle_tcp_input(now, input),
                None => break,
            }
        }
    }

    fn handle_tcp_input(&mut self, now: Instant, input: TcpInput) {
        match input {
            TcpInput::Frame { conn, frame } => self.handle_tcp_frame(now, conn, &frame),
            TcpInput::Closed { conn, cause } => self.tcp.close(conn, cause),
        }
    }

    /// One frame from an ICE-TCP connection: like a datagram, except that the connection,
    /// once a STUN request on it named a transport, belongs to that transport alone.
    fn handle_tcp_frame(&mut self, now: Instant, conn: ConnKey, frame: &[u8]) {
        // A frame read before its connection was closed.
        let Some((source, bound)) = self.tcp.conn(conn) else {
            return;
        };
        self.stats.datagrams_in += 1;
        let Some(destination) = self.setup.tcp_candidate_for(source) else {
            self.stats.datagrams_refused += 1;
            return;
        };
        let Ok(receive) = Receive::new(Protocol::Tcp, source, destination, frame) else {
            self.stats.datagrams_malformed += 1;
            return;
        };
        let input = str0m::Input::Receive(now, receive);
        let key = match bound {
            Some(k) if self.peers.contains_key(k) => k,
            // Its transport is gone: nothing will ever answer on this connection.
            Some(_) => return self.tcp.close(conn, TcpCloseCause::TransportGone),
            None => {
                let found = self
                    .peers
                    .iter()
                    .find(|(_, p)| p.accepts(&input))
                    .map(|(k, _)| k);
                let Some(k) = found else {
                    // A check that arrived before its transport's answer was applied; the
                    // handshake deadline closes the connection if none ever matches.
                    self.stats.datagrams_unmatched += 1;
                    return;
                };
                self.tcp.bind(conn, k);
                k
            }
        };
        let peer = &mut self.peers[key];
        peer.via_tcp = true;
        if let Err(fault) = peer.drive("input", |rtc| rtc.handle_input(input)) {
            self.fail(key, fault);
        }
        self.poll_peer(key, now);
    }

    // ---- timers -----------------------------------------------------------------------

    fn handle_timeouts(&mut self, now: Instant) {
        self.tcp.expire(now);
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.next_timeout.is_none_or(|t| t <= now))
            .map(|(k, _)| k)
            .collect();
        for key in due {
            if let Some(peer) = self.peers.get_mut(key) {
                let timeout = str0m::Input::Timeout(now);
                match peer.drive("timeout", |rtc| rtc.handle_input(timeout)) {
                    Ok(()) => self.mark_dirty(key),
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
            self.events.emit(report);
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
            let output = match peer.drive("poll", |rtc| rtc.poll_output()) {
                Ok(o) => o,
                Err(fault) => return self.fail(key, fault),
            };
            match output {
                // str0m's pacer wants a timeout after each packet it releases before it
                // releases the next (`needs_timeout_before_next_poll` in its leaky bucket):
                // serve it here rather than one whole loop turn later, as long as the
                // previous timeout made progress (a timer that stays due must not spin).
                RtcOutput::Timeout(t) if t <= now && progressed => {
                    progressed = false;
                    let timeout = str0m::Input::Timeout(now);
                    if let Err(fault) = peer.drive("timeout", |rtc| rtc.handle_input(timeout)) {
                        return self.fail(key, fault);
                    }
                }
                RtcOutput::Timeout(t) => {
                    peer.next_timeout = Some(t);
                    return;
                }
                RtcOutput::Transmit(t) => {
                    progressed = true;
                    let sent = match t.proto {
                        Protocol::Udp => self
                            .reply_source
                            .try_send_to(&self.socket, &t.contents, t.destination)
                            .is_ok(),
                        // The queue of the connection the pair uses; a full one drops the
                        // connection (a client that stopped reading), never waits.
                        _ => self.tcp.send(t.destination, &t.contents) == Sent::Queued,
                    };
                    if sent {
                        self.stats.datagrams_out += 1;
                    } else {
                        // Media over a full socket buffer is dropped and counted; str0m's
                        // NACK/RTX and keyframe requests recover it.
                        self.stats.send_dropped += 1;
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
                self.stats.transports_connected[peer.candidate_type().index()] += 1;
                let e = ShardEvent::TransportConnected {
                    room: peer.room,
                    participant: peer.participant,
                    transport: peer.transport(),
                };
                self.events.emit(e);
                self.restart_downlink_on_connect(key, now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(key, PeerFault::ice_disconnected());
            }
            Event::RtpPacket(pkt) => self.handle_rtp(key, now, &pkt),
            Event::KeyframeRequest(req) => {
                self.stats.keyframe_requests_received += 1;
                let (room, sub) = match peer.downlink() {
                    Some(d) => (peer.room, d.subscription_at(req.mid)),
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
                let written = peer.downlink().and_then(|d| d.written(stats.mid));
                peer.rtcp.egress(&mut self.stats.rtcp, &stats, written);
                self.feed_receiver_loss(key, now, &stats);
            }
            Event::MediaIngressStats(stats) => peer.rtcp.ingress(&mut self.stats.rtcp, &stats),
            _ => {}
        }
    }

    /// A subscriber transport just connected: the core restarts its video on keyframes and
    /// asks the publishers for them (what was written before could not reach the client).
    fn restart_downlink_on_connect(&mut self, key: PeerKey, now: Instant) {
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let Some(downlink) = peer.downlink().map(|d| d.id) else {
            return;
        };
        let room = peer.room;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.core
                .handle_input(Input::DownlinkConnected { at: now, downlink });
        }
        self.drain_core(room, now);
    }

    /// Hands the loss a subscriber reported for one of its streams (receiver reports, via
    /// str0m's stats) to the room's core: sustained loss is what may pause a lowest layer
    /// (`core::congestion`).
    fn feed_receiver_loss(&mut self, key: PeerKey, now: Instant, stats: &MediaEgressStats) {
        let Some(loss) = stats.loss else {
            return;
        };
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let Some(subscription) = peer.downlink().and_then(|d| d.subscription_at(stats.mid)) else {
            return;
        };
        let room = peer.room;
        // A fraction in 0..=1 (RFC 3550 fraction lost / 255); NaN or junk clamps to the range.
        let lost_per_mille = (f64::from(loss) * 1000.0).round().clamp(0.0, 1000.0) as u16;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.core.handle_input(Input::Loss {
                at: now,
                subscription,
                lost_per_mille,
            });
        }
        self.drain_core(room, now);
    }

    // ---- failures and removal ---------------------------------------------------------

    fn fail(&mut self, key: PeerKey, fault: PeerFault) {
        if !self.failed.iter().any(|(k, _)| *k == key) {
            self.failed.push((key, fault));
        }
    }

    /// Fails a transport from inside a command, and names the failure for the command's reply.
    fn transport_failed(&mut self, key: PeerKey, fault: PeerFault) -> ShardError {
        let error = ShardError::TransportFailed(fault.0.clone());
        self.fail(key, fault);
        error
    }

    fn reap_failed(&mut self, now: Instant) {
        while let Some((key, fault)) = self.failed.pop() {
            let Some(peer) = self.peers.get(key) else {
                continue;
            };
            let (room, participant, transport) = (peer.room, peer.participant, peer.transport());
            warn!(%participant, ?transport, reason = %fault.0, "transport failed, dropping it");
            self.stats.peers_failed += 1;
            self.stats.peer_failure_causes[fault.cause().index()] += 1;
            self.remove_peer(now, key);
            if let Some(s) = self.participants.get_mut(&(room, participant)) {
                match transport {
                    TransportKind::Publisher => s.publisher = None,
                    TransportKind::Subscriber => s.subscriber = None,
                }
            }
            self.events.emit(ShardEvent::TransportFailed {
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
        self.tcp.close_peer(key);
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
                    room.remove_publication(publication, &mut ended);
                }
            }
            Role::Downlink(d) => room.remove_subscriber(d.id, d.subscriptions()),
        }
        for (sid, sub_peer) in ended {
            if let Some(p) = self.peers.get_mut(sub_peer) {
                let participant = p.participant;
                if let Some(d) = p.downlink_mut() {
                    d.end(sid);
                }
                self.events.emit(ShardEvent::SubscriptionEnded {
                    room: room_id,
                    participant,
                    subscription: sid,
                });
            }
        }
        self.dirty.retain(|k| *k != key);
        self.drain_core(room_id, now);
    }
}
