//! How the shard loop applies each `Command` from its handle: between two datagrams, never
//! inside a packet's fan-out, so the reply is the ack that the change governs every later
//! packet (spec §13.3).

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};

use crate::core::{ParticipantId, PublicationId, SubscriptionId};
use crate::shard::command::{
    AnnouncedTrack, Command, Preference, Reply, Subscribed, SubscriberOffer,
};
use crate::shard::downlink::Downlink;
use crate::shard::error::ShardError;
use crate::shard::participant_state::ParticipantState;
use crate::shard::peer::{Peer, Role};
use crate::shard::room::{ShardRoom, SubscriptionInfo};
use crate::shard::room_id::RoomId;
use crate::shard::stats::ShardStats;
use crate::shard::transport_kind::TransportKind;
use crate::shard::uplink::Uplink;

use super::ShardLoop;

impl ShardLoop {
    pub(super) fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::AddParticipant {
                room,
                participant,
                reply,
            } => {
                let r = self.add_participant(now, room, participant);
                answer(reply, r);
            }
            Command::PublisherOffer {
                room,
                participant,
                sdp,
                tracks,
                reply,
            } => {
                let r = self.publisher_offer(now, (room, participant), &sdp, tracks);
                answer(reply, r);
            }
            Command::SetPreferences {
                room,
                participant,
                preferences,
                reply,
            } => {
                let r = self.set_preferences(now, (room, participant), &preferences);
                answer(reply, r);
            }
            Command::UpdateSubscriptions {
                room,
                participant,
                add,
                remove,
                reply,
            } => {
                let r = self.update_subscriptions(now, (room, participant), &add, &remove);
                answer(reply, r);
            }
            Command::SubscriberAnswer {
                room,
                participant,
                sdp,
                reply,
            } => {
                let r = self.subscriber_answer(now, (room, participant), &sdp);
                answer(reply, r);
            }
            Command::InstallPolicy {
                room,
                policy,
                reply,
            } => {
                let r = match self.rooms.get_mut(&room) {
                    Some(r) => {
                        r.core.install_policy(now, policy);
                        Ok(r.core.policy_version())
                    }
                    None => Err(ShardError::UnknownRoom),
                };
                // The install's keyframe requests go out before the ack.
                self.drain_core(room, now);
                answer(reply, r);
            }
            Command::RemoveParticipant {
                room,
                participant,
                reply,
            } => {
                let r = self.remove_participant(now, (room, participant));
                answer(reply, r);
            }
            Command::RelayCandidate {
                room,
                participant,
                transport,
                addr,
                reply,
            } => {
                let r = self.relay_candidate((room, participant), transport, addr);
                answer(reply, r);
            }
            Command::Stats { reply } => {
                let r = Ok(self.stats());
                answer(reply, r);
            }
            Command::Shutdown { reply } => answer(reply, Ok(())),
        }
        self.reap_failed(now);
    }

    fn stats(&self) -> ShardStats {
        let mut stats = ShardStats {
            core: self.retired_core,
            rooms: self.rooms.len(),
            participants: self.participants.len(),
            peers: self.peers.len(),
            publications: 0,
            subscriptions: 0,
            publications_by_kind: [0; 4],
            subscriptions_by_kind: [0; 4],
            paused_subscriptions: 0,
            events_dropped: self.events.dropped(),
            tcp_connections: self.tcp.open(),
            tcp_closed: self.tcp.closed,
            ..self.stats
        };
        for room in self.rooms.values() {
            room.count(&mut stats);
        }
        stats
    }

    fn add_participant(
        &mut self,
        now: Instant,
        room_id: RoomId,
        participant: ParticipantId,
    ) -> Result<(), ShardError> {
        if self.participants.contains_key(&(room_id, participant)) {
            return Err(ShardError::ParticipantExists);
        }
        let core_config = &self.core_config;
        let room = self
            .rooms
            .entry(room_id)
            .or_insert_with(|| ShardRoom::new(core_config.clone(), now));
        room.participants.push(participant);
        let downlink = room.core.add_downlink(participant);
        self.participants.insert(
            (room_id, participant),
            ParticipantState {
                joined_at: now,
                downlink,
                publisher: None,
                subscriber: None,
            },
        );
        Ok(())
    }

    fn publisher_offer(
        &mut self,
        now: Instant,
        (room_id, participant): (RoomId, ParticipantId),
        sdp: &str,
        tracks: Vec<AnnouncedTrack>,
    ) -> Result<String, ShardError> {
        let state = self
            .participants
            .get(&(room_id, participant))
            .ok_or(ShardError::UnknownParticipant)?;
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| ShardError::BadSdp(e.to_string()))?;
        let key = match state.publisher {
            Some(k) => k,
            None => {
                let peer = Peer::new(
                    now,
                    &self.setup,
                    participant,
                    room_id,
                    Role::Uplink(Uplink::default()),
                )
                .map_err(|f| ShardError::TransportFailed(f.0))?;
                let key = self.peers.insert(peer);
                if let Some(s) = self.participants.get_mut(&(room_id, participant)) {
                    s.publisher = Some(key);
                }
                key
            }
        };
        let peer = &mut self.peers[key];
        let answer = match peer.guard_uplink(|u, rtc| u.accept_offer(rtc, offer, tracks)) {
            Ok(Some(Ok(a))) => a,
            Ok(Some(Err(e))) => return Err(ShardError::BadSdp(e.to_string())),
            // Cannot happen: a participant's `publisher` is its publisher transport.
            Ok(None) => return Err(ShardError::UnknownParticipant),
            Err(fault) => return Err(self.transport_failed(key, fault)),
        };
        self.mark_dirty(key);
        Ok(answer.to_sdp_string())
    }

    fn set_preferences(
        &mut self,
        now: Instant,
        (room_id, participant): (RoomId, ParticipantId),
        preferences: &[Preference],
    ) -> Result<(), ShardError> {
        let state = self
            .participants
            .get(&(room_id, participant))
            .ok_or(ShardError::UnknownParticipant)?;
        let own = |sid: SubscriptionId| {
            state
                .subscriber
                .and_then(|key| self.peers.get(key))
                .and_then(|p| p.downlink())
                .is_some_and(|d| d.carries(sid))
        };
        if !preferences.iter().all(|p| own(p.subscription)) {
            return Err(ShardError::UnknownPublication);
        }
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        for p in preferences {
            room.core
                .set_requested(now, p.subscription, p.requested)
                .and_then(|()| room.core.set_priority(now, p.subscription, p.priority))
                .map_err(|_| ShardError::UnknownPublication)?;
        }
        self.drain_core(room_id, now);
        Ok(())
    }

    fn update_subscriptions(
        &mut self,
        now: Instant,
        (room_id, participant): (RoomId, ParticipantId),
        add: &[PublicationId],
        remove: &[SubscriptionId],
    ) -> Result<Option<SubscriberOffer>, ShardError> {
        let state = self
            .participants
            .get(&(room_id, participant))
            .ok_or(ShardError::UnknownParticipant)?;
        let (downlink, joined_at) = (state.downlink, state.joined_at);
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        let mut adds = Vec::with_capacity(add.len());
        for &p in add {
            let info = room
                .publications
                .get(p)
                .ok_or(ShardError::UnknownPublication)?;
            adds.push((p, info.participant, info.stream));
        }
        let key = match state.subscriber {
            Some(k) => k,
            None => {
                if adds.is_empty() {
                    return Ok(None);
                }
                let peer = Peer::new(
                    now,
                    &self.setup,
                    participant,
                    room_id,
                    Role::Downlink(Downlink::new(downlink, joined_at)),
                )
                .map_err(|f| ShardError::TransportFailed(f.0))?;
                let key = self.peers.insert(peer);
                room.downlink_peers.insert(downlink, key);
                if let Some(s) = self.participants.get_mut(&(room_id, participant)) {
                    s.subscriber = Some(key);
                }
                key
            }
        };
        let peer = &mut self.peers[key];
        if peer.downlink().is_some_and(|d| d.offer_pending()) {
            return Err(ShardError::OfferPending);
        }
        for &sid in remove {
            if room.subscriptions.remove(sid).is_some() {
                let _ = room.core.unsubscribe(sid);
            }
        }
        let made = peer
            .guard_downlink(|d, rtc| d.create_offer(rtc, remove, &adds))
            .map(Option::flatten);
        match made {
            Ok(sdp) => {
                self.mark_dirty(key);
                self.drain_core(room_id, now);
                Ok(sdp.map(|sdp| SubscriberOffer { sdp }))
            }
            Err(fault) => Err(self.transport_failed(key, fault)),
        }
    }

    fn subscriber_answer(
        &mut self,
        now: Instant,
        (room_id, participant): (RoomId, ParticipantId),
        sdp: &str,
    ) -> Result<Vec<Subscribed>, ShardError> {
        let state = self
            .participants
            .get(&(room_id, participant))
            .ok_or(ShardError::UnknownParticipant)?;
        let downlink = state.downlink;
        let key = state.subscriber.ok_or(ShardError::NoOfferPending)?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| ShardError::BadSdp(e.to_string()))?;
        let room = self
            .rooms
            .get_mut(&room_id)
            .ok_or(ShardError::UnknownRoom)?;
        let peer = self.peers.get_mut(key).ok_or(ShardError::NoOfferPending)?;
        let publications = &room.publications;
        let codec_of = |p: PublicationId| publications.get(p).map(|info| info.codec);
        let applied = peer.guard_downlink(|d, rtc| d.accept_answer(rtc, answer, codec_of));
        let streams = match applied {
            Ok(Some(r)) => r?,
            Ok(None) => return Err(ShardError::NoOfferPending),
            Err(fault) => return Err(self.transport_failed(key, fault)),
        };
        let mut subscribed = Vec::with_capacity(streams.len());
        for (publication, track) in streams {
            let Ok(subscription) = room.core.subscribe(now, downlink, publication, *track.ssrc)
            else {
                continue;
            };
            room.subscriptions.insert(
                subscription,
                SubscriptionInfo {
                    publication,
                    peer: key,
                    layer: None,
                },
            );
            if let Some(d) = self.peers[key].downlink_mut() {
                d.add_subscription(subscription, track);
            }
            subscribed.push(Subscribed {
                publication,
                subscription,
            });
        }
        self.mark_dirty(key);
        self.drain_core(room_id, now);
        Ok(subscribed)
    }

    /// Remembers a relay candidate's address on the transport it was trickled for; one
    /// trickled before its transport exists is forgotten (the client queues its publisher
    /// candidates until the answer, and trickles subscriber ones after its answer).
    fn relay_candidate(
        &mut self,
        key: (RoomId, ParticipantId),
        transport: TransportKind,
        addr: SocketAddr,
    ) -> Result<(), ShardError> {
        let state = self
            .participants
            .get(&key)
            .ok_or(ShardError::UnknownParticipant)?;
        let peer = match transport {
            TransportKind::Publisher => state.publisher,
            TransportKind::Subscriber => state.subscriber,
        };
        if let Some(peer) = peer.and_then(|k| self.peers.get_mut(k)) {
            peer.add_relay_addr(addr);
        }
        Ok(())
    }

    fn remove_participant(
        &mut self,
        now: Instant,
        (room_id, participant): (RoomId, ParticipantId),
    ) -> Result<(), ShardError> {
        let state = self
            .participants
            .remove(&(room_id, participant))
            .ok_or(ShardError::UnknownParticipant)?;
        for key in [state.publisher, state.subscriber].into_iter().flatten() {
            self.remove_peer(now, key);
        }
        if let Some(room) = self.rooms.get_mut(&room_id) {
            let _ = room.core.remove_downlink(state.downlink);
            room.participants.retain(|p| *p != participant);
            if room.participants.is_empty() {
                if let Some(closed) = self.rooms.remove(&room_id) {
                    self.retired_core.accumulate(closed.core.stats());
                }
                return Ok(());
            }
        }
        self.drain_core(room_id, now);
        Ok(())
    }
}

fn answer<T>(reply: Reply<T>, result: Result<T, ShardError>) {
    // The caller may have given up waiting; the change is applied either way.
    let _ = reply.send(result);
}
