//! The tag every synthetic media packet carries in its payload, so that a subscriber can tell
//! from the packet alone who sent it, from which group, on which layer, when, and in what order,
//! whatever the SFU rewrote in the RTP header (SSRC, sequence number, timestamp, picture id).
//!
//! Layout (big endian, 24 bytes): magic `"LT"`, version, flags (bit 7 video, bits 5-6 spatial
//! layer, bit 4 keyframe), publisher id (u32), group (u16: 0 = main room, g + 1 = breakout group
//! g), reserved (u16), per-encoding packet counter (u32), send time (u64, microseconds since
//! the Unix epoch: publisher and subscribers may be different processes on one machine).

use signalling_proto::MediaKind;

/// Size of an encoded [`PacketTag`].
pub const TAG_LEN: usize = 24;
const MAGIC: [u8; 2] = *b"LT";
const VERSION: u8 = 1;

/// What a synthetic packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTag {
    pub kind: MediaKind,
    /// Simulcast encoding index (0 = lowest); 0 for audio and single-layer video.
    pub spatial: u8,
    /// Set on every packet of a keyframe.
    pub keyframe: bool,
    /// The load tester's number for the publisher (not the server's participant id, which is
    /// only known after joining).
    pub publisher: u32,
    /// Where the publisher was when it sent the packet: [`GROUP_MAIN`] or breakout group + 1.
    pub group: u16,
    /// +1 per packet of this encoding.
    pub counter: u32,
    /// Send time, microseconds since the Unix epoch.
    pub sent_at_us: u64,
}

/// The group value of the main room.
pub const GROUP_MAIN: u16 = 0;

impl PacketTag {
    /// Appends the 24-byte encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let mut flags = (self.spatial & 0x03) << 5;
        if self.kind == MediaKind::Video {
            flags |= 0x80;
        }
        if self.keyframe {
            flags |= 0x10;
        }
        out.push(flags);
        out.extend_from_slice(&self.publisher.to_be_bytes());
        out.extend_from_slice(&self.group.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.sent_at_us.to_be_bytes());
    }

    /// Reads a tag from the start of `bytes`; `None` when it is not one of ours.
    pub fn read(bytes: &[u8]) -> Option<PacketTag> {
        let b = bytes.get(..TAG_LEN)?;
        if b[..2] != MAGIC || b[2] != VERSION {
            return None;
        }
        let flags = b[3];
        let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&b[16..24]);
        Some(PacketTag {
            kind: if flags & 0x80 != 0 {
                MediaKind::Video
            } else {
                MediaKind::Audio
            },
            spatial: (flags >> 5) & 0x03,
            keyframe: flags & 0x10 != 0,
            publisher: be32(4),
            group: u16::from_be_bytes([b[8], b[9]]),
            counter: be32(12),
            sent_at_us: u64::from_be_bytes(sent),
        })
    }
}
