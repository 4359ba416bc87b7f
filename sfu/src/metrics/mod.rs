//! Prometheus metrics (issue 7): one registry per server, exported at `/metrics`.
//!
//! Labels are bounded (a `DropReason`, a result, a command or event name, an error code), never a room
//! or participant id, so the series count does not grow with traffic. A label value comes from
//! an enum with `ALL` and `as_str` (mediasoup's `DropReason` style: [`ShardDropReason`],
//! [`KeyframeRequestResult`], [`UnjoinedClose`], ...), so a call site cannot misspell one and
//! every value is pre-created at zero. The media side keeps plain cumulative counters
//! ([`CoreStats`], [`ShardStats`]) and the shell adds their growth here
//! ([`Metrics::observe_core`], [`Metrics::observe_shard`]), so the packet path never touches an
//! atomic of this registry.
//!
//! [`Metrics`] is composed of one part per source of the figures, each in its own file with its
//! families, their registration, their label values and their `observe` code:
//!
//! | part (file) | families | fed by |
//! |---|---|---|
//! | [`Metrics::forwarding`] (`forwarding.rs`) | `sfu_packets_*`, `sfu_bytes_*`, `sfu_packets_dropped_total`, `sfu_packets_not_selected_total`, `sfu_keyframe_feedback_total`, `sfu_keyframe_requests_total`, `sfu_policy_installs_total` | the owner of a `MediaCore`: [`Metrics::observe_core`] (the shards' cores through `observe_shards`) |
//! | [`Metrics::shards`] (`shards.rs`, histograms in `shard_histogram.rs`) | `sfu_transports`, `sfu_publications`, `sfu_subscriptions`, `sfu_paused_subscriptions`, `sfu_datagrams_*`, `sfu_rtp_packets_*`, `sfu_shard_drops_total`, `sfu_keyframe_rtcp_total`, `sfu_rtcp_feedback_total`, `sfu_retransmissions_total`, `sfu_layer_switches_total`, `sfu_transport_failures_total`, `sfu_transport_failure_causes_total`, `sfu_transports_connected_total`, `sfu_tcp_media_connections`, `sfu_tcp_media_connections_closed_total`, `sfu_forwarding_latency_seconds`, `sfu_join_latency_seconds`, `sfu_bandwidth_estimate_bytes_per_second` | the server polling its shards: [`Metrics::observe_shards`] |
//! | [`Metrics::rooms`] (`rooms.rs`, `room_gauges.rs`) | `sfu_rooms`, `sfu_participants`, `sfu_breakout_groups`, `sfu_breakout_moves_total` | each room actor through its [`RoomGauges`] |
//! | [`Metrics::signalling`] (`signalling.rs`) | `sfu_signalling_commands_total`, `sfu_resumes_total` | each room actor when it answers |
//! | | `sfu_signalling_events_total` | the signalling connection, once it wrote the event to its socket |
//! | | `sfu_signalling_unjoined_closed_total` | the `/rtc` handler and the connection, for sockets refused or closed before they joined |
//! | [`Metrics::recording`] (`room_machines.rs`) | `sfu_recordings_active`, `sfu_recording_bytes_written_total`, `sfu_recording_failures_total` | the recorder tasks of the room actors (`room::recording`) |
//! | [`Metrics::transcription`] (`room_machines.rs`) | `sfu_transcriptions_active`, `sfu_transcription_audio_seconds_total`, `sfu_transcription_captions_total`, `sfu_transcription_failures_total`, `sfu_transcription_utterances_dropped_total` | the transcriber tasks of the room actors (`room::transcription`) |
//! | [`Metrics::process`] (`process.rs`) | `sfu_process_cpu_seconds_total`, the unprefixed `process_*` collector | each scrape ([`Metrics::render`]) |
//!
//! The histograms a shard measures on its packet path (forwarding latency, join latency,
//! bandwidth estimates) are [`FixedHistogram`](crate::shard::FixedHistogram)s in
//! [`ShardStats`]: plain integer buckets the shard thread fills, exported here with the same
//! bounds by a [`ShardHistogram`].

mod forwarding;
mod process;
#[cfg(feature = "testing")]
mod promtool;
mod room_gauges;
mod room_machines;
mod rooms;
mod shard_histogram;
mod shards;
mod signalling;

use prometheus::core::Collector;
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use signalling_proto::{CommandName, ErrorCode, EventName};

pub use self::forwarding::{ForwardingMetrics, KeyframeRequestResult};
pub use self::process::ProcessMetrics;
#[cfg(feature = "testing")]
pub use self::promtool::promtool_check;
pub use self::room_gauges::RoomGauges;
pub use self::room_machines::{RecordingMetrics, TranscriptionMetrics};
pub use self::rooms::RoomMetrics;
pub use self::shard_histogram::ShardHistogram;
pub use self::shards::{
    KeyframeRtcpDirection, RtcpDirection, RtcpFeedbackType, ShardDropReason, ShardMetrics,
};
pub use self::signalling::{ResumeResult, SignallingMetrics, UnjoinedClose};
use crate::core::CoreStats;
pub use crate::shard::RtcpTotals;
use crate::shard::{ShardHandle, ShardStats};

/// Every metric the server exports, registered in one registry, in one part per source. Cheap
/// to clone (the counters are shared), so each task that feeds it keeps its own clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// The forwarding cores' counters: fed by `observe_core` from the owner of each core.
    pub forwarding: ForwardingMetrics,
    /// The shards' gauges, counters and histograms: fed by `observe_shard(s)` from the server.
    pub shards: ShardMetrics,
    /// Rooms, participants, breakout groups: fed by each room actor's [`RoomGauges`].
    pub rooms: RoomMetrics,
    /// Commands, events, resumes, unjoined closes: fed by the room actors and connections.
    pub signalling: SignallingMetrics,
    /// Cloud recording: fed by the recorder tasks the room actors run.
    pub recording: RecordingMetrics,
    /// Live transcription: fed by the transcriber tasks the room actors run.
    pub transcription: TranscriptionMetrics,
    /// This process's CPU, read at each scrape.
    pub process: ProcessMetrics,
}

impl Metrics {
    /// A registry with every fed metric at zero (every bounded label value pre-created so
    /// dashboards see zeros, not gaps), plus the process collector (CPU seconds, memory, open
    /// fds); the load tester divides by `sfu_process_cpu_seconds_total`.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("sfu".into()), None)?;
        Ok(Metrics {
            forwarding: ForwardingMetrics::new(&registry)?,
            shards: ShardMetrics::new(&registry)?,
            rooms: RoomMetrics::new(&registry)?,
            signalling: SignallingMetrics::new(&registry)?,
            recording: RecordingMetrics::new(&registry)?,
            transcription: TranscriptionMetrics::new(&registry)?,
            process: ProcessMetrics::new(&registry)?,
            registry,
        })
    }

    /// The registry, for parts that register their own families (the webhooks, the cluster).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Adds what a core's counters grew by since `last`, then remembers `now` in `last`.
    /// Fed by the owner of a `MediaCore` (the shard loop, e.g. once a second per room).
    pub fn observe_core(&self, last: &mut CoreStats, now: &CoreStats) {
        self.forwarding.observe(last, now);
    }

    /// Takes the cumulative counters of every shard (index = shard number, as
    /// [`ShardHandle::stats`] answers them): see [`ShardMetrics::observe`]. Fed by the server,
    /// e.g. before each `/metrics` render through [`Metrics::observe_shards`].
    pub fn observe_shard(&self, shards: &[ShardStats]) {
        self.shards.observe(&self.forwarding, shards);
    }

    /// Asks every shard for its counters and feeds [`Metrics::observe_shard`]. A stopped shard
    /// keeps its last totals (its counters must not run backwards).
    pub async fn observe_shards(&self, shards: &[ShardHandle]) {
        self.shards.observe_shards(&self.forwarding, shards).await;
    }

    /// The gauges one room actor holds for its room: counts the room at once, and takes it
    /// and its participants out again when dropped (so a crashed actor cannot leave them
    /// behind). Fed by the room actor: create it when the actor starts.
    pub fn room_gauges(&self) -> RoomGauges {
        RoomGauges::new(self.clone())
    }

    /// One answered signalling command. Fed by the room actor when it sends the response.
    pub fn observe_signalling(&self, command: CommandName, status: Result<(), ErrorCode>) {
        self.signalling.observe_command(command, status);
    }

    /// One event written to a client's socket. Fed by the connection after the write.
    pub fn observe_event(&self, event: EventName) {
        self.signalling.observe_event(event);
    }

    /// A signalling socket refused or closed before it joined a room. Fed by the `/rtc`
    /// handler and the connection.
    pub fn observe_unjoined_closed(&self, reason: UnjoinedClose) {
        self.signalling.observe_unjoined_closed(reason);
    }

    /// A resume attempt (spec §9) and whether it succeeded. Fed by the room actor.
    pub fn observe_resume(&self, succeeded: bool) {
        let result = if succeeded {
            ResumeResult::Ok
        } else {
            ResumeResult::Failed
        };
        self.signalling.observe_resume(result);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.process.observe_cpu();
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        if encoder.encode(&families, &mut buf).is_err() {
            // Encoding only fails on a metric with an invalid name, which `new` rejects.
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Registers `family` in `registry` and hands it back to be kept.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    family: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(family.clone()))?;
    Ok(family)
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter, prometheus::Error> {
    register(registry, IntCounter::new(name, help)?)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    register(registry, IntGauge::new(name, help)?)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

/// Adds what a cumulative total grew by; a total that went backwards (a restarted source)
/// adds nothing rather than wrap.
fn grow(counter: &IntCounter, before: u64, after: u64) {
    counter.inc_by(after.saturating_sub(before));
}
