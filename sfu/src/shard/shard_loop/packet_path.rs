//! The packet path through a shard: an RTP packet from a publisher's `Rtc` into its room's
//! `MediaCore`, and each output the core then gives routed to the transport it concerns
//! (forwards to subscriber transports, keyframe requests to the publisher's, bandwidth demand
//! to the downlink's estimator, layer changes out as events).

use std::time::Instant;

use str0m::rtp::RtpPacket;
use tracing::{debug, info};

use crate::clock;
use crate::core::{CoreEvent, Input, Output, PublicationSpec};
use crate::shard::downlink::Written;
use crate::shard::event::{ForwardingChange, ShardEvent};
use crate::shard::fixed_histogram::{FORWARDING_LATENCY_BOUNDS_NS, JOIN_LATENCY_BOUNDS_NS};
use crate::shard::peer::PeerKey;
use crate::shard::room::PublicationInfo;
use crate::shard::room_id::RoomId;
use crate::shard::stats::layer_switch_reason;
use crate::shard::uplink::{rtp_in, Mapped, NewStream};

use super::ShardLoop;

impl ShardLoop {
    pub(super) fn handle_rtp(&mut self, key: PeerKey, now: Instant, pkt: &RtpPacket) {
        self.stats.rtp_in += 1;
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let (room_id, participant) = (peer.room, peer.participant);
        let mapped = match peer.uplink().and_then(|u| u.encoding_of(pkt.header.ssrc)) {
            Some(m) => m,
            None => match self.map_new_ssrc(key, now, pkt) {
                Some(m) => m,
                None => {
                    self.stats.rtp_unmapped += 1;
                    return;
                }
            },
        };
        let Mapped {
            publication,
            encoding,
            codec,
            red_pt,
        } = mapped;
        let rtp = match rtp_in(pkt, codec, red_pt) {
            Ok(r) => r,
            Err(_) => {
                self.stats.rtp_malformed_payload += 1;
                return;
            }
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        debug_assert!(room.participants.contains(&participant));
        if let Some(level) = rtp.header.audio_level {
            room.speakers.observe(participant, level);
        }
        room.core.handle_input(Input::Rtp {
            at: now,
            publication,
            encoding,
            pkt: rtp,
        });
        self.rtp_received_at = Some(now);
        self.drain_core(room_id, now);
        self.rtp_received_at = None;
    }

    /// The first packet of an SSRC: find its track, creating the publication on the first
    /// packet of a new track (its codec is known only now).
    fn map_new_ssrc(&mut self, key: PeerKey, now: Instant, pkt: &RtpPacket) -> Option<Mapped> {
        let peer = self.peers.get_mut(key)?;
        let classified = peer.guard_uplink(|u, rtc| u.classify(rtc, pkt));
        let spec = match classified {
            Err(fault) => {
                self.fail(key, fault);
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Err(why))) => {
                debug!(?why, ssrc = %pkt.header.ssrc, "unmapped RTP stream");
                return None;
            }
            Ok(Some(Ok(NewStream::Known(m)))) => return Some(m),
            Ok(Some(Ok(NewStream::NewTrack(spec)))) => spec,
        };
        let (room_id, participant) = (peer.room, peer.participant);
        let room = self.rooms.get_mut(&room_id)?;
        let publication = room
            .core
            .add_publication(PublicationSpec {
                participant,
                stream: spec.stream,
                codec: spec.codec,
                encodings: spec.encodings,
            })
            .ok()?;
        room.publications.insert(
            publication,
            PublicationInfo {
                peer: key,
                participant,
                stream: spec.stream,
                codec: spec.codec,
            },
        );
        let bound = peer.guard_uplink(|u, rtc| u.bind_track(rtc, &spec, publication));
        if let Err(fault) = bound {
            self.fail(key, fault);
            return None;
        }
        info!(%participant, ?publication, stream = %spec.stream.stream, kind = ?spec.stream.kind,
              codec = ?spec.codec, encodings = spec.encodings, "publication added");
        self.drain_core(room_id, now);
        self.events.emit(ShardEvent::PublicationAdded {
            room: room_id,
            participant,
            publication,
            stream: spec.stream,
            codec: spec.codec,
            encodings: spec.encodings,
        });
        Some(Mapped {
            publication,
            encoding: spec.encoding,
            codec: spec.codec,
            red_pt: spec.red_pt,
        })
    }

    /// Drains the room's core until its timeout, doing what each output asks.
    pub(super) fn drain_core(&mut self, room_id: RoomId, now: Instant) {
        loop {
            let Some(room) = self.rooms.get_mut(&room_id) else {
                return;
            };
            match room.core.poll_output() {
                Output::Timeout(_) => return,
                Output::Forward(f) => {
                    let Some(&key) = room.downlink_peers.get(f.downlink) else {
                        self.stats.forwards_dropped += 1;
                        continue;
                    };
                    let Some(peer) = self.peers.get_mut(key) else {
                        self.stats.forwards_dropped += 1;
                        continue;
                    };
                    let connected = peer.connected;
                    let written = peer
                        .guard_downlink(|d, rtc| {
                            d.write(rtc, f.subscription, &f.pkt, now, connected)
                        })
                        .map(Option::flatten);
                    match written {
                        Ok(Some(Written { first_media })) => {
                            self.stats.forwards_written += 1;
                            if let Some(received) = self.rtp_received_at {
                                self.stats.forwarding_latency.record_duration(
                                    &FORWARDING_LATENCY_BOUNDS_NS,
                                    clock::now().saturating_duration_since(received),
                                );
                            }
                            if let Some(joined) = first_media {
                                self.stats.join_latency.record_duration(
                                    &JOIN_LATENCY_BOUNDS_NS,
                                    now.saturating_duration_since(joined),
                                );
                            }
                            self.mark_dirty(key);
                        }
                        Ok(None) => self.stats.forwards_dropped += 1,
                        Err(fault) => self.fail(key, fault),
                    }
                }
                Output::RequestKeyframe {
                    publication,
                    encoding,
                    kind,
                } => {
                    let Some(info) = room.publications.get(publication) else {
                        continue;
                    };
                    let key = info.peer;
                    let Some(peer) = self.peers.get_mut(key) else {
                        continue;
                    };
                    let sent = peer.guard_uplink(|u, rtc| {
                        u.request_keyframe(rtc, publication, encoding, kind)
                    });
                    match sent {
                        Ok(Some(true)) => {
                            self.stats.keyframe_requests_sent += 1;
                            self.mark_dirty(key);
                        }
                        Ok(Some(false) | None) => {}
                        Err(fault) => self.fail(key, fault),
                    }
                }
                Output::Event(e) => {
                    let (subscription, change) = match e {
                        CoreEvent::LayerChanged {
                            subscription,
                            layer,
                        } => {
                            let before = room
                                .subscriptions
                                .get_mut(subscription)
                                .and_then(|s| s.layer.replace(layer));
                            self.stats.layer_switches[layer_switch_reason(before, layer)] += 1;
                            let target = room.core.layers(subscription).and_then(|l| l.target);
                            let change = ForwardingChange::Layer {
                                current: layer,
                                target,
                            };
                            (subscription, change)
                        }
                        CoreEvent::Paused { subscription } => {
                            if let Some(s) = room.subscriptions.get_mut(subscription) {
                                s.layer = None;
                            }
                            (subscription, ForwardingChange::Paused)
                        }
                        CoreEvent::Resumed { subscription } => {
                            (subscription, ForwardingChange::Resumed)
                        }
                        CoreEvent::DownlinkDemand { downlink, bitrate } => {
                            let Some(&key) = room.downlink_peers.get(downlink) else {
                                continue;
                            };
                            let Some(peer) = self.peers.get_mut(key) else {
                                continue;
                            };
                            if let Err(fault) =
                                peer.guard_downlink(|d, rtc| d.set_demand(rtc, bitrate))
                            {
                                self.fail(key, fault);
                            }
                            continue;
                        }
                        CoreEvent::PolicyInstalled { .. } => continue,
                    };
                    let subscriber = room
                        .subscriptions
                        .get(subscription)
                        .and_then(|s| self.peers.get(s.peer))
                        .map(|p| p.participant);
                    if let Some(participant) = subscriber {
                        self.events.emit(ShardEvent::ForwardingChanged {
                            room: room_id,
                            participant,
                            subscription,
                            change,
                        });
                    }
                }
            }
        }
    }
}
