//! `RoutingTable`: publication -> the subscriptions its packets go to, derived from the
//! installed forwarding policy and the subscriptions that exist.
//!
//! Rebuilt on every policy install or subscription change, never per packet: per packet the
//! core walks one `Vec` (DECISIONS.md §6, LiveKit's shadow slice, mediasoup
//! `mapProducerConsumers`). Because the whole table is rebuilt in one call between two
//! packets, an install that moves many participants takes effect for all of them at once
//! (spec §13.3 step 3).

use slotmap::SecondaryMap;

use super::id::{PublicationId, SubscriptionId};

#[derive(Debug, Default)]
pub struct RoutingTable {
    routes: SecondaryMap<PublicationId, Vec<SubscriptionId>>,
}

impl RoutingTable {
    /// The subscriptions `publication`'s packets go to now.
    pub fn routes(&self, publication: PublicationId) -> &[SubscriptionId] {
        self.routes.get(publication).map_or(&[], Vec::as_slice)
    }

    /// Recomputes the route of one publication: the `candidates` (its subscriptions) for
    /// which `allowed` holds, in candidate order. Reuses the route's buffer.
    pub fn rebuild(
        &mut self,
        publication: PublicationId,
        candidates: &[SubscriptionId],
        mut allowed: impl FnMut(SubscriptionId) -> bool,
    ) {
        let route = match self.routes.get_mut(publication) {
            Some(route) => route,
            None => {
                self.routes.insert(publication, Vec::new());
                match self.routes.get_mut(publication) {
                    Some(route) => route,
                    // Only a removed (stale) key cannot be inserted: it has no route.
                    None => return,
                }
            }
        };
        route.clear();
        route.extend(candidates.iter().copied().filter(|s| allowed(*s)));
    }

    pub fn remove(&mut self, publication: PublicationId) {
        self.routes.remove(publication);
    }
}
