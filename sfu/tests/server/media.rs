//! The media commands over `/rtc` (DECISIONS.md §10, PROTOCOL.md §4.1) and bad media input
//! against the whole server: roles, unparseable SDP, unknown streams, stale answers, garbage
//! datagrams on the media port. Each test ends by checking the server still serves. A
//! meeting with str0m peers (`peer_support`) checks what `/metrics` says while media flows;
//! browser-grade peers are `scripts/interop-test`'s (aiortc).

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Instant;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::media_session::start_publishing;
use crate::support::peer::{Client as Peer, Publisher, Subscriber};
use crate::support::ws::*;
use serde_json::json;
use signalling_proto::Role;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, MediaKind};
use str0m::Rtc;

/// A real publisher offer (audio + video, send-only) from a str0m client.
fn publisher_offer_sdp() -> String {
    #[allow(clippy::disallowed_methods)] // a test needs some instant to start str0m with
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(now);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let candidate =
        str0m::Candidate::host(socket.local_addr().expect("addr"), "udp").expect("candidate");
    rtc.add_local_candidate(candidate);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, _pending) = api.apply().expect("an offer");
    offer.to_sdp_string()
}

/// The media port of the server's host candidate in an answer.
fn candidate_port(sdp: &str) -> u16 {
    sdp.lines()
        .find(|l| l.starts_with("a=candidate:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .expect("a host candidate with a port")
}

/// `send_chat_message` still works for `client`: the room and its socket are alive.
async fn still_serves(client: &mut Client) {
    let sent = client
        .call("send_chat_message", json!({"text": "still here"}))
        .await;
    ok_result(&sent);
}

// A publishing role gets an answer whose only candidate is the configured public IP
// (127.0.0.1), and a receive-only role may not publish (spec §4.2).
#[tokio::test]
async fn publisher_offer_is_answered_and_viewers_may_not_publish() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-1", "host", Role::Host).await;
    let tracks = json!({"tracks": [
        {"mid": "0", "source": "microphone"},
        {"mid": "1", "source": "camera"},
    ]});
    ok_result(&host.call("publish_tracks", tracks.clone()).await);
    let answer = host
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    let candidates: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert!(!candidates.is_empty());
    assert!(
        candidates.iter().all(|c| c.contains(" 127.0.0.1 ")),
        "{candidates:?}"
    );

    let mut viewer = server.client().await;
    viewer.join("media-1", "viewer", Role::Viewer).await;
    let refused = viewer.call("publish_tracks", tracks).await;
    assert_eq!(error_code(&refused), "forbidden");
    let refused = viewer
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    assert_eq!(error_code(&refused), "forbidden");
    still_serves(&mut viewer).await;
}

// SDP that does not parse is `invalid_argument` and changes nothing; the same socket can
// then publish with a good offer.
#[tokio::test]
async fn unparseable_sdp_is_invalid_argument() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-2", "host", Role::Host).await;
    for garbage in [
        "",
        "v=0",
        "not sdp at all\r\n\u{0}\u{7f}",
        "v=0\r\nm=audio x y z\r\n",
    ] {
        let refused = host.call("publisher_offer", json!({"sdp": garbage})).await;
        assert_eq!(error_code(&refused), "invalid_argument", "{garbage:?}");
    }
    let answer = host
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    ok_result(&answer);
    still_serves(&mut host).await;
}

// Screen tracks must name a running screenshare of the caller; camera tracks belong to
// stream "camera".
#[tokio::test]
async fn published_tracks_must_name_a_stream_of_the_caller() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-3", "host", Role::Host).await;
    let unknown = host
        .call(
            "publish_tracks",
            json!({"tracks": [{"mid": "2", "source": "screenshare", "streamId": "ss-9"}]}),
        )
        .await;
    assert_eq!(error_code(&unknown), "stream_not_found");
    let unnamed = host
        .call(
            "publish_tracks",
            json!({"tracks": [{"mid": "2", "source": "screenshare"}]}),
        )
        .await;
    assert_eq!(error_code(&unnamed), "invalid_argument");
    let camera_elsewhere = host
        .call(
            "publish_tracks",
            json!({"tracks": [{"mid": "1", "source": "camera", "streamId": "ss-1"}]}),
        )
        .await;
    assert_eq!(error_code(&camera_elsewhere), "invalid_argument");
    let unknown_field = host
        .call(
            "publish_tracks",
            json!({"tracks": [{"mid": "1", "source": "camera", "bogus": 1}]}),
        )
        .await;
    assert_eq!(error_code(&unknown_field), "invalid_argument");
    still_serves(&mut host).await;
}

// Preferences for streams outside the caller's allowed set are `stream_not_found` (spec
// §13.9), including the caller's own stream and malformed ids; an answer to an offer that was
// never made is ignored; trickled candidates are accepted (the server is ICE-lite).
#[tokio::test]
async fn preferences_answers_and_candidates_are_checked() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let host_id = self_id(&host.join("media-4", "host", Role::Host).await);
    let mut ada = server.client().await;
    let ada_id = self_id(&ada.join("media-4", "ada", Role::Visitor).await);

    let allowed = ada
        .call(
            "set_subscription_preferences",
            json!({"preferences": [{"participantId": host_id, "streamId": "camera",
                                    "targetSize": {"width": 320, "height": 180}}]}),
        )
        .await;
    ok_result(&allowed);
    for (participant, stream) in [
        (ada_id.as_str(), "camera"),
        ("p999", "camera"),
        ("nobody", "camera"),
        (host_id.as_str(), "ss-1"),
        (host_id.as_str(), "webcam"),
    ] {
        let refused = ada
            .call(
                "set_subscription_preferences",
                json!({"preferences": [{"participantId": participant, "streamId": stream,
                                        "paused": true}]}),
            )
            .await;
        assert_eq!(
            error_code(&refused),
            "stream_not_found",
            "{participant}/{stream}"
        );
    }
    let stale = ada
        .call("subscriber_answer", json!({"sdp": "v=0", "version": 7}))
        .await;
    ok_result(&stale);
    let candidate = ada
        .call(
            "ice_candidate",
            json!({"transport": "publisher", "candidate": {
                "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}}),
        )
        .await;
    ok_result(&candidate);
    let end_of_candidates = ada
        .call(
            "ice_candidate",
            json!({"transport": "subscriber", "candidate": null}),
        )
        .await;
    ok_result(&end_of_candidates);
    still_serves(&mut ada).await;
}

// Garbage datagrams on the media port (random bytes, truncated STUN, RTP-looking headers with
// no DTLS) are dropped; signalling and negotiation keep working.
#[tokio::test]
async fn garbage_on_the_media_port_is_dropped() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-5", "host", Role::Host).await;
    let answer = host
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    let port = candidate_port(ok_result(&answer)["sdp"].as_str().expect("sdp"));

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0x00, 0x01, 0x00, 0x08], // a STUN header cut short
        vec![0x80, 0x60, 0x00, 0x01], // an RTP header cut short
        vec![0x16, 0xfe, 0xfd],       // a DTLS record cut short
        vec![0xff; 1500],
    ];
    let mut x: u32 = 0x9e37_79b9;
    for len in [12usize, 40, 200, 1200] {
        junk.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect(),
        );
    }
    for datagram in &junk {
        for _ in 0..10 {
            socket
                .send_to(datagram, ("127.0.0.1", port))
                .expect("send to the media port");
        }
    }

    let mut ada = server.client().await;
    ada.join("media-5", "ada", Role::Visitor).await;
    let answer = ada
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    assert_eq!(
        candidate_port(ok_result(&answer)["sdp"].as_str().expect("sdp")),
        port,
        "one room, one shard"
    );
    still_serves(&mut host).await;
}

// What a meeting leaves behind once everyone is gone: nothing. Rooms, participants and media
// transports count up while two participants meet (one publishing) and return to zero after
// they leave; every command is counted by name and status. Read from `/metrics`, as an
// operator would.
#[tokio::test]
async fn counts_return_to_zero_after_everyone_leaves() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-6", "host", Role::Host).await;
    let mut ada = server.client().await;
    ada.join("media-6", "ada", Role::Visitor).await;
    let answer = host
        .call("publisher_offer", json!({"sdp": publisher_offer_sdp()}))
        .await;
    ok_result(&answer);
    let refused = ada.call("publisher_offer", json!({"sdp": "v=0"})).await;
    assert_eq!(error_code(&refused), "invalid_argument");

    let (status, metrics) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&metrics, "sfu_rooms"), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, "sfu_participants"), Some(2.0));
    assert_eq!(sample(&metrics, "sfu_transports"), Some(1.0));
    let counted = |m: &str, command: &str, status: &str| {
        sample(
            m,
            &format!(r#"sfu_signalling_commands_total{{command="{command}",status="{status}"}}"#),
        )
    };
    assert_eq!(counted(&metrics, "join_room", "ok"), Some(2.0));
    assert_eq!(counted(&metrics, "publisher_offer", "ok"), Some(1.0));
    assert_eq!(
        counted(&metrics, "publisher_offer", "invalid_argument"),
        Some(1.0)
    );
    // The host was sent `new_client` when ada joined: counted once written to its socket.
    host.event("new_client").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, metrics) = http_get(server.addr, "/metrics").await;
        let sent = sample(
            &metrics,
            r#"sfu_signalling_events_total{event="new_client"}"#,
        );
        if sent == Some(1.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new_client not counted: {sent:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    ok_result(&host.call("leave_room", json!({})).await);
    ok_result(&ada.call("leave_room", json!({})).await);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, metrics) = http_get(server.addr, "/metrics").await;
        let zero = [
            "sfu_rooms",
            "sfu_participants",
            "sfu_transports",
            r#"sfu_publications{kind="microphone"}"#,
            r#"sfu_publications{kind="camera"}"#,
        ]
        .iter()
        .all(|name| sample(&metrics, name) == Some(0.0));
        if zero {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counts did not return to zero: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

// A meeting in progress, scraped as an operator would (issue 7's acceptance): a host publishes
// audio and simulcast video, a visitor subscribes over the whole server, and `/metrics` passes
// `promtool check metrics` with non-zero packet counters, forwarding-latency and join-latency
// histograms, and the publications and subscriptions by kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_meeting_in_progress_pass_promtool() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("media-7", "host", Role::Host).await;
    let mut ada = server.client().await;
    ada.join("media-7", "ada", Role::Visitor).await;

    let (mut publisher, offer, pending) = Publisher::new(true);
    let answer = host
        .call("publisher_offer", json!({"sdp": offer.to_sdp_string()}))
        .await;
    let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
    publisher
        .client
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(sdp).expect("answer parses"),
        )
        .expect("publisher accepts the answer");

    // Drive both peers; answer each subscriber offer (one per publication that appears).
    let mut subscriber = Subscriber {
        client: Peer::new(),
        streams: BTreeMap::new(),
    };
    let until = crate::support::peer::now() + Duration::from_secs(15);
    while subscriber.count(RtcCodec::Opus) < 25 || subscriber.count(RtcCodec::Vp8) < 15 {
        assert!(
            crate::support::peer::now() < until,
            "no media at the visitor: publisher connected {}, visitor connected {}",
            publisher.client.connected,
            subscriber.client.connected
        );
        publisher.step(true);
        subscriber.step();
        let offered =
            tokio::time::timeout(Duration::from_millis(2), ada.event("subscriber_offer")).await;
        if let Ok(offer) = offered {
            let data = &offer["data"];
            let sdp = data["sdp"].as_str().expect("offer sdp");
            let offer = SdpOffer::from_sdp_string(sdp).expect("server offer parses");
            let answer = subscriber
                .client
                .rtc
                .sdp_api()
                .accept_offer(offer)
                .expect("the visitor accepts the offer");
            let answered = ada
                .call(
                    "subscriber_answer",
                    json!({"sdp": answer.to_sdp_string(), "version": data["version"]}),
                )
                .await;
            ok_result(&answered);
        }
    }

    let (status, metrics) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    if let Err(complaint) = sfu::metrics::promtool_check(&metrics) {
        panic!("promtool check metrics failed:\n{complaint}\n{metrics}");
    }
    let value = |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("no {name}"));
    for counter in [
        "sfu_datagrams_in_total",
        "sfu_rtp_packets_in_total",
        "sfu_rtp_packets_out_total",
        "sfu_packets_in_total",
        "sfu_packets_out_total",
        "sfu_bytes_out_total",
        "sfu_forwarding_latency_seconds_count",
        r#"sfu_layer_switches_total{reason="start"}"#,
    ] {
        assert!(value(counter) > 0.0, "{counter} is zero:\n{metrics}");
    }
    assert_eq!(
        value("sfu_join_latency_seconds_count"),
        1.0,
        "the visitor's"
    );
    assert_eq!(value(r#"sfu_publications{kind="camera"}"#), 1.0);
    assert_eq!(value(r#"sfu_publications{kind="microphone"}"#), 1.0);
    assert_eq!(value(r#"sfu_subscriptions{kind="camera"}"#), 1.0);
    assert_eq!(value(r#"sfu_subscriptions{kind="microphone"}"#), 1.0);
    assert_eq!(value("sfu_transports"), 2.0);
    still_serves(&mut host).await;
}

// Each media m-line of a subscriber offer names its stream with the msid that
// `subscriptions_changed` gave for that stream (PROTOCOL.md §4.8), so a client looks a track's
// stream up instead of splitting an id that may contain `-`; the track id adds the kind. The
// offer starts with the data-channel section that keeps the transport alive (§4.6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_m_lines_carry_the_msid_of_subscriptions_changed() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let host_id = self_id(&host.join("media-8", "host", Role::Host).await);
    let mut ada = server.client().await;
    ada.join("media-8", "ada", Role::Visitor).await;
    let changed = ada.event("subscriptions_changed").await;
    let entry = changed["data"]["added"]
        .as_array()
        .expect("added")
        .iter()
        .find(|e| e["participantId"] == host_id.as_str() && e["streamId"] == "camera")
        .unwrap_or_else(|| panic!("the host's camera is not in {changed}"))
        .clone();
    let msid = entry["msid"]
        .as_str()
        .unwrap_or_else(|| panic!("no msid in {entry}"));

    let (mut publisher, offer, pending) = Publisher::new(false);
    let answer = host
        .call("publisher_offer", json!({"sdp": offer.to_sdp_string()}))
        .await;
    let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
    publisher
        .client
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(sdp).expect("answer parses"),
        )
        .expect("publisher accepts the answer");
    let until = crate::support::peer::now() + Duration::from_secs(15);
    let offer = loop {
        assert!(crate::support::peer::now() < until, "no subscriber offer");
        publisher.step(false);
        let offered =
            tokio::time::timeout(Duration::from_millis(2), ada.event("subscriber_offer")).await;
        if let Ok(offer) = offered {
            break offer["data"]["sdp"].as_str().expect("offer sdp").to_owned();
        }
    };

    // The first m-section is the data channel; each media m-section names its stream and
    // kind (the first offer may hold one kind only: the other's m-line comes with its first
    // packet, in a later offer).
    let sections: Vec<&str> = offer.split("\r\nm=").skip(1).collect();
    assert!(sections[0].starts_with("application "), "{offer}");
    let media: Vec<&&str> = sections[1..].iter().collect();
    assert!(!media.is_empty(), "{offer}");
    for section in media {
        let kind = section.split(' ').next().expect("a kind");
        let line = section
            .lines()
            .find_map(|l| l.strip_prefix("a=msid:"))
            .unwrap_or_else(|| panic!("no msid in m={section}"));
        assert_eq!(line, format!("{msid} {msid}-{kind}"), "{offer}");
    }
    still_serves(&mut host).await;
}

/// Answers a `subscriber_offer` for `subscriber` if one arrives within 2 ms.
async fn answer_any_offer(client: &mut Client, subscriber: &mut Subscriber) {
    let offered =
        tokio::time::timeout(Duration::from_millis(2), client.event("subscriber_offer")).await;
    let Ok(offer) = offered else {
        return;
    };
    let data = &offer["data"];
    let sdp = data["sdp"].as_str().expect("offer sdp");
    let offer = SdpOffer::from_sdp_string(sdp).expect("server offer parses");
    let answer = subscriber
        .client
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .expect("the subscriber accepts the offer");
    let answered = client
        .call(
            "subscriber_answer",
            json!({"sdp": answer.to_sdp_string(), "version": data["version"]}),
        )
        .await;
    ok_result(&answered);
}

// Two rooms on one shard (`--shards 1`): participant ids are counted per room, so room B's
// first participant has the same id as room A's. Each room's host publishes and each room's
// visitor receives its own host's media.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_on_one_shard_each_carry_their_own_media() {
    crate::support::peer::init_log();
    let config = sfu::Config {
        shards: std::num::NonZeroUsize::MIN,
        ..sfu::Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let mut host_a = server.client().await;
    let id_a = self_id(&host_a.join("media-9a", "host", Role::Host).await);
    let mut host_b = server.client().await;
    let id_b = self_id(&host_b.join("media-9b", "host", Role::Host).await);
    // The collision this test is about: both rooms' first participants share an id.
    assert_eq!(id_a, id_b);
    let mut visitor_a = server.client().await;
    visitor_a.join("media-9a", "ada", Role::Visitor).await;
    let mut visitor_b = server.client().await;
    visitor_b.join("media-9b", "bob", Role::Visitor).await;

    let mut publishers = [
        start_publishing(&mut host_a, false).await,
        start_publishing(&mut host_b, false).await,
    ];
    let mut subscribers = [(); 2].map(|()| Subscriber {
        client: Peer::new(),
        streams: BTreeMap::new(),
    });
    let until = crate::support::peer::now() + Duration::from_secs(15);
    let has_media = |s: &Subscriber| s.count(RtcCodec::Opus) >= 25 && s.count(RtcCodec::Vp8) >= 15;
    while !subscribers.iter().all(has_media) {
        assert!(
            crate::support::peer::now() < until,
            "no media at a visitor: publishers connected {:?}, visitors connected {:?}, \
             (audio, video) {:?}",
            publishers.each_ref().map(|p| p.client.connected),
            subscribers.each_ref().map(|s| s.client.connected),
            subscribers
                .each_ref()
                .map(|s| (s.count(RtcCodec::Opus), s.count(RtcCodec::Vp8))),
        );
        for p in &mut publishers {
            p.step(false);
        }
        for s in &mut subscribers {
            s.step();
        }
        answer_any_offer(&mut visitor_a, &mut subscribers[0]).await;
        answer_any_offer(&mut visitor_b, &mut subscribers[1]).await;
    }
    for s in &subscribers {
        assert_eq!(s.streams.len(), 2, "one audio and one video stream each");
    }
    let (_, metrics) = http_get(server.addr, "/metrics").await;
    let value = |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(value(r#"sfu_publications{kind="camera"}"#), 2.0);
    assert_eq!(value(r#"sfu_subscriptions{kind="camera"}"#), 2.0);
    still_serves(&mut host_a).await;
    still_serves(&mut host_b).await;
}
