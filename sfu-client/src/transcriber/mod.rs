//! A live transcriber's ears, built on the client: it joins a room (the SFU runs it as its
//! `captioner`, which hears the audio of every location), cuts each speaker's audio into
//! utterances and hands each one out as a complete Ogg/Opus stream, ready for a speech-to-text
//! engine (ffmpeg and whisper.cpp read it as it is). What runs the engine and where its text
//! goes is up to whoever runs the transcriber; the SFU's is `sfu::signalling::transcription`.
//!
//! An utterance of one speaker's stream ends after [`SegmentRules::gap`] without audio packets
//! (a muted microphone, DTX silence) or when it reaches [`SegmentRules::max`], so a speaker who
//! never pauses is still captioned every `max`.

mod session;
mod utterance;

pub use session::{listen, TranscriberOptions, TranscriberReport, TranscriberStop};
pub use utterance::{SegmentRules, Segmenter, Utterance};
