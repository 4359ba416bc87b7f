//! The run's result: the JSON report (`--json`) and the final table, in the spirit of
//! `lk load-test`'s (per track, per subscriber, totals).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signalling_proto::MediaKind;

use crate::impairment::Schedule;
use crate::prom_text::SfuSample;
use crate::quality::{self, Timeline, VideoQuality};
use crate::stats::LatencyHistogram;
use crate::subscriber::SubscriberStats;

/// The impairment of a run: the schedule and who had it.
#[derive(Debug, Clone)]
pub struct ImpairmentRun {
    pub schedule: Schedule,
    /// Whether the downlink (SFU -> subscriber) was impaired (else only the uplink).
    pub downlink: bool,
    /// Names of the impaired subscribers.
    pub subscribers: HashSet<String>,
}

/// The quality figures of one subscriber (issue 13).
#[derive(Debug, Clone, Default)]
pub struct SubscriberQuality {
    pub impaired: bool,
    pub video: Vec<VideoQuality>,
    /// Audio loss after repair (sequence gaps the application saw), percent.
    pub audio_loss_pct: f64,
    /// Video loss after repair, percent.
    pub video_loss_pct: f64,
    pub duplicates: u64,
    /// Video packets received (first copies).
    pub video_packets: u64,
    /// Of the video the publishers sent during the window, the share received (one video
    /// publisher with one encoding only: with simulcast a subscriber gets one of three).
    pub video_delivered_pct: Option<f64>,
    /// Retransmissions the SFU sent per packet the emulated link dropped (video + RTX).
    pub rtx_per_lost: Option<f64>,
    pub link: Option<crate::impair_relay::LinkTally>,
}

impl SubscriberQuality {
    /// The worst value of `f` over the video tracks; `None` when no track has one.
    fn worst(&self, f: impl Fn(&VideoQuality) -> Option<f64>) -> Option<f64> {
        self.video.iter().filter_map(f).reduce(f64::max)
    }
}

/// What the run collected, for [`build_json`] and [`render_table`].
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// The command line's settings, copied into the report as given.
    pub config: Value,
    pub duration: Duration,
    /// (subscriber, publisher, kind) triples that should have received media.
    pub tracks_expected: u64,
    pub packets_sent: u64,
    /// Video packets the publishers sent (all encodings).
    pub video_packets_sent: u64,
    /// At the start of the measured window: video packets sent, and received per subscriber
    /// name, for the delivered share of the window.
    pub video_sent_at_start: u64,
    pub video_received_at_start: HashMap<String, u64>,
    /// Subscribers by name, their stats closed at the end of the run.
    pub subscribers: Vec<(String, SubscriberStats)>,
    pub sfu_before: Option<SfuSample>,
    pub sfu_after: Option<SfuSample>,
    pub client_cpu_seconds: Option<f64>,
    pub machine_busy: Option<f64>,
    pub late_frames: u64,
    pub write_errors: u64,
    /// Participants that failed to join or publish, with why.
    pub failures: Vec<String>,
    /// The measured window (also the start of the impairment schedule).
    pub window_start: Option<Instant>,
    pub window_end: Option<Instant>,
    pub impairment: Option<ImpairmentRun>,
    /// Publisher number -> the spatial layer its subscribers requested (capped at its top).
    pub requested_spatial: HashMap<u32, u8>,
    /// Nominal bitrate per spatial layer of the publishers' video.
    pub layer_bps: Vec<u32>,
    /// Each node participants ended up on (one entry against a single server; in a cluster
    /// every node `wrong_node` sent joins to), sorted by URL.
    pub nodes: Vec<NodeRun>,
}

/// One SFU node of the run: who ended up on it and its own `/metrics` before and after.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRun {
    /// The `/rtc` URL the participants joined at.
    pub url: String,
    /// Participants (publishers included) on this node.
    pub participants: u64,
    /// Names of the subscribers on this node (their tracks and packets are summed per node).
    pub subscribers: Vec<String>,
    pub sfu_before: Option<SfuSample>,
    pub sfu_after: Option<SfuSample>,
}

/// Totals over every subscriber.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub tracks_received: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub duplicates: u64,
    pub freezes: u64,
    pub cross_group_packets: u64,
    pub injected_losses: u64,
    pub untagged: u64,
}

impl Totals {
    /// Loss in percent of what the sequence numbers say was sent towards the subscribers.
    pub fn lost_pct(&self) -> f64 {
        let expected = self.packets_received + self.packets_lost;
        if expected == 0 {
            0.0
        } else {
            100.0 * self.packets_lost as f64 / expected as f64
        }
    }
}

impl RunResult {
    /// Sums the subscribers' counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, s) in &self.subscribers {
            let mut streams = HashSet::new();
            for track in s.tracks.values() {
                if track.stats.packets > 0 {
                    streams.insert((track.publisher, track.kind));
                }
                t.packets_received += track.stats.packets;
                t.packets_lost += track.stats.lost();
                t.duplicates += track.stats.duplicates;
                t.freezes += track.stats.freezes;
            }
            t.tracks_received += streams.len() as u64;
            t.cross_group_packets += s.cross_group_packets;
            t.injected_losses += s.injected_losses;
            t.untagged += s.untagged_packets;
        }
        t
    }

    fn latency(&self) -> LatencyHistogram {
        let mut all = LatencyHistogram::default();
        for (_, s) in &self.subscribers {
            all.merge(&s.latency);
        }
        all
    }

    /// The quality figures of one subscriber.
    pub fn quality(&self, name: &str, s: &SubscriberStats) -> SubscriberQuality {
        let impaired = self
            .impairment
            .as_ref()
            .is_some_and(|i| i.subscribers.contains(name));
        let mut timeline = Timeline {
            start: self.window_start,
            end: self.window_end,
            ..Timeline::default()
        };
        if let (Some(start), Some(impairment)) = (self.window_start, &self.impairment) {
            if impaired && impairment.downlink {
                let schedule = &impairment.schedule;
                timeline.boundaries = schedule.boundaries().iter().map(|b| start + *b).collect();
                if let Some((from, to)) = schedule.cap_periods().first() {
                    let cap = schedule.settings_at(*from).cap_bps.unwrap_or(0);
                    timeline.cap = Some((start + *from, to.map(|t| start + t), cap));
                }
            }
        }
        let mut q = SubscriberQuality {
            impaired,
            link: s.link.as_ref().map(|l| l.tally()),
            ..SubscriberQuality::default()
        };
        let (mut audio, mut video) = ((0u64, 0u64), (0u64, 0u64));
        for track in s.tracks.values() {
            let (lost, expected) = (track.stats.lost(), track.stats.expected());
            q.duplicates += track.stats.duplicates;
            match track.kind {
                MediaKind::Audio => {
                    audio.0 += lost;
                    audio.1 += expected;
                }
                MediaKind::Video => {
                    video.0 += lost;
                    video.1 += expected;
                    q.video_packets += track.stats.packets;
                    // The track could have video from the later of: the transport connected,
                    // the offer that brought it.
                    let first = track.stats.first_packet_at;
                    let offer = s
                        .offers
                        .iter()
                        .map(|(at, _)| *at)
                        .filter(|at| first.is_some_and(|f| *at <= f))
                        .max();
                    let reference = match (s.connected_at, offer) {
                        (Some(c), Some(o)) => Some(c.max(o)),
                        (c, o) => c.or(o),
                    };
                    q.video.push(quality::video_quality(
                        track,
                        &timeline,
                        self.requested_spatial.get(&track.publisher).copied(),
                        &self.layer_bps,
                        reference,
                    ));
                }
            }
        }
        q.video.sort_by_key(|v| (v.publisher, v.ssrc));
        let single_stream = self.layer_bps.len() == 1 && self.requested_spatial.len() == 1;
        if let Some(at_start) = self
            .video_received_at_start
            .get(name)
            .filter(|_| single_stream)
        {
            let sent = self
                .video_packets_sent
                .saturating_sub(self.video_sent_at_start);
            let got = q.video_packets.saturating_sub(*at_start);
            q.video_delivered_pct = (sent > 0).then(|| 100.0 * got as f64 / sent as f64);
        }
        q.audio_loss_pct = pct(audio.0, audio.1);
        q.video_loss_pct = pct(video.0, video.1);
        q.rtx_per_lost = q.link.as_ref().and_then(|l| {
            let lost = l.video_dropped + l.rtx_dropped;
            (lost > 0).then(|| l.rtx_packets as f64 / lost as f64)
        });
        q
    }

    fn join_ms(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .subscribers
            .iter()
            .filter_map(|(_, s)| s.join_time)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

/// The `q` quantile of sorted values (nearest rank), or `None` when empty.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn delta(
    before: Option<SfuSample>,
    after: Option<SfuSample>,
    f: fn(&SfuSample) -> Option<f64>,
) -> Option<f64> {
    Some(f(&after?)? - f(&before?)?)
}

/// The JSON report. Missing measurements (no `/metrics` URL, a counter the server does not
/// export yet) are `null`, never invented.
pub fn build_json(run: &RunResult) -> Value {
    let t = run.totals();
    let latency = run.latency();
    let join = run.join_ms();
    let secs = run.duration.as_secs_f64();
    let sfu_cpu = delta(run.sfu_before, run.sfu_after, |s| s.cpu_seconds);
    let sfu_out = delta(run.sfu_before, run.sfu_after, |s| s.packets_out);
    let per_cpu = match (sfu_out, sfu_cpu) {
        (Some(out), Some(cpu)) if cpu > 0.0 => Some(out / cpu),
        _ => None,
    };
    let subscribers: Vec<Value> = run
        .subscribers
        .iter()
        .map(|(name, s)| {
            let packets: u64 = s.tracks.values().map(|t| t.stats.packets).sum();
            let lost: u64 = s.tracks.values().map(|t| t.stats.lost()).sum();
            json!({
                "name": name,
                "tracks": s.tracks.values().filter(|t| t.stats.packets > 0)
                    .map(|t| (t.publisher, t.kind)).collect::<HashSet<_>>().len(),
                "packets": packets,
                "lost_pct": pct(lost, packets + lost),
                "duplicates": s.tracks.values().map(|t| t.stats.duplicates).sum::<u64>(),
                "freezes": s.tracks.values().map(|t| t.stats.freezes).sum::<u64>(),
                "join_ms": s.join_time.map(|d| d.as_secs_f64() * 1000.0),
                "latency_p99_ms": s.latency.quantile_ms(0.99),
                "cross_group_packets": s.cross_group_packets,
                "quality": quality_json(&run.quality(name, s)),
            })
        })
        .collect();
    let nodes: Vec<Value> = run.nodes.iter().map(|node| node_json(run, node)).collect();
    json!({
        "config": run.config,
        "duration_s": secs,
        "tracks": { "expected": run.tracks_expected, "received": t.tracks_received },
        "packets": {
            "sent": run.packets_sent,
            "received": t.packets_received,
            "lost": t.packets_lost,
            "lost_pct": t.lost_pct(),
            "duplicates": t.duplicates,
            "injected_losses": t.injected_losses,
            "untagged": t.untagged,
        },
        "latency_ms": {
            "p50": latency.quantile_ms(0.50),
            "p95": latency.quantile_ms(0.95),
            "p99": latency.quantile_ms(0.99),
        },
        "join_ms": { "p50": quantile(&join, 0.50), "p99": quantile(&join, 0.99) },
        "freezes": t.freezes,
        "cross_group_packets": t.cross_group_packets,
        "sfu": {
            "cpu_seconds": sfu_cpu,
            "packets_out": sfu_out,
            "packets_out_per_cpu_second": per_cpu,
            "keyframe_requests_sent": delta(run.sfu_before, run.sfu_after, |s| s.keyframe_requests_sent),
        },
        "client": {
            "cpu_seconds": run.client_cpu_seconds,
            "cpu_cores": run.client_cpu_seconds.filter(|_| secs > 0.0).map(|c| c / secs),
            "machine_busy": run.machine_busy,
            "late_frames": run.late_frames,
            "video_packets_sent": run.video_packets_sent,
            "write_errors": run.write_errors,
        },
        "failures": run.failures,
        "subscribers": subscribers,
        "nodes": nodes,
    })
}

/// One entry of `nodes`: the node's participants, what its subscribers received, and the
/// SFU figures from that node's own `/metrics` (`null` when it was not scraped).
fn node_json(run: &RunResult, node: &NodeRun) -> Value {
    let mut tracks = 0u64;
    let mut packets = 0u64;
    let mut lost = 0u64;
    for (_, s) in run
        .subscribers
        .iter()
        .filter(|(name, _)| node.subscribers.contains(name))
    {
        tracks += s
            .tracks
            .values()
            .filter(|t| t.stats.packets > 0)
            .map(|t| (t.publisher, t.kind))
            .collect::<HashSet<_>>()
            .len() as u64;
        packets += s.tracks.values().map(|t| t.stats.packets).sum::<u64>();
        lost += s.tracks.values().map(|t| t.stats.lost()).sum::<u64>();
    }
    let cpu = delta(node.sfu_before, node.sfu_after, |s| s.cpu_seconds);
    let out = delta(node.sfu_before, node.sfu_after, |s| s.packets_out);
    json!({
        "url": node.url,
        "participants": node.participants,
        "subscribers": node.subscribers.len(),
        "tracks_received": tracks,
        "packets_received": packets,
        "lost_pct": pct(lost, packets + lost),
        "sfu": {
            "cpu_seconds": cpu,
            "packets_out": out,
            "packets_out_per_cpu_second": match (out, cpu) {
                (Some(out), Some(cpu)) if cpu > 0.0 => Some(out / cpu),
                _ => None,
            },
        },
    })
}

fn quality_json(q: &SubscriberQuality) -> Value {
    json!({
        "impaired": q.impaired,
        "audio_loss_pct": q.audio_loss_pct,
        "video_loss_pct": q.video_loss_pct,
        "duplicates": q.duplicates,
        "rtx_per_lost": q.rtx_per_lost,
        "video_packets": q.video_packets,
        "video_delivered_pct": q.video_delivered_pct,
        "first_frame_s": q.worst(|v| v.first_frame_s),
        "time_to_requested_s": q.worst(|v| v.time_to_requested_s),
        "time_to_fit_s": q.worst(|v| v.time_to_fit_s),
        "time_to_downswitch_s": q.worst(|v| v.time_to_downswitch_s),
        "time_to_recover_s": q.worst(|v| v.time_to_recover_s),
        "downswitch_missed": q.video.iter().any(|v| v.downswitch_missed),
        "recover_missed": q.video.iter().any(|v| v.recover_missed),
        "paused_s": q.video.iter().map(|v| v.paused_s).sum::<f64>(),
        "freezes_over_1s": q.video.iter().map(|v| v.freezes_over_1s).sum::<u32>(),
        "frozen_s": q.video.iter().map(|v| v.frozen_s).sum::<f64>(),
        "switches_per_10s": q.worst(|v| Some(v.switches_per_10s)),
        "temporal_switches": q.video.iter().map(|v| v.temporal_switches).sum::<u32>(),
        "steady_switches_per_10s": q.worst(|v| Some(v.steady_switches_per_10s)),
        "video": q.video,
        "link": q.link,
    })
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The quality table (issue 13): per subscriber, the worst of its video tracks.
fn render_quality(out: &mut String, run: &RunResult) {
    if let Some(i) = &run.impairment {
        let _ = writeln!(
            out,
            "\nImpairment ({}, {} participants): {}",
            if i.downlink { "downlink" } else { "uplink" },
            i.subscribers.len(),
            i.schedule
        );
    }
    let _ = writeln!(
        out,
        "\nQuality      | Imp | 1st frame s | down s | recover s | sw/10s | paused s | freeze>1s | audio loss | video loss | rtx/lost | dup | link drops"
    );
    let f = |v: Option<f64>, missed: bool| match (v, missed) {
        (_, true) => "never".to_owned(),
        (Some(v), false) => format!("{v:.2}"),
        (None, false) => "-".to_owned(),
    };
    for (name, s) in &run.subscribers {
        let q = run.quality(name, s);
        let _ = writeln!(
            out,
            "{:<12} | {:>3} | {:>11} | {:>6} | {:>9} | {:>6.2} | {:>8.1} | {:>9} | {:>9.2}% | {:>9.2}% | {:>8} | {:>3} | {}",
            name,
            if q.impaired { "yes" } else { "no" },
            f(q.worst(|v| v.first_frame_s), false),
            f(
                q.worst(|v| v.time_to_downswitch_s),
                q.video.iter().any(|v| v.downswitch_missed)
            ),
            f(
                q.worst(|v| v.time_to_recover_s),
                q.video.iter().any(|v| v.recover_missed)
            ),
            q.worst(|v| Some(v.switches_per_10s)).unwrap_or(0.0),
            q.video.iter().map(|v| v.paused_s).sum::<f64>(),
            q.video.iter().map(|v| v.freezes_over_1s).sum::<u32>(),
            q.audio_loss_pct,
            q.video_loss_pct,
            f(q.rtx_per_lost, false),
            q.duplicates,
            q.link.as_ref().map_or("-".to_owned(), |l| format!(
                "{} (+{} relay)",
                l.down_dropped() + l.up_dropped,
                l.relay_drops
            )),
        );
    }
}

/// The final table: per published track (summed over its subscribers), per subscriber, totals.
pub fn render_table(run: &RunResult) -> String {
    let secs = run.duration.as_secs_f64().max(1e-9);
    let mut per_track: BTreeMap<(u32, &'static str), (u64, u64, u64, u64)> = BTreeMap::new();
    for (_, s) in &run.subscribers {
        for t in s.tracks.values() {
            let kind = match t.kind {
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
            };
            let e = per_track.entry((t.publisher, kind)).or_default();
            e.0 += t.stats.packets;
            e.1 += t.stats.bytes;
            e.2 += t.stats.lost();
            e.3 += 1;
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nTrack                 | Streams | Packets    | Bitrate/stream | Loss"
    );
    for ((publisher, kind), (packets, bytes, lost, streams)) in &per_track {
        let kbps = *bytes as f64 * 8.0 / secs / 1000.0 / (*streams).max(1) as f64;
        let _ = writeln!(
            out,
            "{:<21} | {:>7} | {:>10} | {:>9.0} kbps | {:>5.2}%",
            format!("publisher-{publisher}/{kind}"),
            streams,
            packets,
            kbps,
            pct(*lost, packets + lost)
        );
    }
    let _ = writeln!(
        out,
        "\nSubscriber   | Tracks | Packets    | Loss   | Freezes | Join ms | p99 ms"
    );
    for (name, s) in &run.subscribers {
        let packets: u64 = s.tracks.values().map(|t| t.stats.packets).sum();
        let lost: u64 = s.tracks.values().map(|t| t.stats.lost()).sum();
        let streams: HashSet<_> = s
            .tracks
            .values()
            .filter(|t| t.stats.packets > 0)
            .map(|t| (t.publisher, t.kind))
            .collect();
        let _ = writeln!(
            out,
            "{:<12} | {:>6} | {:>10} | {:>5.2}% | {:>7} | {:>7} | {:>6}",
            name,
            streams.len(),
            packets,
            pct(lost, packets + lost),
            s.tracks.values().map(|t| t.stats.freezes).sum::<u64>(),
            s.join_time.map_or("-".to_owned(), |d| format!(
                "{:.0}",
                d.as_secs_f64() * 1000.0
            )),
            s.latency
                .quantile_ms(0.99)
                .map_or("-".to_owned(), |v| format!("{v:.1}")),
        );
    }
    if run
        .subscribers
        .iter()
        .any(|(_, s)| s.tracks.values().any(|t| t.kind == MediaKind::Video))
        || run.impairment.is_some()
    {
        render_quality(&mut out, run);
    }
    let t = run.totals();
    let report = build_json(run);
    let _ = writeln!(
        out,
        "\nTotals: tracks {}/{} | packets sent {} received {} | loss {:.2}% | dup {} | freezes {} | cross-group {}",
        t.tracks_received,
        run.tracks_expected,
        run.packets_sent,
        t.packets_received,
        t.lost_pct(),
        t.duplicates,
        t.freezes,
        t.cross_group_packets
    );
    let _ = writeln!(
        out,
        "latency ms p50/p95/p99: {} / {} / {} | join ms p50/p99: {} / {}",
        report["latency_ms"]["p50"],
        report["latency_ms"]["p95"],
        report["latency_ms"]["p99"],
        report["join_ms"]["p50"],
        report["join_ms"]["p99"]
    );
    let _ = writeln!(
        out,
        "SFU: cpu {} s, packets out {}, per CPU-second {} | client: cpu {} s ({} cores), machine busy {}",
        report["sfu"]["cpu_seconds"],
        report["sfu"]["packets_out"],
        report["sfu"]["packets_out_per_cpu_second"],
        report["client"]["cpu_seconds"],
        report["client"]["cpu_cores"],
        report["client"]["machine_busy"],
    );
    out
}
