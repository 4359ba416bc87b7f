//! The impairment instrument itself (issue 13), against the real server: a subscriber's path
//! through the seeded relay loses what it is configured to lose, a rate cap really caps what
//! arrives, and a delay shows in the measured latency, each beside an unimpaired subscriber of
//! the same room. These are checks of the load tester, not of the SFU's quality goals (those
//! are in `impairment/goals.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadtest::impair_relay::{ImpairmentConfig, LinkTally, ScheduleClock};
use loadtest::impairment::{Direction, Schedule};
use loadtest::{
    Participant, ParticipantConfig, PublisherConfig, SubscriberConfig, SubscriberStats,
};
use signalling_proto::MediaKind;

use crate::support::server::Server;

/// How long any expected state may take to appear.
const DEADLINE: Duration = Duration::from_secs(30);

async fn join_impaired(server: &Server, room: &str, name: &str, schedule: &str) -> Participant {
    let schedule: Schedule = schedule.parse().expect("schedule parses");
    let config = ParticipantConfig {
        subscriber: SubscriberConfig {
            impairment: Some(ImpairmentConfig {
                schedule: Arc::new(schedule),
                direction: Direction::Down,
                seed: 42,
                clock: ScheduleClock::started_now(),
            }),
            ..SubscriberConfig::new(42)
        },
        ..ParticipantConfig::new(&server.url, room, name)
    };
    Participant::join(config).await.expect("joins")
}

/// Polls `check` until it holds.
async fn eventually(p: &Participant, what: &str, check: impl Fn(&SubscriberStats) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stats = p.subscriber_stats().expect("subscribing");
        if check(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: tracks {:?}, link {:?}",
            stats
                .tracks
                .values()
                .map(|t| (t.kind, t.stats.packets, t.stats.lost()))
                .collect::<Vec<_>>(),
            stats.link.map(|l| l.tally())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tally(p: &Participant) -> LinkTally {
    p.subscriber_stats()
        .and_then(|s| s.link)
        .expect("an impaired subscriber has link counters")
        .tally()
}

fn received(stats: &SubscriberStats, kind: MediaKind) -> (u64, u64) {
    stats
        .tracks
        .values()
        .filter(|t| t.kind == kind)
        .fold((0, 0), |(p, b), t| (p + t.stats.packets, b + t.stats.bytes))
}

// `loss=5%` on the downlink: the relay drops 5 % (+-1.5) of what the SFU sent, counts its own
// drops apart (none), and the application never sees more audio loss than the link made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_loss_is_measured_loss() {
    let server = Server::start().await;
    let mut publisher = server.join("inst-loss", "pub-0", false).await;
    publisher
        .publish(&PublisherConfig::simulcast(0))
        .await
        .expect("publishes");
    let sub = join_impaired(&server, "inst-loss", "sub-lossy", "loss=5%").await;
    eventually(&sub, "2,500 packets through the relay", |s| {
        s.link
            .as_ref()
            .is_some_and(|l| l.tally().down_packets >= 2500)
    })
    .await;
    let t = tally(&sub);
    let share = t.down_dropped_random as f64 / t.down_packets as f64;
    assert!((0.035..=0.065).contains(&share), "link loss {share}: {t:?}");
    assert_eq!(t.down_dropped_burst + t.down_dropped_queue, 0, "{t:?}");
    assert_eq!(t.relay_drops, 0, "the relay itself dropped: {t:?}");
    assert!(
        t.audio_packets > 200 && t.video_packets > 200,
        "classes: {t:?}"
    );
    let audio_share = t.audio_dropped as f64 / t.audio_packets as f64;
    let stats = sub.subscriber_stats().expect("subscribing");
    let audio = stats
        .tracks
        .values()
        .find(|t| t.kind == MediaKind::Audio)
        .expect("audio arrives");
    assert!(
        audio.stats.lost_pct() <= audio_share * 100.0 + 1.0,
        "the application lost {:.2} % of audio, the link {:.2} %",
        audio.stats.lost_pct(),
        audio_share * 100.0
    );
    sub.close().await;
    publisher.close().await;
    server.stop().await;
}

// `cap=40kbit` (below what the audio alone needs, so the SFU's reaction cannot keep the load
// under it): what the relay delivers stays at the cap, the excess is tail-dropped at the
// queue, while an unimpaired subscriber of the same publisher receives far more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_caps_the_downlink() {
    let server = Server::start().await;
    let mut publisher = server.join("inst-cap", "pub-0", false).await;
    publisher
        .publish(&PublisherConfig::simulcast(0))
        .await
        .expect("publishes");
    let free = server.join("inst-cap", "sub-free", true).await;
    let capped = join_impaired(
        &server,
        "inst-cap",
        "sub-capped",
        "free for 3s, then cap=40kbit",
    )
    .await;
    let capped_at = Instant::now() + Duration::from_secs(3);
    eventually(&free, "video", |st| received(st, MediaKind::Video).0 > 50).await;
    eventually(&capped, "audio", |st| received(st, MediaKind::Audio).0 > 50).await;
    // Measure over 4 s from half a second into the cap (its queue full by then).
    tokio::time::sleep_until((capped_at + Duration::from_millis(500)).into()).await;
    let (t0, free0, capped0) = (
        Instant::now(),
        free.subscriber_stats().expect("subscribing"),
        tally(&capped),
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let secs = t0.elapsed().as_secs_f64();
    let free1 = free.subscriber_stats().expect("subscribing");
    let capped1 = tally(&capped);
    let free_bps = (received(&free1, MediaKind::Video).1 + received(&free1, MediaKind::Audio).1
        - received(&free0, MediaKind::Video).1
        - received(&free0, MediaKind::Audio).1) as f64
        * 8.0
        / secs;
    let packets = capped1.down_delivered - capped0.down_delivered;
    let wire_bps = ((capped1.down_delivered_bytes - capped0.down_delivered_bytes) as f64
        + 28.0 * packets as f64)
        * 8.0
        / secs;
    // The window may catch part of one packet's serialisation at either edge: 5 % slack.
    assert!(
        wire_bps <= 42_000.0,
        "capped link carried {wire_bps:.0} bit/s"
    );
    assert!(
        wire_bps >= 36_000.0,
        "capped link carried only {wire_bps:.0} bit/s"
    );
    assert!(
        capped1.down_dropped_queue > capped0.down_dropped_queue,
        "no tail drop at the cap: {capped1:?}"
    );
    assert!(
        free_bps > 3.0 * wire_bps,
        "unimpaired {free_bps:.0} bit/s vs capped {wire_bps:.0} bit/s"
    );
    free.close().await;
    capped.close().await;
    publisher.close().await;
    server.stop().await;
}

// `delay=150ms` shows in the one-way latency the subscriber measures, and not in its
// neighbour's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_shows_in_latency() {
    let server = Server::start().await;
    let mut publisher = server.join("inst-delay", "pub-0", false).await;
    publisher
        .publish(&PublisherConfig::audio_only(0))
        .await
        .expect("publishes");
    let free = server.join("inst-delay", "sub-free", true).await;
    let delayed = join_impaired(&server, "inst-delay", "sub-delayed", "delay=150ms").await;
    for s in [&free, &delayed] {
        eventually(s, "100 audio packets", |st| {
            received(st, MediaKind::Audio).0 >= 100
        })
        .await;
    }
    let p50 = |p: &Participant| {
        p.subscriber_stats()
            .expect("subscribing")
            .latency
            .quantile_ms(0.5)
            .expect("latency samples")
    };
    let (free_ms, delayed_ms) = (p50(&free), p50(&delayed));
    assert!(
        (150.0..400.0).contains(&delayed_ms),
        "delayed p50 {delayed_ms} ms"
    );
    assert!(free_ms < 100.0, "unimpaired p50 {free_ms} ms");
    free.close().await;
    delayed.close().await;
    publisher.close().await;
    server.stop().await;
}

// A publisher's uplink through the relay (`up`, the media direction for a publisher): the
// relay drops 5 % (+-2) of what the publisher sends, and the media still reaches a subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_uplink_can_be_impaired() {
    let server = Server::start().await;
    let mut config = PublisherConfig::simulcast(0);
    config.impairment = Some(ImpairmentConfig {
        schedule: Arc::new("loss=5%".parse().expect("schedule parses")),
        direction: Direction::Up,
        seed: 9,
        clock: ScheduleClock::started_now(),
    });
    let mut publisher = server.join("inst-up", "pub-0", false).await;
    publisher.publish(&config).await.expect("publishes");
    let sub = server.join("inst-up", "sub-0", true).await;
    eventually(&sub, "video and audio", |s| {
        received(s, MediaKind::Video).0 > 300 && received(s, MediaKind::Audio).0 > 100
    })
    .await;
    let t = publisher
        .uplink_counters()
        .expect("an impaired publisher has link counters")
        .tally();
    let share = t.up_dropped as f64 / t.up_packets as f64;
    assert!(t.up_packets > 1000, "{t:?}");
    assert!((0.03..=0.07).contains(&share), "uplink loss {share}: {t:?}");
    assert_eq!(t.down_dropped() + t.relay_drops, 0, "{t:?}");
    sub.close().await;
    publisher.close().await;
    server.stop().await;
}
