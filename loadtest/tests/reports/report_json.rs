//! The JSON report has the fields the smoke script and the benchmark notes read, with `null`
//! for what was not measured, and the SFU ratio computed from the before/after scrapes.

use std::time::{Duration, Instant};

use loadtest::prom_text::{metric_sum, SfuSample, PACKETS_OUT};
use loadtest::report::{build_json, render_table, RunResult};
use loadtest::stats::TrackStats;
use loadtest::subscriber::{ReceivedTrack, SubscriberStats};
use serde_json::Value;
use signalling_proto::MediaKind;

pub(crate) fn subscriber(lost_every: u16) -> SubscriberStats {
    let t0 = Instant::now();
    let mut stats = TrackStats::new(true);
    for seq in 0..100u16 {
        if lost_every == 0 || seq % lost_every != 1 {
            stats.handle_packet(
                seq,
                1000,
                true,
                seq == 0,
                t0 + Duration::from_millis(u64::from(seq) * 33),
            );
        }
    }
    let mut s = SubscriberStats::default();
    s.tracks.insert(
        42,
        ReceivedTrack {
            publisher: 0,
            kind: MediaKind::Video,
            ssrc: 42,
            stats,
            per_spatial: [0, 0, 100, 0],
            switches: Vec::new(),
            last_spatial: Some(2),
            layer_changes: vec![(t0, 2)],
            temporal_changes: vec![(t0, 2)],
            tid_seen: [None; 4],
            packet_gaps: Vec::new(),
        },
    );
    s.latency.record(Duration::from_micros(1500));
    s.join_time = Some(Duration::from_millis(250));
    s
}

fn run() -> RunResult {
    RunResult {
        duration: Duration::from_secs(10),
        tracks_expected: 4,
        packets_sent: 200,
        subscribers: vec![
            ("sub-0".into(), subscriber(0)),
            ("sub-1".into(), subscriber(10)),
        ],
        ..RunResult::default()
    }
}

// Every key the issue names is present; unmeasured SFU figures are null.
#[test]
fn report_has_the_documented_shape() {
    let json = build_json(&run());
    for path in [
        "/tracks/expected",
        "/tracks/received",
        "/packets/sent",
        "/packets/received",
        "/packets/lost_pct",
        "/latency_ms/p50",
        "/latency_ms/p95",
        "/latency_ms/p99",
        "/join_ms/p50",
        "/join_ms/p99",
        "/freezes",
        "/cross_group_packets",
        "/sfu/cpu_seconds",
        "/sfu/packets_out",
        "/sfu/packets_out_per_cpu_second",
        "/client/cpu_seconds",
        "/client/machine_busy",
        "/subscribers/0/quality/audio_loss_pct",
        "/subscribers/0/quality/video_loss_pct",
        "/subscribers/0/quality/first_frame_s",
        "/subscribers/0/quality/time_to_downswitch_s",
        "/subscribers/0/quality/time_to_recover_s",
        "/subscribers/0/quality/switches_per_10s",
        "/subscribers/0/quality/paused_s",
        "/subscribers/0/quality/freezes_over_1s",
        "/subscribers/0/quality/rtx_per_lost",
        "/subscribers/0/quality/duplicates",
        "/subscribers/0/quality/video/0/time_to_fit_s",
    ] {
        assert!(json.pointer(path).is_some(), "{path} missing in {json:#}");
    }
    assert_eq!(json["tracks"]["received"], 2);
    assert_eq!(json["packets"]["received"], 190);
    assert_eq!(json["packets"]["lost_pct"], 5.0);
    assert_eq!(json["latency_ms"]["p99"], 1.55);
    assert_eq!(json["sfu"]["packets_out"], Value::Null);
    assert_eq!(json["subscribers"][1]["quality"]["video_loss_pct"], 10.0);
    let table = render_table(&run());
    assert!(table.contains("publisher-0/video"));
    assert!(table.contains("Quality"), "{table}");
}

// The SFU figures are deltas of the scrapes, and the ratio is packets out per CPU-second; a
// counter the server does not export stays null.
#[test]
fn sfu_ratio_from_scrapes() {
    let before = SfuSample::parse("process_cpu_seconds_total 10\nsfu_packets_out_total 1000\n");
    let after = SfuSample::parse(
        "# HELP x\nprocess_cpu_seconds_total 12.5\nsfu_packets_out_total 501000\n",
    );
    let mut r = run();
    r.sfu_before = Some(before);
    r.sfu_after = Some(after);
    let json = build_json(&r);
    assert_eq!(json["sfu"]["cpu_seconds"], 2.5);
    assert_eq!(json["sfu"]["packets_out_per_cpu_second"], 200_000.0);

    r.sfu_after = Some(SfuSample::parse("process_cpu_seconds_total 12.5\n"));
    assert_eq!(build_json(&r)["sfu"]["packets_out"], Value::Null);
}

// The server's 10 ms-resolution CPU counter wins over the process collector's whole seconds.
#[test]
fn sfu_cpu_prefers_the_fine_counter() {
    let text = "process_cpu_seconds_total 3\nsfu_process_cpu_seconds_total 3.47\n";
    assert_eq!(SfuSample::parse(text).cpu_seconds, Some(3.47));
}

// Labelled samples add up; a longer metric name sharing the prefix is not counted.
#[test]
fn metric_sum_reads_labels_and_exact_names() {
    let text = "sfu_packets_out_total{shard=\"0\"} 5\nsfu_packets_out_total{shard=\"1\"} 7\nsfu_packets_out_total_x 100\n";
    assert_eq!(metric_sum(text, PACKETS_OUT), Some(12.0));
    assert_eq!(metric_sum("", PACKETS_OUT), None);
}
