//! End-to-end media through the real server (issue 3): webrtc-rs peers (an independent
//! WebRTC stack) join an in-process `sfu` on 127.0.0.1 through the signalling protocol,
//! publish synthetic simulcast VP8 + Opus, and measure what arrives on the wire.
//!
//! The keyframe-request throttle is checked on the wire by `sfu/tests/shard_media.rs` (str0m
//! clients, whose publisher sees every PLI): webrtc-rs 0.21 does not hand received RTCP to the
//! application without a custom interceptor.

use std::time::{Duration, Instant};

use loadtest::{Participant, PublisherConfig, SubscriberStats};
use signalling_proto::{Layer, MediaKind, StreamId, SubscriptionPreference};

use crate::support::server::Server;

/// How long any expected state may take to appear.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` on `p`'s subscriber stats until it holds.
async fn eventually(p: &Participant, what: &str, check: impl Fn(&SubscriberStats) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stats = p.subscriber_stats().expect("subscribing");
        if check(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Packets of `kind` from load-test publisher `publisher` a subscriber received.
fn packets(stats: &SubscriberStats, publisher: u32, kind: MediaKind) -> u64 {
    stats
        .tracks
        .values()
        .filter(|t| t.publisher == publisher && t.kind == kind)
        .map(|t| t.stats.packets)
        .sum()
}

// Two simulcast publishers, three subscribers: every subscriber receives both publishers'
// audio and video, every stream with contiguous sequence numbers (no gap), and every video
// stream starts on a keyframe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_three_subscribers() {
    let server = Server::start().await;
    let mut publishers = Vec::new();
    for id in 0..2u32 {
        let mut p = server
            .join("e2e-meeting", &format!("pub-{id}"), false)
            .await;
        p.publish(&PublisherConfig::simulcast(id))
            .await
            .expect("publishes");
        publishers.push(p);
    }
    let mut subscribers = Vec::new();
    for i in 0..3 {
        subscribers.push(server.join("e2e-meeting", &format!("sub-{i}"), true).await);
    }
    for s in &subscribers {
        eventually(s, "both publishers' audio and video", |stats| {
            (0..2).all(|p| {
                packets(stats, p, MediaKind::Audio) >= 100
                    && packets(stats, p, MediaKind::Video) >= 100
            })
        })
        .await;
    }
    for (i, s) in subscribers.iter().enumerate() {
        let stats = s.subscriber_stats().expect("subscribing");
        for track in stats.tracks.values() {
            let what = format!(
                "sub-{i} ssrc {} ({:?} of pub-{})",
                track.ssrc, track.kind, track.publisher
            );
            assert_eq!(track.stats.lost(), 0, "{what}: sequence gap");
            // Duplicates are not counted against the server: they are retransmissions (RTX
            // after a NACK) of packets that were late, not lost, and webrtc-rs hands both
            // copies to the application (with its NACK generator off they all but vanish).
            if track.kind == MediaKind::Video {
                assert!(
                    track.switches.iter().all(|(_, _, keyframe)| *keyframe),
                    "{what}: a layer began without a keyframe: {:?}",
                    track.switches
                );
            }
        }
        assert_eq!(stats.untagged_packets, 0, "sub-{i} got foreign packets");
    }
    for p in subscribers.into_iter().chain(publishers) {
        p.close().await;
    }
    server.stop().await;
}

// Lowering a subscriber's preference switches it to the lowest layer and raising it switches
// back up; every switch starts on a keyframe of the new layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_switch_layers_on_keyframes() {
    let server = Server::start().await;
    let mut publisher = server.join("e2e-layers", "pub-0", false).await;
    publisher
        .publish(&PublisherConfig::simulcast(0))
        .await
        .expect("publishes");
    let subscriber = server.join("e2e-layers", "sub-0", true).await;
    let video = |stats: &SubscriberStats| {
        stats
            .tracks
            .values()
            .find(|t| t.publisher == 0 && t.kind == MediaKind::Video)
            .cloned()
    };
    eventually(&subscriber, "video above the lowest layer", |s| {
        video(s).is_some_and(|t| t.last_spatial.is_some_and(|l| l > 0))
    })
    .await;

    let prefer = |spatial: u8| SubscriptionPreference {
        participant_id: publisher.id().clone(),
        stream_id: StreamId("camera".into()),
        kind: Some(MediaKind::Video),
        paused: None,
        max_layer: Some(Layer {
            spatial,
            temporal: 2,
        }),
        target_size: None,
        priority: None,
    };
    subscriber.set_preference(prefer(0)).await.expect("lower");
    eventually(&subscriber, "the lowest layer", |s| {
        video(s).is_some_and(|t| t.last_spatial == Some(0))
    })
    .await;
    subscriber.set_preference(prefer(2)).await.expect("raise");
    eventually(&subscriber, "a higher layer again", |s| {
        video(s).is_some_and(|t| t.last_spatial.is_some_and(|l| l > 0))
    })
    .await;

    let track = video(&subscriber.subscriber_stats().expect("subscribing")).expect("video");
    let downs = track
        .switches
        .iter()
        .filter(|(from, to, _)| to < from)
        .count();
    let ups = track
        .switches
        .iter()
        .filter(|(from, to, _)| to > from && *from != u8::MAX)
        .count();
    assert!(downs >= 1 && ups >= 1, "switches {:?}", track.switches);
    assert!(
        track.switches.iter().all(|(_, _, keyframe)| *keyframe),
        "a switch began without a keyframe: {:?}",
        track.switches
    );
    assert_eq!(track.stats.lost(), 0, "sequence gap across switches");
    subscriber.close().await;
    publisher.close().await;
    server.stop().await;
}

// A publisher that leaves has its tracks removed from every subscriber within a second: the
// server's next subscriber offer stops their m-lines, and no media of it arrives after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_removes_tracks_within_a_second() {
    let server = Server::start().await;
    let mut publisher = server.join("e2e-leave", "pub-0", false).await;
    publisher
        .publish(&PublisherConfig::simulcast(0))
        .await
        .expect("publishes");
    let mut subscribers = Vec::new();
    for i in 0..2 {
        subscribers.push(server.join("e2e-leave", &format!("sub-{i}"), true).await);
    }
    for s in &subscribers {
        eventually(s, "the publisher's media", |stats| {
            packets(stats, 0, MediaKind::Audio) > 20 && packets(stats, 0, MediaKind::Video) > 20
        })
        .await;
    }
    let left_at = Instant::now();
    publisher.leave().await.expect("leave_room");
    for (i, s) in subscribers.iter().enumerate() {
        // The server's next offer stops both m-lines (the subscriber had no others).
        eventually(s, "an offer that stops the publisher's m-lines", |stats| {
            stats
                .offers
                .iter()
                .any(|(at, open)| *at > left_at && *open == 0)
        })
        .await;
        let stats = s.subscriber_stats().expect("subscribing");
        let (stopped_at, _) = stats
            .offers
            .iter()
            .find(|(at, open)| *at > left_at && *open == 0)
            .copied()
            .expect("a stopping offer");
        let took = stopped_at - left_at;
        assert!(
            took <= Duration::from_secs(1),
            "sub-{i}: the m-lines were stopped {took:?} after leave_room"
        );
        // And no media of the publisher arrives after that.
        let last = stats
            .tracks
            .values()
            .filter(|t| t.publisher == 0)
            .filter_map(|t| t.stats.last_packet_at)
            .max()
            .expect("media arrived before");
        assert!(
            last <= stopped_at,
            "sub-{i}: media after the m-lines stopped ({:?} after the stopping offer)",
            last - stopped_at
        );
    }
    for s in subscribers {
        s.close().await;
    }
    server.stop().await;
}
