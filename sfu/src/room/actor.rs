//! One task per room (ARCHITECTURE.md §2): a [`RoomActor`] owns one sans-IO
//! [`control::Room`], takes the sessions' inputs over a bounded channel one at a time, and
//! executes the room's effects in order after each input. The [`RoomRegistry`] maps room names
//! to running actors, creates one on the first valid join (spec §3 auto-create) and forgets it
//! when its room session has ended and no socket is bound to it any more.
//!
//! Nothing here awaits a session: frames go into each connection's bounded outgoing queue with
//! `try_send`, and a connection whose queue is full is disconnected rather than blocking the
//! room or dropping a control message silently (STYLE.md rule 10).
//!
//! Shard events reach each room on queues of its own, so a busy room never holds back another
//! (STYLE.md rule 16): control events on an unbounded queue (their number is bounded by what
//! the room's participants do, see `shard::events`), speaker samples through the bounded inbox,
//! dropped and counted (`sfu_shard_drops_total{reason="event_channel_full"}`) when it is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rand_core::{OsRng, TryRngCore};
use signalling_proto::{
    encode_server_message, Command, CommandName, CommandResult, Empty, ErrorBody, ErrorCode, Event,
    EventMessage, EventName, Handler, JoinRoomArgs, ParticipantView, ReqId, Response, RoomView,
    Sdp, ServerMessage,
};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn, Instrument};

use crate::clock;
use crate::cluster::{Cluster, Placement, StoreError};
use crate::control::{
    self, CloseReason, ConnectionId, Effect, Notice, Room, RoomConfig, RoomPolicy, Service,
    VerifiedClaims, WallClock,
};
use crate::core::{ForwardingPolicy, ParticipantId};
use crate::metrics::{Metrics, RoomGauges, ShardDropReason};
use crate::room::media::RoomMedia;
use crate::room::recording::{RecorderEvent, RecorderHandle, RecorderService};
use crate::room::transcription::{TranscriberEvent, TranscriberHandle, TranscriptionService};
use crate::room::turn_credentials::TurnCredentials;
use crate::shard::{RoomId, ShardEvent, ShardHandle};
use crate::webhook::{WebhookEvent, Webhooks};

/// Inputs waiting for one room actor; senders wait (backpressure) when it is full.
const ROOM_INBOX: usize = 256;

/// The `sfu_shard_drops_total` reason of a telemetry event that found its room's inbox full:
/// the same as the shard's own when its telemetry channel is full.
const TELEMETRY_DROP_REASON: ShardDropReason = ShardDropReason::EventChannelFull;

/// What a session's writer is asked to put on its socket, in order.
#[derive(Debug)]
pub enum Outgoing {
    /// One encoded server frame other than an event (a response).
    Text(String),
    /// One encoded event frame and its name, which the session counts once written
    /// (`sfu_signalling_events_total`).
    Event { name: EventName, frame: String },
    /// Close the socket with this code and reason after the frames before it.
    Close { code: u16, reason: &'static str },
}

/// The room's way to reach one socket.
#[derive(Debug, Clone)]
pub struct ConnectionLink {
    pub id: ConnectionId,
    /// Bounded: a full queue means a client too slow to keep up.
    pub outgoing: mpsc::Sender<Outgoing>,
    /// Fired when the queue overflowed: the session closes at once (it cannot be queued).
    pub overflowed: Arc<Notify>,
}

/// The answer a session waits for after each input it hands to the room. The response frame
/// itself went into the connection's outgoing queue ahead of the events it caused (spec §6.3);
/// this only says whether the socket is still bound to the room afterwards (admitted, knocking
/// or holding a `room_locked` reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    pub bound: bool,
}

/// A message to a room actor.
#[derive(Debug)]
enum RoomInput {
    /// `join_room` with a verified `{token}` credential.
    Join {
        link: ConnectionLink,
        req_id: ReqId,
        args: JoinRoomArgs,
        claims: VerifiedClaims,
        reply: oneshot::Sender<Handled>,
    },
    /// Any other command (including `join_room` with a knock grant).
    Command {
        link: ConnectionLink,
        req_id: ReqId,
        command: Command,
        reply: oneshot::Sender<Handled>,
    },
    /// The socket is gone.
    Disconnect { connection: ConnectionId },
    /// Something happened on the room's media shard (control events come on their own queue,
    /// telemetry through the inbox).
    Media(ShardEvent),
    /// Another node owns the room with a newer epoch: close every socket with
    /// [`CLOSE_ROOM_MOVED`] and stop at once (no reconnect grace, no resume here).
    Fence,
    /// A request of the server API (issue 18).
    Api(ApiInput),
    /// What the room's recorder number `generation` reports.
    Recorder {
        generation: u64,
        event: RecorderEvent,
    },
    /// What the room's transcriber number `generation` reports.
    Transcriber {
        generation: u64,
        event: TranscriberEvent,
    },
}

/// What the server API asks of a room: commands run as [`control::SYSTEM`] through the same
/// handlers as a host's, and read-only views.
#[derive(Debug)]
enum ApiInput {
    Command {
        command: Command,
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
    Describe {
        reply: oneshot::Sender<RoomDescription>,
    },
    Participant {
        id: signalling_proto::ParticipantId,
        reply: oneshot::Sender<Result<ParticipantView, ErrorBody>>,
    },
    /// `kick_participant`, with the backend's reason for the `participant_left` webhook.
    Remove {
        id: signalling_proto::ParticipantId,
        reason: Option<String>,
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
    /// A new display name for a participant.
    Rename {
        id: signalling_proto::ParticipantId,
        args: signalling_proto::SetDisplayNameArgs,
        reply: oneshot::Sender<Result<signalling_proto::Changed, ErrorBody>>,
    },
    /// `end_meeting` for everybody, and the room is no longer held open for the API.
    End {
        reply: oneshot::Sender<Result<CommandResult, ErrorBody>>,
    },
}

/// A room as the server API describes it.
#[derive(Debug, Clone)]
pub struct RoomDescription {
    pub name: String,
    pub policy: RoomPolicy,
    /// Created through the API: kept open while empty, until ended through the API.
    pub held: bool,
    pub session_id: Option<String>,
    /// The host's view: every participant with its assignment, the knockers.
    pub view: RoomView,
}

/// A cheap handle to a running room actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    name: Arc<str>,
    /// Tells this actor apart from a later one under the same name.
    instance: u64,
    /// The cluster placement this actor runs under (0 without a cluster).
    epoch: u64,
    inbox: mpsc::Sender<RoomInput>,
    /// The room's shard control events: unbounded, so delivering one never waits
    /// ([`RoomRegistry::dispatch_shard_event`]).
    shard_events: mpsc::UnboundedSender<ShardEvent>,
}

impl RoomHandle {
    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a verified `join_room` to the room. `None` when the actor has already stopped.
    pub async fn join(
        &self,
        link: ConnectionLink,
        req_id: ReqId,
        args: JoinRoomArgs,
        claims: VerifiedClaims,
    ) -> Option<Handled> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Join {
            link,
            req_id,
            args,
            claims,
            reply,
        };
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Hands a command to the room. `None` when the actor has already stopped.
    pub async fn command(
        &self,
        link: ConnectionLink,
        req_id: ReqId,
        command: Command,
    ) -> Option<Handled> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Command {
            link,
            req_id,
            command,
            reply,
        };
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Tells the room the socket is gone (the room decides about grace and resume).
    pub async fn disconnect(&self, connection: ConnectionId) {
        // A stopped actor has nothing left to tell.
        let _ = self.inbox.send(RoomInput::Disconnect { connection }).await;
    }

    /// Runs `command` as the server API ([`control::SYSTEM`]). `None` when the actor has
    /// already stopped.
    pub async fn system_command(
        &self,
        command: Command,
    ) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Command { command, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// The room as the API describes it. `None` when the actor has already stopped.
    pub async fn describe(&self) -> Option<RoomDescription> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Describe { reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// One admitted participant as a host sees it. `None` when the actor has already stopped.
    pub async fn participant(
        &self,
        id: signalling_proto::ParticipantId,
    ) -> Option<Result<ParticipantView, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Participant { id, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Removes (kicks) a participant as the system; `reason` goes into the `participant_left`
    /// webhook. `None` when the actor has already stopped.
    pub async fn remove(
        &self,
        id: signalling_proto::ParticipantId,
        reason: Option<String>,
    ) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Remove { id, reason, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Renames a participant as the system. `None` when the actor has already stopped.
    pub async fn rename(
        &self,
        id: signalling_proto::ParticipantId,
        args: signalling_proto::SetDisplayNameArgs,
    ) -> Option<Result<signalling_proto::Changed, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::Rename { id, args, reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }

    /// Ends the meeting for everybody and lets the room stop once it is empty. `None` when
    /// the actor has already stopped.
    pub async fn end(&self) -> Option<Result<CommandResult, ErrorBody>> {
        let (reply, answer) = oneshot::channel();
        let input = RoomInput::Api(ApiInput::End { reply });
        self.inbox.send(input).await.ok()?;
        answer.await.ok()
    }
}

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
    turn: Option<Arc<TurnCredentials>>,
    /// Where rooms send what happened in them; `None` without configured webhooks.
    webhooks: Option<Webhooks>,
    /// Placement across nodes; `None` in signalling-only tests (every room is created here).
    cluster: Option<Arc<Cluster>>,
    /// The server's own recorder; `None`: `start_cloud_recording` waits for a `recorder`
    /// client from elsewhere (spec §8.6).
    recorder: Option<RecorderService>,
    /// The server's own transcriber; `None`: `start_live_transcription` stays requested.
    transcriber: Option<TranscriptionService>,
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

    fn remember_resume_token(&self, token: String, room: &str) {
        self.lock().resume.insert(token, room.to_owned());
    }

    fn forget_resume_token(&self, token: &str) {
        self.lock().resume.remove(token);
    }

    /// Removes `name` if it is still this actor (a newer one may have replaced it).
    fn remove(&self, name: &str, instance: u64) {
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

/// The task that owns one [`Room`].
#[derive(Debug)]
pub struct RoomActor {
    room: Room,
    name: String,
    wall_clock: WallClock,
    registry: RoomRegistry,
    instance: u64,
    /// For timers: each armed timer sends its firing back here.
    inbox: mpsc::Sender<RoomInput>,
    /// Sockets bound to the room (admitted, knocking or reserved).
    connections: HashMap<ConnectionId, ConnectionLink>,
    /// Each participant's last event `seq` (spec §6.3: +1 per event, the first is 1). Kept per
    /// participant, not per socket, so a resume continues the count.
    seq: HashMap<ParticipantId, u64>,
    /// Participant → socket, as the room last reported it. The room forgets a kicked or
    /// leaving participant while handling the command, before its effects (the farewell
    /// events to that participant) run, so the actor keeps the route until `Released`.
    routes: HashMap<ParticipantId, ConnectionId>,
    /// Each participant's resume token, to forget it from the registry on release.
    resume_tokens: HashMap<ParticipantId, String>,
    /// The room's media shard side; `None` in signalling-only setups.
    media: Option<RoomMedia>,
    /// Subscriber transports may need new offers (a policy, publication or departure changed).
    media_dirty: bool,
    /// This room's share of the room, participant and group gauges (removed on drop).
    gauges: Option<RoomGauges>,
    /// Created through the server API: stays open while empty until the API ends it.
    held: bool,
    /// Where the room's notices go (issue 18); `None` without configured webhooks.
    webhooks: Option<Webhooks>,
    /// Webhook events of the input being handled, in order.
    outbox: Vec<WebhookEvent>,
    /// The API's reason for the removal being handled: `message` of its `participant_left`.
    removal_reason: Option<(signalling_proto::ParticipantId, String)>,
    /// Another node owns the room now: stop after this input.
    fenced: bool,
    /// The recorder running for this room, and its number (reports of an older one are
    /// ignored).
    recorder: Option<RecorderHandle>,
    recorder_generation: u64,
    /// The transcriber running for this room, and its number, as for the recorder.
    transcriber: Option<TranscriberHandle>,
    transcriber_generation: u64,
}

impl RoomActor {
    fn new(
        name: &str,
        policy: RoomPolicy,
        registry: RoomRegistry,
        instance: u64,
        inbox: mpsc::Sender<RoomInput>,
        media: Option<RoomMedia>,
    ) -> Self {
        let wall_clock = shell_wall_clock();
        let room = Room::new(RoomConfig {
            name: name.to_owned(),
            policy,
            seed: os_seed(),
            wall_clock,
        });
        Self {
            room,
            name: name.to_owned(),
            wall_clock,
            registry,
            instance,
            inbox,
            connections: HashMap::new(),
            seq: HashMap::new(),
            routes: HashMap::new(),
            resume_tokens: HashMap::new(),
            media,
            media_dirty: false,
            gauges: None,
            held: false,
            webhooks: None,
            outbox: Vec::new(),
            removal_reason: None,
            fenced: false,
            recorder: None,
            recorder_generation: 0,
            transcriber: None,
            transcriber_generation: 0,
        }
    }

    /// Fencing: another node runs this room under a newer epoch. Every socket is closed with
    /// [`CLOSE_ROOM_MOVED`] (clients reconnect, find no room to resume here, and join again
    /// through placement), the media side is released, and the actor stops.
    async fn fence(&mut self) {
        for link in self.connections.values() {
            // A full queue is closed anyway (overflow); the actor stops either way.
            let _ = link.outgoing.try_send(Outgoing::Close {
                code: CLOSE_ROOM_MOVED,
                reason: "room moved to another node",
            });
        }
        self.connections.clear();
        if let Some(media) = &mut self.media {
            for participant in self.room.participant_ids() {
                media.remove(participant).await;
            }
        }
        self.fenced = true;
    }

    /// Serves inputs and shard control events until the room is finished: no room session and
    /// no bound socket.
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<RoomInput>,
        mut media: mpsc::UnboundedReceiver<ShardEvent>,
    ) {
        loop {
            // The actor holds an inbox sender itself (for its recorder), so the inbox never ends
            // on its own; the registry holds the media sender until `remove`.
            let deadline = self.room.poll_timeout();
            let input = tokio::select! {
                Some(event) = media.recv() => Some(RoomInput::Media(event)),
                Some(input) = inbox.recv() => Some(input),
                // The room's timers, the way the shard serves `MediaCore::poll_timeout`.
                () = sleep_until_deadline(deadline), if deadline.is_some() => None,
                else => break,
            };
            match input {
                Some(input) => self.handle(input).await,
                None => self.fire_timers().await,
            }
            if self.fenced
                || !self.held
                    && !self.room.has_room_session()
                    && self.connections.is_empty()
                    && self.room.participant_ids().is_empty()
            {
                break;
            }
        }
        if let Some(webhooks) = &self.webhooks {
            webhooks.room_stopped(&self.name);
        }
        // Unregister first, then close the inbox: a session that still got this handle sees a
        // closed channel and asks the registry again, which by then starts a fresh actor.
        self.registry.remove(&self.name, self.instance);
        inbox.close();
        media.close();
        info!(room = %self.name, "room actor stopped");
    }

    /// The room's due timers (reconnect grace, knock timeout, breakout timers, edit lock).
    async fn fire_timers(&mut self) {
        let now = clock::now();
        self.refresh_routes();
        self.room.handle_timeout(now);
        self.refresh_routes();
        self.execute_effects(now).await;
    }

    async fn handle(&mut self, input: RoomInput) {
        let now = clock::now();
        self.refresh_routes();
        match input {
            RoomInput::Join {
                link,
                req_id,
                args,
                claims,
                reply,
            } => {
                let connection = link.id;
                self.connections.entry(connection).or_insert(link);
                let result = self.room.handle_join(now, connection, args, claims);
                self.observe(CommandName::JoinRoom, &result);
                self.refresh_routes();
                self.respond(connection, req_id, result);
                self.execute_effects(now).await;
                let _ = reply.send(self.unbind_if_unbound(connection));
            }
            RoomInput::Command {
                link,
                req_id,
                command,
                reply,
            } => {
                let connection = link.id;
                self.connections.entry(connection).or_insert(link);
                let name = command.name();
                if command.name().handler() == Handler::Media {
                    self.handle_media_command(now, connection, req_id, command)
                        .await;
                    self.reconcile_media(now).await;
                    let _ = reply.send(self.unbind_if_unbound(connection));
                    return;
                }
                let resuming = matches!(command, Command::Resume(_));
                let new_transports =
                    matches!(&command, Command::Resume(args) if args.new_transports);
                let mut result = self.room.handle_command(now, connection, command);
                self.observe(name, &result);
                if resuming {
                    if let Some(gauges) = &self.gauges {
                        gauges.metrics().observe_resume(result.is_ok());
                    }
                }
                self.refresh_routes();
                // The shell keeps no replay buffer yet, so a resumer always gets a `room_state`
                // snapshot instead of the missed events (spec §6.3).
                if let (true, Ok(CommandResult::Resume(resumed))) = (resuming, &mut result) {
                    resumed.replayed = false;
                }
                let ok = result.is_ok();
                self.respond(connection, req_id, result);
                if resuming && ok {
                    self.send_snapshot(now, connection);
                }
                self.execute_effects(now).await;
                if new_transports && ok {
                    self.replace_transports(connection).await;
                }
                let _ = reply.send(self.unbind_if_unbound(connection));
            }
            RoomInput::Disconnect { connection } => {
                self.connections.remove(&connection);
                self.room.handle_disconnect(now, connection);
                self.refresh_routes();
                self.execute_effects(now).await;
            }
            RoomInput::Media(event) => self.handle_shard_event(now, event),
            RoomInput::Fence => self.fence().await,
            RoomInput::Api(input) => self.handle_api(now, input).await,
            RoomInput::Recorder { generation, event } => {
                if generation == self.recorder_generation {
                    match event {
                        RecorderEvent::Started => {
                            self.room
                                .handle_service_started(now, Service::CloudRecording, None);
                        }
                        RecorderEvent::Failed(reason) => {
                            self.recorder = None;
                            self.room
                                .handle_service_failed(now, Service::CloudRecording, reason);
                        }
                    }
                    self.refresh_routes();
                    self.execute_effects(now).await;
                }
            }
            RoomInput::Transcriber { generation, event } => {
                if generation == self.transcriber_generation {
                    self.handle_transcriber(now, event);
                    self.refresh_routes();
                    self.execute_effects(now).await;
                }
            }
        }
        self.reconcile_media(now).await;
        self.report_notices(now);
    }

    /// What the transcriber reports: its start (the engine can run), a caption for the
    /// speaker's location, or a failure (the error event; the room removes the captioner).
    fn handle_transcriber(&mut self, now: Instant, event: TranscriberEvent) {
        match event {
            TranscriberEvent::Started { transcription_id } => {
                self.room.handle_service_started(
                    now,
                    Service::Transcription,
                    Some(transcription_id),
                );
            }
            TranscriberEvent::Caption {
                speaker,
                stream,
                text,
                started_at,
            } => {
                let millis = started_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                self.room.handle_caption(
                    now,
                    &speaker,
                    stream,
                    text,
                    signalling_proto::Timestamp::from_unix_millis(millis),
                );
            }
            TranscriberEvent::Failed(reason) => {
                self.transcriber = None;
                self.room
                    .handle_service_failed(now, Service::Transcription, reason);
            }
        }
    }

    /// A request of the server API: commands run as [`control::SYSTEM`], their response is
    /// the reply, and their effects run exactly as a host's command's do.
    async fn handle_api(&mut self, now: Instant, input: ApiInput) {
        match input {
            ApiInput::Command { command, reply } => {
                let result = self.room.handle_system_command(now, command);
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::Remove { id, reason, reply } => {
                self.removal_reason = reason.map(|reason| (id.clone(), reason));
                let command = Command::KickParticipant(signalling_proto::ParticipantArgs {
                    participant_id: id,
                });
                let result = self.room.handle_system_command(now, command);
                self.refresh_routes();
                self.execute_effects(now).await;
                self.removal_reason = None;
                let _ = reply.send(result);
            }
            ApiInput::Rename { id, args, reply } => {
                let result = self.room.system_rename(now, &id, args);
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::End { reply } => {
                let command = Command::EndMeeting(signalling_proto::EndMeetingArgs::default());
                let result = self.room.handle_system_command(now, command);
                self.held = false;
                self.refresh_routes();
                self.execute_effects(now).await;
                let _ = reply.send(result);
            }
            ApiInput::Describe { reply } => {
                let _ = reply.send(RoomDescription {
                    name: self.name.clone(),
                    policy: self.room.policy().clone(),
                    held: self.held,
                    session_id: self.room.room_session_id().map(str::to_owned),
                    view: self.room.system_view(now),
                });
            }
            ApiInput::Participant { id, reply } => {
                let _ = reply.send(self.room.participant_for_system(&id));
            }
        }
    }

    /// Hands what happened to the webhooks, in order, without waiting (a full queue drops and
    /// counts, never blocks the room). Without webhooks the notices are only drained.
    fn report_notices(&mut self, now: Instant) {
        self.take_room_notices();
        let events = std::mem::take(&mut self.outbox);
        if let Some(webhooks) = &self.webhooks {
            let at = self.wall_clock.timestamp(now);
            for event in events {
                webhooks.room_event(&self.name, event, at.clone());
            }
        }
    }

    /// Moves the rules' notices into the outbox (before the effects that follow them, so a
    /// service request comes after the join that made it possible).
    fn take_room_notices(&mut self) {
        while let Some(notice) = self.room.poll_notice() {
            let mut event = webhook_event(notice);
            if let (
                WebhookEvent::ParticipantLeft {
                    participant_id,
                    message,
                    ..
                },
                Some((removed, reason)),
            ) = (&mut event, &self.removal_reason)
            {
                if participant_id == removed {
                    *message = Some(reason.clone());
                }
            }
            self.outbox.push(event);
        }
    }

    /// Takes the current participant → socket mapping from the room. Participants the room
    /// no longer lists keep their last route until their `Released` effect.
    fn refresh_routes(&mut self) {
        for participant in self.room.participant_ids() {
            match self.room.connection_of(participant) {
                Some(connection) => self.routes.insert(participant, connection),
                None => self.routes.remove(&participant),
            };
        }
    }

    /// Forgets a socket the room no longer knows (a failed join, a finished knock), so its
    /// session stops routing to this room.
    fn unbind_if_unbound(&mut self, connection: ConnectionId) -> Handled {
        let bound = self.room.participant_of(connection).is_some()
            && self.connections.contains_key(&connection);
        if !bound {
            self.connections.remove(&connection);
        }
        Handled { bound }
    }

    /// Queues the command's response ahead of every event it caused (spec §6.3).
    fn respond(
        &mut self,
        connection: ConnectionId,
        req_id: ReqId,
        mut result: Result<CommandResult, ErrorBody>,
    ) {
        if let (Ok(CommandResult::JoinRoom(joined)), Some(turn)) =
            (&mut result, &self.registry.turn)
        {
            joined.ice_servers = turn.ice_servers(joined.self_id.as_str(), clock::system_now());
        }
        let response = match &result {
            Ok(result) => Response::ok(req_id, result),
            Err(error) => Response::err(Some(req_id), error.clone()),
        };
        if let Ok(CommandResult::JoinRoom(joined)) = &result {
            let token = joined.resume_token.expose().to_owned();
            self.registry
                .remember_resume_token(token.clone(), &self.name);
            if let Some(participant) = control::participant_from_wire(&joined.self_id) {
                self.resume_tokens.insert(participant, token);
            }
        }
        let frame = encode_server_message(&ServerMessage::Response(response));
        self.push(connection, Outgoing::Text(frame));
    }

    /// A resumer's `room_state`, taking its next `seq` (spec §6.3).
    fn send_snapshot(&mut self, now: Instant, connection: ConnectionId) {
        let Some(participant) = self.room.participant_of(connection) else {
            return;
        };
        if let Some(state) = self.room.snapshot_for(now, participant) {
            self.send_event(participant, Event::RoomState(Box::new(state)), now);
        }
    }

    /// Drains and executes the room's effects in order.
    async fn execute_effects(&mut self, now: Instant) {
        self.take_room_notices();
        while let Some(effect) = self.room.poll_effect() {
            match effect {
                Effect::InstallPolicy(policy) => self.install_policy(policy).await,
                Effect::Send { to, event } => {
                    for participant in to {
                        self.send_event(participant, event.clone(), now);
                    }
                }
                Effect::SendToConnection { connection, event } => {
                    // Knockers get events without `seq` (spec §8.2).
                    let message = EventMessage {
                        seq: None,
                        ts: self.wall_clock.timestamp(now),
                        event,
                    };
                    let name = message.event.name();
                    let frame = encode_server_message(&ServerMessage::Event(message));
                    self.push(connection, Outgoing::Event { name, frame });
                }
                Effect::Close { connection, reason } => {
                    let (code, text) = close_code(reason);
                    self.push(connection, Outgoing::Close { code, reason: text });
                    self.connections.remove(&connection);
                }
                Effect::Released { participant } => {
                    debug!(%participant, "participant released");
                    if let Some(media) = &mut self.media {
                        media.remove(participant).await;
                        self.media_dirty = true;
                    }
                    self.seq.remove(&participant);
                    self.routes.remove(&participant);
                    if let Some(token) = self.resume_tokens.remove(&participant) {
                        self.registry.forget_resume_token(&token);
                    }
                }
                Effect::StartService { service, target_id } => {
                    self.outbox.push(match service {
                        Service::CloudRecording => WebhookEvent::RecordingRequested,
                        Service::LiveStream => WebhookEvent::LiveStreamRequested {
                            target_id: target_id.clone(),
                        },
                        Service::Transcription => WebhookEvent::TranscriptionRequested,
                    });
                    if let (Service::CloudRecording, Some(service)) =
                        (service, &self.registry.recorder)
                    {
                        self.recorder_generation += 1;
                        let generation = self.recorder_generation;
                        let inbox = self.inbox.clone();
                        let tell = move |event| {
                            let inbox = inbox.clone();
                            // A stopped room has nobody left to tell.
                            tokio::spawn(async move {
                                let _ = inbox.send(RoomInput::Recorder { generation, event }).await;
                            });
                        };
                        self.recorder = Some(service.start(&self.name, tell));
                        info!("cloud recorder started");
                    } else if let (Service::Transcription, Some(service)) =
                        (service, &self.registry.transcriber)
                    {
                        self.transcriber_generation += 1;
                        let generation = self.transcriber_generation;
                        let inbox = self.inbox.clone();
                        let tell = move |event: TranscriberEvent| {
                            let input = RoomInput::Transcriber { generation, event };
                            if matches!(
                                input,
                                RoomInput::Transcriber {
                                    event: TranscriberEvent::Caption { .. },
                                    ..
                                }
                            ) {
                                // A caption the busy room has no room for is dropped, not
                                // queued without bound.
                                let _ = inbox.try_send(input);
                            } else {
                                // A stopped room has nobody left to tell.
                                let inbox = inbox.clone();
                                tokio::spawn(async move {
                                    let _ = inbox.send(input).await;
                                });
                            }
                        };
                        self.transcriber = Some(service.start(&self.name, tell));
                    } else {
                        info!(
                            ?service,
                            ?target_id,
                            "service start requested (no service here)"
                        );
                    }
                }
                Effect::StopService { service } => {
                    self.outbox.push(match service {
                        Service::CloudRecording => WebhookEvent::RecordingStopped,
                        Service::LiveStream => WebhookEvent::LiveStreamStopped,
                        Service::Transcription => WebhookEvent::TranscriptionStopped,
                    });
                    if service == Service::CloudRecording {
                        // The stop event follows this effect: it goes out once the files are
                        // closed.
                        if let Some(recorder) = self.recorder.take() {
                            recorder.stop().await;
                        }
                    }
                    if service == Service::Transcription {
                        // Dropping the handle makes the transcriber leave; captions still on
                        // their way find the transcription stopped and are not sent.
                        self.transcriber = None;
                    }
                    info!(?service, "service stopped");
                }
                Effect::RoomSessionEnded { room_session_id } => {
                    info!(%room_session_id, "room session ended");
                }
            }
        }
    }

    /// A resume with `newTransports` (PROTOCOL.md §4.3): the resumed participant's old media
    /// transports are dropped, so the others' subscriber offers stop its old tracks and its
    /// own next `subscriber_offer` (on a new transport) carries everything it may receive.
    async fn replace_transports(&mut self, connection: ConnectionId) {
        let Some(participant) = self.room.participant_of(connection) else {
            return;
        };
        let Some(media) = &mut self.media else {
            return;
        };
        let policy = self.room.installed_policy().clone();
        match media.replace_transports(participant, &policy).await {
            Ok(()) => info!(%participant, "media transports replaced after a resume"),
            Err(error) => warn!(%participant, %error, "media transports not replaced"),
        }
        self.media_dirty = true;
    }

    /// Installs `policy` in the room's media core and waits for the shard's ack; the effects
    /// after it run only then (spec §13.3: policy first, then the events).
    async fn install_policy(&mut self, policy: ForwardingPolicy) {
        let version = policy.version;
        if let Some(gauges) = &mut self.gauges {
            gauges.observe_policy(&policy);
        }
        if let Some(media) = &mut self.media {
            if let Err(error) = media.install_policy(policy).await {
                // The shard stopped (server shutdown): there is no media left to govern.
                warn!(version, %error, "forwarding policy not installed");
                return;
            }
            self.media_dirty = true;
        }
        debug!(version, "forwarding policy installed");
    }

    /// A media command (DECISIONS.md §10): the room checks caller and role, the shard
    /// negotiates. The response goes out before any offer it leads to.
    async fn handle_media_command(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        req_id: ReqId,
        command: Command,
    ) {
        let name = command.name();
        let result = match self.room.authorize_media(now, connection, &command) {
            Ok(caller) => self.media_command(caller, command).await,
            Err(error) => Err(error),
        };
        self.observe(name, &result);
        self.respond(connection, req_id, result);
    }

    async fn media_command(
        &mut self,
        caller: ParticipantId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        let Some(media) = &mut self.media else {
            return Err(ErrorBody::new(
                ErrorCode::InternalError,
                "this server runs without media shards",
            ));
        };
        match command {
            Command::PublishTracks(args) => {
                let mut tracks = Vec::with_capacity(args.tracks.len());
                for track in args.tracks {
                    let stream = self.room.published_stream(caller, &track)?;
                    tracks.push((track, stream));
                }
                for (track, stream) in &tracks {
                    self.outbox.push(WebhookEvent::TrackPublished {
                        participant_id: control::participant_to_wire(caller),
                        mid: track.mid.clone(),
                        source: track.source,
                        stream_id: control::stream_to_wire(stream.stream),
                    });
                }
                media.announce(caller, tracks);
                Ok(CommandResult::PublishTracks(Empty {}))
            }
            Command::UnpublishTracks(args) => {
                for mid in &args.mids {
                    self.outbox.push(WebhookEvent::TrackUnpublished {
                        participant_id: control::participant_to_wire(caller),
                        mid: mid.clone(),
                    });
                }
                media.unannounce(caller, &args.mids);
                Ok(CommandResult::UnpublishTracks(Empty {}))
            }
            Command::PublisherOffer(offer) => {
                let sdp = media.publisher_offer(caller, offer.sdp).await?;
                Ok(CommandResult::PublisherOffer(Sdp { sdp }))
            }
            Command::SubscriberAnswer(answer) => {
                media.subscriber_answer(caller, answer).await?;
                self.media_dirty = true;
                Ok(CommandResult::SubscriberAnswer(Empty {}))
            }
            // The shard is ICE-lite (RFC 8445 §2.5): it learns the client's addresses from the
            // client's connectivity checks; only relay candidates are passed on (metrics).
            Command::IceCandidate(args) => {
                media.ice_candidate(caller, &args).await;
                Ok(CommandResult::IceCandidate(Empty {}))
            }
            Command::SetSubscriptionPreferences(args) => {
                // All or nothing: every preference is checked before any is applied.
                let mut targets = Vec::with_capacity(args.preferences.len());
                for preference in &args.preferences {
                    targets.push(self.room.preference_target(caller, preference)?);
                }
                for (preference, (publisher, stream)) in args.preferences.iter().zip(targets) {
                    media
                        .set_preference(caller, publisher, stream, preference)
                        .await?;
                }
                Ok(CommandResult::SetSubscriptionPreferences(Empty {}))
            }
            _ => Err(ErrorBody::new(
                ErrorCode::InternalError,
                "not a media command",
            )),
        }
    }

    fn handle_shard_event(&mut self, now: Instant, event: ShardEvent) {
        let Some(media) = &mut self.media else {
            return;
        };
        match event {
            ShardEvent::PublicationAdded {
                participant,
                publication,
                stream,
                encodings,
                ..
            } => {
                media.publication_added(participant, publication, stream, encodings);
                self.media_dirty = true;
            }
            ShardEvent::SubscriptionEnded {
                participant,
                subscription,
                ..
            } => {
                media.subscription_ended(participant, subscription);
                self.media_dirty = true;
            }
            ShardEvent::ForwardingChanged {
                participant,
                subscription,
                change,
                ..
            } => {
                if let Some(event) = media.forwarding_changed(participant, subscription, change) {
                    self.send_event(participant, event, now);
                }
            }
            ShardEvent::Speakers { speakers, .. } => {
                let updates = media.speakers(self.room.installed_policy(), &speakers);
                for (participant, event) in updates {
                    self.send_event(participant, event, now);
                }
            }
            ShardEvent::TransportConnected {
                participant,
                transport,
                ..
            } => debug!(%participant, ?transport, "transport connected"),
            ShardEvent::TransportFailed {
                participant,
                transport,
                reason,
                ..
            } => warn!(%participant, ?transport, %reason, "transport failed"),
        }
    }

    /// Counts one answered command by name and status.
    fn observe(&self, name: CommandName, result: &Result<CommandResult, ErrorBody>) {
        if let Some(gauges) = &self.gauges {
            let status = result.as_ref().map(|_| ()).map_err(|e| e.code);
            gauges.metrics().observe_signalling(name, status);
        }
    }

    /// Sends the subscriber offers the last changes call for.
    async fn reconcile_media(&mut self, now: Instant) {
        if !std::mem::take(&mut self.media_dirty) {
            return;
        }
        let Some(media) = &mut self.media else {
            return;
        };
        let offers = media.reconcile_all(self.room.installed_policy()).await;
        for (participant, offer) in offers {
            self.send_event(participant, Event::SubscriberOffer(offer), now);
        }
    }

    /// One event to one participant with its next `seq`. A participant without a socket
    /// (reconnecting) still uses up the `seq`, so the gap shows on resume.
    fn send_event(&mut self, participant: ParticipantId, event: Event, now: Instant) {
        let seq = self.seq.entry(participant).or_insert(0);
        *seq += 1;
        let message = EventMessage {
            seq: Some(*seq),
            ts: self.wall_clock.timestamp(now),
            event,
        };
        if let Some(&connection) = self.routes.get(&participant) {
            let name = message.event.name();
            let frame = encode_server_message(&ServerMessage::Event(message));
            self.push(connection, Outgoing::Event { name, frame });
        }
    }

    /// Puts a frame in a socket's queue without waiting. A full queue disconnects that client:
    /// dropping a control message silently would desynchronise it (STYLE.md).
    fn push(&mut self, connection: ConnectionId, outgoing: Outgoing) {
        let Some(link) = self.connections.get(&connection) else {
            return;
        };
        match link.outgoing.try_send(outgoing) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(%connection, "outgoing queue full: disconnecting the slow client");
                link.overflowed.notify_one();
                self.connections.remove(&connection);
            }
            // The session is already gone; its disconnect is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.connections.remove(&connection);
            }
        }
    }
}

/// Sleeps until `deadline` (forever for `None`; the select's guard never polls that case).
async fn sleep_until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The close code and reason for each way the room ends a socket. 1000 is a normal close;
/// the others are application codes (RFC 6455 §7.4.2: 4000-4999 are for applications).
pub fn close_code(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Left => (1000, "left"),
        CloseReason::Kicked => (4001, "kicked"),
        CloseReason::MeetingEnded => (4002, "meeting_ended"),
        CloseReason::KnockRejected => (4003, "knock_rejected"),
        CloseReason::Replaced => (4004, "replaced"),
        CloseReason::ServiceStopped => (4005, "service_stopped"),
    }
}

/// The webhook event of one of the rules' notices.
fn webhook_event(notice: Notice) -> WebhookEvent {
    use control::participant_to_wire as wire;
    match notice {
        Notice::RoomStarted { room_session_id } => WebhookEvent::RoomStarted { room_session_id },
        Notice::RoomEnded { room_session_id } => WebhookEvent::RoomEnded { room_session_id },
        Notice::ParticipantJoined {
            participant,
            identity,
            name,
            role,
        } => WebhookEvent::ParticipantJoined {
            participant_id: wire(participant),
            identity,
            name,
            role,
        },
        Notice::ParticipantLeft {
            participant,
            identity,
            reason,
        } => WebhookEvent::ParticipantLeft {
            participant_id: wire(participant),
            identity,
            reason,
            message: None,
        },
        Notice::ParticipantMoved {
            participant,
            from,
            to,
            reason,
        } => WebhookEvent::ParticipantMoved {
            participant_id: wire(participant),
            from: control::location_to_wire(from),
            to: control::location_to_wire(to),
            reason,
        },
        Notice::BreakoutStarted { run_id } => WebhookEvent::BreakoutStarted { run_id },
        Notice::BreakoutEnded { run_id, reason } => WebhookEvent::BreakoutEnded { run_id, reason },
        Notice::Knock { participant, name } => WebhookEvent::Knock {
            participant_id: wire(participant),
            name,
        },
    }
}

/// Close code for a client that does not read its frames fast enough (RFC 6455 1008, policy).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;

/// Close code when the room moved to another node (fencing): RFC 6455 1012, service restart.
/// Clients reconnect; their resume fails here and they join again.
pub const CLOSE_ROOM_MOVED: u16 = 1012;

/// The wall clock anchored once at room creation with the shell clock.
fn shell_wall_clock() -> WallClock {
    let at = clock::now();
    let unix_millis = clock::system_now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    WallClock { at, unix_millis }
}

/// 32 bytes of OS entropy for the room's resume tokens and grants. Should the OS source fail
/// (it does not on supported platforms), the seed falls back to the clock and a counter, which
/// is unique but guessable, so the failure is logged loudly.
fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if let Err(error) = OsRng.try_fill_bytes(&mut seed) {
        static FALLBACK: AtomicU64 = AtomicU64::new(0);
        warn!(%error, "OS entropy unavailable: room seed falls back to clock and counter");
        let nanos = clock::system_now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
        let count = FALLBACK.fetch_add(1, Ordering::Relaxed);
        seed[16..24].copy_from_slice(&count.to_le_bytes());
    }
    seed
}

/// `internal_error` response body for a room that stopped under a session.
pub(crate) fn room_gone() -> ErrorBody {
    ErrorBody::new(ErrorCode::InternalError, "the room stopped; join again")
}

/// `join_room` refused because this node drains and no other node takes the room.
/// Where a room this node does not run is to live ([`RoomRegistry::place_new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Here, under this epoch (0 without a cluster).
    Here(u64),
    /// On another node: the caller is sent there.
    Elsewhere(Placement),
}

/// `placement_unavailable` for a store that could not place or look up a room; the store's
/// own error is logged (`Cluster::timed`), not handed to clients.
fn store_refusal(error: &StoreError) -> ErrorBody {
    match error {
        StoreError::Unavailable(_) => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            "the cluster store does not answer, so a new room cannot be placed now; try \
             again in a moment",
        ),
        StoreError::NoServingNode => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            "no node of the cluster can take a new room now; try again in a moment",
        ),
        StoreError::WarmingUp => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            format!("{error}; try again in a moment"),
        ),
    }
}

fn draining_refusal() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ServerDraining,
        "the server is shutting down; join through another server",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
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
