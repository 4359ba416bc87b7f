//! One task per room (ARCHITECTURE.md §2): a [`RoomActor`] owns one sans-IO
//! [`control::Room`], takes the sessions' inputs over a bounded channel one at a time, and
//! executes the room's effects in order after each input. The registry (`registry`) starts
//! it and hears when it stops.
//!
//! Nothing here awaits a session: frames go into each connection's bounded outgoing queue with
//! `try_send`, and a connection whose queue is full is disconnected rather than blocking the
//! room or dropping a control message silently (STYLE.md rule 10).
//!
//! The actor's work on the room's media (`media_side`), its recorder and transcriber
//! (`services`) and the server API's requests (`api_requests`) are in the files below.

mod api_requests;
mod media_side;
mod services;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand_core::{OsRng, TryRngCore};
use signalling_proto::{
    encode_server_message, Command, CommandName, CommandResult, ErrorBody, Event, EventMessage,
    Handler, ReqId, Response, ServerMessage,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::clock;
use crate::control::{self, ConnectionId, Effect, Room, RoomConfig, RoomPolicy, WallClock};
use crate::core::ParticipantId;
use crate::metrics::RoomGauges;
use crate::room::close_code::{close_code, CLOSE_ROOM_MOVED};
use crate::room::handle::{ConnectionLink, Handled, Outgoing, RoomInput};
use crate::room::media::RoomMedia;
use crate::room::recording::RecorderHandle;
use crate::room::registry::RoomRegistry;
use crate::room::transcription::TranscriberHandle;
use crate::room::webhook_event::webhook_event;
use crate::shard::ShardEvent;
use crate::webhook::{WebhookEvent, Webhooks};

/// The task that owns one [`Room`].
#[derive(Debug)]
pub struct RoomActor {
    pub(super) room: Room,
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
    pub(super) gauges: Option<RoomGauges>,
    /// Created through the server API: stays open while empty until the API ends it.
    pub(super) held: bool,
    /// Where the room's notices go (issue 18); `None` without configured webhooks.
    pub(super) webhooks: Option<Webhooks>,
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
    pub(super) fn new(
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
    pub(super) async fn run(
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

    /// The room's due timers (reconnect grace, knock timeout, breakout timers, edit lock), with
    /// the same tail as every other input: a timer may move people (a breakout's end), so the
    /// media follows and the notices go to the webhooks.
    async fn fire_timers(&mut self) {
        let now = clock::now();
        self.refresh_routes();
        self.room.handle_timeout(now);
        self.refresh_routes();
        self.execute_effects(now).await;
        self.reconcile_media(now).await;
        self.report_notices(now);
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
                    self.handle_recorder(now, event);
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
                    self.start_service(service, target_id);
                }
                Effect::StopService { service } => self.stop_service(service).await,
                Effect::RoomSessionEnded { room_session_id } => {
                    info!(%room_session_id, "room session ended");
                }
            }
        }
    }

    /// Counts one answered command by name and status.
    fn observe(&self, name: CommandName, result: &Result<CommandResult, ErrorBody>) {
        if let Some(gauges) = &self.gauges {
            let status = result.as_ref().map(|_| ()).map_err(|e| e.code);
            gauges.metrics().observe_signalling(name, status);
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
