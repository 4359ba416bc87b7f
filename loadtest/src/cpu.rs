//! CPU time of this process and how busy the whole machine is, from `/proc` (DECISIONS.md §20:
//! report the client's CPU and the machine's beside the SFU's). No `getrusage`: the workspace
//! forbids `unsafe`, and `/proc` gives the same numbers on Linux.

use std::fs;

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on every Linux we run).
const CLK_TCK: f64 = 100.0;

/// This process's user + system CPU seconds, or `None` off Linux.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// The machine's (busy, total) jiffies from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineTicks {
    pub busy: u64,
    pub total: u64,
}

impl MachineTicks {
    /// Now, or `None` off Linux.
    pub fn read() -> Option<MachineTicks> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = values.iter().sum();
        // idle + iowait are not busy.
        let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
        Some(MachineTicks {
            busy: total - idle,
            total,
        })
    }

    /// Busy fraction (0-1) between `earlier` and `self`.
    pub fn busy_since(&self, earlier: &MachineTicks) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}
