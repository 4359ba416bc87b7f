//! Every event the server sends, with its data type (spec §9, §17.1, DECISIONS.md §10).
//!
//! As for commands, one table generates [`Event`] (name + typed data) and [`EventName`].

use crate::*;
use serde::ser::SerializeMap;
use serde_json::Value;
use std::fmt;

macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal ($data:ty); )*) => {
        /// An event with its typed `data`; the wire name is [`Event::name`].
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* $variant($data), )*
        }

        /// The name of an event, as in the envelope's `name`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventName {
            $( $(#[$doc])* $variant, )*
        }

        impl EventName {
            /// Every event, in the order of spec §9 (media events last).
            pub const ALL: &'static [EventName] = &[$(EventName::$variant,)*];

            /// The wire name (`"breakout_updated"`).
            pub fn as_str(self) -> &'static str {
                match self { $(EventName::$variant => $wire,)* }
            }

            /// The event with this wire name, if any.
            pub fn from_wire(name: &str) -> Option<Self> {
                match name { $($wire => Some(EventName::$variant),)* _ => None }
            }

            /// The JSON Schema of this event's `data`, its named parts collected in
            /// `generator` ([`crate::protocol_schema`]).
            pub fn data_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $(EventName::$variant => generator.subschema_for::<$data>(),)* }
            }
        }

        impl Event {
            /// The event's wire name.
            pub fn name(&self) -> EventName {
                match self { $(Event::$variant(_) => EventName::$variant,)* }
            }

            /// Decodes `data` for the event `name`.
            pub fn decode(name: EventName, data: Value) -> Result<Self, serde_json::Error> {
                match name {
                    $(EventName::$variant => serde_json::from_value(data).map(Event::$variant),)*
                }
            }

            pub(crate) fn serialize_data<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self { $(Event::$variant(data) => map.serialize_entry("data", data),)* }
            }
        }
    };
}

events! {
    // §9.1 room, roster and admission
    /// All admitted except the joiner: someone was admitted.
    NewClient = "new_client" (NewClient);
    /// All admitted: someone is gone.
    ClientLeft = "client_left" (ClientLeft);
    /// The kicked participant, then its socket closes.
    ClientKicked = "client_kicked" (ClientKicked);
    /// All admitted: a participant's transport dropped or came back.
    ParticipantConnectionChanged = "participant_connection_changed" (ParticipantConnectionChanged);
    /// All admitted: the room was locked or unlocked.
    RoomLocked = "room_locked" (RoomLockChanged);
    /// Nobody remains; for service roles and webhooks.
    RoomSessionEnded = "room_session_ended" (RoomSessionEnded);
    /// A resumer whose missed events are no longer buffered: a full snapshot.
    RoomState = "room_state" (Box<RoomState>);
    /// The leaver, after the `leave_room` response.
    RoomLeft = "room_left" (Empty);
    /// Hosts: someone knocks.
    RoomKnocked = "room_knocked" (RoomKnocked);
    /// Hosts: a knocker left the waiting room.
    KnockerLeft = "knocker_left" (KnockerLeft);
    /// The knocker and the hosts: a knock was handled.
    KnockHandled = "knock_handled" (KnockHandled);
    /// All admitted: a microphone flag changed.
    AudioEnabled = "audio_enabled" (EnabledChanged);
    /// All admitted: a camera flag changed.
    VideoEnabled = "video_enabled" (EnabledChanged);
    /// The target: a host asks to unmute (or muted it).
    AudioEnableRequested = "audio_enable_requested" (EnableRequested);
    /// The target: a host asks to turn the camera on (or turned it off).
    VideoEnableRequested = "video_enable_requested" (EnableRequested);
    /// All admitted: display name or sticky reaction changed.
    ClientMetadataReceived = "client_metadata_received" (ClientMetadataReceived);
    /// All admitted: a screenshare started.
    ScreenshareStarted = "screenshare_started" (ScreenshareStarted);
    /// All admitted: a screenshare stopped.
    ScreenshareStopped = "screenshare_stopped" (ScreenshareStopped);
    /// All admitted: a stream was spotlighted.
    SpotlightAdded = "spotlight_added" (SpotlightChanged);
    /// All admitted: a spotlight was removed.
    SpotlightRemoved = "spotlight_removed" (SpotlightChanged);
    /// The subscriber: its allowed set changed.
    SubscriptionsChanged = "subscriptions_changed" (SubscriptionsChanged);
    // §9.2 chat and recording
    /// The scope's audience: a chat message.
    ChatMessage = "chat_message" (ChatMessage);
    /// The scope's audience: a chat message was removed.
    ChatMessageRemoved = "chat_message_removed" (ChatMessageRemoved);
    /// The mover: the history of its new location.
    ChatHistory = "chat_history" (ChatHistory);
    /// All admitted: recording was requested.
    CloudRecordingRequested = "cloud_recording_requested" (Empty);
    /// All admitted: recording started (or failed).
    CloudRecordingStarted = "cloud_recording_started" (ServiceStarted);
    /// All admitted: recording stopped.
    CloudRecordingStopped = "cloud_recording_stopped" (Empty);
    /// All admitted: live stream started (or failed).
    LiveStreamStarted = "live_stream_started" (ServiceStarted);
    /// All admitted: live stream stopped.
    LiveStreamStopped = "live_stream_stopped" (Empty);
    /// All admitted: transcription started (or failed).
    LiveTranscriptionStarted = "live_transcription_started" (TranscriptionStarted);
    /// All admitted: transcription stopped.
    LiveTranscriptionStopped = "live_transcription_stopped" (TranscriptionStopped);
    /// The speaker's location: a line the live transcriber heard (issue 20).
    Caption = "caption" (Caption);
    // §9.3 breakout
    /// All admitted, each its own view: the breakout changed.
    BreakoutUpdated = "breakout_updated" (Box<BreakoutView>);
    /// All admitted: someone changed location.
    BreakoutLocationChanged = "breakout_location_changed" (LocationChanged);
    /// The participant: a move into a session is announced.
    BreakoutMoveRequested = "breakout_move_requested" (MoveRequested);
    /// Participants in sessions and hosts: please return to `MAIN`.
    BreakoutReturnRequested = "breakout_return_requested" (ReturnRequested);
    /// Participants in sessions and hosts: 60 s before the automatic end.
    BreakoutTimerWarning = "breakout_timer_warning" (TimerWarning);
    /// All admitted: the automatic end was cancelled or extended.
    BreakoutTimerChanged = "breakout_timer_changed" (TimerChanged);
    /// All admitted: the closing countdown started.
    BreakoutClosing = "breakout_closing" (Closing);
    /// All admitted: the run ended (after the relocations to `MAIN`).
    BreakoutEnded = "breakout_ended" (Ended);
    /// The broadcast audience: a host's message.
    BreakoutMessage = "breakout_message" (BreakoutMessage);
    /// Members of the old and new session, and hosts: a host monitors a session.
    BreakoutMonitorChanged = "breakout_monitor_changed" (MonitorChanged);
    /// Connected hosts: someone asks for help.
    BreakoutHelpRequested = "breakout_help_requested" (HelpRequested);
    /// Hosts: the edit lock changed.
    BreakoutEditLockChanged = "breakout_edit_lock_changed" (EditLockChanged);
    // media (DECISIONS.md §10)
    /// The participant: a new offer for its subscriber transport; answer with
    /// `subscriber_answer`.
    SubscriberOffer = "subscriber_offer" (VersionedSdp);
    /// The participant: a trickled server candidate of one of its transports.
    IceCandidate = "ice_candidate" (TrickleCandidate);
    /// The subscriber: the forwarded video layer of a stream changed.
    LayerChanged = "layer_changed" (LayerChanged);
    /// The subscriber: a subscribed stream paused or resumed.
    StreamStateChanged = "stream_state_changed" (StreamStateChanged);
    /// Everybody in a location: who speaks there now.
    ActiveSpeakersChanged = "active_speakers_changed" (ActiveSpeakers);
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wire names are unique and snake_case, and `from_wire` inverts `as_str`.
    #[test]
    fn event_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &name in EventName::ALL {
            let wire = name.as_str();
            assert!(
                wire.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{wire}"
            );
            assert_eq!(EventName::from_wire(wire), Some(name));
            assert!(seen.insert(wire), "duplicate {wire}");
        }
    }
}
