//! The shell's one clock (DECISIONS.md §15).
//!
//! `sfu/clippy.toml` bans `Instant::now` and `SystemTime::now` everywhere in the crate: the sans-IO
//! core and control plane take `now` as an argument (STYLE.md rule 1). The shell reads time here
//! and nowhere else, so a grep for `clock::` finds every place real time enters the program.

use std::time::{Instant, SystemTime};

/// Monotonic time for the shell's timers and for the `now` it hands to the sans-IO cores.
#[allow(clippy::disallowed_methods)] // the one shell clock (DECISIONS.md §15)
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time, for what leaves the process: token expiry (`exp`, spec §8.1) and RFC 3339
/// timestamps on the wire (DECISIONS.md §12).
#[allow(clippy::disallowed_methods)] // the one shell clock (DECISIONS.md §15)
pub fn system_now() -> SystemTime {
    SystemTime::now()
}
