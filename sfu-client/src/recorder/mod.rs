//! A recorder built on the client: it joins a room (as `recorder`, receive-only), and writes
//! every participant's audio to Ogg/Opus and video to IVF in one folder per recording, with a
//! JSON sidecar (`recording.json`) of participants, tracks, files and their wall-clock and RTP
//! timing, so the files can be aligned. The SFU runs it when `start_cloud_recording` is
//! accepted; any program may run it too.
//!
//! Files: `<participant>-<stream>-audio.opus`, and `<participant>-<stream>-video-<n>.ivf`,
//! where `n` counts files of one stream: each starts on a keyframe, and a keyframe with a new
//! resolution (a simulcast layer switch, a resized screenshare) starts the next one.

pub mod ivf_writer;
pub mod ogg_opus_writer;
mod session;
mod track;

pub use session::{record, RecorderOptions, RecorderReport, RecorderStop};
