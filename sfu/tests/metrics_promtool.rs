//! The `/metrics` exposition is lint-clean for Prometheus' own checker (`promtool check
//! metrics`, Debian `prometheus`; installed by scripts/test) and carries the core's counters.

use sfu::core::testing::TestRoom;
use sfu::core::{CoreStats, Location, ParticipantId};
use sfu::metrics::Metrics;

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
    assert!(metrics.packets_out.get() > 0);
    assert_eq!(metrics.packets_out.get(), room.core.stats().packets_out);
    assert!(text.contains("sfu_packets_dropped_total{reason=\"too_old\"} 0"));
    assert!(text.contains("process_cpu_seconds_total"));

    if let Err(complaint) = sfu::metrics::promtool_check(&text) {
        panic!("promtool check metrics failed:\n{complaint}");
    }
}
