//! H264 keyframe detection (RFC 6184 §5.6-§5.8: single NAL unit, STAP-A, FU-A).

/// What the forwarder needs to know about one H264 RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct H264Frame {
    /// The packet carries an IDR slice or an SPS (a decoder can start here).
    pub keyframe: bool,
    /// The packet begins an access unit's first NAL (single NAL, STAP-A, or an FU-A start).
    pub start_of_frame: bool,
}

const NAL_TYPE_MASK: u8 = 0x1f;
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const FU_START: u8 = 0x80;

/// Reads the NAL unit header(s) of an H264 RTP payload in packetization mode 0 or 1.
/// `None` for an empty payload, a forbidden NAL type (0, 30, 31) or a truncated aggregate.
pub fn inspect(payload: &[u8]) -> Option<H264Frame> {
    let nal_type = payload.first()? & NAL_TYPE_MASK;
    match nal_type {
        0 | 30 | 31 => None,
        STAP_A => {
            // RFC 6184 §5.7.1: a sequence of (16-bit size, NAL unit).
            let mut rest = &payload[1..];
            let mut keyframe = false;
            if rest.is_empty() {
                return None;
            }
            while !rest.is_empty() {
                let size = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
                let nal = rest.get(2..2 + size)?;
                let t = nal.first()? & NAL_TYPE_MASK;
                keyframe |= t == NAL_IDR || t == NAL_SPS;
                rest = &rest[2 + size..];
            }
            Some(H264Frame {
                keyframe,
                start_of_frame: true,
            })
        }
        FU_A => {
            // RFC 6184 §5.8: FU indicator, then FU header (S, E, R, original type).
            let fu = *payload.get(1)?;
            let start = fu & FU_START != 0;
            let t = fu & NAL_TYPE_MASK;
            Some(H264Frame {
                keyframe: start && (t == NAL_IDR || t == NAL_SPS),
                start_of_frame: start,
            })
        }
        // STAP-B, MTAP16/24 and FU-B belong to the interleaved mode, which WebRTC does not
        // negotiate: forward them, never switch on them.
        25..=27 | 29 => Some(H264Frame::default()),
        t => Some(H264Frame {
            keyframe: t == NAL_IDR || t == NAL_SPS,
            start_of_frame: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A single IDR NAL unit (type 5) is a keyframe; a non-IDR slice (type 1) is not.
    #[test]
    fn single_nal_units() {
        assert!(inspect(&[0x65, 0x88]).unwrap().keyframe);
        assert!(!inspect(&[0x41, 0x9a]).unwrap().keyframe);
    }

    // libwebrtc sends SPS+PPS(+IDR) in one STAP-A (RFC 6184 §5.7.1): a keyframe.
    #[test]
    fn stap_a_with_sps_pps_is_keyframe() {
        let stap = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        let f = inspect(&stap).unwrap();
        assert!(f.keyframe && f.start_of_frame);
    }

    // STAP-A whose size field overruns the packet is malformed, never a panic.
    #[test]
    fn truncated_stap_a_is_rejected() {
        assert_eq!(inspect(&[0x78, 0x00, 0x09, 0x67]), None);
        assert_eq!(inspect(&[0x78, 0x00]), None);
        assert_eq!(inspect(&[0x78]), None);
    }

    // Only the FU-A start fragment of an IDR counts as the keyframe start.
    #[test]
    fn fu_a_start_and_continuation() {
        let start = inspect(&[0x7c, 0x85, 0x00]).unwrap();
        assert!(start.keyframe && start.start_of_frame);
        let middle = inspect(&[0x7c, 0x05, 0x00]).unwrap();
        assert!(!middle.keyframe && !middle.start_of_frame);
        assert_eq!(inspect(&[0x7c]), None);
    }

    // Empty payloads and forbidden NAL types are rejected.
    #[test]
    fn forbidden_types_are_rejected() {
        assert_eq!(inspect(&[]), None);
        assert_eq!(inspect(&[0x00]), None);
        assert_eq!(inspect(&[0x1e]), None);
    }
}
