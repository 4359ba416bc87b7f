//! Test doubles for the sans-IO core (feature `testing`): a packet builder, simulated VP8
//! simulcast and Opus sources, a seeded network emulator, and `TestRoom`, which drives a
//! [`MediaCore`] on a virtual clock (STYLE.md testing pyramid, levels 2-3; quinn `Pair`,
//! str0m `tests/common.rs`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::h264;
use super::id::{
    Bitrate, DownlinkId, EncodingIdx, Layer, ParticipantId, PublicationId, StreamRef,
    SubscriptionId,
};
use super::keyframe_throttle::KeyframeKind;
use super::media_core::{CoreConfig, CoreEvent, Input, MediaCore, Output, PublicationSpec};
use super::policy::{ForwardingPolicy, Location, Member};
use super::rtp_in::{AudioLevel, Codec, PayloadInfo, RtpHeader, RtpIn};
use super::vp8::Vp8Descriptor;

/// Builds one RTP packet as the core sees it:
/// `PacketBuilder::vp8().ssrc(1).seq(7).ts(90).keyframe().tid(1).len(1000).build()`.
#[derive(Clone, Debug)]
pub struct PacketBuilder {
    codec: Codec,
    header: RtpHeader,
    keyframe: bool,
    start: bool,
    tid: Option<u8>,
    layer_sync: bool,
    picture_id: Option<u16>,
    tl0_pic_idx: Option<u8>,
    key_idx: Option<u8>,
    len: usize,
}

impl PacketBuilder {
    fn new(codec: Codec, payload_type: u8) -> PacketBuilder {
        PacketBuilder {
            codec,
            header: RtpHeader {
                ssrc: 1,
                sequence_number: 0,
                timestamp: 0,
                marker: false,
                payload_type,
                audio_level: None,
                red: false,
            },
            keyframe: false,
            start: true,
            tid: None,
            layer_sync: false,
            picture_id: None,
            tl0_pic_idx: None,
            key_idx: None,
            len: 100,
        }
    }

    pub fn vp8() -> PacketBuilder {
        PacketBuilder::new(Codec::Vp8, 96)
    }

    pub fn h264() -> PacketBuilder {
        PacketBuilder::new(Codec::H264, 102)
    }

    pub fn opus() -> PacketBuilder {
        PacketBuilder::new(Codec::Opus, 111).len(60)
    }

    pub fn ssrc(mut self, ssrc: u32) -> Self {
        self.header.ssrc = ssrc;
        self
    }

    pub fn seq(mut self, seq: u16) -> Self {
        self.header.sequence_number = seq;
        self
    }

    pub fn ts(mut self, ts: u32) -> Self {
        self.header.timestamp = ts;
        self
    }

    pub fn marker(mut self, marker: bool) -> Self {
        self.header.marker = marker;
        self
    }

    pub fn keyframe(mut self) -> Self {
        self.keyframe = true;
        self
    }

    /// `false` for a continuation packet of a frame (S=0 in VP8, a middle FU-A in H264).
    pub fn start(mut self, start: bool) -> Self {
        self.start = start;
        self
    }

    pub fn tid(mut self, tid: u8) -> Self {
        self.tid = Some(tid);
        self
    }

    pub fn layer_sync(mut self, sync: bool) -> Self {
        self.layer_sync = sync;
        self
    }

    pub fn picture_id(mut self, pid: u16) -> Self {
        self.picture_id = Some(pid & 0x7fff);
        self
    }

    pub fn tl0_pic_idx(mut self, tl0: u8) -> Self {
        self.tl0_pic_idx = Some(tl0);
        self
    }

    pub fn key_idx(mut self, key_idx: u8) -> Self {
        self.key_idx = Some(key_idx & 0x1f);
        self
    }

    pub fn audio_level(mut self, level: u8) -> Self {
        self.header.audio_level = Some(AudioLevel {
            voice_activity: level < 127,
            level,
        });
        self
    }

    /// Total payload length in bytes (descriptor included).
    pub fn len(mut self, len: usize) -> Self {
        self.len = len;
        self
    }

    /// The RTP payload bytes this builder describes.
    pub fn payload(&self) -> Arc<[u8]> {
        let mut b: Vec<u8> = Vec::with_capacity(self.len.max(16));
        match self.codec {
            Codec::Opus => {}
            Codec::Vp8 => {
                let mut first = 0u8;
                if self.start {
                    first |= 0x10;
                }
                let mut ext = 0u8;
                ext |= if self.picture_id.is_some() { 0x80 } else { 0 };
                ext |= if self.tl0_pic_idx.is_some() { 0x40 } else { 0 };
                ext |= if self.tid.is_some() { 0x20 } else { 0 };
                ext |= if self.key_idx.is_some() { 0x10 } else { 0 };
                if ext != 0 {
                    first |= 0x80;
                }
                b.push(first);
                if ext != 0 {
                    b.push(ext);
                }
                if let Some(pid) = self.picture_id {
                    b.extend_from_slice(&(0x8000 | pid).to_be_bytes());
                }
                if let Some(tl0) = self.tl0_pic_idx {
                    b.push(tl0);
                }
                if self.tid.is_some() || self.key_idx.is_some() {
                    let tid = self.tid.unwrap_or(0);
                    let y = if self.layer_sync { 0x20 } else { 0 };
                    b.push((tid << 6) | y | self.key_idx.unwrap_or(0));
                }
                // VP8 payload header: P bit 0 on a keyframe (RFC 6386 §9.1).
                b.push(if self.keyframe { 0x00 } else { 0x01 });
            }
            Codec::H264 => {
                if self.keyframe {
                    b.push(0x65); // IDR slice
                } else if self.start {
                    b.push(0x41); // non-IDR slice
                } else {
                    b.extend_from_slice(&[0x7c, 0x01]); // FU-A middle fragment
                }
            }
        }
        while b.len() < self.len {
            b.push(0xaa);
        }
        b.into()
    }

    pub fn build(&self) -> RtpIn {
        RtpIn::new(self.header, self.codec, self.payload())
            .expect("PacketBuilder writes well-formed payloads")
    }
}

/// A small seeded PRNG (splitmix64) so scenario runs repeat exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: f64) -> bool {
        (self.next_u64() % 1_000_000) as f64 / 10_000.0 < pct
    }
}

/// Seeded loss and reordering between a publisher and the core (str0m's `Netem` idea).
#[derive(Clone, Debug)]
pub struct Netem {
    rng: Rng,
    pub loss_pct: f64,
    pub reorder_pct: f64,
    held: Option<RtpIn>,
}

impl Netem {
    pub fn new(seed: u64, loss_pct: f64, reorder_pct: f64) -> Netem {
        Netem {
            rng: Rng::new(seed),
            loss_pct,
            reorder_pct,
            held: None,
        }
    }

    /// Passes one packet through: returns the packets delivered now, in order.
    pub fn pass(&mut self, pkt: RtpIn, out: &mut Vec<RtpIn>) {
        if self.rng.chance(self.loss_pct) {
            return;
        }
        if self.held.is_none() && self.rng.chance(self.reorder_pct) {
            self.held = Some(pkt);
            return;
        }
        out.push(pkt);
        if let Some(h) = self.held.take() {
            out.push(h);
        }
    }
}

/// One simulcast encoding of a simulated VP8 camera: 30 fps, L1T3 temporal pattern
/// (TID 0, 2, 1, 2), several packets per frame, keyframes on request or every 10 s.
#[derive(Clone, Debug)]
pub struct Vp8Source {
    pub ssrc: u32,
    seq: u16,
    ts: u32,
    picture_id: u16,
    tl0: u8,
    key_idx: u8,
    frame: u64,
    packets_per_frame: usize,
    packet_len: usize,
    keyframe_due: bool,
}

impl Vp8Source {
    pub const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);

    pub fn new(ssrc: u32, packets_per_frame: usize, packet_len: usize) -> Vp8Source {
        // Start counters near their wrap so every run crosses it.
        Vp8Source {
            ssrc,
            seq: 65_500u16.wrapping_add(ssrc as u16),
            ts: u32::MAX - 100_000,
            picture_id: 0x7ff0,
            tl0: 250,
            key_idx: 30,
            frame: 0,
            packets_per_frame,
            packet_len,
            keyframe_due: true,
        }
    }

    pub fn request_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// The packets of the next frame.
    pub fn next_frame(&mut self) -> Vec<RtpIn> {
        let keyframe = self.keyframe_due || self.frame.is_multiple_of(300);
        self.keyframe_due = false;
        let tid = if keyframe {
            0
        } else {
            [0u8, 2, 1, 2][(self.frame % 4) as usize]
        };
        if tid == 0 {
            self.tl0 = self.tl0.wrapping_add(1);
        }
        if keyframe {
            self.key_idx = (self.key_idx + 1) & 0x1f;
        }
        let n = if keyframe {
            self.packets_per_frame * 3
        } else {
            self.packets_per_frame
        };
        let pkts = (0..n)
            .map(|i| {
                let mut b = PacketBuilder::vp8()
                    .ssrc(self.ssrc)
                    .seq(self.seq.wrapping_add(i as u16))
                    .ts(self.ts)
                    .marker(i + 1 == n)
                    .start(i == 0)
                    .picture_id(self.picture_id)
                    .tl0_pic_idx(self.tl0)
                    .tid(tid)
                    .layer_sync(tid == 1 || (tid == 2 && self.frame % 4 == 1))
                    .key_idx(self.key_idx)
                    .len(self.packet_len);
                if keyframe && i == 0 {
                    b = b.keyframe();
                }
                b.build()
            })
            .collect();
        self.seq = self.seq.wrapping_add(n as u16);
        self.ts = self.ts.wrapping_add(3000);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        self.frame += 1;
        pkts
    }
}

/// A simulated Opus microphone: one 60-byte packet every 20 ms.
#[derive(Clone, Debug)]
pub struct OpusSource {
    pub ssrc: u32,
    seq: u16,
    ts: u32,
}

impl OpusSource {
    pub const INTERVAL: Duration = Duration::from_millis(20);

    pub fn new(ssrc: u32) -> OpusSource {
        OpusSource {
            ssrc,
            seq: 65_000,
            ts: 12_345,
        }
    }

    pub fn next_packet(&mut self) -> RtpIn {
        let p = PacketBuilder::opus()
            .ssrc(self.ssrc)
            .seq(self.seq)
            .ts(self.ts)
            .audio_level(30)
            .build();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(960);
        p
    }
}

/// A simulated single-layer H264 camera (packetization mode 1, RFC 6184): 30 fps; a keyframe
/// is a STAP-A with SPS and PPS followed by an IDR slice in FU-A fragments, a delta frame is a
/// non-IDR slice (one NAL unit, or FU-A fragments when it spans several packets). Keyframes on
/// request or every 10 s.
#[derive(Clone, Debug)]
pub struct H264Source {
    pub ssrc: u32,
    seq: u16,
    ts: u32,
    frame: u64,
    packets_per_frame: usize,
    packet_len: usize,
    keyframe_due: bool,
}

impl H264Source {
    pub fn new(ssrc: u32, packets_per_frame: usize, packet_len: usize) -> H264Source {
        H264Source {
            ssrc,
            seq: 65_530,
            ts: u32::MAX - 10_000,
            frame: 0,
            packets_per_frame: packets_per_frame.max(1),
            packet_len: packet_len.max(4),
            keyframe_due: true,
        }
    }

    pub fn request_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// The packets of the next frame.
    pub fn next_frame(&mut self) -> Vec<RtpIn> {
        let keyframe = self.keyframe_due || self.frame.is_multiple_of(300);
        self.keyframe_due = false;
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        if keyframe {
            // STAP-A: SPS (type 7), PPS (type 8).
            payloads.push(vec![
                0x78, 0x00, 0x03, 0x67, 0x42, 0x00, 0x00, 0x02, 0x68, 0xce,
            ]);
        }
        let (nal_header, fragments) = if keyframe {
            (0x65u8, self.packets_per_frame.max(2))
        } else {
            (0x41u8, self.packets_per_frame)
        };
        if fragments == 1 {
            payloads.push(vec![nal_header]);
        } else {
            for i in 0..fragments {
                let mut fu_header = nal_header & 0x1f;
                if i == 0 {
                    fu_header |= 0x80;
                }
                if i + 1 == fragments {
                    fu_header |= 0x40;
                }
                payloads.push(vec![(nal_header & 0x60) | 28, fu_header]);
            }
        }
        let n = payloads.len();
        let pkts = payloads
            .into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                if b[0] & 0x1f != 24 {
                    // Slice data; a STAP-A stays exactly its aggregated NAL units.
                    b.resize(self.packet_len.max(b.len()), 0xaa);
                }
                let header = RtpHeader {
                    ssrc: self.ssrc,
                    sequence_number: self.seq.wrapping_add(i as u16),
                    timestamp: self.ts,
                    marker: i + 1 == n,
                    payload_type: 102,
                    audio_level: None,
                    red: false,
                };
                RtpIn::new(header, Codec::H264, Arc::from(b))
                    .expect("H264Source writes well-formed payloads")
            })
            .collect();
        self.seq = self.seq.wrapping_add(n as u16);
        self.ts = self.ts.wrapping_add(3000);
        self.frame += 1;
        pkts
    }
}

/// One encoding of a simulated camera.
#[derive(Clone, Debug)]
enum VideoSource {
    Vp8(Vp8Source),
    H264(H264Source),
}

impl VideoSource {
    fn next_frame(&mut self) -> Vec<RtpIn> {
        match self {
            VideoSource::Vp8(s) => s.next_frame(),
            VideoSource::H264(s) => s.next_frame(),
        }
    }

    fn request_keyframe(&mut self) {
        match self {
            VideoSource::Vp8(s) => s.request_keyframe(),
            VideoSource::H264(s) => s.request_keyframe(),
        }
    }
}

/// One packet a subscriber received, as written on its wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub at: Instant,
    pub ssrc: u32,
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    /// Which publisher participant and encoding it came from.
    pub from: ParticipantId,
    pub encoding: u8,
    /// The VP8 descriptor after the patch (what the subscriber's decoder reads).
    pub vp8: Option<Vp8Descriptor>,
    /// A VP8 keyframe start, or an H264 packet carrying an IDR slice or SPS.
    pub keyframe: bool,
    /// Payload bytes.
    pub len: usize,
    /// The version of the forwarding policy in force when the core forwarded it.
    pub policy_version: u64,
}

#[derive(Debug)]
struct Camera {
    video: PublicationId,
    audio: PublicationId,
    sources: Vec<VideoSource>,
    mic: OpusSource,
}

/// A room of simulated participants around one [`MediaCore`], on a virtual clock.
#[derive(Debug)]
pub struct TestRoom {
    pub core: MediaCore,
    pub now: Instant,
    pub policy: ForwardingPolicy,
    cameras: HashMap<ParticipantId, Camera>,
    downlinks: HashMap<ParticipantId, DownlinkId>,
    /// Every forwarded packet, per subscription.
    pub received: HashMap<SubscriptionId, Vec<Received>>,
    /// (subscriber, publication) -> subscription.
    pub subscriptions: HashMap<(ParticipantId, PublicationId), SubscriptionId>,
    pub keyframe_requests: Vec<(Instant, PublicationId, EncodingIdx, KeyframeKind)>,
    pub events: Vec<(Instant, CoreEvent)>,
    /// Per publisher: the network between it and the SFU.
    pub netem: HashMap<ParticipantId, Netem>,
    /// Sources answer the core's keyframe requests (at their next frame) while this is true;
    /// set it to false to see the throttle's merging and retries.
    pub honour_keyframe_requests: bool,
    /// Every policy installed, by version (to audit each received packet against the policy
    /// it was forwarded under).
    pub installed: HashMap<u64, ForwardingPolicy>,
    owner: HashMap<PublicationId, ParticipantId>,
    codec_of: HashMap<PublicationId, Codec>,
    publication_of: HashMap<SubscriptionId, PublicationId>,
    next_frame_at: Instant,
    next_audio_at: Instant,
    next_ssrc: u32,
    scratch: Vec<RtpIn>,
}

/// Most core wake-ups one `run_for` may take per simulated second before it is declared a
/// livelock (quinn's bounded drive).
const MAX_STEPS_PER_SECOND: u64 = 100_000;

impl TestRoom {
    pub fn new(start: Instant) -> TestRoom {
        TestRoom {
            core: MediaCore::new(CoreConfig::default(), start),
            now: start,
            policy: ForwardingPolicy::default(),
            cameras: HashMap::new(),
            downlinks: HashMap::new(),
            received: HashMap::new(),
            subscriptions: HashMap::new(),
            keyframe_requests: Vec::new(),
            events: Vec::new(),
            netem: HashMap::new(),
            honour_keyframe_requests: true,
            installed: HashMap::new(),
            owner: HashMap::new(),
            codec_of: HashMap::new(),
            publication_of: HashMap::new(),
            next_frame_at: start,
            next_audio_at: start,
            next_ssrc: 1000,
            scratch: Vec::new(),
        }
    }

    /// Admits `p` at `location` (policy member, downlink) and installs the policy.
    pub fn join(&mut self, p: ParticipantId, location: Location) {
        self.policy.members.insert(p, Member::publisher(location));
        let d = self.core.add_downlink(p);
        self.downlinks.insert(p, d);
        self.install();
    }

    /// Removes `p` from the policy and the core.
    pub fn leave(&mut self, p: ParticipantId) {
        self.policy.members.remove(&p);
        self.install();
        if let Some(c) = self.cameras.remove(&p) {
            let _ = self.core.remove_publication(c.video);
            let _ = self.core.remove_publication(c.audio);
        }
        if let Some(d) = self.downlinks.remove(&p) {
            let _ = self.core.remove_downlink(d);
        }
        // Forget its subscriptions both ways (their ids are stale now), so that a rejoin
        // under the same participant id subscribes afresh; what was received stays recorded.
        let owner = &self.owner;
        self.subscriptions
            .retain(|(s, publication), _| *s != p && owner.get(publication) != Some(&p));
    }

    /// `p` publishes a camera (VP8 with `encodings` simulcast layers) and a microphone.
    pub fn publish_camera(
        &mut self,
        p: ParticipantId,
        encodings: u8,
    ) -> (PublicationId, PublicationId) {
        let base = 10_000 + (p.0 as u32) * 10;
        let sources = (0..encodings)
            .map(|e| {
                // q/h/f: 1, 2 and 4 packets per delta frame of 1,000 bytes.
                VideoSource::Vp8(Vp8Source::new(base + u32::from(e), 1 << e, 1000))
            })
            .collect();
        self.publish(p, Codec::Vp8, sources)
    }

    /// `p` publishes a single-layer H264 camera (3 packets per delta frame) and a microphone.
    pub fn publish_h264_camera(&mut self, p: ParticipantId) -> (PublicationId, PublicationId) {
        let base = 10_000 + (p.0 as u32) * 10;
        let sources = vec![VideoSource::H264(H264Source::new(base, 3, 1000))];
        self.publish(p, Codec::H264, sources)
    }

    fn publish(
        &mut self,
        p: ParticipantId,
        codec: Codec,
        sources: Vec<VideoSource>,
    ) -> (PublicationId, PublicationId) {
        let base = 10_000 + (p.0 as u32) * 10;
        let video = self
            .core
            .add_publication(PublicationSpec {
                participant: p,
                stream: StreamRef::CAMERA_VIDEO,
                codec,
                encodings: sources.len() as u8,
            })
            .expect("valid video publication");
        let audio = self
            .core
            .add_publication(PublicationSpec {
                participant: p,
                stream: StreamRef::CAMERA_AUDIO,
                codec: Codec::Opus,
                encodings: 1,
            })
            .expect("valid audio publication");
        self.cameras.insert(
            p,
            Camera {
                video,
                audio,
                sources,
                mic: OpusSource::new(base + 9),
            },
        );
        self.owner.insert(video, p);
        self.owner.insert(audio, p);
        self.codec_of.insert(video, codec);
        self.codec_of.insert(audio, Codec::Opus);
        (video, audio)
    }

    /// Subscribes every participant to every other participant's publications (the shell
    /// does this for the allowed set; the policy decides what flows).
    pub fn subscribe_all(&mut self) {
        let pubs: Vec<(ParticipantId, PublicationId)> = self
            .cameras
            .iter()
            .flat_map(|(p, c)| [(*p, c.video), (*p, c.audio)])
            .collect();
        let subs: Vec<(ParticipantId, DownlinkId)> =
            self.downlinks.iter().map(|(p, d)| (*p, *d)).collect();
        for (s, d) in subs {
            for (q, publication) in &pubs {
                if s == *q || self.subscriptions.contains_key(&(s, *publication)) {
                    continue;
                }
                self.next_ssrc += 1;
                let sid = self
                    .core
                    .subscribe(self.now, d, *publication, self.next_ssrc)
                    .expect("known downlink and publication");
                self.subscriptions.insert((s, *publication), sid);
                self.publication_of.insert(sid, *publication);
            }
        }
    }

    /// The subscription of `subscriber` to `publisher`'s camera video or audio.
    pub fn subscription(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        video: bool,
    ) -> SubscriptionId {
        let c = &self.cameras[&publisher];
        let publication = if video { c.video } else { c.audio };
        self.subscriptions[&(subscriber, publication)]
    }

    pub fn downlink(&self, p: ParticipantId) -> DownlinkId {
        self.downlinks[&p]
    }

    pub fn camera(&self, p: ParticipantId) -> (PublicationId, PublicationId) {
        let c = &self.cameras[&p];
        (c.video, c.audio)
    }

    /// Moves `p` and installs the new policy (one version step).
    pub fn move_to(&mut self, p: ParticipantId, location: Location) {
        if let Some(m) = self.policy.members.get_mut(&p) {
            m.location = location;
        }
        self.install();
    }

    /// Installs the current policy as the next version and drains outputs.
    pub fn install(&mut self) {
        self.policy.version += 1;
        self.installed
            .insert(self.policy.version, self.policy.clone());
        self.core.install_policy(self.now, self.policy.clone());
        self.drain();
    }

    /// A subscriber's PLI/FIR for `publisher`'s camera video or audio, as the shell feeds it.
    pub fn feedback(
        &mut self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        kind: KeyframeKind,
    ) {
        let subscription = self.subscription(subscriber, publisher, true);
        self.core.handle_input(Input::Feedback {
            at: self.now,
            subscription,
            kind,
        });
        self.drain();
    }

    /// A new bandwidth estimate for `p`'s downlink, as str0m's estimator would report it.
    pub fn estimate(&mut self, p: ParticipantId, bitrate: Bitrate) {
        let downlink = self.downlink(p);
        self.core.handle_input(Input::Estimate {
            at: self.now,
            downlink,
            bitrate,
        });
        self.drain();
    }

    /// `p`'s subscriber transport connects, as the shell reports str0m's `Event::Connected`.
    pub fn connect(&mut self, p: ParticipantId) {
        let downlink = self.downlink(p);
        self.core.handle_input(Input::DownlinkConnected {
            at: self.now,
            downlink,
        });
        self.drain();
    }

    /// A receiver report from `p` for each of its video subscriptions, losing `lost_per_mille`
    /// thousandths of the packets, as the shell feeds it from str0m's stats.
    pub fn loss(&mut self, p: ParticipantId, lost_per_mille: u16) {
        let mut subs: Vec<SubscriptionId> = self
            .subscriptions
            .iter()
            .filter(|((s, publication), _)| {
                *s == p && self.codec_of.get(publication).is_some_and(|c| c.is_video())
            })
            .map(|(_, sid)| *sid)
            .collect();
        subs.sort();
        for subscription in subs {
            self.core.handle_input(Input::Loss {
                at: self.now,
                subscription,
                lost_per_mille,
            });
        }
        self.drain();
    }

    /// Every recorded packet that its subscriber was not allowed to receive under the policy
    /// in force when it was forwarded (spec §13.1): `(subscriber, publisher, video, packet)`.
    /// Empty means no media crossed a location.
    pub fn leaks(&self) -> Vec<(ParticipantId, ParticipantId, bool, Received)> {
        let mut leaks = Vec::new();
        for ((s, publication), sid) in &self.subscriptions {
            let video = self.codec_of.get(publication).is_some_and(|c| c.is_video());
            let stream = if video {
                StreamRef::CAMERA_VIDEO
            } else {
                StreamRef::CAMERA_AUDIO
            };
            for r in self.received.get(sid).map_or(&[][..], Vec::as_slice) {
                let allowed = self
                    .installed
                    .get(&r.policy_version)
                    .is_some_and(|policy| policy.allowed(*s, r.from, stream));
                if !allowed {
                    leaks.push((*s, r.from, video, r.clone()));
                }
            }
        }
        leaks
    }

    /// The wire view of everything `subscriber` received from `publisher`'s camera.
    pub fn received_by(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        video: bool,
    ) -> &[Received] {
        let sid = self.subscription(subscriber, publisher, video);
        self.received.get(&sid).map_or(&[], Vec::as_slice)
    }

    /// Runs the room for `dur` of virtual time: sources send at their rates through the
    /// netem, the core's timeouts fire, keyframe requests reach the sources.
    pub fn run_for(&mut self, dur: Duration) {
        let end = self.now + dur;
        let max_steps = MAX_STEPS_PER_SECOND * (dur.as_secs() + 1);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < max_steps, "TestRoom livelock: too many steps");
            let next = self
                .next_frame_at
                .min(self.next_audio_at)
                .min(self.core.poll_timeout());
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if self.now >= self.core.poll_timeout() {
                self.core.handle_input(Input::Timeout(self.now));
            }
            if self.now >= self.next_frame_at {
                self.send_frames();
                self.next_frame_at += Vp8Source::FRAME_INTERVAL;
            }
            if self.now >= self.next_audio_at {
                self.send_audio();
                self.next_audio_at += OpusSource::INTERVAL;
            }
            self.drain();
        }
        self.now = end;
    }

    fn send_frames(&mut self) {
        let mut ps: Vec<ParticipantId> = self.cameras.keys().copied().collect();
        ps.sort();
        for p in ps {
            let (video, n) = {
                let c = &self.cameras[&p];
                (c.video, c.sources.len())
            };
            for e in 0..n {
                let pkts = self
                    .cameras
                    .get_mut(&p)
                    .map(|c| c.sources[e].next_frame())
                    .unwrap_or_default();
                for pkt in pkts {
                    self.deliver(p, video, e as u8, pkt);
                }
            }
        }
    }

    fn send_audio(&mut self) {
        let mut ps: Vec<ParticipantId> = self.cameras.keys().copied().collect();
        ps.sort();
        for p in ps {
            let (audio, pkt) = match self.cameras.get_mut(&p) {
                Some(c) => (c.audio, c.mic.next_packet()),
                None => continue,
            };
            self.deliver(p, audio, 0, pkt);
        }
    }

    fn deliver(&mut self, p: ParticipantId, publication: PublicationId, encoding: u8, pkt: RtpIn) {
        let mut out = std::mem::take(&mut self.scratch);
        match self.netem.get_mut(&p) {
            Some(n) => n.pass(pkt, &mut out),
            None => out.push(pkt),
        }
        for pkt in out.drain(..) {
            self.core.handle_input(Input::Rtp {
                at: self.now,
                publication,
                encoding: EncodingIdx(encoding),
                pkt,
            });
            self.drain();
        }
        self.scratch = out;
    }

    /// Drains the core's outputs into the room's records.
    pub fn drain(&mut self) {
        loop {
            match self.core.poll_output() {
                Output::Timeout(_) => break,
                Output::Forward(f) => {
                    let from = self
                        .owner
                        .get(&self.publication_of(f.subscription))
                        .copied();
                    let mut buf = Vec::with_capacity(f.pkt.payload.len());
                    f.pkt.write_payload(&mut buf);
                    let codec = self.codec_of.get(&self.publication_of(f.subscription));
                    let (vp8, keyframe) = match codec {
                        Some(Codec::Vp8) => {
                            let vp8 = Vp8Descriptor::parse(&buf);
                            (vp8, vp8.is_some_and(|d| d.keyframe))
                        }
                        Some(Codec::H264) => {
                            (None, h264::inspect(&buf).is_some_and(|f| f.keyframe))
                        }
                        _ => (None, false),
                    };
                    let encoding = self.encoding_of(f.subscription);
                    self.received
                        .entry(f.subscription)
                        .or_default()
                        .push(Received {
                            at: self.now,
                            ssrc: f.pkt.ssrc,
                            seq: f.pkt.seq,
                            timestamp: f.pkt.timestamp,
                            marker: f.pkt.marker,
                            from: from.unwrap_or(ParticipantId(u64::MAX)),
                            encoding,
                            vp8,
                            keyframe,
                            len: buf.len(),
                            policy_version: self.core.policy_version(),
                        });
                }
                Output::RequestKeyframe {
                    publication,
                    encoding,
                    kind,
                } => {
                    self.keyframe_requests
                        .push((self.now, publication, encoding, kind));
                    if !self.honour_keyframe_requests {
                        continue;
                    }
                    if let Some(p) = self.owner.get(&publication) {
                        if let Some(src) = self
                            .cameras
                            .get_mut(p)
                            .and_then(|c| c.sources.get_mut(usize::from(encoding.0)))
                        {
                            src.request_keyframe();
                        }
                    }
                }
                Output::Event(e) => self.events.push((self.now, e)),
            }
        }
    }

    fn publication_of(&self, sid: SubscriptionId) -> PublicationId {
        self.publication_of.get(&sid).copied().unwrap_or_default()
    }

    fn encoding_of(&self, sid: SubscriptionId) -> u8 {
        self.core
            .layers(sid)
            .and_then(|l| l.current)
            .map_or(0, |l: Layer| l.spatial)
    }
}

impl Received {
    /// The VP8 temporal layer id, if any.
    pub fn tid(&self) -> Option<u8> {
        self.vp8.and_then(|d| d.tid)
    }

    pub fn picture_id(&self) -> Option<u16> {
        self.vp8.and_then(|d| d.picture_id).map(|p| p.value)
    }
}

/// True when `info` is a VP8 keyframe start (used by property tests).
pub fn is_vp8_keyframe(info: &PayloadInfo) -> bool {
    matches!(info, PayloadInfo::Vp8(d) if d.keyframe)
}
