//! `RoutingTable`: publication -> the subscriptions its packets go to, derived from the
//! installed forwarding policy and the subscriptions that exist.
//!
//! Rebuilt on every policy install or subscription change, never per packet: per packet the
//! core walks one `Vec` (DECISIONS.md §6, LiveKit's shadow slice, mediasoup
//! `mapProducerConsumers`). Because the whole table is rebuilt in one call between two
//! packets, an install that moves many participants takes effect for all of them at once
//! (spec §13.3 step 3).

use slotmap::SecondaryMap;

use super::id::{DownlinkId, PublicationId, SubscriptionId};

/// A subscription of a publication, as the routing table weighs it. Kept in a compact list
/// per publication, with the subscription's route state, so a rebuild reads and writes memory
/// in order and never touches the (large, scattered) forwarder state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub subscription: SubscriptionId,
    pub downlink: DownlinkId,
    /// On the route under the installed policy.
    pub routed: bool,
    /// The install at which it last entered the route.
    pub epoch: u32,
}

/// One subscription on a route. `epoch` is the install at which it (re)entered the route: a
/// forwarder that last forwarded under another epoch was off the route in between and must
/// restart on a keyframe. Comparing it per packet lets an install stop forwarders without
/// touching them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub subscription: SubscriptionId,
    pub epoch: u32,
}

#[derive(Debug, Default)]
pub struct RoutingTable {
    routes: SecondaryMap<PublicationId, Vec<RouteEntry>>,
}

impl RoutingTable {
    /// The subscriptions `publication`'s packets go to now.
    pub fn routes(&self, publication: PublicationId) -> &[RouteEntry] {
        self.routes.get(publication).map_or(&[], Vec::as_slice)
    }

    /// Recomputes the route of one publication: the candidates `update` leaves routed, in
    /// candidate order. `update` sets each candidate's `routed` and `epoch`. Reuses the route's
    /// buffer.
    pub fn rebuild(
        &mut self,
        publication: PublicationId,
        candidates: &mut [Candidate],
        mut update: impl FnMut(&mut Candidate),
    ) {
        let route_buf = match self.routes.get_mut(publication) {
            Some(r) => r,
            None => {
                self.routes.insert(publication, Vec::new());
                match self.routes.get_mut(publication) {
                    Some(r) => r,
                    // Only a removed (stale) key cannot be inserted: it has no route.
                    None => return,
                }
            }
        };
        route_buf.clear();
        for c in candidates {
            update(c);
            if c.routed {
                route_buf.push(RouteEntry {
                    subscription: c.subscription,
                    epoch: c.epoch,
                });
            }
        }
    }

    pub fn remove(&mut self, publication: PublicationId) {
        self.routes.remove(publication);
    }
}
