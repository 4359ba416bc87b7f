//! The waiting room: reservations, knockers and one-time grants (spec §5.4, §8.1-§8.2).

use crate::control::admission::VerifiedClaims;
use crate::core::ParticipantId;
use signalling_proto::{Role, Secret};
use std::time::Instant;

/// What a `join_room` that got `room_locked` leaves on its socket: the reserved id and the
/// verified identity, so `knock_room` needs no credential (spec §8.1 check 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub id: ParticipantId,
    pub claims: VerifiedClaims,
    pub display_name: String,
    pub external_id: Option<String>,
}

/// A participant in the waiting room, in knock order (spec §5.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Knocker {
    pub reservation: Reservation,
    pub connection: crate::control::ConnectionId,
    pub image_url: Option<String>,
    pub knocked_at: Instant,
    pub on_hold: Option<Option<String>>,
}

/// A one-time admission grant minted by an accepted knock, valid 60 s (spec §8.2). It is bound
/// to the knocker's id, which the participant keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub secret: Secret,
    pub participant: ParticipantId,
    pub identity_key: String,
    /// `granted_visitor` or `granted_viewer`.
    pub role: Role,
    pub display_name: String,
    pub external_id: Option<String>,
    pub expires_at: Instant,
    /// The session a host admitted the knocker into (spec §8.2 `targetSessionId`).
    pub session: Option<crate::core::SessionId>,
}

/// The role a knocker gets when admitted (spec §4.1).
pub(crate) fn granted_role(requested: Role) -> Role {
    match requested {
        Role::Viewer | Role::GrantedViewer => Role::GrantedViewer,
        _ => Role::GrantedVisitor,
    }
}

use crate::control::connection::Binding;
use crate::control::errors::error;
use crate::control::room::Needs;
use crate::control::text_rules::{DISPLAY_NAME, EXTERNAL_ID, IMAGE_URL, KNOCK_MESSAGE};
use crate::control::wire_id::{participant_from_wire, participant_to_wire};
use crate::control::{CloseReason, ConnectionId, Effect, Room, Timer};
use signalling_proto::{
    Empty, ErrorBody, ErrorCode, Event, HandleKnockArgs, KnockAction, KnockHandled,
    KnockHandledForHosts, KnockHandledForKnocker, KnockHandledReason, KnockResolution,
    KnockRoomArgs, KnockerLeft, KnockerLeftReason, KnockerStatus, KnockerView, RoomKnocked,
};
use std::time::Duration;

/// How long an accepted knocker's grant stays valid (spec §8.2).
pub(crate) const GRANT_VALIDITY: Duration = Duration::from_secs(60);

impl Room {
    pub(crate) fn knocker_view(&self, k: &Knocker) -> KnockerView {
        KnockerView {
            participant_id: participant_to_wire(k.reservation.id),
            display_name: k.reservation.display_name.clone(),
            image_url: k.image_url.clone(),
            external_id: k.reservation.external_id.clone(),
            knocked_at: self.timestamp(k.knocked_at),
            status: if k.on_hold.is_some() {
                KnockerStatus::OnHold
            } else {
                KnockerStatus::Knocking
            },
        }
    }

    /// `knock_room` (spec §8.1): only on a socket that holds a reserved id.
    pub(crate) fn knock(
        &mut self,
        now: Instant,
        from: ConnectionId,
        args: KnockRoomArgs,
    ) -> Result<Empty, ErrorBody> {
        let mut reservation = match self.state.connections.get(&from) {
            Some(Binding::Reserved(r)) => (**r).clone(),
            Some(Binding::Knocking(_)) => {
                return Err(error(ErrorCode::AlreadyKnocking, "already knocking"))
            }
            _ => {
                return Err(error(
                    ErrorCode::NotConnected,
                    "no room_locked on this socket",
                ))
            }
        };
        if !self.state.is_locked {
            return Err(error(
                ErrorCode::RoomNotLocked,
                "the room is not locked; join",
            ));
        }
        if let Some(name) = &args.display_name {
            reservation.display_name = DISPLAY_NAME.check(name)?;
        }
        if let Some(external) = &args.external_id {
            reservation.external_id = Some(EXTERNAL_ID.check(external)?);
        }
        let image_url = args
            .image_url
            .as_deref()
            .map(|u| IMAGE_URL.check(u))
            .transpose()?;
        let id = reservation.id;
        let knocker = Knocker {
            reservation,
            connection: from,
            image_url,
            knocked_at: now,
            on_hold: None,
        };
        let event = RoomKnocked {
            participant_id: participant_to_wire(id),
            display_name: knocker.reservation.display_name.clone(),
            image_url: knocker.image_url.clone(),
            external_id: knocker.reservation.external_id.clone(),
            knocked_at: self.timestamp(now),
        };
        self.notice(crate::control::Notice::Knock {
            participant: id,
            name: knocker.reservation.display_name.clone(),
        });
        self.state.waiting.push(knocker);
        self.state.connections.insert(from, Binding::Knocking(id));
        if let Some(timeout) = self.policy.knock_timeout {
            self.arm_timer(Timer::KnockTimeout(id), now + timeout);
        }
        let hosts = self.hosts();
        self.send(hosts, Event::RoomKnocked(event));
        Ok(Empty {})
    }

    /// `cancel_knock` (spec §8.1): back to a reserved socket that may knock again.
    pub(crate) fn cancel_knock(&mut self, from: ConnectionId) -> Result<Empty, ErrorBody> {
        match self.state.connections.get(&from) {
            Some(Binding::Knocking(id)) => {
                let id = *id;
                self.knocker_gone(id, KnockerLeftReason::Cancelled);
                Ok(Empty {})
            }
            Some(Binding::Reserved(_)) => Err(error(ErrorCode::KnockNotFound, "not knocking")),
            _ => Err(error(ErrorCode::NotConnected, "not knocking")),
        }
    }

    fn take_knocker(&mut self, id: ParticipantId) -> Option<Knocker> {
        let index = self
            .state
            .waiting
            .iter()
            .position(|k| k.reservation.id == id)?;
        self.state.timers.disarm(Timer::KnockTimeout(id));
        Some(self.state.waiting.remove(index))
    }

    /// A knocker left unhandled (cancelled or disconnected): `knocker_left` to hosts.
    pub(crate) fn knocker_gone(&mut self, id: ParticipantId, reason: KnockerLeftReason) {
        let Some(knocker) = self.take_knocker(id) else {
            return;
        };
        if reason == KnockerLeftReason::Cancelled {
            // The socket keeps its reservation so it may knock again.
            self.state.connections.insert(
                knocker.connection,
                Binding::Reserved(Box::new(knocker.reservation)),
            );
        }
        let hosts = self.hosts();
        self.send(
            hosts,
            Event::KnockerLeft(KnockerLeft {
                participant_id: participant_to_wire(id),
                reason,
            }),
        );
        self.end_room_session_if_empty();
    }

    /// `handle_knock` (spec §8.2).
    pub(crate) fn handle_knock(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: HandleKnockArgs,
    ) -> Result<Empty, ErrorBody> {
        self.require(caller, Needs::Host)?;
        let id = participant_from_wire(&args.participant_id)
            .filter(|id| self.state.waiting.iter().any(|k| k.reservation.id == *id))
            .ok_or_else(|| error(ErrorCode::KnockNotFound, "no such knocker"))?;
        // Admitting into a session needs a running breakout (spec §8.2, §14 #62).
        let target_session = match &args.target_session_id {
            Some(wire) => {
                // §8.2: any state but Started is `breakout_not_active` here (Closing has its own
                // code); `handle_knock` is not a breakout command, so Disabled is not special.
                match self.state.breakout.state {
                    signalling_proto::BreakoutState::Started => {}
                    signalling_proto::BreakoutState::Closing => {
                        return Err(crate::control::errors::closing())
                    }
                    _ => return Err(crate::control::errors::not_active()),
                }
                Some(crate::control::breakout::session_from_wire(
                    &self.state.breakout,
                    wire,
                )?)
            }
            None => None,
        };
        let message = args
            .message
            .as_deref()
            .map(|m| KNOCK_MESSAGE.check(m))
            .transpose()?;
        match args.action {
            KnockAction::Accept => {
                self.accept_knocker(now, id, Some(caller), message, None);
                if let Some(s) = target_session {
                    // An explicit assignment for the identity plus a placement on join.
                    if let Some(grant) = self.state.grants.iter_mut().find(|g| g.participant == id)
                    {
                        grant.session = Some(s);
                        self.state
                            .breakout
                            .assignments
                            .insert(grant.identity_key.clone(), s);
                        self.breakout_changed();
                    }
                }
            }
            KnockAction::Reject => self.reject_knocker(id, Some(caller), message, None),
            KnockAction::Hold => {
                let Some(k) = self
                    .state
                    .waiting
                    .iter_mut()
                    .find(|k| k.reservation.id == id)
                else {
                    return Err(error(ErrorCode::KnockNotFound, "no such knocker"));
                };
                k.on_hold = Some(message.clone());
                let connection = k.connection;
                self.pending.push(Effect::SendToConnection {
                    connection,
                    event: Event::KnockHandled(KnockHandled::ToKnocker(KnockHandledForKnocker {
                        resolution: KnockResolution::OnHold,
                        message,
                        grant: None,
                        reason: None,
                    })),
                });
                self.knock_handled_to_hosts(id, KnockResolution::OnHold, Some(caller), None);
            }
        }
        Ok(Empty {})
    }

    fn knock_handled_to_hosts(
        &mut self,
        id: ParticipantId,
        resolution: KnockResolution,
        handled_by: Option<ParticipantId>,
        reason: Option<KnockHandledReason>,
    ) {
        let hosts = self.hosts();
        self.send(
            hosts,
            Event::KnockHandled(KnockHandled::ToHosts(KnockHandledForHosts {
                participant_id: participant_to_wire(id),
                resolution,
                handled_by: handled_by.map(participant_to_wire),
                reason,
            })),
        );
    }

    /// Accept: a one-time grant valid 60 s bound to the knocker's id (spec §8.2).
    pub(crate) fn accept_knocker(
        &mut self,
        now: Instant,
        id: ParticipantId,
        handled_by: Option<ParticipantId>,
        message: Option<String>,
        reason: Option<KnockHandledReason>,
    ) {
        let Some(knocker) = self.take_knocker(id) else {
            return;
        };
        let secret = self.mint_secret();
        let r = &knocker.reservation;
        self.state.grants.push(Grant {
            secret: secret.clone(),
            participant: id,
            identity_key: r.claims.identity_key.clone(),
            role: granted_role(r.claims.role),
            display_name: r.display_name.clone(),
            external_id: r.external_id.clone(),
            expires_at: now + GRANT_VALIDITY,
            session: None,
        });
        // The socket may send `join_room {grant}` next and keeps the id (spec §8.2).
        self.state.connections.insert(
            knocker.connection,
            Binding::Reserved(Box::new(knocker.reservation.clone())),
        );
        self.pending.push(Effect::SendToConnection {
            connection: knocker.connection,
            event: Event::KnockHandled(KnockHandled::ToKnocker(KnockHandledForKnocker {
                resolution: KnockResolution::Accepted,
                message,
                grant: Some(secret),
                reason,
            })),
        });
        self.knock_handled_to_hosts(id, KnockResolution::Accepted, handled_by, reason);
        // The room session does not end here: the grant holder is about to join.
        self.end_room_session_if_empty();
    }

    /// Reject: the knocker's socket closes after the event (spec §8.2).
    pub(crate) fn reject_knocker(
        &mut self,
        id: ParticipantId,
        handled_by: Option<ParticipantId>,
        message: Option<String>,
        reason: Option<KnockHandledReason>,
    ) {
        let Some(knocker) = self.take_knocker(id) else {
            return;
        };
        self.state.connections.remove(&knocker.connection);
        self.pending.push(Effect::SendToConnection {
            connection: knocker.connection,
            event: Event::KnockHandled(KnockHandled::ToKnocker(KnockHandledForKnocker {
                resolution: KnockResolution::Rejected,
                message,
                grant: None,
                reason,
            })),
        });
        self.pending.push(Effect::Close {
            connection: knocker.connection,
            reason: CloseReason::KnockRejected,
        });
        self.knock_handled_to_hosts(id, KnockResolution::Rejected, handled_by, reason);
        self.end_room_session_if_empty();
    }

    /// The knock timeout rejects (spec §8.2, §10.3).
    pub(crate) fn knock_timed_out(&mut self, _now: Instant, id: ParticipantId) {
        self.reject_knocker(id, None, None, Some(KnockHandledReason::Timeout));
    }
}
