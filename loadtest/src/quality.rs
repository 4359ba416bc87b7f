//! The media-quality figures of one received video track over a measured window, for the
//! impairment scenarios (issue 13): time to down-switch after a rate cap starts, time to
//! recover the requested layer after it lifts, layer switches per 10 s, paused seconds, long
//! freezes and the first-frame time. Pure: everything comes from what the subscriber recorded
//! ([`ReceivedTrack`]) and the times passed in.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::subscriber::ReceivedTrack;

/// After a phase change (or the first frame), switches within this long are the reaction the
/// goals allow (down within 2 s, back up within 5 s), not "steady conditions".
pub const SETTLE: Duration = Duration::from_secs(5);

/// Audio's share of a link, for telling which video layer fits a cap: 20 ms Opus-sized
/// packets of 80-160 bytes plus RTP/SRTP/UDP/IP headers.
pub const AUDIO_BPS: u64 = 65_000;

/// What the window of one run looked like.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The measured window.
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    /// The first rate cap on this subscriber's downlink: when it began, when it lifted
    /// (`None`: to the end), and its rate.
    pub cap: Option<(Instant, Option<Instant>, u64)>,
    /// Where one impairment phase gave way to the next.
    pub boundaries: Vec<Instant>,
}

/// The figures of one video track (durations in seconds in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VideoQuality {
    pub publisher: u32,
    pub ssrc: u32,
    /// The layer the subscriber asked for (capped at what the publisher sends).
    pub requested_spatial: Option<u8>,
    pub last_spatial: Option<u8>,
    /// Transport connected (or the offer that brought the track, if later) -> first
    /// decodable frame.
    pub first_frame_s: Option<f64>,
    /// First frame -> first packet of the requested spatial layer at the full frame rate
    /// (every temporal layer).
    pub time_to_requested_s: Option<f64>,
    /// Temporal level (frame-rate) changes in the window.
    pub temporal_switches: u32,
    /// Cap start -> first packet of a lower layer than the one at the cap start. `None` when
    /// there was no cap, the layer was already the lowest, or it never went down
    /// (`downswitch_missed`).
    pub time_to_downswitch_s: Option<f64>,
    /// Cap start -> first packet of a layer whose bitrate plus audio fits the cap.
    pub time_to_fit_s: Option<f64>,
    pub downswitch_missed: bool,
    /// Cap lift -> receiving the requested layer again (0 when it never left it).
    pub time_to_recover_s: Option<f64>,
    pub recover_missed: bool,
    /// Spatial layer changes in the window.
    pub switches: u32,
    pub switches_per_10s: f64,
    /// The same, leaving out [`SETTLE`] after the first frame and after each phase change.
    pub steady_switches_per_10s: f64,
    /// Seconds without any video packet (spans over 1 s) in the window.
    pub paused_s: f64,
    pub pauses: u32,
    /// Spans over 1 s without a completed frame in the window.
    pub freezes_over_1s: u32,
    /// Their total length in the window, seconds (includes the paused time).
    pub frozen_s: f64,
    pub loss_pct: f64,
    pub duplicates: u64,
}

/// Computes the figures of `track`. `requested`: the subscriber's requested spatial layer
/// (already capped at the publisher's top layer); `layer_bps`: the nominal bitrate per
/// spatial layer; `reference`: when the track could first have had video (transport
/// connected, or the offer that added it).
pub fn video_quality(
    track: &ReceivedTrack,
    timeline: &Timeline,
    requested: Option<u8>,
    layer_bps: &[u32],
    reference: Option<Instant>,
) -> VideoQuality {
    video_quality_at_rate(
        track,
        timeline,
        requested,
        TOP_TEMPORAL,
        layer_bps,
        reference,
    )
}

/// The top temporal layer (TID) of the load tester's publishers (three temporal layers).
pub const TOP_TEMPORAL: u8 = 2;

/// [`video_quality`] with the full frame rate's top TID given.
pub fn video_quality_at_rate(
    track: &ReceivedTrack,
    timeline: &Timeline,
    requested: Option<u8>,
    top_temporal: u8,
    layer_bps: &[u32],
    reference: Option<Instant>,
) -> VideoQuality {
    let secs = |d: Duration| d.as_secs_f64();
    let first_frame = track.stats.first_frame_at;
    let mut q = VideoQuality {
        publisher: track.publisher,
        ssrc: track.ssrc,
        requested_spatial: requested,
        last_spatial: track.last_spatial,
        first_frame_s: first_frame
            .zip(reference)
            .map(|(f, r)| secs(f.saturating_duration_since(r))),
        loss_pct: track.stats.lost_pct(),
        duplicates: track.stats.duplicates,
        ..VideoQuality::default()
    };
    let changes = &track.layer_changes;
    let layer_at = |t: Instant| changes.iter().rev().find(|(at, _)| *at <= t).map(|c| c.1);
    let temporal = &track.temporal_changes;
    let temporal_at = |t: Instant| temporal.iter().rev().find(|(at, _)| *at <= t).map(|c| c.1);
    if let (Some(first), Some(want)) = (first_frame, requested) {
        let mut instants: Vec<Instant> = changes
            .iter()
            .chain(temporal.iter())
            .map(|(at, _)| *at)
            .collect();
        instants.sort();
        q.time_to_requested_s = instants
            .into_iter()
            .find(|t| {
                layer_at(*t).is_some_and(|l| l >= want)
                    && temporal_at(*t).is_some_and(|l| l >= top_temporal)
            })
            .map(|at| secs(at.saturating_duration_since(first)));
    }

    if let Some((cap_start, lift, cap_bps)) = timeline.cap {
        let before = layer_at(cap_start);
        if let Some(before) = before.filter(|l| *l > 0) {
            let down = changes
                .iter()
                .find(|(at, l)| *at > cap_start && *l < before && lift.is_none_or(|e| *at <= e));
            q.time_to_downswitch_s = down.map(|(at, _)| secs(*at - cap_start));
            q.downswitch_missed = down.is_none();
        }
        let fits = |l: u8| {
            layer_bps
                .get(usize::from(l))
                .is_some_and(|bps| u64::from(*bps) * 11 / 10 + AUDIO_BPS <= cap_bps)
        };
        if before.is_some_and(|l| !fits(l)) {
            q.time_to_fit_s = changes
                .iter()
                .find(|(at, l)| *at > cap_start && fits(*l) && lift.is_none_or(|e| *at <= e))
                .map(|(at, _)| secs(*at - cap_start));
        }
        if let (Some(lift), Some(target)) = (lift, requested.or(before)) {
            let paused_at_lift = track
                .packet_gaps
                .iter()
                .find(|(from, to)| *from <= lift && *to > lift);
            let at_lift = layer_at(lift);
            let recovered = if paused_at_lift.is_none() && at_lift.is_some_and(|l| l >= target) {
                Some(lift)
            } else {
                // A gap closed by the end of the measurement is no resumption.
                let resumed = paused_at_lift
                    .map(|(_, to)| *to)
                    .filter(|to| track.stats.last_packet_at.is_some_and(|l| l >= *to))
                    .filter(|to| layer_at(*to).is_some_and(|l| l >= target));
                let switched = changes
                    .iter()
                    .find(|(at, l)| *at > lift && *l >= target)
                    .map(|(at, _)| *at);
                resumed.into_iter().chain(switched).min()
            };
            q.time_to_recover_s = recovered.map(|at| secs(at - lift));
            q.recover_missed = recovered.is_none();
        }
    }

    if let (Some(start), Some(end)) = (timeline.start, timeline.end) {
        let window = end.saturating_duration_since(start);
        let in_window = |t: Instant| t > start && t <= end;
        let mut quiet: Vec<(Instant, Instant)> = timeline
            .boundaries
            .iter()
            .map(|b| (*b, *b + SETTLE))
            .collect();
        if let Some(first) = first_frame {
            quiet.push((first, first + SETTLE));
        }
        let switches: Vec<Instant> = changes
            .iter()
            .skip(1)
            .map(|(at, _)| *at)
            .filter(|at| in_window(*at))
            .collect();
        q.switches = switches.len() as u32;
        q.temporal_switches = temporal
            .iter()
            .skip(1)
            .filter(|(at, _)| in_window(*at))
            .count() as u32;
        q.switches_per_10s = per_10s(switches.len(), window);
        let steady = switches
            .iter()
            .filter(|at| !quiet.iter().any(|(a, b)| *at >= a && *at < b))
            .count();
        let quiet_time: Duration = quiet
            .iter()
            .map(|(a, b)| overlap((*a, *b), (start, end)))
            .sum();
        q.steady_switches_per_10s = per_10s(steady, window.saturating_sub(quiet_time));
        for gap in &track.packet_gaps {
            let o = overlap(*gap, (start, end));
            if !o.is_zero() {
                q.pauses += 1;
                q.paused_s += secs(o);
            }
        }
        for gap in &track.stats.long_frame_gaps {
            let o = overlap(*gap, (start, end));
            if !o.is_zero() {
                q.freezes_over_1s += 1;
                q.frozen_s += secs(o);
            }
        }
    }
    q
}

fn per_10s(n: usize, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        n as f64 * 10.0 / over.as_secs_f64()
    }
}

fn overlap(a: (Instant, Instant), b: (Instant, Instant)) -> Duration {
    let from = a.0.max(b.0);
    let to = a.1.min(b.1);
    to.saturating_duration_since(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::TrackStats;

    fn track(changes: &[(u64, u8)], t0: Instant) -> ReceivedTrack {
        let mut stats = TrackStats::new(true);
        stats.first_frame_at = Some(t0 + Duration::from_millis(100));
        ReceivedTrack {
            publisher: 0,
            kind: signalling_proto::MediaKind::Video,
            ssrc: 1,
            stats,
            per_spatial: [0; 4],
            switches: Vec::new(),
            last_spatial: changes.last().map(|c| c.1),
            layer_changes: changes
                .iter()
                .map(|(ms, l)| (t0 + Duration::from_millis(*ms), *l))
                .collect(),
            temporal_changes: vec![(t0, 2)],
            tid_seen: [None; 4],
            packet_gaps: Vec::new(),
        }
    }

    // A cap at 10 s lifted at 30 s: down after 1.5 s (to a fitting layer after 3 s), back to
    // the requested layer 4 s after the lift; the switches count.
    #[test]
    fn cap_reaction_and_recovery() {
        #[allow(clippy::disallowed_methods)] // one clock read per test, then offsets
        let t0 = Instant::now();
        let s = |x: u64| t0 + Duration::from_secs(x);
        let t = track(
            &[
                (100, 0),
                (1_500, 2),
                (11_500, 1),
                (13_000, 0),
                (32_000, 1),
                (34_000, 2),
            ],
            t0,
        );
        let timeline = Timeline {
            start: Some(t0),
            end: Some(s(40)),
            cap: Some((s(10), Some(s(30)), 300_000)),
            boundaries: vec![s(10), s(30)],
        };
        let q = video_quality(
            &t,
            &timeline,
            Some(2),
            &[150_000, 500_000, 1_500_000],
            Some(t0),
        );
        assert_eq!(q.time_to_downswitch_s, Some(1.5));
        assert_eq!(q.time_to_fit_s, Some(3.0));
        assert_eq!(q.time_to_recover_s, Some(4.0));
        assert!(!q.downswitch_missed && !q.recover_missed);
        assert_eq!(q.switches, 5);
        assert_eq!(q.time_to_requested_s, Some(1.4));
        // Steady: every switch falls within 5 s of the first frame or a phase change.
        assert_eq!(q.steady_switches_per_10s, 0.0);
    }

    // A stream that never comes back after the lift is reported as missed, not as zero.
    #[test]
    fn missed_recovery() {
        #[allow(clippy::disallowed_methods)] // one clock read per test, then offsets
        let t0 = Instant::now();
        let s = |x: u64| t0 + Duration::from_secs(x);
        let mut t = track(&[(100, 2), (11_000, 0)], t0);
        t.packet_gaps.push((s(12), s(40)));
        t.stats.last_packet_at = Some(s(12));
        let timeline = Timeline {
            start: Some(t0),
            end: Some(s(40)),
            cap: Some((s(10), Some(s(30)), 300_000)),
            boundaries: vec![],
        };
        let q = video_quality(&t, &timeline, Some(2), &[150_000, 500_000, 1_500_000], None);
        assert!(q.recover_missed);
        assert_eq!(q.time_to_recover_s, None);
        assert_eq!(q.pauses, 1);
        assert!((q.paused_s - 28.0).abs() < 1e-9);

        // A single-layer stream paused across the lift, the gap closed only by the end of
        // the measurement: still missed.
        let mut t = track(&[(100, 0)], t0);
        t.packet_gaps.push((s(12), s(40)));
        t.stats.last_packet_at = Some(s(12));
        let q = video_quality(&t, &timeline, Some(0), &[1_500_000], None);
        assert!(q.recover_missed, "{q:?}");
        // Resumed by a packet 1.5 s after the lift: recovered.
        t.packet_gaps[0].1 = s(31) + Duration::from_millis(500);
        t.stats.last_packet_at = Some(s(39));
        let q = video_quality(&t, &timeline, Some(0), &[1_500_000], None);
        assert_eq!(q.time_to_recover_s, Some(1.5));
    }
}
