//! The families of the machines a room runs: cloud recorders (`room::recording`) and live
//! transcribers (`room::transcription`). Each task holds a [`super::Metrics`] clone and
//! updates these directly.

use prometheus::{Counter, IntCounter, IntGauge, Registry};

use super::{counter, gauge, register};

/// The cloud recorders' figures, summed over every room.
#[derive(Clone, Debug)]
pub struct RecordingMetrics {
    /// Recorders running (joined or joining).
    pub active: IntGauge,
    /// Media bytes the recorders wrote to disk.
    pub bytes_written: IntCounter,
    /// Recordings that failed (directory not writable, disk full, join refused).
    pub failures: IntCounter,
}

impl RecordingMetrics {
    /// Registers the families.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(RecordingMetrics {
            active: gauge(registry, "recordings_active", "Cloud recordings running.")?,
            bytes_written: counter(
                registry,
                "recording_bytes_written_total",
                "Media bytes cloud recordings wrote to disk (Ogg/Opus and IVF files).",
            )?,
            failures: counter(
                registry,
                "recording_failures_total",
                "Cloud recordings that failed: directory not writable, disk full, recorder \
                 could not join.",
            )?,
        })
    }
}

/// The live transcribers' figures, summed over every room.
#[derive(Clone, Debug)]
pub struct TranscriptionMetrics {
    /// Transcribers running (joined or joining).
    pub active: IntGauge,
    /// Seconds of speakers' audio handed to the transcription engine.
    pub audio_seconds: Counter,
    /// Caption lines the engine returned and the room sent.
    pub captions: IntCounter,
    /// Engine runs that failed: the command could not start, exited non-zero or timed out.
    pub failures: IntCounter,
    /// Utterances dropped because the speaker's engine queue was full (a slow engine).
    pub utterances_dropped: IntCounter,
}

impl TranscriptionMetrics {
    /// Registers the families.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(TranscriptionMetrics {
            active: gauge(
                registry,
                "transcriptions_active",
                "Live transcriptions running (their transcriber joined or joining).",
            )?,
            audio_seconds: register(
                registry,
                Counter::new(
                    "transcription_audio_seconds_total",
                    "Seconds of speakers' audio handed to the live transcription engine.",
                )?,
            )?,
            captions: counter(
                registry,
                "transcription_captions_total",
                "Caption lines the live transcription engine returned.",
            )?,
            failures: counter(
                registry,
                "transcription_failures_total",
                "Live transcription engine runs that failed: the command could not start, \
                 exited non-zero or timed out.",
            )?,
            utterances_dropped: counter(
                registry,
                "transcription_utterances_dropped_total",
                "Utterances not transcribed because the speaker's engine queue was full.",
            )?,
        })
    }
}
