//! Real media over a whole server, for tests that move people around: a publisher (ada) and a
//! subscriber (cy) driven together, with cy's subscriber offers answered as they come.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signalling_proto::Role;
use str0m::change::{SdpAnswer, SdpOffer};

use super::peer::{Publisher, Subscriber};
use super::ws::*;

/// Joins `room` as `identity` with the breakouts capability; the `room_joined` response.
pub async fn join_capable(client: &mut Client, room: &str, identity: &str, role: Role) -> Value {
    let mut args = join_args(room, &token(room, identity, role));
    args["capabilities"]["breakouts"] = json!(true);
    client.call("join_room", args).await
}

/// Answers a `subscriber_offer` for `subscriber` if one arrives within 2 ms; the offer's SDP.
pub async fn answer_any_offer(client: &mut Client, subscriber: &mut Subscriber) -> Option<String> {
    let offered =
        tokio::time::timeout(Duration::from_millis(2), client.event("subscriber_offer")).await;
    let Ok(offer) = offered else {
        return None;
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
    Some(sdp.to_owned())
}

/// Publishes a camera for `client`: three simulcast layers or one.
pub async fn start_publishing(client: &mut Client, simulcast: bool) -> Publisher {
    let (mut publisher, offer, pending) = Publisher::new(simulcast);
    let answer = client
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
    publisher
}

/// A publisher and a subscriber with their sockets, driven together.
pub struct Media {
    pub ada: Client,
    pub publisher: Publisher,
    pub cy: Client,
    pub subscriber: Subscriber,
    /// Every subscriber offer cy answered, in order.
    pub offers: Vec<String>,
}

impl Media {
    /// Runs media for `length`.
    pub async fn run_for(&mut self, length: Duration) {
        let until = crate::support::peer::now() + length;
        while crate::support::peer::now() < until {
            self.publisher.step(false);
            self.subscriber.step();
            if let Some(sdp) = answer_any_offer(&mut self.cy, &mut self.subscriber).await {
                self.offers.push(sdp);
            }
        }
    }

    /// Packets cy received in `[from, from + length)`.
    pub fn received(&self, from: Instant, length: Duration) -> usize {
        self.subscriber
            .streams
            .values()
            .map(|r| r.count_between(from, length))
            .sum()
    }

    /// Runs one second after `settle` and returns what cy received in that second.
    pub async fn second_after(&mut self, settle: Duration) -> usize {
        self.run_for(settle).await;
        let from = crate::support::peer::now();
        self.run_for(Duration::from_secs(1)).await;
        self.received(from, Duration::from_secs(1))
    }
}
