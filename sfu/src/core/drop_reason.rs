//! Why a packet was not forwarded, and the core's plain counters.
//!
//! Every drop on the packet path names a [`DropReason`] and is counted (STYLE.md rule 5,
//! mediasoup's `RtcLogger::DropReason`); the shell exports [`CoreStats`] as metrics.

/// Why the core did not forward an inbound packet (or one copy of it to one subscriber).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The codec payload could not be parsed (e.g. a truncated VP8 descriptor).
    MalformedPayload,
    /// The packet names a publication or encoding the core does not know (stale id).
    UnknownPublication,
    /// The publisher's moderation gate is closed (host mute, mute-on-return; spec §13.7).
    GateClosed,
    /// The subscription is paused (by the subscriber or because no layer fits the estimate).
    Paused,
    /// The packet belongs to an encoding the subscription does not forward now.
    NotCurrentLayer,
    /// The subscription waits for a keyframe before it can start or switch.
    WaitingForKeyframe,
    /// VP8 temporal layer above the subscription's target.
    TemporalLayerFiltered,
    /// The same sequence number was already forwarded.
    Duplicate,
    /// Older than the reorder window: its output sequence number can no longer be derived.
    TooOld,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::MalformedPayload,
        DropReason::UnknownPublication,
        DropReason::GateClosed,
        DropReason::Paused,
        DropReason::NotCurrentLayer,
        DropReason::WaitingForKeyframe,
        DropReason::TemporalLayerFiltered,
        DropReason::Duplicate,
        DropReason::TooOld,
    ];

    /// A stable snake_case name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MalformedPayload => "malformed_payload",
            DropReason::UnknownPublication => "unknown_publication",
            DropReason::GateClosed => "gate_closed",
            DropReason::Paused => "paused",
            DropReason::NotCurrentLayer => "not_current_layer",
            DropReason::WaitingForKeyframe => "waiting_for_keyframe",
            DropReason::TemporalLayerFiltered => "temporal_layer_filtered",
            DropReason::Duplicate => "duplicate",
            DropReason::TooOld => "too_old",
        }
    }

    /// True for the copies not forwarded because of what the subscription selects (another
    /// simulcast encoding, a higher temporal layer, a pause, a moderation gate): normal
    /// operation, exported apart from the drops (`sfu_packets_not_selected_total`), so that a
    /// dashboard of drops shows loss and faults only.
    pub fn is_selection(self) -> bool {
        matches!(
            self,
            DropReason::NotCurrentLayer
                | DropReason::TemporalLayerFiltered
                | DropReason::Paused
                | DropReason::GateClosed
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Plain counters the shell turns into Prometheus metrics. Monotonic over the core's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    drops: [u64; DropReason::ALL.len()],
    /// PLI/FIR from subscribers.
    pub keyframe_feedback_in: u64,
    /// Keyframe requests sent towards publishers (after throttling, retries included).
    pub keyframe_requests_sent: u64,
    /// Keyframe requests merged into one already sent or pending.
    pub keyframe_requests_suppressed: u64,
    /// Spatial layer switches completed (on a keyframe of the target).
    pub layer_switches: u64,
    pub policy_installs: u64,
}

impl CoreStats {
    /// Packets (or per-subscriber copies) dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// Adds `other`'s counts to these (a shard's totals over the cores it ran).
    pub fn accumulate(&mut self, other: &CoreStats) {
        self.packets_in += other.packets_in;
        self.bytes_in += other.bytes_in;
        self.packets_out += other.packets_out;
        self.bytes_out += other.bytes_out;
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops) {
            *mine += theirs;
        }
        self.keyframe_feedback_in += other.keyframe_feedback_in;
        self.keyframe_requests_sent += other.keyframe_requests_sent;
        self.keyframe_requests_suppressed += other.keyframe_requests_suppressed;
        self.layer_switches += other.layer_switches;
        self.policy_installs += other.policy_installs;
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }
}
