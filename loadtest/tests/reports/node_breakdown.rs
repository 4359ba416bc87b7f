//! Against a cluster the JSON report breaks the run down per node (`nodes`): participants,
//! what that node's subscribers received, and the SFU figures from that node's own
//! `/metrics` scrapes.

use std::time::Duration;

use loadtest::prom_text::SfuSample;
use loadtest::report::{build_json, NodeRun, RunResult};
use serde_json::Value;

use crate::report_json::subscriber;

fn sample(cpu: f64, out: f64) -> Option<SfuSample> {
    Some(SfuSample::parse(&format!(
        "sfu_process_cpu_seconds_total {cpu}\nsfu_packets_out_total {out}\n"
    )))
}

#[test]
fn each_node_has_its_participants_tracks_and_sfu_figures() {
    let run = RunResult {
        duration: Duration::from_secs(10),
        subscribers: vec![
            ("sub-0".into(), subscriber(0)),
            ("sub-1".into(), subscriber(10)),
            ("sub-2".into(), subscriber(0)),
        ],
        nodes: vec![
            NodeRun {
                url: "ws://127.0.0.1:7880/rtc".into(),
                participants: 3,
                subscribers: vec!["sub-0".into(), "sub-1".into()],
                sfu_before: sample(1.0, 1000.0),
                sfu_after: sample(3.0, 41000.0),
            },
            NodeRun {
                url: "ws://127.0.0.1:7890/rtc".into(),
                participants: 1,
                subscribers: vec!["sub-2".into()],
                // Scraped before the run only (the node went away): no invented delta.
                sfu_before: sample(5.0, 10.0),
                sfu_after: None,
            },
        ],
        ..RunResult::default()
    };
    let json = build_json(&run);
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{json:#}");
    let first = &nodes[0];
    assert_eq!(first["url"], "ws://127.0.0.1:7880/rtc");
    assert_eq!(first["participants"], 3);
    assert_eq!(first["subscribers"], 2);
    assert_eq!(first["tracks_received"], 2);
    // sub-0 got 100 packets, sub-1 90 of 100.
    assert_eq!(first["packets_received"], 190);
    assert_eq!(first["lost_pct"], 5.0);
    assert_eq!(first["sfu"]["cpu_seconds"], 2.0);
    assert_eq!(first["sfu"]["packets_out"], 40000.0);
    assert_eq!(first["sfu"]["packets_out_per_cpu_second"], 20000.0);
    let second = &nodes[1];
    assert_eq!(second["participants"], 1);
    assert_eq!(second["packets_received"], 100);
    assert_eq!(second["lost_pct"], 0.0);
    assert_eq!(second["sfu"]["cpu_seconds"], Value::Null);
    assert_eq!(second["sfu"]["packets_out_per_cpu_second"], Value::Null);
}

#[test]
fn a_run_without_nodes_reports_an_empty_list() {
    let json = build_json(&RunResult::default());
    assert_eq!(json["nodes"], Value::Array(Vec::new()));
}
