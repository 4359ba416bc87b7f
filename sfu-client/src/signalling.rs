//! The signalling client: one WebSocket to `ws://HOST/rtc`, commands matched to their response
//! by `reqId`, and events delivered in order on a channel (PROTOCOL.md §2).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sfu_client::ClientError> {
//! use sfu_client::signalling::{fetch_dev_token, Signalling};
//! let token = fetch_dev_token("ws://127.0.0.1:7880", "load", "alice", "visitor").await?;
//! let (signalling, mut events) = Signalling::connect("ws://127.0.0.1:7880").await?;
//! let joined = signalling.join_room("load", &token, "Alice").await?;
//! while let Some(event) = events.recv().await { /* ... */ }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use signalling_proto::{
    decode_server_frame, encode_client_message, Capabilities, ClientMessage, Command, CommandName,
    CommandResult, Credential, ErrorCode, EventMessage, JoinRoomArgs, MediaFlags, Outcome, ReqId,
    Response, RoomJoined, Secret, ServerMessage, WrongNodeDetails,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use crate::client_error::ClientError;
use crate::http_get;

/// How long a command waits for its response.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many `wrong_node` answers one join follows (as `client.js` does).
pub const MAX_REDIRECTS: usize = 3;

/// A join through [`Signalling::connect_and_join`]: the socket of the node that admitted it.
#[derive(Debug)]
pub struct Joined {
    /// The admitted socket: send commands on it.
    pub signalling: Signalling,
    /// The events that follow the join, in order.
    pub events: Events,
    /// The `room_joined` response.
    pub joined: Box<RoomJoined>,
    /// The signalling URL of the node that runs the room.
    pub node_url: String,
    /// How many `wrong_node` answers it followed.
    pub redirects: usize,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>;

/// A connected signalling socket. Cheap to share behind an `Arc`: commands may be sent from
/// several tasks at once.
#[derive(Debug)]
pub struct Signalling {
    outgoing: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_req: AtomicU64,
}

/// The events of one connection, in the order the server sent them. Ends when the socket closes.
pub type Events = mpsc::UnboundedReceiver<EventMessage>;

impl Signalling {
    /// Opens `url` (`ws://host:port`, `/rtc` appended when the path is missing) and starts the
    /// reader and writer tasks.
    pub async fn connect(url: &str) -> Result<(Signalling, Events), ClientError> {
        let url = rtc_url(url);
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Message>();
        let (event_tx, events) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();

        tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let reader_pending = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(frame) = stream.next().await {
                let text = match frame {
                    Ok(Message::Text(text)) => text,
                    Ok(Message::Close(close)) => {
                        debug!(?close, "signalling socket closed by the server");
                        break;
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        debug!(%error, "signalling socket failed");
                        break;
                    }
                };
                match decode_server_frame(text.as_str()) {
                    Ok(ServerMessage::Response(response)) => {
                        let key = response.req_id.as_ref().map(|r| r.0.clone());
                        let waiter = key.and_then(|k| lock(&reader_pending).remove(&k));
                        match waiter {
                            Some(waiter) => {
                                let _ = waiter.send(response);
                            }
                            None => warn!(?response, "response to no open command"),
                        }
                    }
                    Ok(ServerMessage::Event(event)) => {
                        let _ = event_tx.send(event);
                    }
                    // A newer server may send events this client does not know; skip them
                    // rather than drop the connection.
                    Err(error) => warn!(%error, frame = %text.as_str(), "undecodable server frame"),
                }
            }
            // Fail every open command at once instead of letting each time out.
            lock(&reader_pending).clear();
        });

        Ok((
            Signalling {
                outgoing,
                pending,
                next_req: AtomicU64::new(1),
            },
            events,
        ))
    }

    /// Sends `command` and waits for its response: the typed result, or
    /// [`ClientError::Refused`] with the server's error.
    pub async fn request(&self, command: Command) -> Result<CommandResult, ClientError> {
        let name = command.name();
        let result = self.request_raw(command).await?;
        CommandResult::decode(name, Value::Object(result))
            .map_err(|e| ClientError::Protocol(format!("{name} result: {e}")))
    }

    /// Like [`Self::request`], returning the `result` object undecoded.
    pub async fn request_raw(
        &self,
        command: Command,
    ) -> Result<serde_json::Map<String, Value>, ClientError> {
        let name = command.name();
        let req_id = format!("c-{}", self.next_req.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(req_id.clone(), tx);
        let frame = encode_client_message(&ClientMessage {
            req_id: ReqId(req_id.clone()),
            command,
        });
        if self.outgoing.send(Message::text(frame)).is_err() {
            lock(&self.pending).remove(&req_id);
            return Err(ClientError::Transport("signalling socket closed".into()));
        }
        let response = match tokio::time::timeout(RESPONSE_TIMEOUT, rx).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => return Err(ClientError::Transport(format!("{name}: socket closed"))),
            Err(_) => {
                lock(&self.pending).remove(&req_id);
                return Err(ClientError::Timeout("command response"));
            }
        };
        match response.outcome {
            Outcome::Ok(result) => Ok(result),
            Outcome::Err(error) => Err(ClientError::Refused {
                command: name,
                error,
            }),
        }
    }

    /// Connects to `url` and joins `room`; a cluster node that does not run the room answers
    /// `wrong_node` with the owner's URL (PROTOCOL.md §10), which is followed up to
    /// [`MAX_REDIRECTS`] times.
    pub async fn connect_and_join(
        url: &str,
        room: &str,
        token: &str,
        display_name: &str,
    ) -> Result<Joined, ClientError> {
        let mut url = rtc_url(url);
        let mut redirects = 0;
        loop {
            let (signalling, events) = Signalling::connect(&url).await?;
            match signalling.join_room(room, token, display_name).await {
                Ok(joined) => {
                    return Ok(Joined {
                        signalling,
                        events,
                        joined,
                        node_url: url,
                        redirects,
                    })
                }
                Err(ClientError::Refused { error, .. })
                    if error.code == ErrorCode::WrongNode && redirects < MAX_REDIRECTS =>
                {
                    let details: WrongNodeDetails = error.details_as().ok_or_else(|| {
                        ClientError::Protocol("wrong_node without details {url, nodeId}".into())
                    })?;
                    signalling.close();
                    url = details.url;
                    redirects += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends `join_room` with a `{token}` credential, declaring the breakout capability and
    /// camera and microphone on.
    pub async fn join_room(
        &self,
        room: &str,
        token: &str,
        display_name: &str,
    ) -> Result<Box<RoomJoined>, ClientError> {
        let args = JoinRoomArgs {
            room_name: room.to_owned(),
            credential: Some(Credential::Token(Secret::from(token))),
            display_name: Some(display_name.to_owned()),
            external_id: None,
            is_dial_in: None,
            capabilities: Capabilities {
                breakouts: true,
                // The crate publishes screenshares (`PublishOptions::screenshare`).
                screenshare: true,
            },
            media: MediaFlags {
                audio: true,
                video: true,
            },
            self_id: None,
        };
        match self.request(Command::JoinRoom(args)).await? {
            CommandResult::JoinRoom(joined) => Ok(joined),
            other => Err(unexpected(CommandName::JoinRoom, &other)),
        }
    }

    /// Closes the socket (the server treats it as a disconnect).
    pub fn close(&self) {
        let _ = self.outgoing.send(Message::Close(None));
    }
}

/// A result of the wrong variant (cannot happen: `CommandResult::decode` follows the name).
pub fn unexpected(name: CommandName, got: &CommandResult) -> ClientError {
    ClientError::Protocol(format!("{name}: unexpected result {:?}", got.command()))
}

/// Asks a development-mode server for a join token (`GET /dev/token`, DECISIONS.md §11).
pub async fn fetch_dev_token(
    url: &str,
    room: &str,
    identity: &str,
    role: &str,
) -> Result<String, ClientError> {
    let base = http_get::http_base(url);
    let (status, body) = http_get::get(&format!(
        "{base}/dev/token?room={room}&identity={identity}&role={role}"
    ))
    .await?;
    if status != 200 {
        return Err(ClientError::Transport(format!(
            "/dev/token answered {status}: {body} (is the server in development mode?)"
        )));
    }
    let json: Value = serde_json::from_str(&body)
        .map_err(|e| ClientError::Protocol(format!("/dev/token: {e}")))?;
    json["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Protocol("/dev/token: no token".into()))
}

/// `ws://host:port` → `ws://host:port/rtc`; a URL with a path is kept.
pub fn rtc_url(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    if after_scheme.contains('/') {
        url.to_owned()
    } else {
        format!("{}/rtc", url.trim_end_matches('/'))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking holder cannot leave the map half-updated (single insert/remove calls).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
