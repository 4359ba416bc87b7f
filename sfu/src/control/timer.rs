//! The room's timers and their generations (spec §10.3).

use crate::control::Effect;
use crate::core::ParticipantId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Instant;

/// A timer the room asked for with [`Effect::SetTimer`].
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

/// The armed timers, each with the generation of its latest arming. A firing counts only if
/// its generation is the armed one, so cancelling is forgetting (spec §10.3: "the handler MUST
/// ignore it if the generation changed").
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    armed: HashMap<Timer, u64>,
    next_generation: u64,
}

impl fmt::Debug for TimerTable {
    // The armed timers print sorted, so equal tables print equally whatever order their map
    // iterates in (`Room::fingerprint` compares printouts).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            armed,
            next_generation,
        } = self;
        f.debug_struct("TimerTable")
            .field("armed", &armed.iter().collect::<BTreeMap<_, _>>())
            .field("next_generation", next_generation)
            .finish()
    }
}

impl TimerTable {
    /// Arms (or re-arms) `timer` and returns the effect that asks the shell for it.
    pub(crate) fn arm(&mut self, timer: Timer, at: Instant) -> Effect {
        self.next_generation += 1;
        let generation = self.next_generation;
        self.armed.insert(timer, generation);
        Effect::SetTimer {
            timer,
            at,
            generation,
        }
    }

    /// Forgets `timer`; a later firing of it is ignored.
    pub(crate) fn disarm(&mut self, timer: Timer) {
        self.armed.remove(&timer);
    }

    /// Whether a firing is current; a current firing disarms the timer.
    pub(crate) fn take_firing(&mut self, timer: Timer, generation: u64) -> bool {
        if self.armed.get(&timer) == Some(&generation) {
            self.armed.remove(&timer);
            true
        } else {
            false
        }
    }

    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.armed.contains_key(&timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two equal tables built differently (capacity, insertion order) print the same.
    #[test]
    fn equal_tables_print_equally() {
        let timers: Vec<(Timer, u64)> = (0..64)
            .map(|n| (Timer::ReconnectGrace(ParticipantId(n)), n + 1))
            .collect();
        let small = TimerTable {
            armed: timers.iter().copied().collect(),
            next_generation: 64,
        };
        let mut armed = HashMap::with_capacity(4096);
        armed.extend(timers.iter().rev().copied());
        let large = TimerTable {
            armed,
            next_generation: 64,
        };
        assert_eq!(small, large);
        assert_eq!(format!("{small:?}"), format!("{large:?}"));
    }
}
