//! The `/metrics` exposition is lint-clean for Prometheus' own checker (`promtool check
//! metrics`, Debian `prometheus`; installed by scripts/test) and carries the core's and the
//! shards' counters, histograms and gauges, and the room gauges.

use std::time::Duration;

use sfu::core::testing::TestRoom;
use sfu::core::{
    CoreStats, DropReason, ForwardingPolicy, Location, Member, ParticipantId, SessionId,
};
use sfu::metrics::{Metrics, RtcpTotals, ShardDropReason};
use sfu::shard::{ShardStats, FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS};
use signalling_proto::{CommandName, ErrorCode, EventName};

// A scrape after real forwarding passes promtool and shows non-zero packet counters.
#[test]
fn exposition_passes_promtool_with_core_counters() {
    #[allow(clippy::disallowed_methods)] // tests own the clock
    let mut room = TestRoom::new(std::time::Instant::now());
    for i in 1..=2 {
        room.join(ParticipantId(i), Location::Main);
        room.publish_camera(ParticipantId(i), 3);
    }
    room.subscribe_all();
    room.run_for(std::time::Duration::from_secs(1));

    let metrics = Metrics::new().expect("metric names are valid");
    let mut last = CoreStats::default();
    metrics.observe_core(&mut last, room.core.stats());
    // Observing the same counters again adds nothing.
    metrics.observe_core(&mut last, room.core.stats());
    let text = metrics.render();
    assert!(metrics.forwarding.packets_out.get() > 0);
    assert_eq!(
        metrics.forwarding.packets_out.get(),
        room.core.stats().packets_out
    );
    assert!(text.contains("sfu_packets_dropped_total{reason=\"too_old\"} 0"));
    // The simulcast encodings a subscriber does not receive are not drops (issue 15 step 7).
    let other_layers = room.core.stats().drops(DropReason::NotCurrentLayer);
    assert!(other_layers > 0, "three encodings, one forwarded");
    let label = "sfu_packets_not_selected_total{reason=\"not_current_layer\"}";
    assert!(
        text.contains(&format!("{label} {other_layers}")),
        "{label} is not {other_layers}:\n{text}"
    );
    assert!(!text.contains("sfu_packets_dropped_total{reason=\"not_current_layer\"}"));
    assert!(
        text.contains("\nprocess_cpu_seconds_total "),
        "unprefixed, as clients expect"
    );

    if let Err(complaint) = sfu::metrics::promtool_check(&text) {
        panic!("promtool check metrics failed:\n{complaint}");
    }
}

fn shard(rtp_in: u64, forwards: u64, send_dropped: u64, peers: usize) -> ShardStats {
    ShardStats {
        rooms: 1,
        participants: 2,
        peers,
        publications: 3,
        subscriptions: 4,
        rtp_in,
        forwards_written: forwards,
        send_dropped,
        peers_failed: 1,
        keyframe_requests_sent: 2,
        ..ShardStats::default()
    }
}

// Shard totals become counters that grow by each shard's delta (observing the same totals
// twice adds nothing) and gauges that hold the sum over shards.
#[test]
fn shard_totals_grow_counters_and_set_gauges() {
    let metrics = Metrics::new().unwrap();
    metrics.observe_shard(&[shard(100, 300, 1, 4), shard(10, 30, 0, 2)]);
    metrics.observe_shard(&[shard(100, 300, 1, 4), shard(10, 30, 0, 2)]);
    assert_eq!(metrics.shards.rtp_packets_in.get(), 110);
    assert_eq!(metrics.shards.rtp_packets_out.get(), 330);
    assert_eq!(metrics.shards.transports.get(), 6);
    assert_eq!(metrics.shards.paused_subscriptions.get(), 0);
    assert_eq!(metrics.shards.transport_failures.get(), 2);
    metrics.observe_shard(&[shard(150, 400, 3, 2), shard(10, 30, 0, 0)]);
    assert_eq!(metrics.shards.rtp_packets_in.get(), 160);
    assert_eq!(metrics.shards.rtp_packets_out.get(), 430);
    assert_eq!(metrics.shards.transports.get(), 2);
    let full = metrics.shards.dropped(ShardDropReason::SendBufferFull);
    assert_eq!(full.get(), 3);
    let text = metrics.render();
    assert!(text.contains("sfu_shard_drops_total{reason=\"send_buffer_full\"} 3"));
    assert!(text.contains("sfu_keyframe_rtcp_total{direction=\"to_publishers\"} 4"));
}

// A room actor's gauges count its room, members and occupied groups, count moves between
// policies (not joins), and take everything back when dropped.
#[test]
fn room_gauges_follow_policies_and_leave_nothing_behind() {
    let metrics = Metrics::new().unwrap();
    let mut policy = ForwardingPolicy::default();
    policy
        .members
        .insert(ParticipantId(1), Member::publisher(Location::Main));
    policy
        .members
        .insert(ParticipantId(2), Member::publisher(Location::Main));
    let mut room = metrics.room_gauges();
    room.observe_policy(&policy);
    let mut other = metrics.room_gauges();
    other.observe_policy(&policy);
    assert_eq!(
        (
            metrics.rooms.running.get(),
            metrics.rooms.participants.get()
        ),
        (2, 4)
    );

    policy
        .members
        .insert(ParticipantId(3), Member::publisher(Location::Main));
    for id in [1, 2] {
        policy.members.get_mut(&ParticipantId(id)).unwrap().location =
            Location::Session(SessionId(id));
    }
    room.observe_policy(&policy);
    assert_eq!(metrics.rooms.participants.get(), 5);
    assert_eq!(metrics.rooms.breakout_groups.get(), 2);
    assert_eq!(
        metrics.rooms.breakout_moves.get(),
        2,
        "the join of 3 is no move"
    );

    drop(room);
    assert_eq!(metrics.rooms.running.get(), 1);
    assert_eq!(metrics.rooms.participants.get(), 2);
    assert_eq!(metrics.rooms.breakout_groups.get(), 0);
    drop(other);
    assert_eq!(
        (
            metrics.rooms.running.get(),
            metrics.rooms.participants.get()
        ),
        (0, 0)
    );
}

// The shards' histograms (forwarding and join latency, bandwidth estimates), RTCP feedback,
// retransmissions, layer switches by reason and gauges by kind grow by each shard's delta,
// and the whole exposition (signalling and resumes too) passes promtool.
#[test]
fn shard_histograms_and_breakdowns_pass_promtool() {
    let metrics = Metrics::new().unwrap();
    let mut a = ShardStats {
        publications_by_kind: [1, 1, 1, 0],
        subscriptions_by_kind: [2, 2, 0, 0],
        paused_subscriptions: 1,
        layer_switches: [2, 1, 0],
        rtcp: RtcpTotals {
            nacks_in: 5,
            plis_out: 2,
            retransmissions: 4,
            ..RtcpTotals::default()
        },
        ..ShardStats::default()
    };
    let bounds = &FORWARDING_LATENCY_BOUNDS_NS;
    a.forwarding_latency
        .record_duration(bounds, Duration::from_micros(180));
    a.forwarding_latency
        .record_duration(bounds, Duration::from_micros(90));
    a.join_latency
        .record_duration(&JOIN_LATENCY_BOUNDS_NS, Duration::from_millis(120));
    a.bandwidth_estimates
        .record(&sfu::shard::BANDWIDTH_BOUNDS_BPS, 1_200_000);
    let mut b = ShardStats::default();
    b.forwarding_latency
        .record_duration(bounds, Duration::from_millis(30));
    metrics.observe_shard(&[a, b]);
    metrics.observe_shard(&[a, b]);
    metrics.observe_signalling(CommandName::ALL[0], Ok(()));
    metrics.observe_signalling(CommandName::ALL[0], Err(ErrorCode::ALL[0]));
    metrics.observe_resume(false);
    let text = metrics.render();
    for line in [
        "sfu_forwarding_latency_seconds_bucket{le=\"0.0001\"} 1",
        "sfu_forwarding_latency_seconds_bucket{le=\"0.00025\"} 2",
        "sfu_forwarding_latency_seconds_bucket{le=\"0.02\"} 2",
        "sfu_forwarding_latency_seconds_bucket{le=\"+Inf\"} 3",
        "sfu_forwarding_latency_seconds_sum 0.03027",
        "sfu_forwarding_latency_seconds_count 3",
        "sfu_join_latency_seconds_bucket{le=\"0.25\"} 1",
        "sfu_join_latency_seconds_count 1",
        "sfu_bandwidth_estimate_bytes_per_second_bucket{le=\"187500\"} 1",
        "sfu_rtcp_feedback_total{direction=\"in\",type=\"nack\"} 5",
        "sfu_rtcp_feedback_total{direction=\"out\",type=\"pli\"} 2",
        "sfu_retransmissions_total 4",
        "sfu_layer_switches_total{reason=\"start\"} 2",
        "sfu_layer_switches_total{reason=\"up\"} 1",
        "sfu_layer_switches_total{reason=\"down\"} 0",
        "sfu_publications{kind=\"screenshare\"} 1",
        "sfu_publications{kind=\"screenshare_audio\"} 0",
        "sfu_subscriptions{kind=\"microphone\"} 2",
        "sfu_paused_subscriptions 1",
        "sfu_resumes_total{result=\"failed\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    if let Err(complaint) = sfu::metrics::promtool_check(&text) {
        panic!("promtool check metrics failed:\n{complaint}");
    }
}

// Every event name has its `sfu_signalling_events_total` series from the start (at zero,
// labelled by the wire name only), each write counts one, and the exposition passes promtool.
#[test]
fn signalling_events_are_counted_by_name_from_zero() {
    let metrics = Metrics::new().unwrap();
    let text = metrics.render();
    for event in EventName::ALL {
        let line = format!(
            "sfu_signalling_events_total{{event=\"{}\"}} 0",
            event.as_str()
        );
        assert!(text.contains(&line), "{line} missing");
    }
    metrics.observe_event(EventName::ChatMessage);
    metrics.observe_event(EventName::ChatMessage);
    metrics.observe_event(EventName::NewClient);
    let text = metrics.render();
    assert!(text.contains("sfu_signalling_events_total{event=\"chat_message\"} 2"));
    assert!(text.contains("sfu_signalling_events_total{event=\"new_client\"} 1"));
    assert!(text.contains("sfu_signalling_events_total{event=\"room_knocked\"} 0"));
    if let Err(complaint) = sfu::metrics::promtool_check(&text) {
        panic!("promtool check metrics failed:\n{complaint}");
    }
}
