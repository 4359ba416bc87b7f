//! What a cluster keeps in its shared store (DECISIONS.md §21: soft state only): one record per
//! node, refreshed every [`HEARTBEAT`](super::HEARTBEAT) and gone [`RECORD_TTL`](super::RECORD_TTL)
//! after the last refresh, and one owner per room stamped with an epoch. No signalling message
//! goes through the store; a join costs at most one [`ClusterStore::place`] round trip, and
//! none for a room this node already runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A store operation in flight (boxed so the trait stays object safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Serving takes new rooms; draining keeps its rooms (and their joins) but takes no new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Serving,
    Draining,
}

impl NodeState {
    /// The word stored and shown in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Serving => "serving",
            NodeState::Draining => "draining",
        }
    }

    /// The state named `word`; anything unknown counts as draining (takes no new room).
    pub fn from_word(word: &str) -> NodeState {
        match word {
            "serving" => NodeState::Serving,
            _ => NodeState::Draining,
        }
    }
}

/// One node as the others see it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub id: String,
    /// Its `/rtc` WebSocket URL, where `wrong_node` sends clients.
    pub url: String,
    /// Its media sockets (`ip:port`, one per shard), for operators.
    pub media: Vec<String>,
    pub state: NodeState,
    /// The larger of CPU busy (0..1 of the cores) and forwarded packets per second over the
    /// configured capacity; placement skips nodes at or above [`LOAD_CEILING`](super::LOAD_CEILING).
    pub load: f64,
    pub rooms: u64,
    pub participants: u64,
}

/// Where a room lives, as [`ClusterStore::place`] decided or found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node_id: String,
    pub url: String,
    /// Higher for every new placement; a node whose room carries a lower epoch than the store's
    /// drops it ([`ClusterStore::claim`]).
    pub epoch: u64,
    /// `true` when this call chose a node for the room (it had no live owner); `false` when
    /// it found the owner, or re-stamped the asking owner's room with a new epoch.
    pub placed: bool,
}

/// Tuning that [`ClusterStore::place`] applies the same way in every store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacementRule {
    /// Nodes whose load is at or above this take no new room.
    pub ceiling: f64,
    /// What one room (running, or placed within `recent`) adds to a node's load when choosing:
    /// recent placements count at once, so a burst of new rooms spreads even while the load
    /// reports are a heartbeat old.
    pub room_weight: f64,
    /// How long a placement counts as recent.
    pub recent: Duration,
    /// After the store starts holding the cluster (a restarted, empty Redis included), how
    /// long it chooses no node for a room: live nodes re-claim their rooms meanwhile.
    pub warm_up: Duration,
}

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store is unreachable or failed (Redis down): rooms already running go on.
    Unavailable(String),
    /// No node is serving below the load ceiling.
    NoServingNode,
    /// The store started (or restarted empty) moments ago: nodes are re-claiming their rooms.
    WarmingUp,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "cluster store unavailable: {why}"),
            StoreError::NoServingNode => f.write_str("no node is serving below the load ceiling"),
            StoreError::WarmingUp => {
                f.write_str("the cluster store restarted moments ago; nodes are re-claiming rooms")
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// The cluster's shared soft state: [`super::MemoryStore`] for one process (the default),
/// [`super::RedisStore`] for many nodes.
pub trait ClusterStore: Send + Sync + fmt::Debug {
    /// Writes `record`, live for `ttl` unless written again.
    fn publish<'a>(&'a self, record: &'a NodeRecord, ttl: Duration) -> StoreFuture<'a, ()>;

    /// Removes `node`'s record at once (a clean exit): its rooms can be placed again.
    fn retire<'a>(&'a self, node: &'a str) -> StoreFuture<'a, ()>;

    /// The owner of `room` for `asking`, which does not run it: a live owner other than
    /// `asking` is kept; otherwise, in one atomic step, the room goes to the serving node with
    /// the lowest load plus recent placements (`asking` itself when it is serving and owned it),
    /// stamped with a new epoch.
    fn place<'a>(
        &'a self,
        room: &'a str,
        asking: &'a str,
        rule: PlacementRule,
    ) -> StoreFuture<'a, Placement>;

    /// The live owner of `room`, if any, without placing it (the server API's calls about a
    /// room: one read, never a placement).
    fn owner<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<Placement>>;

    /// Re-asserts that `node` runs `rooms` (name, epoch): a room with no owner, or one stamped
    /// with a lower epoch, is written back to `node` (a store that restarted empty learns its
    /// rooms again). Returns the rooms another node owns with a higher epoch: `node` must drop
    /// them (fencing).
    fn claim<'a>(
        &'a self,
        node: &'a str,
        rooms: &'a [(String, u64)],
    ) -> StoreFuture<'a, Vec<String>>;

    /// Forgets `room` if `node` still owns it at `epoch` (the room ended there).
    fn release<'a>(&'a self, room: &'a str, node: &'a str, epoch: u64) -> StoreFuture<'a, ()>;

    /// Every live node record.
    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>>;
}
