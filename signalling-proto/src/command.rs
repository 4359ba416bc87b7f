//! Every command a client may send, with its arguments and its result type (spec §8, §17.1,
//! DECISIONS.md §10).
//!
//! One table below is the single source of the command set: it generates [`Command`] (name +
//! typed arguments), [`CommandName`] (the wire names) and [`CommandResult`] (the typed result of
//! each command).

use crate::args_deserializer::ArgsDeserializer;
use crate::argument_error::ArgumentError;
use crate::*;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal ($args:ty) -> $result:ty; )*) => {
        /// A command with its typed arguments; the wire name is [`Command::name`].
        #[derive(Debug, Clone, PartialEq)]
        pub enum Command {
            $( $(#[$doc])* $variant($args), )*
        }

        /// The name of a command, as in the envelope's `name`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CommandName {
            $( $(#[$doc])* $variant, )*
        }

        /// The typed `result` of a successful response, one variant per command.
        #[derive(Debug, Clone, PartialEq)]
        pub enum CommandResult {
            $( $(#[$doc])* $variant($result), )*
        }

        impl CommandName {
            /// Every command, in the order of spec §8 (media commands last).
            pub const ALL: &'static [CommandName] = &[$(CommandName::$variant,)*];

            /// The wire name (`"breakout_join"`).
            pub fn as_str(self) -> &'static str {
                match self { $(CommandName::$variant => $wire,)* }
            }

            /// The command with this wire name, if any.
            pub fn from_wire(name: &str) -> Option<Self> {
                match name { $($wire => Some(CommandName::$variant),)* _ => None }
            }

            /// The JSON Schemas of this command's `args` and of its `result`, their named parts
            /// collected in `generator` ([`crate::protocol_schema`]).
            pub fn schemas(
                self,
                generator: &mut schemars::SchemaGenerator,
            ) -> (schemars::Schema, schemars::Schema) {
                match self {
                    $(CommandName::$variant => (
                        generator.subschema_for::<$args>(),
                        generator.subschema_for::<$result>(),
                    ),)*
                }
            }
        }

        impl Command {
            /// The command's wire name.
            pub fn name(&self) -> CommandName {
                match self { $(Command::$variant(_) => CommandName::$variant,)* }
            }

            /// Decodes `args` for `name` with field-path errors.
            pub(crate) fn decode_args(name: CommandName, args: &Value) -> Result<Self, ArgumentError> {
                match name {
                    $(CommandName::$variant =>
                        <$args>::deserialize(ArgsDeserializer(args)).map(Command::$variant),)*
                }
            }

            pub(crate) fn serialize_args<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self { $(Command::$variant(args) => map.serialize_entry("args", args),)* }
            }
        }

        impl CommandResult {
            /// The command this result answers.
            pub fn command(&self) -> CommandName {
                match self { $(CommandResult::$variant(_) => CommandName::$variant,)* }
            }

            /// Decodes the `result` object of a response to `command`. The response itself does
            /// not name its command: the client keeps `reqId → command` for its open requests.
            pub fn decode(command: CommandName, result: Value) -> Result<Self, serde_json::Error> {
                match command {
                    $(CommandName::$variant =>
                        serde_json::from_value(result).map(CommandResult::$variant),)*
                }
            }
        }

        impl Serialize for CommandResult {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self { $(CommandResult::$variant(result) => result.serialize(serializer),)* }
            }
        }
    };
}

commands! {
    // §8.1 connection and admission
    /// Anyone, as the first frame: join a room.
    JoinRoom = "join_room" (JoinRoomArgs) -> Box<RoomJoined>;
    /// A socket whose `join_room` got `room_locked`: enter the waiting room.
    KnockRoom = "knock_room" (KnockRoomArgs) -> Empty;
    /// The knocker: leave the waiting room.
    CancelKnock = "cancel_knock" (Empty) -> Empty;
    /// Admitted participant: leave (always allowed).
    LeaveRoom = "leave_room" (Empty) -> Empty;
    /// As the first frame of a new socket: take the participant back within the grace.
    Resume = "resume" (ResumeArgs) -> Box<RoomResumed>;
    /// Any admitted participant: a full snapshot.
    GetRoomState = "get_room_state" (Empty) -> Box<RoomState>;
    // §8.2 waiting room
    /// Host: accept, hold or reject a knocker.
    HandleKnock = "handle_knock" (HandleKnockArgs) -> Empty;
    // §8.3 moderation
    /// Host: lock or unlock the room.
    SetLock = "set_lock" (SetLockArgs) -> Changed;
    /// Host: remove a participant and ban its identity for the room session.
    KickParticipant = "kick_participant" (ParticipantArgs) -> Empty;
    /// Host: end the meeting for everybody.
    EndMeeting = "end_meeting" (EndMeetingArgs) -> Empty;
    /// Host: mute (`enable: false`) or ask to unmute.
    RequestAudioEnable = "request_audio_enable" (RequestEnableArgs) -> Empty;
    /// Host: stop video (`enable: false`) or ask to turn the camera on.
    RequestVideoEnable = "request_video_enable" (RequestEnableArgs) -> Empty;
    /// Host: lower someone's hand.
    ClearStickyReaction = "clear_sticky_reaction" (ParticipantArgs) -> Changed;
    /// Host: spotlight a stream (a stage during a run).
    AddSpotlight = "add_spotlight" (SpotlightArgs) -> Changed;
    /// Host: remove a spotlight.
    RemoveSpotlight = "remove_spotlight" (SpotlightArgs) -> Changed;
    // §8.4 own media state and metadata
    /// Publishing roles: microphone on/off.
    SetAudioEnabled = "set_audio_enabled" (SetEnabledArgs) -> Changed;
    /// Publishing roles: camera on/off.
    SetVideoEnabled = "set_video_enabled" (SetEnabledArgs) -> Changed;
    /// Publishing roles with the screenshare capability: allocate a screenshare stream.
    StartScreenshare = "start_screenshare" (StartScreenshareArgs) -> StartScreenshareResult;
    /// Stop one's screenshare (idempotent).
    StopScreenshare = "stop_screenshare" (StopScreenshareArgs) -> Changed;
    /// Person roles: change one's display name.
    SetDisplayName = "set_display_name" (SetDisplayNameArgs) -> Changed;
    /// Person roles: raise (or with `null` lower) one's hand.
    SetStickyReaction = "set_sticky_reaction" (SetStickyReactionArgs) -> Changed;
    // §8.5 chat
    /// Person roles: send a chat message to one's location.
    SendChatMessage = "send_chat_message" (SendChatMessageArgs) -> SendChatMessageResult;
    /// Sender or host: remove a chat message.
    RemoveChatMessage = "remove_chat_message" (RemoveChatMessageArgs) -> Empty;
    // §8.6 recording, live stream, transcription
    /// Host: start cloud recording.
    StartCloudRecording = "start_cloud_recording" (Empty) -> Empty;
    /// Host: stop cloud recording.
    StopCloudRecording = "stop_cloud_recording" (Empty) -> Empty;
    /// Host: start a live stream.
    StartLiveStream = "start_live_stream" (StartLiveStreamArgs) -> Empty;
    /// Host: stop the live stream.
    StopLiveStream = "stop_live_stream" (Empty) -> Empty;
    /// Host: start live transcription.
    StartLiveTranscription = "start_live_transcription" (Empty) -> Empty;
    /// Host: stop live transcription.
    StopLiveTranscription = "stop_live_transcription" (Empty) -> Empty;
    // §8.7 breakout management
    /// Host: Disabled → Enabled.
    BreakoutEnable = "breakout_enable" (RevisionArgs) -> Changed;
    /// Host: Enabled/Ended → Disabled (plan kept hidden).
    BreakoutDisable = "breakout_disable" (PlanArgs) -> Changed;
    /// Any admitted participant: one's own `BreakoutView` (hosts may take the edit lock).
    BreakoutGet = "breakout_get" (BreakoutGetArgs) -> Box<BreakoutGetResult>;
    /// Host: change the configuration.
    BreakoutConfigure = "breakout_configure" (BreakoutConfigureArgs) -> Changed;
    /// Host: add sessions.
    BreakoutCreateSessions = "breakout_create_sessions" (CreateSessionsArgs) -> CreateSessionsResult;
    /// Host: rename a session.
    BreakoutRenameSession = "breakout_rename_session" (RenameSessionArgs) -> Changed;
    /// Host: delete a session (Enabled/Ended).
    BreakoutDeleteSession = "breakout_delete_session" (DeleteSessionArgs) -> Empty;
    /// Host: delete every session (Enabled/Ended).
    BreakoutClearSessions = "breakout_clear_sessions" (PlanArgs) -> Changed;
    /// Host: set a session's `anyoneCanJoin`.
    BreakoutSetSessionOpen = "breakout_set_session_open" (SetSessionOpenArgs) -> Changed;
    /// Host: assign participants (or external ids) to sessions.
    BreakoutAssign = "breakout_assign" (AssignArgs) -> AssignResult;
    /// Host: distribute eligible participants evenly.
    BreakoutAutoAssign = "breakout_auto_assign" (AutoAssignArgs) -> AutoAssignResult;
    /// Host: start a run.
    BreakoutStart = "breakout_start" (StartArgs) -> StartResult;
    /// Host: end the run (with countdown unless immediate).
    BreakoutEnd = "breakout_end" (EndArgs) -> EndResult;
    /// Host: cancel the automatic end of this run.
    BreakoutCancelAutoEnd = "breakout_cancel_auto_end" (RevisionArgs) -> Empty;
    /// Host: push the automatic end back.
    BreakoutExtendAutoEnd = "breakout_extend_auto_end" (ExtendAutoEndArgs) -> ExtendAutoEndResult;
    /// Host: move participants into a session or to `MAIN`.
    BreakoutMove = "breakout_move" (MoveArgs) -> Changed;
    /// Host: ask everybody in sessions to come back.
    BreakoutAskAllToReturn = "breakout_ask_all_to_return" (RevisionArgs) -> Empty;
    /// Host: message one or every session.
    BreakoutBroadcast = "breakout_broadcast" (BroadcastArgs) -> BroadcastResult;
    /// Host: take the edit lock.
    BreakoutEditLockAcquire = "breakout_edit_lock_acquire" (Empty) -> EditLockGrant;
    /// Host (holder): keep the edit lock.
    BreakoutEditLockRefresh = "breakout_edit_lock_refresh" (EditLockTokenArgs) -> EditLockRefreshed;
    /// Host (holder): release the edit lock.
    BreakoutEditLockRelease = "breakout_edit_lock_release" (EditLockTokenArgs) -> Empty;
    // §8.8 breakout participation
    /// Person roles: join (or switch to) a session.
    BreakoutJoin = "breakout_join" (SessionArgs) -> Changed;
    /// Person roles: return to `MAIN`.
    BreakoutLeave = "breakout_leave" (Empty) -> Empty;
    /// Person roles in a session: call the hosts.
    BreakoutAskForHelp = "breakout_ask_for_help" (Empty) -> Empty;
    // §17.1 monitor
    /// Host: receive a session's media without joining it.
    BreakoutMonitor = "breakout_monitor" (SessionArgs) -> Changed;
    /// Host: stop monitoring.
    BreakoutStopMonitor = "breakout_stop_monitor" (Empty) -> Changed;
    // media (DECISIONS.md §10)
    /// Publishing roles: offer for the publisher transport; the result is the answer.
    PublisherOffer = "publisher_offer" (Sdp) -> Sdp;
    /// Answer the server's latest `subscriber_offer`.
    SubscriberAnswer = "subscriber_answer" (VersionedSdp) -> Empty;
    /// Trickle one local ICE candidate of either transport.
    IceCandidate = "ice_candidate" (TrickleCandidate) -> Empty;
    /// Publishing roles: describe the tracks (by mid) of the publisher offer.
    PublishTracks = "publish_tracks" (PublishTracksArgs) -> Empty;
    /// Publishing roles: withdraw tracks.
    UnpublishTracks = "unpublish_tracks" (UnpublishTracksArgs) -> Empty;
    /// Pause, cap the layer or size, and prioritise subscribed streams.
    SetSubscriptionPreferences = "set_subscription_preferences" (SubscriptionPreferencesArgs) -> Empty;
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CommandResult {
    /// The result as the JSON object of `result` (spec §6.2: every result is an object).
    pub fn to_object(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Every result type is a struct with string keys, so it always serializes to an
            // object; this arm exists only to satisfy the type.
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wire names are unique and snake_case, and `from_wire` inverts `as_str`.
    #[test]
    fn command_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &name in CommandName::ALL {
            let wire = name.as_str();
            assert!(
                wire.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{wire}"
            );
            assert_eq!(CommandName::from_wire(wire), Some(name));
            assert!(seen.insert(wire), "duplicate {wire}");
        }
        assert_eq!(CommandName::from_wire("Join_Room"), None);
    }
}
