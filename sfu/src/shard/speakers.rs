//! `SpeakerMeter`: who is speaking in a room, from the RFC 6464 audio levels publishers put in
//! their audio packets, over short windows (spec §13.2: active speakers per location; the room
//! actor splits the list by location, the shard only measures).

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::core::{AudioLevel, ParticipantId};

/// How often a room's speakers are reported: fast enough for a speaking indicator, slow enough
/// that a word does not flap it.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// A level at or below this many dB under full scale counts as speech even without the
/// voice-activity flag (some stacks never set it).
const SPEECH_DBOV: u8 = 50;

/// A publisher speaks when at least this share of its audio packets in a window is speech
/// (1 in 5: short pauses between words do not end speaking).
const SPEECH_SHARE: u16 = 5;

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// The loudest level seen, in dB under full scale (0 = full scale).
    loudest: u8,
    speech: u16,
    packets: u16,
}

#[derive(Debug)]
pub(crate) struct SpeakerMeter {
    windows: FxHashMap<ParticipantId, Window>,
    next_report: Instant,
    /// Whether the last report named anyone, so that silence is reported once.
    speaking: bool,
}

impl SpeakerMeter {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            windows: FxHashMap::default(),
            next_report: now + REPORT_INTERVAL,
            speaking: false,
        }
    }

    /// One audio packet's level from `participant`.
    pub(crate) fn observe(&mut self, participant: ParticipantId, level: AudioLevel) {
        let w = self.windows.entry(participant).or_insert(Window {
            loudest: u8::MAX,
            ..Window::default()
        });
        w.packets = w.packets.saturating_add(1);
        w.loudest = w.loudest.min(level.level);
        if level.voice_activity || level.level <= SPEECH_DBOV {
            w.speech = w.speech.saturating_add(1);
        }
    }

    pub(crate) fn due(&self) -> Instant {
        self.next_report
    }

    /// Closes the window: the speakers in it, loudest first, as `(participant, dBov)`; `None`
    /// when there is nothing new to say (nobody spoke in this window or the last).
    pub(crate) fn report(&mut self, now: Instant) -> Option<Vec<(ParticipantId, u8)>> {
        self.next_report = now + REPORT_INTERVAL;
        let mut speakers: Vec<(ParticipantId, u8)> = self
            .windows
            .drain()
            .filter(|(_, w)| w.speech > 0 && w.speech.saturating_mul(SPEECH_SHARE) >= w.packets)
            .map(|(p, w)| (p, w.loudest))
            .collect();
        speakers.sort_unstable_by_key(|(p, dbov)| (*dbov, *p));
        let was_speaking = std::mem::replace(&mut self.speaking, !speakers.is_empty());
        (was_speaking || self.speaking).then_some(speakers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(level: u8, voice_activity: bool) -> AudioLevel {
        AudioLevel {
            voice_activity,
            level,
        }
    }

    // Speakers come loudest first; silence and rare blips are not speech; silence after
    // speech is reported once, then nothing until someone speaks.
    #[test]
    fn reports_speakers_loudest_first_and_silence_once() {
        #[allow(clippy::disallowed_methods)] // a unit test needs some instant to start from
        let t0 = Instant::now();
        let mut m = SpeakerMeter::new(t0);
        let (a, b, c) = (ParticipantId(1), ParticipantId(2), ParticipantId(3));
        for i in 0..25 {
            m.observe(a, level(30, true));
            m.observe(b, level(20, false));
            // c: one loud packet in 25 is a blip, not speech.
            m.observe(c, level(if i == 0 { 10 } else { 127 }, false));
        }
        assert_eq!(m.report(t0 + REPORT_INTERVAL), Some(vec![(b, 20), (a, 30)]));
        assert_eq!(m.due(), t0 + 2 * REPORT_INTERVAL);
        m.observe(a, level(127, false));
        assert_eq!(m.report(t0 + 2 * REPORT_INTERVAL), Some(vec![]));
        assert_eq!(m.report(t0 + 3 * REPORT_INTERVAL), None);
    }
}
