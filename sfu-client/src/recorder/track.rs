//! One recorded stream (a participant's audio or video of one stream id) and its files.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::ivf_writer::{vp8_keyframe_size, IvfWriter};
use super::ogg_opus_writer::OggOpusWriter;
use crate::MediaFrame;
use signalling_proto::MediaKind;

/// A 32-bit RTP timestamp made continuous (wraps counted) from the first one seen.
#[derive(Debug, Default)]
struct Unwrapped {
    last: Option<(u32, i64)>,
}

impl Unwrapped {
    fn extend(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((last_ts, last_ext)) => last_ext + i64::from(ts.wrapping_sub(last_ts) as i32),
        };
        self.last = Some((ts, ext));
        ext
    }
}

enum Writer {
    Audio(OggOpusWriter),
    Video(IvfWriter, (u16, u16)),
}

/// One file of a track, as the sidecar lists it.
#[derive(Debug)]
struct FileRecord {
    name: String,
    width: Option<u16>,
    height: Option<u16>,
    first_rtp_timestamp: u32,
    first_ext: i64,
    last_ext: i64,
    first_wall: SystemTime,
    last_wall: SystemTime,
    frames: u64,
    bytes: u64,
}

/// A participant's audio or video of one stream.
pub(super) struct Track {
    pub participant: String,
    pub name: Option<String>,
    pub stream: String,
    kind: MediaKind,
    clock: Unwrapped,
    writer: Option<Writer>,
    files: Vec<FileRecord>,
    /// The track's first frame's extended timestamp: audio granules count from it.
    origin: Option<i64>,
    serial: u32,
    ssrc: Option<u32>,
}

impl Track {
    pub fn new(frame: &MediaFrame, name: Option<String>, serial: u32) -> Self {
        Self {
            participant: frame.participant_id.as_str().to_owned(),
            name,
            stream: frame.stream_id.as_str().to_owned(),
            kind: frame.kind,
            clock: Unwrapped::default(),
            writer: None,
            files: Vec::new(),
            origin: None,
            serial,
            ssrc: None,
        }
    }

    fn base_name(&self) -> String {
        format!("{}-{}", safe(&self.participant), safe(&self.stream))
    }

    /// Writes `frame` (a new file when needed); returns the bytes written.
    pub fn write(&mut self, dir: &Path, frame: &MediaFrame, wall: SystemTime) -> io::Result<u64> {
        if self.ssrc.is_some_and(|ssrc| ssrc != frame.ssrc) {
            // A new receive stream (a resubscription) has its own timestamps: start over on
            // the next keyframe / packet in a new file.
            self.close()?;
            self.clock = Unwrapped::default();
            self.origin = None;
        }
        self.ssrc = Some(frame.ssrc);
        let ext = self.clock.extend(frame.rtp_timestamp);
        let mut written = 0;
        match self.kind {
            MediaKind::Audio => {
                if self.writer.is_none() {
                    let name = format!("{}-audio-{}.opus", self.base_name(), self.files.len());
                    let writer = OggOpusWriter::create(&dir.join(&name), self.serial)?;
                    self.open(name, None, frame, ext, wall);
                    self.writer = Some(Writer::Audio(writer));
                }
                let origin = *self.origin.get_or_insert(ext);
                if let Some(Writer::Audio(writer)) = &mut self.writer {
                    let start = u64::try_from(ext - origin).unwrap_or(0);
                    written += writer.write_packet(start, &frame.data)?;
                }
            }
            MediaKind::Video => {
                let size = frame
                    .keyframe
                    .then(|| vp8_keyframe_size(&frame.data))
                    .flatten();
                let resized = matches!(
                    (&self.writer, size),
                    (Some(Writer::Video(_, open)), Some(new)) if *open != new
                );
                if resized {
                    // A keyframe with another resolution: the next file.
                    self.close()?;
                }
                if self.writer.is_none() {
                    // Files start on a keyframe.
                    let Some((width, height)) = size else {
                        return Ok(0);
                    };
                    let name = format!("{}-video-{}.ivf", self.base_name(), self.files.len());
                    let writer = IvfWriter::create(&dir.join(&name), width, height)?;
                    self.open(name, Some((width, height)), frame, ext, wall);
                    self.origin = Some(ext);
                    self.writer = Some(Writer::Video(writer, (width, height)));
                }
                let origin = self.origin.unwrap_or(ext);
                if let Some(Writer::Video(writer, _)) = &mut self.writer {
                    let pts = u64::try_from(ext - origin).unwrap_or(0);
                    written += writer.write_frame(pts, &frame.data)?;
                }
            }
        }
        match &mut self.writer {
            Some(Writer::Audio(w)) => w.flush()?,
            Some(Writer::Video(w, _)) => w.flush()?,
            None => {}
        }
        if let Some(file) = self.files.last_mut() {
            file.last_ext = ext;
            file.last_wall = wall;
            file.frames += 1;
            file.bytes += written;
        }
        Ok(written)
    }

    fn open(
        &mut self,
        name: String,
        size: Option<(u16, u16)>,
        frame: &MediaFrame,
        ext: i64,
        wall: SystemTime,
    ) {
        self.files.push(FileRecord {
            name,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            first_rtp_timestamp: frame.rtp_timestamp,
            first_ext: ext,
            last_ext: ext,
            first_wall: wall,
            last_wall: wall,
            frames: 0,
            bytes: 0,
        });
    }

    /// Closes the open file, if any.
    pub fn close(&mut self) -> io::Result<()> {
        match self.writer.take() {
            Some(Writer::Audio(w)) => w.finish(),
            Some(Writer::Video(w, _)) => w.finish(),
            None => Ok(()),
        }
    }

    /// The track and its files for the sidecar.
    pub fn describe(&self) -> Value {
        let clock_rate = match self.kind {
            MediaKind::Audio => 48_000,
            MediaKind::Video => 90_000,
        };
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "file": f.name,
                    "codec": if self.kind == MediaKind::Audio { "opus" } else { "vp8" },
                    "width": f.width,
                    "height": f.height,
                    "firstRtpTimestamp": f.first_rtp_timestamp,
                    "rtpDuration": f.last_ext - f.first_ext,
                    "firstFrameAtMs": unix_ms(f.first_wall),
                    "lastFrameAtMs": unix_ms(f.last_wall),
                    "frames": f.frames,
                    "bytes": f.bytes,
                })
            })
            .collect();
        json!({
            "participantId": self.participant,
            "displayName": self.name,
            "streamId": self.stream,
            "kind": if self.kind == MediaKind::Audio { "audio" } else { "video" },
            "clockRate": clock_rate,
            "files": files,
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(super) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A file-name-safe form of an id (ids are the server's, but a file name is no place to trust
/// them).
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The folder of one recording under `root`.
pub(super) fn recording_dir(root: &Path, room: &str, at: SystemTime) -> PathBuf {
    root.join(format!("{}-{}", safe(room), unix_ms(at)))
}
