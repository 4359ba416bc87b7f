//! Prometheus metrics (issue 7): one registry per server, exported at `/metrics`.
//!
//! Labels are bounded (a `DropReason`, a result, a command or event name, an error code), never a room
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
//! | `sfu_transports`, `sfu_publications`, `sfu_subscriptions`, `sfu_paused_subscriptions`, `sfu_datagrams_*`, `sfu_rtp_packets_*`, `sfu_shard_drops_total`, `sfu_keyframe_rtcp_total`, `sfu_rtcp_feedback_total`, `sfu_retransmissions_total`, `sfu_layer_switches_total`, `sfu_transport_failures_total`, `sfu_transport_failure_causes_total`, `sfu_transports_connected_total`, `sfu_tcp_media_connections`, `sfu_tcp_media_connections_closed_total`, `sfu_forwarding_latency_seconds`, `sfu_join_latency_seconds`, `sfu_bandwidth_estimate_bytes_per_second` | the server polling its shards: [`Metrics::observe_shards`] |
//! | `sfu_recordings_active`, `sfu_recording_bytes_written_total`, `sfu_recording_failures_total` | the recorder tasks of the room actors (`room::recording`) |
//! | `sfu_transcriptions_active`, `sfu_transcription_audio_seconds_total`, `sfu_transcription_captions_total`, `sfu_transcription_failures_total`, `sfu_transcription_utterances_dropped_total` | the transcriber tasks of the room actors (`room::transcription`) |
//! | `sfu_packets_*`, `sfu_bytes_*`, `sfu_packets_dropped_total`, `sfu_packets_not_selected_total`, `sfu_keyframe_feedback_total`, `sfu_keyframe_requests_total`, `sfu_policy_installs_total` | the owner of a `MediaCore`: [`Metrics::observe_core`] (the shards' cores through `observe_shards`) |
//! | `sfu_signalling_commands_total`, `sfu_resumes_total` | each room actor when it answers |
//! | `sfu_signalling_events_total` | the signalling session, once it wrote the event to its socket |
//! | `sfu_signalling_unjoined_closed_total` | the `/rtc` handler and the session, for sockets refused or closed before they joined |
//!
//! The histograms a shard measures on its packet path (forwarding latency, join latency,
//! bandwidth estimates) are [`FixedHistogram`]s in [`ShardStats`]: plain integer buckets the
//! shard thread fills, exported here with the same bounds by a [`ShardHistogram`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Counter, Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use rustc_hash::FxHashSet;
use signalling_proto::{CommandName, ErrorCode, EventName};

use crate::core::{CoreStats, DropReason, ForwardingPolicy, Location};
pub use crate::shard::RtcpTotals;
use crate::shard::{
    FixedHistogram, ShardHandle, ShardStats, BANDWIDTH_BOUNDS_BPS, CANDIDATE_TYPES,
    FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS, LAYER_SWITCH_REASONS, PUBLICATION_KINDS,
    TCP_CLOSE_CAUSES, TRANSPORT_FAILURE_CAUSES,
};

/// The shard records latencies in nanoseconds; Prometheus wants seconds.
const NANOS_PER_SECOND: f64 = 1e9;
/// The shard records bandwidth estimates in bits per second; Prometheus wants bytes.
const BITS_PER_BYTE: f64 = 8.0;

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

/// Why a signalling socket that had not joined a room was refused or closed (the `reason`
/// label of `sfu_signalling_unjoined_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnjoinedClose {
    /// No `join_room` (or `resume`) admitted within `--join-deadline`: closed with 1008.
    JoinDeadline,
    /// Its address already held `--max-unjoined-per-ip` unjoined sockets: upgrade refused
    /// with 429.
    AddressLimit,
}

impl UnjoinedClose {
    pub const ALL: [UnjoinedClose; 2] = [UnjoinedClose::JoinDeadline, UnjoinedClose::AddressLimit];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UnjoinedClose::JoinDeadline => "join_deadline",
            UnjoinedClose::AddressLimit => "address_limit",
        }
    }
}

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
    /// Core drops by [`DropReason`] (faults and loss).
    pub packets_dropped: IntCounterVec,
    /// Copies the core did not forward by choice ([`DropReason::is_selection`]).
    pub packets_not_selected: IntCounterVec,
    pub keyframe_feedback: IntCounter,
    /// Keyframe requests towards publishers: `sent` or `suppressed` by the throttle.
    pub keyframe_requests: IntCounterVec,
    pub policy_installs: IntCounter,
    // --- Cloud recording: fed by the recorder tasks the room actors run. ---
    /// Recorders running (joined or joining).
    pub recordings_active: IntGauge,
    /// Media bytes the recorders wrote to disk.
    pub recording_bytes: IntCounter,
    /// Recordings that failed (directory not writable, disk full, join refused).
    pub recording_failures: IntCounter,
    // --- Live transcription: fed by the transcriber tasks the room actors run. ---
    /// Transcribers running (joined or joining).
    pub transcriptions_active: IntGauge,
    /// Seconds of speakers' audio handed to the transcription engine.
    pub transcription_audio_seconds: Counter,
    /// Caption lines the engine returned and the room sent.
    pub transcription_captions: IntCounter,
    /// Engine runs that failed: the command could not start, exited non-zero or timed out.
    pub transcription_failures: IntCounter,
    /// Utterances dropped because the speaker's engine queue was full (a slow engine).
    pub transcription_dropped: IntCounter,
    // --- Shard counters: fed by `observe_shard` / `observe_shards` from the server. ---
    /// str0m transports (two per participant once both are negotiated).
    pub transports: IntGauge,
    /// Publications by kind (`PUBLICATION_KINDS`: microphone, camera, screenshare,
    /// screenshare_audio).
    pub publications: IntGaugeVec,
    /// Subscriptions by the kind of their publication.
    pub subscriptions: IntGaugeVec,
    /// Subscriptions forwarding nothing: paused by the subscriber or for lack of bandwidth.
    pub paused_subscriptions: IntGauge,
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
    /// `transport_failures` by cause (`TRANSPORT_FAILURE_CAUSES`: ice, error, panic).
    pub transport_failure_causes: IntCounterVec,
    /// Transports that connected, by how the client reaches the shard (`CANDIDATE_TYPES`:
    /// host, tcp, relay).
    pub transports_connected: IntCounterVec,
    /// ICE-TCP media connections open on the shards.
    pub tcp_media_connections: IntGauge,
    /// ICE-TCP media connections closed or refused, by cause (`TCP_CLOSE_CAUSES`).
    pub tcp_media_closed: IntCounterVec,
    /// RTCP feedback from str0m's stream stats, by `type` (nack, pli, fir) and `direction`
    /// (`in`: from subscribers, `out`: to publishers).
    pub rtcp_feedback: IntCounterVec,
    /// Packets resent to subscribers in answer to NACKs.
    pub retransmissions: IntCounter,
    /// Video layer switches by reason (`LAYER_SWITCH_REASONS`: start, up, down).
    pub layer_switches: IntCounterVec,
    /// Receiving an RTP datagram to handing each forwarded copy to the subscriber's transport.
    pub forwarding_latency: ShardHistogram,
    /// A participant joining the media shard (during `join_room`) to the first media packet
    /// forwarded on its connected subscriber transport.
    pub join_latency: ShardHistogram,
    /// Each downlink bandwidth estimate of a subscriber transport.
    pub bandwidth_estimate: ShardHistogram,
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
    /// Events written to signalling sockets (server to client), by wire name; one per
    /// recipient. Events for a participant without a socket (reconnecting) are not counted.
    pub signalling_events: IntCounterVec,
    /// Session resumes (spec §9): `ok` or `failed`.
    pub resumes: IntCounterVec,
    /// Signalling sockets refused or closed before they joined a room, by [`UnjoinedClose`].
    pub unjoined_closed: IntCounterVec,
    /// This process's user + system CPU seconds at the kernel's tick resolution, read at
    /// scrape time: the process collector's `process_cpu_seconds_total` counts whole seconds,
    /// too coarse for CPU per packet over a 30 s load-test window.
    pub process_cpu: Counter,
    /// Serialises scrapes' updates of `process_cpu` (read, then add the difference).
    process_cpu_update: Arc<Mutex<()>>,
    shard_totals: Arc<Mutex<Vec<ShardStats>>>,
}

impl Metrics {
    /// A registry with every fed metric at zero, plus the process collector (CPU seconds,
    /// memory, open fds); the load tester divides by `sfu_process_cpu_seconds_total`.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("sfu".into()), None)?;
        let counter = |name: &str, help: &str| register(&registry, IntCounter::new(name, help)?);
        let gauge = |name: &str, help: &str| register(&registry, IntGauge::new(name, help)?);
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
        };
        let histogram = |name: &str, help: &str, bounds: Vec<f64>| {
            register(&registry, ShardHistogram::new(name, help, bounds)?)
        };
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
                "Packets (or per-subscriber copies) the forwarding cores dropped, by reason: \
                 malformed, unknown, duplicate, too old, waiting for a keyframe.",
                &["reason"],
            )?,
            packets_not_selected: counter_vec(
                "packets_not_selected_total",
                "Per-subscriber copies not forwarded because the subscription selects other \
                 media (another simulcast encoding, a lower temporal layer, a pause, a \
                 moderation gate), by reason: normal operation, not drops.",
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
            policy_installs: counter(
                "policy_installs_total",
                "Forwarding policies installed in media cores.",
            )?,
            recordings_active: gauge("recordings_active", "Cloud recordings running.")?,
            recording_bytes: counter(
                "recording_bytes_written_total",
                "Media bytes cloud recordings wrote to disk (Ogg/Opus and IVF files).",
            )?,
            recording_failures: counter(
                "recording_failures_total",
                "Cloud recordings that failed: directory not writable, disk full, recorder \
                 could not join.",
            )?,
            transcriptions_active: gauge(
                "transcriptions_active",
                "Live transcriptions running (their transcriber joined or joining).",
            )?,
            transcription_audio_seconds: register(
                &registry,
                Counter::new(
                    "transcription_audio_seconds_total",
                    "Seconds of speakers' audio handed to the live transcription engine.",
                )?,
            )?,
            transcription_captions: counter(
                "transcription_captions_total",
                "Caption lines the live transcription engine returned.",
            )?,
            transcription_failures: counter(
                "transcription_failures_total",
                "Live transcription engine runs that failed: the command could not start, \
                 exited non-zero or timed out.",
            )?,
            transcription_dropped: counter(
                "transcription_utterances_dropped_total",
                "Utterances not transcribed because the speaker's engine queue was full.",
            )?,
            transports: gauge(
                "transports",
                "WebRTC transports on the media shards (two per participant).",
            )?,
            publications: gauge_vec(
                "publications",
                "Publications on the media shards, by kind.",
                &["kind"],
            )?,
            subscriptions: gauge_vec(
                "subscriptions",
                "Subscriptions on the media shards, by the kind of their publication.",
                &["kind"],
            )?,
            paused_subscriptions: gauge(
                "paused_subscriptions",
                "Subscriptions forwarding nothing: paused by the subscriber or for lack of bandwidth.",
            )?,
            datagrams_in: counter(
                "datagrams_in_total",
                "UDP datagrams and ICE-TCP frames the shards received.",
            )?,
            datagrams_out: counter(
                "datagrams_out_total",
                "UDP datagrams and ICE-TCP frames the shards sent.",
            )?,
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
            transport_failure_causes: counter_vec(
                "transport_failure_causes_total",
                "WebRTC transports that failed, by cause: ice (ICE lost the client), error (DTLS or another str0m error), panic (a str0m bug, fenced).",
                &["cause"],
            )?,
            transports_connected: counter_vec(
                "transports_connected_total",
                "WebRTC transports that connected, by candidate: host (UDP), tcp (ICE-TCP), relay (UDP through a TURN server).",
                &["candidate"],
            )?,
            tcp_media_connections: gauge(
                "tcp_media_connections",
                "ICE-TCP media connections open on the shards.",
            )?,
            tcp_media_closed: counter_vec(
                "tcp_media_connections_closed_total",
                "ICE-TCP media connections closed or refused, by cause.",
                &["cause"],
            )?,
            rtcp_feedback: counter_vec(
                "rtcp_feedback_total",
                "RTCP feedback messages, by type (nack, pli, fir) and direction (in: from subscribers, out: to publishers).",
                &["type", "direction"],
            )?,
            retransmissions: counter(
                "retransmissions_total",
                "Packets resent to subscribers in answer to NACKs.",
            )?,
            layer_switches: counter_vec(
                "layer_switches_total",
                "Video layer switches of subscriptions (on a keyframe), by reason: start, up, down.",
                &["reason"],
            )?,
            forwarding_latency: histogram(
                "forwarding_latency_seconds",
                "Time from receiving a media packet to handing each forwarded copy to the subscriber's transport.",
                seconds(&FORWARDING_LATENCY_BOUNDS_NS),
            )?,
            join_latency: histogram(
                "join_latency_seconds",
                "Time from a participant joining the media shard to the first media packet forwarded to it.",
                seconds(&JOIN_LATENCY_BOUNDS_NS),
            )?,
            bandwidth_estimate: histogram(
                "bandwidth_estimate_bytes_per_second",
                "Downlink bandwidth estimates of subscriber transports, one per estimate update.",
                BANDWIDTH_BOUNDS_BPS
                    .iter()
                    .map(|&bps| bps as f64 / BITS_PER_BYTE)
                    .collect(),
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
            signalling_events: counter_vec(
                "signalling_events_total",
                "Signalling events written to clients' sockets, by event (one per recipient).",
                &["event"],
            )?,
            resumes: counter_vec(
                "resumes_total",
                "Session resumes on a new WebSocket, by result.",
                &["result"],
            )?,
            unjoined_closed: counter_vec(
                "signalling_unjoined_closed_total",
                "Signalling sockets refused (address limit) or closed (join deadline) before they joined a room, by reason.",
                &["reason"],
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
            registry,
            process: Registry::new(),
        };
        // Pre-create every bounded label value so dashboards see zeros, not gaps.
        for reason in DropReason::ALL {
            let counter = if reason.is_selection() {
                &metrics.packets_not_selected
            } else {
                &metrics.packets_dropped
            };
            counter.with_label_values(&[reason.as_str()]);
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
        for event in EventName::ALL {
            metrics
                .signalling_events
                .with_label_values(&[event.as_str()]);
        }
        for result in ["ok", "failed"] {
            metrics.resumes.with_label_values(&[result]);
        }
        for reason in UnjoinedClose::ALL {
            metrics
                .unjoined_closed
                .with_label_values(&[reason.as_str()]);
        }
        for kind in PUBLICATION_KINDS {
            metrics.publications.with_label_values(&[kind]);
            metrics.subscriptions.with_label_values(&[kind]);
        }
        for kind in ["nack", "pli", "fir"] {
            for direction in ["in", "out"] {
                metrics.rtcp_feedback.with_label_values(&[kind, direction]);
            }
        }
        for reason in LAYER_SWITCH_REASONS {
            metrics.layer_switches.with_label_values(&[reason]);
        }
        for cause in TRANSPORT_FAILURE_CAUSES {
            metrics.transport_failure_causes.with_label_values(&[cause]);
        }
        for candidate in CANDIDATE_TYPES {
            metrics.transports_connected.with_label_values(&[candidate]);
        }
        for cause in TCP_CLOSE_CAUSES {
            metrics.tcp_media_closed.with_label_values(&[cause]);
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
            let counter = if reason.is_selection() {
                &self.packets_not_selected
            } else {
                &self.packets_dropped
            };
            grow(
                &counter.with_label_values(&[reason.as_str()]),
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
        self.paused_subscriptions
            .set(sum(|s: &ShardStats| s.paused_subscriptions));
        self.tcp_media_connections
            .set(sum(|s: &ShardStats| s.tcp_connections));
        for (i, kind) in PUBLICATION_KINDS.iter().enumerate() {
            let publications: usize = shards.iter().map(|s| s.publications_by_kind[i]).sum();
            let subscriptions: usize = shards.iter().map(|s| s.subscriptions_by_kind[i]).sum();
            self.publications
                .with_label_values(&[*kind])
                .set(i64::try_from(publications).unwrap_or(i64::MAX));
            self.subscriptions
                .with_label_values(&[*kind])
                .set(i64::try_from(subscriptions).unwrap_or(i64::MAX));
        }

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
        let labelled = [
            (
                &self.transport_failure_causes,
                &TRANSPORT_FAILURE_CAUSES[..],
                &last.peer_failure_causes[..],
                &now.peer_failure_causes[..],
            ),
            (
                &self.transports_connected,
                &CANDIDATE_TYPES[..],
                &last.transports_connected[..],
                &now.transports_connected[..],
            ),
            (
                &self.tcp_media_closed,
                &TCP_CLOSE_CAUSES[..],
                &last.tcp_closed[..],
                &now.tcp_closed[..],
            ),
        ];
        for (counter, labels, before, after) in labelled {
            for ((label, before), after) in labels.iter().zip(before).zip(after) {
                grow(&counter.with_label_values(&[*label]), *before, *after);
            }
        }
        let (before, after) = (&last.rtcp, &now.rtcp);
        let feedback = [
            ("nack", "in", before.nacks_in, after.nacks_in),
            ("nack", "out", before.nacks_out, after.nacks_out),
            ("pli", "in", before.plis_in, after.plis_in),
            ("pli", "out", before.plis_out, after.plis_out),
            ("fir", "in", before.firs_in, after.firs_in),
            ("fir", "out", before.firs_out, after.firs_out),
        ];
        for (kind, direction, before, after) in feedback {
            grow(
                &self.rtcp_feedback.with_label_values(&[kind, direction]),
                before,
                after,
            );
        }
        grow(
            &self.retransmissions,
            before.retransmissions,
            after.retransmissions,
        );
        for (i, reason) in LAYER_SWITCH_REASONS.iter().enumerate() {
            grow(
                &self.layer_switches.with_label_values(&[*reason]),
                last.layer_switches[i],
                now.layer_switches[i],
            );
        }
        self.forwarding_latency.grow(
            &last.forwarding_latency,
            &now.forwarding_latency,
            NANOS_PER_SECOND,
        );
        self.join_latency
            .grow(&last.join_latency, &now.join_latency, NANOS_PER_SECOND);
        self.bandwidth_estimate.grow(
            &last.bandwidth_estimates,
            &now.bandwidth_estimates,
            BITS_PER_BYTE,
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
    /// The registry, for parts that register their own families (the webhooks).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

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

    /// One event written to a client's socket. Fed by the session after the write.
    pub fn observe_event(&self, event: EventName) {
        self.signalling_events
            .with_label_values(&[event.as_str()])
            .inc();
    }

    /// A signalling socket refused or closed before it joined a room. Fed by the `/rtc`
    /// handler and the session.
    pub fn observe_unjoined_closed(&self, reason: UnjoinedClose) {
        self.unjoined_closed
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// A resume attempt (spec §9) and whether it succeeded. Fed by the session.
    pub fn observe_resume(&self, succeeded: bool) {
        let result = if succeeded { "ok" } else { "failed" };
        self.resumes.with_label_values(&[result]).inc();
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

/// Bounds in nanoseconds as Prometheus bucket bounds in seconds.
fn seconds(bounds_ns: &[u64]) -> Vec<f64> {
    bounds_ns
        .iter()
        .map(|&ns| ns as f64 / NANOS_PER_SECOND)
        .collect()
}

/// A Prometheus histogram whose buckets are the sum of the shards' [`FixedHistogram`]s: the
/// server adds what each shard's buckets grew by ([`ShardHistogram::grow`]), as it does for
/// counters, and a scrape reads the totals. (The `prometheus` crate's own `Histogram` can only
/// take single observations.)
#[derive(Clone, Debug)]
pub struct ShardHistogram {
    desc: Desc,
    /// Upper bounds in the exported unit, increasing; `+Inf` is implied.
    bounds: Arc<[f64]>,
    totals: Arc<Mutex<HistogramTotals>>,
}

#[derive(Debug, Default)]
struct HistogramTotals {
    /// Per bucket (not cumulative), plus one for the values above the last bound.
    counts: Vec<u64>,
    /// In the exported unit.
    sum: f64,
}

impl ShardHistogram {
    /// A histogram with `bounds` in the exported unit (they must increase).
    pub fn new(name: &str, help: &str, bounds: Vec<f64>) -> Result<Self, prometheus::Error> {
        if !bounds.windows(2).all(|w| w[0] < w[1]) {
            return Err(prometheus::Error::Msg(format!(
                "{name}: bucket bounds must increase"
            )));
        }
        let desc = Desc::new(name.into(), help.into(), Vec::new(), HashMap::new())?;
        let totals = HistogramTotals {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        };
        Ok(ShardHistogram {
            desc,
            bounds: bounds.into(),
            totals: Arc::new(Mutex::new(totals)),
        })
    }

    /// Adds what a shard's histogram grew by from `last` to `now`; `divisor` turns its unit
    /// into the exported one (nanoseconds to seconds: 1e9). A bucket that went backwards (a
    /// restarted source) adds nothing.
    pub fn grow<const N: usize>(
        &self,
        last: &FixedHistogram<N>,
        now: &FixedHistogram<N>,
        divisor: f64,
    ) {
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let grown = now
            .counts
            .iter()
            .zip(&last.counts)
            .chain(std::iter::once((&now.above, &last.above)))
            .map(|(after, before)| after.saturating_sub(*before));
        for (total, more) in totals.counts.iter_mut().zip(grown) {
            *total += more;
        }
        totals.sum += now.sum.saturating_sub(last.sum) as f64 / divisor;
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        totals.counts.iter().sum()
    }
}

impl Collector for ShardHistogram {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&totals.counts)
            .map(|(&bound, &count)| {
                cumulative += count;
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(bound);
                bucket.set_cumulative_count(cumulative);
                bucket
            })
            .collect();
        let mut histogram = proto::Histogram::default();
        histogram.set_bucket(buckets);
        histogram.set_sample_count(totals.counts.iter().sum());
        histogram.set_sample_sum(totals.sum);
        let mut metric = proto::Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
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
