//! The room's part in the media commands (DECISIONS.md §10): who may send them, which stream a
//! published track belongs to, and which streams a subscriber may ask for.
//!
//! Negotiation itself belongs to the shard that owns the participant's transports
//! (ARCHITECTURE.md §2); the room actor calls it once these checks pass. The checks change no
//! room state: a media command only drains the caller's command bucket (spec §6.5).

use crate::control::connection::Binding;
use crate::control::errors::error;
use crate::control::wire_id::{participant_from_wire, stream_from_wire};
use crate::control::{ConnectionId, Room};
use crate::core::{MediaKind, ParticipantId, StreamId, StreamRef};
use signalling_proto::{self as proto, Command, ErrorBody, ErrorCode, TrackSource};
use std::time::Instant;

impl Room {
    /// Checks a media command (`publisher_offer`, `publish_tracks`, `unpublish_tracks`,
    /// `subscriber_answer`, `ice_candidate`, `set_subscription_preferences`): its arguments,
    /// that the socket is admitted, the command rate limit, and for the publishing commands
    /// the caller's role (spec §4.2). Returns the caller.
    pub fn authorize_media(
        &mut self,
        now: Instant,
        from: ConnectionId,
        command: &Command,
    ) -> Result<ParticipantId, ErrorBody> {
        if let Err(details) = command.check_arguments() {
            return Err(ErrorBody::invalid_argument(&details, details.describe()));
        }
        let caller = match self.state.connections.get(&from) {
            Some(Binding::Admitted(id)) => *id,
            _ => return Err(error(ErrorCode::NotConnected, "not admitted")),
        };
        self.take_command_token(now, caller)?;
        self.require(caller, command.name().issuer())?;
        Ok(caller)
    }

    /// The stream a track of `publisher`'s belongs to: `"camera"` for camera and microphone,
    /// and for screen sources one of the publisher's running screenshares (`stream_not_found`
    /// otherwise, spec §8.4 / PROTOCOL.md `publish_tracks`).
    pub fn published_stream(
        &self,
        publisher: ParticipantId,
        track: &proto::TrackPublication,
    ) -> Result<StreamRef, ErrorBody> {
        let kind = match track.source.kind() {
            proto::MediaKind::Audio => MediaKind::Audio,
            proto::MediaKind::Video => MediaKind::Video,
        };
        // An assistant publishes a microphone only (issue 20): refused here rather than left
        // to its closed video gate, so the program learns at once.
        let may_video = self
            .state
            .participants
            .get(&publisher)
            .is_some_and(|p| p.role.may_publish());
        if kind == MediaKind::Video && !may_video {
            return Err(error(
                ErrorCode::Forbidden,
                "this role publishes audio only",
            ));
        }
        let stream = match (track.source, &track.stream_id) {
            (TrackSource::Camera | TrackSource::Microphone, None) => StreamId::Camera,
            (TrackSource::Camera | TrackSource::Microphone, Some(id)) => stream_from_wire(id)
                .filter(|s| *s == StreamId::Camera)
                .ok_or_else(|| {
                    error(
                        ErrorCode::InvalidArgument,
                        "camera and microphone tracks belong to stream \"camera\"",
                    )
                })?,
            (TrackSource::Screenshare | TrackSource::ScreenshareAudio, None) => {
                return Err(error(
                    ErrorCode::InvalidArgument,
                    "screenshare tracks need the streamId start_screenshare returned",
                ))
            }
            (TrackSource::Screenshare | TrackSource::ScreenshareAudio, Some(id)) => {
                let owned = stream_from_wire(id).filter(|s| {
                    matches!(s, StreamId::Screenshare(_))
                        && self
                            .state
                            .participants
                            .get(&publisher)
                            .is_some_and(|p| p.has_stream(*s))
                });
                owned.ok_or_else(|| error(ErrorCode::StreamNotFound, "no such screenshare"))?
            }
        };
        Ok(StreamRef { stream, kind })
    }

    /// The `(publisher, stream)` a subscription preference names, if the caller's allowed set
    /// holds it under the installed policy (spec §13.9: preferences are intersected with the
    /// allowed set; anything else is `stream_not_found`).
    pub fn preference_target(
        &self,
        subscriber: ParticipantId,
        preference: &proto::SubscriptionPreference,
    ) -> Result<(ParticipantId, StreamId), ErrorBody> {
        let not_found = || error(ErrorCode::StreamNotFound, "stream not in your allowed set");
        let publisher = participant_from_wire(&preference.participant_id).ok_or_else(not_found)?;
        let stream = stream_from_wire(&preference.stream_id).ok_or_else(not_found)?;
        let kinds: &[MediaKind] = match preference.kind {
            Some(proto::MediaKind::Audio) => &[MediaKind::Audio],
            Some(proto::MediaKind::Video) => &[MediaKind::Video],
            None => &[MediaKind::Audio, MediaKind::Video],
        };
        let policy = self.installed_policy();
        let allowed = publisher != subscriber
            && kinds.iter().any(|kind| {
                policy.allowed(
                    subscriber,
                    publisher,
                    StreamRef {
                        stream,
                        kind: *kind,
                    },
                )
            });
        if allowed {
            Ok((publisher, stream))
        } else {
            Err(not_found())
        }
    }
}
