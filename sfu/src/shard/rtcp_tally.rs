//! `RtcpTally`: turns str0m's per-stream cumulative RTCP counts into a shard's running
//! [`RtcpTotals`].
//!
//! str0m reports, once per stats interval, each stream's NACK/PLI/FIR counts since the stream
//! began (`MediaEgressStats` for what the server sends, whose feedback came from a subscriber;
//! `MediaIngressStats` for what it receives, whose feedback the server sent the publisher).
//! Each transport keeps the last counts it saw per stream and adds only the growth to the
//! shard's totals, so the totals stay monotonic when a transport or stream goes away.

use str0m::media::{Mid, Rid};
use str0m::stats::{MediaEgressStats, MediaIngressStats};

use super::stats::RtcpTotals;

/// One transport's last-seen counts, per (mid, rid, direction).
#[derive(Debug, Default)]
pub(crate) struct RtcpTally {
    seen: Vec<Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    mid: Mid,
    rid: Option<Rid>,
    egress: bool,
    nacks: u64,
    plis: u64,
    firs: u64,
    /// The highest `packets sent - packets written` seen: the resends so far (the difference
    /// dips while written packets wait in str0m's pacer).
    resent: u64,
}

impl RtcpTally {
    /// A stats report of a stream the server sends. `written` is how many packets the shard
    /// wrote to that stream (`None` when the stream is no longer the shard's).
    pub(crate) fn egress(
        &mut self,
        totals: &mut RtcpTotals,
        stats: &MediaEgressStats,
        written: Option<u64>,
    ) {
        let seen = self.entry(stats.mid, stats.rid, true);
        grow(&mut totals.nacks_in, &mut seen.nacks, stats.nacks);
        grow(&mut totals.plis_in, &mut seen.plis, stats.plis);
        grow(&mut totals.firs_in, &mut seen.firs, stats.firs);
        if let Some(written) = written {
            let resent = stats.packets.saturating_sub(written);
            grow(&mut totals.retransmissions, &mut seen.resent, resent);
        }
    }

    /// A stats report of a stream the server receives.
    pub(crate) fn ingress(&mut self, totals: &mut RtcpTotals, stats: &MediaIngressStats) {
        let seen = self.entry(stats.mid, stats.rid, false);
        grow(&mut totals.nacks_out, &mut seen.nacks, stats.nacks);
        grow(&mut totals.plis_out, &mut seen.plis, stats.plis);
        grow(&mut totals.firs_out, &mut seen.firs, stats.firs);
    }

    /// A transport has a handful of streams: a linear scan, once per stats interval.
    fn entry(&mut self, mid: Mid, rid: Option<Rid>, egress: bool) -> &mut Seen {
        let at = match self
            .seen
            .iter()
            .position(|s| s.mid == mid && s.rid == rid && s.egress == egress)
        {
            Some(at) => at,
            None => {
                self.seen.push(Seen {
                    mid,
                    rid,
                    egress,
                    nacks: 0,
                    plis: 0,
                    firs: 0,
                    resent: 0,
                });
                self.seen.len() - 1
            }
        };
        &mut self.seen[at]
    }
}

/// Adds to `total` what a stream's cumulative `now` grew by since its high-water mark `seen`,
/// and raises the mark: a count that dips (str0m restarting a stream) never goes backwards.
fn grow(total: &mut u64, seen: &mut u64, now: u64) {
    *total += now.saturating_sub(*seen);
    *seen = (*seen).max(now);
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn egress(mid: &str, nacks: u64, packets: u64, now: Instant) -> MediaEgressStats {
        MediaEgressStats {
            mid: Mid::from(mid),
            rid: None,
            bytes: packets * 100,
            packets,
            firs: 0,
            plis: 1,
            nacks,
            rtt: None,
            loss: None,
            timestamp: now,
            remote: None,
        }
    }

    // Cumulative per-stream reports add only their growth, per stream; resends are what str0m
    // sent beyond what the shard wrote, counted at their high-water mark (packets waiting in
    // the pacer make the difference dip).
    #[test]
    fn reports_add_their_growth_per_stream() {
        #[allow(clippy::disallowed_methods)] // tests own the clock
        let now = Instant::now();
        let (mut tally, mut totals) = (RtcpTally::default(), RtcpTotals::default());
        tally.egress(&mut totals, &egress("0", 3, 100, now), Some(98));
        tally.egress(&mut totals, &egress("1", 1, 10, now), Some(10));
        assert_eq!((totals.nacks_in, totals.plis_in), (4, 2));
        assert_eq!(totals.retransmissions, 2);
        // Ten more written, five still queued: the difference dips and nothing is added.
        tally.egress(&mut totals, &egress("0", 3, 105, now), Some(108));
        assert_eq!((totals.nacks_in, totals.retransmissions), (4, 2));
        // Sent: the queued five and three resends after two more NACKs.
        tally.egress(&mut totals, &egress("0", 5, 113, now), Some(108));
        assert_eq!((totals.nacks_in, totals.retransmissions), (6, 5));
        assert_eq!(totals.plis_in, 2, "the same PLI counts are no growth");
        // A stream that is no longer the shard's still counts its feedback.
        tally.egress(&mut totals, &egress("1", 2, 10, now), None);
        assert_eq!(totals.nacks_in, 7);
    }
}
