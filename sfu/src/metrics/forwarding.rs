//! The forwarding cores' families: what a `MediaCore` counted ([`CoreStats`]), added by its
//! owner through [`ForwardingMetrics::observe`] (the shards' cores through
//! [`super::ShardMetrics::observe`]).

use prometheus::{IntCounter, IntCounterVec, Registry};

use super::{counter, counter_vec, grow};
use crate::core::{CoreStats, DropReason};

/// The `result` label of `sfu_keyframe_requests_total`: what the core's keyframe throttle did
/// with a request towards a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeRequestResult {
    /// Passed the throttle and sent to the publisher.
    Sent,
    /// Merged into a request sent shortly before.
    Suppressed,
}

impl KeyframeRequestResult {
    pub const ALL: [KeyframeRequestResult; 2] = [
        KeyframeRequestResult::Sent,
        KeyframeRequestResult::Suppressed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyframeRequestResult::Sent => "sent",
            KeyframeRequestResult::Suppressed => "suppressed",
        }
    }

    /// The core's cumulative count of requests with this result.
    fn total(self, stats: &CoreStats) -> u64 {
        match self {
            KeyframeRequestResult::Sent => stats.keyframe_requests_sent,
            KeyframeRequestResult::Suppressed => stats.keyframe_requests_suppressed,
        }
    }
}

/// The forwarding cores' counters, summed over every core.
#[derive(Clone, Debug)]
pub struct ForwardingMetrics {
    /// Media packets the forwarding cores took in.
    pub packets_in: IntCounter,
    pub bytes_in: IntCounter,
    /// Per-subscriber copies the forwarding cores decided to forward.
    pub packets_out: IntCounter,
    pub bytes_out: IntCounter,
    /// Core drops by [`DropReason`] (faults and loss).
    pub packets_dropped: IntCounterVec,
    /// Copies the core did not forward by choice ([`DropReason::is_selection`]).
    pub packets_not_selected: IntCounterVec,
    pub keyframe_feedback: IntCounter,
    /// Keyframe requests towards publishers, by [`KeyframeRequestResult`].
    pub keyframe_requests: IntCounterVec,
    pub policy_installs: IntCounter,
}

impl ForwardingMetrics {
    /// Registers the families, every label value at zero.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = ForwardingMetrics {
            packets_in: counter(
                registry,
                "packets_in_total",
                "RTP packets the forwarding cores received from publishers.",
            )?,
            bytes_in: counter(
                registry,
                "bytes_in_total",
                "RTP payload bytes the forwarding cores received from publishers.",
            )?,
            packets_out: counter(
                registry,
                "packets_out_total",
                "RTP packets the forwarding cores forwarded (one per subscriber copy).",
            )?,
            bytes_out: counter(
                registry,
                "bytes_out_total",
                "RTP payload bytes the forwarding cores forwarded.",
            )?,
            packets_dropped: counter_vec(
                registry,
                "packets_dropped_total",
                "Packets (or per-subscriber copies) the forwarding cores dropped, by reason: \
                 malformed, unknown, duplicate, too old, waiting for a keyframe.",
                &["reason"],
            )?,
            packets_not_selected: counter_vec(
                registry,
                "packets_not_selected_total",
                "Per-subscriber copies not forwarded because the subscription selects other \
                 media (another simulcast encoding, a lower temporal layer, a pause, a \
                 moderation gate), by reason: normal operation, not drops.",
                &["reason"],
            )?,
            keyframe_feedback: counter(
                registry,
                "keyframe_feedback_total",
                "PLI/FIR messages the forwarding cores received from subscribers.",
            )?,
            keyframe_requests: counter_vec(
                registry,
                "keyframe_requests_total",
                "Keyframe requests towards publishers: sent, or suppressed by the throttle.",
                &["result"],
            )?,
            policy_installs: counter(
                registry,
                "policy_installs_total",
                "Forwarding policies installed in media cores.",
            )?,
        };
        for reason in DropReason::ALL {
            metrics.drops(reason);
        }
        for result in KeyframeRequestResult::ALL {
            metrics
                .keyframe_requests
                .with_label_values(&[result.as_str()]);
        }
        Ok(metrics)
    }

    /// The counter of `reason`: selections are not drops.
    fn drops(&self, reason: DropReason) -> IntCounter {
        let family = if reason.is_selection() {
            &self.packets_not_selected
        } else {
            &self.packets_dropped
        };
        family.with_label_values(&[reason.as_str()])
    }

    /// Adds what a core's counters grew by since `last`, then remembers `now` in `last`.
    pub fn observe(&self, last: &mut CoreStats, now: &CoreStats) {
        grow(&self.packets_in, last.packets_in, now.packets_in);
        grow(&self.bytes_in, last.bytes_in, now.bytes_in);
        grow(&self.packets_out, last.packets_out, now.packets_out);
        grow(&self.bytes_out, last.bytes_out, now.bytes_out);
        for reason in DropReason::ALL {
            grow(&self.drops(reason), last.drops(reason), now.drops(reason));
        }
        grow(
            &self.keyframe_feedback,
            last.keyframe_feedback_in,
            now.keyframe_feedback_in,
        );
        for result in KeyframeRequestResult::ALL {
            grow(
                &self.keyframe_requests.with_label_values(&[result.as_str()]),
                result.total(last),
                result.total(now),
            );
        }
        grow(
            &self.policy_installs,
            last.policy_installs,
            now.policy_installs,
        );
        *last = *now;
    }
}
