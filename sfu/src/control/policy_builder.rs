//! Forwarding policy snapshots from room state, and the allowed sets they imply (spec §13.1,
//! §13.2, §13.7, §13.9).
//!
//! The predicate itself is [`ForwardingPolicy::allowed`] in `core/policy.rs`; this module only
//! feeds it, so the control plane and the media core cannot disagree (DECISIONS.md §5).

use crate::control::participant::Participant;
use crate::control::wire_id::{participant_to_wire, stream_to_wire};
use crate::control::{Effect, Room};
use crate::core::{
    ForwardingPolicy, Location, MediaKind, Member, ParticipantId, StreamId, StreamRef,
};
use signalling_proto as proto;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One subscriber's allowed streams: `(publisher, stream, kind)`.
pub(crate) type AllowedSet = BTreeSet<(ParticipantId, StreamId, MediaKind)>;

/// The policy that is the function of the room's state (spec §5.9-11). Its `version` is left
/// at 0; the room numbers the snapshots it installs.
pub(crate) fn build(room: &Room) -> ForwardingPolicy {
    let state = &room.state;
    let mut policy = ForwardingPolicy {
        version: 0,
        breakout_active: state.breakout.is_active(),
        ..ForwardingPolicy::default()
    };
    for p in state.participants.values() {
        // Reconnecting participants stay members: their allowed set is kept and re-applied on
        // resume (§13.2, §13.8); their streams simply carry no media meanwhile.
        policy.members.insert(
            p.id,
            Member {
                location: p.location,
                audio_enabled: p.audio_enabled,
                video_enabled: p.video_enabled,
                receive_only: !p.role.may_publish_audio(),
                screenshares: p.screenshares.iter().map(|s| s.stream).collect(),
            },
        );
    }
    // The stage (§13.5): spotlighted streams of MAIN publishers. Outside a run it changes
    // nothing, but it is state the core must have when a run starts.
    for (id, stream) in &state.spotlights {
        if state
            .participants
            .get(id)
            .is_some_and(|p| p.location == Location::Main)
        {
            policy.stage.insert((*id, *stream));
        }
    }
    for (host, session) in &state.breakout.monitors {
        policy.monitors.insert(*host, *session);
    }
    // The server's transcriber hears every location (issue 20); its captions are scoped back
    // to the speaker's location by the room.
    for p in state.participants.values() {
        if p.role == proto::Role::Captioner {
            policy.taps.insert(p.id);
        }
    }
    policy
}

/// Every stream a publisher declares (spec §13.1 rule 2, as far as the control plane knows).
fn declared_streams(p: &Participant) -> Vec<StreamRef> {
    if !p.role.may_publish() {
        // An assistant speaks on its camera stream's audio track, nothing else.
        return if p.role.may_publish_audio() {
            vec![StreamRef::CAMERA_AUDIO]
        } else {
            Vec::new()
        };
    }
    let mut streams = vec![StreamRef::CAMERA_AUDIO, StreamRef::CAMERA_VIDEO];
    for share in &p.screenshares {
        streams.push(StreamRef {
            stream: share.stream,
            kind: MediaKind::Video,
        });
        if share.has_audio_track {
            streams.push(StreamRef {
                stream: share.stream,
                kind: MediaKind::Audio,
            });
        }
    }
    streams
}

/// Each admitted subscriber's allowed set under `policy`.
pub(crate) fn allowed_sets(
    room: &Room,
    policy: &ForwardingPolicy,
) -> HashMap<ParticipantId, AllowedSet> {
    let publishers: Vec<(ParticipantId, Vec<StreamRef>)> = room
        .state
        .participants
        .values()
        .map(|p| (p.id, declared_streams(p)))
        .collect();
    let mut sets = HashMap::new();
    for s in room.state.participants.keys() {
        let mut set = AllowedSet::new();
        for (q, streams) in &publishers {
            for stream in streams {
                if policy.allowed(*s, *q, *stream) {
                    set.insert((*q, stream.stream, stream.kind));
                }
            }
        }
        sets.insert(*s, set);
    }
    sets
}

/// The new allowed sets and the `subscriptions_changed` events they call for.
pub(crate) struct SubscriptionChanges {
    pub sets: HashMap<ParticipantId, AllowedSet>,
    pub events: Vec<Effect>,
}

/// Compares the sets under the installed policy with the previous ones: every subscriber whose
/// set changed gets `subscriptions_changed` (spec §13.1); those in `full` get their whole set
/// as `added` (resume, §13.8).
pub(crate) fn subscription_changes(room: &Room, full: &[ParticipantId]) -> SubscriptionChanges {
    let sets = allowed_sets(room, room.installed_policy());
    let empty = AllowedSet::new();
    let mut events = Vec::new();
    for s in room.state.participants.keys() {
        let new = sets.get(s).unwrap_or(&empty);
        let old = room.previous_allowed(*s).unwrap_or(&empty);
        let added: Vec<_> = if full.contains(s) {
            new.iter().copied().collect()
        } else {
            new.difference(old).copied().collect()
        };
        let removed: Vec<_> = old.difference(new).copied().collect();
        if added.is_empty() && removed.is_empty() && !full.contains(s) {
            continue;
        }
        events.push(Effect::Send {
            to: vec![*s],
            event: proto::Event::SubscriptionsChanged(proto::SubscriptionsChanged {
                added: group(&added),
                removed: group(&removed),
                policy_version: room.installed_policy().version,
            }),
        });
    }
    SubscriptionChanges { sets, events }
}

/// `(publisher, stream, kind)` triples as `[{participantId, streamId, kinds, msid}]`; the msid
/// is the one the shard writes in the stream's subscriber m-lines (PROTOCOL.md §4.8).
fn group(items: &[(ParticipantId, StreamId, MediaKind)]) -> Vec<proto::StreamKinds> {
    let mut grouped: BTreeMap<(ParticipantId, StreamId), Vec<proto::MediaKind>> = BTreeMap::new();
    for (q, stream, kind) in items {
        grouped.entry((*q, *stream)).or_default().push(match kind {
            MediaKind::Audio => proto::MediaKind::Audio,
            MediaKind::Video => proto::MediaKind::Video,
        });
    }
    grouped
        .into_iter()
        .map(|((q, stream), kinds)| {
            proto::StreamKinds::new(participant_to_wire(q), stream_to_wire(stream), kinds)
        })
        .collect()
}
