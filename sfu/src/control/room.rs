//! `Room`: the state of one room and the entry points the room actor drives (spec §5, §6).

use crate::control::breakout::Breakout;
use crate::control::chat::ChatStore;
use crate::control::connection::Binding;
use crate::control::errors::{error, forbidden, media_command, rate_limited};
use crate::control::participant::Participant;
use crate::control::policy_builder::{self, AllowedSet};
use crate::control::rate_limit::RateLimits;
use crate::control::recording::ServiceState;
use crate::control::timer::TimerTable;
use crate::control::waiting_room::{Grant, Knocker};
use crate::control::wire_id::{participant_to_wire, session_to_wire, stream_to_wire};
use crate::control::{ConnectionId, Effect, RoomPolicy, Timer};
use crate::core::{ForwardingPolicy, Location, ParticipantId, StreamId};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use signalling_proto::{
    BreakoutView, Command, CommandResult, ErrorBody, ErrorCode, Event, Handler, Role, RoomState,
    RoomView, Secret, SessionRef, Spotlight, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Wall-clock time at one monotonic instant, taken once by the shell (`crate::clock`). The room
/// derives every RFC 3339 timestamp from it, so it never reads a clock (STYLE.md rule 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    pub at: Instant,
    pub unix_millis: i64,
}

impl WallClock {
    /// The wall-clock reading at `now`.
    pub fn timestamp(&self, now: Instant) -> Timestamp {
        Timestamp::from_unix_millis(self.unix_millis_at(now))
    }

    pub(crate) fn unix_millis_at(&self, now: Instant) -> i64 {
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if now >= self.at {
            self.unix_millis.saturating_add(millis(now - self.at))
        } else {
            self.unix_millis.saturating_sub(millis(self.at - now))
        }
    }
}

/// How a room is created.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// The room's name (spec §3); `join_room` for another name is `room_not_found`.
    pub name: String,
    pub policy: RoomPolicy,
    /// Seed for resume tokens and grants. The shell draws it from the OS; tests fix it.
    pub seed: [u8; 32],
    pub wall_clock: WallClock,
}

/// A room session (spec §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RoomSession {
    pub id: String,
    pub created_at: Timestamp,
}

/// Everything a command may change, kept apart from the rate-limit buckets (which every
/// command drains) so tests can assert "no state change" by comparing snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub is_locked: bool,
    pub room_session: Option<RoomSession>,
    /// Admitted participants (incl. reconnecting); ids grow, so this is join order.
    pub participants: BTreeMap<ParticipantId, Participant>,
    /// The waiting room in knock order.
    pub waiting: Vec<Knocker>,
    /// Ordered set (spec §5.7).
    pub spotlights: Vec<(ParticipantId, StreamId)>,
    pub chat: ChatStore,
    pub recording: ServiceState,
    pub live_stream: ServiceState,
    pub transcription: ServiceState,
    /// Cleared when the room session ends (spec §5.1 [D]).
    pub kicked_keys: BTreeSet<String>,
    /// The breakout plan and run (spec §5.8).
    pub breakout: Breakout,
    pub connections: BTreeMap<ConnectionId, Binding>,
    pub grants: Vec<Grant>,
    pub timers: TimerTable,
    pub next_participant: u64,
    pub next_screenshare: u32,
    pub next_room_session: u64,
}

/// The meeting rules of one room: a sans-IO state machine (module docs).
#[derive(Debug)]
pub struct Room {
    pub(crate) name: String,
    pub(crate) policy: RoomPolicy,
    pub(crate) clock: WallClock,
    pub(crate) state: State,
    pub(crate) limits: HashMap<ParticipantId, RateLimits>,
    pub(crate) rng: ChaCha20Rng,
    /// The last policy handed out with [`Effect::InstallPolicy`].
    installed: ForwardingPolicy,
    /// Each admitted subscriber's allowed set under `installed` (spec §13.1).
    allowed: HashMap<ParticipantId, AllowedSet>,
    /// Events and other effects of the command being handled, released by `finish` after the
    /// policy install (spec §13.3 step 4).
    pub(crate) pending: Vec<Effect>,
    /// Subscribers that get their whole allowed set in `subscriptions_changed` (resume, §13.8).
    pub(crate) full_set_for: Vec<ParticipantId>,
    /// Events that follow `subscriptions_changed` (spec §13.3 step 4: `chat_history` to
    /// movers), released by `settle`.
    pub(crate) pending_after: Vec<Effect>,
    /// The breakout view changed during this input: `settle` sends `breakout_updated`.
    pub(crate) breakout_dirty: bool,
    /// The `BreakoutView` each participant was last given (`breakout_updated`, `room_joined`,
    /// `room_resumed`, `breakout_get`), so `settle` sends `breakout_updated` only to those
    /// whose view changed (spec §9.3: changes "relevant to the recipient").
    pub(crate) breakout_views_sent: HashMap<ParticipantId, BreakoutView>,
    /// The `now` of the latest input, for the rare state change reached without one (a room
    /// session ending on a knocker's departure ends a running breakout).
    pub(crate) last_input_at: Instant,
    effects: VecDeque<Effect>,
    /// The host the server API acts as ([`crate::control::SYSTEM`]); never admitted, so it
    /// is in no view, count or policy.
    pub(crate) system: Participant,
    /// What happened, for webhooks (drained by [`Room::poll_notice`]).
    pub(crate) notices: VecDeque<crate::control::Notice>,
    /// The shell runs its own recorder, which reports `Recording` once its first bytes are
    /// on disk ([`Room::handle_service_started`]) instead of on the recorder's admission.
    pub(crate) recorder_reports_start: bool,
}

/// What a command needs of its caller's role (spec §4.2): the protocol's one table,
/// [`signalling_proto::CommandName::issuer`].
pub(crate) use signalling_proto::Issuer as Needs;

impl Room {
    /// An empty room: no session, unlocked unless the policy presets the lock.
    pub fn new(config: RoomConfig) -> Self {
        Self {
            name: config.name,
            state: State {
                is_locked: config.policy.locked,
                room_session: None,
                participants: BTreeMap::new(),
                waiting: Vec::new(),
                spotlights: Vec::new(),
                chat: ChatStore::default(),
                recording: ServiceState::default(),
                live_stream: ServiceState::default(),
                transcription: ServiceState::default(),
                kicked_keys: BTreeSet::new(),
                breakout: Breakout::default(),
                connections: BTreeMap::new(),
                grants: Vec::new(),
                timers: TimerTable::default(),
                next_participant: 1,
                next_screenshare: 1,
                next_room_session: 1,
            },
            policy: config.policy,
            clock: config.wall_clock,
            limits: HashMap::new(),
            rng: ChaCha20Rng::from_seed(config.seed),
            installed: ForwardingPolicy::default(),
            allowed: HashMap::new(),
            pending: Vec::new(),
            full_set_for: Vec::new(),
            pending_after: Vec::new(),
            breakout_dirty: false,
            breakout_views_sent: HashMap::new(),
            last_input_at: config.wall_clock.at,
            effects: VecDeque::new(),
            system: crate::control::system::system_participant(config.wall_clock.at),
            notices: VecDeque::new(),
            recorder_reports_start: false,
        }
    }

    // ---- entry points ----

    /// Applies one command from a socket. `join_room` with a `{token}` or `{roomKey}`
    /// credential must go through [`Room::handle_join`] (the shell verifies the credential);
    /// here only a `{grant}` can admit. A failed command changes nothing and emits nothing
    /// (spec §6.2); the effects of a successful one are queued for [`Room::poll_effect`].
    pub fn handle_command(
        &mut self,
        now: Instant,
        from: ConnectionId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        if let Err(details) = command.check_arguments() {
            return Err(ErrorBody::invalid_argument(&details, details.describe()));
        }
        self.last_input_at = now;
        let result = self.dispatch(now, from, command);
        self.settle(now, result.is_ok());
        result
    }

    /// Fires every timer due at `now`, earliest first. A timer disarmed or re-armed before it
    /// was due does not fire (spec §10.3).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.state.timers.take_due(now) {
            self.last_input_at = now;
            match timer {
                Timer::ReconnectGrace(id) => self.grace_expired(now, id),
                Timer::KnockTimeout(id) => self.knock_timed_out(now, id),
                Timer::BreakoutAutoEnd { run } => self.auto_end_fired(now, run),
                Timer::BreakoutWarning { run } => self.warning_fired(run),
                Timer::BreakoutClosing { run } => self.closing_fired(now, run),
                Timer::MoveGrace(id) => self.move_grace_fired(now, id),
                Timer::EditLockExpiry => self.edit_lock_expired(now),
            }
            self.settle(now, true);
        }
    }

    /// When [`Room::handle_timeout`] is next due: the earliest armed timer (`None`: no timer
    /// is armed). The shell sleeps until then, as it does for `MediaCore::poll_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.timers.next_due()
    }

    /// When `timer` is due, if it is armed (for tests and diagnostics).
    pub fn timer_at(&self, timer: Timer) -> Option<Instant> {
        self.state.timers.due_at(timer)
    }

    /// The socket's transport is gone (spec §7.1-§7.2).
    pub fn handle_disconnect(&mut self, now: Instant, connection: ConnectionId) {
        self.last_input_at = now;
        self.connection_lost(now, connection);
        self.settle(now, true);
    }

    /// The next effect to execute, in order; `None` when drained.
    #[must_use]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    // ---- getters ----

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admitted participant (or knocker, or reserved id) a socket stands for.
    pub fn participant_of(&self, connection: ConnectionId) -> Option<ParticipantId> {
        match self.state.connections.get(&connection)? {
            Binding::Reserved(reservation) => Some(reservation.id),
            Binding::Knocking(id) | Binding::Admitted(id) => Some(*id),
        }
    }

    /// The socket an admitted participant is connected on (none while reconnecting).
    pub fn connection_of(&self, participant: ParticipantId) -> Option<ConnectionId> {
        self.state.participants.get(&participant)?.connection_id()
    }

    /// Admitted participants (connected or within grace), in join order.
    pub fn participant_ids(&self) -> Vec<ParticipantId> {
        self.state.participants.keys().copied().collect()
    }

    /// Whether a room session is running (spec §5.2).
    pub fn has_room_session(&self) -> bool {
        self.state.room_session.is_some()
    }

    /// The policy last emitted with [`Effect::InstallPolicy`].
    pub fn installed_policy(&self) -> &ForwardingPolicy {
        &self.installed
    }

    /// `participant`'s allowed set as last announced.
    pub(crate) fn previous_allowed(&self, participant: ParticipantId) -> Option<&AllowedSet> {
        self.allowed.get(&participant)
    }

    /// The full snapshot `participant` would get from `get_room_state` (the shell also sends
    /// it as `room_state` to a resumer whose missed events are gone, spec §6.3).
    pub fn snapshot_for(&self, now: Instant, participant: ParticipantId) -> Option<RoomState> {
        let me = self.state.participants.get(&participant)?;
        Some(RoomState {
            self_id: participant_to_wire(participant),
            role_name: me.role,
            breakout_group: self.breakout_group(me.location),
            room: self.room_view(now, me),
            breakout: self.breakout_view(me),
            chat_history: self.chat_history_for(me.location),
        })
    }

    /// A text rendering of everything commands may change (not the rate-limit buckets): equal
    /// before and after means "no state change" (spec §6.2), which tests assert.
    /// Deterministic: every hash map in it prints sorted by key (`TimerTable`'s and
    /// `ForwardingPolicy`'s `Debug`, and `allowed` here), so two equal rooms print equally.
    pub fn fingerprint(&self) -> String {
        let allowed: BTreeMap<_, _> = self.allowed.iter().collect();
        format!("{:?}|{:?}|{:?}", self.state, self.installed, allowed)
    }

    /// Spec §5.9 (the invariants that apply without breakouts) plus this implementation's own;
    /// `Err` names the first one broken. Tests call it after every step.
    pub fn check_invariants(&self) -> Result<(), String> {
        let s = &self.state;
        for (id, p) in &s.participants {
            if *id != p.id {
                return Err(format!("participant {id} stored under another id"));
            }
            if (!p.role.may_publish_audio() && p.audio_enabled)
                || (!p.role.may_publish() && p.video_enabled)
            {
                return Err(format!("receive-only {id} has an open gate"));
            }
            if !p.role.may_publish() && !p.screenshares.is_empty() {
                return Err(format!("receive-only {id} shares its screen"));
            }
            if let Some(conn) = p.connection_id() {
                if s.connections.get(&conn) != Some(&Binding::Admitted(*id)) {
                    return Err(format!("{id}'s connection {conn} is not bound to it"));
                }
            }
            if p.connection_id().is_none() && !s.timers.is_armed(Timer::ReconnectGrace(*id)) {
                return Err(format!("{id} is reconnecting without a grace timer"));
            }
        }
        for role in [Role::Recorder, Role::Streamer, Role::Captioner] {
            if s.participants.values().filter(|p| p.role == role).count() > 1 {
                return Err(format!("more than one {role:?}"));
            }
        }
        // §5.9-10.
        for knocker in &s.waiting {
            if s.participants.contains_key(&knocker.reservation.id) {
                return Err(format!(
                    "knocker {} is also admitted",
                    knocker.reservation.id
                ));
            }
            if s.connections.get(&knocker.connection)
                != Some(&Binding::Knocking(knocker.reservation.id))
            {
                return Err(format!("knocker {} has no socket", knocker.reservation.id));
            }
        }
        for (conn, binding) in &s.connections {
            let ok = match binding {
                Binding::Admitted(id) => s
                    .participants
                    .get(id)
                    .is_some_and(|p| p.connection_id() == Some(*conn)),
                Binding::Knocking(id) => s.waiting.iter().any(|k| k.reservation.id == *id),
                Binding::Reserved(r) => !s.participants.contains_key(&r.id),
            };
            if !ok {
                return Err(format!("connection {conn} has a stale binding {binding:?}"));
            }
        }
        for (id, stream) in &s.spotlights {
            if !s
                .participants
                .get(id)
                .is_some_and(|p| p.has_stream(*stream))
            {
                return Err(format!("spotlight on a missing stream {id}/{stream}"));
            }
        }
        // §5.2: a session starts with the first admission and ends once nobody is admitted
        // or waiting (a knocker alone does not start one).
        if !s.participants.is_empty() && s.room_session.is_none() {
            return Err("participants without a room session".into());
        }
        if s.participants.is_empty() && s.waiting.is_empty() && s.room_session.is_some() {
            return Err("a room session with nobody in it".into());
        }
        if s.room_session.is_none() && (!s.kicked_keys.is_empty() || !s.chat.is_empty()) {
            return Err("room-session data survived the end of the session".into());
        }
        // §5.9-2..9 for breakouts.
        self.check_breakout_invariants()?;
        // §5.9-11: the installed policy is the function of the current state.
        let mut expected = policy_builder::build(self);
        expected.version = self.installed.version;
        if expected != self.installed {
            return Err("the installed policy is stale".into());
        }
        Ok(())
    }

    // ---- dispatch ----

    fn dispatch(
        &mut self,
        now: Instant,
        from: ConnectionId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        // Before admission only these four are accepted (spec §6.1).
        match command {
            Command::JoinRoom(args) => return self.join_with_grant(now, from, args),
            Command::KnockRoom(args) => {
                return self.knock(now, from, args).map(CommandResult::KnockRoom)
            }
            Command::CancelKnock(_) => {
                return self.cancel_knock(from).map(CommandResult::CancelKnock)
            }
            Command::Resume(args) => return self.resume(now, from, args),
            _ => {}
        }
        let caller = match self.state.connections.get(&from) {
            Some(Binding::Admitted(id)) => *id,
            _ => return Err(error(ErrorCode::NotConnected, "not admitted")),
        };
        self.take_command_token(now, caller)?;
        // The role check for every command, before any state check (spec §6.2); commands
        // repeat it where their handlers need the caller anyway.
        self.require(caller, command.name().issuer())?;
        self.dispatch_as(now, caller, command)
    }

    /// Runs a command of an admitted caller (or of [`crate::control::SYSTEM`], the server
    /// API) whose role was checked: the one place each command meets its handler.
    pub(crate) fn dispatch_as(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        command: Command,
    ) -> Result<CommandResult, ErrorBody> {
        use CommandResult as R;
        // One routing table for the shell and the rules (`CommandName::handler`): media
        // negotiation belongs to the shard that owns the peer (ARCHITECTURE.md §2), whose
        // caller the room checked in `authorize_media`.
        match command.name().handler() {
            Handler::Room => {}
            Handler::Media => return Err(media_command()),
            Handler::Admission => {
                return Err(error(ErrorCode::InternalError, "unreachable dispatch"))
            }
        }
        match command {
            Command::LeaveRoom(_) => self.leave(now, caller).map(R::LeaveRoom),
            Command::GetRoomState(_) => {
                let snapshot = self
                    .snapshot_for(now, caller)
                    .ok_or_else(|| error(ErrorCode::NotConnected, "not admitted"))?;
                Ok(R::GetRoomState(Box::new(snapshot)))
            }
            Command::HandleKnock(args) => self.handle_knock(now, caller, args).map(R::HandleKnock),
            Command::SetLock(args) => self.set_lock(now, caller, args).map(R::SetLock),
            Command::KickParticipant(args) => self.kick(now, caller, args).map(R::KickParticipant),
            Command::EndMeeting(args) => self.end_meeting(now, caller, args).map(R::EndMeeting),
            Command::RequestAudioEnable(args) => self
                .request_enable(caller, args, MediaGate::Audio)
                .map(R::RequestAudioEnable),
            Command::RequestVideoEnable(args) => self
                .request_enable(caller, args, MediaGate::Video)
                .map(R::RequestVideoEnable),
            Command::ClearStickyReaction(args) => self
                .clear_sticky_reaction(caller, args)
                .map(R::ClearStickyReaction),
            Command::AddSpotlight(args) => self.add_spotlight(caller, args).map(R::AddSpotlight),
            Command::RemoveSpotlight(args) => {
                self.remove_spotlight(caller, args).map(R::RemoveSpotlight)
            }
            Command::SetAudioEnabled(args) => self
                .set_enabled(caller, args.enabled, MediaGate::Audio)
                .map(R::SetAudioEnabled),
            Command::SetVideoEnabled(args) => self
                .set_enabled(caller, args.enabled, MediaGate::Video)
                .map(R::SetVideoEnabled),
            Command::StartScreenshare(args) => self
                .start_screenshare(caller, args)
                .map(R::StartScreenshare),
            Command::StopScreenshare(args) => {
                self.stop_screenshare(caller, args).map(R::StopScreenshare)
            }
            Command::SetDisplayName(args) => self
                .set_display_name(now, caller, args)
                .map(R::SetDisplayName),
            Command::SetStickyReaction(args) => self
                .set_sticky_reaction(now, caller, args)
                .map(R::SetStickyReaction),
            Command::SendChatMessage(args) => self
                .send_chat_message(now, caller, args)
                .map(R::SendChatMessage),
            Command::RemoveChatMessage(args) => self
                .remove_chat_message(caller, args)
                .map(R::RemoveChatMessage),
            Command::StartCloudRecording(_) => self
                .start_service(now, caller, crate::control::Service::CloudRecording, None)
                .map(R::StartCloudRecording),
            Command::StopCloudRecording(_) => self
                .stop_service(now, caller, crate::control::Service::CloudRecording)
                .map(R::StopCloudRecording),
            Command::StartLiveStream(args) => self
                .start_service(
                    now,
                    caller,
                    crate::control::Service::LiveStream,
                    Some(args.target_id),
                )
                .map(R::StartLiveStream),
            Command::StopLiveStream(_) => self
                .stop_service(now, caller, crate::control::Service::LiveStream)
                .map(R::StopLiveStream),
            Command::StartLiveTranscription(_) => self
                .start_service(now, caller, crate::control::Service::Transcription, None)
                .map(R::StartLiveTranscription),
            Command::StopLiveTranscription(_) => self
                .stop_service(now, caller, crate::control::Service::Transcription)
                .map(R::StopLiveTranscription),
            // §8.7-§8.8, §12, §17.1.
            Command::BreakoutGet(args) => self
                .breakout_get(now, caller, args.acquire_edit_lock == Some(true))
                .map(|r| R::BreakoutGet(Box::new(r))),
            Command::BreakoutEnable(args) => self
                .breakout_enable(caller, args.if_revision)
                .map(R::BreakoutEnable),
            Command::BreakoutDisable(args) => self
                .breakout_disable(now, caller, args)
                .map(R::BreakoutDisable),
            Command::BreakoutConfigure(args) => self
                .breakout_configure(now, caller, args)
                .map(R::BreakoutConfigure),
            Command::BreakoutCreateSessions(args) => self
                .breakout_create_sessions(now, caller, args)
                .map(R::BreakoutCreateSessions),
            Command::BreakoutRenameSession(args) => self
                .breakout_rename_session(now, caller, args)
                .map(R::BreakoutRenameSession),
            Command::BreakoutDeleteSession(args) => self
                .breakout_delete_session(now, caller, args)
                .map(R::BreakoutDeleteSession),
            Command::BreakoutClearSessions(args) => self
                .breakout_clear_sessions(now, caller, args)
                .map(R::BreakoutClearSessions),
            Command::BreakoutSetSessionOpen(args) => self
                .breakout_set_session_open(now, caller, args)
                .map(R::BreakoutSetSessionOpen),
            Command::BreakoutAssign(args) => self
                .breakout_assign(now, caller, args)
                .map(R::BreakoutAssign),
            Command::BreakoutAutoAssign(args) => self
                .breakout_auto_assign(now, caller, args)
                .map(R::BreakoutAutoAssign),
            Command::BreakoutStart(args) => {
                self.breakout_start(now, caller, args).map(R::BreakoutStart)
            }
            Command::BreakoutEnd(args) => self.breakout_end(now, caller, args).map(R::BreakoutEnd),
            Command::BreakoutCancelAutoEnd(args) => self
                .breakout_cancel_auto_end(caller, args.if_revision)
                .map(R::BreakoutCancelAutoEnd),
            Command::BreakoutExtendAutoEnd(args) => self
                .breakout_extend_auto_end(now, caller, args)
                .map(R::BreakoutExtendAutoEnd),
            Command::BreakoutMove(args) => {
                self.breakout_move(now, caller, args).map(R::BreakoutMove)
            }
            Command::BreakoutAskAllToReturn(args) => self
                .breakout_ask_all_to_return(now, caller, args.if_revision)
                .map(R::BreakoutAskAllToReturn),
            Command::BreakoutBroadcast(args) => self
                .breakout_broadcast(now, caller, args)
                .map(R::BreakoutBroadcast),
            Command::BreakoutEditLockAcquire(_) => self
                .acquire_edit_lock(now, caller)
                .map(R::BreakoutEditLockAcquire),
            Command::BreakoutEditLockRefresh(args) => self
                .refresh_edit_lock(now, caller, &args.token)
                .map(R::BreakoutEditLockRefresh),
            Command::BreakoutEditLockRelease(args) => self
                .release_edit_lock(now, caller, &args.token)
                .map(R::BreakoutEditLockRelease),
            Command::BreakoutMonitor(args) => {
                self.breakout_monitor(caller, args).map(R::BreakoutMonitor)
            }
            Command::BreakoutStopMonitor(_) => self
                .breakout_stop_monitor(caller)
                .map(R::BreakoutStopMonitor),
            Command::BreakoutJoin(args) => {
                self.breakout_join(now, caller, args).map(R::BreakoutJoin)
            }
            Command::BreakoutLeave(_) => self.breakout_leave(now, caller).map(R::BreakoutLeave),
            Command::BreakoutAskForHelp(_) => self
                .breakout_ask_for_help(now, caller)
                .map(R::BreakoutAskForHelp),
            // Admission and media commands were answered above, by the routing table.
            _ => Err(error(ErrorCode::InternalError, "unreachable dispatch")),
        }
    }

    /// The "all commands" bucket of spec §6.5.
    pub(crate) fn take_command_token(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<(), ErrorBody> {
        let limits = self
            .limits
            .entry(caller)
            .or_insert_with(|| RateLimits::new(now));
        limits.commands.check(1, now).map_err(rate_limited)?;
        limits.commands.take(1);
        Ok(())
    }

    /// The caller, if its role has what the command needs; `forbidden` otherwise (spec §4.2).
    pub(crate) fn require(
        &self,
        caller: ParticipantId,
        needs: Needs,
    ) -> Result<&Participant, ErrorBody> {
        let me = if caller == crate::control::SYSTEM {
            &self.system
        } else {
            self.state
                .participants
                .get(&caller)
                .ok_or_else(|| error(ErrorCode::NotConnected, "not admitted"))?
        };
        if needs.allows(me.role) {
            Ok(me)
        } else {
            Err(forbidden())
        }
    }

    // ---- effects ----

    /// Queues an event for admitted recipients (skipped when nobody is left to get it).
    pub(crate) fn send(&mut self, to: Vec<ParticipantId>, event: Event) {
        if !to.is_empty() {
            self.pending.push(Effect::Send { to, event });
        }
    }

    /// Every admitted participant.
    pub(crate) fn everyone(&self) -> Vec<ParticipantId> {
        self.state.participants.keys().copied().collect()
    }

    /// Every admitted participant except one.
    pub(crate) fn everyone_but(&self, except: ParticipantId) -> Vec<ParticipantId> {
        self.state
            .participants
            .keys()
            .copied()
            .filter(|id| *id != except)
            .collect()
    }

    /// Every admitted host.
    pub(crate) fn hosts(&self) -> Vec<ParticipantId> {
        self.state
            .participants
            .values()
            .filter(|p| p.is_host())
            .map(|p| p.id)
            .collect()
    }

    pub(crate) fn arm_timer(&mut self, timer: Timer, at: Instant) {
        self.state.timers.arm(timer, at);
    }

    /// Releases the command's effects: on success the policy install first, then the events,
    /// then `subscriptions_changed` (spec §13.3 steps 2-4).
    pub(crate) fn settle(&mut self, now: Instant, success: bool) {
        if !success {
            // A failed command changes nothing, so it has nothing to release (spec §6.2).
            debug_assert!(self.pending.is_empty(), "a failed command queued effects");
            debug_assert!(
                !self.breakout_dirty,
                "a failed command changed the breakout"
            );
            self.pending.clear();
            self.pending_after.clear();
            self.breakout_dirty = false;
            self.full_set_for.clear();
            return;
        }
        let _ = now;
        let mut policy = policy_builder::build(self);
        policy.version = self.installed.version;
        if policy != self.installed {
            policy.version += 1;
            self.installed = policy.clone();
            self.effects.push_back(Effect::InstallPolicy(policy));
        }
        self.effects.extend(self.pending.drain(..));
        let full = std::mem::take(&mut self.full_set_for);
        let changes = policy_builder::subscription_changes(self, &full);
        self.allowed = changes.sets;
        self.effects.extend(changes.events);
        self.effects.extend(self.pending_after.drain(..));
        if std::mem::take(&mut self.breakout_dirty) {
            self.send_breakout_updates();
        }
    }

    /// `breakout_updated` with its own view to each participant whose view changed (spec
    /// §9.3). Every change bumps the revision, which only hosts use (`ifRevision` guards
    /// management commands), so hosts get every revision and the others only a view that
    /// differs apart from the revision.
    fn send_breakout_updates(&mut self) {
        let mut sent = HashMap::with_capacity(self.state.participants.len());
        for p in self.state.participants.values() {
            let mut view = self.breakout_view(p);
            let changed = match self.breakout_views_sent.get(&p.id) {
                Some(old) if !p.is_host() => {
                    let revision = view.revision;
                    view.revision = old.revision;
                    let same = view == *old;
                    view.revision = revision;
                    !same
                }
                _ => true,
            };
            if changed {
                self.effects.push_back(Effect::Send {
                    to: vec![p.id],
                    event: Event::BreakoutUpdated(Box::new(view.clone())),
                });
            }
            sent.insert(p.id, view);
        }
        self.breakout_views_sent = sent;
    }

    /// Notes the view a participant got in a command result (`room_joined`, `room_resumed`,
    /// `breakout_get`), so that an unchanged view is not sent again as `breakout_updated`.
    pub(crate) fn note_breakout_view(&mut self, participant: ParticipantId, view: &BreakoutView) {
        self.breakout_views_sent.insert(participant, view.clone());
    }

    /// `breakoutGroup` of `room_joined` / `room_resumed`: the session one is in, or `null`.
    pub(crate) fn breakout_group(&self, location: Location) -> Option<SessionRef> {
        let Location::Session(id) = location else {
            return None;
        };
        self.state.breakout.session(id).map(|s| SessionRef {
            id: session_to_wire(id),
            name: s.name.clone(),
        })
    }

    /// A participant's public projection for `me` (spec §5.3).
    pub(crate) fn participant_view(
        &self,
        p: &Participant,
        me: &Participant,
    ) -> signalling_proto::ParticipantView {
        let b = &self.state.breakout;
        p.view(
            me.is_host() || p.id == me.id,
            b.resolved_assignment(p),
            b.monitors.get(&p.id).copied(),
        )
    }

    // ---- shared pieces ----

    /// A fresh 128-bit secret (resume tokens, grants), hex encoded.
    pub(crate) fn mint_secret(&mut self) -> Secret {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        Secret(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub(crate) fn timestamp(&self, now: Instant) -> Timestamp {
        self.clock.timestamp(now)
    }

    pub(crate) fn room_view(&self, now: Instant, me: &Participant) -> RoomView {
        let session = self.room_session_view(now);
        RoomView {
            name: self.name.clone(),
            is_locked: self.state.is_locked,
            session,
            participants: self
                .state
                .participants
                .values()
                .map(|p| self.participant_view(p, me))
                .collect(),
            knockers: if me.is_host() {
                self.state
                    .waiting
                    .iter()
                    .map(|k| self.knocker_view(k))
                    .collect()
            } else {
                Vec::new()
            },
            spotlights: self
                .state
                .spotlights
                .iter()
                .map(|(id, stream)| Spotlight {
                    participant_id: participant_to_wire(*id),
                    stream_id: stream_to_wire(*stream),
                })
                .collect(),
            recording: self.state.recording.recording_view(),
            live_stream: self.state.live_stream.live_stream_view(),
            transcription: self.state.transcription.transcription_view(),
        }
    }

    /// Starts a room session if none is running (spec §5.2).
    pub(crate) fn ensure_room_session(&mut self, now: Instant) {
        if self.state.room_session.is_none() {
            let n = self.state.next_room_session;
            self.state.next_room_session += 1;
            let id = format!("{}-{n}", self.name);
            self.notice(crate::control::Notice::RoomStarted {
                room_session_id: id.clone(),
            });
            self.state.room_session = Some(RoomSession {
                id,
                created_at: self.timestamp(now),
            });
        }
    }

    /// Ends the room session once nobody is admitted or waiting (spec §5.2): chat, bans and
    /// spotlights are cleared and services stopped; the lock is room state and stays. Nobody is left to notify; the shell gets
    /// [`Effect::RoomSessionEnded`].
    pub(crate) fn end_room_session_if_empty(&mut self) {
        if !self.state.participants.is_empty() || !self.state.waiting.is_empty() {
            return;
        }
        if self.state.room_session.is_none() {
            return;
        }
        let now = self.last_input_at;
        self.breakout_room_session_ended(now);
        let Some(session) = self.state.room_session.take() else {
            return;
        };
        self.state.chat = ChatStore::default();
        self.state.kicked_keys.clear();
        self.state.spotlights.clear();
        for (service, state) in [
            (
                crate::control::Service::CloudRecording,
                &mut self.state.recording,
            ),
            (
                crate::control::Service::LiveStream,
                &mut self.state.live_stream,
            ),
            (
                crate::control::Service::Transcription,
                &mut self.state.transcription,
            ),
        ] {
            if state.is_active() {
                self.pending.push(Effect::StopService { service });
            }
            *state = ServiceState::default();
        }
        self.notice(crate::control::Notice::RoomEnded {
            room_session_id: session.id.clone(),
        });
        self.pending.push(Effect::RoomSessionEnded {
            room_session_id: session.id,
        });
    }
}

/// Which media gate a command is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MediaGate {
    Audio,
    Video,
}
