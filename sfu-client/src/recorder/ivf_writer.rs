//! An IVF file of VP8 frames (the container libvpx and ffmpeg read): a 32-byte header, then
//! each frame as size, 64-bit timestamp and data. Timestamps are the RTP clock (90 kHz), so
//! the header's time base is 1/90000.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// An open IVF file; [`IvfWriter::finish`] writes the frame count into the header.
#[derive(Debug)]
pub struct IvfWriter {
    out: BufWriter<File>,
    frames: u32,
}

impl IvfWriter {
    /// Creates `path` with the header for `width`x`height`.
    pub fn create(path: &Path, width: u16, height: u16) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut header = Vec::with_capacity(32);
        header.extend_from_slice(b"DKIF");
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&32u16.to_le_bytes());
        header.extend_from_slice(b"VP80");
        header.extend_from_slice(&width.to_le_bytes());
        header.extend_from_slice(&height.to_le_bytes());
        header.extend_from_slice(&90_000u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out, frames: 0 })
    }

    /// Appends one frame at `pts` (90 kHz ticks from the file's start); returns the bytes
    /// written.
    pub fn write_frame(&mut self, pts: u64, frame: &[u8]) -> io::Result<u64> {
        let size =
            u32::try_from(frame.len()).map_err(|_| io::Error::other("VP8 frame too large"))?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&pts.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(12 + frame.len() as u64)
    }

    /// Pushes buffered frames to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes the frame count and closes the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(24))?;
        file.write_all(&self.frames.to_le_bytes())?;
        file.sync_all()
    }
}

/// The size a VP8 keyframe declares (RFC 6386 §9.1), `None` for an interframe or a frame too
/// short to say.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((width, height))
}
