//! The room actors' families: rooms, participants and breakout groups, each actor feeding its
//! share through a [`super::RoomGauges`].

use prometheus::{IntCounter, IntGauge, Registry};

use super::{counter, gauge};

/// The rooms' gauges, summed over every room actor.
#[derive(Clone, Debug)]
pub struct RoomMetrics {
    /// Rooms with a running control actor.
    pub running: IntGauge,
    pub participants: IntGauge,
    /// Breakout groups with at least one participant in them.
    pub breakout_groups: IntGauge,
    /// Participants whose location (main room or a group) changed between two policies.
    pub breakout_moves: IntCounter,
}

impl RoomMetrics {
    /// Registers the families.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(RoomMetrics {
            running: gauge(registry, "rooms", "Rooms with a running control actor.")?,
            participants: gauge(registry, "participants", "Participants in rooms.")?,
            breakout_groups: gauge(
                registry,
                "breakout_groups",
                "Breakout groups with at least one participant.",
            )?,
            breakout_moves: counter(
                registry,
                "breakout_moves_total",
                "Participants moved between the main room and breakout groups.",
            )?,
        })
    }
}
