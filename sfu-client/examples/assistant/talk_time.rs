//! What the example assistant hears: each speaker's talk time, from the Opus packets the
//! client crate delivers per participant. Shared with the crate's end-to-end test
//! (`tests/meeting/assistant.rs`), which runs this code against the real server.

use std::collections::BTreeMap;
use std::time::Duration;

use sfu_client::{MediaFrame, MediaKind, ParticipantId, Roster};

/// Opus packets of at most this many bytes carry no speech: DTX and comfort-noise frames (a
/// real assistant would run a voice activity detector on decoded audio instead).
pub const SILENCE_MAX_BYTES: usize = 3;

/// Speech heard per participant.
#[derive(Debug, Default, Clone)]
pub struct TalkTime {
    heard: BTreeMap<ParticipantId, Duration>,
}

impl TalkTime {
    /// Counts one received frame: audio packets with speech add their duration.
    pub fn hear(&mut self, frame: &MediaFrame) {
        if frame.kind != MediaKind::Audio || frame.data.len() <= SILENCE_MAX_BYTES {
            return;
        }
        if let Some(duration) = opus_duration(&frame.data) {
            *self.heard.entry(frame.participant_id.clone()).or_default() += duration;
        }
    }

    /// Talk time per participant heard so far.
    pub fn by_speaker(&self) -> &BTreeMap<ParticipantId, Duration> {
        &self.heard
    }

    /// One chat line: "Talk time: Ada 12.3 s, Grace 4.0 s" (names from `roster`, ids for
    /// those who left), longest first.
    pub fn summary(&self, roster: &Roster) -> String {
        if self.heard.is_empty() {
            return "Talk time: nobody spoke yet".to_owned();
        }
        let mut entries: Vec<(&ParticipantId, &Duration)> = self.heard.iter().collect();
        entries.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = entries
            .into_iter()
            .map(|(id, d)| {
                let name = roster.name_of(id).unwrap_or(id.0.as_str());
                format!("{name} {:.1} s", d.as_secs_f64())
            })
            .collect();
        format!("Talk time: {}", parts.join(", "))
    }
}

/// The audio an Opus packet carries, from its TOC byte (RFC 6716 §3.1): the frame size of
/// its configuration times its frame count. `None` for a malformed packet.
pub fn opus_duration(packet: &[u8]) -> Option<Duration> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame_us: u64 = match config {
        0..=11 => [10_000, 20_000, 40_000, 60_000][usize::from(config % 4)],
        12..=15 => [10_000, 20_000][usize::from(config % 2)],
        _ => [2_500, 5_000, 10_000, 20_000][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    // RFC 6716 §3.2.5: at most 120 ms per packet.
    let total = frame_us * frames;
    (total <= 120_000).then(|| Duration::from_micros(total))
}
