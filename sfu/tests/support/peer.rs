//! str0m client peers for the media tests (`shard_media.rs`, `server/media.rs`): a client
//! transport on its own UDP socket on 127.0.0.1, a publisher sending Opus-sized audio and
//! synthetic simulcast VP8, and a subscriber recording what arrives.
#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, MediaKind as RtcMediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc};

#[allow(clippy::disallowed_methods)] // tests own the clock
pub fn now() -> Instant {
    Instant::now()
}

pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Frame sizes per layer (one packet per frame keeps the synthetic VP8 simple).
pub const FRAME_BYTES: [usize; 3] = [200, 500, 1000];

/// `RUST_LOG=str0m=debug,sfu=debug` shows both sides when a scenario fails.
pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn crypto() -> Arc<str0m::crypto::CryptoProvider> {
    Arc::new(str0m::crypto::from_feature_flags())
}

/// A str0m client transport with its own socket on 127.0.0.1, driven by [`Client::drive`].
pub struct Client {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub buf: Vec<u8>,
    pub connected: bool,
    /// Every address a datagram came from (to check which address the server answers from).
    pub sources: std::collections::BTreeSet<SocketAddr>,
}

/// What a client transport negotiates for the feedback the server's bandwidth estimation
/// depends on (issue 13: "any standard subscriber keeps its video").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// TWCC and VP8 with RTX, like a browser.
    Full,
    /// TWCC, but VP8 without an RTX payload type: the server's str0m cannot pad to probe.
    NoRtx,
    /// Neither RTX nor the transport-wide sequence number extension: no TWCC at all.
    NoTwcc,
}

impl Client {
    pub fn new() -> Client {
        Client::with_feedback(Feedback::Full)
    }

    pub fn with_feedback(feedback: Feedback) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
        socket.set_nonblocking(true).expect("nonblocking");
        let local = socket.local_addr().expect("local addr");
        let mut config = Rtc::builder()
            .set_crypto_provider(crypto())
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        if feedback == Feedback::Full {
            config = config.enable_vp8(true);
        } else {
            // The default VP8 payload type (96), with no `resend`.
            config.codec_config().add_config(
                96.into(),
                None,
                RtcCodec::Vp8,
                str0m::media::Frequency::NINETY_KHZ,
                None,
                Default::default(),
            );
        }
        if feedback == Feedback::NoTwcc {
            let mut exts = str0m::rtp::ExtensionMap::empty();
            exts.set(1, str0m::rtp::Extension::AudioLevel);
            exts.set(4, str0m::rtp::Extension::RtpMid);
            config = config.set_extension_map(exts);
        }
        let mut rtc = config.build(now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"));
        Client {
            rtc,
            socket,
            local,
            buf: vec![0; 2000],
            connected: false,
            sources: std::collections::BTreeSet::new(),
        }
    }

    /// Feeds every datagram waiting on the socket and every due timeout, sends what str0m
    /// transmits, and appends its events to `events`.
    pub fn drive(&mut self, events: &mut Vec<Event>) {
        for _ in 0..10_000 {
            let timeout = loop {
                match self.rtc.poll_output().expect("client poll_output") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Output::Event(e) => {
                        if matches!(e, Event::Connected) {
                            self.connected = true;
                        }
                        events.push(e);
                    }
                }
            };
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => {
                    self.sources.insert(source);
                    if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, &self.buf[..n]) {
                        self.rtc
                            .handle_input(Input::Receive(now(), r))
                            .expect("client handle_input");
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("client recv: {e}"),
            }
            let t = now();
            if timeout <= t {
                self.rtc
                    .handle_input(Input::Timeout(t))
                    .expect("client timeout");
                continue;
            }
            return;
        }
    }

    pub fn pt(&self, codec: RtcCodec) -> Pt {
        self.rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .expect("codec configured")
            .pt()
    }
}

/// A synthetic VP8 frame in one packet: an RFC 7741 §4.2 descriptor with a 15-bit picture id,
/// then a VP8 payload header whose P bit says keyframe or not (RFC 6386 §9.1).
pub fn vp8_frame(picture_id: u16, keyframe: bool, len: usize) -> Vec<u8> {
    let mut p = vec![
        0x90, // X=1, S=1, PID=0
        0x80, // I=1: picture id present
        0x80 | ((picture_id >> 8) as u8 & 0x7f),
        picture_id as u8,
    ];
    if keyframe {
        // Frame tag with P=0, the keyframe start code and a 16x16 size.
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 16, 0, 16, 0]);
    } else {
        p.extend_from_slice(&[0x11, 0x02, 0x00]);
    }
    p.resize(len.max(p.len()), 0xab);
    p
}

/// True when a received VP8 payload starts a keyframe.
pub fn is_vp8_keyframe(payload: &[u8]) -> bool {
    match str0m::rtp::Vp8Descriptor::parse(payload) {
        Ok(d) => d.starts_keyframe(payload),
        Err(_) => false,
    }
}

/// The publishing client: Opus-sized audio every 20 ms and three simulcast VP8 layers at
/// 30 fps, with a keyframe at start and whenever a PLI/FIR arrives for a layer.
pub struct Publisher {
    pub client: Client,
    pub audio: Mid,
    pub video: Mid,
    pub next_audio: Instant,
    pub next_video: Instant,
    pub audio_seq: u64,
    pub video_seq: [u64; 3],
    pub frame: u32,
    pub want_keyframe: [bool; 3],
    /// (when, rid) of every keyframe request received.
    pub keyframe_requests: Vec<(Instant, Option<Rid>)>,
}

impl Publisher {
    pub fn new(simulcast: bool) -> (Publisher, SdpOffer, SdpPendingOffer) {
        let mut client = Client::new();
        let mut api = client.rtc.sdp_api();
        let audio = api.add_media(
            RtcMediaKind::Audio,
            Direction::SendOnly,
            Some("camera".into()),
            None,
            None,
        );
        let layers = simulcast.then(|| {
            let mut s = Simulcast::new();
            for rid in RIDS {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let video = api.add_media(
            RtcMediaKind::Video,
            Direction::SendOnly,
            Some("camera".into()),
            None,
            layers,
        );
        let (offer, pending) = api.apply().expect("publisher offer");
        let t = now();
        let p = Publisher {
            client,
            audio,
            video,
            next_audio: t,
            next_video: t,
            audio_seq: 1,
            video_seq: [1, 1, 1],
            frame: 0,
            want_keyframe: [true; 3],
            keyframe_requests: Vec::new(),
        };
        (p, offer, pending)
    }

    pub fn step(&mut self, simulcast: bool) {
        let mut events = Vec::new();
        self.client.drive(&mut events);
        for e in events {
            if let Event::KeyframeRequest(req) = e {
                self.keyframe_requests.push((now(), req.rid));
                let layer = req
                    .rid
                    .and_then(|r| RIDS.iter().position(|x| *x == &*r))
                    .unwrap_or(0);
                self.want_keyframe[layer] = true;
            }
        }
        if !self.client.connected {
            return;
        }
        let t = now();
        if t >= self.next_audio {
            self.next_audio = t + Duration::from_millis(20);
            let pt = self.client.pt(RtcCodec::Opus);
            let seq = self.audio_seq;
            self.audio_seq += 1;
            let exts = ExtensionValues {
                audio_level: Some(-30),
                voice_activity: Some(true),
                ..Default::default()
            };
            let mut api = self.client.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(self.audio, None) {
                tx.write_rtp(
                    RtpWrite::new(pt, SeqNo::from(seq), (seq * 960) as u32, t, vec![0x42; 80])
                        .marker(false)
                        .ext_vals(exts),
                );
            }
        }
        if t >= self.next_video {
            self.next_video = t + Duration::from_millis(33);
            let pt = self.client.pt(RtcCodec::Vp8);
            self.frame += 1;
            let layers = if simulcast { 3 } else { 1 };
            for layer in 0..layers {
                let keyframe = std::mem::take(&mut self.want_keyframe[layer]);
                let rid: Option<Rid> = simulcast.then(|| RIDS[layer].into());
                let seq = self.video_seq[layer];
                self.video_seq[layer] += 1;
                // Each encoder counts its own picture ids, as a browser's do: a subscriber
                // sees continuous ids across a layer switch only if the SFU rewrites them.
                let picture_id = (self.frame as usize + layer * 1000) as u16 & 0x7fff;
                let payload = vp8_frame(picture_id, keyframe, FRAME_BYTES[layer]);
                let mut api = self.client.rtc.direct_api();
                if let Some(tx) = api.stream_tx_by_mid(self.video, rid) {
                    tx.write_rtp(
                        RtpWrite::new(pt, SeqNo::from(seq), self.frame * 3000, t, payload)
                            .marker(true)
                            .nackable(true),
                    );
                }
            }
        }
    }
}

/// What a subscribing client saw, per incoming SSRC.
#[derive(Default)]
pub struct Received {
    /// Extended sequence numbers in arrival order, and whether each was a VP8 keyframe.
    pub packets: Vec<(u64, bool)>,
    /// When each packet arrived, in the same order.
    pub arrived: Vec<Instant>,
    /// VP8 only, in the same order: (picture id, payload length) as received.
    pub vp8: Vec<(Option<u16>, usize)>,
    pub codec: Option<RtcCodec>,
}

pub struct Subscriber {
    pub client: Client,
    pub streams: BTreeMap<u32, Received>,
}

impl Subscriber {
    pub fn step(&mut self) {
        let mut events = Vec::new();
        self.client.drive(&mut events);
        for e in events {
            if let Event::RtpPacket(p) = e {
                let codec = self
                    .client
                    .rtc
                    .codec_config()
                    .find(|c| c.pt() == p.header.payload_type)
                    .map(|c| c.spec().codec);
                let r = self.streams.entry(*p.header.ssrc).or_default();
                r.codec = codec;
                let key = codec == Some(RtcCodec::Vp8) && is_vp8_keyframe(&p.payload);
                r.packets.push((*p.seq_no, key));
                r.arrived.push(now());
                if codec == Some(RtcCodec::Vp8) {
                    let pid = str0m::rtp::Vp8Descriptor::parse(&p.payload)
                        .ok()
                        .and_then(|d| d.picture_id());
                    r.vp8.push((pid, p.payload.len()));
                }
            }
        }
    }

    pub fn count(&self, codec: RtcCodec) -> usize {
        self.streams
            .values()
            .filter(|r| r.codec == Some(codec))
            .map(|r| r.packets.len())
            .sum()
    }

    pub fn video_ssrc(&self) -> Option<Ssrc> {
        self.streams
            .iter()
            .find(|(_, r)| r.codec == Some(RtcCodec::Vp8))
            .map(|(s, _)| Ssrc::from(*s))
    }
}

impl Received {
    /// The packets that arrived in `[from, from + len)`.
    pub fn count_between(&self, from: Instant, len: Duration) -> usize {
        self.arrived
            .iter()
            .filter(|t| **t >= from && **t < from + len)
            .count()
    }
}
