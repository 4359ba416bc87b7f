//! Prometheus metrics (issue 7): one registry per server, exported at `/metrics`.
//!
//! Labels are bounded (a `DropReason`, a result, a command name, an error code), never a room
//! or participant id, so the series count does not grow with traffic. The media side keeps
//! plain cumulative counters ([`CoreStats`], [`ShardStats`]) and the shell adds their growth
//! here ([`Metrics::observe_core`], [`Metrics::observe_shard`]), so the packet path never
//! touches an atomic of this registry.
//!
//! Who feeds what (each field's doc comment says it again):
//!
//! | family | fed by |
//! |---|---|
//! | `sfu_rooms`, `sfu_participants`, `sfu_breakout_groups`, `sfu_breakout_moves_total` | each room actor through its [`RoomGauges`] |
//! | `sfu_transports`, `sfu_publications`, `sfu_subscriptions`, `sfu_datagrams_*`, `sfu_rtp_packets_*`, `sfu_shard_drops_total`, `sfu_keyframe_rtcp_total`, `sfu_transport_failures_total` | the server polling its shards: [`Metrics::observe_shards`] |
//! | `sfu_packets_*`, `sfu_bytes_*`, `sfu_packets_dropped_total`, `sfu_keyframe_*`, `sfu_layer_switches_total`, `sfu_policy_installs_total` | the owner of a `MediaCore`: [`Metrics::observe_core`] |
//! | `sfu_signalling_commands_total`, `sfu_join_latency_seconds`, `sfu_resumes_total` | the signalling session |
//! | [`AWAITING_FEED`] | the shard loop, once it measures them; registered on the first observation so a scrape never shows a family nothing feeds |

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use rustc_hash::FxHashSet;
use signalling_proto::{CommandName, ErrorCode};

use crate::core::{CoreStats, DropReason, ForwardingPolicy, Location};
use crate::shard::{ShardHandle, ShardStats};

/// Families registered on their first observation, because their feed is a measurement the
/// shard loop does not make yet (see each `observe_*` method). Dashboards and alerts may use
/// them; `sfu/tests/deploy_files.rs` checks their names against this list.
pub const AWAITING_FEED: &[&str] = &[
    "sfu_forwarding_latency_seconds",
    "sfu_bandwidth_estimate_bytes_per_second",
    "sfu_rtcp_feedback_total",
    "sfu_retransmissions_total",
    "sfu_paused_subscriptions",
];

/// Upper bounds of the forwarding-latency buckets: socket read to socket write of one packet,
/// 50 µs .. 20 ms (PERFORMANCE.md's goal is p99 < 5 ms).
const FORWARDING_LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02,
];
/// Join latency: WebSocket open to the `join` response, 10 ms .. 10 s.
const JOIN_LATENCY_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Downlink bandwidth estimates, 100 kbit/s (audio only) .. 20 Mbit/s (every layer of several
/// simulcast videos).
const BANDWIDTH_BUCKETS: &[f64] = &[100e3, 250e3, 500e3, 1e6, 1.5e6, 2.5e6, 4e6, 6e6, 10e6, 20e6];

/// Why a shard did not pass a datagram, packet or event on (the shard's own counters; drops
/// inside the forwarding core have a [`DropReason`] in `sfu_packets_dropped_total`).
const SHARD_DROP_REASONS: [&str; 7] = [
    "datagram_malformed",
    "datagram_unmatched",
    "send_buffer_full",
    "rtp_unmapped",
    "rtp_malformed_payload",
    "forward_unwritable",
    "event_channel_full",
];

/// Every metric the server exports, registered in one registry. Cheap to clone (the counters
/// are shared), so each task that feeds it keeps its own clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// The process collector, unprefixed: `process_cpu_seconds_total` is the name every
    /// Prometheus client exports and the load tester reads, not `sfu_process_...`.
    process: Registry,
    // --- MediaCore counters: fed by `observe_core` from the owner of each core. ---
    /// Media packets the forwarding cores took in.
    pub packets_in: IntCounter,
    pub bytes_in: IntCounter,
    /// Per-subscriber copies the forwarding cores decided to forward.
    pub packets_out: IntCounter,
    pub bytes_out: IntCounter,
    /// Core drops by [`DropReason`].
    pub packets_dropped: IntCounterVec,
    pub keyframe_feedback: IntCounter,
    /// Keyframe requests towards publishers: `sent` or `suppressed` by the throttle.
    pub keyframe_requests: IntCounterVec,
    pub layer_switches: IntCounter,
    pub policy_installs: IntCounter,
    // --- Shard counters: fed by `observe_shard` / `observe_shards` from the server. ---
    /// str0m transports (two per participant once both are negotiated).
    pub transports: IntGauge,
    pub publications: IntGauge,
    pub subscriptions: IntGauge,
    pub datagrams_in: IntCounter,
    pub datagrams_out: IntCounter,
    /// RTP packets the shards received from publishers (before mapping).
    pub rtp_packets_in: IntCounter,
    /// RTP packets the shards wrote to subscribers' transports.
    pub rtp_packets_out: IntCounter,
    /// Shard drops by reason ([`SHARD_DROP_REASONS`]).
    pub shard_drops: IntCounterVec,
    /// PLI/FIR seen by the shards: `from_subscribers`, `to_publishers`.
    pub keyframe_rtcp: IntCounterVec,
    /// Transports that failed (ICE gave up, DTLS or str0m error, panic) and were dropped.
    pub transport_failures: IntCounter,
    // --- Rooms: fed by each room actor's `RoomGauges`. ---
    pub rooms: IntGauge,
    pub participants: IntGauge,
    /// Breakout groups with at least one participant in them.
    pub breakout_groups: IntGauge,
    /// Participants whose location (main room or a group) changed between two policies.
    pub breakout_moves: IntCounter,
    // --- Signalling: fed by the session. ---
    /// Commands answered, by wire name and status (`ok` or the error code).
    pub signalling_commands: IntCounterVec,
    /// WebSocket open to the `join` response.
    pub join_latency: Histogram,
    /// Session resumes (spec §9): `ok` or `failed`.
    pub resumes: IntCounterVec,
    /// This process's user + system CPU seconds at the kernel's tick resolution, read at
    /// scrape time: the process collector's `process_cpu_seconds_total` counts whole seconds,
    /// too coarse for CPU per packet over a 30 s load-test window.
    pub process_cpu: Counter,
    /// Serialises scrapes' updates of `process_cpu` (read, then add the difference).
    process_cpu_update: Arc<Mutex<()>>,
    shard_totals: Arc<Mutex<Vec<ShardStats>>>,
    awaiting: Arc<AwaitingFeed>,
}

/// The families of [`AWAITING_FEED`], each created and registered on first use.
#[derive(Debug, Default)]
struct AwaitingFeed {
    forwarding_latency: OnceLock<Histogram>,
    bandwidth_estimate: OnceLock<Histogram>,
    rtcp_feedback: OnceLock<IntCounterVec>,
    retransmissions: OnceLock<IntCounter>,
    paused_subscriptions: OnceLock<IntGauge>,
    rtcp_totals: Mutex<Vec<RtcpTotals>>,
}

/// One shard's cumulative RTCP totals, summed over its transports from str0m's
/// `MediaIngressStats` / `MediaEgressStats` and kept monotonic when a transport goes away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpTotals {
    /// NACKs received from subscribers.
    pub nacks_in: u64,
    /// NACKs sent to publishers.
    pub nacks_out: u64,
    pub plis_in: u64,
    pub plis_out: u64,
    pub firs_in: u64,
    pub firs_out: u64,
    /// Packets resent from str0m's RTX cache in answer to NACKs.
    pub retransmissions: u64,
}

impl Metrics {
    /// A registry with every fed metric at zero, plus the process collector (CPU seconds,
    /// memory, open fds: `process_cpu_seconds_total` is what the load tester divides by).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("sfu".into()), None)?;
        let counter = |name: &str, help: &str| register(&registry, IntCounter::new(name, help)?);
        let gauge = |name: &str, help: &str| register(&registry, IntGauge::new(name, help)?);
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            register(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels)?,
            )
        };
        let metrics = Metrics {
            packets_in: counter(
                "packets_in_total",
                "RTP packets the forwarding cores received from publishers.",
            )?,
            bytes_in: counter(
                "bytes_in_total",
                "RTP payload bytes the forwarding cores received from publishers.",
            )?,
            packets_out: counter(
                "packets_out_total",
                "RTP packets the forwarding cores forwarded (one per subscriber copy).",
            )?,
            bytes_out: counter(
                "bytes_out_total",
                "RTP payload bytes the forwarding cores forwarded.",
            )?,
            packets_dropped: counter_vec(
                "packets_dropped_total",
                "Packets (or per-subscriber copies) the forwarding cores did not forward, by reason.",
                &["reason"],
            )?,
            keyframe_feedback: counter(
                "keyframe_feedback_total",
                "PLI/FIR messages the forwarding cores received from subscribers.",
            )?,
            keyframe_requests: counter_vec(
                "keyframe_requests_total",
                "Keyframe requests towards publishers: sent, or suppressed by the throttle.",
                &["result"],
            )?,
            layer_switches: counter(
                "layer_switches_total",
                "Subscriptions that started or switched simulcast layer on a keyframe.",
            )?,
            policy_installs: counter(
                "policy_installs_total",
                "Forwarding policies installed in media cores.",
            )?,
            transports: gauge(
                "transports",
                "WebRTC transports on the media shards (two per participant).",
            )?,
            publications: gauge("publications", "Publications on the media shards.")?,
            subscriptions: gauge("subscriptions", "Subscriptions on the media shards.")?,
            datagrams_in: counter("datagrams_in_total", "UDP datagrams the shards received.")?,
            datagrams_out: counter("datagrams_out_total", "UDP datagrams the shards sent.")?,
            rtp_packets_in: counter(
                "rtp_packets_in_total",
                "RTP packets the shards received from publishers.",
            )?,
            rtp_packets_out: counter(
                "rtp_packets_out_total",
                "RTP packets the shards wrote to subscribers' transports.",
            )?,
            shard_drops: counter_vec(
                "shard_drops_total",
                "Datagrams, packets or events the media shards dropped, by reason.",
                &["reason"],
            )?,
            keyframe_rtcp: counter_vec(
                "keyframe_rtcp_total",
                "PLI/FIR keyframe requests on the wire, from subscribers or to publishers.",
                &["direction"],
            )?,
            transport_failures: counter(
                "transport_failures_total",
                "WebRTC transports that failed (ICE, DTLS, internal error) and were dropped.",
            )?,
            rooms: gauge("rooms", "Rooms with a running control actor.")?,
            participants: gauge("participants", "Participants in rooms.")?,
            breakout_groups: gauge(
                "breakout_groups",
                "Breakout groups with at least one participant.",
            )?,
            breakout_moves: counter(
                "breakout_moves_total",
                "Participants moved between the main room and breakout groups.",
            )?,
            signalling_commands: counter_vec(
                "signalling_commands_total",
                "Signalling commands answered, by command and status (ok or the error code).",
                &["command", "status"],
            )?,
            join_latency: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "join_latency_seconds",
                        "Time from the signalling WebSocket opening to the join response.",
                    )
                    .buckets(JOIN_LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            resumes: counter_vec(
                "resumes_total",
                "Session resumes on a new WebSocket, by result.",
                &["result"],
            )?,
            process_cpu: register(
                &registry,
                Counter::new(
                    "process_cpu_seconds_total",
                    "User and system CPU time of the server process, at 10 ms resolution.",
                )?,
            )?,
            process_cpu_update: Arc::default(),
            shard_totals: Arc::default(),
            awaiting: Arc::default(),
            registry,
            process: Registry::new(),
        };
        // Pre-create every bounded label value so dashboards see zeros, not gaps.
        for reason in DropReason::ALL {
            metrics
                .packets_dropped
                .with_label_values(&[reason.as_str()]);
        }
        for result in ["sent", "suppressed"] {
            metrics.keyframe_requests.with_label_values(&[result]);
        }
        for reason in SHARD_DROP_REASONS {
            metrics.shard_drops.with_label_values(&[reason]);
        }
        for direction in ["from_subscribers", "to_publishers"] {
            metrics.keyframe_rtcp.with_label_values(&[direction]);
        }
        for command in CommandName::ALL {
            metrics
                .signalling_commands
                .with_label_values(&[command.as_str(), "ok"]);
        }
        for result in ["ok", "failed"] {
            metrics.resumes.with_label_values(&[result]);
        }
        #[cfg(target_os = "linux")]
        metrics.process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Adds what a core's counters grew by since `last`, then remembers `now` in `last`.
    /// Fed by the owner of a `MediaCore` (the shard loop, e.g. once a second per room).
    pub fn observe_core(&self, last: &mut CoreStats, now: &CoreStats) {
        grow(&self.packets_in, last.packets_in, now.packets_in);
        grow(&self.bytes_in, last.bytes_in, now.bytes_in);
        grow(&self.packets_out, last.packets_out, now.packets_out);
        grow(&self.bytes_out, last.bytes_out, now.bytes_out);
        for reason in DropReason::ALL {
            grow(
                &self.packets_dropped.with_label_values(&[reason.as_str()]),
                last.drops(reason),
                now.drops(reason),
            );
        }
        grow(
            &self.keyframe_feedback,
            last.keyframe_feedback_in,
            now.keyframe_feedback_in,
        );
        grow(
            &self.keyframe_requests.with_label_values(&["sent"]),
            last.keyframe_requests_sent,
            now.keyframe_requests_sent,
        );
        grow(
            &self.keyframe_requests.with_label_values(&["suppressed"]),
            last.keyframe_requests_suppressed,
            now.keyframe_requests_suppressed,
        );
        grow(
            &self.layer_switches,
            last.layer_switches,
            now.layer_switches,
        );
        grow(
            &self.policy_installs,
            last.policy_installs,
            now.policy_installs,
        );
        *last = *now;
    }

    /// Takes the cumulative counters of every shard (index = shard number, as
    /// [`ShardHandle::stats`] answers them): gauges are set to the sum, counters grow by what
    /// each shard's totals grew since the previous call. Fed by the server, e.g. before each
    /// `/metrics` render through [`Metrics::observe_shards`].
    pub fn observe_shard(&self, shards: &[ShardStats]) {
        let sum = |field: fn(&ShardStats) -> usize| -> i64 {
            let total: usize = shards.iter().map(field).sum();
            i64::try_from(total).unwrap_or(i64::MAX)
        };
        self.transports.set(sum(|s: &ShardStats| s.peers));
        self.publications.set(sum(|s: &ShardStats| s.publications));
        self.subscriptions
            .set(sum(|s: &ShardStats| s.subscriptions));

        let mut previous = self
            .shard_totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if previous.len() < shards.len() {
            previous.resize(shards.len(), ShardStats::default());
        }
        for (now, last) in shards.iter().zip(previous.iter_mut()) {
            self.grow_shard(last, now);
            *last = *now;
        }
    }

    fn grow_shard(&self, last: &ShardStats, now: &ShardStats) {
        self.observe_core(&mut last.core.clone(), &now.core);
        grow(&self.datagrams_in, last.datagrams_in, now.datagrams_in);
        grow(&self.datagrams_out, last.datagrams_out, now.datagrams_out);
        grow(&self.rtp_packets_in, last.rtp_in, now.rtp_in);
        grow(
            &self.rtp_packets_out,
            last.forwards_written,
            now.forwards_written,
        );
        let drops = [
            (last.datagrams_malformed, now.datagrams_malformed),
            (last.datagrams_unmatched, now.datagrams_unmatched),
            (last.send_dropped, now.send_dropped),
            (last.rtp_unmapped, now.rtp_unmapped),
            (last.rtp_malformed_payload, now.rtp_malformed_payload),
            (last.forwards_dropped, now.forwards_dropped),
            (last.events_dropped, now.events_dropped),
        ];
        for (reason, (before, after)) in SHARD_DROP_REASONS.iter().zip(drops) {
            grow(
                &self.shard_drops.with_label_values(&[*reason]),
                before,
                after,
            );
        }
        grow(
            &self.keyframe_rtcp.with_label_values(&["from_subscribers"]),
            last.keyframe_requests_received,
            now.keyframe_requests_received,
        );
        grow(
            &self.keyframe_rtcp.with_label_values(&["to_publishers"]),
            last.keyframe_requests_sent,
            now.keyframe_requests_sent,
        );
        grow(
            &self.transport_failures,
            last.peers_failed,
            now.peers_failed,
        );
    }

    /// Asks every shard for its counters and feeds [`Metrics::observe_shard`]. A stopped shard
    /// keeps its last totals (its counters must not run backwards).
    pub async fn observe_shards(&self, shards: &[ShardHandle]) {
        let mut stats = Vec::with_capacity(shards.len());
        for (index, shard) in shards.iter().enumerate() {
            let fresh = shard.stats().await.ok();
            let kept = || {
                self.shard_totals
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(index)
                    .copied()
                    .unwrap_or_default()
            };
            stats.push(fresh.unwrap_or_else(kept));
        }
        self.observe_shard(&stats);
    }

    /// The gauges one room actor holds for its room: counts the room at once, and takes it
    /// and its participants out again when dropped (so a crashed actor cannot leave them
    /// behind). Fed by the room actor: create it when the actor starts.
    pub fn room_gauges(&self) -> RoomGauges {
        self.rooms.inc();
        RoomGauges {
            metrics: self.clone(),
            participants: 0,
            groups: 0,
            locations: Vec::new(),
        }
    }

    /// One answered signalling command. Fed by the session when it sends the response.
    pub fn observe_signalling(&self, command: CommandName, status: Result<(), ErrorCode>) {
        let status = match status {
            Ok(()) => "ok",
            Err(code) => code.as_str(),
        };
        self.signalling_commands
            .with_label_values(&[command.as_str(), status])
            .inc();
    }

    /// Time from the WebSocket opening to the `join` response. Fed by the session.
    pub fn observe_join_latency(&self, latency: Duration) {
        self.join_latency.observe(latency.as_secs_f64());
    }

    /// A resume attempt (spec §9) and whether it succeeded. Fed by the session.
    pub fn observe_resume(&self, succeeded: bool) {
        let result = if succeeded { "ok" } else { "failed" };
        self.resumes.with_label_values(&[result]).inc();
    }

    /// Socket read to socket write of one forwarded packet (or the batch it came in). To be fed
    /// by the shard loop; registers `sfu_forwarding_latency_seconds` on first use.
    pub fn observe_forwarding_latency(&self, latency: Duration) {
        self.awaiting
            .forwarding_latency
            .get_or_init(|| {
                self.register_late(histogram(
                    "forwarding_latency_seconds",
                    "Time from receiving a media packet to writing its forwarded copies.",
                    FORWARDING_LATENCY_BUCKETS,
                ))
            })
            .observe(latency.as_secs_f64());
    }

    /// One downlink bandwidth estimate (str0m's `EgressBitrateEstimate`), exported in bytes per
    /// second. To be fed by the shard loop; registers
    /// `sfu_bandwidth_estimate_bytes_per_second` on first use.
    pub fn observe_bandwidth_estimate(&self, bits_per_second: u64) {
        self.awaiting
            .bandwidth_estimate
            .get_or_init(|| {
                self.register_late(histogram(
                    "bandwidth_estimate_bytes_per_second",
                    "Downlink bandwidth estimates of subscriber transports.",
                    BANDWIDTH_BUCKETS,
                ))
            })
            // Precision loss above 2^53 bit/s does not matter for a histogram bucket.
            .observe(bits_per_second as f64 / 8.0);
    }

    /// Subscriptions paused now (core `Paused` minus `Resumed` events). To be fed by the shard
    /// loop; registers `sfu_paused_subscriptions` on first use.
    pub fn set_paused_subscriptions(&self, paused: usize) {
        self.awaiting
            .paused_subscriptions
            .get_or_init(|| {
                self.register_late(
                    IntGauge::new(
                        "paused_subscriptions",
                        "Subscriptions paused by their subscriber or for lack of bandwidth.",
                    )
                    .expect("constant name and help are valid"),
                )
            })
            .set(i64::try_from(paused).unwrap_or(i64::MAX));
    }

    /// Cumulative RTCP totals of every shard (index = shard number), like
    /// [`Metrics::observe_shard`]. To be fed by the server once the shards sum str0m's media
    /// stats; registers `sfu_rtcp_feedback_total` and `sfu_retransmissions_total` on first use.
    pub fn observe_rtcp(&self, shards: &[RtcpTotals]) {
        let feedback = self.awaiting.rtcp_feedback.get_or_init(|| {
            let family = self.register_late(
                IntCounterVec::new(
                    Opts::new(
                        "rtcp_feedback_total",
                        "RTCP feedback messages, by type (nack, pli, fir) and direction.",
                    ),
                    &["type", "direction"],
                )
                .expect("constant name, help and labels are valid"),
            );
            for kind in ["nack", "pli", "fir"] {
                for direction in ["in", "out"] {
                    family.with_label_values(&[kind, direction]);
                }
            }
            family
        });
        let retransmissions = self.awaiting.retransmissions.get_or_init(|| {
            self.register_late(
                IntCounter::new(
                    "retransmissions_total",
                    "Packets resent to subscribers in answer to NACKs.",
                )
                .expect("constant name and help are valid"),
            )
        });
        let mut previous = self
            .awaiting
            .rtcp_totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if previous.len() < shards.len() {
            previous.resize(shards.len(), RtcpTotals::default());
        }
        for (now, last) in shards.iter().zip(previous.iter_mut()) {
            let pairs = [
                ("nack", "in", last.nacks_in, now.nacks_in),
                ("nack", "out", last.nacks_out, now.nacks_out),
                ("pli", "in", last.plis_in, now.plis_in),
                ("pli", "out", last.plis_out, now.plis_out),
                ("fir", "in", last.firs_in, now.firs_in),
                ("fir", "out", last.firs_out, now.firs_out),
            ];
            for (kind, direction, before, after) in pairs {
                grow(
                    &feedback.with_label_values(&[kind, direction]),
                    before,
                    after,
                );
            }
            grow(retransmissions, last.retransmissions, now.retransmissions);
            *last = *now;
        }
    }

    /// Registers a family created after `new`. If registering fails (a programming error the
    /// tests catch), the family still counts, unexported, rather than panic on the media path.
    fn register_late<C>(&self, family: C) -> C
    where
        C: Collector + Clone + 'static,
    {
        if let Err(error) = self.registry.register(Box::new(family.clone())) {
            tracing::error!(%error, "cannot register a metric family");
        }
        family
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.observe_process_cpu();
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

impl Metrics {
    fn observe_process_cpu(&self) {
        #[cfg(target_os = "linux")]
        {
            let Ok(stat) = procfs::process::Process::myself().and_then(|p| p.stat()) else {
                return;
            };
            let seconds = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
            let _serial = self
                .process_cpu_update
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let grown = seconds - self.process_cpu.get();
            if grown > 0.0 {
                self.process_cpu.inc_by(grown);
            }
        }
    }
}

/// The room, participant and breakout-group counts of one room actor (from
/// [`Metrics::room_gauges`]). The actor calls [`RoomGauges::observe_policy`] after each policy
/// install; dropping it removes the room's share from every gauge.
#[derive(Debug)]
pub struct RoomGauges {
    metrics: Metrics,
    participants: i64,
    groups: i64,
    /// Each member's location in the last policy, sorted by participant, to count moves.
    locations: Vec<(crate::core::ParticipantId, Location)>,
}

impl RoomGauges {
    /// The registry these gauges belong to (room actors feed it signalling counts too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts the policy's members and occupied breakout groups, and the members whose
    /// location changed since the previous policy (breakout moves). Joins and leaves are not
    /// moves.
    pub fn observe_policy(&mut self, policy: &ForwardingPolicy) {
        let mut locations: Vec<_> = policy
            .members
            .iter()
            .map(|(&id, member)| (id, member.location))
            .collect();
        locations.sort_unstable_by_key(|&(id, _)| id);
        let groups: FxHashSet<_> = locations
            .iter()
            .filter_map(|(_, location)| match location {
                Location::Session(session) => Some(*session),
                Location::Main => None,
            })
            .collect();
        let moves = locations
            .iter()
            .filter(|(id, location)| {
                self.locations
                    .binary_search_by_key(id, |&(known, _)| known)
                    .is_ok_and(|at| self.locations[at].1 != *location)
            })
            .count();
        self.metrics.breakout_moves.inc_by(moves as u64);
        self.set(locations.len(), groups.len());
        self.locations = locations;
    }

    fn set(&mut self, participants: usize, groups: usize) {
        let participants = i64::try_from(participants).unwrap_or(i64::MAX);
        let groups = i64::try_from(groups).unwrap_or(i64::MAX);
        self.metrics
            .participants
            .add(participants - self.participants);
        self.metrics.breakout_groups.add(groups - self.groups);
        self.participants = participants;
        self.groups = groups;
    }
}

impl Drop for RoomGauges {
    fn drop(&mut self) {
        self.set(0, 0);
        self.metrics.rooms.dec();
    }
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    family: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(family.clone()))?;
    Ok(family)
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("constant name, help and increasing buckets are valid")
}

/// Adds what a cumulative total grew by; a total that went backwards (a restarted source)
/// adds nothing rather than wrap.
fn grow(counter: &IntCounter, before: u64, after: u64) {
    counter.inc_by(after.saturating_sub(before));
}

/// Runs Prometheus' own linter (`promtool check metrics`, Debian `prometheus`) on an
/// exposition; `Err` carries promtool's complaint. For tests (feature `testing`).
#[cfg(feature = "testing")]
pub fn promtool_check(exposition: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (scripts/test installs Debian's prometheus): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("promtool stdin")?
        .write_all(exposition.as_bytes())
        .map_err(|e| format!("writing to promtool: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
