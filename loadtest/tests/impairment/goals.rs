//! Issue 13's goals, each as a short scenario against the real server with the load tester's
//! seeded impairment relay on the subscribers' downlinks (CI-sized: seconds, not minutes; a
//! number loosened for that says so). The figures come from the same code as the `loadtest`
//! report ([`loadtest::quality`]), so a failure here reads like a scenario run's table.
//!
//! Goal 6 (`layer_changed` reports temporal changes, PROTOCOL.md) is a signalling property
//! and is tested on the server's side, not here.
//!
//! **Unmet as of ac4e767** (main 8d994b5 with the SFU fixes of issue 13, plus the synthetic
//! publisher answering PLI): these checks are not CI tests, because they fail on every run;
//! `scripts/impairment-scenarios` runs them and prints each with its figures and a FAIL
//! (benches/RESULTS.md, "Impairment scenarios", has the numbers). When one is fixed, its check
//! comes back here.
//! - Goal 2, a 300 kbit/s cap on a simulcast subscriber. Since str0m patch 6 and the
//!   allocator's frame-rate rule, release `cap-300k` runs: a fitting layer after 1.44-2.26 s
//!   (target 2 s; it was 6.2-7.9 s), 0.00-0.57 steady switches per 10 s (target 1, met in the
//!   runs; it was 1.1-3.3), no pause (met); but the top layer 12.4-17.3 s after the lift or
//!   not within 20 s (target 5 s): the estimate grows back slowly, and the probe requests
//!   tried for it under-measured the link (benches/RESULTS.md, "Goal 2 of issue 13"). The
//!   three checks come back here together once the return is met.
//! - Goal 3, the requested (top) layer at the full frame rate within 2 s of the first frame:
//!   the 2.9 s stragglers were temporal up-switches waiting for a sync frame that the
//!   synthetic publisher sent only after keyframes (it now follows libwebrtc's pattern); what
//!   is left is the estimate growing from the first 1 Mbit/s: 3.4 s for 2 of 4 joiners in a CI
//!   run, release `join` median 2.5-4.5 s, worst 7.6-10.1 s (40 joiners, busy machine).
//!   Scenario `join`.
//!   Its first-frame half (within 1 s of the transport connecting) stays here.
//!
//! Goal 4 is met and back here whole: audio loss after repair < 1 % since the SFU forwards RED
//! (RFC 2198) and the synthetic publisher sends it, and at most 1.1 retransmissions per lost
//! packet since the load tester's NACK generator counts RTX repairs (`loadtest::rtx_repair`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadtest::impair_relay::{ImpairmentConfig, ScheduleClock};
use loadtest::impairment::{Direction, Schedule};
use loadtest::quality::{video_quality, Timeline, VideoQuality};
use loadtest::{
    Feedback, Participant, ParticipantConfig, PublisherConfig, SubscriberConfig, SubscriberStats,
};
use signalling_proto::MediaKind;

use crate::support::server::Server;

const SIMULCAST_BPS: [u32; 3] = [150_000, 500_000, 1_500_000];

/// A subscriber whose downlink follows `schedule` from the moment it joins; `None`: free.
async fn subscriber(
    server: &Server,
    room: &str,
    name: &str,
    schedule: Option<&str>,
    seed: u64,
) -> (Participant, Option<Instant>) {
    subscriber_with(server, room, name, schedule, seed, Feedback::default()).await
}

/// [`subscriber`] offering `feedback`.
async fn subscriber_with(
    server: &Server,
    room: &str,
    name: &str,
    schedule: Option<&str>,
    seed: u64,
    feedback: Feedback,
) -> (Participant, Option<Instant>) {
    let clock = ScheduleClock::started_now();
    let start = clock.started_at();
    let impairment = schedule.map(|s| ImpairmentConfig {
        schedule: Arc::new(s.parse::<Schedule>().expect("schedule parses")),
        direction: Direction::Down,
        seed,
        clock,
    });
    let config = ParticipantConfig {
        subscriber: SubscriberConfig {
            impairment,
            feedback,
            ..SubscriberConfig::new(seed)
        },
        ..ParticipantConfig::new(&server.url, room, name)
    };
    let p = Participant::join(config).await.expect("joins");
    (p, start)
}

async fn publisher(server: &Server, room: &str, config: PublisherConfig) -> Participant {
    let mut p = server.join(room, "pub-0", false).await;
    p.publish(&config).await.expect("publishes");
    p
}

/// Polls `check` until it holds, or fails after `deadline`.
async fn eventually(
    p: &Participant,
    deadline: Duration,
    what: &str,
    check: impl Fn(&SubscriberStats) -> bool,
) {
    let until = Instant::now() + deadline;
    loop {
        let stats = p.subscriber_stats().expect("subscribing");
        if check(&stats) {
            return;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_video(s: &SubscriberStats) -> bool {
    s.tracks
        .values()
        .any(|t| t.kind == MediaKind::Video && t.stats.first_frame_at.is_some())
}

/// The quality figures of `p`'s video track over `timeline`, closed at `now`.
fn quality(p: &Participant, timeline: &Timeline, requested: u8, bps: &[u32]) -> VideoQuality {
    let mut stats = p.subscriber_stats().expect("subscribing");
    stats.finish(timeline.end.expect("an end"), |_| true);
    let track = stats
        .tracks
        .values()
        .find(|t| t.kind == MediaKind::Video)
        .expect("a video track");
    let reference = stats.connected_at;
    video_quality(track, timeline, Some(requested), bps, reference)
}

/// Audio packets lost (after RED recovery), expected, and recovered from RED, over every
/// audio track of `p`.
fn audio_loss(p: &Participant) -> (u64, u64, u64) {
    p.subscriber_stats()
        .expect("subscribing")
        .tracks
        .values()
        .filter(|t| t.kind == MediaKind::Audio)
        .fold((0, 0, 0), |(l, e, r), t| {
            (
                l + t.stats.lost(),
                e + t.stats.expected(),
                r + t.stats.recovered,
            )
        })
}

fn video_packets(p: &Participant) -> u64 {
    p.subscriber_stats()
        .expect("subscribing")
        .tracks
        .values()
        .filter(|t| t.kind == MediaKind::Video)
        .map(|t| t.stats.packets)
        .sum()
}

/// How long a packet may take to arrive and still count as delivered in goal 1's window: the
/// received count is read this long after each end of the window, so packets queued by the
/// SFU's pacer (a keyframe is paced out over a few hundred ms) count for the window they were
/// sent in rather than as undelivered. A queue that keeps growing (a downlink paced below the
/// stream's rate) still shows as a shortfall.
const DELIVERY_GRACE: Duration = Duration::from_secs(1);

// Goal 1: a single-layer 1.5 Mbit/s camera reaches standard subscribers on a free link with
// no pause (TWCC with RTX, TWCC without RTX, no feedback at all): each receives at least 95 % of the video packets
// the publisher sends over 8 s. (REMB-only is the aiortc interop stage's: webrtc-rs generates
// no REMB.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal1_single_layer_stream_is_not_paused() {
    let server = Server::start().await;
    let publisher = publisher(&server, "g1-free", PublisherConfig::single_layer(0)).await;
    let kinds = [Feedback::TwccRtx, Feedback::TwccNoRtx, Feedback::None];
    let mut subs = Vec::new();
    for (i, feedback) in kinds.into_iter().enumerate() {
        let name = format!("sub-{feedback:?}");
        subs.push(
            subscriber_with(&server, "g1-free", &name, None, i as u64, feedback)
                .await
                .0,
        );
    }
    for s in &subs {
        eventually(s, Duration::from_secs(15), "a first video frame", has_video).await;
    }
    let sent = || {
        publisher
            .send_counters()
            .expect("publishing")
            .video_packets
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let start = Instant::now();
    let sent0 = sent();
    tokio::time::sleep(DELIVERY_GRACE).await;
    let got0: Vec<u64> = subs.iter().map(video_packets).collect();
    tokio::time::sleep_until((start + Duration::from_secs(8)).into()).await;
    let sent1 = sent();
    tokio::time::sleep(DELIVERY_GRACE).await;
    let mut problems = Vec::new();
    let timeline = Timeline {
        start: Some(start),
        end: Some(Instant::now()),
        ..Timeline::default()
    };
    for (i, s) in subs.iter().enumerate() {
        let delivered = (video_packets(s) - got0[i]) as f64 / (sent1 - sent0).max(1) as f64;
        let q = quality(s, &timeline, 0, &[1_500_000]);
        if delivered < 0.95 || q.paused_s > 0.0 {
            problems.push(format!(
                "{:?}: {:.1} % of the video delivered, paused {:.1} s",
                kinds[i],
                delivered * 100.0,
                q.paused_s
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
    for s in subs {
        s.close().await;
    }
    publisher.close().await;
    server.stop().await;
}

// Goal 1: a single-layer stream that did not fit a 300 kbit/s cap resumes within 2 s of the
// cap's lift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal1_single_layer_resumes_within_2s_of_congestion_ending() {
    let server = Server::start().await;
    let publisher = publisher(&server, "g1-cap", PublisherConfig::single_layer(0)).await;
    let (sub, start) = subscriber(
        &server,
        "g1-cap",
        "sub-0",
        Some("free for 4s, then cap=300kbit for 5s, then free"),
        1,
    )
    .await;
    let start = start.expect("started");
    tokio::time::sleep_until((start + Duration::from_secs(15)).into()).await;
    let timeline = Timeline {
        start: Some(start),
        end: Some(Instant::now()),
        cap: Some((
            start + Duration::from_secs(4),
            Some(start + Duration::from_secs(9)),
            300_000,
        )),
        boundaries: vec![
            start + Duration::from_secs(4),
            start + Duration::from_secs(9),
        ],
    };
    let q = quality(&sub, &timeline, 0, &[1_500_000]);
    assert!(
        q.time_to_recover_s.is_some_and(|t| t <= 2.0),
        "video back {:?} s after the lift (missed: {}): {q:#?}",
        q.time_to_recover_s,
        q.recover_missed
    );
    sub.close().await;
    publisher.close().await;
    server.stop().await;
}

/// Goal 3's bound on the first frame in CI. The goal is 1 s (the scenario script checks that);
/// measured worst cases are 0.92-0.93 s, because a joiner whose request the throttle merged
/// waits for its retry about 1 s later (at most one request per second per encoding, goal 5).
/// This file's tests run in parallel on a 2-core CI machine, so CI allows a quarter second of
/// scheduling on top; a first frame that waits for the publisher's periodic keyframe (3 s)
/// still fails here.
const FIRST_FRAME_CI_S: f64 = 1.25;

// Goal 3: on a free link each of four joining subscribers gets its first video frame within
// 1 s of its transport connecting (1.25 s in CI, see `FIRST_FRAME_CI_S`). (Its requested layer within 2 s of that frame is unmet as
// of this commit, see the top of this file; the figure is still computed here to show it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal3_first_frame_within_1s() {
    let server = Server::start().await;
    let publisher = publisher(&server, "g3-join", PublisherConfig::simulcast(0)).await;
    // Past the first keyframe, so a joiner needs a keyframe request of its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut subs = Vec::new();
    for i in 0..4 {
        subs.push(
            subscriber(&server, "g3-join", &format!("sub-{i}"), None, i)
                .await
                .0,
        );
    }
    let start = Instant::now();
    for s in &subs {
        eventually(s, Duration::from_secs(15), "a first video frame", has_video).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let timeline = Timeline {
        start: Some(start),
        end: Some(Instant::now()),
        ..Timeline::default()
    };
    let mut problems = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        let q = quality(s, &timeline, 2, &SIMULCAST_BPS);
        if !q.first_frame_s.is_some_and(|t| t <= FIRST_FRAME_CI_S) {
            problems.push(format!(
                "sub-{i}: first frame after {:?} s",
                q.first_frame_s
            ));
        }
        eprintln!(
            "sub-{i}: first frame after {:?} s, top layer {:?} s after it",
            q.first_frame_s, q.time_to_requested_s
        );
    }
    assert!(problems.is_empty(), "{problems:?}");
    for s in subs {
        s.close().await;
    }
    publisher.close().await;
    server.stop().await;
}

// Goal 4: at 5 % random downlink loss, no freeze over 1 s, video and audio (RED) loss after
// repair under 1 %, at most 1.1 retransmissions per lost video packet; no duplicates at an
// unimpaired subscriber in the same room, and one that offers no RED gets every audio packet
// as plain Opus. CI-sized: 12 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal4_five_percent_loss_is_repaired() {
    let server = Server::start().await;
    let publisher = publisher(&server, "g4-loss", PublisherConfig::simulcast(0)).await;
    let (lossy, start) = subscriber(&server, "g4-loss", "sub-lossy", Some("loss=5%"), 4).await;
    let (clean, _) = subscriber(&server, "g4-loss", "sub-clean", None, 5).await;
    // Offers no RED (nor RTX): the SFU sends it the primary Opus block of each RED packet.
    let (plain, _) = subscriber_with(
        &server,
        "g4-loss",
        "sub-plain",
        None,
        6,
        Feedback::TwccNoRtx,
    )
    .await;
    let start = start.expect("started");
    tokio::time::sleep_until((start + Duration::from_secs(12)).into()).await;
    let timeline = Timeline {
        start: Some(start),
        end: Some(Instant::now()),
        ..Timeline::default()
    };
    let q = quality(&lossy, &timeline, 2, &SIMULCAST_BPS);
    let link = lossy
        .subscriber_stats()
        .and_then(|s| s.link)
        .expect("relayed")
        .tally();
    // The emulated loss really happened (the check must be able to fail for the right reason).
    assert!(
        link.video_dropped > 0,
        "the relay dropped no video packet: {link:?}"
    );
    let mut problems = Vec::new();
    if q.freezes_over_1s > 0 {
        problems.push(format!("{} freezes over 1 s", q.freezes_over_1s));
    }
    if q.loss_pct >= 1.0 {
        problems.push(format!("video loss {:.2} % after repair", q.loss_pct));
    }
    // Audio is repaired by RED (the publisher and the lossy subscriber negotiated it). One
    // redundant block cannot repair two losses in a row (5 % x 5 % = 0.25 % of packets, 0.0-0.4 %
    // measured over 30 s in the `loss-5` scenario, which checks the goal's < 1 %); over this
    // test's ~600 packets that count is small and noisy (0-6 seen), so CI allows < 1.5 %.
    let (audio_lost, audio_expected, recovered) = audio_loss(&lossy);
    if audio_expected < 300 || 1000 * audio_lost >= 15 * audio_expected || recovered == 0 {
        problems.push(format!(
            "audio: {audio_lost} of {audio_expected} lost after repair, {recovered} recovered by RED"
        ));
    }
    // At most 1.1 retransmissions per lost video packet (the relay's counts).
    let lost = link.video_dropped + link.rtx_dropped;
    if link.rtx_packets as f64 > 1.1 * lost as f64 {
        problems.push(format!(
            "{} retransmissions for {lost} lost packets",
            link.rtx_packets
        ));
    }
    // A subscriber without RED gets every audio packet as plain Opus (tagged, none lost).
    let (plain_lost, plain_expected, _) = audio_loss(&plain);
    if plain_expected < 300 || plain_lost > 0 {
        problems.push(format!(
            "audio without RED: {plain_lost} of {plain_expected} lost"
        ));
    }
    // No duplicates without loss: a subscriber that lost nothing gets no copy of a packet it
    // has (str0m's padding by resending sent packets is off, vendor/str0m/PATCHES.md 2).
    let clean_q = quality(&clean, &timeline, 2, &SIMULCAST_BPS);
    if clean_q.duplicates > 0 {
        problems.push(format!(
            "{} duplicates at the unimpaired subscriber",
            clean_q.duplicates
        ));
    }
    println!(
        "goal 4: video loss {:.2} %, audio {audio_lost}/{audio_expected} lost after repair \
         ({recovered} recovered by RED), {} retransmissions for {lost} lost, \
         without RED {plain_lost}/{plain_expected} lost, {} duplicates unimpaired",
        q.loss_pct, link.rtx_packets, clean_q.duplicates
    );
    assert!(problems.is_empty(), "{problems:?}: link {link:?}");
    plain.close().await;
    clean.close().await;
    lossy.close().await;
    publisher.close().await;
    server.stop().await;
}

// Goal 5: six subscribers joining at once, all at 5 % loss (more keyframe requests), make at
// most one keyframe request per second per encoding reach the publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal5_keyframe_requests_at_most_one_per_second_per_encoding() {
    let server = Server::start().await;
    let publisher = publisher(&server, "g5-kf", PublisherConfig::simulcast(0)).await;
    let metrics = format!("{}/metrics", loadtest::http_get::http_base(&server.url));
    let sent = || async {
        let (_, text) = loadtest::http_get::get(&metrics).await.expect("metrics");
        text.lines()
            .filter(|l| {
                l.starts_with("sfu_keyframe_requests_total{") && l.contains("result=\"sent\"")
            })
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = sent().await;
    let t0 = Instant::now();
    let mut subs = Vec::new();
    for i in 0..6 {
        subs.push(
            subscriber(
                &server,
                "g5-kf",
                &format!("sub-{i}"),
                Some("loss=5%"),
                50 + i,
            )
            .await
            .0,
        );
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let requests = sent().await - before;
    let secs = t0.elapsed().as_secs_f64();
    // Three encodings; the throttle's one retry and a window edge may add one each.
    let allowed = 3.0 * (secs.ceil() + 1.0);
    assert!(
        requests <= allowed,
        "{requests} keyframe requests in {secs:.1} s for 3 encodings (at most {allowed})"
    );
    for s in subs {
        s.close().await;
    }
    publisher.close().await;
    server.stop().await;
}
