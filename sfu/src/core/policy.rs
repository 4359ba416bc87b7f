//! The forwarding policy (spec §13.9) and the one `allowed()` predicate (spec §13.1, with the
//! host-monitor exception of §17.1).
//!
//! The control plane builds a [`ForwardingPolicy`] from room state after every change and uses
//! [`ForwardingPolicy::allowed`] to compute each subscriber's allowed set; the media core
//! evaluates the same predicate when a policy is installed to rebuild its routing table (never
//! per packet). Because both use this file, the two cannot disagree (DECISIONS.md §5).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rustc_hash::{FxHashMap, FxHashSet};

use super::id::{MediaKind, ParticipantId, SessionId, StreamId, StreamRef};

/// Where a participant is: the main room or one breakout session (spec §0, "Location").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Location {
    #[default]
    Main,
    Session(SessionId),
}

/// What the policy knows of one admitted participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub location: Location,
    /// Server-authoritative gates (spec §13.7): a closed gate forwards nothing of that kind.
    pub audio_enabled: bool,
    pub video_enabled: bool,
    /// Viewers, recorders and streamers receive only (spec §4.2); an assistant sends audio
    /// only, which its closed video gate enforces.
    pub receive_only: bool,
    /// The participant's current screenshares (only `StreamId::Screenshare`); a screenshare
    /// not listed here is not current and is forwarded to nobody.
    pub screenshares: Vec<StreamId>,
}

impl Member {
    /// A publishing participant in `location` with both gates open and no screenshare.
    pub fn publisher(location: Location) -> Member {
        Member {
            location,
            audio_enabled: true,
            video_enabled: true,
            receive_only: false,
            screenshares: Vec::new(),
        }
    }
}

/// An immutable, versioned snapshot of everything §13.1 depends on. Participants absent from
/// `members` are not admitted (knockers, the departed): they neither send nor receive.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ForwardingPolicy {
    pub version: u64,
    /// Breakout state is Started or Closing.
    pub breakout_active: bool,
    // Fx hashing: keys are server-minted integers (no flooding risk), and an install of a
    // 1,000-person room looks each one up several times.
    pub members: FxHashMap<ParticipantId, Member>,
    /// Spotlighted streams of `MAIN` publishers, forwarded into every session during a run.
    pub stage: FxHashSet<(ParticipantId, StreamId)>,
    /// Hosts monitoring a session receive-only (spec §17.1).
    pub monitors: FxHashMap<ParticipantId, SessionId>,
    /// Subscribers that receive every publisher's audio in every location and no video: the
    /// server's live transcriber (issue 20), which captions each speaker back into the
    /// speaker's own location.
    pub taps: FxHashSet<ParticipantId>,
}

/// A subscriber resolved against a policy once, so that checking many publishers against it
/// costs no further lookups (a policy install evaluates tens of thousands of pairs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberView {
    pub participant: ParticipantId,
    pub location: Location,
    pub monitoring: Option<SessionId>,
    /// An audio tap (`ForwardingPolicy::taps`).
    pub tap: bool,
}

/// One stream of a publisher resolved against a policy once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublisherView {
    pub participant: ParticipantId,
    pub location: Location,
    /// Rules 2 and 3: the publisher may publish this kind, and its gate is open.
    pub sending: bool,
    /// Rule 4's stage exception: `(q, stream)` is spotlighted.
    pub staged: bool,
    /// The stream is audio (what an audio tap receives).
    pub audio: bool,
}

impl fmt::Debug for ForwardingPolicy {
    // Maps and sets print sorted, so equal policies print equally however they were built
    // (their iteration order depends on insertion order and capacity); `Room::fingerprint`
    // compares printouts. Never called on the packet path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            version,
            breakout_active,
            members,
            stage,
            monitors,
            taps,
        } = self;
        f.debug_struct("ForwardingPolicy")
            .field("version", version)
            .field("breakout_active", breakout_active)
            .field("members", &members.iter().collect::<BTreeMap<_, _>>())
            .field("stage", &stage.iter().collect::<BTreeSet<_>>())
            .field("monitors", &monitors.iter().collect::<BTreeMap<_, _>>())
            .field("taps", &taps.iter().collect::<BTreeSet<_>>())
            .finish()
    }
}

impl ForwardingPolicy {
    /// May subscriber `s` receive `stream` of publisher `q`? Spec §13.1 rules 1-4 and §17.1.
    /// Rule 2's "the stream exists on the media side" is the caller's part: the media core asks
    /// only about publications it has.
    pub fn allowed(&self, s: ParticipantId, q: ParticipantId, stream: StreamRef) -> bool {
        match (self.subscriber(s), self.publisher(q, stream)) {
            (Some(s), Some(q)) => self.allowed_resolved(&s, &q),
            _ => false,
        }
    }

    /// `allowed()` for views already resolved against this policy.
    pub fn allowed_resolved(&self, s: &SubscriberView, q: &PublisherView) -> bool {
        if s.participant == q.participant || !q.sending {
            return false;
        }
        // A tap hears every location's audio, and nothing else.
        if s.tap {
            return q.audio;
        }
        // Outside a run every location is MAIN (§13.1, last paragraph).
        if !self.breakout_active || s.location == q.location {
            return true;
        }
        match q.location {
            Location::Main => q.staged,
            Location::Session(session) => s.monitoring == Some(session),
        }
    }

    /// Resolves an admitted subscriber (rule 1: knockers and the departed receive nothing).
    pub fn subscriber(&self, s: ParticipantId) -> Option<SubscriberView> {
        let member = self.members.get(&s)?;
        Some(SubscriberView {
            participant: s,
            location: member.location,
            monitoring: self.monitors.get(&s).copied(),
            tap: self.taps.contains(&s),
        })
    }

    /// Resolves one stream of an admitted publisher (rules 1-3 and the stage flag of rule 4).
    pub fn publisher(&self, q: ParticipantId, stream: StreamRef) -> Option<PublisherView> {
        let member = self.members.get(&q)?;
        let gate_open = match (stream.stream, stream.kind) {
            (StreamId::Camera, MediaKind::Audio) => member.audio_enabled,
            (StreamId::Camera, MediaKind::Video) => member.video_enabled,
            (StreamId::Screenshare(_), _) => member.screenshares.contains(&stream.stream),
        };
        Some(PublisherView {
            participant: q,
            location: member.location,
            sending: gate_open && !member.receive_only,
            staged: self.stage.contains(&(q, stream.stream)),
            audio: stream.kind == MediaKind::Audio,
        })
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    // Two equal policies built differently (insertion order, capacity) print the same.
    #[test]
    fn equal_policies_print_equally() {
        let ids: Vec<ParticipantId> = (1..=64).map(ParticipantId).collect();
        let mut forward = ForwardingPolicy::default();
        let mut backward = ForwardingPolicy {
            members: FxHashMap::with_capacity_and_hasher(4096, Default::default()),
            stage: FxHashSet::with_capacity_and_hasher(4096, Default::default()),
            ..ForwardingPolicy::default()
        };
        for &id in &ids {
            forward
                .members
                .insert(id, Member::publisher(Location::Main));
            forward.stage.insert((id, StreamId::Camera));
            forward.monitors.insert(id, SessionId(id.0 % 3));
        }
        for &id in ids.iter().rev() {
            backward
                .members
                .insert(id, Member::publisher(Location::Main));
            backward.stage.insert((id, StreamId::Camera));
            backward.monitors.insert(id, SessionId(id.0 % 3));
        }
        assert_eq!(forward, backward);
        assert_eq!(format!("{forward:?}"), format!("{backward:?}"));
    }
}
