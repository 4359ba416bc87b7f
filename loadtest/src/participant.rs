//! A synthetic participant: the signalling socket, an optional publisher and an optional
//! subscriber, and the event loop that answers subscriber offers and tracks the participant's
//! location. This is what the load tester runs many of, and what the server's end-to-end
//! tests use as a client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), loadtest::ClientError> {
//! use loadtest::{Participant, ParticipantConfig, PublisherConfig};
//! let mut alice = Participant::join(ParticipantConfig::new("ws://127.0.0.1:7880", "demo", "alice")).await?;
//! alice.publish(&PublisherConfig::simulcast(1)).await?;
//! let bob = Participant::join(ParticipantConfig::new("ws://127.0.0.1:7880", "demo", "bob")).await?;
//! tokio::time::sleep(std::time::Duration::from_secs(3)).await;
//! let stats = bob.subscriber_stats().expect("bob subscribes");
//! assert!(stats.tracks.values().any(|t| t.publisher == 1));
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use signalling_proto::{
    Event, MediaKind, ParticipantId, RoomJoined, StreamId, SubscriptionPreference,
    SubscriptionPreferencesArgs,
};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::client_error::ClientError;
use crate::impair_relay::LinkCounters;
use crate::location::{GroupNumbers, Whereabouts};
use crate::publisher::{Publisher, PublisherConfig, SendCounters};
use crate::signalling::{fetch_dev_token, Events, Joined, Signalling};
use crate::subscriber::{Subscriber, SubscriberConfig, SubscriberStats};
use signalling_proto::Command;

/// How to join.
#[derive(Debug, Clone)]
pub struct ParticipantConfig {
    /// `ws://host:port` of the SFU.
    pub url: String,
    pub room: String,
    pub identity: String,
    /// Token role: `host`, `visitor`, ... (spec §4.1).
    pub role: String,
    /// A join token; `None` asks the development server's `/dev/token`.
    pub token: Option<String>,
    /// Open a subscriber transport and answer the server's offers.
    pub subscribe: bool,
    pub subscriber: SubscriberConfig,
    /// Session id -> group number, shared by every participant of one run.
    pub groups: GroupNumbers,
}

impl ParticipantConfig {
    /// A subscribing visitor with a development token, no injected loss.
    pub fn new(url: &str, room: &str, identity: &str) -> Self {
        Self {
            url: url.to_owned(),
            room: room.to_owned(),
            identity: identity.to_owned(),
            role: "visitor".to_owned(),
            token: None,
            subscribe: true,
            subscriber: SubscriberConfig::new(1),
            groups: GroupNumbers::default(),
        }
    }
}

/// The set of streams the server says this participant may receive (`subscriptions_changed`).
pub type AllowedStreams = Arc<Mutex<HashSet<(ParticipantId, StreamId, MediaKind)>>>;

/// A joined synthetic participant.
#[derive(Debug)]
pub struct Participant {
    pub signalling: Arc<Signalling>,
    pub joined: Box<RoomJoined>,
    pub whereabouts: Arc<Whereabouts>,
    pub allowed: AllowedStreams,
    subscriber_stats: Option<Arc<Mutex<SubscriberStats>>>,
    publisher: Option<Publisher>,
    events_task: JoinHandle<()>,
    /// The signalling URL of the node that runs the room (the `--url` one unless a cluster
    /// sent the join elsewhere).
    node_url: String,
}

impl Participant {
    /// The signalling URL of the node this participant joined at.
    pub fn node_url(&self) -> &str {
        &self.node_url
    }

    /// Opens the WebSocket, joins, and (when subscribing) starts answering subscriber offers.
    pub async fn join(config: ParticipantConfig) -> Result<Participant, ClientError> {
        let token = match &config.token {
            Some(token) => token.clone(),
            None => {
                fetch_dev_token(&config.url, &config.room, &config.identity, &config.role).await?
            }
        };
        let started = Instant::now();
        let whereabouts = Arc::new(Whereabouts::new(Arc::clone(&config.groups)));
        // The subscriber transport exists before the join so that no offer finds it missing.
        let subscriber = if config.subscribe {
            Some(
                Subscriber::new(config.subscriber.clone(), Arc::clone(&whereabouts), started)
                    .await?,
            )
        } else {
            None
        };
        // A cluster node that does not run the room sends the join to the one that does.
        let Joined {
            signalling,
            events,
            joined,
            node_url,
            ..
        } = Signalling::connect_and_join(&config.url, &config.room, &token, &config.identity)
            .await?;
        let signalling = Arc::new(signalling);
        whereabouts.moved_to(&joined.breakout.own.location);
        let allowed = AllowedStreams::default();
        let subscriber_stats = subscriber.as_ref().map(|s| Arc::clone(s.stats()));
        let events_task = tokio::spawn(handle_events(
            events,
            Arc::clone(&signalling),
            subscriber,
            joined.self_id.clone(),
            Arc::clone(&whereabouts),
            Arc::clone(&allowed),
        ));
        Ok(Participant {
            signalling,
            joined,
            node_url,
            whereabouts,
            allowed,
            subscriber_stats,
            publisher: None,
            events_task,
        })
    }

    /// The server's id for this participant.
    pub fn id(&self) -> &ParticipantId {
        &self.joined.self_id
    }

    /// Starts publishing (PROTOCOL.md §4.1 step 2); returns when the transport is connected
    /// and media flows.
    pub async fn publish(&mut self, config: &PublisherConfig) -> Result<(), ClientError> {
        let publisher =
            Publisher::start(&self.signalling, config, Arc::clone(&self.whereabouts)).await?;
        self.publisher = Some(publisher);
        Ok(())
    }

    /// What the publisher sent so far (`None` when not publishing).
    pub fn send_counters(&self) -> Option<&Arc<SendCounters>> {
        self.publisher.as_ref().map(Publisher::counters)
    }

    /// The publisher transport's impairment relay counters (`None`: not publishing through
    /// one).
    pub fn uplink_counters(&self) -> Option<&Arc<LinkCounters>> {
        self.publisher.as_ref().and_then(Publisher::link_counters)
    }

    /// A copy of what the subscriber measured (`None` when not subscribing).
    pub fn subscriber_stats(&self) -> Option<SubscriberStats> {
        self.subscriber_stats
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Sends `set_subscription_preferences` with one preference.
    pub async fn set_preference(
        &self,
        preference: SubscriptionPreference,
    ) -> Result<(), ClientError> {
        self.signalling
            .request(Command::SetSubscriptionPreferences(
                SubscriptionPreferencesArgs {
                    preferences: vec![preference],
                },
            ))
            .await
            .map(drop)
    }

    /// Leaves the room (`leave_room`: the server releases the participant at once, rather than
    /// after the reconnect grace a dropped socket gets), then closes everything.
    pub async fn leave(self) -> Result<(), ClientError> {
        let left = self
            .signalling
            .request(Command::LeaveRoom(signalling_proto::Empty {}))
            .await
            .map(drop);
        self.close().await;
        left
    }

    /// Closes the publisher transport and the socket without leaving: the server keeps the
    /// participant through its reconnect grace.
    pub async fn close(self) {
        if let Some(publisher) = self.publisher {
            publisher.close().await;
        }
        self.signalling.close();
        self.events_task.abort();
    }
}

async fn handle_events(
    mut events: Events,
    signalling: Arc<Signalling>,
    mut subscriber: Option<Subscriber>,
    self_id: ParticipantId,
    whereabouts: Arc<Whereabouts>,
    allowed: AllowedStreams,
) {
    while let Some(message) = events.recv().await {
        match message.event {
            Event::SubscriberOffer(offer) => match subscriber.as_mut() {
                Some(subscriber) => {
                    if let Err(error) = subscriber.answer(&signalling, offer).await {
                        warn!(%error, "answering a subscriber offer failed");
                    }
                }
                None => warn!("subscriber offer to a participant that does not subscribe"),
            },
            Event::SubscriptionsChanged(change) => {
                let mut allowed = allowed.lock().unwrap_or_else(|p| p.into_inner());
                for s in change.removed {
                    for kind in s.kinds {
                        allowed.remove(&(s.participant_id.clone(), s.stream_id.clone(), kind));
                    }
                }
                for s in change.added {
                    for kind in s.kinds {
                        allowed.insert((s.participant_id.clone(), s.stream_id.clone(), kind));
                    }
                }
            }
            Event::BreakoutLocationChanged(change) => {
                if change.participant_id == self_id {
                    whereabouts.moved_to(&change.to);
                } else {
                    whereabouts.someone_moved();
                }
            }
            _ => {}
        }
    }
    if let Some(subscriber) = subscriber {
        subscriber.close().await;
    }
}
