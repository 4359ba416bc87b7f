//! Wall-clock time for packet tags: publisher and subscribers may be separate processes on one
//! machine, so one-way latency is measured against the shared system clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
