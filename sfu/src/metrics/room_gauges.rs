//! [`RoomGauges`]: one room actor's share of the [`super::RoomMetrics`] gauges.

use rustc_hash::FxHashSet;

use super::Metrics;
use crate::core::{ForwardingPolicy, Location, ParticipantId};

/// The room, participant and breakout-group counts of one room actor (from
/// [`Metrics::room_gauges`]). The actor calls [`RoomGauges::observe_policy`] after each policy
/// install; dropping it removes the room's share from every gauge.
#[derive(Debug)]
pub struct RoomGauges {
    metrics: Metrics,
    participants: i64,
    groups: i64,
    /// Each member's location in the last policy, sorted by participant, to count moves.
    locations: Vec<(ParticipantId, Location)>,
}

impl RoomGauges {
    /// Counts the room in `metrics` until dropped.
    pub(super) fn new(metrics: Metrics) -> Self {
        metrics.rooms.running.inc();
        RoomGauges {
            metrics,
            participants: 0,
            groups: 0,
            locations: Vec::new(),
        }
    }

    /// The registry these gauges belong to (room actors feed it signalling counts too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts the policy's members and occupied breakout groups, and the members whose
    /// location changed since the previous policy (breakout moves). Joins and leaves are not
    /// moves.
    pub fn observe_policy(&mut self, policy: &ForwardingPolicy) {
        let mut locations: Vec<_> = policy
            .members
            .iter()
            .map(|(&id, member)| (id, member.location))
            .collect();
        locations.sort_unstable_by_key(|&(id, _)| id);
        let groups: FxHashSet<_> = locations
            .iter()
            .filter_map(|(_, location)| match location {
                Location::Session(session) => Some(*session),
                Location::Main => None,
            })
            .collect();
        let moves = locations
            .iter()
            .filter(|(id, location)| {
                self.locations
                    .binary_search_by_key(id, |&(known, _)| known)
                    .is_ok_and(|at| self.locations[at].1 != *location)
            })
            .count();
        self.metrics.rooms.breakout_moves.inc_by(moves as u64);
        self.set(locations.len(), groups.len());
        self.locations = locations;
    }

    fn set(&mut self, participants: usize, groups: usize) {
        let participants = i64::try_from(participants).unwrap_or(i64::MAX);
        let groups = i64::try_from(groups).unwrap_or(i64::MAX);
        let rooms = &self.metrics.rooms;
        rooms.participants.add(participants - self.participants);
        rooms.breakout_groups.add(groups - self.groups);
        self.participants = participants;
        self.groups = groups;
    }
}

impl Drop for RoomGauges {
    fn drop(&mut self) {
        self.set(0, 0);
        self.metrics.rooms.running.dec();
    }
}
