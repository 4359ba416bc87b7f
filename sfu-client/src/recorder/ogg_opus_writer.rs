//! An Ogg Opus file (RFC 7845): an `OpusHead` page, an `OpusTags` page, then one page per
//! Opus packet with its granule position (48 kHz samples at the packet's end), so a gap in
//! the RTP timestamps (a muted microphone) stays a gap in time. The `ogg` crate writes the
//! pages; the recording test has ffmpeg check every page's CRC (`-err_detect crccheck`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// An open Ogg Opus stream into a file or, for the live transcriber, into memory. The latest
/// packet waits in memory until the next one comes or [`OggOpusWriter::finish`] writes it as
/// the end-of-stream page (an empty last page would be an empty Opus packet, which decoders
/// reject).
pub struct OggOpusWriter<W: Write = BufWriter<File>> {
    out: PacketWriter<'static, W>,
    serial: u32,
    granule: u64,
    held: Option<(Vec<u8>, u64)>,
}

impl<W: Write> std::fmt::Debug for OggOpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("granule", &self.granule)
            .finish_non_exhaustive()
    }
}

impl OggOpusWriter<BufWriter<File>> {
    /// Creates `path` with the two header pages; `serial` tells streams apart.
    pub fn create(path: &Path, serial: u32) -> io::Result<Self> {
        Self::new(BufWriter::new(File::create(path)?), serial)
    }

    /// Writes the last packet as the end-of-stream page and closes the file.
    pub fn finish(self) -> io::Result<()> {
        self.finish_into()?.get_ref().sync_all()
    }
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream on `out` with the two header pages; `serial` tells streams apart.
    pub fn new(out: W, serial: u32) -> io::Result<Self> {
        let mut writer = Self {
            out: PacketWriter::new(out),
            serial,
            granule: 0,
            held: None,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(2); // channels: opus/48000/2 as negotiated; mono packets decode too
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: RTP timestamps are exact
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0
        writer.page(head, 0, PacketWriteEndInfo::EndPage)?;
        let vendor = b"sfu-recorder";
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        writer.page(tags, 0, PacketWriteEndInfo::EndPage)?;
        Ok(writer)
    }

    /// Appends `packet`, which starts `start` samples (48 kHz) after the stream's start;
    /// returns the bytes written (those of the packet before it).
    pub fn write_packet(&mut self, start: u64, packet: &[u8]) -> io::Result<u64> {
        // Granule positions never go backwards (RFC 7845 §4); a late packet ends where the
        // previous one did.
        self.granule = (start + u64::from(opus_samples(packet))).max(self.granule);
        match self.held.replace((packet.to_vec(), self.granule)) {
            Some((previous, granule)) => self.page(previous, granule, PacketWriteEndInfo::EndPage),
            None => Ok(0),
        }
    }

    /// Pushes buffered pages to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.inner_mut().flush()
    }

    /// Writes the last packet as the end-of-stream page and hands back the flushed output.
    pub fn finish_into(mut self) -> io::Result<W> {
        if let Some((last, granule)) = self.held.take() {
            self.page(last, granule, PacketWriteEndInfo::EndStream)?;
        }
        let mut out = self.out.into_inner();
        out.flush()?;
        Ok(out)
    }

    /// One packet on a page of its own (the `ogg` crate frames it: lacing, flags, CRC);
    /// returns the page's size.
    fn page(&mut self, packet: Vec<u8>, granule: u64, end: PacketWriteEndInfo) -> io::Result<u64> {
        let size = 27 + packet.len() / 255 + 1 + packet.len();
        self.out.write_packet(packet, self.serial, end, granule)?;
        Ok(size as u64)
    }
}

/// The 48 kHz samples in an Opus packet, from its TOC byte (RFC 6716 §3.1).
pub fn opus_samples(packet: &[u8]) -> u32 {
    let Some(&toc) = packet.first() else {
        return 0;
    };
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(0, |b| u32::from(b & 0x3f)),
    };
    frame * frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_from_toc() {
        assert_eq!(opus_samples(&[0xFC]), 960); // CELT FB 20 ms, one frame
        assert_eq!(opus_samples(&[0x78]), 960); // SILK... config 15 hybrid FB 20 ms
        assert_eq!(opus_samples(&[0xFB, 0x03]), 2880); // code 3, three 20 ms frames
    }
}
