//! The two paths from a shard to the async side (STYLE.md rule 16: control never drops;
//! telemetry may).
//!
//! * **Control** ([`ShardEvent::is_control`]): events that change what a room knows (a
//!   transport connected or failed, a publication appeared, a subscription ended, what a
//!   subscription forwards). They go through an unbounded channel: the media loop never
//!   waits for the async side and never loses one. The queue cannot grow without bound
//!   because the events are bounded by what authenticated participants do: each one follows
//!   a shard command a participant admitted to a room caused (a participant added, a
//!   publisher offer or subscriber answer applied) or the end of something such a command
//!   created, at most once per transport (connected, failed), per published track
//!   (publication added) and per subscription (ended); a subscription's forwarding changes
//!   only on a keyframe of the target layer or an allocator decision (DECISIONS.md §9), so
//!   at most once per keyframe its publisher sends. And the room actor drains them as fast
//!   as they come: it handles each in microseconds without awaiting anything.
//! * **Telemetry** (speaker samples, every 500 ms per room): a bounded channel of
//!   [`ShardConfig::event_capacity`](super::ShardConfig::event_capacity) events. When it is
//!   full the sample is dropped and counted (`ShardStats::events_dropped`); the next sample
//!   supersedes it.

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::handle::ShardEvent;

/// The shard's end: where the loop emits.
#[derive(Debug)]
pub(crate) struct EventSender {
    control: mpsc::UnboundedSender<ShardEvent>,
    telemetry: mpsc::Sender<ShardEvent>,
}

impl EventSender {
    /// Sends `event` without waiting. `false` when it was telemetry and its channel was full
    /// (the caller counts the drop); control events are always queued (or nobody listens any
    /// more, which loses nothing anyone would read).
    pub(crate) fn send(&self, event: ShardEvent) -> bool {
        if event.is_control() {
            // A closed receiver means the server is stopping: nobody is left to tell.
            let _ = self.control.send(event);
            true
        } else {
            !matches!(
                self.telemetry.try_send(event),
                Err(mpsc::error::TrySendError::Full(_))
            )
        }
    }
}

/// The async side's end: every event of one shard, control events first.
#[derive(Debug)]
pub struct ShardEvents {
    control: mpsc::UnboundedReceiver<ShardEvent>,
    telemetry: mpsc::Receiver<ShardEvent>,
}

impl ShardEvents {
    /// The next event, control before telemetry; `None` once the shard has stopped and
    /// everything it sent was taken.
    pub async fn recv(&mut self) -> Option<ShardEvent> {
        tokio::select! {
            biased;
            Some(event) = self.control.recv() => Some(event),
            Some(event) = self.telemetry.recv() => Some(event),
            else => None,
        }
    }

    /// The next event if one is waiting, control before telemetry.
    pub fn try_recv(&mut self) -> Result<ShardEvent, TryRecvError> {
        match self.control.try_recv() {
            Ok(event) => Ok(event),
            Err(control) => match self.telemetry.try_recv() {
                Ok(event) => Ok(event),
                // Disconnected only when both ends are gone.
                Err(TryRecvError::Disconnected) if control == TryRecvError::Disconnected => {
                    Err(TryRecvError::Disconnected)
                }
                Err(_) => Err(TryRecvError::Empty),
            },
        }
    }
}

/// A shard's event paths, with room for `telemetry_capacity` telemetry events.
pub(crate) fn channel(telemetry_capacity: usize) -> (EventSender, ShardEvents) {
    let (control, control_rx) = mpsc::unbounded_channel();
    let (telemetry, telemetry_rx) = mpsc::channel(telemetry_capacity.max(1));
    (
        EventSender { control, telemetry },
        ShardEvents {
            control: control_rx,
            telemetry: telemetry_rx,
        },
    )
}
