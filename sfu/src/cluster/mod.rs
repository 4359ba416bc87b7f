//! Scale-out across nodes (DECISIONS.md §21, issue 17): every room lives on exactly one node,
//! chosen when its first join arrives by one atomic step of the cluster's [`ClusterStore`].
//!
//! * [`store`]: the trait and the records; [`MemoryStore`] (the embedded default: one node,
//!   nothing else to run) and [`RedisStore`] (many nodes on one Redis or Valkey).
//! * [`Cluster`]: this node's side: placement for the room registry, the store's health for
//!   `/readyz`, and the `sfu_cluster_*` metrics.
//! * `room::heartbeat` (above this module: it reads the room registry) writes this node's
//!   record every [`HEARTBEAT`] and re-claims its rooms,
//!   dropping those a newer epoch owns (fencing).
//!
//! The packet path never touches any of this: only a join for a room this node does not run
//! asks the store, once.

pub mod memory_store;
mod metrics;
pub mod redis_store;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

pub use memory_store::MemoryStore;
pub use metrics::{ClusterMetrics, StoreOperation};
pub use redis_store::RedisStore;
pub use store::{ClusterStore, NodeRecord, NodeState, Placement, PlacementRule, StoreError};

/// How often a node writes its record and re-claims its rooms.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a record lives without a refresh: a node that died is gone from placement after
/// at most this long.
pub const RECORD_TTL: Duration = Duration::from_secs(6);

/// Nodes at or above this load take no new room.
pub const LOAD_CEILING: f64 = 0.85;

/// What one running or recently placed room adds to a node's load when placing: small
/// against real load, so a loaded node is avoided, but large enough to spread rooms evenly
/// over idle nodes.
pub const ROOM_WEIGHT: f64 = 0.05;

/// How long a placement counts towards its node's load (a little over two heartbeats: by
/// then the node's own record counts the room).
pub const RECENT_PLACEMENT: Duration = Duration::from_secs(5);

/// This node's view of the cluster.
#[derive(Debug)]
pub struct Cluster {
    store: Arc<dyn ClusterStore>,
    node_id: String,
    url: String,
    metrics: Option<ClusterMetrics>,
    /// `false` while the store does not answer (placement fails, rooms running go on).
    store_up: watch::Sender<bool>,
}

impl Cluster {
    /// Node `node_id`, reached by clients at `url` (its `/rtc` WebSocket URL), on `store`.
    pub fn new(store: Arc<dyn ClusterStore>, node_id: String, url: String) -> Self {
        Self {
            store,
            node_id,
            url,
            metrics: None,
            store_up: watch::Sender::new(true),
        }
    }

    /// Counts placements, redirects and store round trips in `metrics`.
    pub fn with_metrics(mut self, metrics: ClusterMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &Arc<dyn ClusterStore> {
        &self.store
    }

    pub fn metrics(&self) -> Option<&ClusterMetrics> {
        self.metrics.as_ref()
    }

    /// Follows whether the store answers (for `/readyz`).
    pub fn store_up(&self) -> watch::Receiver<bool> {
        self.store_up.subscribe()
    }

    /// The owner of `room`, which this node does not run: one store round trip.
    pub async fn place(&self, room: &str) -> Result<Placement, StoreError> {
        let rule = PlacementRule {
            ceiling: LOAD_CEILING,
            room_weight: ROOM_WEIGHT,
            recent: RECENT_PLACEMENT,
            warm_up: RECORD_TTL,
        };
        let placed = self
            .timed(
                StoreOperation::Place,
                self.store.place(room, &self.node_id, rule),
            )
            .await;
        if let (Some(metrics), Ok(placement)) = (&self.metrics, &placed) {
            if placement.placed {
                let here = placement.node_id == self.node_id;
                metrics.observe_placement(here);
            }
        }
        placed
    }

    /// The live owner of `room` without placing it: one store round trip.
    pub async fn owner(&self, room: &str) -> Result<Option<Placement>, StoreError> {
        self.timed(StoreOperation::Owner, self.store.owner(room))
            .await
    }

    /// Forgets `room` in the store if this node still owns it at `epoch` (it ended here).
    pub async fn release(&self, room: &str, epoch: u64) {
        let released = self
            .timed(
                StoreOperation::Release,
                self.store.release(room, &self.node_id, epoch),
            )
            .await;
        if let Err(error) = released {
            // Harmless: the owner record is soft state, and a later placement overwrites it.
            warn!(%error, room, "could not release the room in the cluster store");
        }
    }

    /// Runs one store operation, times it, and records the store's health from its outcome.
    pub(crate) async fn timed<T>(
        &self,
        operation: StoreOperation,
        future: store::StoreFuture<'_, T>,
    ) -> Result<T, StoreError> {
        let started = crate::clock::now();
        let result = future.await;
        let up = !matches!(result, Err(StoreError::Unavailable(_)));
        if let Some(metrics) = &self.metrics {
            metrics.observe_store(operation, crate::clock::now().duration_since(started), up);
        }
        let was_up = self.store_up.send_replace(up);
        if was_up != up {
            if up {
                tracing::info!("cluster store reachable again");
            } else if let Err(error) = &result {
                warn!(%error, "cluster store unreachable: new rooms cannot be placed");
            }
        }
        result
    }
}
