//! A reader of IVF files (the VP8 container `ffmpeg -c:v libvpx -f ivf` and libvpx's tools
//! write): a 32-byte file header, then per frame a 12-byte header (size, timestamp) and the
//! frame. Shared with the crate's end-to-end test, which checks real encoder output through
//! the SFU.

/// One VP8 frame of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    /// The presentation timestamp in the file's timebase.
    pub pts: u64,
    /// The VP8 frame.
    pub data: Vec<u8>,
}

impl IvfFrame {
    /// Bit 0 of a VP8 frame's first byte is 0 for a keyframe (RFC 6386 §9.1).
    pub fn is_keyframe(&self) -> bool {
        self.data.first().is_some_and(|b| b & 0x01 == 0)
    }
}

/// The frames of an IVF file and its timebase (numerator, denominator: seconds per tick).
#[derive(Debug, Clone)]
pub struct Ivf {
    /// Seconds per pts tick as `numerator / denominator`.
    pub timebase: (u32, u32),
    /// Every frame, in file order.
    pub frames: Vec<IvfFrame>,
}

impl Ivf {
    /// Parses `bytes`; an error names what is wrong (the file is input, never trusted).
    pub fn parse(bytes: &[u8]) -> Result<Ivf, String> {
        let header = bytes.get(..32).ok_or("shorter than an IVF header")?;
        if &header[..4] != b"DKIF" {
            return Err("not an IVF file (no DKIF signature)".into());
        }
        if &header[8..12] != b"VP80" {
            return Err(format!(
                "codec {:?}, not VP8",
                String::from_utf8_lossy(&header[8..12])
            ));
        }
        let le32 =
            |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let header_len = usize::from(u16::from_le_bytes([header[6], header[7]]));
        // The file stores the rate (denominator first); ticks are numerator / denominator s.
        let timebase = (le32(header, 20), le32(header, 16));
        if timebase.1 == 0 {
            return Err("zero timebase".into());
        }
        let mut at = header_len.max(32);
        let mut frames = Vec::new();
        while at < bytes.len() {
            let frame_header = bytes.get(at..at + 12).ok_or("truncated frame header")?;
            let size = le32(frame_header, 0) as usize;
            let mut pts = [0u8; 8];
            pts.copy_from_slice(&frame_header[4..12]);
            let data = bytes
                .get(at + 12..at + 12 + size)
                .ok_or("truncated frame")?
                .to_vec();
            frames.push(IvfFrame {
                pts: u64::from_le_bytes(pts),
                data,
            });
            at += 12 + size;
        }
        Ok(Ivf { timebase, frames })
    }

    /// The 90 kHz RTP timestamp of `pts` (wrapping, as RTP timestamps do).
    pub fn rtp_timestamp(&self, pts: u64) -> u32 {
        let (num, den) = self.timebase;
        (u128::from(pts) * 90_000 * u128::from(num) / u128::from(den)) as u32
    }

    /// How far into the clip `pts` is.
    pub fn offset(&self, pts: u64) -> std::time::Duration {
        let (num, den) = self.timebase;
        let micros = u128::from(pts) * 1_000_000 * u128::from(num) / u128::from(den);
        std::time::Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}
