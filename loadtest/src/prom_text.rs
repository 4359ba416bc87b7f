//! Reading counters from the SFU's Prometheus text exposition (`GET /metrics`).

use crate::client_error::ClientError;
use crate::http_get;

/// The server's CPU time at 10 ms resolution (`sfu/src/metrics/process.rs`).
pub const CPU_SECONDS: &str = "sfu_process_cpu_seconds_total";
/// The same from the prometheus crate's process collector, in whole seconds: too coarse for
/// a 30 s run, read only from servers that lack [`CPU_SECONDS`].
pub const CPU_SECONDS_WHOLE: &str = "process_cpu_seconds_total";
/// RTP packets the server forwarded to subscribers, one per subscriber copy
/// (`sfu/src/metrics/forwarding.rs`). Kept as a constant: the name may change while the media path lands.
pub const PACKETS_OUT: &str = "sfu_packets_out_total";
/// Keyframe requests the server sent towards publishers (label `result="sent"`; the throttle
/// counts what it suppressed as `result="suppressed"`).
pub const KEYFRAME_REQUESTS: &str = "sfu_keyframe_requests_total";

/// The counters the load tester reads before and after a run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SfuSample {
    pub cpu_seconds: Option<f64>,
    pub packets_out: Option<f64>,
    /// [`KEYFRAME_REQUESTS`] with `result="sent"`.
    pub keyframe_requests_sent: Option<f64>,
}

impl SfuSample {
    /// Scrapes `metrics_url` (e.g. `http://127.0.0.1:7880/metrics`).
    pub async fn scrape(metrics_url: &str) -> Result<SfuSample, ClientError> {
        let (status, body) = http_get::get(metrics_url).await?;
        if status != 200 {
            return Err(ClientError::Transport(format!(
                "{metrics_url} answered {status}"
            )));
        }
        Ok(SfuSample::parse(&body))
    }

    /// Reads the two counters from an exposition; a missing one is `None`.
    pub fn parse(text: &str) -> SfuSample {
        SfuSample {
            cpu_seconds: metric_sum(text, CPU_SECONDS)
                .or_else(|| metric_sum(text, CPU_SECONDS_WHOLE)),
            packets_out: metric_sum(text, PACKETS_OUT),
            keyframe_requests_sent: metric_sum(
                &text
                    .lines()
                    .filter(|l| l.contains("result=\"sent\""))
                    .collect::<Vec<_>>()
                    .join("\n"),
                KEYFRAME_REQUESTS,
            ),
        }
    }
}

/// The sum of every sample of `name` (all label sets), or `None` when there is none.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name{labels} value` or `name value`; not `name_other ...`.
        let rest = if let Some(labels) = rest.strip_prefix('{') {
            match labels.split_once('}') {
                Some((_, after)) => after,
                None => continue,
            }
        } else if rest.starts_with(' ') {
            rest
        } else {
            continue;
        };
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}
