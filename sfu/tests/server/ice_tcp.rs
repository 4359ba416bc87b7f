//! ICE-TCP (issue 14): every shard also listens on a TCP port and advertises it as an RFC 6544
//! passive candidate beside the UDP one, with a lower priority. A real str0m client that has
//! only a TCP candidate receives a meeting's media over it (RFC 4571 framing on a real
//! connection to 127.0.0.1); garbage, an oversize frame and a flood of idle connections on the
//! port are dropped and counted while that meeting goes on. The browser over ICE-TCP is
//! `scripts/browser-tcp-test`'s.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::peer::Publisher;
use crate::support::ws::*;
use serde_json::json;
use sfu::Config;
use signalling_proto::Role;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec as RtcCodec;
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// A candidate line of an SDP: (protocol, priority, address, the rest after `typ`).
fn candidates(sdp: &str) -> Vec<(String, u32, SocketAddr, String)> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let ip: IpAddr = words.get(4)?.parse().ok()?;
            let port: u16 = words.get(5)?.parse().ok()?;
            Some((
                words.get(2)?.to_ascii_lowercase(),
                words.get(3)?.parse().ok()?,
                SocketAddr::new(ip, port),
                words.get(6..)?.join(" "),
            ))
        })
        .collect()
}

/// The server's ICE-TCP candidate in an SDP, checked to be passive and below every UDP one.
fn tcp_candidate(sdp: &str) -> SocketAddr {
    let all = candidates(sdp);
    let (_, tcp_priority, tcp, rest) = all
        .iter()
        .find(|(proto, ..)| proto == "tcp")
        .unwrap_or_else(|| panic!("no TCP candidate in {sdp}"));
    assert!(rest.contains("typ host tcptype passive"), "{sdp}");
    let udp: Vec<u32> = all
        .iter()
        .filter(|(proto, ..)| proto == "udp")
        .map(|(_, priority, ..)| *priority)
        .collect();
    assert!(!udp.is_empty(), "{sdp}");
    assert!(udp.iter().all(|p| p > tcp_priority), "UDP first: {sdp}");
    *tcp
}

/// A str0m client transport whose only candidate is an active TCP one (RFC 6544): one real
/// connection to the server's passive candidate, RFC 4571 frames both ways.
struct TcpClient {
    rtc: Rtc,
    stream: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    inbox: Vec<u8>,
    connected: bool,
    /// Per incoming SSRC: its codec and the packets received.
    received: std::collections::BTreeMap<u32, (Option<RtcCodec>, usize)>,
}

impl TcpClient {
    /// Connects to `server` (the TCP candidate of the SDP it will answer).
    fn connect(server: SocketAddr) -> TcpClient {
        let stream = TcpStream::connect(server).expect("TCP connect to the ICE-TCP candidate");
        stream.set_nonblocking(true).expect("nonblocking");
        stream.set_nodelay(true).expect("nodelay");
        let local = stream.local_addr().expect("local addr");
        let mut rtc = Rtc::builder()
            .set_crypto_provider(crate::support::peer::crypto())
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(crate::support::peer::now());
        let candidate = Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .expect("TCP active candidate");
        rtc.add_local_candidate(candidate);
        TcpClient {
            rtc,
            stream,
            local,
            remote: server,
            inbox: Vec::new(),
            connected: false,
            received: Default::default(),
        }
    }

    fn send(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        let mut at = 0;
        while at < frame.len() {
            match self.stream.write(&frame[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("TCP write: {e}"),
            }
        }
    }

    /// Feeds every complete frame waiting on the connection and every due timeout, sends what
    /// str0m transmits (all of it to the one connection), and records received RTP.
    fn drive(&mut self) {
        let mut buf = [0u8; 4096];
        for _ in 0..10_000 {
            let timeout = loop {
                match self.rtc.poll_output().expect("client poll_output") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        assert_eq!(t.proto, Protocol::Tcp);
                        assert_eq!(t.destination, self.remote);
                        self.send(&t.contents);
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::RtpPacket(p)) => {
                        let codec = self
                            .rtc
                            .codec_config()
                            .find(|c| c.pt() == p.header.payload_type)
                            .map(|c| c.spec().codec);
                        let entry = self.received.entry(*p.header.ssrc).or_default();
                        entry.0 = codec;
                        entry.1 += 1;
                    }
                    Output::Event(_) => {}
                }
            };
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the server closed the client's ICE-TCP connection"),
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    while self.inbox.len() >= 2 {
                        let len = usize::from(u16::from_be_bytes([self.inbox[0], self.inbox[1]]));
                        if self.inbox.len() < 2 + len {
                            break;
                        }
                        let frame: Vec<u8> = self.inbox.drain(..2 + len).skip(2).collect();
                        if let Ok(r) = Receive::new(Protocol::Tcp, self.remote, self.local, &frame)
                        {
                            self.rtc
                                .handle_input(Input::Receive(crate::support::peer::now(), r))
                                .expect("client handle_input");
                        }
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("client TCP read: {e}"),
            }
            let t = crate::support::peer::now();
            if timeout <= t {
                self.rtc
                    .handle_input(Input::Timeout(t))
                    .expect("client timeout");
                continue;
            }
            return;
        }
    }

    fn count(&self, codec: RtcCodec) -> usize {
        self.received
            .values()
            .filter(|(c, _)| *c == Some(codec))
            .map(|(_, n)| n)
            .sum()
    }
}

/// A running meeting: a host publishing audio and simulcast video over UDP, and a visitor
/// whose subscriber transport is a [`TcpClient`].
struct Meeting {
    server: TestServer,
    _host: Client,
    visitor: Client,
    publisher: Publisher,
    subscriber: Option<TcpClient>,
}

impl Meeting {
    async fn start(room: &str) -> Meeting {
        crate::support::peer::init_log();
        let server = TestServer::start_with(Config::ephemeral()).await;
        let mut host = server.client().await;
        host.join(room, "host", Role::Host).await;
        let mut visitor = server.client().await;
        visitor.join(room, "ada", Role::Visitor).await;
        let (mut publisher, offer, pending) = Publisher::new(true);
        let answer = host
            .call("publisher_offer", json!({"sdp": offer.to_sdp_string()}))
            .await;
        let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
        tcp_candidate(sdp);
        publisher
            .client
            .rtc
            .sdp_api()
            .accept_answer(
                pending,
                SdpAnswer::from_sdp_string(sdp).expect("answer parses"),
            )
            .expect("publisher accepts the answer");
        Meeting {
            server,
            _host: host,
            visitor,
            publisher,
            subscriber: None,
        }
    }

    /// One round: the publisher sends, the subscriber reads, and a pending server offer is
    /// answered by a new TCP-only subscriber transport.
    async fn step(&mut self) {
        self.publisher.step(true);
        if let Some(subscriber) = &mut self.subscriber {
            subscriber.drive();
        }
        let offered = tokio::time::timeout(
            Duration::from_millis(2),
            self.visitor.event("subscriber_offer"),
        )
        .await;
        let Ok(offer) = offered else {
            return;
        };
        let data = &offer["data"];
        let sdp = data["sdp"].as_str().expect("offer sdp");
        let subscriber = self
            .subscriber
            .get_or_insert_with(|| TcpClient::connect(tcp_candidate(sdp)));
        let offer = SdpOffer::from_sdp_string(sdp).expect("server offer parses");
        let answer = subscriber
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("the visitor accepts the offer");
        let answered = self
            .visitor
            .call(
                "subscriber_answer",
                json!({"sdp": answer.to_sdp_string(), "version": data["version"]}),
            )
            .await;
        ok_result(&answered);
    }

    /// Steps until the subscriber has `audio` Opus and `video` VP8 packets more than now.
    async fn receive(&mut self, audio: usize, video: usize, within: Duration) {
        let (a0, v0) = self.counts();
        let until = crate::support::peer::now() + within;
        loop {
            let (a, v) = self.counts();
            if a >= a0 + audio && v >= v0 + video {
                return;
            }
            assert!(
                crate::support::peer::now() < until,
                "media over ICE-TCP stalled: {a} audio / {v} video (from {a0} / {v0}), \
                 publisher connected {}, subscriber connected {:?}",
                self.publisher.client.connected,
                self.subscriber.as_ref().map(|s| s.connected),
            );
            self.step().await;
        }
    }

    /// Keeps the meeting going for `duration`; the audio and video packets received meanwhile.
    async fn run_for(&mut self, duration: Duration) -> (usize, usize) {
        let (a0, v0) = self.counts();
        let until = crate::support::peer::now() + duration;
        while crate::support::peer::now() < until {
            self.step().await;
        }
        let (a, v) = self.counts();
        (a - a0, v - v0)
    }

    fn counts(&self) -> (usize, usize) {
        self.subscriber.as_ref().map_or((0, 0), |s| {
            (s.count(RtcCodec::Opus), s.count(RtcCodec::Vp8))
        })
    }

    async fn metrics(&self) -> String {
        let (status, text) = http_get(self.server.addr, "/metrics").await;
        assert_eq!(status, 200);
        text
    }
}

fn metric(text: &str, name: &str) -> f64 {
    sample(text, name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// A connection from `source` (any 127.0.0.0/8 address) to `server`.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .expect("bind a loopback source");
    let stream = socket.connect(server).await.expect("connect");
    stream.into_std().expect("std stream")
}

// A client with nothing but a TCP candidate connects over ICE-TCP (the server's passive
// candidate, ranked below UDP) and receives the meeting's audio and video; the connection and
// its candidate type show in /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_only_client_receives_media_over_ice_tcp() {
    let mut meeting = Meeting::start("tcp-1").await;
    meeting.receive(25, 15, Duration::from_secs(15)).await;
    let subscriber = meeting.subscriber.as_ref().expect("subscriber");
    assert!(subscriber.connected);
    let text = meeting.metrics().await;
    assert_eq!(metric(&text, "sfu_tcp_media_connections"), 1.0, "{text}");
    assert_eq!(
        metric(&text, "sfu_transports_connected_total{candidate=\"tcp\"}"),
        1.0
    );
    // The publisher is on UDP.
    assert_eq!(
        metric(&text, "sfu_transports_connected_total{candidate=\"host\"}"),
        1.0
    );
}

// Garbage, an oversize frame and a flood of idle connections on the ICE-TCP port are each
// dropped and counted by cause, and the meeting on that same port keeps receiving media
// throughout; connections past the per-address limit are refused at once, the rest closed at
// the handshake deadline (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_tcp_port_is_dropped_and_counted_while_a_meeting_continues() {
    let mut meeting = Meeting::start("tcp-2").await;
    meeting.receive(25, 15, Duration::from_secs(15)).await;
    let port = meeting.subscriber.as_ref().expect("subscriber").remote;

    // A well-framed first frame that is no STUN (a DTLS record header), and a frame header
    // announcing 65 535 bytes.
    let mut garbage = connect_from(Ipv4Addr::new(127, 0, 0, 4), port).await;
    garbage
        .write_all(&[
            0, 16, 0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ])
        .expect("garbage sent");
    let mut oversize = connect_from(Ipv4Addr::new(127, 0, 0, 4), port).await;
    oversize.write_all(&[0xff, 0xff, 1, 2, 3]).expect("sent");
    // 100 connections from one address that never say anything.
    let flood_started = crate::support::peer::now();
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(connect_from(Ipv4Addr::new(127, 0, 0, 3), port).await);
    }

    // The meeting goes on meanwhile, past the flood's handshake deadline: 11 s of media at
    // 50 audio and 30 video packets per second, of which at least half must arrive.
    let (audio, video) = meeting.run_for(Duration::from_secs(11)).await;
    assert!(audio >= 275 && video >= 165, "{audio} audio, {video} video");
    assert!(flood_started.elapsed() > Duration::from_secs(10));
    assert!(closed_within(&mut garbage, Duration::from_secs(1)));
    assert!(closed_within(&mut oversize, Duration::from_secs(1)));
    for stream in &mut flood {
        assert!(closed_within(stream, Duration::from_secs(1)));
    }
    meeting.receive(25, 15, Duration::from_secs(5)).await;

    let text = meeting.metrics().await;
    let closed = |cause: &str| {
        metric(
            &text,
            &format!("sfu_tcp_media_connections_closed_total{{cause=\"{cause}\"}}"),
        )
    };
    assert_eq!(closed("garbage"), 1.0, "{text}");
    assert_eq!(closed("oversize_frame"), 1.0);
    // 32 pending connections per address (TcpMediaConfig::new), the other 68 refused.
    assert_eq!(closed("per_ip_limit"), 68.0);
    assert_eq!(closed("idle"), 32.0);
    assert_eq!(closed("slow_reader"), 0.0);
    assert_eq!(metric(&text, "sfu_tcp_media_connections"), 1.0);
}

/// A subscriber transport over UDP (`peer_support`) or over ICE-TCP ([`TcpClient`]).
enum Downlink {
    Udp(crate::support::peer::Subscriber),
    Tcp(TcpClient),
}

impl Downlink {
    fn step(&mut self) {
        match self {
            Downlink::Udp(s) => s.step(),
            Downlink::Tcp(s) => s.drive(),
        }
    }

    fn rtc(&mut self) -> &mut Rtc {
        match self {
            Downlink::Udp(s) => &mut s.client.rtc,
            Downlink::Tcp(s) => &mut s.rtc,
        }
    }

    fn packets(&self) -> usize {
        match self {
            Downlink::Udp(s) => s.count(RtcCodec::Opus) + s.count(RtcCodec::Vp8),
            Downlink::Tcp(s) => s.count(RtcCodec::Opus) + s.count(RtcCodec::Vp8),
        }
    }
}

/// CPU time the shard thread named `shard-<port>` has run, from the kernel's schedstat (ns).
fn shard_cpu(port: u16) -> Duration {
    let name = format!("shard-{port}");
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).expect("schedstat");
            let ns: u64 = stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("on-CPU ns");
            return Duration::from_nanos(ns);
        }
    }
    panic!("no thread {name}");
}

/// The shard thread's CPU time per datagram (or frame) it sent while one UDP publisher fans
/// out to `subscribers` subscribers over `tcp` or UDP for `window`.
async fn shard_cpu_per_packet(tcp: bool, subscribers: usize, window: Duration) -> (f64, u64) {
    let config = Config {
        shards: std::num::NonZeroUsize::MIN,
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let room = if tcp { "cpu-tcp" } else { "cpu-udp" };
    let mut host = server.client().await;
    host.join(room, "host", Role::Host).await;
    let mut visitors = Vec::new();
    for i in 0..subscribers {
        let mut visitor = server.client().await;
        visitor.join(room, &format!("v{i}"), Role::Visitor).await;
        visitors.push((visitor, None::<Downlink>));
    }
    let (mut publisher, offer, pending) = Publisher::new(true);
    let answer = host
        .call("publisher_offer", json!({"sdp": offer.to_sdp_string()}))
        .await;
    let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
    let udp_port = candidates(sdp)
        .iter()
        .find(|(proto, ..)| proto == "udp")
        .map(|(_, _, addr, _)| addr.port())
        .expect("a UDP candidate");
    publisher
        .client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(sdp).expect("answer"))
        .expect("publisher accepts the answer");
    let metrics = |text: &str| metric(text, "sfu_datagrams_out_total") as u64;
    let mut started: Option<(Duration, u64, std::time::Instant)> = None;
    let give_up = crate::support::peer::now() + Duration::from_secs(30) + window;
    loop {
        assert!(
            crate::support::peer::now() < give_up,
            "the fan-out never settled"
        );
        publisher.step(true);
        for (visitor, downlink) in &mut visitors {
            if let Some(d) = downlink {
                d.step();
            }
            let offered =
                tokio::time::timeout(Duration::from_millis(1), visitor.event("subscriber_offer"))
                    .await;
            let Ok(offer) = offered else { continue };
            let data = &offer["data"];
            let sdp = data["sdp"].as_str().expect("offer sdp");
            let d = downlink.get_or_insert_with(|| {
                if tcp {
                    Downlink::Tcp(TcpClient::connect(tcp_candidate(sdp)))
                } else {
                    Downlink::Udp(crate::support::peer::Subscriber {
                        client: crate::support::peer::Client::new(),
                        streams: Default::default(),
                    })
                }
            });
            let offer = SdpOffer::from_sdp_string(sdp).expect("offer parses");
            let answer = d.rtc().sdp_api().accept_offer(offer).expect("accepted");
            let answered = visitor
                .call(
                    "subscriber_answer",
                    json!({"sdp": answer.to_sdp_string(), "version": data["version"]}),
                )
                .await;
            ok_result(&answered);
        }
        let receiving = visitors
            .iter()
            .all(|(_, d)| d.as_ref().is_some_and(|d| d.packets() > 100));
        match started {
            None if receiving => {
                let (_, text) = http_get(server.addr, "/metrics").await;
                started = Some((
                    shard_cpu(udp_port),
                    metrics(&text),
                    crate::support::peer::now(),
                ));
            }
            Some((cpu0, out0, at)) if at.elapsed() >= window => {
                let (_, text) = http_get(server.addr, "/metrics").await;
                let sent = metrics(&text) - out0;
                let cpu = shard_cpu(udp_port) - cpu0;
                assert!(sent > 0);
                return (cpu.as_secs_f64() * 1e6 / sent as f64, sent);
            }
            _ => {}
        }
    }
}

// The shard's CPU per packet sent when the subscribers are on ICE-TCP against UDP, one after
// the other in one process (the same build and machine). A measurement, not a check:
//   cargo test -p sfu --test server ice_tcp::cpu_per_packet -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for benches/RESULTS.md"]
async fn cpu_per_packet_over_tcp_and_udp() {
    let window = Duration::from_secs(10);
    for round in 0..2 {
        let (udp, udp_sent) = shard_cpu_per_packet(false, 6, window).await;
        let (tcp, tcp_sent) = shard_cpu_per_packet(true, 6, window).await;
        eprintln!(
            "round {round}: shard CPU per packet sent, 6 subscribers: UDP {udp:.1} us \
             ({udp_sent} packets), ICE-TCP {tcp:.1} us ({tcp_sent} packets), ratio {:.2}",
            tcp / udp
        );
    }
}

// The Kubernetes Deployment declares one TCP port per shard from the ConfigMap's
// rtc_tcp_port (beside the UDP ones `deploy_files.rs` checks), and the example configuration
// that the image and compose run turns ICE-TCP on at the documented port.
#[test]
fn deploy_files_open_every_shards_tcp_port() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let read = |relative: &str| {
        std::fs::read_to_string(deploy.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    };
    let yaml = |relative: &str| -> serde_json::Value {
        let parsed: serde_norway::Value =
            serde_norway::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        serde_json::to_value(parsed).expect("YAML as JSON")
    };
    let config_map = yaml("k8s/configmap.yaml");
    let toml = config_map["data"]["sfu.toml"].as_str().expect("sfu.toml");
    let config = Config::from_toml(toml).unwrap_or_else(|e| panic!("ConfigMap TOML: {e}"));
    let first = u64::from(
        config
            .rtc_tcp_port
            .port()
            .expect("ICE-TCP on in the ConfigMap"),
    );
    let deployment = yaml("k8s/deployment.yaml");
    let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    let tcp: std::collections::BTreeSet<u64> = ports
        .as_array()
        .expect("ports")
        .iter()
        .filter(|p| p["protocol"] == "TCP" && p["name"] != "http")
        .map(|p| p["containerPort"].as_u64().expect("port"))
        .collect();
    let wanted = (first..first + config.shards.get() as u64).collect();
    assert_eq!(tcp, wanted, "one ICE-TCP port per shard");
    let example = Config::from_toml(&read("sfu.example.toml")).expect("example parses");
    assert_eq!(example.rtc_tcp_port.port(), Some(7881));
    assert!(read("Dockerfile").contains("EXPOSE 7881-7896/tcp"));
}
