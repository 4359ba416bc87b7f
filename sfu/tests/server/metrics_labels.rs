//! Each labelled series of the shards' families carries the counter its label names: a shard
//! whose every counter holds a different number is exported with each number under the label
//! the `ShardStats` field means (the label enums map reasons, causes, types and directions to
//! fields; a swapped pair would show here).

use sfu::metrics::{Metrics, RtcpTotals};
use sfu::shard::{ShardStats, TcpCloseCause};

/// The value of the series `name{labels}` in an exposition.
fn series(text: &str, name_and_labels: &str) -> u64 {
    let prefix = format!("{name_and_labels} ");
    let line = text
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no series {name_and_labels} in\n{text}"));
    line[prefix.len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn every_labelled_shard_series_carries_its_own_counter() {
    let mut stats = ShardStats {
        publications_by_kind: [1, 2, 3, 4],
        subscriptions_by_kind: [5, 6, 7, 8],
        layer_switches: [11, 12, 13],
        rtcp: RtcpTotals {
            nacks_in: 21,
            nacks_out: 22,
            plis_in: 23,
            plis_out: 24,
            firs_in: 25,
            firs_out: 26,
            retransmissions: 27,
        },
        datagrams_malformed: 31,
        datagrams_unmatched: 32,
        send_dropped: 33,
        rtp_unmapped: 34,
        rtp_malformed_payload: 35,
        forwards_dropped: 36,
        events_dropped: 37,
        keyframe_requests_received: 41,
        keyframe_requests_sent: 42,
        peer_failure_causes: [51, 52, 53],
        transports_connected: [61, 62, 63],
        ..ShardStats::default()
    };
    stats.tcp_closed[TcpCloseCause::Garbage as usize] = 71;
    stats.tcp_closed[TcpCloseCause::SlowReader as usize] = 72;
    stats.tcp_closed[TcpCloseCause::TransportGone as usize] = 73;
    let metrics = Metrics::new().unwrap();
    metrics.observe_shard(&[stats]);
    let text = metrics.render();

    let expected: &[(&str, u64)] = &[
        (r#"sfu_publications{kind="microphone"}"#, 1),
        (r#"sfu_publications{kind="camera"}"#, 2),
        (r#"sfu_publications{kind="screenshare"}"#, 3),
        (r#"sfu_publications{kind="screenshare_audio"}"#, 4),
        (r#"sfu_subscriptions{kind="microphone"}"#, 5),
        (r#"sfu_subscriptions{kind="screenshare_audio"}"#, 8),
        (r#"sfu_layer_switches_total{reason="start"}"#, 11),
        (r#"sfu_layer_switches_total{reason="up"}"#, 12),
        (r#"sfu_layer_switches_total{reason="down"}"#, 13),
        (r#"sfu_rtcp_feedback_total{direction="in",type="nack"}"#, 21),
        (
            r#"sfu_rtcp_feedback_total{direction="out",type="nack"}"#,
            22,
        ),
        (r#"sfu_rtcp_feedback_total{direction="in",type="pli"}"#, 23),
        (r#"sfu_rtcp_feedback_total{direction="out",type="pli"}"#, 24),
        (r#"sfu_rtcp_feedback_total{direction="in",type="fir"}"#, 25),
        (r#"sfu_rtcp_feedback_total{direction="out",type="fir"}"#, 26),
        ("sfu_retransmissions_total", 27),
        (r#"sfu_shard_drops_total{reason="datagram_malformed"}"#, 31),
        (r#"sfu_shard_drops_total{reason="datagram_unmatched"}"#, 32),
        (r#"sfu_shard_drops_total{reason="send_buffer_full"}"#, 33),
        (r#"sfu_shard_drops_total{reason="rtp_unmapped"}"#, 34),
        (
            r#"sfu_shard_drops_total{reason="rtp_malformed_payload"}"#,
            35,
        ),
        (r#"sfu_shard_drops_total{reason="forward_unwritable"}"#, 36),
        (r#"sfu_shard_drops_total{reason="event_channel_full"}"#, 37),
        (
            r#"sfu_keyframe_rtcp_total{direction="from_subscribers"}"#,
            41,
        ),
        (r#"sfu_keyframe_rtcp_total{direction="to_publishers"}"#, 42),
        (r#"sfu_transport_failure_causes_total{cause="ice"}"#, 51),
        (r#"sfu_transport_failure_causes_total{cause="error"}"#, 52),
        (r#"sfu_transport_failure_causes_total{cause="panic"}"#, 53),
        (r#"sfu_transports_connected_total{candidate="host"}"#, 61),
        (r#"sfu_transports_connected_total{candidate="tcp"}"#, 62),
        (r#"sfu_transports_connected_total{candidate="relay"}"#, 63),
        (
            r#"sfu_tcp_media_connections_closed_total{cause="garbage"}"#,
            71,
        ),
        (
            r#"sfu_tcp_media_connections_closed_total{cause="slow_reader"}"#,
            72,
        ),
        (
            r#"sfu_tcp_media_connections_closed_total{cause="transport_gone"}"#,
            73,
        ),
        (r#"sfu_tcp_media_connections_closed_total{cause="idle"}"#, 0),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|&(name, want)| {
            let got = series(&text, name);
            (got != want).then(|| format!("{name}: {got}, want {want}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
