//! The subscriber's NACK generator, made aware of RTX repairs (RFC 4588).
//!
//! rtc-interceptor 0.21.1's `NackGeneratorInterceptor` keeps a receive log per SSRC, and a
//! retransmission arrives on the RTX SSRC with its own sequence number: the repaired packet
//! never enters the media stream's log, so the generator asks for it again every interval
//! until `MAX_NACKS_PER_PACKET`, and the SFU's retransmissions per lost packet measured 2.2-2.4
//! where a browser (which stops asking once a packet is repaired) would cause about 1 (issue 13,
//! goal 4). [`RtxAwareNackGenerator`] wraps the generator and, for each RTX packet, shows it a
//! copy carrying the media SSRC and the original sequence number (the OSN, the first two payload
//! bytes); the packet itself goes on untouched (the endpoint unwraps it for the application).
//! It also keeps the RTX SSRC's own sequence space out of the generator: a browser never asks
//! for a lost retransmission or padding packet by its RTX sequence number.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use rtc::interceptor::{
    AttributedPacket, Interceptor, NackGeneratorInterceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Which media stream an RTX SSRC repairs, and with which payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RepairFlow {
    media_ssrc: u32,
    payload_type: u8,
}

/// The NACK generator with RTX repairs counted as arrivals of the packets they repair.
pub struct RtxAwareNackGenerator {
    inner: NackGeneratorInterceptor,
    /// RTX SSRC -> the stream it repairs (from the media stream's `StreamInfo`).
    flows: HashMap<u32, RepairFlow>,
    read_queue: VecDeque<TaggedPacket>,
}

impl std::fmt::Debug for RtxAwareNackGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtxAwareNackGenerator")
            .field("flows", &self.flows)
            .finish_non_exhaustive()
    }
}

impl RtxAwareNackGenerator {
    /// Wraps webrtc-rs's NACK generator.
    pub fn new(inner: NackGeneratorInterceptor) -> Self {
        Self {
            inner,
            flows: HashMap::new(),
            read_queue: VecDeque::new(),
        }
    }

    /// Moves what the generator passed on into our queue (it passes every packet it is given).
    fn drain_inner(&mut self) {
        while let Some(msg) = self.inner.poll_read() {
            self.read_queue.push_back(msg);
        }
    }
}

/// The media packet an RTX packet repairs, as the receive log should see it: `None` when the
/// packet is not a retransmission of `flow` (another payload type, or padding without an OSN).
fn unwrapped(
    packet: &rtc::rtp::packet::Packet,
    flow: RepairFlow,
) -> Option<rtc::rtp::packet::Packet> {
    let osn = packet.payload.get(..2)?;
    if packet.header.payload_type == flow.payload_type {
        let mut media = packet.clone();
        media.header.ssrc = flow.media_ssrc;
        media.header.sequence_number = u16::from_be_bytes([osn[0], osn[1]]);
        media.payload = packet.payload.slice(2..);
        Some(media)
    } else {
        None
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtxAwareNackGenerator {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let repair = match &msg.message.packet {
            Packet::Rtp(rtp) => self
                .flows
                .get(&rtp.header.ssrc)
                .map(|flow| unwrapped(rtp, *flow)),
            _ => None,
        };
        match repair {
            // An RTX packet: the generator logs the repaired sequence number from a copy that
            // it consumes here; the original goes on as it came.
            Some(media) => {
                self.drain_inner();
                if let Some(media) = media {
                    self.inner.handle_read(TaggedPacket {
                        now: msg.now,
                        transport: msg.transport,
                        message: AttributedPacket::new(Packet::Rtp(media)),
                    })?;
                    while self.inner.poll_read().is_some() {}
                }
                self.read_queue.push_back(msg);
            }
            None => {
                self.inner.handle_read(msg)?;
                self.drain_inner();
            }
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.drain_inner();
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.inner.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.inner.poll_write()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.inner.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close()
    }
}

impl Interceptor for RtxAwareNackGenerator {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_local_stream(info);
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_local_stream(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        // webrtc-rs binds a media stream (naming its RTX SSRC) before its RTX stream, which it
        // binds again in its own right: that second bind is not a stream to NACK.
        if self.flows.contains_key(&info.ssrc) {
            return;
        }
        if let (Some(rtx_ssrc), Some(payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.flows.insert(
                rtx_ssrc,
                RepairFlow {
                    media_ssrc: info.ssrc,
                    payload_type,
                },
            );
        }
        self.inner.bind_remote_stream(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if self.flows.contains_key(&info.ssrc) {
            return;
        }
        if let Some(rtx_ssrc) = info.ssrc_rtx {
            self.flows.remove(&rtx_ssrc);
        }
        self.inner.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rtc::interceptor::{NackGeneratorBuilder, RTCPFeedback};
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
    use rtc::shared::TransportContext;

    use super::*;

    const MEDIA: u32 = 1000;
    const RTX: u32 = 2000;
    const VP8: u8 = 96;
    const RTX_PT: u8 = 97;

    fn generator() -> RtxAwareNackGenerator {
        let mut g = RtxAwareNackGenerator::new(
            NackGeneratorBuilder::new()
                .with_interval(Duration::from_millis(100))
                .with_max_nacks_per_packet(3)
                .build(),
        );
        let nack = vec![RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: String::new(),
        }];
        // The order webrtc-rs binds them in: the media stream naming its RTX flow, then the
        // RTX stream in its own right.
        g.bind_remote_stream(&StreamInfo {
            ssrc: MEDIA,
            ssrc_rtx: Some(RTX),
            payload_type: VP8,
            payload_type_rtx: Some(RTX_PT),
            rtcp_feedback: nack.clone(),
            ..StreamInfo::default()
        });
        g.bind_remote_stream(&StreamInfo {
            ssrc: RTX,
            payload_type: RTX_PT,
            rtcp_feedback: nack,
            ..StreamInfo::default()
        });
        g
    }

    fn rtp(ssrc: u32, payload_type: u8, seq: u16, payload: &[u8]) -> rtc::rtp::Packet {
        let mut packet = rtc::rtp::Packet::default();
        packet.header.ssrc = ssrc;
        packet.header.payload_type = payload_type;
        packet.header.sequence_number = seq;
        packet.payload = payload.to_vec().into();
        packet
    }

    fn tagged(now: Instant, packet: rtc::rtp::Packet) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        }
    }

    /// Feeds packets and returns what came out of the read side.
    fn read(
        g: &mut RtxAwareNackGenerator,
        now: Instant,
        packets: Vec<rtc::rtp::Packet>,
    ) -> Vec<rtc::rtp::Packet> {
        let mut out = Vec::new();
        for packet in packets {
            g.handle_read(tagged(now, packet)).unwrap();
            while let Some(msg) = g.poll_read() {
                match msg.message.packet {
                    Packet::Rtp(p) => out.push(p),
                    _ => panic!("only RTP was fed"),
                }
            }
        }
        out
    }

    /// Runs the NACK timer at `at` and returns the (SSRC, sequence numbers) asked for.
    fn nacks(g: &mut RtxAwareNackGenerator, at: Instant) -> Vec<(u32, Vec<u16>)> {
        g.handle_timeout(at).unwrap();
        let mut asked = Vec::new();
        while let Some(msg) = g.poll_write() {
            let Packet::Rtcp(packets) = msg.message.packet else {
                continue;
            };
            for p in packets {
                if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                    let seqs = nack
                        .nacks
                        .iter()
                        .flat_map(|pair| pair.packet_list())
                        .collect();
                    asked.push((nack.media_ssrc, seqs));
                }
            }
        }
        asked
    }

    /// RTX payload: the OSN, then the original payload.
    fn rtx_payload(osn: u16) -> Vec<u8> {
        let mut payload = osn.to_be_bytes().to_vec();
        payload.extend_from_slice(b"media");
        payload
    }

    #[test]
    fn a_lost_packet_is_asked_for_until_the_cap_without_its_repair() {
        // The counter-check: the generator alone keeps asking (what the load tester did).
        let mut g = generator();
        let t0 = Instant::now();
        read(
            &mut g,
            t0,
            vec![
                rtp(MEDIA, VP8, 1, b"a"),
                rtp(MEDIA, VP8, 2, b"b"),
                rtp(MEDIA, VP8, 4, b"d"),
            ],
        );
        let mut asked = 0;
        for i in 1..=5 {
            asked += nacks(&mut g, t0 + Duration::from_millis(100 * i))
                .iter()
                .filter(|(ssrc, seqs)| *ssrc == MEDIA && seqs.contains(&3))
                .count();
        }
        assert_eq!(
            asked, 3,
            "MAX_NACKS_PER_PACKET requests for the missing packet"
        );
    }

    #[test]
    fn a_packet_repaired_over_rtx_is_not_asked_for_again() {
        let mut g = generator();
        let t0 = Instant::now();
        read(
            &mut g,
            t0,
            vec![
                rtp(MEDIA, VP8, 1, b"a"),
                rtp(MEDIA, VP8, 2, b"b"),
                rtp(MEDIA, VP8, 4, b"d"),
            ],
        );
        let first = nacks(&mut g, t0 + Duration::from_millis(100));
        assert_eq!(first, vec![(MEDIA, vec![3])]);

        let repair = rtp(RTX, RTX_PT, 500, &rtx_payload(3));
        let out = read(
            &mut g,
            t0 + Duration::from_millis(120),
            vec![repair.clone()],
        );
        assert_eq!(out, vec![repair], "the RTX packet itself goes on untouched");
        for i in 2..=5 {
            assert_eq!(nacks(&mut g, t0 + Duration::from_millis(100 * i)), vec![]);
        }
    }

    #[test]
    fn media_packets_pass_through_in_order() {
        let mut g = generator();
        let t0 = Instant::now();
        let packets = vec![
            rtp(MEDIA, VP8, 7, b"a"),
            rtp(RTX, RTX_PT, 1, &rtx_payload(6)),
            rtp(MEDIA, VP8, 8, b"b"),
        ];
        assert_eq!(read(&mut g, t0, packets.clone()), packets);
    }

    #[test]
    fn the_rtx_sequence_space_is_never_nacked() {
        // A lost retransmission or padding packet leaves a gap in the RTX SSRC's own numbers; a
        // browser never asks for those.
        let mut g = generator();
        let t0 = Instant::now();
        read(
            &mut g,
            t0,
            vec![
                rtp(MEDIA, VP8, 1, b"a"),
                rtp(MEDIA, VP8, 2, b"b"),
                rtp(RTX, RTX_PT, 10, &rtx_payload(1)),
                rtp(RTX, RTX_PT, 13, &[]),
            ],
        );
        assert_eq!(nacks(&mut g, t0 + Duration::from_millis(100)), vec![]);
    }

    #[test]
    fn padding_and_foreign_payload_types_repair_nothing() {
        let flow = RepairFlow {
            media_ssrc: MEDIA,
            payload_type: RTX_PT,
        };
        assert_eq!(unwrapped(&rtp(RTX, RTX_PT, 1, &[]), flow), None);
        assert_eq!(unwrapped(&rtp(RTX, RTX_PT, 1, &[0]), flow), None);
        assert_eq!(unwrapped(&rtp(RTX, 98, 1, &rtx_payload(3)), flow), None);
        let media = unwrapped(&rtp(RTX, RTX_PT, 1, &rtx_payload(0xfffe)), flow).unwrap();
        assert_eq!(
            (
                media.header.ssrc,
                media.header.sequence_number,
                &media.payload[..]
            ),
            (MEDIA, 0xfffe, &b"media"[..])
        );
    }
}
