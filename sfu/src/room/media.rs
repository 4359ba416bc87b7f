//! `RoomMedia`: the room actor's side of the media plane (ARCHITECTURE.md §2, DECISIONS.md §10).
//!
//! A room lives on one media shard. This module keeps what the actor must know to drive it:
//! which participants the shard has, the publications it reported, and for each subscriber the
//! subscriptions of its subscriber transport and the server offer it has not answered yet.
//!
//! Subscriber m-lines follow *reachability*: a publication gets an m-line on every subscriber
//! that may receive it under the installed policy, ignoring the publisher's mute gates (spec
//! §13.7 gates are enforced in forwarding). A mute therefore costs no renegotiation, while a
//! breakout move, a departure or a new publication renegotiates only the subscriber transports
//! it concerns; the publisher transport is never renegotiated by the server. The core checks
//! the full `allowed()` predicate on every packet, so an m-line that outlives its permission
//! for the length of one renegotiation carries nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use signalling_proto::{self as proto, ErrorBody, ErrorCode, Event, VersionedSdp};
use tracing::{debug, warn};

use crate::control::{participant_to_wire, stream_to_wire};
use crate::core::{
    ForwardingPolicy, Layer, MediaKind, ParticipantId, PublicationId, StreamId, StreamRef,
    SubscriptionId,
};
use crate::shard::{
    AnnouncedTrack, ForwardingChange, Preference, RoomId, ShardError, ShardHandle, TransportKind,
};

/// The highest layer a subscriber can ask for: 3 simulcast encodings x 3 VP8 temporal layers.
const HIGHEST: Layer = Layer {
    spatial: 2,
    temporal: 2,
};

/// A publication the shard reported.
#[derive(Debug, Clone, Copy)]
struct Publication {
    publisher: ParticipantId,
    stream: StreamRef,
    encodings: u8,
}

/// A track a publisher announced with `publish_tracks`.
#[derive(Debug, Clone)]
struct Announced {
    stream: StreamRef,
    /// Simulcast encodings as the client configured them, lowest first.
    layers: Vec<proto::SimulcastLayer>,
}

/// What a subscriber asked for one stream kind (`set_subscription_preferences`). Fields it left
/// out keep their previous value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Wish {
    paused: bool,
    max_layer: Option<Layer>,
    target_size: Option<(u32, u32)>,
    priority: u8,
}

#[derive(Debug, Default)]
struct Subscriber {
    subscriptions: HashMap<PublicationId, SubscriptionId>,
    /// The version of the server offer awaiting its answer.
    pending: Option<u64>,
    /// The version of the last offer sent.
    version: u64,
    /// The shard must be asked for an offer even if no subscription is added or removed (an
    /// ended subscription's m-line is stopped by the next offer).
    renegotiate: bool,
    wishes: HashMap<(ParticipantId, StreamRef), Wish>,
}

/// The media side of one room.
#[derive(Debug)]
pub(crate) struct RoomMedia {
    shard: ShardHandle,
    room: RoomId,
    on_shard: HashSet<ParticipantId>,
    announced: HashMap<ParticipantId, BTreeMap<String, Announced>>,
    publications: HashMap<PublicationId, Publication>,
    subscribers: HashMap<ParticipantId, Subscriber>,
    /// The active speakers each participant was last told, to send only changes.
    speakers_sent: HashMap<ParticipantId, Vec<ParticipantId>>,
}

impl RoomMedia {
    /// The media side of room `room`, placed on `shard`.
    pub(crate) fn new(shard: ShardHandle, room: RoomId) -> Self {
        Self {
            shard,
            room,
            on_shard: HashSet::new(),
            announced: HashMap::new(),
            publications: HashMap::new(),
            subscribers: HashMap::new(),
            speakers_sent: HashMap::new(),
        }
    }

    /// Places every member of `policy` on the shard, installs the policy and waits for the
    /// shard's ack (spec §13.3: the events about a change go out only after this returns).
    pub(crate) async fn install_policy(
        &mut self,
        policy: ForwardingPolicy,
    ) -> Result<u64, ShardError> {
        let mut members: Vec<ParticipantId> = policy.members.keys().copied().collect();
        members.sort_unstable();
        for participant in members {
            if self.on_shard.contains(&participant) {
                continue;
            }
            match self.shard.add_participant(self.room, participant).await {
                Ok(()) | Err(ShardError::ParticipantExists) => {
                    self.on_shard.insert(participant);
                }
                Err(error) => return Err(error),
            }
        }
        if self.on_shard.is_empty() {
            // The shard creates the room with its first participant; an empty room has
            // nothing to forward.
            return Ok(policy.version);
        }
        self.shard.install_policy(self.room, policy).await
    }

    /// Takes a participant off the shard with its transports, publications and subscriptions.
    pub(crate) async fn remove(&mut self, participant: ParticipantId) {
        self.announced.remove(&participant);
        self.subscribers.remove(&participant);
        self.speakers_sent.remove(&participant);
        let gone: Vec<PublicationId> = self
            .publications
            .iter()
            .filter(|(_, p)| p.publisher == participant)
            .map(|(id, _)| *id)
            .collect();
        for publication in gone {
            self.publication_removed(publication);
        }
        if self.on_shard.remove(&participant) {
            if let Err(error) = self.shard.remove_participant(self.room, participant).await {
                debug!(%participant, %error, "participant already gone from the shard");
            }
        }
    }

    /// Swaps a participant's media transports for none (a reloaded page resumed with
    /// `newTransports`): its old publisher and subscriber transports, publications and
    /// subscriptions go as in [`RoomMedia::remove`], then it is placed on the shard again
    /// under `policy`, with no transport until its next `publisher_offer` and the
    /// `subscriber_offer` the next reconcile sends. Offer versions keep counting up, so an
    /// answer to an offer of the old transport is ignored.
    pub(crate) async fn replace_transports(
        &mut self,
        participant: ParticipantId,
        policy: &ForwardingPolicy,
    ) -> Result<(), ShardError> {
        let version = self.subscribers.get(&participant).map_or(0, |s| s.version);
        self.remove(participant).await;
        self.subscribers.insert(
            participant,
            Subscriber {
                version,
                ..Subscriber::default()
            },
        );
        // The shard drops its room with its last participant: the policy goes in again.
        self.install_policy(policy.clone()).await.map(|_| ())
    }

    fn publication_removed(&mut self, publication: PublicationId) {
        self.publications.remove(&publication);
        for subscriber in self.subscribers.values_mut() {
            if subscriber.subscriptions.remove(&publication).is_some() {
                subscriber.renegotiate = true;
            }
        }
    }

    /// Records the tracks a publisher announced (`publish_tracks`), by mid.
    pub(crate) fn announce(
        &mut self,
        publisher: ParticipantId,
        tracks: Vec<(proto::TrackPublication, StreamRef)>,
    ) {
        let announced = self.announced.entry(publisher).or_default();
        for (track, stream) in tracks {
            announced.insert(
                track.mid,
                Announced {
                    stream,
                    layers: track.layers,
                },
            );
        }
    }

    /// Forgets announced tracks (`unpublish_tracks`): their media, if any keeps coming, is
    /// still forwarded until the client renegotiates the m-line away.
    pub(crate) fn unannounce(&mut self, publisher: ParticipantId, mids: &[String]) {
        if let Some(announced) = self.announced.get_mut(&publisher) {
            for mid in mids {
                announced.remove(mid);
            }
        }
    }

    /// Applies a publisher offer; returns the answer.
    pub(crate) async fn publisher_offer(
        &mut self,
        publisher: ParticipantId,
        sdp: String,
    ) -> Result<String, ErrorBody> {
        if !self.on_shard.contains(&publisher) {
            return Err(internal("the participant has no media session yet"));
        }
        let tracks = self
            .announced
            .get(&publisher)
            .into_iter()
            .flatten()
            .map(|(mid, a)| AnnouncedTrack {
                mid: mid.clone(),
                stream: a.stream,
            })
            .collect();
        self.shard
            .publisher_offer(self.room, publisher, sdp, tracks)
            .await
            .map_err(shard_error)
    }

    /// A candidate the client trickled (`ice_candidate`). The shard is ICE-lite and learns the
    /// client's addresses from its checks, so only a relay candidate's address is passed on:
    /// it tells the shard which transport comes through a TURN server (metrics only; a
    /// failure to pass it on is no error of the command).
    pub(crate) async fn ice_candidate(
        &self,
        participant: ParticipantId,
        trickle: &proto::TrickleCandidate,
    ) {
        let Some(addr) = trickle
            .candidate
            .as_ref()
            .and_then(|c| relay_address(&c.candidate))
        else {
            return;
        };
        let transport = match trickle.transport {
            proto::TransportKind::Publisher => TransportKind::Publisher,
            proto::TransportKind::Subscriber => TransportKind::Subscriber,
        };
        if let Err(error) = self
            .shard
            .relay_candidate(self.room, participant, transport, addr)
            .await
        {
            debug!(%participant, %error, "relay candidate not passed on");
        }
    }

    /// The shard saw the first packet of a new published track.
    pub(crate) fn publication_added(
        &mut self,
        publisher: ParticipantId,
        publication: PublicationId,
        stream: StreamRef,
        encodings: u8,
    ) {
        if !self.on_shard.contains(&publisher) {
            return;
        }
        self.publications.insert(
            publication,
            Publication {
                publisher,
                stream,
                encodings,
            },
        );
    }

    /// A subscription ended on the shard (its publication went away).
    pub(crate) fn subscription_ended(
        &mut self,
        subscriber: ParticipantId,
        subscription: SubscriptionId,
    ) {
        if let Some(s) = self.subscribers.get_mut(&subscriber) {
            s.subscriptions.retain(|_, sid| *sid != subscription);
            s.renegotiate = true;
        }
    }

    /// The event telling a subscriber what one of its subscriptions forwards now
    /// (`layer_changed` / `stream_state_changed`).
    pub(crate) fn forwarding_changed(
        &self,
        subscriber: ParticipantId,
        subscription: SubscriptionId,
        change: ForwardingChange,
    ) -> Option<Event> {
        let state = self.subscribers.get(&subscriber)?;
        let (publication, _) = state
            .subscriptions
            .iter()
            .find(|(_, sid)| **sid == subscription)?;
        let p = self.publications.get(publication)?;
        let participant_id = participant_to_wire(p.publisher);
        let stream_id = stream_to_wire(p.stream.stream);
        let kind = match p.stream.kind {
            MediaKind::Audio => proto::MediaKind::Audio,
            MediaKind::Video => proto::MediaKind::Video,
        };
        let wire_layer = |l: Layer| proto::Layer {
            spatial: l.spatial,
            temporal: l.temporal,
        };
        Some(match change {
            ForwardingChange::Layer { current, target } => {
                if p.stream.kind == MediaKind::Audio {
                    return None;
                }
                Event::LayerChanged(proto::LayerChanged {
                    participant_id,
                    stream_id,
                    target: target.map(wire_layer),
                    current: Some(wire_layer(current)),
                })
            }
            ForwardingChange::Paused => {
                let by_subscriber = state
                    .wishes
                    .get(&(p.publisher, p.stream))
                    .is_some_and(|w| w.paused);
                Event::StreamStateChanged(proto::StreamStateChanged {
                    participant_id,
                    stream_id,
                    kind,
                    state: proto::StreamState::Paused,
                    reason: Some(if by_subscriber {
                        proto::PauseReason::Subscriber
                    } else {
                        proto::PauseReason::Bandwidth
                    }),
                })
            }
            ForwardingChange::Resumed => Event::StreamStateChanged(proto::StreamStateChanged {
                participant_id,
                stream_id,
                kind,
                state: proto::StreamState::Active,
                reason: None,
            }),
        })
    }

    /// `active_speakers_changed` for every participant whose speaker list changed. Each hears
    /// of the speakers whose camera audio it may receive (spec §13.2: per location, staged
    /// `MAIN` publishers in every session) and of itself; muted publishers do not speak.
    pub(crate) fn speakers(
        &mut self,
        policy: &ForwardingPolicy,
        speakers: &[(ParticipantId, u8)],
    ) -> Vec<(ParticipantId, Event)> {
        let mut updates = Vec::new();
        let mut listeners: Vec<ParticipantId> = self.on_shard.iter().copied().collect();
        listeners.sort_unstable();
        for listener in listeners {
            let heard: Vec<(ParticipantId, u8)> = speakers
                .iter()
                .filter(|(q, _)| {
                    let unmuted = policy.members.get(q).is_some_and(|m| m.audio_enabled);
                    unmuted
                        && (*q == listener || policy.allowed(listener, *q, StreamRef::CAMERA_AUDIO))
                })
                .copied()
                .collect();
            let ids: Vec<ParticipantId> = heard.iter().map(|(q, _)| *q).collect();
            let last = self.speakers_sent.entry(listener).or_default();
            if *last == ids {
                continue;
            }
            *last = ids;
            let speakers = heard
                .into_iter()
                .map(|(q, dbov)| proto::Speaker {
                    participant_id: participant_to_wire(q),
                    level: f32::from(127u8.saturating_sub(dbov.min(127))) / 127.0,
                })
                .collect();
            updates.push((
                listener,
                Event::ActiveSpeakersChanged(proto::ActiveSpeakers { speakers }),
            ));
        }
        updates
    }

    /// Brings every subscriber's m-lines in line with `policy` and the publications; returns
    /// the server offers to send (DECISIONS.md §10: `subscriber_offer`). A subscriber with an
    /// offer outstanding is brought in line after its answer.
    pub(crate) async fn reconcile_all(
        &mut self,
        policy: &ForwardingPolicy,
    ) -> Vec<(ParticipantId, VersionedSdp)> {
        let mut subscribers: Vec<ParticipantId> = self.on_shard.iter().copied().collect();
        subscribers.sort_unstable();
        let mut offers = Vec::new();
        for subscriber in subscribers {
            if let Some(offer) = self.reconcile(subscriber, policy).await {
                offers.push((subscriber, offer));
            }
        }
        offers
    }

    /// One subscriber's part of [`RoomMedia::reconcile_all`].
    pub(crate) async fn reconcile(
        &mut self,
        subscriber: ParticipantId,
        policy: &ForwardingPolicy,
    ) -> Option<VersionedSdp> {
        if !self.on_shard.contains(&subscriber) {
            return None;
        }
        let wanted: HashSet<PublicationId> = self
            .publications
            .iter()
            .filter(|(_, p)| reachable(policy, subscriber, p.publisher, p.stream))
            .map(|(id, _)| *id)
            .collect();
        let state = self.subscribers.entry(subscriber).or_default();
        if state.pending.is_some() {
            return None;
        }
        let mut add: Vec<PublicationId> = wanted
            .iter()
            .filter(|id| !state.subscriptions.contains_key(id))
            .copied()
            .collect();
        add.sort_unstable();
        let remove: Vec<(PublicationId, SubscriptionId)> = state
            .subscriptions
            .iter()
            .filter(|(id, _)| !wanted.contains(id))
            .map(|(id, sid)| (*id, *sid))
            .collect();
        if add.is_empty() && remove.is_empty() && !state.renegotiate {
            return None;
        }
        for (publication, _) in &remove {
            state.subscriptions.remove(publication);
        }
        state.renegotiate = false;
        debug!(%subscriber, add = add.len(), remove = remove.len(), "renegotiating the subscriber transport");
        let removed = remove.into_iter().map(|(_, sid)| sid).collect();
        match self
            .shard
            .update_subscriptions(self.room, subscriber, add, removed)
            .await
        {
            Ok(Some(offer)) => {
                state.version += 1;
                state.pending = Some(state.version);
                Some(VersionedSdp {
                    sdp: offer.sdp,
                    version: state.version,
                })
            }
            Ok(None) => None,
            Err(error) => {
                warn!(%subscriber, %error, "subscriber renegotiation failed");
                None
            }
        }
    }

    /// Applies a subscriber's answer. An answer to an older offer is ignored (PROTOCOL.md).
    pub(crate) async fn subscriber_answer(
        &mut self,
        subscriber: ParticipantId,
        answer: VersionedSdp,
    ) -> Result<(), ErrorBody> {
        let Self {
            shard,
            room,
            announced,
            publications,
            subscribers,
            ..
        } = self;
        let Some(state) = subscribers.get_mut(&subscriber) else {
            return Ok(());
        };
        if state.pending != Some(answer.version) {
            debug!(%subscriber, version = answer.version, "stale subscriber answer ignored");
            return Ok(());
        }
        // Whatever the shard says, this offer is settled: a failed answer leaves the m-lines
        // it added unused, and the next reconcile offers again.
        state.pending = None;
        let subscribed = match shard.subscriber_answer(*room, subscriber, answer.sdp).await {
            Ok(subscribed) => subscribed,
            Err(error) => {
                state.renegotiate = true;
                warn!(%subscriber, %error, "subscriber answer refused");
                return Err(shard_error(error));
            }
        };
        debug!(%subscriber, version = answer.version, subscribed = subscribed.len(), "subscriber answer applied");
        for s in &subscribed {
            state.subscriptions.insert(s.publication, s.subscription);
        }
        // Wishes the subscriber made before these subscriptions existed apply now.
        let preferences: Vec<Preference> = subscribed
            .iter()
            .filter_map(|s| {
                let p = publications.get(&s.publication)?;
                let wish = state.wishes.get(&(p.publisher, p.stream))?;
                Some(core_preference(announced, s.subscription, p, wish))
            })
            .collect();
        if !preferences.is_empty() {
            shard
                .set_preferences(*room, subscriber, preferences)
                .await
                .map_err(shard_error)?;
        }
        Ok(())
    }

    /// Records a subscriber's wishes for one `(publisher, stream)` and applies them to the
    /// subscriptions that exist; the others get them when they are created.
    pub(crate) async fn set_preference(
        &mut self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        stream: StreamId,
        preference: &proto::SubscriptionPreference,
    ) -> Result<(), ErrorBody> {
        let kinds: &[MediaKind] = match preference.kind {
            Some(proto::MediaKind::Audio) => &[MediaKind::Audio],
            Some(proto::MediaKind::Video) => &[MediaKind::Video],
            None => &[MediaKind::Audio, MediaKind::Video],
        };
        let state = self.subscribers.entry(subscriber).or_default();
        let mut apply = Vec::new();
        for kind in kinds {
            let key = (
                publisher,
                StreamRef {
                    stream,
                    kind: *kind,
                },
            );
            let wish = state.wishes.entry(key).or_default();
            if let Some(paused) = preference.paused {
                wish.paused = paused;
            }
            if let Some(layer) = preference.max_layer {
                wish.max_layer = Some(Layer {
                    spatial: layer.spatial,
                    temporal: layer.temporal,
                });
                wish.target_size = None;
            }
            if let Some(size) = preference.target_size {
                wish.target_size = Some((size.width, size.height));
                wish.max_layer = None;
            }
            if let Some(priority) = preference.priority {
                wish.priority = priority;
            }
            let wish = *wish;
            for (publication, subscription) in &state.subscriptions {
                if let Some(p) = self.publications.get(publication) {
                    if (p.publisher, p.stream) == key {
                        apply.push((*subscription, *p, wish));
                    }
                }
            }
        }
        let preferences: Vec<Preference> = apply
            .iter()
            .map(|(sid, p, wish)| core_preference(&self.announced, *sid, p, wish))
            .collect();
        if preferences.is_empty() {
            return Ok(());
        }
        self.shard
            .set_preferences(self.room, subscriber, preferences)
            .await
            .map_err(shard_error)
    }
}

/// The core's preference for a wish: the requested layer (`None` = paused) and priority.
fn core_preference(
    announced: &HashMap<ParticipantId, BTreeMap<String, Announced>>,
    subscription: SubscriptionId,
    p: &Publication,
    wish: &Wish,
) -> Preference {
    let requested = if wish.paused {
        None
    } else if let Some(layer) = wish.max_layer {
        Some(layer)
    } else if let Some((width, height)) = wish.target_size {
        Some(Layer {
            spatial: layer_for_size(announced, p, width, height),
            temporal: HIGHEST.temporal,
        })
    } else {
        Some(HIGHEST)
    };
    Preference {
        subscription,
        requested,
        priority: wish.priority,
    }
}

/// The smallest encoding that covers `width` x `height` (the highest when none does), from
/// the sizes the publisher announced, else from the usual quarter/half/full ladder.
fn layer_for_size(
    announced: &HashMap<ParticipantId, BTreeMap<String, Announced>>,
    p: &Publication,
    width: u32,
    height: u32,
) -> u8 {
    let top = p.encodings.saturating_sub(1);
    let announced = announced
        .get(&p.publisher)
        .into_iter()
        .flat_map(|tracks| tracks.values())
        .find(|a| a.stream == p.stream && !a.layers.is_empty());
    let sizes: Vec<(u32, u32)> = match announced {
        Some(a) => a.layers.iter().map(|l| (l.width, l.height)).collect(),
        None => (0..=top)
            .map(|e| {
                let shift = u32::from(top - e);
                (1280 >> shift, 720 >> shift)
            })
            .collect(),
    };
    sizes
        .iter()
        .position(|(w, h)| *w >= width && *h >= height)
        .map_or(top, |e| (e as u8).min(top))
}

/// May `subscriber` get an m-line for `publisher`'s `stream`: `allowed()` with the publisher's
/// camera gates taken as open (module docs: a mute does not renegotiate).
fn reachable(
    policy: &ForwardingPolicy,
    subscriber: ParticipantId,
    publisher: ParticipantId,
    stream: StreamRef,
) -> bool {
    let (Some(s), Some(mut q)) = (
        policy.subscriber(subscriber),
        policy.publisher(publisher, stream),
    ) else {
        return false;
    };
    if stream.stream == StreamId::Camera {
        q.sending = policy
            .members
            .get(&publisher)
            .is_some_and(|m| !m.receive_only);
    }
    policy.allowed_resolved(&s, &q)
}

fn internal(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::InternalError, message)
}

/// What a client is told when the shard refuses: its own SDP is `invalid_argument`, the rest
/// is the server's problem.
fn shard_error(error: ShardError) -> ErrorBody {
    match error {
        ShardError::BadSdp(detail) => {
            ErrorBody::new(ErrorCode::InvalidArgument, format!("bad SDP: {detail}"))
        }
        other => internal(&other.to_string()),
    }
}

/// The address of a UDP relay candidate line (`candidate:F 1 udp P ADDR PORT typ relay ...`,
/// RFC 8839 §5.1); `None` for any other candidate or a line that does not parse.
fn relay_address(line: &str) -> Option<SocketAddr> {
    let words: Vec<&str> = line
        .strip_prefix("candidate:")
        .unwrap_or(line)
        .split_whitespace()
        .collect();
    let relay = words.get(6..8) == Some(&["typ", "relay"][..]);
    if !relay || !words.get(2)?.eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: IpAddr = words.get(4)?.parse().ok()?;
    let port: u16 = words.get(5)?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Location, Member, SessionId};
    use crate::shard::{self, ShardConfig};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn speaker_ids(event: &Event) -> Vec<String> {
        match event {
            Event::ActiveSpeakersChanged(a) => a
                .speakers
                .iter()
                .map(|s| s.participant_id.as_str().to_owned())
                .collect(),
            other => panic!("not a speaker event: {other:?}"),
        }
    }

    // During a breakout run each participant hears only the speakers of its own location
    // (and itself); muted speakers are nobody's speaker; an unchanged list is not resent.
    #[tokio::test]
    async fn speakers_are_told_per_location() {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (shard, _events) =
            shard::spawn(ShardConfig::new(SocketAddr::new(localhost, 0), localhost))
                .expect("shard");
        let mut media = RoomMedia::new(shard.clone(), RoomId(1));
        let (a, b, c, d) = (
            ParticipantId(1),
            ParticipantId(2),
            ParticipantId(3),
            ParticipantId(4),
        );
        let s1 = Location::Session(SessionId(1));
        let mut policy = ForwardingPolicy {
            version: 1,
            breakout_active: true,
            ..ForwardingPolicy::default()
        };
        for (p, location) in [(a, Location::Main), (b, Location::Main), (c, s1), (d, s1)] {
            policy.members.insert(p, Member::publisher(location));
        }
        if let Some(m) = policy.members.get_mut(&d) {
            m.audio_enabled = false;
        }
        media.install_policy(policy.clone()).await.expect("install");

        let updates = media.speakers(&policy, &[(a, 20), (c, 30), (d, 10)]);
        let told: HashMap<ParticipantId, Vec<String>> =
            updates.iter().map(|(p, e)| (*p, speaker_ids(e))).collect();
        assert_eq!(told[&a], vec!["p1"]);
        assert_eq!(told[&b], vec!["p1"]);
        assert_eq!(told[&c], vec!["p3"]);
        assert_eq!(told[&d], vec!["p3"]);

        // Same speakers again: nothing to tell. Silence: everyone hears the list is empty.
        assert!(media.speakers(&policy, &[(a, 25), (c, 35)]).is_empty());
        let quiet = media.speakers(&policy, &[]);
        assert_eq!(quiet.len(), 4);
        assert!(quiet.iter().all(|(_, e)| speaker_ids(e).is_empty()));
        shard.shutdown().await.expect("shutdown");
    }

    // Only UDP relay candidates name an address worth passing on; malformed lines name none.
    #[test]
    fn relay_address_of_trickled_candidates() {
        let relay = "candidate:3 1 udp 41885439 127.0.0.1 49160 typ relay raddr 10.99.0.1 \
                     rport 50000 generation 0 ufrag abcd";
        assert_eq!(
            relay_address(relay),
            Some("127.0.0.1:49160".parse().unwrap())
        );
        let host = "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0";
        assert_eq!(relay_address(host), None);
        let tcp = "candidate:2 1 tcp 24379647 127.0.0.1 49161 typ relay tcptype passive";
        assert_eq!(relay_address(tcp), None);
        assert_eq!(
            relay_address("candidate:1 1 udp 1 nonsense 5 typ relay"),
            None
        );
        assert_eq!(relay_address(""), None);
    }
}
