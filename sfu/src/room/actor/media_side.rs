//! The actor's side of the room's media (DECISIONS.md §10): media commands checked by the
//! rules and negotiated by the shard, the shard's events, forwarding policy installs and the
//! subscriber offers that follow them.

use std::time::Instant;

use signalling_proto::{Command, CommandResult, Empty, ErrorBody, ErrorCode, Event, ReqId, Sdp};
use tracing::{debug, info, warn};

use super::RoomActor;
use crate::control::{self, ConnectionId};
use crate::core::{ForwardingPolicy, ParticipantId};
use crate::shard::ShardEvent;
use crate::webhook::WebhookEvent;

impl RoomActor {
    /// A resume with `newTransports` (PROTOCOL.md §4.3): the resumed participant's old media
    /// transports are dropped, so the others' subscriber offers stop its old tracks and its
    /// own next `subscriber_offer` (on a new transport) carries everything it may receive.
    pub(super) async fn replace_transports(&mut self, connection: ConnectionId) {
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
    pub(super) async fn install_policy(&mut self, policy: ForwardingPolicy) {
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
    pub(super) async fn handle_media_command(
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

    pub(super) fn handle_shard_event(&mut self, now: Instant, event: ShardEvent) {
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

    /// Sends the subscriber offers the last changes call for.
    pub(super) async fn reconcile_media(&mut self, now: Instant) {
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
}
