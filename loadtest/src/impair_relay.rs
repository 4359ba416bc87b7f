//! The impaired path of one subscriber: a UDP relay on 127.0.0.1 between the subscriber's
//! webrtc-rs socket and the SFU, applying a [`Schedule`] through one seeded [`LinkModel`] per
//! direction. The subscriber is pointed at the relay by rewriting the SFU's UDP candidate in
//! each `subscriber_offer` ([`ImpairRelay::rewrite_offer`]); the SFU (ICE-lite) answers
//! whatever address its connectivity checks come from, which is the relay's.
//!
//! It counts what it did apart from loss on the way ([`LinkCounters`]): packets the emulated
//! link dropped by cause, the relay's own drops (a full queue or a failed send: the client,
//! not the link), and on the downlink the RTP packets per class (audio, video, video
//! retransmissions and padding), read from the RTP header, which SRTP leaves in the clear, and
//! the SSRCs of the offer (`a=ssrc`, `a=ssrc-group:FID`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::client_error::ClientError;
use crate::impairment::{Direction, LinkSettings, Schedule};
use crate::link_model::{LinkDrop, LinkModel, Verdict};

/// Packets the relay holds at most (both directions); beyond it the relay itself drops.
const MAX_QUEUED: usize = 50_000;

/// When the schedules of a run start: at the start of the measured window (the binary sets it
/// once everybody joined), shared by every impaired subscriber. Before it, links are free.
#[derive(Debug, Clone, Default)]
pub struct ScheduleClock(Arc<OnceLock<Instant>>);

impl ScheduleClock {
    /// A clock already running (tests).
    pub fn started_now() -> Self {
        let clock = Self::default();
        clock.start(Instant::now());
        clock
    }

    /// Starts the schedules at `at`; later calls change nothing.
    pub fn start(&self, at: Instant) {
        let _ = self.0.set(at);
    }

    pub fn started_at(&self) -> Option<Instant> {
        self.0.get().copied()
    }
}

/// How one subscriber's path is impaired.
#[derive(Debug, Clone)]
pub struct ImpairmentConfig {
    pub schedule: Arc<Schedule>,
    pub direction: Direction,
    pub seed: u64,
    pub clock: ScheduleClock,
}

/// Counters of one direction.
#[derive(Debug, Default)]
pub struct DirectionCounters {
    /// Packets that entered the relay in this direction.
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Packets sent on after the link's delay.
    pub delivered: AtomicU64,
    pub delivered_bytes: AtomicU64,
    pub dropped_random: AtomicU64,
    pub dropped_burst: AtomicU64,
    pub dropped_queue: AtomicU64,
    /// The relay's own drops (its queue full, or a send failed): not the emulated link.
    pub relay_drops: AtomicU64,
}

/// Counts per RTP class on the downlink: (entered the relay, dropped by the link).
#[derive(Debug, Default)]
pub struct ClassCounters {
    pub packets: AtomicU64,
    pub dropped: AtomicU64,
}

/// Everything one relay counted.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub down: DirectionCounters,
    pub up: DirectionCounters,
    pub audio: ClassCounters,
    pub video: ClassCounters,
    /// Video retransmissions (RTX SSRC, no padding bit).
    pub rtx: ClassCounters,
    /// RTX-SSRC packets with the padding bit (bandwidth probes).
    pub padding: ClassCounters,
}

/// A plain copy of [`LinkCounters`] for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkTally {
    pub down_packets: u64,
    pub down_delivered: u64,
    pub down_delivered_bytes: u64,
    pub down_dropped_random: u64,
    pub down_dropped_burst: u64,
    pub down_dropped_queue: u64,
    pub up_packets: u64,
    pub up_dropped: u64,
    /// The relay's own drops, both directions (should be 0; the client was the bottleneck).
    pub relay_drops: u64,
    pub audio_packets: u64,
    pub audio_dropped: u64,
    pub video_packets: u64,
    pub video_dropped: u64,
    pub rtx_packets: u64,
    pub rtx_dropped: u64,
    pub padding_packets: u64,
}

impl LinkTally {
    /// Downlink packets the emulated link dropped, all causes.
    pub fn down_dropped(&self) -> u64 {
        self.down_dropped_random + self.down_dropped_burst + self.down_dropped_queue
    }
}

impl LinkCounters {
    pub fn tally(&self) -> LinkTally {
        let up_dropped = self.up.dropped_random.load(Relaxed)
            + self.up.dropped_burst.load(Relaxed)
            + self.up.dropped_queue.load(Relaxed);
        LinkTally {
            down_packets: self.down.packets.load(Relaxed),
            down_delivered: self.down.delivered.load(Relaxed),
            down_delivered_bytes: self.down.delivered_bytes.load(Relaxed),
            down_dropped_random: self.down.dropped_random.load(Relaxed),
            down_dropped_burst: self.down.dropped_burst.load(Relaxed),
            down_dropped_queue: self.down.dropped_queue.load(Relaxed),
            up_packets: self.up.packets.load(Relaxed),
            up_dropped,
            relay_drops: self.down.relay_drops.load(Relaxed) + self.up.relay_drops.load(Relaxed),
            audio_packets: self.audio.packets.load(Relaxed),
            audio_dropped: self.audio.dropped.load(Relaxed),
            video_packets: self.video.packets.load(Relaxed),
            video_dropped: self.video.dropped.load(Relaxed),
            rtx_packets: self.rtx.packets.load(Relaxed),
            rtx_dropped: self.rtx.dropped.load(Relaxed),
            padding_packets: self.padding.packets.load(Relaxed),
        }
    }
}

/// What the offer says an SSRC carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SsrcClass {
    Audio,
    Video,
    VideoRtx,
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct ImpairRelay {
    /// The address the subscriber is pointed at.
    client_facing: SocketAddr,
    sfu: Arc<OnceLock<SocketAddr>>,
    ssrcs: Arc<Mutex<HashMap<u32, SsrcClass>>>,
    counters: Arc<LinkCounters>,
    task: JoinHandle<()>,
}

impl Drop for ImpairRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ImpairRelay {
    /// Binds the relay's two sockets on 127.0.0.1 and starts it; the SFU's address comes
    /// with the first offer.
    pub async fn start(config: ImpairmentConfig) -> Result<ImpairRelay, ClientError> {
        let bind = || async {
            UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(|e| ClientError::Transport(format!("impairment relay bind: {e}")))
        };
        let client_side = bind().await?;
        let sfu_side = bind().await?;
        let client_facing = client_side
            .local_addr()
            .map_err(|e| ClientError::Transport(format!("impairment relay address: {e}")))?;
        let sfu = Arc::new(OnceLock::new());
        let ssrcs = Arc::new(Mutex::new(HashMap::new()));
        let counters = Arc::new(LinkCounters::default());
        let task = tokio::spawn(
            Relay {
                client_side,
                sfu_side,
                sfu: Arc::clone(&sfu),
                client: None,
                ssrcs: Arc::clone(&ssrcs),
                counters: Arc::clone(&counters),
                down: LinkModel::new(config.seed.wrapping_mul(2)),
                up: LinkModel::new(config.seed.wrapping_mul(2).wrapping_add(1)),
                config,
                queue: BinaryHeap::new(),
                order: 0,
            }
            .run(),
        );
        Ok(ImpairRelay {
            client_facing,
            sfu,
            ssrcs,
            counters,
            task,
        })
    }

    pub fn counters(&self) -> &Arc<LinkCounters> {
        &self.counters
    }

    /// Points the offer's (or a publisher's answer's) media at the relay: the first UDP candidate's address is
    /// remembered as the SFU's and replaced by the relay's; other candidates (TCP, further
    /// UDP addresses) are removed so nothing bypasses the relay. Also learns the SSRC classes.
    pub fn rewrite_offer(&self, sdp: &str) -> Result<String, ClientError> {
        let mut out = String::with_capacity(sdp.len());
        let mut kind = None;
        let mut learnt = Vec::new();
        for line in sdp.split_inclusive('\n') {
            let text = line.trim_end_matches(['\r', '\n']);
            if let Some(rest) = text.strip_prefix("m=") {
                kind = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(candidate) = text.strip_prefix("a=candidate:") {
                // A candidate that would bypass the relay is left out.
                if let Some(rewritten) = self.rewrite_candidate(candidate) {
                    out.push_str("a=candidate:");
                    out.push_str(&rewritten);
                    out.push_str(&line[text.len()..]);
                }
                continue;
            }
            if let Some(group) = text.strip_prefix("a=ssrc-group:FID ") {
                let ids: Vec<u32> = group
                    .split_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if let [_, rtx] = ids[..] {
                    learnt.push((rtx, SsrcClass::VideoRtx));
                }
            } else if let Some(rest) = text.strip_prefix("a=ssrc:") {
                if let Some(ssrc) = rest.split_whitespace().next().and_then(|s| s.parse().ok()) {
                    match kind.as_deref() {
                        Some("audio") => learnt.push((ssrc, SsrcClass::Audio)),
                        Some("video") => learnt.push((ssrc, SsrcClass::Video)),
                        _ => {}
                    }
                }
            }
            out.push_str(line);
        }
        if self.sfu.get().is_none() {
            return Err(ClientError::Protocol(
                "impairment relay: the offer has no UDP candidate".into(),
            ));
        }
        let mut ssrcs = self.ssrcs.lock().unwrap_or_else(|p| p.into_inner());
        // An FID group names its RTX SSRC after the `a=ssrc` lines may have called it video.
        for (ssrc, class) in learnt {
            let entry = ssrcs.entry(ssrc).or_insert(class);
            if class == SsrcClass::VideoRtx {
                *entry = class;
            }
        }
        Ok(out)
    }

    /// `foundation component udp prio ip port typ host ...` with the relay's address, or
    /// `None` for a candidate to leave out.
    fn rewrite_candidate(&self, candidate: &str) -> Option<String> {
        let mut fields: Vec<&str> = candidate.split_whitespace().collect();
        if fields.len() < 6 || !fields[2].eq_ignore_ascii_case("udp") {
            return None;
        }
        let addr: SocketAddr = format!("{}:{}", fields[4], fields[5]).parse().ok()?;
        let sfu = *self.sfu.get_or_init(|| addr);
        if sfu != addr {
            return None;
        }
        let ip = self.client_facing.ip().to_string();
        let port = self.client_facing.port().to_string();
        fields[4] = &ip;
        fields[5] = &port;
        Some(fields.join(" "))
    }
}

/// A packet the link holds: (delivery time, arrival order, towards the SFU, bytes).
type Held = (Instant, u64, bool, Vec<u8>);

/// The relay task's state.
struct Relay {
    client_side: UdpSocket,
    sfu_side: UdpSocket,
    sfu: Arc<OnceLock<SocketAddr>>,
    /// The subscriber's socket, learnt from its first packet.
    client: Option<SocketAddr>,
    ssrcs: Arc<Mutex<HashMap<u32, SsrcClass>>>,
    counters: Arc<LinkCounters>,
    down: LinkModel,
    up: LinkModel,
    config: ImpairmentConfig,
    queue: BinaryHeap<Reverse<Held>>,
    order: u64,
}

impl Relay {
    async fn run(mut self) {
        let mut from_client = vec![0u8; 2048];
        let mut from_sfu = vec![0u8; 2048];
        loop {
            let next = self.queue.peek().map(|Reverse((at, ..))| *at);
            tokio::select! {
                received = self.client_side.recv_from(&mut from_client) => {
                    let Ok((n, from)) = received else { continue };
                    self.client = Some(from);
                    let packet = from_client[..n].to_vec();
                    self.handle(true, packet).await;
                }
                received = self.sfu_side.recv_from(&mut from_sfu) => {
                    let Ok((n, from)) = received else { continue };
                    if Some(&from) != self.sfu.get() {
                        continue;
                    }
                    let packet = from_sfu[..n].to_vec();
                    self.handle(false, packet).await;
                }
                () = sleep_until(next), if next.is_some() => {}
            }
            self.flush(Instant::now()).await;
        }
    }

    /// Settings in force for a direction now.
    fn settings(&self, up: bool, now: Instant) -> LinkSettings {
        let applies = if up {
            self.config.direction.up()
        } else {
            self.config.direction.down()
        };
        match self.config.clock.started_at() {
            Some(start) if applies => self
                .config
                .schedule
                .settings_at(now.saturating_duration_since(start))
                .clone(),
            _ => LinkSettings::default(),
        }
    }

    async fn handle(&mut self, up: bool, packet: Vec<u8>) {
        let now = Instant::now();
        let settings = self.settings(up, now);
        let class = if up { None } else { self.classify(&packet) };
        let counters = Arc::clone(&self.counters);
        let dir = if up { &counters.up } else { &counters.down };
        dir.packets.fetch_add(1, Relaxed);
        dir.bytes.fetch_add(packet.len() as u64, Relaxed);
        if let Some(class) = class {
            class_counters(&counters, class)
                .packets
                .fetch_add(1, Relaxed);
        }
        let model = if up { &mut self.up } else { &mut self.down };
        match model.handle_packet(&settings, now, packet.len()) {
            Verdict::Drop(cause) => {
                match cause {
                    LinkDrop::Random => &dir.dropped_random,
                    LinkDrop::Burst => &dir.dropped_burst,
                    LinkDrop::Queue => &dir.dropped_queue,
                }
                .fetch_add(1, Relaxed);
                if let Some(class) = class {
                    class_counters(&counters, class)
                        .dropped
                        .fetch_add(1, Relaxed);
                }
            }
            Verdict::Deliver(at) if at <= now => self.send(up, &packet).await,
            Verdict::Deliver(at) => {
                if self.queue.len() >= MAX_QUEUED {
                    dir.relay_drops.fetch_add(1, Relaxed);
                    return;
                }
                self.order += 1;
                self.queue.push(Reverse((at, self.order, up, packet)));
            }
        }
    }

    async fn flush(&mut self, now: Instant) {
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((at, ..))| *at <= now)
        {
            if let Some(Reverse((_, _, up, packet))) = self.queue.pop() {
                self.send(up, &packet).await;
            }
        }
    }

    async fn send(&self, up: bool, packet: &[u8]) {
        let dir = if up {
            &self.counters.up
        } else {
            &self.counters.down
        };
        let sent = if up {
            match self.sfu.get() {
                Some(sfu) => self.sfu_side.send_to(packet, sfu).await.ok(),
                None => None,
            }
        } else {
            match self.client {
                Some(client) => self.client_side.send_to(packet, client).await.ok(),
                None => None,
            }
        };
        if sent.is_some() {
            dir.delivered.fetch_add(1, Relaxed);
            dir.delivered_bytes.fetch_add(packet.len() as u64, Relaxed);
        } else {
            dir.relay_drops.fetch_add(1, Relaxed);
        }
    }

    /// The RTP class of a downlink packet (`None`: STUN, DTLS, RTCP or an unknown SSRC).
    fn classify(&self, packet: &[u8]) -> Option<RtpClass> {
        // RFC 7983: 128..=191 is RTP or RTCP; RTCP packet types 192..=223 sit where RTP has
        // the marker bit and payload type 64..=95.
        let first = *packet.first()?;
        if !(128..=191).contains(&first) || (64..=95).contains(&(packet.get(1)? & 0x7F)) {
            return None;
        }
        let ssrc = u32::from_be_bytes(packet.get(8..12)?.try_into().ok()?);
        let class = *self
            .ssrcs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ssrc)?;
        Some(match class {
            SsrcClass::Audio => RtpClass::Audio,
            SsrcClass::Video => RtpClass::Video,
            SsrcClass::VideoRtx if first & 0x20 != 0 => RtpClass::Padding,
            SsrcClass::VideoRtx => RtpClass::Rtx,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum RtpClass {
    Audio,
    Video,
    Rtx,
    Padding,
}

fn class_counters(counters: &LinkCounters, class: RtpClass) -> &ClassCounters {
    match class {
        RtpClass::Audio => &counters.audio,
        RtpClass::Video => &counters.video,
        RtpClass::Rtx => &counters.rtx,
        RtpClass::Padding => &counters.padding,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
