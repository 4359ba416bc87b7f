//! The transcriber's run: join, cut every speaker's audio into utterances, hand them out.

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::utterance::{SegmentRules, Segmenter, Utterance};
use crate::{Client, JoinOptions};

/// Where and as whom to listen.
#[derive(Debug, Clone)]
pub struct TranscriberOptions {
    /// `ws://host:port` of the SFU.
    pub url: String,
    /// The room to transcribe.
    pub room: String,
    /// A join token; the SFU's own transcriber uses a `captioner` token, which hears every
    /// location. Any other receiving role hears what that role hears.
    pub token: String,
    /// Where utterances end.
    pub rules: SegmentRules,
}

/// What the transcriber tells whoever runs it.
#[derive(Debug, Clone)]
pub enum TranscriberReport {
    /// It joined and receives the room's audio.
    Joined,
    /// A speaker's utterance ended.
    Utterance(Utterance),
    /// It could not join, or the connection ended for good.
    Failed(String),
    /// It left after a stop.
    Closed,
}

/// Asks a running transcriber to leave.
pub type TranscriberStop = oneshot::Receiver<()>;

/// How often utterances that ended in a pause are looked for.
const TICK: Duration = Duration::from_millis(100);

/// Listens to `options.room` until `stop` fires (or its sender is dropped) or the connection
/// ends; every report goes out through `reports`. Utterances still open at the end are
/// handed out too.
pub async fn listen(
    options: TranscriberOptions,
    reports: mpsc::UnboundedSender<TranscriberReport>,
    mut stop: TranscriberStop,
) {
    let report = |r| {
        let _ = reports.send(r);
    };
    let join = Client::join(JoinOptions::new(
        &options.url,
        &options.room,
        &options.token,
        "Live transcriber",
    ));
    let (client, mut events) = tokio::select! {
        joined = join => match joined {
            Ok(joined) => joined,
            Err(error) => {
                report(TranscriberReport::Failed(format!("the transcriber could not join: {error}")));
                return;
            }
        },
        _ = &mut stop => {
            report(TranscriberReport::Closed);
            return;
        }
    };
    let Some(mut frames) = client.take_frames() else {
        report(TranscriberReport::Failed(
            "the transcriber receives no media".into(),
        ));
        return;
    };
    info!(room = %options.room, "transcriber joined");
    report(TranscriberReport::Joined);
    // Frames carry `Instant`s; captions need wall-clock times.
    let anchor = (Instant::now(), SystemTime::now());
    let wall = |at: Instant| anchor.1 + at.saturating_duration_since(anchor.0);
    let mut segmenter = Segmenter::new(options.rules);
    let mut tick = tokio::time::interval(TICK);
    let ended = loop {
        tokio::select! {
            _ = &mut stop => break None,
            frame = frames.recv() => {
                let Some(frame) = frame else { break Some("the media connection ended") };
                if let Some(done) = segmenter.push(&frame, wall(frame.received_at)) {
                    report(TranscriberReport::Utterance(done));
                }
            }
            event = events.recv() => {
                if event.is_none() {
                    break Some("the signalling connection ended");
                }
            }
            _ = tick.tick() => {
                for done in segmenter.due(Instant::now()) {
                    report(TranscriberReport::Utterance(done));
                }
            }
        }
    };
    for done in segmenter.drain() {
        report(TranscriberReport::Utterance(done));
    }
    match ended {
        Some(reason) => report(TranscriberReport::Failed(reason.to_owned())),
        None => {
            report(TranscriberReport::Closed);
            let _ = tokio::time::timeout(Duration::from_secs(2), client.leave()).await;
        }
    }
}
