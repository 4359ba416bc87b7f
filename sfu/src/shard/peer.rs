//! `Peer`: one str0m `Rtc` (one WebRTC transport) on a shard, and the panic fence around it.
//!
//! str0m panics on internal bugs by design (its crate docs, "Panics, Errors and unwraps");
//! an `Rtc` has no threads, locks or tasks, so discarding one after a panic leaves nothing
//! poisoned. Every call into an `Rtc` goes through [`Peer::guard`] (or [`Peer::drive`],
//! [`Peer::guard_uplink`], [`Peer::guard_downlink`], built on the same fence), and a panic
//! drops that one peer, never the shard (ARCHITECTURE.md §1).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate as RtcBitrate;
use str0m::crypto::CryptoProvider;
use str0m::net::TcpType;
use str0m::{Candidate, Rtc};

use super::downlink::Downlink;
use super::room_id::RoomId;
use super::rtcp_tally::RtcpTally;
use super::stats::{CandidateType, TransportFailureCause};
use super::transport_kind::TransportKind;
use super::uplink::Uplink;
use crate::core::ParticipantId;

slotmap::new_key_type! {
    /// One `Rtc` on the shard.
    pub(crate) struct PeerKey;
}

/// Relay candidates remembered per transport.
const RELAY_ADDRS: usize = 8;

/// How often str0m reports each stream's RTCP counts (`MediaIngressStats`, `MediaEgressStats`).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) enum Role {
    Uplink(Uplink),
    Downlink(Downlink),
}

#[derive(Debug)]
pub(crate) struct Peer {
    rtc: Rtc,
    pub participant: ParticipantId,
    pub room: RoomId,
    pub role: Role,
    /// When str0m next wants a timeout; `None` until the first poll.
    pub next_timeout: Option<Instant>,
    /// Remote addresses this peer accepted, for the demux map (removed with the peer).
    pub addrs: Vec<SocketAddr>,
    /// Queued for polling in the shard's dirty list.
    pub queued: bool,
    pub connected: bool,
    /// Whether the last packet the peer took in came over ICE-TCP (at `Event::Connected`:
    /// the candidate type of the pair that completed DTLS).
    pub via_tcp: bool,
    /// Where the last UDP datagram the peer took in came from.
    pub last_source: Option<SocketAddr>,
    /// The client's relay candidates, as it trickled them (a few at most).
    relay_addrs: Vec<SocketAddr>,
    /// The str0m stats last seen per stream, turned into the shard's RTCP totals.
    pub rtcp: RtcpTally,
}

/// A peer's `Rtc` panicked or returned an error it cannot continue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerFault(pub String);

impl PeerFault {
    pub(crate) fn ice_disconnected() -> PeerFault {
        PeerFault(ICE_DISCONNECTED.to_owned())
    }

    /// This fault's cause, the label it is counted under.
    pub(crate) fn cause(&self) -> TransportFailureCause {
        if self.0 == ICE_DISCONNECTED {
            TransportFailureCause::Ice
        } else if self.0.starts_with(PANICKED) {
            TransportFailureCause::Panic
        } else {
            TransportFailureCause::Error
        }
    }
}

const ICE_DISCONNECTED: &str = "ICE disconnected";
const PANICKED: &str = "str0m panicked";

/// How the shard builds its transports.
#[derive(Debug, Clone)]
pub(crate) struct PeerSetup {
    pub crypto: Arc<CryptoProvider>,
    /// The host candidates every peer advertises: each public IP with the shard's (advertised)
    /// port, in the configured order.
    pub candidates: Vec<SocketAddr>,
    /// The ICE-TCP candidates (RFC 6544 passive), each public IP with the shard's TCP port;
    /// empty when ICE-TCP is off.
    pub tcp_candidates: Vec<SocketAddr>,
    /// The first downlink bandwidth estimate, before TWCC feedback refines it.
    pub initial_estimate: RtcBitrate,
    pub desired_bitrate: RtcBitrate,
}

impl PeerSetup {
    /// The candidate a datagram from `source` is taken to have arrived on: the first of its
    /// address family. str0m drops STUN that names no local candidate; a socket bound to
    /// several addresses cannot tell which one the peer used, and need not (replies leave from
    /// the same socket).
    pub(crate) fn candidate_for(&self, source: SocketAddr) -> Option<SocketAddr> {
        same_family(&self.candidates, source)
    }

    /// [`PeerSetup::candidate_for`] of a frame on an ICE-TCP connection.
    pub(crate) fn tcp_candidate_for(&self, source: SocketAddr) -> Option<SocketAddr> {
        same_family(&self.tcp_candidates, source)
    }
}

fn same_family(candidates: &[SocketAddr], source: SocketAddr) -> Option<SocketAddr> {
    candidates
        .iter()
        .copied()
        .find(|c| c.is_ipv4() == source.is_ipv4())
}

impl Peer {
    pub(crate) fn new(
        now: Instant,
        setup: &PeerSetup,
        participant: ParticipantId,
        room: RoomId,
        role: Role,
    ) -> Result<Peer, PeerFault> {
        let subscriber = matches!(role, Role::Downlink(_));
        // Building an `Rtc` generates its DTLS certificate; fence it like every str0m call.
        let build = || {
            let mut config = Rtc::builder()
                .set_crypto_provider(Arc::clone(&setup.crypto))
                // The server has a public address and only answers connectivity checks
                // (RFC 8445 §2.5), like every SFU.
                .set_ice_lite(true)
                .set_rtp_mode(true)
                .clear_codecs()
                // Opus with RFC 2198 RED where the client offers or accepts it (issue 13
                // goal 4: audio repaired under loss); RED packets are forwarded as they come.
                .enable_opus(true, true)
                .enable_vp8(true)
                .enable_h264(true)
                // NACK, PLI and FIR counts per stream for the metrics (str0m has no cheaper
                // way to report them); one report per stream a second is little work.
                .set_stats_interval(Some(STATS_INTERVAL));
            if subscriber {
                // TWCC bandwidth estimation for what the server sends (ARCHITECTURE.md §4).
                config = config.enable_bwe(Some(setup.initial_estimate));
            }
            let mut rtc = config.build(now);
            for addr in &setup.candidates {
                let candidate = Candidate::host(*addr, "udp")
                    .map_err(|e| PeerFault(format!("host candidate {addr}: {e}")))?;
                rtc.add_local_candidate(candidate);
            }
            // After the UDP ones; str0m gives TCP host candidates a lower type preference (90
            // against 126, libwebrtc's values), so a client that can use UDP does.
            for addr in &setup.tcp_candidates {
                let candidate = Candidate::builder()
                    .tcp()
                    .host(*addr)
                    .tcptype(TcpType::Passive)
                    .build()
                    .map_err(|e| PeerFault(format!("TCP host candidate {addr}: {e}")))?;
                rtc.add_local_candidate(candidate);
            }
            if subscriber {
                // Probe towards a typical demand until the core reports this downlink's own
                // (`CoreEvent::DownlinkDemand`). No minimum: str0m would pad the transport up
                // to it whenever media sends less, e.g. to every audio-only listener.
                rtc.bwe()
                    .set_bitrate(RtcBitrate::ZERO, setup.desired_bitrate);
            }
            Ok(rtc)
        };
        let rtc = catch_unwind(build).map_err(|p| PeerFault(panic_text(&p)))??;
        Ok(Peer {
            rtc,
            participant,
            room,
            role,
            next_timeout: None,
            addrs: Vec::new(),
            queued: false,
            connected: false,
            via_tcp: false,
            last_source: None,
            relay_addrs: Vec::new(),
            rtcp: RtcpTally::default(),
        })
    }

    /// Runs `f` on the `Rtc`, turning a panic inside str0m into a fault of this peer.
    pub(crate) fn guard<R>(&mut self, f: impl FnOnce(&mut Rtc) -> R) -> Result<R, PeerFault> {
        let rtc = &mut self.rtc;
        catch_unwind(AssertUnwindSafe(|| f(rtc))).map_err(|p| PeerFault(panic_text(&p)))
    }

    /// Runs a fallible call on the `Rtc`: a panic inside str0m and an error it returns both
    /// become a fault of this peer (the error's text after `what`), so a caller has one
    /// result to handle.
    pub(crate) fn drive<R, E: std::fmt::Display>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Rtc) -> Result<R, E>,
    ) -> Result<R, PeerFault> {
        self.guard(f)?
            .map_err(|e| PeerFault(format!("{what}: {e}")))
    }

    /// Remembers a relay candidate of the client's (RELAY_ADDRS at most: a client has one
    /// per TURN server and address family).
    pub(crate) fn add_relay_addr(&mut self, addr: SocketAddr) {
        if self.relay_addrs.len() < RELAY_ADDRS && !self.relay_addrs.contains(&addr) {
            self.relay_addrs.push(addr);
        }
    }

    /// How the client reaches this transport now: over ICE-TCP, from one of its relay
    /// candidates, or else directly over UDP.
    pub(crate) fn candidate_type(&self) -> CandidateType {
        if self.via_tcp {
            CandidateType::Tcp
        } else if self
            .last_source
            .is_some_and(|s| self.relay_addrs.contains(&s))
        {
            CandidateType::Relay
        } else {
            CandidateType::Host
        }
    }

    pub(crate) fn accepts(&self, input: &str0m::Input) -> bool {
        // `accepts` only reads state; a panic there is still a str0m bug of this peer, and
        // the shard treats it as "not mine" rather than failing every lookup.
        catch_unwind(AssertUnwindSafe(|| self.rtc.accepts(input))).unwrap_or(false)
    }

    /// [`Peer::guard`] on a publisher transport, with its `Uplink` alongside the `Rtc`;
    /// `Ok(None)` on a subscriber transport.
    pub(crate) fn guard_uplink<R>(
        &mut self,
        f: impl FnOnce(&mut Uplink, &mut Rtc) -> R,
    ) -> Result<Option<R>, PeerFault> {
        let Role::Uplink(uplink) = &mut self.role else {
            return Ok(None);
        };
        let rtc = &mut self.rtc;
        catch_unwind(AssertUnwindSafe(|| Some(f(uplink, rtc))))
            .map_err(|p| PeerFault(panic_text(&p)))
    }

    /// [`Peer::guard`] on a subscriber transport, with its `Downlink` alongside the `Rtc`;
    /// `Ok(None)` on a publisher transport.
    pub(crate) fn guard_downlink<R>(
        &mut self,
        f: impl FnOnce(&mut Downlink, &mut Rtc) -> R,
    ) -> Result<Option<R>, PeerFault> {
        let Role::Downlink(downlink) = &mut self.role else {
            return Ok(None);
        };
        let rtc = &mut self.rtc;
        catch_unwind(AssertUnwindSafe(|| Some(f(downlink, rtc))))
            .map_err(|p| PeerFault(panic_text(&p)))
    }

    pub(crate) fn downlink(&self) -> Option<&Downlink> {
        match &self.role {
            Role::Downlink(d) => Some(d),
            Role::Uplink(_) => None,
        }
    }

    pub(crate) fn downlink_mut(&mut self) -> Option<&mut Downlink> {
        match &mut self.role {
            Role::Downlink(d) => Some(d),
            Role::Uplink(_) => None,
        }
    }

    pub(crate) fn uplink(&self) -> Option<&Uplink> {
        match &self.role {
            Role::Uplink(u) => Some(u),
            Role::Downlink(_) => None,
        }
    }

    pub(crate) fn transport(&self) -> TransportKind {
        match self.role {
            Role::Uplink(_) => TransportKind::Publisher,
            Role::Downlink(_) => TransportKind::Subscriber,
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("{PANICKED}: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("{PANICKED}: {s}")
    } else {
        PANICKED.to_string()
    }
}
