//! The `sfu_cluster_*` families: what placement decided, how often joins were sent elsewhere,
//! and how the store answers. Labels are bounded (an outcome, an operation), never a room or
//! node id.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Store round-trip buckets, in seconds: a healthy Redis nearby answers in well under a
/// millisecond; the last buckets show a struggling one.
const STORE_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
];

/// A round trip to the cluster store (the `operation` label of the `sfu_cluster_store_*`
/// families), named after the store's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOperation {
    Place,
    Owner,
    Publish,
    Claim,
    Nodes,
    Release,
    Retire,
}

impl StoreOperation {
    pub const ALL: [StoreOperation; 7] = [
        StoreOperation::Place,
        StoreOperation::Owner,
        StoreOperation::Publish,
        StoreOperation::Claim,
        StoreOperation::Nodes,
        StoreOperation::Release,
        StoreOperation::Retire,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOperation::Place => "place",
            StoreOperation::Owner => "owner",
            StoreOperation::Publish => "publish",
            StoreOperation::Claim => "claim",
            StoreOperation::Nodes => "nodes",
            StoreOperation::Release => "release",
            StoreOperation::Retire => "retire",
        }
    }
}

/// The cluster's metrics, registered in the server's registry.
#[derive(Debug, Clone)]
pub struct ClusterMetrics {
    /// Live node records seen at the last heartbeat (this node included).
    pub nodes: IntGauge,
    /// 1 while the store answers, 0 while it does not.
    pub store_up: IntGauge,
    placements: IntCounterVec,
    /// `join_room`s answered `wrong_node`.
    pub redirects: IntCounter,
    /// Rooms dropped because another node owns them with a newer epoch.
    pub fenced: IntCounter,
    store_seconds: HistogramVec,
    store_errors: IntCounterVec,
}

impl ClusterMetrics {
    /// Registers the families in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            nodes: IntGauge::new("cluster_nodes", "Live cluster nodes seen at the last heartbeat, this one included.")?,
            store_up: IntGauge::new("cluster_store_up", "1 while the cluster store (Redis) answers, 0 while it does not.")?,
            placements: IntCounterVec::new(
                Opts::new("cluster_placements_total", "Rooms this node placed, by where they went (here or another node)."),
                &["node"],
            )?,
            redirects: IntCounter::new("cluster_redirects_total", "join_room and server API requests answered wrong_node (the room runs on another node).")?,
            fenced: IntCounter::new("cluster_fenced_rooms_total", "Rooms dropped because another node owns them with a newer epoch.")?,
            store_seconds: HistogramVec::new(
                HistogramOpts::new("cluster_store_seconds", "Round trips to the cluster store, by operation.")
                    .buckets(STORE_SECONDS.to_vec()),
                &["operation"],
            )?,
            store_errors: IntCounterVec::new(
                Opts::new("cluster_store_errors_total", "Cluster store operations that failed (unreachable or timed out), by operation."),
                &["operation"],
            )?,
        };
        registry.register(Box::new(metrics.nodes.clone()))?;
        registry.register(Box::new(metrics.store_up.clone()))?;
        registry.register(Box::new(metrics.placements.clone()))?;
        registry.register(Box::new(metrics.redirects.clone()))?;
        registry.register(Box::new(metrics.fenced.clone()))?;
        registry.register(Box::new(metrics.store_seconds.clone()))?;
        registry.register(Box::new(metrics.store_errors.clone()))?;
        metrics.store_up.set(1);
        // Every label value shows from the start (0 until it happens).
        for node in ["self", "other"] {
            metrics.placements.with_label_values(&[node]);
        }
        for operation in StoreOperation::ALL {
            metrics
                .store_seconds
                .with_label_values(&[operation.as_str()]);
            metrics
                .store_errors
                .with_label_values(&[operation.as_str()]);
        }
        Ok(metrics)
    }

    /// A room this node placed, on itself or elsewhere.
    pub(crate) fn observe_placement(&self, here: bool) {
        let node = if here { "self" } else { "other" };
        self.placements.with_label_values(&[node]).inc();
    }

    /// One store round trip and whether the store answered.
    pub(crate) fn observe_store(&self, operation: StoreOperation, took: Duration, answered: bool) {
        let histogram: Histogram = self.store_seconds.with_label_values(&[operation.as_str()]);
        histogram.observe(took.as_secs_f64());
        if !answered {
            self.store_errors
                .with_label_values(&[operation.as_str()])
                .inc();
        }
        self.store_up.set(i64::from(answered));
    }
}
