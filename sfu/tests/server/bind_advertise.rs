//! Bind and advertise are separate (DECISIONS.md §23): a server whose media sockets bind every
//! interface advertises only `--public-ip`, and a real WebRTC client that knows nothing but the
//! advertised address (from the SDP answer) publishes and receives through it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::support::peer::{Client as Peer, Publisher, Subscriber};
use crate::support::ws::*;
use serde_json::json;
use sfu::Config;
use signalling_proto::Role;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec as RtcCodec;

const ADVERTISED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The addresses of the candidates in an SDP.
fn candidate_addrs(sdp: &str) -> Vec<SocketAddr> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: IpAddr = words.nth(4)?.parse().ok()?;
            let port: u16 = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, port))
        })
        .collect()
}

// Bound to 0.0.0.0 and advertising 127.0.0.2: every candidate the server hands out is
// 127.0.0.2, every datagram the clients receive comes from 127.0.0.2 (not the 127.0.0.1 the
// kernel would pick for a reply), and audio and simulcast video reach the subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_bound_to_every_interface_serves_a_client_that_knows_only_the_advertised_address() {
    crate::support::peer::init_log();
    let config = Config {
        rtc_bind: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        public_ip: vec![ADVERTISED],
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let mut host = server.client().await;
    host.join("bind-1", "host", Role::Host).await;
    let mut ada = server.client().await;
    ada.join("bind-1", "ada", Role::Visitor).await;

    let (mut publisher, offer, pending) = Publisher::new(true);
    let answer = host
        .call("publisher_offer", json!({"sdp": offer.to_sdp_string()}))
        .await;
    let sdp = ok_result(&answer)["sdp"].as_str().expect("answer sdp");
    let advertised = candidate_addrs(sdp);
    assert!(!advertised.is_empty(), "{sdp}");
    assert!(advertised.iter().all(|a| a.ip() == ADVERTISED), "{sdp}");
    publisher
        .client
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(sdp).expect("answer parses"),
        )
        .expect("publisher accepts the answer");

    let mut subscriber = Subscriber {
        client: Peer::new(),
        streams: BTreeMap::new(),
    };
    let until = crate::support::peer::now() + Duration::from_secs(15);
    while subscriber.count(RtcCodec::Opus) < 25 || subscriber.count(RtcCodec::Vp8) < 15 {
        assert!(
            crate::support::peer::now() < until,
            "no media at the visitor: publisher connected {}, visitor connected {}, sources \
             {:?} / {:?}",
            publisher.client.connected,
            subscriber.client.connected,
            publisher.client.sources,
            subscriber.client.sources,
        );
        publisher.step(true);
        subscriber.step();
        let offered =
            tokio::time::timeout(Duration::from_millis(2), ada.event("subscriber_offer")).await;
        if let Ok(offer) = offered {
            let data = &offer["data"];
            let sdp = data["sdp"].as_str().expect("offer sdp");
            assert!(
                candidate_addrs(sdp).iter().all(|a| a.ip() == ADVERTISED),
                "{sdp}"
            );
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
    for client in [&publisher.client, &subscriber.client] {
        assert!(
            client.sources.iter().all(|s| s.ip() == ADVERTISED),
            "answered from {:?}",
            client.sources
        );
    }
}
