//! The client's picture of the room, kept from the server's events: who is in it, where
//! everyone is (main room or breakout session), whose transport is reconnecting, and which
//! stream each subscriber-offer msid carries.

use std::collections::{BTreeMap, HashMap};

use signalling_proto::{
    ConnectionState, Event, Location, ParticipantId, ParticipantView, RoomJoined, StreamId,
};

/// The room as this client knows it. [`crate::Client::roster`] returns a copy.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// This client's participant id.
    pub self_id: Option<ParticipantId>,
    /// Every admitted participant, this client included, by id.
    pub participants: BTreeMap<ParticipantId, ParticipantView>,
    /// msid -> the stream it names (from `subscriptions_changed`, PROTOCOL.md §4.8; an msid
    /// is never split).
    pub msids: HashMap<String, (ParticipantId, StreamId)>,
}

impl Roster {
    /// The roster `room_joined` describes.
    pub fn from_joined(joined: &RoomJoined) -> Roster {
        let mut roster = Roster {
            self_id: Some(joined.self_id.clone()),
            ..Roster::default()
        };
        for p in &joined.room.participants {
            roster.participants.insert(p.id.clone(), p.clone());
        }
        // `room.participants` is the others' and one's own projection; the own location is
        // the breakout view's.
        let own = joined.breakout.own.location.clone();
        if let Some(me) = roster.participants.get_mut(&joined.self_id) {
            me.location = own;
        }
        roster
    }

    /// This client's location.
    pub fn location(&self) -> Location {
        self.self_id
            .as_ref()
            .and_then(|id| self.participants.get(id))
            .map(|p| p.location.clone())
            .unwrap_or_default()
    }

    /// The participants at `location`, this client included.
    pub fn at(&self, location: &Location) -> Vec<&ParticipantView> {
        self.participants
            .values()
            .filter(|p| &p.location == location)
            .collect()
    }

    /// The display name of `id`, if present.
    pub fn name_of(&self, id: &ParticipantId) -> Option<&str> {
        self.participants.get(id).map(|p| p.display_name.as_str())
    }

    /// Applies one event; events that do not change the roster are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::NewClient(new) => {
                self.participants
                    .insert(new.client.id.clone(), new.client.clone());
            }
            Event::ClientLeft(left) => {
                self.participants.remove(&left.client_id);
            }
            Event::ClientKicked(kicked) => {
                self.participants.remove(&kicked.client_id);
            }
            Event::ParticipantConnectionChanged(change) => {
                if let Some(p) = self.participants.get_mut(&change.participant_id) {
                    p.connection = change.connection;
                }
            }
            Event::BreakoutLocationChanged(change) => {
                if let Some(p) = self.participants.get_mut(&change.participant_id) {
                    p.location = change.to.clone();
                }
            }
            Event::AudioEnabled(change) => {
                if let Some(p) = self.participants.get_mut(&change.participant_id) {
                    p.is_audio_enabled = change.enabled;
                }
            }
            Event::VideoEnabled(change) => {
                if let Some(p) = self.participants.get_mut(&change.participant_id) {
                    p.is_video_enabled = change.enabled;
                }
            }
            Event::RoomState(state) => {
                self.participants = state
                    .room
                    .participants
                    .iter()
                    .map(|p| (p.id.clone(), p.clone()))
                    .collect();
                if let Some(me) = self.participants.get_mut(&state.self_id) {
                    me.location = state.breakout.own.location.clone();
                }
            }
            Event::SubscriptionsChanged(change) => {
                for s in change.added.iter() {
                    if let Some(msid) = &s.msid {
                        self.msids.insert(
                            msid.clone(),
                            (s.participant_id.clone(), s.stream_id.clone()),
                        );
                    }
                }
                // Removed msids stay known: packets in flight still name them, and a stream
                // id is never reused for another stream.
            }
            _ => {}
        }
    }

    /// Whether `id`'s transport is up.
    pub fn is_connected(&self, id: &ParticipantId) -> bool {
        self.participants
            .get(id)
            .is_some_and(|p| p.connection == ConnectionState::Connected)
    }
}
