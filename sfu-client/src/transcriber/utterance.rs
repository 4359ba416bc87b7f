//! Per-speaker utterances: Opus packets of one stream, cut at pauses and at a maximum length.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use signalling_proto::{MediaKind, ParticipantId, StreamId};

use crate::recorder::ogg_opus_writer::OggOpusWriter;
use crate::MediaFrame;

/// Where utterances end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRules {
    /// No audio packet for this long ends the utterance.
    pub gap: Duration,
    /// An utterance never gets longer than this (in audio time, 48 kHz RTP timestamps).
    pub max: Duration,
}

impl Default for SegmentRules {
    fn default() -> Self {
        Self {
            gap: Duration::from_millis(800),
            max: Duration::from_secs(10),
        }
    }
}

/// One speaker's stretch of audio.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// The speaker.
    pub participant_id: ParticipantId,
    /// The speaker's stream (`camera`, or a screenshare with audio).
    pub stream_id: StreamId,
    /// When its first packet arrived (wall clock).
    pub started_at: SystemTime,
    /// `(start in 48 kHz samples from the utterance's first packet, Opus packet)`.
    pub packets: Vec<(u64, Bytes)>,
}

impl Utterance {
    /// The audio's length: from the first packet's start to the last packet's end.
    pub fn duration(&self) -> Duration {
        let end = self.packets.last().map_or(0, |(start, packet)| {
            start + u64::from(crate::recorder::ogg_opus_writer::opus_samples(packet))
        });
        Duration::from_micros(end.saturating_mul(1000) / 48)
    }

    /// The utterance as a complete Ogg/Opus stream (RFC 7845: `OpusHead`, `OpusTags`, one
    /// page per packet, end of stream on the last).
    pub fn to_ogg(&self) -> io::Result<Vec<u8>> {
        let mut ogg = OggOpusWriter::new(Vec::new(), 1)?;
        for (start, packet) in &self.packets {
            ogg.write_packet(*start, packet)?;
        }
        ogg.finish_into()
    }
}

/// An utterance being collected.
#[derive(Debug)]
struct Open {
    utterance: Utterance,
    first_rtp: u32,
    last_arrival: Instant,
}

/// Cuts every speaker's audio into [`Utterance`]s. Feed it frames with [`Segmenter::push`];
/// call [`Segmenter::due`] now and then for utterances that ended in a pause.
#[derive(Debug, Default)]
pub struct Segmenter {
    rules: SegmentRules,
    open: HashMap<(ParticipantId, StreamId), Open>,
}

impl Segmenter {
    /// A segmenter with `rules`.
    pub fn new(rules: SegmentRules) -> Self {
        Self {
            rules,
            open: HashMap::new(),
        }
    }

    /// Adds an audio frame (video is ignored); returns the speaker's previous utterance when
    /// this packet starts a new one (a gap in time, or the previous one is full).
    pub fn push(&mut self, frame: &MediaFrame, wall: SystemTime) -> Option<Utterance> {
        if frame.kind != MediaKind::Audio || frame.data.is_empty() {
            return None;
        }
        let key = (frame.participant_id.clone(), frame.stream_id.clone());
        let max_samples = self.rules.max.as_millis() as u64 * 48;
        let mut done = None;
        if let Some(open) = self.open.get(&key) {
            let offset = u64::from(frame.rtp_timestamp.wrapping_sub(open.first_rtp));
            let paused = frame
                .received_at
                .saturating_duration_since(open.last_arrival)
                >= self.rules.gap;
            // A timestamp behind the start (a new SSRC after a move) also starts afresh.
            if paused || offset >= max_samples {
                done = self.open.remove(&key).map(|o| o.utterance);
            }
        }
        let open = self.open.entry(key).or_insert_with(|| Open {
            utterance: Utterance {
                participant_id: frame.participant_id.clone(),
                stream_id: frame.stream_id.clone(),
                started_at: wall,
                packets: Vec::new(),
            },
            first_rtp: frame.rtp_timestamp,
            last_arrival: frame.received_at,
        });
        let offset = u64::from(frame.rtp_timestamp.wrapping_sub(open.first_rtp));
        open.utterance.packets.push((offset, frame.data.clone()));
        open.last_arrival = frame.received_at;
        done
    }

    /// Utterances whose speaker paused for [`SegmentRules::gap`] by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Utterance> {
        let gap = self.rules.gap;
        let ended: Vec<_> = self
            .open
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.last_arrival) >= gap)
            .map(|(k, _)| k.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|k| self.open.remove(&k).map(|o| o.utterance))
            .collect()
    }

    /// Every open utterance (at the end).
    pub fn drain(&mut self) -> Vec<Utterance> {
        self.open.drain().map(|(_, o)| o.utterance).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(who: &str, rtp: u32, at: Instant) -> MediaFrame {
        MediaFrame {
            participant_id: ParticipantId::from(who.to_owned()),
            stream_id: StreamId::from("camera".to_owned()),
            kind: MediaKind::Audio,
            rtp_timestamp: rtp,
            sequence_number: 0,
            ssrc: 1,
            keyframe: false,
            data: Bytes::from_static(&[0xFC, 1, 2]),
            received_at: at,
        }
    }

    // Speakers are cut apart, at a pause and at the maximum length, and each utterance is an
    // Ogg stream that starts with the Opus header and ends with an end-of-stream page.
    #[test]
    fn cuts_at_pauses_and_at_the_maximum() {
        let rules = SegmentRules {
            gap: Duration::from_millis(500),
            max: Duration::from_secs(1),
        };
        let mut s = Segmenter::new(rules);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        for i in 0..10u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 20);
            assert!(s.push(&frame("a", i * 960, at), wall).is_none());
            assert!(s.push(&frame("b", 5000 + i * 960, at), wall).is_none());
        }
        // a pauses 600 ms: its first utterance ends, ten packets, 200 ms.
        let later = t0 + Duration::from_millis(800);
        let first = s
            .push(&frame("a", 40 * 960, later), wall)
            .expect("cut at the pause");
        assert_eq!(first.participant_id.as_str(), "a");
        assert_eq!(first.packets.len(), 10);
        assert_eq!(first.duration(), Duration::from_millis(200));
        let ogg = first.to_ogg().expect("in memory");
        assert_eq!(&ogg[..4], b"OggS");
        assert!(ogg.windows(8).any(|w| w == b"OpusHead"));
        // b's utterance is due by the gap alone.
        let due = s.due(later);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].participant_id.as_str(), "b");
        // a talks on without a pause: cut at 1 s of audio.
        let mut cut = None;
        for i in 1..=60u32 {
            let at = later + Duration::from_millis(u64::from(i) * 20);
            if let Some(u) = s.push(&frame("a", (40 + i) * 960, at), wall) {
                cut = Some((i, u));
                break;
            }
        }
        let (i, u) = cut.expect("cut at the maximum");
        assert_eq!(i, 50);
        assert_eq!(u.packets.len(), 50);
        assert_eq!(s.drain().len(), 1);
    }
}
