//! Prometheus metrics (issue 7): one registry per server, exported at `/metrics`.
//!
//! Labels are bounded (a `DropReason`, a result, a kind), never a room or participant id, so
//! the series count does not grow with traffic. The core keeps plain cumulative counters
//! ([`CoreStats`]); the shell adds their growth here with [`Metrics::observe_core`], so the
//! packet path never touches an atomic of this registry. Room, participant and signalling
//! metrics join when the shell that owns those numbers feeds them (issue 7).

use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

use crate::core::{CoreStats, DropReason};

/// Every metric the server exports, registered in one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub packets_in: IntCounter,
    pub bytes_in: IntCounter,
    pub packets_out: IntCounter,
    pub bytes_out: IntCounter,
    pub packets_dropped: IntCounterVec,
    pub keyframe_feedback: IntCounter,
    pub keyframe_requests: IntCounterVec,
    pub layer_switches: IntCounter,
    pub policy_installs: IntCounter,
}

impl Metrics {
    /// A registry with every metric at zero, plus the process collector (CPU seconds, memory,
    /// open fds: `process_cpu_seconds_total` is what the load tester divides by).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("sfu".into()), None)?;
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let counter_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let metrics = Metrics {
            packets_in: counter("packets_in_total", "RTP packets received from publishers.")?,
            bytes_in: counter(
                "bytes_in_total",
                "RTP payload bytes received from publishers.",
            )?,
            packets_out: counter(
                "packets_out_total",
                "RTP packets forwarded to subscribers (one per subscriber copy).",
            )?,
            bytes_out: counter(
                "bytes_out_total",
                "RTP payload bytes forwarded to subscribers.",
            )?,
            packets_dropped: counter_vec(
                "packets_dropped_total",
                "Packets (or per-subscriber copies) not forwarded, by reason.",
                &["reason"],
            )?,
            keyframe_feedback: counter(
                "keyframe_feedback_total",
                "PLI/FIR messages received from subscribers.",
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
            registry,
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
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Adds what a core's counters grew by since `last`, then remembers `now` in `last`.
    pub fn observe_core(&self, last: &mut CoreStats, now: &CoreStats) {
        let grow = |c: &IntCounter, before: u64, after: u64| c.inc_by(after.saturating_sub(before));
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
        *last = now.clone();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            // Encoding only fails on a metric with an invalid name, which `new` rejects.
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
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
