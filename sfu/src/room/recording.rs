//! The server's own cloud recorder (issue 20 item 3): when a room accepts
//! `start_cloud_recording`, its actor starts a recorder task (the client crate's
//! [`sfu_client::recorder`]) that joins the room as `recorder` with a token the server mints,
//! and reports back to the actor: the first bytes on disk (`Recording`), a failure (`Error`).
//! A stop waits until every file is closed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sfu_client::recorder::{record, RecorderOptions, RecorderReport};
use signalling_proto::Role;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::clock;
use crate::control::recording::SERVER_RECORDER_IDENTITY;
use crate::metrics::Metrics;
use crate::token::{Claims, TokenKey};

/// How long a stop waits for the files to be closed before the room goes on without them.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long the recorder's token is valid: it is used once, right away.
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a recorder tells its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecorderEvent {
    /// The first media bytes are on disk.
    Started,
    /// The recording failed; its files are closed.
    Failed(String),
}

/// Everything a room needs to start recorders.
#[derive(Debug, Clone)]
pub struct RecorderService {
    /// `ws://` URL of this server's own listener.
    url: String,
    tokens: Arc<TokenKey>,
    root: PathBuf,
    metrics: Option<Metrics>,
}

impl RecorderService {
    /// Recorders that reach the server at `listening` (an unspecified address is reached on
    /// loopback) and write under `root`.
    pub fn new(
        listening: SocketAddr,
        tokens: Arc<TokenKey>,
        root: PathBuf,
        metrics: Option<Metrics>,
    ) -> Self {
        Self {
            url: own_ws_url(listening),
            tokens,
            root,
            metrics,
        }
    }

    /// Starts recording `room`; `tell` receives what the recorder reports.
    pub fn start(
        &self,
        room: &str,
        tell: impl Fn(RecorderEvent) + Send + 'static,
    ) -> RecorderHandle {
        let (stop_tx, stop_rx) = oneshot::channel();
        let claims = Claims::new(room, SERVER_RECORDER_IDENTITY, Role::Recorder)
            .with_name("Cloud recorder")
            .expiring_after(TOKEN_TTL, clock::system_now());
        let metrics = self.metrics.clone();
        if let Some(metrics) = &metrics {
            metrics.recording.active.inc();
        }
        let token = match self.tokens.sign(&claims) {
            Ok(token) => token,
            Err(error) => {
                // Only a room name the token rules refuse gets here; the room was joined
                // under the same rules, so this is a bug worth an error event, not a panic.
                if let Some(metrics) = &metrics {
                    metrics.recording.active.dec();
                    metrics.recording.failures.inc();
                }
                tell(RecorderEvent::Failed(format!("no recorder token: {error}")));
                return RecorderHandle { stop: stop_tx };
            }
        };
        let options = RecorderOptions {
            url: self.url.clone(),
            room: room.to_owned(),
            token,
            root: self.root.clone(),
        };
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        tokio::spawn(record(options, reports_tx, stop_rx));
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                match report {
                    RecorderReport::Wrote(bytes) => {
                        if let Some(metrics) = &metrics {
                            metrics.recording.bytes_written.inc_by(bytes);
                        }
                    }
                    RecorderReport::Started(_) => tell(RecorderEvent::Started),
                    RecorderReport::Failed(reason) => {
                        warn!(%reason, "cloud recording failed");
                        if let Some(metrics) = &metrics {
                            metrics.recording.failures.inc();
                        }
                        tell(RecorderEvent::Failed(reason));
                    }
                    RecorderReport::Closed => {}
                }
            }
            // The recorder's task ended (its sender is gone).
            if let Some(metrics) = &metrics {
                metrics.recording.active.dec();
            }
        });
        RecorderHandle { stop: stop_tx }
    }
}

/// The `ws://` URL at which the server's own clients (recorder, transcriber) reach its
/// listener at `listening`: an unspecified address is reached on loopback.
pub(crate) fn own_ws_url(listening: SocketAddr) -> String {
    let ip = match listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("ws://{}", SocketAddr::new(ip, listening.port()))
}

/// A running recorder; dropping it stops the recorder too (without waiting).
#[derive(Debug)]
pub struct RecorderHandle {
    stop: oneshot::Sender<oneshot::Sender<()>>,
}

impl RecorderHandle {
    /// Stops the recorder and waits (at most [`CLOSE_WAIT`]) until its files are closed.
    pub async fn stop(self) {
        let (closed_tx, closed) = oneshot::channel();
        if self.stop.send(closed_tx).is_ok()
            && tokio::time::timeout(CLOSE_WAIT, closed).await.is_err()
        {
            warn!("the recorder did not close its files in time");
        }
    }
}
