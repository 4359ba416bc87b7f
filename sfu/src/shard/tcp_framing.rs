//! RFC 4571 framing for ICE-TCP (RFC 6544 §3): on a TCP media connection every STUN, DTLS,
//! RTP or RTCP packet is preceded by its length as a 16-bit big-endian number.
//!
//! [`FrameDecoder`] cuts a byte stream into frames with a buffer that never grows past one
//! largest frame plus its header; a frame longer than [`MAX_FRAME`] is an error, not a reason
//! to buffer more. [`encode_frame`] is the writing side.

/// The longest frame accepted. The 16-bit length allows 65 535 bytes, but nothing WebRTC sends
/// comes close: DTLS records, RTP and RTCP stay under the path MTU (~1500 bytes) and STUN
/// under 1280, so a frame over 8 KiB is no media and its sender is dropped rather than given
/// 64 KiB of buffer per connection.
pub const MAX_FRAME: usize = 8 * 1024;

/// The 2-byte length prefix.
const HEADER: usize = 2;

/// Why a connection's bytes cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// A frame announced more than [`MAX_FRAME`] bytes.
    Oversize(usize),
    /// A zero-length frame: RFC 4571 allows it, but no WebRTC packet is empty, and a stream of
    /// them would be free work for a sender.
    Empty,
}

/// Cuts a TCP byte stream into RFC 4571 frames.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` filled.
    len: usize,
    /// Where the next unread frame header starts.
    start: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            buf: vec![0; HEADER + MAX_FRAME],
            len: 0,
            start: 0,
        }
    }
}

impl FrameDecoder {
    /// The free part of the buffer to read the socket into; [`FrameDecoder::filled`] says how
    /// much was read. Never empty: at most one partial frame is ever kept, and it fits.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            // Move the partial frame to the front so the rest of the buffer is free.
            self.buf.copy_within(self.start..self.len, 0);
            self.len -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into [`FrameDecoder::spare`].
    pub(crate) fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// The next complete frame, `Ok(None)` until more bytes arrive.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let available = &self.buf[self.start..self.len];
        let Some(header) = available.get(..HEADER) else {
            return Ok(None);
        };
        let size = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if size > MAX_FRAME {
            return Err(FrameError::Oversize(size));
        }
        if size == 0 {
            return Err(FrameError::Empty);
        }
        if available.len() < HEADER + size {
            return Ok(None);
        }
        let from = self.start + HEADER;
        self.start = from + size;
        Ok(Some(&self.buf[from..from + size]))
    }
}

/// Appends `payload` as one frame to `out`; `false` (and nothing appended) when it is longer
/// than a frame can say.
pub(crate) fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(size) = u16::try_from(payload.len()) else {
        return false;
    };
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(payload);
    true
}

/// Whether a frame is a STUN message (RFC 5389 §6: the two top bits zero and the magic cookie
/// at bytes 4..8); the first frame of an ICE-TCP connection must be one (RFC 6544 §7.1:
/// connectivity checks come first).
pub(crate) fn is_stun(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[0] < 4 && frame[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(decoder: &mut FrameDecoder, bytes: &[u8]) {
        let spare = decoder.spare();
        spare[..bytes.len()].copy_from_slice(bytes);
        decoder.filled(bytes.len());
    }

    // Frames split across reads and several frames in one read come out whole and in order.
    #[test]
    fn frames_survive_any_split() {
        let mut stream = Vec::new();
        for payload in [&b"abc"[..], &[7u8; 1500][..], b"z"] {
            assert!(encode_frame(payload, &mut stream));
        }
        for chunk in [1, 2, 3, 700, stream.len()] {
            let mut decoder = FrameDecoder::default();
            let mut frames = Vec::new();
            for piece in stream.chunks(chunk) {
                feed(&mut decoder, piece);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame.to_vec());
                }
            }
            assert_eq!(frames.len(), 3, "chunk {chunk}");
            assert_eq!(frames[0], b"abc");
            assert_eq!(frames[1], vec![7u8; 1500]);
            assert_eq!(frames[2], b"z");
        }
    }

    // A length over the limit or of zero is an error at once, before its bytes arrive.
    #[test]
    fn oversize_and_empty_frames_are_errors() {
        let mut decoder = FrameDecoder::default();
        feed(&mut decoder, &[0xff, 0xff]);
        assert_eq!(decoder.next_frame(), Err(FrameError::Oversize(65_535)));
        let mut decoder = FrameDecoder::default();
        feed(&mut decoder, &[0, 0]);
        assert_eq!(decoder.next_frame(), Err(FrameError::Empty));
        let max = u16::try_from(MAX_FRAME).unwrap().to_be_bytes();
        let mut decoder = FrameDecoder::default();
        feed(&mut decoder, &max);
        assert_eq!(
            decoder.next_frame(),
            Ok(None),
            "the largest frame is waited for"
        );
    }

    // The buffer holds one largest frame, so a reader that always drains never runs out.
    #[test]
    fn spare_room_is_never_empty_while_draining() {
        let mut decoder = FrameDecoder::default();
        let mut stream = Vec::new();
        for _ in 0..10 {
            encode_frame(&[1u8; MAX_FRAME], &mut stream);
        }
        let mut frames = 0;
        let mut at = 0;
        while at < stream.len() {
            let spare = decoder.spare();
            assert!(!spare.is_empty());
            let n = spare.len().min(stream.len() - at).min(3000);
            spare[..n].copy_from_slice(&stream[at..at + n]);
            decoder.filled(n);
            at += n;
            while decoder.next_frame().unwrap().is_some() {
                frames += 1;
            }
        }
        assert_eq!(frames, 10);
    }

    #[test]
    fn stun_is_recognised_by_its_cookie() {
        let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        binding.extend_from_slice(&[0; 12]);
        assert!(is_stun(&binding));
        binding[4] = 0;
        assert!(!is_stun(&binding));
        assert!(!is_stun(b"GET / HTTP/1.1\r\n\r\n...."));
        assert!(!is_stun(&[0x16, 0xfe, 0xfd]));
    }
}
