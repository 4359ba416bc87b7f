//! What a transport's str0m events mean for the shard: a connected transport is reported and
//! its downlink restarted on keyframes, an RTP packet takes the packet path, and keyframe
//! requests, bandwidth estimates and receiver-reported loss of a subscriber go into its room's
//! core; an ICE disconnect fails the transport.

use std::time::Instant;

use str0m::bwe::BweKind;
use str0m::media::KeyframeRequestKind;
use str0m::stats::MediaEgressStats;
use str0m::{Event, IceConnectionState};

use crate::core::{Bitrate, Input, KeyframeKind};
use crate::shard::event::ShardEvent;
use crate::shard::fixed_histogram::BANDWIDTH_BOUNDS_BPS;
use crate::shard::peer::{PeerFault, PeerKey};

use super::ShardLoop;

impl ShardLoop {
    pub(super) fn handle_peer_event(&mut self, key: PeerKey, now: Instant, event: Event) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        match event {
            Event::Connected => {
                peer.connected = true;
                self.stats.transports_connected[peer.candidate_type().index()] += 1;
                let e = ShardEvent::TransportConnected {
                    room: peer.room,
                    participant: peer.participant,
                    transport: peer.transport(),
                };
                self.events.emit(e);
                self.restart_downlink_on_connect(key, now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(key, PeerFault::ice_disconnected());
            }
            Event::RtpPacket(pkt) => self.handle_rtp(key, now, &pkt),
            Event::KeyframeRequest(req) => {
                self.stats.keyframe_requests_received += 1;
                let (room, sub) = match peer.downlink() {
                    Some(d) => (peer.room, d.subscription_at(req.mid)),
                    None => return,
                };
                let Some(subscription) = sub else {
                    return;
                };
                let kind = match req.kind {
                    KeyframeRequestKind::Pli => KeyframeKind::Pli,
                    KeyframeRequestKind::Fir => KeyframeKind::Fir,
                };
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.core.handle_input(Input::Feedback {
                        at: now,
                        subscription,
                        kind,
                    });
                }
                self.drain_core(room, now);
            }
            Event::EgressBitrateEstimate(
                BweKind::Twcc {
                    estimate: bitrate, ..
                }
                | BweKind::Remb {
                    estimate: bitrate, ..
                },
            ) => {
                self.stats
                    .bandwidth_estimates
                    .record(&BANDWIDTH_BOUNDS_BPS, bitrate.as_u64());
                let Some(d) = peer.downlink() else {
                    return;
                };
                let (room, downlink) = (peer.room, d.id);
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.core.handle_input(Input::Estimate {
                        at: now,
                        downlink,
                        bitrate: Bitrate(bitrate.as_u64()),
                    });
                }
                self.drain_core(room, now);
            }
            Event::MediaEgressStats(stats) => {
                let written = peer.downlink().and_then(|d| d.written(stats.mid));
                peer.rtcp.egress(&mut self.stats.rtcp, &stats, written);
                self.feed_receiver_loss(key, now, &stats);
            }
            Event::MediaIngressStats(stats) => peer.rtcp.ingress(&mut self.stats.rtcp, &stats),
            _ => {}
        }
    }

    /// A subscriber transport just connected: the core restarts its video on keyframes and
    /// asks the publishers for them (what was written before could not reach the client).
    fn restart_downlink_on_connect(&mut self, key: PeerKey, now: Instant) {
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let Some(downlink) = peer.downlink().map(|d| d.id) else {
            return;
        };
        let room = peer.room;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.core
                .handle_input(Input::DownlinkConnected { at: now, downlink });
        }
        self.drain_core(room, now);
    }

    /// Hands the loss a subscriber reported for one of its streams (receiver reports, via
    /// str0m's stats) to the room's core: sustained loss is what may pause a lowest layer
    /// (`core::congestion`).
    fn feed_receiver_loss(&mut self, key: PeerKey, now: Instant, stats: &MediaEgressStats) {
        let Some(loss) = stats.loss else {
            return;
        };
        let Some(peer) = self.peers.get(key) else {
            return;
        };
        let Some(subscription) = peer.downlink().and_then(|d| d.subscription_at(stats.mid)) else {
            return;
        };
        let room = peer.room;
        // A fraction in 0..=1 (RFC 3550 fraction lost / 255); NaN or junk clamps to the range.
        let lost_per_mille = (f64::from(loss) * 1000.0).round().clamp(0.0, 1000.0) as u16;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.core.handle_input(Input::Loss {
                at: now,
                subscription,
                lost_per_mille,
            });
        }
        self.drain_core(room, now);
    }
}
