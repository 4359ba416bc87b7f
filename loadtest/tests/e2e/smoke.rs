//! 1 publisher, 3 subscribers against an in-process server on 127.0.0.1 (ephemeral ports,
//! development tokens): every subscriber receives the publisher's audio and video with < 5 %
//! loss, and no packet crosses groups.

use std::time::Duration;

use loadtest::{Participant, ParticipantConfig, PublisherConfig};
use signalling_proto::MediaKind;

use crate::support::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publisher_three_subscribers() {
    let server = Server::start().await;
    let url = server.url.clone();

    let mut publisher = Participant::join(ParticipantConfig {
        subscribe: false,
        ..ParticipantConfig::new(&url, "smoke", "pub-0")
    })
    .await
    .expect("publisher joins");
    publisher
        .publish(&PublisherConfig::simulcast(0))
        .await
        .expect("publisher publishes");
    let mut subscribers = Vec::new();
    for i in 0..3 {
        let name = format!("sub-{i}");
        let subscriber = Participant::join(ParticipantConfig::new(&url, "smoke", &name))
            .await
            .expect("subscriber joins");
        subscribers.push(subscriber);
    }

    tokio::time::sleep(Duration::from_secs(5)).await;

    let sent = publisher.send_counters().expect("publishing").packets();
    assert!(sent > 0, "the publisher sent nothing");
    for (i, s) in subscribers.iter().enumerate() {
        let stats = s.subscriber_stats().expect("subscribing");
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let packets: u64 = stats
                .tracks
                .values()
                .filter(|t| t.publisher == 0 && t.kind == kind)
                .map(|t| t.stats.packets)
                .sum();
            assert!(packets > 0, "sub-{i} got no {kind:?}: {stats:#?}");
        }
        let received: u64 = stats.tracks.values().map(|t| t.stats.packets).sum();
        let lost: u64 = stats.tracks.values().map(|t| t.stats.lost()).sum();
        assert!(
            lost * 20 <= received + lost,
            "sub-{i}: {lost} lost of {}",
            received + lost
        );
        assert_eq!(stats.cross_group_packets, 0);
    }

    for s in subscribers {
        s.close().await;
    }
    publisher.close().await;
    server.stop().await;
}
