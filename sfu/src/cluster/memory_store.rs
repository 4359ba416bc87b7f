//! The in-process [`ClusterStore`]: the embedded default (one node, nothing to run besides the
//! server) and the reference the Redis scripts follow. Several servers in one test process may
//! share one through its `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::store::{
    ClusterStore, NodeRecord, NodeState, Placement, PlacementRule, StoreError, StoreFuture,
};
use crate::clock;

/// Node records with their expiry, room owners with their epochs, in one mutex: every
/// operation is one atomic step, like a Redis script.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Sorted by id, so ties in placement go the same way as in the Redis script.
    nodes: BTreeMap<String, (NodeRecord, Instant)>,
    /// Room → (owner, epoch).
    rooms: HashMap<String, (String, u64)>,
    /// Each node's recent placements.
    recent: HashMap<String, Vec<Instant>>,
    epoch: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State, Instant) -> T) -> T {
        // Every operation leaves the maps consistent, so a poisoned lock is still usable.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = clock::now();
        state.nodes.retain(|_, (_, expires)| *expires > now);
        f(&mut state, now)
    }
}

impl State {
    fn live(&self, node: &str) -> Option<&NodeRecord> {
        self.nodes.get(node).map(|(record, _)| record)
    }

    fn place(
        &mut self,
        room: &str,
        asking: &str,
        rule: PlacementRule,
        now: Instant,
    ) -> Result<Placement, StoreError> {
        if let Some((owner, epoch)) = self.rooms.get(room).cloned() {
            if let Some(record) = self.live(&owner) {
                if owner != asking {
                    return Ok(Placement {
                        node_id: owner,
                        url: record.url.clone(),
                        epoch,
                        placed: false,
                    });
                }
                // The asking owner no longer runs the room (it ended, or two joins raced to
                // create it): it keeps it while serving, under a new epoch, so an earlier
                // `release` of the ended room cannot remove the new one.
                if record.state == NodeState::Serving {
                    let url = record.url.clone();
                    self.epoch += 1;
                    self.rooms
                        .insert(room.to_owned(), (owner.clone(), self.epoch));
                    return Ok(Placement {
                        node_id: owner,
                        url,
                        epoch: self.epoch,
                        placed: false,
                    });
                }
            }
        }
        let mut best: Option<(f64, &NodeRecord)> = None;
        for (record, _) in self.nodes.values() {
            if record.state != NodeState::Serving || record.load >= rule.ceiling {
                continue;
            }
            let recent = self.recent.get(&record.id).map_or(0, |at| {
                at.iter()
                    .filter(|&&at| now.duration_since(at) < rule.recent)
                    .count()
            });
            let score = record.load + rule.room_weight * (record.rooms as f64 + recent as f64);
            if best.is_none_or(|(best, _)| score < best) {
                best = Some((score, record));
            }
        }
        let (_, chosen) = best.ok_or(StoreError::NoServingNode)?;
        let (node_id, url) = (chosen.id.clone(), chosen.url.clone());
        self.epoch += 1;
        self.rooms
            .insert(room.to_owned(), (node_id.clone(), self.epoch));
        let recent = self.recent.entry(node_id.clone()).or_default();
        recent.retain(|&at| now.duration_since(at) < rule.recent);
        recent.push(now);
        Ok(Placement {
            node_id,
            url,
            epoch: self.epoch,
            placed: true,
        })
    }

    fn claim(&mut self, node: &str, rooms: &[(String, u64)]) -> Vec<String> {
        let mut fenced = Vec::new();
        for (room, epoch) in rooms {
            match self.rooms.get(room) {
                Some((owner, _)) if owner == node => {}
                Some((_, current)) if current > epoch => fenced.push(room.clone()),
                _ => {
                    self.rooms.insert(room.clone(), (node.to_owned(), *epoch));
                    self.epoch = self.epoch.max(*epoch);
                }
            }
        }
        fenced
    }
}

impl ClusterStore for MemoryStore {
    fn publish<'a>(&'a self, record: &'a NodeRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        let expires = clock::now() + ttl;
        self.with_state(|state, _| {
            state
                .nodes
                .insert(record.id.clone(), (record.clone(), expires));
        });
        Box::pin(async { Ok(()) })
    }

    fn retire<'a>(&'a self, node: &'a str) -> StoreFuture<'a, ()> {
        self.with_state(|state, _| state.nodes.remove(node));
        Box::pin(async { Ok(()) })
    }

    fn place<'a>(
        &'a self,
        room: &'a str,
        asking: &'a str,
        rule: PlacementRule,
    ) -> StoreFuture<'a, Placement> {
        let placed = self.with_state(|state, now| state.place(room, asking, rule, now));
        Box::pin(async { placed })
    }

    fn owner<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<Placement>> {
        let owner = self.with_state(|state, _| {
            let (node, epoch) = state.rooms.get(room)?;
            let record = state.live(node)?;
            Some(Placement {
                node_id: node.clone(),
                url: record.url.clone(),
                epoch: *epoch,
                placed: false,
            })
        });
        Box::pin(async { Ok(owner) })
    }

    fn claim<'a>(
        &'a self,
        node: &'a str,
        rooms: &'a [(String, u64)],
    ) -> StoreFuture<'a, Vec<String>> {
        let fenced = self.with_state(|state, _| state.claim(node, rooms));
        Box::pin(async { Ok(fenced) })
    }

    fn release<'a>(&'a self, room: &'a str, node: &'a str, epoch: u64) -> StoreFuture<'a, ()> {
        self.with_state(|state, _| {
            if state
                .rooms
                .get(room)
                .is_some_and(|(owner, at)| owner == node && *at == epoch)
            {
                state.rooms.remove(room);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn nodes(&self) -> StoreFuture<'_, Vec<NodeRecord>> {
        let nodes = self.with_state(|state, _| {
            state
                .nodes
                .values()
                .map(|(record, _)| record.clone())
                .collect()
        });
        Box::pin(async { Ok(nodes) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: PlacementRule = PlacementRule {
        ceiling: 0.85,
        room_weight: 0.05,
        recent: Duration::from_secs(5),
        warm_up: Duration::ZERO,
    };

    fn record(id: &str, state: NodeState, load: f64) -> NodeRecord {
        NodeRecord {
            id: id.to_owned(),
            url: format!("ws://{id}/rtc"),
            media: Vec::new(),
            state,
            load,
            rooms: 0,
            participants: 0,
        }
    }

    fn block<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn store(nodes: &[NodeRecord], ttl: Duration) -> MemoryStore {
        let store = MemoryStore::new();
        for node in nodes {
            block(store.publish(node, ttl)).expect("publish");
        }
        store
    }

    // A burst of rooms spreads over idle nodes by recent placements (the records are stale),
    // a live owner is kept, and each placement gets a higher epoch.
    #[test]
    fn a_burst_spreads_and_owners_are_kept() {
        let long = Duration::from_secs(60);
        let store = store(
            &[
                record("a", NodeState::Serving, 0.0),
                record("b", NodeState::Serving, 0.0),
                record("c", NodeState::Serving, 0.0),
            ],
            long,
        );
        let mut per_node = HashMap::new();
        let mut last_epoch = 0;
        for room in 0..9 {
            let placed = block(store.place(&format!("r{room}"), "a", RULE)).unwrap();
            assert!(placed.placed && placed.epoch > last_epoch);
            last_epoch = placed.epoch;
            *per_node.entry(placed.node_id).or_insert(0) += 1;
        }
        assert_eq!(
            per_node.values().copied().collect::<Vec<_>>(),
            vec![3, 3, 3]
        );
        let first = block(store.place("r0", "c", RULE)).unwrap();
        let again = block(store.place("r0", "b", RULE)).unwrap();
        assert!(!again.placed);
        assert_eq!((first.node_id, first.epoch), (again.node_id, again.epoch));
    }

    // Draining nodes and nodes at the load ceiling take no new room; with none left the
    // answer says so.
    #[test]
    fn draining_and_loaded_nodes_are_skipped() {
        let long = Duration::from_secs(60);
        let store = store(
            &[
                record("a", NodeState::Draining, 0.0),
                record("b", NodeState::Serving, 0.9),
                record("c", NodeState::Serving, 0.5),
            ],
            long,
        );
        assert_eq!(block(store.place("r", "a", RULE)).unwrap().node_id, "c");
        block(store.publish(&record("c", NodeState::Draining, 0.5), long)).unwrap();
        assert_eq!(
            block(store.place("s", "a", RULE)),
            Err(StoreError::NoServingNode)
        );
    }

    // A dead owner's room is placed again with a higher epoch; the old owner's claim is then
    // fenced, the new owner's kept, and a release with a stale epoch changes nothing.
    #[test]
    fn an_expired_owner_loses_its_rooms_to_a_higher_epoch() {
        let store = store(&[record("a", NodeState::Serving, 0.0)], Duration::ZERO);
        block(store.publish(
            &record("b", NodeState::Serving, 0.5),
            Duration::from_secs(60),
        ))
        .unwrap();
        // `a`'s record has already expired: `b` is the only live node.
        let first = block(store.place("r", "b", RULE)).unwrap();
        assert_eq!(first.node_id, "b");
        // `a` comes back claiming the room under an older epoch: fenced.
        let fenced = block(store.claim("a", &[("r".to_owned(), first.epoch - 1)])).unwrap();
        assert_eq!(fenced, vec!["r".to_owned()]);
        assert!(block(store.claim("b", &[("r".to_owned(), first.epoch)]))
            .unwrap()
            .is_empty());
        block(store.release("r", "b", first.epoch - 1)).unwrap();
        let kept = block(store.place("r", "a", RULE)).unwrap();
        assert_eq!((kept.node_id.as_str(), kept.placed), ("b", false));
    }

    // A store that lost its rooms learns them back from the owners' claims, and its epoch
    // counter never goes below a claimed epoch.
    #[test]
    fn claims_restore_owners_and_the_epoch() {
        let store = store(
            &[
                record("a", NodeState::Serving, 0.0),
                record("b", NodeState::Serving, 0.0),
            ],
            Duration::from_secs(60),
        );
        assert!(block(store.claim("a", &[("r".to_owned(), 41)]))
            .unwrap()
            .is_empty());
        let found = block(store.place("r", "b", RULE)).unwrap();
        assert_eq!((found.node_id.as_str(), found.epoch), ("a", 41));
        assert!(block(store.place("s", "b", RULE)).unwrap().epoch > 41);
    }
}
