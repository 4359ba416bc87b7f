//! The node's heartbeat: every [`HEARTBEAT`] it writes its record (state, load, rooms,
//! participants) with a [`RECORD_TTL`] expiry and re-claims the rooms it runs. A room another
//! node owns with a newer epoch (this node was cut off long enough for its record to expire
//! and the room to be placed again) is dropped at once: its participants are told to reconnect
//! and rejoin through placement, so a room never stays live in two places.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock;
use crate::cluster::{Cluster, NodeRecord, NodeState, StoreOperation, HEARTBEAT, RECORD_TTL};
use crate::metrics::Metrics;
use crate::room::RoomRegistry;

/// What the heartbeat reads and where it reports.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) rooms: RoomRegistry,
    pub(crate) metrics: Metrics,
    /// `true` once the node drains: its record says `draining`.
    pub(crate) draining: watch::Receiver<bool>,
    /// The media sockets, for the record.
    pub(crate) media: Vec<String>,
    /// Forwarded packets per second that count as full load.
    pub(crate) capacity: u64,
}

/// CPU seconds and forwarded packets at the previous beat, for the load over one interval.
#[derive(Debug, Clone, Copy)]
struct LoadSample {
    at: Instant,
    cpu_seconds: f64,
    packets_out: u64,
}

impl Heartbeat {
    /// Writes the record once before returning (so this node can place rooms from its first
    /// join on), then every [`HEARTBEAT`] in a task, until that task is aborted.
    pub(crate) async fn start(self) -> tokio::task::JoinHandle<()> {
        self.beat(0.0).await;
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let mut last = self.sample();
        let mut load = 0.0;
        let mut interval =
            tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining = self.draining.clone();
        loop {
            // A drain is published at once: from then on no node places a room here.
            tokio::select! {
                _ = interval.tick() => {}
                Ok(()) = draining.changed() => {}
            }
            let now = self.sample();
            let seconds = now.at.duration_since(last.at).as_secs_f64();
            if seconds > 0.1 {
                let cpu = (now.cpu_seconds - last.cpu_seconds).max(0.0) / seconds / cores;
                let pps = now.packets_out.saturating_sub(last.packets_out) as f64 / seconds;
                load = cpu.max(pps / self.capacity.max(1) as f64);
                last = now;
            }
            self.beat(load).await;
        }
    }

    fn sample(&self) -> LoadSample {
        LoadSample {
            at: clock::now(),
            cpu_seconds: process_cpu_seconds(),
            packets_out: self.metrics.forwarding.packets_out.get(),
        }
    }

    /// One beat: publish, re-claim, count the nodes. A failing store is recorded by
    /// [`Cluster::timed`]; the next beat tries again.
    async fn beat(&self, load: f64) {
        let cluster = &self.cluster;
        let state = if *self.draining.borrow() {
            NodeState::Draining
        } else {
            NodeState::Serving
        };
        let record = NodeRecord {
            id: cluster.node_id().to_owned(),
            url: cluster.url().to_owned(),
            media: self.media.clone(),
            state,
            load,
            rooms: self.rooms.room_count() as u64,
            participants: u64::try_from(self.metrics.rooms.participants.get()).unwrap_or(0),
        };
        let store = cluster.store();
        if cluster
            .timed(StoreOperation::Publish, store.publish(&record, RECORD_TTL))
            .await
            .is_err()
        {
            return;
        }
        let rooms = self.rooms.room_epochs();
        match cluster
            .timed(
                StoreOperation::Claim,
                store.claim(cluster.node_id(), &rooms),
            )
            .await
        {
            Ok(fenced) => {
                for room in fenced {
                    warn!(
                        room,
                        "another node owns this room with a newer epoch: dropping it"
                    );
                    if let Some(metrics) = cluster.metrics() {
                        metrics.fenced.inc();
                    }
                    self.rooms.fence(&room);
                }
            }
            Err(_) => return,
        }
        if let Ok(nodes) = cluster.timed(StoreOperation::Nodes, store.nodes()).await {
            if let Some(metrics) = cluster.metrics() {
                metrics
                    .nodes
                    .set(i64::try_from(nodes.len()).unwrap_or(i64::MAX));
            }
        }
    }
}

/// Removes this node's record on a clean exit, so its (now empty) rooms can be placed
/// elsewhere at once rather than after [`RECORD_TTL`].
pub(crate) async fn retire(cluster: &Cluster) {
    let wait = Duration::from_secs(2);
    match tokio::time::timeout(
        wait,
        cluster.timed(
            StoreOperation::Retire,
            cluster.store().retire(cluster.node_id()),
        ),
    )
    .await
    {
        Ok(Ok(())) => info!(
            node = cluster.node_id(),
            "node record removed from the cluster store"
        ),
        _ => warn!("could not remove the node record; it expires by itself"),
    }
}

/// The process's CPU seconds (user + system) so far; 0 where `/proc` is not available.
fn process_cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        if let Ok(stat) = procfs::process::Process::myself().and_then(|p| p.stat()) {
            return (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
        }
    }
    0.0
}
