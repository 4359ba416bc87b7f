//! `GET /rtc`: one task per signalling WebSocket (ARCHITECTURE.md §2, PROTOCOL.md §1-§4).
//!
//! A connection decodes each text frame, answers what it can answer alone (bad frames,
//! `not_connected` before admission, `invalid_credential`), verifies `{token}` credentials and
//! hands everything else to its room's [`RoomActor`](crate::room::RoomActor). It writes
//! two kinds of frames: its own answers, and the room's frames from the connection's bounded
//! outgoing queue (responses, then the events they caused, spec §6.3). Each event written to
//! the socket is counted by name (`sfu_signalling_events_total`).
//!
//! Until it joins a room a socket lives under the rules of [`super::unjoined`]: a join
//! deadline, a per-address limit and a small read buffer. A WebSocket protocol error from the
//! client closes the socket with the code RFC 6455 §7.4.1 names (1002 protocol error, 1007
//! invalid payload data, 1009 too big), never a bare TCP close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Extension;
use signalling_proto::{
    decode_client_frame, encode_server_message, ClientMessage, Command, Credential, ErrorBody,
    ErrorCode, JoinRoomArgs, ReqId, Response, ResumeArgs, ServerMessage, CLOSE_MESSAGE_TOO_BIG,
    MAX_FRAME_BYTES,
};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, Instrument};
use tungstenite::error::ProtocolError;

use crate::clock;
use crate::control::ConnectionId;
use crate::metrics::{Metrics, UnjoinedClose};
use crate::room::{
    room_gone, ConnectionLink, Handled, Outgoing, RoomHandle, RoomRegistry, CLOSE_SLOW_CONSUMER,
};
use crate::signalling::unjoined::{
    UnjoinedSlot, UnjoinedSockets, CLOSE_JOIN_DEADLINE, JOIN_DEADLINE_REASON, READ_BUFFER_BYTES,
};
use crate::token::TokenKey;

/// Frames queued for one socket before the client counts as too slow and is disconnected.
pub(crate) const OUTGOING_QUEUE: usize = 1024;

/// Close code when the server shuts down (RFC 6455 1001, going away).
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;

/// Close code for a frame that breaks RFC 6455 framing (§7.4.1: 1002, protocol error).
pub(crate) const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// Close code for a text frame or close reason that is not UTF-8 (§7.4.1: 1007, invalid
/// frame payload data).
pub(crate) const CLOSE_INVALID_PAYLOAD: u16 = 1007;

/// How long a connection waits for its close reply to a client's close frame to be written.
const CLOSE_REPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What every connection shares: the token key, the rooms, and the shutdown signal. Each socket's
/// task holds a clone, so the large parts (the registry, the metrics) sit behind `Arc`s: an
/// unjoined socket must stay cheap (see [`super::unjoined`]).
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    tokens: Arc<TokenKey>,
    rooms: Arc<RoomRegistry>,
    /// `true` once the server closes its connections (end of the drain grace).
    closing: watch::Receiver<bool>,
    /// `true` once shutdown has begun: nobody new is admitted (`server_draining`).
    draining: watch::Receiver<bool>,
    /// Number of running connections; [`crate::server::run`] waits for it to reach zero.
    running: Arc<watch::Sender<usize>>,
    next_connection: Arc<AtomicU64>,
    /// Where the events written to sockets are counted; `None` in tests without metrics.
    metrics: Option<Arc<Metrics>>,
    /// Sockets that have not joined a room yet, by address, and their deadline.
    unjoined: UnjoinedSockets,
}

impl Connections {
    /// Connections over `tokens` and `rooms` that close with 1001 once `closing` turns `true`.
    pub(crate) fn new(
        tokens: Arc<TokenKey>,
        rooms: RoomRegistry,
        closing: watch::Receiver<bool>,
    ) -> Self {
        Self {
            tokens,
            rooms: Arc::new(rooms),
            closing,
            draining: watch::channel(false).1,
            running: Arc::new(watch::Sender::new(0)),
            next_connection: Arc::new(AtomicU64::new(1)),
            metrics: None,
            unjoined: UnjoinedSockets::default(),
        }
    }

    /// Sockets that have not joined a room live under `unjoined`'s deadline and per-address
    /// limit (default: [`UnjoinedSockets::default`]).
    pub(crate) fn with_unjoined(mut self, unjoined: UnjoinedSockets) -> Self {
        self.unjoined = unjoined;
        self
    }

    /// Counts every event the connections write to their sockets in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(Arc::new(metrics));
        self
    }

    /// Refuses new joins and knocks with `server_draining` once `draining` turns `true`;
    /// resumes and joins with a knock grant (already admitted by a host) still go through.
    pub(crate) fn with_draining(mut self, draining: watch::Receiver<bool>) -> Self {
        self.draining = draining;
        self
    }

    /// The token key.
    pub(crate) fn tokens(&self) -> &Arc<TokenKey> {
        &self.tokens
    }

    /// The room registry.
    pub(crate) fn rooms(&self) -> &RoomRegistry {
        &self.rooms
    }

    /// Resolves once no connection is running.
    pub(crate) async fn all_closed(&self) {
        let mut running = self.running.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = running.wait_for(|count| *count == 0).await;
    }
}

/// Decrements the running count however the connection task ends.
struct RunningGuard(Arc<watch::Sender<usize>>);

impl RunningGuard {
    fn new(running: &Arc<watch::Sender<usize>>) -> Self {
        running.send_modify(|count| *count += 1);
        Self(Arc::clone(running))
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count = count.saturating_sub(1));
    }
}

/// The `/rtc` handler: upgrades to a WebSocket limited to 64 KiB frames and messages (spec §3),
/// unless the peer's address already holds its limit of sockets that have not joined a room
/// (429 Too Many Requests).
pub(crate) async fn rtc(
    upgrade: WebSocketUpgrade,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    State(connections): State<Connections>,
) -> HttpResponse {
    let ip = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let Some(slot) = connections.unjoined.try_take(ip) else {
        debug!(
            ?ip,
            "too many unjoined sockets from this address: upgrade refused"
        );
        if let Some(metrics) = &connections.metrics {
            metrics.observe_unjoined_closed(UnjoinedClose::AddressLimit);
        }
        let body = "too many signalling sockets from this address have not joined a room yet";
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    };
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve(socket, connections, slot))
}

/// Serves one socket until it closes, the room closes it, the join deadline passes before it
/// joined, or the server shuts down. `slot` is the socket's place among the unjoined sockets
/// of its address, given back once it joins.
pub(crate) async fn serve(mut socket: WebSocket, connections: Connections, slot: UnjoinedSlot) {
    let _running = RunningGuard::new(&connections.running);
    let id = ConnectionId(connections.next_connection.fetch_add(1, Ordering::Relaxed));
    let span = tracing::info_span!("connection", id = %id);
    async move {
        let (outgoing, mut queue) = mpsc::channel(OUTGOING_QUEUE);
        let overflowed = Arc::new(Notify::new());
        let mut closing = connections.closing.clone();
        let metrics = connections.metrics.clone();
        let join_deadline = tokio::time::sleep(connections.unjoined.join_deadline());
        tokio::pin!(join_deadline);
        let mut connection = Connection {
            link: ConnectionLink {
                id,
                outgoing,
                overflowed: Arc::clone(&overflowed),
            },
            connections,
            room: None,
            unjoined: Some(slot),
        };
        debug!("socket opened");
        let end = loop {
            tokio::select! {
                biased;
                () = shutting_down(&mut closing) => {
                    break close(&mut socket, CLOSE_GOING_AWAY, "server shutting down").await;
                }
                () = &mut join_deadline, if connection.unjoined.is_some() => {
                    if let Some(metrics) = &metrics {
                        metrics.observe_unjoined_closed(UnjoinedClose::JoinDeadline);
                    }
                    break close(&mut socket, CLOSE_JOIN_DEADLINE, JOIN_DEADLINE_REASON).await;
                }
                () = overflowed.notified() => {
                    break close(&mut socket, CLOSE_SLOW_CONSUMER, "outgoing queue overflow").await;
                }
                Some(out) = queue.recv() => match out {
                    Outgoing::Text(frame) => {
                        if socket.send(Message::Text(frame.into())).await.is_err() {
                            break "write failed";
                        }
                    }
                    Outgoing::Event { name, frame } => {
                        if socket.send(Message::Text(frame.into())).await.is_err() {
                            break "write failed";
                        }
                        if let Some(metrics) = &metrics {
                            metrics.observe_event(name);
                        }
                    }
                    Outgoing::Close { code, reason } => break close(&mut socket, code, reason).await,
                },
                frame = socket.recv() => match frame {
                    None => break "peer went away",
                    Some(Err(error)) => match read_error_close(error) {
                        Some((code, reason)) => break close(&mut socket, code, reason).await,
                        None => break "read failed",
                    },
                    Some(Ok(Message::Text(text))) => {
                        // Boxed: the command's future (a join holds its arguments and claims
                        // twice) lives only while it runs, not in every idle socket's task.
                        let handled = Box::pin(connection.handle_text(&mut socket, text.as_str()));
                        if handled.await.is_err() {
                            break "write failed";
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        // Text frames only (PROTOCOL.md §1): answered like any frame that is
                        // not JSON, and the connection keeps serving.
                        let answer = Response::err(None, ErrorBody::new(
                            ErrorCode::InvalidRequest,
                            "binary frames are not accepted: send JSON text frames",
                        ));
                        if send_response(&mut socket, answer).await.is_err() {
                            break "write failed";
                        }
                    }
                    // tungstenite answers pings itself; pongs need nothing.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite has queued the reply (RFC 6455 §5.5.1: the echo, or 1002
                        // for a code not allowed on the wire); reading once more writes it and
                        // ends the stream.
                        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, socket.recv()).await;
                        break "peer closed";
                    }
                },
            }
        };
        debug!(end, "socket closed");
        if let Some(room) = connection.room.take() {
            room.disconnect(id).await;
        }
    }
    .instrument(span)
    .await;
}

/// Resolves once the server closes its connections (or the signal's sender is gone, which only
/// happens once the server has stopped).
async fn shutting_down(closing: &mut watch::Receiver<bool>) {
    // Map the guard away at once: it must not be held across an await (the future is `Send`).
    let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
}

/// The close code and reason for a read error (RFC 6455 §7.4.1), or `None` when the peer can
/// no longer be told (the connection is gone).
fn read_error_close(error: axum::Error) -> Option<(u16, &'static str)> {
    let error = error.into_inner();
    match error.downcast_ref::<tungstenite::Error>()? {
        // The 64 KiB limit on frames and messages.
        tungstenite::Error::Capacity(_) => {
            Some((CLOSE_MESSAGE_TOO_BIG, "frame larger than 64 KiB"))
        }
        tungstenite::Error::Utf8(_) => Some((CLOSE_INVALID_PAYLOAD, "invalid UTF-8")),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        tungstenite::Error::Protocol(error) => {
            let reason = match error {
                ProtocolError::UnmaskedFrameFromClient => "unmasked client frame",
                ProtocolError::NonZeroReservedBits => "reserved bits set",
                ProtocolError::InvalidCloseSequence => "invalid close frame",
                ProtocolError::FragmentedControlFrame | ProtocolError::ControlFrameTooBig => {
                    "invalid control frame"
                }
                ProtocolError::UnknownControlFrameType(_)
                | ProtocolError::UnknownDataFrameType(_)
                | ProtocolError::InvalidOpcode(_) => "unknown opcode",
                ProtocolError::UnexpectedContinueFrame | ProtocolError::ExpectedFragment(_) => {
                    "invalid fragmentation"
                }
                _ => "WebSocket protocol error",
            };
            Some((CLOSE_PROTOCOL_ERROR, reason))
        }
        _ => None,
    }
}

/// Sends a close frame; the connection ends either way.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> &'static str {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // A peer that is already gone cannot be told; the connection ends either way.
    let _ = socket.send(Message::Close(Some(frame))).await;
    reason
}

async fn send_response(socket: &mut WebSocket, response: Response) -> Result<(), axum::Error> {
    let frame = encode_server_message(&ServerMessage::Response(response));
    socket.send(Message::Text(frame.into())).await
}

/// The per-socket state.
struct Connection {
    link: ConnectionLink,
    connections: Connections,
    /// The room this socket is bound to (admitted, knocking, or holding a `room_locked`
    /// reservation), which receives every command after the first.
    room: Option<RoomHandle>,
    /// The socket's place among its address's unjoined sockets, until it is first bound to a
    /// room; while it is held the join deadline runs.
    unjoined: Option<UnjoinedSlot>,
}

impl Connection {
    /// One text frame. `Err` only when writing to the socket failed.
    async fn handle_text(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), axum::Error> {
        let ClientMessage { req_id, command } = match decode_client_frame(text) {
            Ok(message) => message,
            // Bad frames are answered and the connection keeps serving (spec §6.2).
            Err(error) => return send_response(socket, error.to_response()).await,
        };
        // A `join_room` with a token is refused while draining unless this node runs the
        // room (a cluster keeps a draining node's rooms open to their joins): `join` decides.
        let newcomer = matches!(command, Command::KnockRoom(_));
        if newcomer && *self.connections.draining.borrow() {
            let refused = ErrorBody::new(
                ErrorCode::ServerDraining,
                "the server is shutting down; join through another server",
            );
            return send_response(socket, Response::err(Some(req_id), refused)).await;
        }
        let answer = match command {
            Command::JoinRoom(args) => self.join(req_id, args).await,
            Command::Resume(args) if self.room.is_none() => self.resume(req_id, args).await,
            command => match self.room.clone() {
                Some(room) => self.forward(&room, req_id, command).await,
                // Before admission only join_room and resume may come (PROTOCOL.md §1);
                // knock_room needs a room_locked answer first, which binds the socket.
                None => Some(Response::err(
                    Some(req_id),
                    ErrorBody::new(ErrorCode::NotConnected, "join_room or resume first"),
                )),
            },
        };
        match answer {
            Some(response) => send_response(socket, response).await,
            None => Ok(()),
        }
    }

    /// `join_room`: a `{token}` is verified here against the requested room, then the room
    /// (created on the first valid join, spec §3) decides. A `{grant}` goes to the room that
    /// minted it. Returns the answer when the connection answers itself.
    async fn join(&mut self, req_id: ReqId, args: JoinRoomArgs) -> Option<Response> {
        if let Some(room) = &self.room {
            if room.name() != args.room_name {
                return Some(error(
                    req_id,
                    ErrorCode::InvalidRequest,
                    "this socket is already bound to another room",
                ));
            }
        }
        match &args.credential {
            Some(Credential::Token(token)) => {
                let claims = match self.connections.tokens.verify(
                    token.expose(),
                    &args.room_name,
                    clock::system_now(),
                ) {
                    Ok(claims) => claims,
                    Err(why) => {
                        debug!(%why, "join token refused");
                        return Some(error(req_id, ErrorCode::InvalidCredential, why.to_string()));
                    }
                };
                let claims = crate::control::VerifiedClaims::from(claims);
                let room = match &self.room {
                    Some(room) => room.clone(),
                    None => match self.place(&args.room_name).await {
                        Ok(room) => room,
                        Err(refused) => return Some(Response::err(Some(req_id), refused)),
                    },
                };
                let mut handled = room
                    .join(
                        self.link.clone(),
                        req_id.clone(),
                        args.clone(),
                        claims.clone(),
                    )
                    .await;
                let mut room = room;
                if handled.is_none() && self.room.is_none() {
                    // The actor stopped between lookup and send (its room had just ended):
                    // the registry starts a fresh one.
                    room = match self.place(&args.room_name).await {
                        Ok(room) => room,
                        Err(refused) => return Some(Response::err(Some(req_id), refused)),
                    };
                    handled = room
                        .join(self.link.clone(), req_id.clone(), args, claims)
                        .await;
                }
                self.settle(room, handled, req_id)
            }
            Some(Credential::Grant(_)) => {
                let room = match &self.room {
                    Some(room) => Some(room.clone()),
                    None => self.connections.rooms.get(&args.room_name),
                };
                let Some(room) = room else {
                    return Some(error(
                        req_id,
                        ErrorCode::InvalidCredential,
                        "unknown or expired grant",
                    ));
                };
                let handled = room
                    .command(self.link.clone(), req_id.clone(), Command::JoinRoom(args))
                    .await;
                self.settle(room, handled, req_id)
            }
            Some(Credential::RoomKey(_)) | None => Some(error(
                req_id,
                ErrorCode::InvalidCredential,
                "this server admits with a {token} credential (or a knock {grant})",
            )),
        }
    }

    /// The room a token join on an unbound socket goes to: this node's, or a new one placed
    /// here, or the refusal (`wrong_node` with the owner's URL, `placement_unavailable`, or
    /// `server_draining` for a room this draining node does not run).
    async fn place(&self, room: &str) -> Result<RoomHandle, ErrorBody> {
        let draining = *self.connections.draining.borrow();
        self.connections.rooms.get_or_place(room, draining).await
    }

    /// `resume` on a fresh socket: the room is found by the resume token (spec §7.2).
    async fn resume(&mut self, req_id: ReqId, args: ResumeArgs) -> Option<Response> {
        let Some(room) = self
            .connections
            .rooms
            .room_of_resume_token(args.resume_token.expose())
        else {
            return Some(error(
                req_id,
                ErrorCode::ResumeFailed,
                "unknown resume token or grace expired",
            ));
        };
        let handled = room
            .command(self.link.clone(), req_id.clone(), Command::Resume(args))
            .await;
        self.settle(room, handled, req_id)
    }

    /// A command for the bound room; the room answers through the outgoing queue.
    async fn forward(
        &mut self,
        room: &RoomHandle,
        req_id: ReqId,
        command: Command,
    ) -> Option<Response> {
        let handled = room
            .command(self.link.clone(), req_id.clone(), command)
            .await;
        self.settle(room.clone(), handled, req_id)
    }

    /// Records whether the socket is still bound to `room` after it handled an input.
    fn settle(
        &mut self,
        room: RoomHandle,
        handled: Option<Handled>,
        req_id: ReqId,
    ) -> Option<Response> {
        match handled {
            Some(Handled { bound }) => {
                if bound && self.room.is_none() {
                    info!(room = room.name(), "socket bound to room");
                }
                if bound {
                    // Joined: no deadline any more, and the address's place is free again.
                    self.unjoined = None;
                }
                self.room = bound.then_some(room);
                None
            }
            None => {
                self.room = None;
                Some(Response::err(Some(req_id), room_gone()))
            }
        }
    }
}

fn error(req_id: ReqId, code: ErrorCode, message: impl Into<String>) -> Response {
    Response::err(Some(req_id), ErrorBody::new(code, message))
}
