//! Stopped m-lines are recycled (issue 19; RFC 8829 §5.2.2, vendor/str0m/PATCHES.md patch 4):
//! a subscriber moved in and out of a breakout session again and again keeps an SDP of the
//! same size, and media flows on the recycled m-lines.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use signalling_proto::Role;

use crate::support::api::*;
use crate::support::media_session::*;
use crate::support::peer::{Client as Peer, Subscriber};
use crate::support::ws::*;

/// The m-lines of an SDP.
fn m_lines(sdp: &str) -> usize {
    sdp.lines().filter(|l| l.starts_with("m=")).count()
}

// Cy is moved four times into ada's breakout session and out of it. Each move out stops the
// m-lines of ada's audio and video, each move in adds two: without recycling the offer grows
// by two m-lines a round (1 + 2 x 4 = 9); recycled, it stays at the data channel plus two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_in_and_out_keep_the_subscriber_sdp_the_same_size() {
    crate::support::peer::init_log();
    let server = TestServer::start().await;
    let api = Api::new(server.addr);
    let (status, _) = api.post("/rooms", json!({"name": "recycle"})).await;
    assert_eq!(status, 201);
    let mut ada = server.client().await;
    let ada_id = self_id(&join_capable(&mut ada, "recycle", "ada", Role::Visitor).await);
    let mut cy = server.client().await;
    let cy_id = self_id(&join_capable(&mut cy, "recycle", "cy", Role::Visitor).await);
    let publisher = start_publishing(&mut ada, false).await;
    let mut media = Media {
        ada,
        publisher,
        cy,
        subscriber: Subscriber {
            client: Peer::new(),
            streams: BTreeMap::new(),
        },
        offers: Vec::new(),
    };

    let base = "/rooms/recycle/breakout";
    api.ok(&format!("{base}/enable"), json!({})).await;
    api.ok(
        &format!("{base}/configure"),
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    let sessions = api
        .ok(&format!("{base}/sessions"), json!({"count": 2}))
        .await;
    let id = |i: usize| {
        sessions["sessions"][i]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (s1, s2) = (id(0), id(1));
    api.ok(
        &format!("{base}/assign"),
        json!({"assignments": [{"sessionId": s1, "participantIds": [ada_id, cy_id]}]}),
    )
    .await;
    api.ok(&format!("{base}/start"), json!({})).await;

    for round in 0..4 {
        for (target, together) in [(&s2, false), (&s1, true)] {
            api.ok(
                &format!("{base}/move"),
                json!({"participantIds": [cy_id], "target": target}),
            )
            .await;
            let received = media.second_after(Duration::from_millis(700)).await;
            if together {
                assert!(
                    received >= 40,
                    "round {round}: cy back with ada receives {received} packets"
                );
            } else {
                assert_eq!(received, 0, "round {round}: cy apart still receives ada");
            }
        }
    }

    let sizes: Vec<usize> = media.offers.iter().map(|sdp| m_lines(sdp)).collect();
    // The first move may come before cy answered its first offer and fold into it, so
    // at least three rounds each stop and add; each add names two new mids (plus the data
    // channel's).
    let mids: std::collections::BTreeSet<&str> = media
        .offers
        .iter()
        .flat_map(|sdp| sdp.lines().filter_map(|l| l.strip_prefix("a=mid:")))
        .collect();
    assert!(
        sizes.len() >= 6 && mids.len() > 2 * 3,
        "three rounds renegotiate at least six times with new mids: {sizes:?}, {mids:?}"
    );
    assert!(
        sizes.iter().all(|&n| n <= 3),
        "the subscriber SDP grew: m-lines per offer {sizes:?}"
    );
}
