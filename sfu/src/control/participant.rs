//! An admitted participant (spec §5.3) and its public projection.

use crate::control::wire_id::{
    location_to_wire, participant_to_wire, session_to_wire, stream_to_wire,
};
use crate::control::ConnectionId;
use crate::core::{Location, ParticipantId, SessionId, StreamId};
use signalling_proto::{
    Capabilities, ConnectionState, ParticipantView, Role, ScreenshareView, Secret, StickyReaction,
};
use std::time::Instant;

/// One admitted participant, connected or within its reconnect grace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Participant {
    pub id: ParticipantId,
    /// Never sent to other participants (spec §3).
    pub identity_key: String,
    pub display_name: String,
    pub role: Role,
    pub external_id: Option<String>,
    pub is_dial_in: bool,
    pub capabilities: Capabilities,
    /// Server-authoritative gates (spec §13.7).
    pub audio_enabled: bool,
    pub video_enabled: bool,
    /// A host closed the gate; with `allow_self_unmute = false` only a host request re-opens
    /// the right to unmute (spec §17.3).
    pub host_muted_audio: bool,
    pub screenshares: Vec<Screenshare>,
    pub sticky_reaction: Option<StickyReaction>,
    pub connection: Connection,
    pub joined_at: Instant,
    pub location: Location,
    pub resume_token: Secret,
}

/// One current screenshare (spec §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Screenshare {
    pub stream: StreamId,
    pub has_audio_track: bool,
}

/// The transport state of an admitted participant (spec §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connection {
    Connected(ConnectionId),
    Reconnecting { since: Instant },
}

impl Participant {
    pub(crate) fn connection_id(&self) -> Option<ConnectionId> {
        match self.connection {
            Connection::Connected(id) => Some(id),
            Connection::Reconnecting { .. } => None,
        }
    }

    pub(crate) fn is_host(&self) -> bool {
        self.role == Role::Host
    }

    pub(crate) fn is_viewer(&self) -> bool {
        matches!(self.role, Role::Viewer | Role::GrantedViewer)
    }

    /// Whether `stream` is one this participant publishes now (spec §8.3 `stream_not_found`).
    pub(crate) fn has_stream(&self, stream: StreamId) -> bool {
        match stream {
            StreamId::Camera => self.role.may_publish_audio(),
            StreamId::Screenshare(_) => self.screenshares.iter().any(|s| s.stream == stream),
        }
    }

    /// `ParticipantView` for a recipient; `breakoutAssigned` (the resolved assignment) only for
    /// managers and oneself (spec §5.3); `monitoring` is the session this host monitors.
    pub(crate) fn view(
        &self,
        for_manager_or_self: bool,
        assigned: Option<SessionId>,
        monitoring: Option<SessionId>,
    ) -> ParticipantView {
        ParticipantView {
            id: participant_to_wire(self.id),
            display_name: self.display_name.clone(),
            role_name: self.role,
            external_id: self.external_id.clone(),
            is_dial_in: self.is_dial_in,
            is_assistant: self.role == Role::Assistant,
            is_audio_enabled: self.audio_enabled,
            is_video_enabled: self.video_enabled,
            screenshares: self
                .screenshares
                .iter()
                .map(|s| ScreenshareView {
                    stream_id: stream_to_wire(s.stream),
                    has_audio_track: s.has_audio_track,
                })
                .collect(),
            sticky_reaction: self.sticky_reaction.clone(),
            connection: match self.connection {
                Connection::Connected(_) => ConnectionState::Connected,
                Connection::Reconnecting { .. } => ConnectionState::Reconnecting,
            },
            location: location_to_wire(self.location),
            monitoring: monitoring.map(session_to_wire),
            breakout_assigned: for_manager_or_self.then(|| assigned.map(session_to_wire)),
        }
    }
}
