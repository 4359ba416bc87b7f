//! Joining, resuming, leaving and losing the transport (spec §7, §8.1).

use crate::control::connection::Binding;
use crate::control::errors::error;
use crate::control::participant::{Connection, Participant};
use crate::control::rate_limit::RateLimits;
use crate::control::recording::{
    service_role, SERVER_CAPTIONER_IDENTITY, SERVER_RECORDER_IDENTITY,
};
use crate::control::text_rules::{DISPLAY_NAME, EXTERNAL_ID};
use crate::control::waiting_room::Reservation;
use crate::control::wire_id::{location_to_wire, participant_from_wire, participant_to_wire};
use crate::control::{CloseReason, ConnectionId, Effect, Room, Service, Timer};
use crate::core::{Location, ParticipantId};
use crate::token::{is_token_role, Claims};
use signalling_proto::{
    ClientLeft, Command, CommandResult, ConnectionState, Credential, Empty, ErrorBody, ErrorCode,
    Event, JoinRoomArgs, LeaveReason, NewClient, NewClientRoom, ParticipantConnectionChanged,
    ResumeArgs, Role, RoomJoined, RoomLockedDetails, RoomResumed, RoomSessionView, Secret,
};
use std::time::Instant;

/// The identity a verified `{token}` (or `{roomKey}`) credential carries; the shell checks the
/// credential (`crate::token`) and passes the claims in (spec §8.1 check 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The room the credential admits to.
    pub room: String,
    /// `sub`: the stable identity that keys bans and, later, breakout assignments.
    pub identity_key: String,
    pub role: Role,
    pub name: Option<String>,
    pub external_id: Option<String>,
}

impl From<Claims> for VerifiedClaims {
    fn from(claims: Claims) -> Self {
        Self {
            room: claims.room,
            identity_key: claims.identity,
            role: claims.role,
            name: claims.name,
            external_id: claims.external_id,
        }
    }
}

/// Where an admission's identity comes from.
enum Admission {
    Claims(VerifiedClaims),
    Grant(Secret),
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub(crate) fn secrets_equal(a: &Secret, b: &Secret) -> bool {
    let (a, b) = (a.expose().as_bytes(), b.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Room {
    /// `join_room` whose `{token}` / `{roomKey}` credential the shell has verified; `claims`
    /// is what it carries (spec §8.1). A `{grant}` credential may come through here too, in
    /// which case the grant, not `claims`, decides the identity.
    pub fn handle_join(
        &mut self,
        now: Instant,
        from: ConnectionId,
        args: JoinRoomArgs,
        claims: VerifiedClaims,
    ) -> Result<CommandResult, ErrorBody> {
        let command = Command::JoinRoom(args);
        if let Err(details) = command.check_arguments() {
            return Err(ErrorBody::invalid_argument(&details, details.describe()));
        }
        let Command::JoinRoom(args) = command else {
            return Err(error(ErrorCode::InternalError, "unreachable"));
        };
        self.last_input_at = now;
        let admission = match &args.credential {
            Some(Credential::Grant(secret)) => Admission::Grant(secret.clone()),
            _ => Admission::Claims(claims),
        };
        let result = self.join(now, from, args, admission);
        self.settle(now, result.is_ok());
        result
    }

    /// `join_room` through [`Room::handle_command`]: only a knock grant can admit here.
    pub(crate) fn join_with_grant(
        &mut self,
        now: Instant,
        from: ConnectionId,
        args: JoinRoomArgs,
    ) -> Result<CommandResult, ErrorBody> {
        match &args.credential {
            Some(Credential::Grant(secret)) => {
                let secret = secret.clone();
                self.join(now, from, args, Admission::Grant(secret))
            }
            _ => Err(error(
                ErrorCode::InvalidCredential,
                "credential not verified (tokens go through handle_join)",
            )),
        }
    }

    fn join(
        &mut self,
        now: Instant,
        from: ConnectionId,
        args: JoinRoomArgs,
        admission: Admission,
    ) -> Result<CommandResult, ErrorBody> {
        let reserved = match self.state.connections.get(&from) {
            None => None,
            Some(Binding::Reserved(r)) => Some(r.id),
            Some(Binding::Knocking(_)) => {
                return Err(error(ErrorCode::AlreadyKnocking, "this socket is knocking"))
            }
            Some(Binding::Admitted(_)) => {
                return Err(error(
                    ErrorCode::InvalidRequest,
                    "already joined on this socket",
                ))
            }
        };
        // Check 1: the shell routes by name; another name is another (absent) room.
        if args.room_name != self.name {
            return Err(error(ErrorCode::RoomNotFound, "no such room"));
        }
        let display_arg = args
            .display_name
            .as_deref()
            .map(|n| DISPLAY_NAME.check(n))
            .transpose()?;
        let external_arg = args
            .external_id
            .as_deref()
            .map(|e| EXTERNAL_ID.check(e))
            .transpose()?;
        // Check 2: the credential gives identity and role.
        let (identity_key, role, display_name, external_id, grant_index, id, knock_session) =
            match admission {
                Admission::Claims(claims) => {
                    if claims.room != self.name || !is_token_role(claims.role) {
                        return Err(error(
                            ErrorCode::InvalidCredential,
                            "credential not valid here",
                        ));
                    }
                    let name = match (display_arg, claims.name.as_deref()) {
                        (Some(name), _) => name,
                        (None, Some(name)) => DISPLAY_NAME.check(name).unwrap_or_else(|_| guest()),
                        (None, None) => guest(),
                    };
                    (
                        claims.identity_key,
                        claims.role,
                        name,
                        external_arg.or(claims.external_id),
                        None,
                        reserved,
                        None,
                    )
                }
                Admission::Grant(secret) => {
                    let index = self
                        .state
                        .grants
                        .iter()
                        .position(|g| secrets_equal(&g.secret, &secret) && now < g.expires_at)
                        .ok_or_else(|| {
                            error(ErrorCode::InvalidCredential, "unknown or expired grant")
                        })?;
                    let grant = &self.state.grants[index];
                    if let Some(self_id) = &args.self_id {
                        if participant_from_wire(self_id) != Some(grant.participant) {
                            return Err(ErrorBody::invalid_argument(
                                &signalling_proto::InvalidArgumentDetails::new(
                                    "selfId",
                                    signalling_proto::ArgumentReason::InvalidValue,
                                ),
                                "selfId is not the id the grant is bound to",
                            ));
                        }
                    }
                    (
                        grant.identity_key.clone(),
                        grant.role,
                        display_arg.unwrap_or_else(|| grant.display_name.clone()),
                        external_arg.or_else(|| grant.external_id.clone()),
                        Some(index),
                        Some(grant.participant),
                        grant.session,
                    )
                }
            };
        // Check 3.
        if self.state.kicked_keys.contains(&identity_key) {
            return Err(error(
                ErrorCode::KickedFromRoom,
                "kicked from this room session",
            ));
        }
        // Check 4.
        if role.is_unique() && self.state.participants.values().any(|p| p.role == role) {
            return Err(error(
                ErrorCode::UniqueRoleAlreadyInRoom,
                "this service role is already present",
            ));
        }
        // The shell's own recorder joins for a requested recording only: one that comes after
        // the stop (the stop overtook its join) must not appear in the room.
        if role == Role::Recorder
            && identity_key == SERVER_RECORDER_IDENTITY
            && self.recorder_reports_start
            && !self.state.recording.is_active()
        {
            return Err(error(
                ErrorCode::Forbidden,
                "no cloud recording is requested: the server's recorder joins when one is",
            ));
        }
        // The live transcriber hears every location: only the server's own, for a requested
        // transcription.
        if role == Role::Captioner
            && (identity_key != SERVER_CAPTIONER_IDENTITY || !self.state.transcription.is_active())
        {
            return Err(error(
                ErrorCode::Forbidden,
                "a captioner joins only as the server's transcriber, while a transcription is requested",
            ));
        }
        // Check 5.
        let is_viewer = matches!(role, Role::Viewer | Role::GrantedViewer);
        if is_viewer {
            let viewers = self
                .state
                .participants
                .values()
                .filter(|p| p.is_viewer())
                .count();
            if viewers >= usize::try_from(self.policy.max_viewers).unwrap_or(usize::MAX) {
                return Err(error(
                    ErrorCode::MaxViewerLimitReached,
                    "viewer limit reached",
                ));
            }
        } else if role.is_person() {
            let people = self
                .state
                .participants
                .values()
                .filter(|p| p.role.is_person() && !p.is_viewer())
                .count();
            if people >= usize::try_from(self.policy.max_participants).unwrap_or(usize::MAX) {
                return Err(error(ErrorCode::RoomFull, "the room is full"));
            }
        }
        // Check 6 (§7.4): only visitors, and viewers under `viewers_must_knock`, knock; grant
        // holders never do.
        let must_knock = match role {
            Role::Visitor => true,
            Role::Viewer => self.policy.viewers_must_knock,
            _ => false,
        };
        if self.state.is_locked && must_knock && grant_index.is_none() {
            let id = id.unwrap_or_else(|| self.mint_participant_id());
            self.state.connections.insert(
                from,
                Binding::Reserved(Box::new(Reservation {
                    id,
                    claims: VerifiedClaims {
                        room: self.name.clone(),
                        identity_key,
                        role,
                        name: None,
                        external_id: None,
                    },
                    display_name,
                    external_id,
                })),
            );
            return Err(ErrorBody::with_details(
                ErrorCode::RoomLocked,
                "the room is locked; knock to enter",
                &RoomLockedDetails {
                    self_id: participant_to_wire(id),
                    is_locked: true,
                },
            ));
        }

        // Admit.
        if let Some(index) = grant_index {
            self.state.grants.remove(index);
        }
        self.state.grants.retain(|g| now < g.expires_at);
        let id = id.unwrap_or_else(|| self.mint_participant_id());
        let publishes = role.may_publish();
        let resume_token = self.mint_secret();
        let participant = Participant {
            id,
            identity_key,
            display_name,
            role,
            external_id,
            is_dial_in: args.is_dial_in.unwrap_or(false),
            capabilities: args.capabilities,
            audio_enabled: role.may_publish_audio() && args.media.audio,
            video_enabled: publishes && args.media.video,
            host_muted_audio: false,
            screenshares: Vec::new(),
            sticky_reaction: None,
            connection: Connection::Connected(from),
            joined_at: now,
            location: Location::Main,
            resume_token: resume_token.clone(),
        };
        self.ensure_room_session(now);
        self.notice(crate::control::Notice::ParticipantJoined {
            participant: id,
            identity: participant.identity_key.clone(),
            name: participant.display_name.clone(),
            role: participant.role,
        });
        self.state.participants.insert(id, participant);
        self.state.connections.insert(from, Binding::Admitted(id));
        self.limits.insert(id, RateLimits::new(now));

        let session = self.room_session_view(now);
        let me = &self.state.participants[&id];
        let b = &self.state.breakout;
        let (assigned, monitoring) = (b.resolved_assignment(me), None);
        let (for_hosts, for_others) = (
            me.view(true, assigned, monitoring),
            me.view(false, assigned, monitoring),
        );
        let (hosts, others): (Vec<ParticipantId>, Vec<ParticipantId>) =
            self.everyone_but(id).into_iter().partition(|p| {
                self.state
                    .participants
                    .get(p)
                    .is_some_and(Participant::is_host)
            });
        for (to, client) in [(hosts, for_hosts), (others, for_others)] {
            self.send(
                to,
                Event::NewClient(NewClient {
                    client,
                    room: NewClientRoom {
                        session: session.clone(),
                    },
                }),
            );
        }
        for service in [Service::CloudRecording, Service::LiveStream] {
            if self.admission_starts(service) == Some(role) {
                self.service_running(now, service, None);
            }
        }
        // §7.3 item 2: placement into a running breakout.
        self.place_on_admission(now, id, knock_session);
        let breakout = self.breakout_view(&self.state.participants[&id]);
        self.note_breakout_view(id, &breakout);
        let me = &self.state.participants[&id];
        Ok(CommandResult::JoinRoom(Box::new(RoomJoined {
            self_id: participant_to_wire(id),
            resume_token: resume_token.clone(),
            role_name: role,
            client_claim: resume_token,
            breakout_group: self.breakout_group(me.location),
            room: self.room_view(now, me),
            breakout,
            chat_history: self.chat_history_for(me.location),
            // The signalling shell adds the TURN servers (they are no room state).
            ice_servers: Vec::new(),
        })))
    }

    fn mint_participant_id(&mut self) -> ParticipantId {
        let id = ParticipantId(self.state.next_participant);
        self.state.next_participant += 1;
        id
    }

    pub(crate) fn room_session_view(&self, now: Instant) -> RoomSessionView {
        self.state.room_session.clone().map_or_else(
            || RoomSessionView {
                id: String::new(),
                created_at: self.timestamp(now),
            },
            |s| RoomSessionView {
                id: s.id,
                created_at: s.created_at,
            },
        )
    }

    /// `resume` (spec §7.2, §8.1): same id, role and location; the subscriber gets its full
    /// allowed set again (§13.8). With `newTransports` (a reloaded page) its screenshares end
    /// and the shell swaps its media transports. `replayed` is `true` here; the shell, which
    /// owns the replay buffer, answers `false` and sends a `room_state` snapshot when the
    /// missed events are gone (spec §6.3).
    pub(crate) fn resume(
        &mut self,
        _now: Instant,
        from: ConnectionId,
        args: ResumeArgs,
    ) -> Result<CommandResult, ErrorBody> {
        if matches!(
            self.state.connections.get(&from),
            Some(Binding::Admitted(_) | Binding::Knocking(_))
        ) {
            return Err(error(
                ErrorCode::InvalidRequest,
                "this socket is already in use",
            ));
        }
        let id = self
            .state
            .participants
            .values()
            .find(|p| secrets_equal(&p.resume_token, &args.resume_token))
            .map(|p| p.id)
            .ok_or_else(|| {
                error(
                    ErrorCode::ResumeFailed,
                    "unknown resume token or grace expired",
                )
            })?;
        let p = &self.state.participants[&id];
        if self.state.kicked_keys.contains(&p.identity_key) {
            return Err(error(
                ErrorCode::KickedFromRoom,
                "kicked from this room session",
            ));
        }
        // A resume that overtakes the server's notice of the old transport's loss replaces it.
        let was_reconnecting = p.connection_id().is_none();
        if let Some(old) = p.connection_id() {
            self.state.connections.remove(&old);
            self.pending.push(Effect::Close {
                connection: old,
                reason: CloseReason::Replaced,
            });
        }
        self.state.connections.insert(from, Binding::Admitted(id));
        self.state.timers.disarm(Timer::ReconnectGrace(id));
        if let Some(p) = self.state.participants.get_mut(&id) {
            p.connection = Connection::Connected(from);
        }
        if was_reconnecting {
            let everyone = self.everyone();
            self.send(
                everyone,
                Event::ParticipantConnectionChanged(ParticipantConnectionChanged {
                    participant_id: participant_to_wire(id),
                    connection: ConnectionState::Connected,
                }),
            );
        }
        if args.new_transports {
            // The page that shared the screen is gone with its tracks (a reload); a resume
            // that overtook the old socket's close has not stopped them yet.
            self.stop_all_screenshares(id, signalling_proto::ScreenshareStopReason::Disconnected);
        }
        self.full_set_for.push(id);
        let breakout = self.breakout_view(&self.state.participants[&id]);
        self.note_breakout_view(id, &breakout);
        let me = &self.state.participants[&id];
        Ok(CommandResult::Resume(Box::new(RoomResumed {
            self_id: participant_to_wire(id),
            location: location_to_wire(me.location),
            breakout_group: self.breakout_group(me.location),
            breakout,
            replayed: true,
        })))
    }

    /// `leave_room` (spec §8.1): always allowed; `room_left` to the leaver after the response,
    /// `client_left {left}` to the others, then the socket closes.
    pub(crate) fn leave(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<Empty, ErrorBody> {
        self.send(vec![caller], Event::RoomLeft(Empty {}));
        let connection = self.connection_of(caller);
        self.remove_participant(now, caller, LeaveReason::Left);
        if let Some(connection) = connection {
            self.pending.push(Effect::Close {
                connection,
                reason: CloseReason::Left,
            });
        }
        Ok(Empty {})
    }

    /// The participant is Gone (spec §7.2): `client_left` to everyone left, its spotlights
    /// dropped silently, the room session ended if it was the last.
    pub(crate) fn remove_participant(
        &mut self,
        now: Instant,
        id: ParticipantId,
        reason: LeaveReason,
    ) {
        let Some(p) = self.state.participants.remove(&id) else {
            return;
        };
        self.notice(crate::control::Notice::ParticipantLeft {
            participant: id,
            identity: p.identity_key.clone(),
            reason,
        });
        if let Some(connection) = p.connection_id() {
            self.state.connections.remove(&connection);
        }
        self.state.timers.disarm(Timer::ReconnectGrace(id));
        self.limits.remove(&id);
        self.state.spotlights.retain(|(who, _)| *who != id);
        self.breakout_participant_gone(id);
        let everyone = self.everyone();
        self.send(
            everyone,
            Event::ClientLeft(ClientLeft {
                client_id: participant_to_wire(id),
                reason,
            }),
        );
        // A service client that leaves on its own ends its service.
        for service in [
            Service::CloudRecording,
            Service::LiveStream,
            Service::Transcription,
        ] {
            if service_role(service) == Some(p.role) && self.service_state(service).is_active() {
                self.stop_service_now(now, service);
            }
        }
        self.pending.push(Effect::Released { participant: id });
        self.end_room_session_if_empty();
    }

    /// A host stopped the recorder / streamer: it is removed like a leaver.
    pub(crate) fn remove_service_client(&mut self, now: Instant, id: ParticipantId) {
        let connection = self.connection_of(id);
        self.remove_participant(now, id, LeaveReason::Left);
        if let Some(connection) = connection {
            self.pending.push(Effect::Close {
                connection,
                reason: CloseReason::ServiceStopped,
            });
        }
    }

    /// Transport loss (spec §7.1-§7.2).
    pub(crate) fn connection_lost(&mut self, now: Instant, connection: ConnectionId) {
        match self.state.connections.remove(&connection) {
            Some(Binding::Admitted(id)) => {
                if let Some(p) = self.state.participants.get_mut(&id) {
                    p.connection = Connection::Reconnecting { since: now };
                }
                let everyone = self.everyone();
                self.send(
                    everyone,
                    Event::ParticipantConnectionChanged(ParticipantConnectionChanged {
                        participant_id: participant_to_wire(id),
                        connection: ConnectionState::Reconnecting,
                    }),
                );
                self.stop_all_screenshares(
                    id,
                    signalling_proto::ScreenshareStopReason::Disconnected,
                );
                let at = now + self.policy.reconnect_grace;
                self.arm_timer(Timer::ReconnectGrace(id), at);
            }
            Some(Binding::Knocking(id)) => {
                self.knocker_gone(id, signalling_proto::KnockerLeftReason::Disconnected);
            }
            Some(Binding::Reserved(_)) | None => {}
        }
    }

    /// The reconnect grace ran out: Gone with reason `timeout` (spec §7.2).
    pub(crate) fn grace_expired(&mut self, now: Instant, id: ParticipantId) {
        if self
            .state
            .participants
            .get(&id)
            .is_some_and(|p| p.connection_id().is_none())
        {
            self.remove_participant(now, id, LeaveReason::Timeout);
        }
    }
}

fn guest() -> String {
    "Guest".to_owned()
}
