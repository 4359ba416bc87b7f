//! `ShardHandle`: how the async side (room actors, sessions) talks to a shard thread.
//!
//! Commands travel over a bounded channel with a oneshot reply each (STYLE.md rule 10: control
//! is never dropped; a full channel makes the caller wait, which is the backpressure). The
//! shard applies a command between two packet batches, so a reply is also the ack that the
//! change governs every later packet (spec §13.3: install the policy, await the ack, then send
//! events).

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::command::{AnnouncedTrack, Command, Preference, Reply, Subscribed, SubscriberOffer};
use super::error::ShardError;
use super::room_id::RoomId;
use super::stats::ShardStats;
use super::transport_kind::TransportKind;
use crate::core::{ForwardingPolicy, ParticipantId, PublicationId, SubscriptionId};

/// A cheap, cloneable handle to one shard thread.
///
/// A participant is named by its room and its id together: ids are counted per room, so two
/// rooms placed on one shard may each have a `p1`.
#[derive(Debug, Clone)]
pub struct ShardHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) tcp_addr: Option<SocketAddr>,
}

impl ShardHandle {
    /// The media UDP address the shard bound (with `--rtc-port 0`, the ephemeral port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ICE-TCP address the shard listens on (`None` with `--rtc-tcp-port off`).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, ShardError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ShardError::ShardGone)?;
        rx.await.map_err(|_| ShardError::ShardGone)?
    }

    /// Places a participant in `room` on this shard (the room is created with its first
    /// participant and removed with its last).
    pub async fn add_participant(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::AddParticipant {
            room,
            participant,
            reply,
        })
        .await
    }

    /// Applies the client's publisher-transport offer and returns the shard's answer (with
    /// `a=rid:… recv` / `a=simulcast:recv` for simulcast video). `tracks` names the stream
    /// of each m-line (`publish_tracks`); an m-line not named there is taken in order: the
    /// first audio and video are the camera stream, later ones screenshares.
    pub async fn publisher_offer(
        &self,
        room: RoomId,
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<AnnouncedTrack>,
    ) -> Result<String, ShardError> {
        self.call(|reply| Command::PublisherOffer {
            room,
            participant,
            sdp,
            tracks,
            reply,
        })
        .await
    }

    /// Sets what a subscriber wants of some of its subscriptions (`set_subscription_preferences`).
    /// A subscription that is not the participant's is `UnknownPublication`, and then none of
    /// the preferences is applied.
    pub async fn set_preferences(
        &self,
        room: RoomId,
        participant: ParticipantId,
        preferences: Vec<Preference>,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::SetPreferences {
            room,
            participant,
            preferences,
            reply,
        })
        .await
    }

    /// Adds m-lines for `add` and removes the subscriptions in `remove`; returns the server
    /// offer to send to the client, or `None` when nothing changed. Subscriptions come into
    /// being when the answer is applied ([`ShardHandle::subscriber_answer`]); removed ones stop
    /// forwarding at once.
    pub async fn update_subscriptions(
        &self,
        room: RoomId,
        participant: ParticipantId,
        add: Vec<PublicationId>,
        remove: Vec<SubscriptionId>,
    ) -> Result<Option<SubscriberOffer>, ShardError> {
        self.call(|reply| Command::UpdateSubscriptions {
            room,
            participant,
            add,
            remove,
            reply,
        })
        .await
    }

    /// Applies the client's answer to the last subscriber offer.
    pub async fn subscriber_answer(
        &self,
        room: RoomId,
        participant: ParticipantId,
        sdp: String,
    ) -> Result<Vec<Subscribed>, ShardError> {
        self.call(|reply| Command::SubscriberAnswer {
            room,
            participant,
            sdp,
            reply,
        })
        .await
    }

    /// Installs a forwarding policy for a room. The reply (the installed version) comes after
    /// the install was applied between two packet batches: the ack of spec §13.3.
    pub async fn install_policy(
        &self,
        room: RoomId,
        policy: ForwardingPolicy,
    ) -> Result<u64, ShardError> {
        self.call(|reply| Command::InstallPolicy {
            room,
            policy,
            reply,
        })
        .await
    }

    /// Removes a participant: both transports, its publications (and every subscription to
    /// them) and its subscriptions.
    pub async fn remove_participant(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::RemoveParticipant {
            room,
            participant,
            reply,
        })
        .await
    }

    /// The address of a relay candidate the client trickled for one of its transports: the
    /// shard needs no client candidate (it is ICE-lite), but a transport that connects from
    /// this address comes through a TURN server (the `relay` candidate type in the metrics).
    pub async fn relay_candidate(
        &self,
        room: RoomId,
        participant: ParticipantId,
        transport: TransportKind,
        addr: SocketAddr,
    ) -> Result<(), ShardError> {
        self.call(|reply| Command::RelayCandidate {
            room,
            participant,
            transport,
            addr,
            reply,
        })
        .await
    }

    pub async fn stats(&self) -> Result<ShardStats, ShardError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// Stops the shard thread (after the reply, the socket is closed).
    pub async fn shutdown(&self) -> Result<(), ShardError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}
