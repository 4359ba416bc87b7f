//! `ShardRoom`: one room's media on a shard: its `MediaCore`, and what the shell keeps beside it
//! (the transport of each downlink, publication and subscription, and who is speaking).
//!
//! The core knows publications, subscriptions and downlinks by slab key; these maps take the
//! same keys, so the packet path finds a forward's transport by index, with no hashing.

use std::time::Instant;

use slotmap::SecondaryMap;

use super::peer::PeerKey;
use super::speakers::SpeakerMeter;
use super::stats::{publication_kind, ShardStats};
use crate::core::{
    Codec, CoreConfig, DownlinkId, Layer, MediaCore, ParticipantId, PublicationId, StreamRef,
    SubscriptionId,
};

#[derive(Debug)]
pub(crate) struct ShardRoom {
    pub core: MediaCore,
    pub participants: Vec<ParticipantId>,
    /// The subscriber transport of each core downlink (slab-indexed: no hashing per forward).
    pub downlink_peers: SecondaryMap<DownlinkId, PeerKey>,
    pub publications: SecondaryMap<PublicationId, PublicationInfo>,
    pub subscriptions: SecondaryMap<SubscriptionId, SubscriptionInfo>,
    pub speakers: SpeakerMeter,
}

/// A publication: the publisher transport it arrives on and what it carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublicationInfo {
    pub peer: PeerKey,
    pub participant: ParticipantId,
    pub stream: StreamRef,
    pub codec: Codec,
}

/// A subscription: the subscriber transport it is written to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriptionInfo {
    pub publication: PublicationId,
    pub peer: PeerKey,
    /// The video layer forwarded last (none before the first, and after a pause), to tell a
    /// layer switch's reason.
    pub layer: Option<Layer>,
}

impl ShardRoom {
    pub(crate) fn new(config: CoreConfig, now: Instant) -> ShardRoom {
        ShardRoom {
            core: MediaCore::new(config, now),
            participants: Vec::new(),
            downlink_peers: SecondaryMap::new(),
            publications: SecondaryMap::new(),
            subscriptions: SecondaryMap::new(),
            speakers: SpeakerMeter::new(now),
        }
    }

    /// Removes a publication and every subscription to it from the core and the maps; the
    /// ended subscriptions, with the transport of each, are appended to `ended`.
    pub(crate) fn remove_publication(
        &mut self,
        publication: PublicationId,
        ended: &mut Vec<(SubscriptionId, PeerKey)>,
    ) {
        let _ = self.core.remove_publication(publication);
        self.publications.remove(publication);
        let subs: Vec<(SubscriptionId, PeerKey)> = self
            .subscriptions
            .iter()
            .filter(|(_, s)| s.publication == publication)
            .map(|(id, s)| (id, s.peer))
            .collect();
        for (sid, sub_peer) in subs {
            self.subscriptions.remove(sid);
            ended.push((sid, sub_peer));
        }
    }

    /// Removes a subscriber transport: its subscriptions and its downlink's transport.
    pub(crate) fn remove_subscriber(
        &mut self,
        downlink: DownlinkId,
        subscriptions: impl Iterator<Item = SubscriptionId>,
    ) {
        for sid in subscriptions {
            let _ = self.core.unsubscribe(sid);
            self.subscriptions.remove(sid);
        }
        self.downlink_peers.remove(downlink);
    }

    /// Adds this room's publications, subscriptions and core counters to `stats`.
    pub(crate) fn count(&self, stats: &mut ShardStats) {
        stats.core.accumulate(self.core.stats());
        stats.publications += self.publications.len();
        stats.subscriptions += self.subscriptions.len();
        for info in self.publications.values() {
            stats.publications_by_kind[publication_kind(info.stream)] += 1;
        }
        for (sid, sub) in &self.subscriptions {
            if let Some(info) = self.publications.get(sub.publication) {
                stats.subscriptions_by_kind[publication_kind(info.stream)] += 1;
            }
            let layers = self.core.layers(sid);
            if layers.is_some_and(|l| l.routed && l.target.is_none()) {
                stats.paused_subscriptions += 1;
            }
        }
    }
}
