//! What a signalling WebSocket may hold before it joins a room: nobody has authenticated it
//! yet, so it gets little (issue 15).
//!
//! * A **join deadline**: a socket not bound to a room (`join_room` or `resume` admitted, or a
//!   `room_locked` answer, which lets it knock) within `--join-deadline` of its upgrade is
//!   closed with 1008 (policy violation) and the reason [`JOIN_DEADLINE_REASON`].
//! * A **per-address limit**: an address (an IPv4 address, or an IPv6 /64, the block one
//!   subscriber usually holds) may hold `--max-unjoined-per-ip` sockets that have not joined;
//!   one more is refused with HTTP 429 before the upgrade. Loopback counts like any address.
//!   Test suites and load tests open hundreds of sockets from 127.0.0.1, but each joins at
//!   once, so few are unjoined at any moment.
//! * **Small buffers**: the WebSocket reads in [`READ_BUFFER_BYTES`] chunks (tungstenite's
//!   default reserves and zero-fills 128 KiB per socket up front); a frame larger than that
//!   grows the buffer to its size, which only a client that sent one pays for.
//!
//! Both refusals are counted in `sfu_signalling_unjoined_closed_total{reason}`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::warn;

/// The WebSocket read buffer of a signalling socket. Signalling frames are small JSON (SDP is
/// the largest, a few KiB); a larger frame grows the buffer to its size.
pub(crate) const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Close code at the join deadline (RFC 6455 §7.4.1: 1008, policy violation).
pub(crate) const CLOSE_JOIN_DEADLINE: u16 = 1008;

/// Close reason at the join deadline.
pub(crate) const JOIN_DEADLINE_REASON: &str = "no join_room within the join deadline";

/// The sockets not yet joined, counted by address, and the rules they live under. Cheap to
/// clone (the counts are shared).
#[derive(Debug, Clone)]
pub(crate) struct UnjoinedSockets {
    join_deadline: Duration,
    per_address: u32,
    counts: Arc<Mutex<HashMap<AddressKey, u32>>>,
}

/// What the limit counts by: an IPv4 address, an IPv6 /64, or "unknown" when the listener did
/// not hand over the peer's address (`ConnectInfo`). Unknown sockets are counted but never
/// refused: one shared count would let a single client lock everyone else out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
    Unknown,
}

impl AddressKey {
    fn of(ip: Option<IpAddr>) -> Self {
        match ip.map(canonical) {
            Some(IpAddr::V4(v4)) => AddressKey::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => {
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                AddressKey::V6Prefix(prefix)
            }
            None => AddressKey::Unknown,
        }
    }
}

/// An IPv4 client on a dual-stack listener shows up as `::ffff:a.b.c.d`: count it as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl UnjoinedSockets {
    /// Sockets closed `join_deadline` after their upgrade unless they joined, at most
    /// `per_address` of them per address at once.
    pub(crate) fn new(join_deadline: Duration, per_address: u32) -> Self {
        Self {
            join_deadline,
            per_address,
            counts: Arc::default(),
        }
    }

    /// How long a socket may stay unjoined.
    pub(crate) fn join_deadline(&self) -> Duration {
        self.join_deadline
    }

    /// Takes a place for a new socket from `ip`; `None` when the address already holds its
    /// limit of unjoined sockets. The place is given back when the returned slot is dropped.
    pub(crate) fn try_take(&self, ip: Option<IpAddr>) -> Option<UnjoinedSlot> {
        let key = AddressKey::of(ip);
        let mut counts = self.lock();
        let count = counts.entry(key).or_insert(0);
        if *count >= self.per_address && key != AddressKey::Unknown {
            return None;
        }
        if key == AddressKey::Unknown && *count == 0 {
            warn!(
                "signalling socket without a peer address: the per-address limit of unjoined \
                 sockets does not apply (serve with ConnectInfo<SocketAddr>)"
            );
        }
        *count += 1;
        Some(UnjoinedSlot {
            sockets: self.clone(),
            key,
        })
    }

    /// Unjoined sockets from `ip` now (the unit tests read it).
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> u32 {
        self.lock()
            .get(&AddressKey::of(Some(ip)))
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, u32>> {
        // Every update is one insert, increment or removal: a poisoned map is still whole.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for UnjoinedSockets {
    /// The defaults of `--join-deadline` and `--max-unjoined-per-ip`.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 64)
    }
}

/// One unjoined socket's place in its address's count; dropping it (the socket joined or
/// closed) gives the place back.
#[derive(Debug)]
pub(crate) struct UnjoinedSlot {
    sockets: UnjoinedSockets,
    key: AddressKey,
}

impl Drop for UnjoinedSlot {
    fn drop(&mut self) {
        let mut counts = self.sockets.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // No entry per address once idle: the map holds only addresses with sockets.
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // An address holds at most its limit of unjoined sockets; a place comes back when its slot
    // is dropped, and an idle address leaves no entry behind.
    #[test]
    fn an_address_holds_at_most_its_limit() {
        let sockets = UnjoinedSockets::new(Duration::from_secs(1), 2);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let first = sockets.try_take(Some(ip)).expect("first");
        let second = sockets.try_take(Some(ip)).expect("second");
        assert!(sockets.try_take(Some(ip)).is_none());
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert!(sockets.try_take(Some(other)).is_some(), "another address");
        drop(first);
        assert_eq!(sockets.count(ip), 1);
        assert!(sockets.try_take(Some(ip)).is_some());
        drop(second);
        assert!(sockets.lock().is_empty(), "every slot was dropped");
    }

    // IPv6 addresses count by /64; an IPv4-mapped address counts as the IPv4 address.
    #[test]
    fn ipv6_counts_by_prefix_and_mapped_ipv4_as_ipv4() {
        let sockets = UnjoinedSockets::new(Duration::from_secs(1), 1);
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        let _a = sockets.try_take(Some(a)).expect("first of the /64");
        assert!(sockets.try_take(Some(b)).is_none(), "same /64");
        assert!(sockets
            .try_take(Some(IpAddr::V6(Ipv6Addr::LOCALHOST)))
            .is_some());
        let _v4 = sockets
            .try_take(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))))
            .expect("v4");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("mapped");
        assert!(
            sockets.try_take(Some(mapped)).is_none(),
            "same IPv4 address"
        );
    }

    // Sockets whose address the listener did not hand over are never refused: a shared count
    // would let one client lock out every other.
    #[test]
    fn sockets_without_an_address_are_not_refused() {
        let sockets = UnjoinedSockets::new(Duration::from_secs(1), 1);
        let slots: Vec<_> = (0..3).map(|_| sockets.try_take(None)).collect();
        assert!(slots.iter().all(Option::is_some));
    }
}
