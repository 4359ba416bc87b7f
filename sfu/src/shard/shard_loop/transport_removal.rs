//! Dropping transports: a failed `Rtc` is set aside during a fan-out and removed after it,
//! reported as `TransportFailed`; removing a transport takes what hangs off it out of its
//! room's core and ends the subscriptions that lose their publication.

use std::time::Instant;

use tracing::warn;

use crate::shard::error::ShardError;
use crate::shard::event::ShardEvent;
use crate::shard::peer::{PeerFault, PeerKey, Role};
use crate::shard::transport_kind::TransportKind;

use super::ShardLoop;

impl ShardLoop {
    pub(super) fn fail(&mut self, key: PeerKey, fault: PeerFault) {
        if !self.failed.iter().any(|(k, _)| *k == key) {
            self.failed.push((key, fault));
        }
    }

    /// Fails a transport from inside a command, and names the failure for the command's reply.
    pub(super) fn transport_failed(&mut self, key: PeerKey, fault: PeerFault) -> ShardError {
        let error = ShardError::TransportFailed(fault.0.clone());
        self.fail(key, fault);
        error
    }

    pub(super) fn reap_failed(&mut self, now: Instant) {
        while let Some((key, fault)) = self.failed.pop() {
            let Some(peer) = self.peers.get(key) else {
                continue;
            };
            let (room, participant, transport) = (peer.room, peer.participant, peer.transport());
            warn!(%participant, ?transport, reason = %fault.0, "transport failed, dropping it");
            self.stats.peers_failed += 1;
            self.stats.peer_failure_causes[fault.cause().index()] += 1;
            self.remove_peer(now, key);
            if let Some(s) = self.participants.get_mut(&(room, participant)) {
                match transport {
                    TransportKind::Publisher => s.publisher = None,
                    TransportKind::Subscriber => s.subscriber = None,
                }
            }
            self.events.emit(ShardEvent::TransportFailed {
                room,
                participant,
                transport,
                reason: fault.0,
            });
        }
    }

    /// Removes one transport and what hangs off it in its room's core: a publisher's
    /// publications (with every subscription to them), a subscriber's subscriptions.
    pub(super) fn remove_peer(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.remove(key) else {
            return;
        };
        self.tcp.close_peer(key);
        for addr in &peer.addrs {
            if self.by_addr.get(addr) == Some(&key) {
                self.by_addr.remove(addr);
            }
        }
        let room_id = peer.room;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let mut ended = Vec::new();
        match &peer.role {
            Role::Uplink(u) => {
                for publication in u.publications() {
                    room.remove_publication(publication, &mut ended);
                }
            }
            Role::Downlink(d) => room.remove_subscriber(d.id, d.subscriptions()),
        }
        for (sid, sub_peer) in ended {
            if let Some(p) = self.peers.get_mut(sub_peer) {
                let participant = p.participant;
                if let Some(d) = p.downlink_mut() {
                    d.end(sid);
                }
                self.events.emit(ShardEvent::SubscriptionEnded {
                    room: room_id,
                    participant,
                    subscription: sid,
                });
            }
        }
        self.dirty.retain(|k| *k != key);
        self.drain_core(room_id, now);
    }
}
