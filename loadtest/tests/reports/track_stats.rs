//! Loss, duplicates, freezes, keyframe wait and latency quantiles on synthetic sequences.

use std::time::{Duration, Instant};

use loadtest::stats::{LatencyHistogram, TrackStats, FREEZE_GAP};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// Gaps in the sequence numbers are losses; a reordered packet fills its gap.
#[test]
fn loss_is_the_gaps_and_reordering_repairs_them() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(false);
    for seq in [10u16, 11, 13, 14, 17] {
        s.handle_packet(seq, 100, false, false, t0);
    }
    assert_eq!((s.expected(), s.packets, s.lost()), (8, 5, 3));
    s.handle_packet(12, 100, false, false, t0);
    assert_eq!(s.lost(), 2);
    assert!((s.lost_pct() - 25.0).abs() < 1e-9);
}

// Sequence numbers wrap at 65535 without counting a loss.
#[test]
fn wraparound_is_not_loss() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(false);
    for i in 0..200u32 {
        s.handle_packet((65_500 + i) as u16, 100, false, false, t0);
    }
    assert_eq!((s.packets, s.lost(), s.duplicates), (200, 0, 0));
}

// A packet seen twice is a duplicate, counted apart and not as a received packet.
#[test]
fn duplicates_are_counted_apart() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(false);
    for seq in [1u16, 2, 3, 2, 3, 4, 1] {
        s.handle_packet(seq, 100, false, false, t0);
    }
    assert_eq!((s.packets, s.duplicates, s.lost()), (4, 3, 0));
}

// A video track with no completed frame for more than 500 ms freezes once per gap, also at
// the end of the run; keyframe wait runs from the first packet to the first keyframe.
#[test]
fn freezes_and_keyframe_wait() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(true);
    let mut seq = 0u16;
    let mut frame = |s: &mut TrackStats, at: Duration, key: bool| {
        s.handle_packet(seq, 1000, true, key, t0 + at);
        seq += 1;
    };
    frame(&mut s, ms(0), false);
    frame(&mut s, ms(33), false);
    frame(&mut s, ms(100), true);
    frame(&mut s, ms(133), false);
    frame(&mut s, ms(133) + FREEZE_GAP + ms(1), false);
    frame(&mut s, ms(800), false);
    assert_eq!(s.keyframe_wait, Some(ms(100)));
    assert_eq!((s.frames, s.keyframes, s.freezes), (6, 1, 1));
    s.finish(t0 + ms(2000));
    assert_eq!(s.freezes, 2, "the silence at the end is a freeze too");
}

// Audio tracks have no frames, hence no freezes.
#[test]
fn audio_never_freezes() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(false);
    s.handle_packet(1, 100, true, false, t0);
    s.handle_packet(2, 100, true, false, t0 + ms(5000));
    s.finish(t0 + ms(9000));
    assert_eq!(s.freezes, 0);
}

// Quantiles come out at 50 µs resolution; merging adds samples.
#[test]
fn latency_quantiles() {
    let mut h = LatencyHistogram::default();
    assert_eq!(h.quantile_ms(0.5), None);
    for i in 1..=100u64 {
        h.record(Duration::from_micros(i * 100));
    }
    assert_eq!(h.quantile_ms(0.5), Some(5.05));
    assert_eq!(h.quantile_ms(0.99), Some(9.95));
    let mut other = LatencyHistogram::default();
    other.record(Duration::from_secs(10));
    h.merge(&other);
    assert_eq!(h.count(), 101);
    assert_eq!(h.quantile_ms(1.0), Some(2000.0), "overflow bucket");
}

// A packet recovered from a later packet's redundancy (RED) fills its gap once; a recovery of
// a packet that arrived, or of one beyond the highest seen, counts nothing.
#[test]
fn red_recovery_fills_a_gap_once() {
    let t0 = Instant::now();
    let mut s = TrackStats::new(false);
    for seq in [10u16, 11, 13] {
        s.handle_packet(seq, 100, false, false, t0);
    }
    assert_eq!(s.lost(), 1);
    assert!(s.recover(12, 90));
    assert!(!s.recover(12, 90), "recovered once");
    assert!(!s.recover(11, 90), "it had arrived");
    assert!(!s.recover(14, 90), "beyond the highest seen");
    assert_eq!(
        (s.lost(), s.recovered, s.duplicates, s.packets),
        (0, 1, 0, 4)
    );
    // The packet itself arriving after its recovery is a duplicate.
    assert!(!s.handle_packet(12, 100, false, false, t0));
}
