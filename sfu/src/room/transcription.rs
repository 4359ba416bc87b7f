//! The server's live transcriber (issue 20 item 4): when a room accepts
//! `start_live_transcription`, its actor starts a transcriber task that joins the room as the
//! `captioner` (the client crate's [`sfu_client::transcriber`]: one tap that hears the audio of
//! every location, so no listener has to follow breakout groups), cuts each speaker's audio
//! into utterances and hands each to the configured engine: a command run once per utterance
//! (the utterance as an Ogg/Opus stream on its stdin, one caption per line on its stdout), or
//! an HTTP endpoint that gets one POST per utterance (the Ogg/Opus stream as the body, one
//! caption per line of the answer). The room sends each caption to the speaker's location only
//! (`Room::handle_caption`), as it scopes chat.
//!
//! Bounded everywhere: one engine run at a time per speaker stream, at most
//! [`QUEUE_PER_SPEAKER`] utterances waiting behind it (more are dropped and counted), each
//! utterance at most the segmenter's maximum length, each run at most [`ENGINE_TIMEOUT`] and
//! [`MAX_OUTPUT`] bytes of text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sfu_client::transcriber::{
    listen, SegmentRules, TranscriberOptions, TranscriberReport, Utterance,
};
use signalling_proto::{ParticipantId, Role, StreamId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::clock;
use crate::control::recording::SERVER_CAPTIONER_IDENTITY;
use crate::metrics::Metrics;
use crate::room::recording::own_ws_url;
use crate::token::{Claims, TokenKey};
use crate::webhook::https::Connector;

/// Utterances that may wait for one speaker's engine; more are dropped (a slow engine).
pub const QUEUE_PER_SPEAKER: usize = 2;

/// How long one engine run may take before it is killed.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The most stdout one engine run may produce; the rest is ignored.
pub const MAX_OUTPUT: u64 = 64 * 1024;

/// The longest caption line; a longer one is cut (at a character boundary).
pub const MAX_CAPTION_CHARS: usize = 500;

/// Consecutive failed engine runs after which the transcription is reported failed.
const FAILURES_IN_A_ROW: u32 = 3;

/// How long the transcriber's token is valid: it is used once, right away.
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a transcriber tells its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriberEvent {
    /// The transcriber joined and its engine can run.
    Started { transcription_id: String },
    /// The engine heard `text` in `speaker`'s audio that started at `started_at`.
    Caption {
        speaker: ParticipantId,
        stream: StreamId,
        text: String,
        started_at: SystemTime,
    },
    /// The engine cannot start, keeps failing, or the transcriber lost the room.
    Failed(String),
}

/// Where utterances go: a command per utterance, or an HTTP endpoint per utterance.
#[derive(Clone)]
pub enum Engine {
    /// `--transcription-command`.
    Command(EngineCommand),
    /// `--transcription-url`.
    Http(HttpEngine),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Command(command) => f.debug_tuple("Command").field(command).finish(),
            Engine::Http(http) => f.debug_tuple("Http").field(http).finish(),
        }
    }
}

impl std::fmt::Debug for HttpEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEngine")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Engine {
    fn check(&self) -> Result<(), String> {
        match self {
            Engine::Command(command) => command.check(),
            // Whether the endpoint answers shows with the first utterance.
            Engine::Http(_) => Ok(()),
        }
    }
}

/// An HTTP(S) endpoint that transcribes one utterance per POST.
#[derive(Clone)]
pub struct HttpEngine {
    uri: hyper::Uri,
    client: Client<Connector, Full<Bytes>>,
}

impl HttpEngine {
    /// The endpoint at `url` (`http://` or `https://`, trusting the system's root
    /// certificates).
    pub fn new(url: &str) -> Result<Self, String> {
        let uri = crate::webhook::delivery::parse_url(url)?;
        let connector = Connector::new(Path::new(crate::webhook::https::SYSTEM_ROOTS))?;
        Ok(Self {
            uri,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

/// The engine: a program and its arguments (the configured command split at whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineCommand {
    program: PathBuf,
    args: Vec<String>,
}

impl EngineCommand {
    /// `command` split at whitespace (no shell quoting: write a wrapper script for pipes);
    /// `None` when it is blank.
    pub fn parse(command: &str) -> Option<Self> {
        let mut words = command.split_whitespace();
        let program = PathBuf::from(words.next()?);
        Some(Self {
            program,
            args: words.map(str::to_owned).collect(),
        })
    }

    /// Why the program cannot start, if it cannot: not found (on `PATH` for a bare name) or
    /// not an executable file.
    fn check(&self) -> Result<(), String> {
        let found = if self.program.to_string_lossy().contains('/') {
            Some(self.program.clone()).filter(|p| p.exists())
        } else {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(&self.program))
                    .find(|p| is_executable(p))
            })
        };
        match found {
            Some(path) if is_executable(&path) => Ok(()),
            Some(path) => Err(format!(
                "transcription command {} cannot start: not an executable file",
                path.display()
            )),
            None => Err(format!(
                "transcription command {} cannot start: not found",
                self.program.display()
            )),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything a room needs to start transcribers.
#[derive(Debug, Clone)]
pub struct TranscriptionService {
    url: String,
    tokens: Arc<TokenKey>,
    engine: Engine,
    rules: SegmentRules,
    metrics: Option<Metrics>,
}

impl TranscriptionService {
    /// Transcribers that reach the server at `listening` and run `engine` per utterance.
    pub fn new(
        listening: SocketAddr,
        tokens: Arc<TokenKey>,
        engine: Engine,
        metrics: Option<Metrics>,
    ) -> Self {
        Self {
            url: own_ws_url(listening),
            tokens,
            engine,
            rules: SegmentRules::default(),
            metrics,
        }
    }

    /// Starts transcribing `room`; `tell` receives what the transcriber reports.
    pub fn start(
        &self,
        room: &str,
        tell: impl Fn(TranscriberEvent) + Send + Sync + 'static,
    ) -> TranscriberHandle {
        let (stop_tx, stop_rx) = oneshot::channel();
        let handle = TranscriberHandle { _stop: stop_tx };
        let metrics = self.metrics.clone();
        let fail = |reason: String| {
            if let Some(metrics) = &metrics {
                metrics.transcription.failures.inc();
            }
            warn!(%reason, "live transcription cannot start");
            tell(TranscriberEvent::Failed(reason));
        };
        // A command that cannot start fails the request at once, before anyone joins.
        if let Err(reason) = self.engine.check() {
            fail(reason);
            return handle;
        }
        let claims = Claims::new(room, SERVER_CAPTIONER_IDENTITY, Role::Captioner)
            .with_name("Live transcriber")
            .expiring_after(TOKEN_TTL, clock::system_now());
        let token = match self.tokens.sign(&claims) {
            Ok(token) => token,
            Err(error) => {
                fail(format!("no transcriber token: {error}"));
                return handle;
            }
        };
        if let Some(metrics) = &metrics {
            metrics.transcription.active.inc();
        }
        let options = TranscriberOptions {
            url: self.url.clone(),
            room: room.to_owned(),
            token,
            rules: self.rules,
        };
        let (reports_tx, reports) = mpsc::unbounded_channel();
        tokio::spawn(listen(options, reports_tx, stop_rx));
        let run = Dispatcher {
            room: room.to_owned(),
            engine: self.engine.clone(),
            metrics,
            tell: Arc::new(tell),
            speakers: HashMap::new(),
        };
        tokio::spawn(run.run(reports));
        handle
    }
}

/// A running transcriber; dropping it makes the transcriber leave.
#[derive(Debug)]
pub struct TranscriberHandle {
    _stop: oneshot::Sender<()>,
}

type Tell = Arc<dyn Fn(TranscriberEvent) + Send + Sync>;

/// Hands each utterance to its speaker's engine queue.
struct Dispatcher {
    room: String,
    engine: Engine,
    metrics: Option<Metrics>,
    tell: Tell,
    speakers: HashMap<(ParticipantId, StreamId), mpsc::Sender<Utterance>>,
}

impl Dispatcher {
    async fn run(mut self, mut reports: mpsc::UnboundedReceiver<TranscriberReport>) {
        let (failed_tx, mut failed) = mpsc::channel::<String>(1);
        loop {
            let report = tokio::select! {
                report = reports.recv() => report,
                Some(reason) = failed.recv() => {
                    (self.tell)(TranscriberEvent::Failed(reason));
                    break;
                }
            };
            let Some(report) = report else { break };
            match report {
                TranscriberReport::Joined => {
                    let id = format!(
                        "tx-{}",
                        clock::system_now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis())
                    );
                    info!(room = %self.room, transcription_id = %id, "live transcription started");
                    (self.tell)(TranscriberEvent::Started {
                        transcription_id: id,
                    });
                }
                TranscriberReport::Utterance(utterance) => {
                    let key = (
                        utterance.participant_id.clone(),
                        utterance.stream_id.clone(),
                    );
                    let queue = self.speakers.entry(key).or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(QUEUE_PER_SPEAKER);
                        let worker = Worker {
                            room: self.room.clone(),
                            engine: self.engine.clone(),
                            metrics: self.metrics.clone(),
                            tell: Arc::clone(&self.tell),
                            failed: failed_tx.clone(),
                        };
                        tokio::spawn(worker.run(rx));
                        tx
                    });
                    if queue.try_send(utterance).is_err() {
                        if let Some(metrics) = &self.metrics {
                            metrics.transcription.utterances_dropped.inc();
                        }
                    }
                }
                TranscriberReport::Failed(reason) => {
                    warn!(room = %self.room, %reason, "live transcriber failed");
                    if let Some(metrics) = &self.metrics {
                        metrics.transcription.failures.inc();
                    }
                    (self.tell)(TranscriberEvent::Failed(reason));
                    break;
                }
                TranscriberReport::Closed => break,
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.transcription.active.dec();
        }
    }
}

/// Runs the engine for one speaker stream's utterances, one after the other.
struct Worker {
    room: String,
    engine: Engine,
    metrics: Option<Metrics>,
    tell: Tell,
    failed: mpsc::Sender<String>,
}

impl Worker {
    async fn run(self, mut utterances: mpsc::Receiver<Utterance>) {
        let mut in_a_row = 0;
        while let Some(utterance) = utterances.recv().await {
            match self.transcribe(&utterance).await {
                Ok(lines) => {
                    in_a_row = 0;
                    for text in lines {
                        if let Some(metrics) = &self.metrics {
                            metrics.transcription.captions.inc();
                        }
                        (self.tell)(TranscriberEvent::Caption {
                            speaker: utterance.participant_id.clone(),
                            stream: utterance.stream_id.clone(),
                            text,
                            started_at: utterance.started_at,
                        });
                    }
                }
                Err(EngineError::CannotStart(reason)) => {
                    if let Some(metrics) = &self.metrics {
                        metrics.transcription.failures.inc();
                    }
                    let _ = self.failed.try_send(reason);
                    return;
                }
                Err(EngineError::Failed(reason)) => {
                    warn!(room = %self.room, %reason, "transcription engine run failed");
                    if let Some(metrics) = &self.metrics {
                        metrics.transcription.failures.inc();
                    }
                    in_a_row += 1;
                    if in_a_row >= FAILURES_IN_A_ROW {
                        let _ = self.failed.try_send(format!(
                            "the transcription engine failed {in_a_row} times in a row: {reason}"
                        ));
                        return;
                    }
                }
            }
        }
    }

    /// One engine run on `utterance`: its caption lines.
    async fn transcribe(&self, utterance: &Utterance) -> Result<Vec<String>, EngineError> {
        let ogg = utterance
            .to_ogg()
            .map_err(|e| EngineError::Failed(format!("packaging the audio failed: {e}")))?;
        if let Some(metrics) = &self.metrics {
            metrics
                .transcription
                .audio_seconds
                .inc_by(utterance.duration().as_secs_f64());
        }
        match &self.engine {
            Engine::Command(command) => self.run_command(command, utterance, ogg).await,
            Engine::Http(http) => self.post(http, utterance, ogg).await,
        }
    }

    /// One POST: the utterance as the body, caption lines from a 2xx answer.
    async fn post(
        &self,
        http: &HttpEngine,
        utterance: &Utterance,
        ogg: Vec<u8>,
    ) -> Result<Vec<String>, EngineError> {
        let request = hyper::Request::post(http.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "audio/ogg; codecs=opus")
            .header("sfu-room", self.room.as_str())
            .header("sfu-participant-id", utterance.participant_id.as_str())
            .header("sfu-stream-id", utterance.stream_id.as_str())
            .body(Full::new(Bytes::from(ogg)))
            .map_err(|e| EngineError::Failed(format!("the request cannot be made: {e}")))?;
        let run = async {
            let response = http
                .client
                .request(request)
                .await
                .map_err(|e| format!("the endpoint {} failed: {e}", http.uri))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("the endpoint {} answered HTTP {status}", http.uri));
            }
            let body = Limited::new(response.into_body(), MAX_OUTPUT as usize)
                .collect()
                .await
                .map_err(|e| format!("reading the endpoint's answer failed: {e}"))?
                .to_bytes();
            Ok(caption_lines(&String::from_utf8_lossy(&body)))
        };
        match tokio::time::timeout(ENGINE_TIMEOUT, run).await {
            Err(_) => Err(EngineError::Failed(format!(
                "the endpoint took more than {}s",
                ENGINE_TIMEOUT.as_secs()
            ))),
            Ok(result) => result.map_err(EngineError::Failed),
        }
    }

    /// One command run: the utterance on stdin, caption lines from stdout.
    async fn run_command(
        &self,
        engine: &EngineCommand,
        utterance: &Utterance,
        ogg: Vec<u8>,
    ) -> Result<Vec<String>, EngineError> {
        let mut child = Command::new(&engine.program)
            .args(&engine.args)
            .env("SFU_ROOM", &self.room)
            .env("SFU_PARTICIPANT_ID", utterance.participant_id.as_str())
            .env("SFU_STREAM_ID", utterance.stream_id.as_str())
            .env("SFU_AUDIO_FORMAT", "ogg-opus")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                EngineError::CannotStart(format!(
                    "transcription command {} cannot start: {e}",
                    engine.program.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(EngineError::Failed("the engine's pipes are missing".into()));
        };
        // Written beside the read, so an engine that answers before it read everything (or
        // never reads) cannot block the run; closing stdin is the end of the audio.
        let feed = tokio::spawn(async move {
            let _ = stdin.write_all(&ogg).await;
            let _ = stdin.shutdown().await;
        });
        let run = async {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout.take(MAX_OUTPUT)).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let line = line.trim();
                if !line.is_empty() {
                    lines.push(line.chars().take(MAX_CAPTION_CHARS).collect::<String>());
                }
            }
            let status = child.wait().await;
            (lines, status)
        };
        let outcome = tokio::time::timeout(ENGINE_TIMEOUT, run).await;
        feed.abort();
        match outcome {
            Err(_) => Err(EngineError::Failed(format!(
                "the engine took more than {}s",
                ENGINE_TIMEOUT.as_secs()
            ))),
            Ok((_, Err(e))) => Err(EngineError::Failed(format!("waiting for the engine: {e}"))),
            Ok((lines, Ok(status))) if status.success() => Ok(lines),
            Ok((_, Ok(status))) => Err(EngineError::Failed(format!("the engine {status}"))),
        }
    }
}

/// Non-empty trimmed lines, each cut at [`MAX_CAPTION_CHARS`].
fn caption_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| line.chars().take(MAX_CAPTION_CHARS).collect())
        .collect()
}

enum EngineError {
    /// The program could not be started at all: the transcription fails at once.
    CannotStart(String),
    /// One run failed: counted, and fatal only [`FAILURES_IN_A_ROW`] times in a row.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_at_whitespace_and_are_checked() {
        assert_eq!(EngineCommand::parse("  "), None);
        let sh = EngineCommand::parse("sh -c  true").expect("a command");
        assert_eq!(sh.program, PathBuf::from("sh"));
        assert_eq!(sh.args, vec!["-c".to_owned(), "true".to_owned()]);
        assert_eq!(sh.check(), Ok(()));
        let missing = EngineCommand::parse("/nonexistent/whisper --model x").expect("a command");
        assert!(missing.check().unwrap_err().contains("not found"));
        for not_executable in ["/", "/etc/passwd"] {
            let command = EngineCommand::parse(not_executable).expect("a command");
            assert!(command.check().unwrap_err().contains("not an executable"));
        }
    }
}
