//! The process's own figures: CPU seconds at tick resolution, read at scrape time, and the
//! `prometheus` crate's process collector (memory, open fds, whole CPU seconds).

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::proto::MetricFamily;
use prometheus::{Counter, Registry};

use super::register;

/// The process's CPU counter and the unprefixed process collector.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    /// This process's user + system CPU seconds at the kernel's tick resolution, read at
    /// scrape time: the process collector's `process_cpu_seconds_total` counts whole seconds,
    /// too coarse for CPU per packet over a 30 s load-test window.
    pub cpu: Counter,
    /// Serialises scrapes' updates of `cpu` (read, then add the difference).
    cpu_update: Arc<Mutex<()>>,
    /// The process collector, unprefixed: `process_cpu_seconds_total` is the name every
    /// Prometheus client exports and the load tester reads, not `sfu_process_...`.
    collector: Registry,
}

impl ProcessMetrics {
    /// Registers `cpu` in `registry` and starts the process collector in a registry of its own.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = ProcessMetrics {
            cpu: register(
                registry,
                Counter::new(
                    "process_cpu_seconds_total",
                    "User and system CPU time of the server process, at 10 ms resolution.",
                )?,
            )?,
            cpu_update: Arc::default(),
            collector: Registry::new(),
        };
        #[cfg(target_os = "linux")]
        metrics.collector.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Brings `cpu` up to the kernel's figure. Called by each scrape.
    pub(super) fn observe_cpu(&self) {
        #[cfg(target_os = "linux")]
        {
            let Ok(stat) = procfs::process::Process::myself().and_then(|p| p.stat()) else {
                return;
            };
            let seconds = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
            let _serial = self
                .cpu_update
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let grown = seconds - self.cpu.get();
            if grown > 0.0 {
                self.cpu.inc_by(grown);
            }
        }
    }

    /// The process collector's families.
    pub(super) fn gather(&self) -> Vec<MetricFamily> {
        self.collector.gather()
    }
}
