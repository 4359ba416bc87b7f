//! Level-3 properties of one subscription's `Forwarder` over generated simulcast input: any
//! mix of sequence/timestamp/picture-id wrap, temporal layers, loss, reordering, duplicates,
//! and target changes (switches, temporal filtering, pause) at random points.
//! `PROPTEST_CASES` sets the number of cases (256 in CI).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sfu::core::testing::PacketBuilder;
use sfu::core::{Codec, Forwarder, Layer, RtpIn};

/// One frame of the simulated publisher, sent on every encoding at once.
#[derive(Clone, Debug)]
struct FrameSpec {
    keyframe: bool,
    tid: u8,
    layer_sync: bool,
    packets: usize,
    /// A new target set just before this frame (`Some(None)` pauses).
    retarget: Option<Option<Layer>>,
}

#[derive(Clone, Debug)]
struct Stream {
    encodings: u8,
    seq0: [u16; 3],
    ts0: [u32; 3],
    pid0: [u16; 3],
    tl0: [u8; 3],
    initial: Layer,
    frames: Vec<FrameSpec>,
}

/// How the network mangles the packet order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Network {
    Clean,
    Lossy,
    Hostile,
}

/// One packet offered to the forwarder, or a target change.
#[derive(Clone, Debug)]
enum Step {
    Packet {
        /// Position in the original, unmangled order.
        index: usize,
        at: Instant,
        encoding: u8,
        pkt: RtpIn,
    },
    Retarget(Option<Layer>),
}

fn layer(encodings: u8) -> impl Strategy<Value = Layer> {
    (0..encodings, 0u8..3).prop_map(|(s, t)| Layer::new(s, t))
}

fn stream() -> impl Strategy<Value = Stream> {
    (1u8..=3).prop_flat_map(|encodings| {
        let frame = (
            prop::bool::weighted(0.08),
            0u8..3,
            any::<bool>(),
            1usize..=3,
            prop::option::weighted(0.1, prop::option::weighted(0.9, layer(encodings))),
        )
            .prop_map(|(keyframe, tid, layer_sync, packets, retarget)| FrameSpec {
                keyframe,
                tid: if keyframe { 0 } else { tid },
                layer_sync,
                packets,
                retarget,
            });
        (
            any::<[u16; 3]>(),
            any::<[u32; 3]>(),
            any::<[u16; 3]>(),
            any::<[u8; 3]>(),
            layer(encodings),
            prop::collection::vec(frame, 1..80),
        )
            .prop_map(move |(seq0, ts0, pid0, tl0, initial, frames)| Stream {
                encodings,
                seq0,
                ts0,
                pid0: pid0.map(|p| p & 0x7fff),
                tl0,
                initial,
                frames,
            })
    })
}

/// The publisher's packets in send order, with target changes between frames.
fn steps(s: &Stream, t0: Instant) -> Vec<Step> {
    let mut out = Vec::new();
    let mut seq = s.seq0;
    let mut tl0 = s.tl0;
    let mut index = 0;
    for (f, frame) in s.frames.iter().enumerate() {
        if let Some(target) = frame.retarget {
            out.push(Step::Retarget(target));
        }
        let at = t0 + Duration::from_micros(33_333 * f as u64);
        for e in 0..usize::from(s.encodings) {
            if frame.tid == 0 {
                tl0[e] = tl0[e].wrapping_add(1);
            }
            for i in 0..frame.packets {
                let mut b = PacketBuilder::vp8()
                    .ssrc(100 + e as u32)
                    .seq(seq[e])
                    .ts(s.ts0[e].wrapping_add(3000 * f as u32))
                    .marker(i + 1 == frame.packets)
                    .start(i == 0)
                    .picture_id(s.pid0[e].wrapping_add(f as u16))
                    .tl0_pic_idx(tl0[e])
                    .tid(frame.tid)
                    .layer_sync(frame.layer_sync)
                    .len(40);
                if frame.keyframe && i == 0 {
                    b = b.keyframe();
                }
                out.push(Step::Packet {
                    index,
                    at,
                    encoding: e as u8,
                    pkt: b.build(),
                });
                index += 1;
                seq[e] = seq[e].wrapping_add(1);
            }
        }
    }
    out
}

/// Loss, duplicates and reordering, decided by `noise` (one byte per packet).
fn mangle(steps: Vec<Step>, network: Network, noise: &[u8]) -> (Vec<Step>, Vec<usize>) {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    let mut lost = Vec::new();
    let mut n = 0;
    for step in steps {
        let Step::Packet { index, .. } = &step else {
            out.push(step);
            continue;
        };
        let r = noise.get(n % noise.len().max(1)).copied().unwrap_or(0);
        n += 1;
        match network {
            Network::Clean => out.push(step),
            Network::Lossy if r < 20 => lost.push(*index),
            Network::Lossy => out.push(step),
            Network::Hostile if r < 15 => lost.push(*index),
            Network::Hostile if r < 30 => {
                out.push(step.clone());
                out.push(step);
            }
            Network::Hostile if r < 70 => {
                // Move it back past up to 3 earlier packets (never past a target change, so
                // "the same input" still means the same thing).
                let back = 1 + usize::from(r % 3);
                let mut at = out.len();
                while at > 0 && out.len() - at < back && matches!(out[at - 1], Step::Packet { .. })
                {
                    at -= 1;
                }
                out.insert(at, step);
            }
            Network::Hostile => out.push(step),
        }
    }
    (out, lost)
}

/// What the forwarder did with one packet.
#[derive(Debug)]
struct Out {
    index: usize,
    encoding: u8,
    keyframe: bool,
    tid: u8,
    seq: u64,
    ts: u32,
    pid: Option<u16>,
    switched: Option<Layer>,
    current: Layer,
    /// The first forward after a pause.
    after_pause: bool,
}

fn run(s: &Stream, network: Network, noise: &[u8]) -> (Vec<Out>, Vec<usize>) {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let t0 = Instant::now();
    let (steps, lost) = mangle(steps(s, t0), network, noise);
    let mut f = Forwarder::new(Codec::Vp8, 4242);
    f.set_target(Some(s.initial));
    let mut outs = Vec::new();
    let mut paused = true;
    for step in steps {
        match step {
            Step::Retarget(t) => {
                if t.is_none() {
                    paused = true;
                }
                f.set_target(t);
            }
            Step::Packet {
                index,
                at,
                encoding,
                pkt,
            } => {
                if let Ok(fwd) = f.handle_packet(at, encoding, &pkt) {
                    let mut buf = Vec::new();
                    fwd.pkt.write_payload(&mut buf);
                    let desc = sfu::core::vp8::Vp8Descriptor::parse(&buf)
                        .expect("a forwarded VP8 payload still parses");
                    assert_eq!(buf.len(), pkt.payload.len(), "patching keeps the length");
                    outs.push(Out {
                        index,
                        encoding,
                        keyframe: pkt.is_keyframe(),
                        tid: pkt.temporal_id(),
                        seq: fwd.pkt.seq,
                        ts: fwd.pkt.timestamp,
                        pid: desc.picture_id.map(|p| p.value),
                        switched: fwd.switched_to,
                        current: f.current().expect("forwarding means a current layer"),
                        after_pause: std::mem::take(&mut paused),
                    });
                }
            }
        }
    }
    (outs, lost)
}

proptest! {
    // For in-order input without loss the output sequence numbers are contiguous (+1 per
    // forwarded packet) across wraps, temporal filtering, switches and pauses; with loss, a
    // gap is never wider than the input lost in between.
    #[test]
    fn output_seq_is_contiguous_but_for_input_loss(
        s in stream(),
        lossy in any::<bool>(),
        noise in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let network = if lossy { Network::Lossy } else { Network::Clean };
        let (outs, lost) = run(&s, network, &noise);
        for w in outs.windows(2) {
            let gap = w[1].seq.checked_sub(w[0].seq + 1);
            let lost_between = lost.iter().filter(|i| **i > w[0].index && **i < w[1].index).count();
            prop_assert!(gap.is_some(), "seq went backwards: {:?} -> {:?}", w[0], w[1]);
            prop_assert!(gap.unwrap() as usize <= lost_between,
                "gap {:?} with {} lost: {:?} -> {:?}", gap, lost_between, w[0], w[1]);
        }
    }

    // Whatever the input (loss, reordering, duplicates, switches), no two forwards of one
    // subscription share an output sequence number.
    #[test]
    fn no_two_forwards_share_an_output_seq(
        s in stream(),
        noise in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let (outs, _) = run(&s, Network::Hostile, &noise);
        let mut seqs: Vec<u64> = outs.iter().map(|o| o.seq).collect();
        let n = seqs.len();
        seqs.sort_unstable();
        seqs.dedup();
        prop_assert_eq!(seqs.len(), n);
    }

    // For in-order input (with or without loss) output timestamps never go backwards, even
    // across switches between encodings whose timestamps are unrelated.
    #[test]
    fn output_timestamps_never_go_backwards(
        s in stream(),
        lossy in any::<bool>(),
        noise in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let network = if lossy { Network::Lossy } else { Network::Clean };
        let (outs, _) = run(&s, network, &noise);
        for w in outs.windows(2) {
            prop_assert!(w[1].ts.wrapping_sub(w[0].ts) < u32::MAX / 2,
                "ts backwards: {:?} -> {:?}", w[0], w[1]);
        }
    }

    // The first packet forwarded at start, after every switch and after every pause is a
    // keyframe of the encoding switched to; every forwarded packet belongs to the current
    // encoding and a temporal layer it forwards; every reported switch names the layer
    // forwarded from then on.
    #[test]
    fn switches_land_on_keyframes_of_the_current_encoding(
        s in stream(),
        hostile in any::<bool>(),
        noise in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let network = if hostile { Network::Hostile } else { Network::Clean };
        let (outs, _) = run(&s, network, &noise);
        let mut previous: Option<u8> = None;
        for o in &outs {
            let starts = o.after_pause || previous != Some(o.encoding);
            if starts {
                prop_assert!(o.keyframe, "start/switch on a non-keyframe: {:?}", o);
                prop_assert_eq!(o.switched.map(|l| l.spatial), Some(o.encoding));
            }
            // A switch is reported with the layer now forwarded: a new encoding only on its
            // keyframe, a temporal change on any packet.
            if let Some(l) = o.switched {
                prop_assert!(l.spatial == o.encoding && l == o.current, "{:?}", o);
                prop_assert!(o.keyframe || !starts, "{:?}", o);
            }
            prop_assert_eq!(o.current.spatial, o.encoding, "only current is forwarded");
            prop_assert!(o.tid <= o.current.temporal, "{:?}", o);
            previous = Some(o.encoding);
        }
    }

    // For in-order lossless input the picture id advances by exactly 1 per forwarded frame
    // (filtered temporal layers and switches leave no hole the decoder would see as loss).
    #[test]
    fn picture_ids_advance_by_one_per_forwarded_frame(s in stream()) {
        let (outs, _) = run(&s, Network::Clean, &[0]);
        let mut last: Option<(usize, u16)> = None;
        for o in &outs {
            let Some(pid) = o.pid else { continue };
            if let Some((frame_of_last, prev)) = last {
                if frame_of_last != frame_start(&outs, o) {
                    prop_assert_eq!(pid, (prev + 1) & 0x7fff, "{:?}", o);
                } else {
                    prop_assert_eq!(pid, prev);
                }
            }
            last = Some((frame_start(&outs, o), pid));
        }
    }
}

/// The index of the first forwarded packet of `o`'s frame (packets of one frame share a
/// timestamp and are adjacent in clean input).
fn frame_start(outs: &[Out], o: &Out) -> usize {
    let i = outs
        .iter()
        .position(|x| std::ptr::eq(x, o))
        .expect("o is in outs");
    let mut j = i;
    while j > 0 && outs[j - 1].ts == o.ts && outs[j - 1].encoding == o.encoding {
        j -= 1;
    }
    j
}

/// One H264 frame: keyframe, packets, and a pause (`Some(false)`) or resume before it.
type H264Frame = (bool, usize, Option<bool>);
/// What the forwarder did with one H264 packet: (index, keyframe, output seq, after a pause).
type H264Out = (usize, bool, u64, bool);

/// An H264 single-layer stream: first seq and timestamp, then the frames.
fn h264_stream() -> impl Strategy<Value = (u16, u32, Vec<H264Frame>)> {
    (
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(
            (
                prop::bool::weighted(0.1),
                1usize..=3,
                prop::option::weighted(0.1, any::<bool>()),
            ),
            1..80,
        ),
    )
}

/// Runs an H264 stream through a forwarder.
fn run_h264(
    seq0: u16,
    ts0: u32,
    frames: &[H264Frame],
    network: Network,
    noise: &[u8],
) -> (Vec<H264Out>, Vec<usize>) {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let t0 = Instant::now();
    let mut steps = Vec::new();
    let mut seq = seq0;
    let mut index = 0;
    for (f, (keyframe, packets, retarget)) in frames.iter().enumerate() {
        if let Some(on) = retarget {
            steps.push(Step::Retarget(on.then_some(Layer::LOWEST)));
        }
        for i in 0..*packets {
            let mut b = PacketBuilder::h264()
                .seq(seq)
                .ts(ts0.wrapping_add(3000 * f as u32))
                .start(i == 0)
                .marker(i + 1 == *packets);
            if *keyframe && i == 0 {
                b = b.keyframe();
            }
            steps.push(Step::Packet {
                index,
                at: t0 + Duration::from_micros(33_333 * f as u64),
                encoding: 0,
                pkt: b.build(),
            });
            index += 1;
            seq = seq.wrapping_add(1);
        }
    }
    let (steps, lost) = mangle(steps, network, noise);
    let mut f = Forwarder::new(Codec::H264, 7);
    f.set_target(Some(Layer::LOWEST));
    let mut paused = true;
    let mut outs = Vec::new();
    for step in steps {
        match step {
            Step::Retarget(t) => {
                paused |= t.is_none();
                f.set_target(t);
            }
            Step::Packet { index, at, pkt, .. } => {
                if let Ok(fwd) = f.handle_packet(at, 0, &pkt) {
                    let after_pause = std::mem::take(&mut paused);
                    outs.push((index, pkt.is_keyframe(), fwd.pkt.seq, after_pause));
                }
            }
        }
    }
    (outs, lost)
}

proptest! {
    // H264 single layer: forwarding starts (and restarts after a pause) on a keyframe; output
    // seq is contiguous for clean input and never repeats for any input.
    #[test]
    fn h264_forwarding_starts_on_keyframes_with_unique_seq(
        (seq0, ts0, frames) in h264_stream(),
        hostile in any::<bool>(),
        noise in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let network = if hostile { Network::Hostile } else { Network::Clean };
        let (outs, _) = run_h264(seq0, ts0, &frames, network, &noise);
        for o in &outs {
            if o.3 {
                prop_assert!(o.1, "started on a non-keyframe: {:?}", o);
            }
        }
        let mut seqs: Vec<u64> = outs.iter().map(|o| o.2).collect();
        if !hostile {
            for w in seqs.windows(2) {
                prop_assert_eq!(w[1], w[0] + 1);
            }
        }
        let n = seqs.len();
        seqs.sort_unstable();
        seqs.dedup();
        prop_assert_eq!(seqs.len(), n);
    }
}
