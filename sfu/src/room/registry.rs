//! The node's rooms: the [`RoomRegistry`] maps room names to running actors, creates one on the
//! first valid join (spec §3 auto-create) and forgets it when its room session has ended and no
//! socket is bound to it any more. With a cluster it places rooms this node does not run (one
//! store round trip: [`Placed`]) and fences those another node took over; it delivers each
//! shard event to its room.
//!
//! Shard events reach each room on queues of its own, so a busy room never holds back another
//! (STYLE.md rule 16): control events on an unbounded queue (their number is bounded by what
//! the room's participants do, see `shard::events`), speaker samples through the bounded inbox,
//! dropped and counted (`sfu_shard_drops_total{reason="event_channel_full"}`) when it is full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use signalling_proto::{ErrorBody, ErrorCode};
use tokio::sync::mpsc;
use tracing::{debug, info, Instrument};

use crate::cluster::{Cluster, Placement};
use crate::control::RoomPolicy;
use crate::metrics::{Metrics, ShardDropReason};
use crate::room::actor::RoomActor;
use crate::room::handle::{RoomHandle, RoomInput};
use crate::room::media::RoomMedia;
use crate::room::recording::RecorderService;
use crate::room::refusals::{draining_refusal, store_refusal};
use crate::room::transcription::TranscriptionService;
use crate::room::turn_credentials::TurnCredentials;
use crate::shard::{RoomId, ShardEvent, ShardHandle};
use crate::webhook::Webhooks;

/// Inputs waiting for one room actor; senders wait (backpressure) when it is full.
const ROOM_INBOX: usize = 256;

/// The `sfu_shard_drops_total` reason of a telemetry event that found its room's inbox full:
/// the same as the shard's own when its telemetry channel is full.
const TELEMETRY_DROP_REASON: ShardDropReason = ShardDropReason::EventChannelFull;

/// Room name → running actor, shared by every session of the server.
#[derive(Debug, Clone)]
pub struct RoomRegistry {
    inner: Arc<Mutex<RegistryInner>>,
    policy: RoomPolicy,
    /// The media shards rooms are placed on; none in signalling-only tests.
    shards: Arc<[ShardHandle]>,
    /// Where room actors count their rooms, participants and groups.
    metrics: Option<Metrics>,
    /// STUN/TURN servers added to every `join_room` result; none configured: `None`.
    pub(super) turn: Option<Arc<TurnCredentials>>,
    /// Where rooms send what happened in them; `None` without configured webhooks.
    webhooks: Option<Webhooks>,
    /// Placement across nodes; `None` in signalling-only tests (every room is created here).
    cluster: Option<Arc<Cluster>>,
    /// The server's own recorder; `None`: `start_cloud_recording` waits for a `recorder`
    /// client from elsewhere (spec §8.6).
    pub(super) recorder: Option<RecorderService>,
    /// The server's own transcriber; `None`: `start_live_transcription` stays requested.
    pub(super) transcriber: Option<TranscriptionService>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    rooms: HashMap<String, RoomHandle>,
    /// Resume token → room name: `resume` names no room (spec §8.1), so the actor that minted
    /// the token records it here.
    resume: HashMap<String, String>,
    /// Each running room by its instance number, which is also its [`RoomId`] on its shard,
    /// so shard events find their room.
    by_instance: HashMap<u64, RoomHandle>,
    next_instance: u64,
}

impl Default for RoomRegistry {
    fn default() -> Self {
        Self::new(RoomPolicy::default())
    }
}

impl RoomRegistry {
    /// An empty registry without media shards (media commands answer `internal_error`);
    /// new rooms get `policy`.
    pub fn new(policy: RoomPolicy) -> Self {
        Self::with_shards(policy, Vec::new())
    }

    /// An empty registry placing rooms on `shards`.
    pub fn with_shards(policy: RoomPolicy, shards: Vec<ShardHandle>) -> Self {
        Self {
            inner: Arc::default(),
            policy,
            shards: shards.into(),
            metrics: None,
            turn: None,
            webhooks: None,
            cluster: None,
            recorder: None,
            transcriber: None,
        }
    }

    /// Rooms started from now on transcribe with `transcriber` when asked to.
    pub fn with_transcriber(mut self, transcriber: TranscriptionService) -> Self {
        self.transcriber = Some(transcriber);
        self
    }

    /// Rooms started from now on record with `recorder` when asked to.
    pub fn with_recorder(mut self, recorder: RecorderService) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Rooms this node does not run are placed through `cluster` (one store round trip on
    /// their first join here).
    pub fn with_cluster(mut self, cluster: Arc<Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Room actors started from now on report what happens in them to `webhooks`.
    pub fn with_webhooks(mut self, webhooks: Webhooks) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Every `join_room` result from now on carries `turn`'s servers and fresh credentials.
    pub fn with_turn(mut self, turn: TurnCredentials) -> Self {
        self.turn = Some(Arc::new(turn));
        self
    }

    /// Room actors started from now on keep `metrics`' room gauges.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The media shards rooms are placed on.
    pub fn shards(&self) -> &[ShardHandle] {
        &self.shards
    }

    /// Room placement (DECISIONS.md §21: one function, so that placement across nodes can
    /// replace it): a room and all its participants live on one shard, chosen round-robin by
    /// the room's instance number.
    fn place(&self, instance: u64) -> Option<ShardHandle> {
        if self.shards.is_empty() {
            return None;
        }
        let index = usize::try_from(instance).unwrap_or(0) % self.shards.len();
        Some(self.shards[index].clone())
    }

    /// Delivers a shard event to the room it concerns (rooms that stopped are skipped)
    /// without waiting, so one busy room never holds back the others on its shard. A control
    /// event is always queued; a telemetry event that finds the room's inbox full is dropped
    /// and counted (STYLE.md rule 16).
    pub fn dispatch_shard_event(&self, event: ShardEvent) {
        let Some(handle) = self.lock().by_instance.get(&event.room().0).cloned() else {
            return;
        };
        if event.is_control() {
            // Closed only once the actor stopped: a stopped room has no media left to hear about.
            let _ = handle.shard_events.send(event);
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) =
            handle.inbox.try_send(RoomInput::Media(event))
        {
            if let Some(metrics) = &self.metrics {
                metrics.shards.dropped(TELEMETRY_DROP_REASON).inc();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryInner> {
        // The map stays consistent under a panic elsewhere (every update is one insert or
        // remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The running actor of `name`, if any.
    pub fn get(&self, name: &str) -> Option<RoomHandle> {
        self.lock().rooms.get(name).cloned()
    }

    /// The running actor of `name`, started if there is none (spec §3: rooms are created on
    /// the first valid join). Must be called inside a tokio runtime.
    pub fn get_or_create(&self, name: &str) -> RoomHandle {
        self.get_or_start(name, 0)
    }

    fn get_or_start(&self, name: &str, epoch: u64) -> RoomHandle {
        let inner = self.lock();
        if let Some(handle) = inner.rooms.get(name) {
            if !handle.inbox.is_closed() {
                return handle.clone();
            }
        }
        self.start_actor(inner, name, self.policy.clone(), false, epoch)
    }

    /// The room `name` for a `join_room` with a token: the running actor if this node runs
    /// it (no store round trip); otherwise the cluster places it (one round trip) and it
    /// starts here, or the answer is `wrong_node` with the owner's URL, or
    /// `placement_unavailable` when the store cannot answer. `draining`: this node takes no
    /// new room, and says `server_draining` where no other node can take it.
    pub async fn get_or_place(&self, name: &str, draining: bool) -> Result<RoomHandle, ErrorBody> {
        if let Some(handle) = self.get(name).filter(|handle| !handle.inbox.is_closed()) {
            return Ok(handle);
        }
        match self.place_new(name, draining).await? {
            Placed::Here(epoch) => Ok(self.get_or_start(name, epoch)),
            Placed::Elsewhere(placement) => Err(ErrorBody::with_details(
                ErrorCode::WrongNode,
                format!("room {name} runs on node {}: join there", placement.node_id),
                &signalling_proto::WrongNodeDetails {
                    url: placement.url,
                    node_id: placement.node_id,
                },
            )),
        }
    }

    /// Where `name`, which this node does not run, is to live: here (with its epoch; always
    /// without a cluster) or on another node (counted as a redirect), after one store round
    /// trip. The refusals are those of [`Self::get_or_place`].
    pub async fn place_new(&self, name: &str, draining: bool) -> Result<Placed, ErrorBody> {
        let Some(cluster) = &self.cluster else {
            return Ok(Placed::Here(0));
        };
        match cluster.place(name).await {
            Ok(placement) if placement.node_id == cluster.node_id() && !draining => {
                Ok(Placed::Here(placement.epoch))
            }
            Ok(placement) if placement.node_id == cluster.node_id() => Err(draining_refusal()),
            Ok(placement) => {
                if let Some(metrics) = cluster.metrics() {
                    metrics.redirects.inc();
                }
                debug!(room = name, owner = %placement.node_id, "room of another node");
                Ok(Placed::Elsewhere(placement))
            }
            Err(_) if draining => Err(draining_refusal()),
            Err(error) => Err(store_refusal(&error)),
        }
    }

    /// The node that runs `name`, which this node does not run: `None` without a cluster or
    /// when no live node owns it; one store round trip (a read: nothing is placed).
    pub async fn owner_elsewhere(&self, name: &str) -> Result<Option<Placement>, ErrorBody> {
        let Some(cluster) = &self.cluster else {
            return Ok(None);
        };
        match cluster.owner(name).await {
            Ok(Some(owner)) if owner.node_id != cluster.node_id() => {
                if let Some(metrics) = cluster.metrics() {
                    metrics.redirects.inc();
                }
                Ok(Some(owner))
            }
            Ok(_) => Ok(None),
            Err(error) => Err(store_refusal(&error)),
        }
    }

    /// Each running room with the epoch it was placed under, for the heartbeat's claim.
    pub fn room_epochs(&self) -> Vec<(String, u64)> {
        self.lock()
            .rooms
            .values()
            .filter(|handle| !handle.inbox.is_closed())
            .map(|handle| (handle.name.to_string(), handle.epoch))
            .collect()
    }

    /// Drops `name` because another node owns it (fencing): its sockets are told to reconnect.
    pub fn fence(&self, name: &str) {
        if let Some(handle) = self.get(name) {
            let inbox = handle.inbox.clone();
            tokio::spawn(async move {
                // An actor that already stopped has nobody left to tell.
                let _ = inbox.send(RoomInput::Fence).await;
            });
        }
    }

    /// Starts `name` with its own `policy` for the server API, held open while empty until the
    /// API ends it; `None` when a room of that name is running. Must be called inside a tokio
    /// runtime.
    pub fn create(&self, name: &str, policy: RoomPolicy) -> Option<RoomHandle> {
        self.create_placed(name, policy, 0)
    }

    /// [`Self::create`] for a room the cluster placed here under `epoch`.
    pub fn create_placed(&self, name: &str, policy: RoomPolicy, epoch: u64) -> Option<RoomHandle> {
        let inner = self.lock();
        if inner
            .rooms
            .get(name)
            .is_some_and(|handle| !handle.inbox.is_closed())
        {
            return None;
        }
        Some(self.start_actor(inner, name, policy, true, epoch))
    }

    /// The policy rooms get when a join creates them.
    pub fn default_policy(&self) -> &RoomPolicy {
        &self.policy
    }

    /// Every running room, sorted by name.
    pub fn rooms(&self) -> Vec<RoomHandle> {
        let mut rooms: Vec<RoomHandle> = self
            .lock()
            .rooms
            .values()
            .filter(|handle| !handle.inbox.is_closed())
            .cloned()
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    fn start_actor(
        &self,
        mut inner: std::sync::MutexGuard<'_, RegistryInner>,
        name: &str,
        policy: RoomPolicy,
        held: bool,
        epoch: u64,
    ) -> RoomHandle {
        inner.next_instance += 1;
        let instance = inner.next_instance;
        let (tx, rx) = mpsc::channel(ROOM_INBOX);
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let handle = RoomHandle {
            name: Arc::from(name),
            instance,
            epoch,
            inbox: tx.clone(),
            shard_events: media_tx,
        };
        inner.rooms.insert(name.to_owned(), handle.clone());
        inner.by_instance.insert(instance, handle.clone());
        drop(inner);
        let media = self
            .place(instance)
            .map(|shard| RoomMedia::new(shard, RoomId(instance)));
        let mut actor = RoomActor::new(name, policy, self.clone(), instance, tx, media);
        actor.gauges = self.metrics.as_ref().map(Metrics::room_gauges);
        actor.held = held;
        actor.webhooks = self.webhooks.clone();
        if self.recorder.is_some() {
            actor.room.set_recorder_reports_start(true);
        }
        let span = tracing::info_span!("room", room = name);
        tokio::spawn(actor.run(rx, media_rx).instrument(span));
        info!(room = name, "room created");
        handle
    }

    /// The room that minted `resume_token`, if it is still running.
    pub fn room_of_resume_token(&self, resume_token: &str) -> Option<RoomHandle> {
        let inner = self.lock();
        let name = inner.resume.get(resume_token)?;
        inner.rooms.get(name).cloned()
    }

    /// How many rooms are running (for tests and metrics).
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    pub(super) fn remember_resume_token(&self, token: String, room: &str) {
        self.lock().resume.insert(token, room.to_owned());
    }

    pub(super) fn forget_resume_token(&self, token: &str) {
        self.lock().resume.remove(token);
    }

    /// Removes `name` if it is still this actor (a newer one may have replaced it).
    pub(super) fn remove(&self, name: &str, instance: u64) {
        let mut inner = self.lock();
        if inner
            .rooms
            .get(name)
            .is_some_and(|h| h.instance == instance)
        {
            inner.rooms.remove(name);
        }
        let removed = inner.by_instance.remove(&instance);
        inner.resume.retain(|_, room| room != name);
        drop(inner);
        // The room ended here: its owner entry goes, unless a newer placement replaced it.
        if let (Some(cluster), Some(handle)) = (&self.cluster, removed) {
            let cluster = Arc::clone(cluster);
            let name = name.to_owned();
            tokio::spawn(async move { cluster.release(&name, handle.epoch).await });
        }
    }
}

/// Where a room this node does not run is to live ([`RoomRegistry::place_new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Here, under this epoch (0 without a cluster).
    Here(u64),
    /// On another node: the caller is sent there.
    Elsewhere(Placement),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ParticipantId;
    use crate::shard::TransportKind;

    /// A room whose actor is not running: the test holds its queues and takes nothing from
    /// them until it looks.
    struct StalledRoom {
        inbox: mpsc::Receiver<RoomInput>,
        media: mpsc::UnboundedReceiver<ShardEvent>,
    }

    impl StalledRoom {
        fn new(registry: &RoomRegistry, instance: u64) -> Self {
            let (inbox, inbox_rx) = mpsc::channel(ROOM_INBOX);
            let (shard_events, media_rx) = mpsc::unbounded_channel();
            let handle = RoomHandle {
                name: Arc::from(format!("stalled-{instance}").as_str()),
                instance,
                epoch: 0,
                inbox,
                shard_events,
            };
            registry.lock().by_instance.insert(instance, handle);
            Self {
                inbox: inbox_rx,
                media: media_rx,
            }
        }

        /// How many shard events are waiting for the room, on either queue.
        fn shard_events(&mut self) -> usize {
            let mut count = 0;
            while let Ok(RoomInput::Media(_)) = self.inbox.try_recv() {
                count += 1;
            }
            while self.media.try_recv().is_ok() {
                count += 1;
            }
            count
        }
    }

    fn connected(room: u64) -> ShardEvent {
        ShardEvent::TransportConnected {
            room: RoomId(room),
            participant: ParticipantId(room),
            transport: TransportKind::Publisher,
        }
    }

    // A room that does not take its shard events does not hold back those of another room on
    // the same shard, and none of its own is lost.
    #[tokio::test]
    async fn a_stalled_room_does_not_hold_back_other_rooms_events() {
        let registry = RoomRegistry::default();
        let mut stalled = StalledRoom::new(&registry, 1);
        let mut quiet = StalledRoom::new(&registry, 2);
        let events = 2 * ROOM_INBOX;
        for _ in 0..events {
            registry.dispatch_shard_event(connected(1));
        }
        registry.dispatch_shard_event(connected(2));
        assert_eq!(quiet.shard_events(), 1);
        assert_eq!(stalled.shard_events(), events);
    }

    // A speaker sample for a room whose inbox is full is dropped and counted, never waited
    // for.
    #[tokio::test]
    async fn telemetry_for_a_full_room_is_dropped_and_counted() {
        let metrics = Metrics::new().expect("metrics");
        let registry = RoomRegistry::default().with_metrics(metrics.clone());
        let mut stalled = StalledRoom::new(&registry, 1);
        let speakers = || ShardEvent::Speakers {
            room: RoomId(1),
            speakers: vec![(ParticipantId(1), 30)],
        };
        for _ in 0..ROOM_INBOX + 3 {
            registry.dispatch_shard_event(speakers());
        }
        assert_eq!(stalled.shard_events(), ROOM_INBOX);
        let dropped = metrics.shards.dropped(TELEMETRY_DROP_REASON).get();
        assert_eq!(dropped, 3);
    }
}
