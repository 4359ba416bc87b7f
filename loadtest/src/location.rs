//! Where a synthetic participant is (main room or breakout group) and when anybody in the room
//! last moved, so that a subscriber can tell a packet that crossed groups from one that was
//! merely in flight during a move.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalling_proto::{Location, SessionId};

use crate::packet_tag::GROUP_MAIN;
use crate::wall_clock::unix_micros;

/// After a move anywhere in the room, packets are not checked for group crossings for this
/// long: the server installs the new policy first and tells clients afterwards (spec §13.3), so
/// tags and the subscriber's own idea of its group lag the forwarding by the event's trip.
pub const MOVE_GRACE: Duration = Duration::from_secs(1);

/// Breakout session id -> load-test group number (1-based; 0 is the main room). Filled by the
/// host after `breakout_create_sessions`, read by everyone.
pub type GroupNumbers = Arc<Mutex<HashMap<SessionId, u16>>>;

/// One participant's location as its events report it.
#[derive(Debug)]
pub struct Whereabouts {
    group: AtomicU16,
    last_move_us: AtomicU64,
    groups: GroupNumbers,
}

impl Whereabouts {
    /// In the main room, nobody moved yet.
    pub fn new(groups: GroupNumbers) -> Self {
        Self {
            group: AtomicU16::new(GROUP_MAIN),
            last_move_us: AtomicU64::new(0),
            groups,
        }
    }

    /// The group number written into packet tags.
    pub fn group(&self) -> u16 {
        self.group.load(Ordering::Relaxed)
    }

    /// Records that this participant is now at `location`.
    pub fn moved_to(&self, location: &Location) {
        let group = match location {
            Location::Main => GROUP_MAIN,
            Location::Session(id) => self
                .groups
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .copied()
                // A session the host did not announce (another host's): never equal to a
                // known group, so its packets count as crossings.
                .unwrap_or(u16::MAX),
        };
        self.group.store(group, Ordering::Relaxed);
        self.someone_moved();
    }

    /// Records that somebody in the room changed location.
    pub fn someone_moved(&self) {
        self.last_move_us.store(unix_micros(), Ordering::Relaxed);
    }

    /// Whether a packet tagged `group` arriving now crossed groups: different group and no
    /// move within [`MOVE_GRACE`].
    pub fn is_crossing(&self, group: u16) -> Option<bool> {
        let since_move = unix_micros().saturating_sub(self.last_move_us.load(Ordering::Relaxed));
        if since_move < MOVE_GRACE.as_micros() as u64 {
            return None;
        }
        Some(group != self.group())
    }
}
