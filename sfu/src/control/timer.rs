//! The room's timers (spec §10.3): the room keeps them and says when the next is due
//! ([`crate::control::Room::poll_timeout`]); the shell sleeps until then.

use crate::core::ParticipantId;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Instant;

/// A timer the room armed; it fires in [`crate::control::Room::handle_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// The participant lost its transport; at expiry it is Gone (spec §7.2).
    ReconnectGrace(ParticipantId),
    /// The knocker has waited `knock_timeout`; at expiry it is rejected (spec §8.2).
    KnockTimeout(ParticipantId),
    /// The run's automatic end (spec §10.3); carries the run so a later run ignores it.
    BreakoutAutoEnd { run: u64 },
    /// 60 s before the automatic end: `breakout_timer_warning`.
    BreakoutWarning { run: u64 },
    /// The closing countdown ran out: finish.
    BreakoutClosing { run: u64 },
    /// An assigned participant's move grace ran out: auto-move (spec §11.4).
    MoveGrace(ParticipantId),
    /// The edit lock's TTL ran out without a refresh (spec §12).
    EditLockExpiry,
}

/// The armed timers and when each is due. Arming a timer again moves it; disarming forgets it,
/// so a cancelled or superseded timer can never fire (spec §10.3's stale generations cannot
/// arise: the room owns its clock-driven inputs, as `MediaCore` does).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    armed: HashMap<Timer, Instant>,
    /// The same timers ordered by due time (ties by timer), for [`TimerTable::next_due`].
    queue: BTreeSet<(Instant, Timer)>,
}

impl fmt::Debug for TimerTable {
    // The armed timers print in due order, so equal tables print equally whatever order their
    // map iterates in (`Room::fingerprint` compares printouts).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerTable")
            .field("queue", &self.queue)
            .finish()
    }
}

impl TimerTable {
    /// Arms (or re-arms) `timer` for `at`.
    pub(crate) fn arm(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.armed.insert(timer, at) {
            self.queue.remove(&(old, timer));
        }
        self.queue.insert((at, timer));
    }

    /// Forgets `timer`: it will not fire.
    pub(crate) fn disarm(&mut self, timer: Timer) {
        if let Some(at) = self.armed.remove(&timer) {
            self.queue.remove(&(at, timer));
        }
    }

    /// When the earliest armed timer is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The earliest timer due at `now`, disarmed; `None` when none is due.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Timer> {
        let &(at, timer) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.pop_first();
        self.armed.remove(&timer);
        Some(timer)
    }

    /// When `timer` is due, if it is armed.
    pub(crate) fn due_at(&self, timer: Timer) -> Option<Instant> {
        self.armed.get(&timer).copied()
    }

    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.armed.contains_key(&timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Two equal tables built differently (capacity, insertion order) print the same.
    #[test]
    fn equal_tables_print_equally() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let timers: Vec<(Timer, Instant)> = (0..64)
            .map(|n| {
                (
                    Timer::ReconnectGrace(ParticipantId(n)),
                    t0 + Duration::from_secs(n % 7),
                )
            })
            .collect();
        let mut small = TimerTable::default();
        for &(timer, at) in &timers {
            small.arm(timer, at);
        }
        let mut large = TimerTable {
            armed: HashMap::with_capacity(4096),
            queue: BTreeSet::new(),
        };
        for &(timer, at) in timers.iter().rev() {
            large.arm(timer, at);
        }
        assert_eq!(small, large);
        assert_eq!(format!("{small:?}"), format!("{large:?}"));
    }

    // Timers fire in due order; a re-armed timer fires at its new time only, a disarmed one
    // never.
    #[test]
    fn fires_in_order_once_and_never_when_disarmed() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut table = TimerTable::default();
        table.arm(Timer::EditLockExpiry, at(5));
        table.arm(Timer::KnockTimeout(ParticipantId(1)), at(3));
        table.arm(Timer::MoveGrace(ParticipantId(2)), at(1));
        table.arm(Timer::MoveGrace(ParticipantId(2)), at(4));
        table.disarm(Timer::KnockTimeout(ParticipantId(1)));
        assert_eq!(table.next_due(), Some(at(4)));
        assert_eq!(table.take_due(at(3)), None);
        assert_eq!(
            table.take_due(at(10)),
            Some(Timer::MoveGrace(ParticipantId(2)))
        );
        assert_eq!(table.take_due(at(10)), Some(Timer::EditLockExpiry));
        assert_eq!(table.take_due(at(10)), None);
        assert_eq!(table.next_due(), None);
    }
}
