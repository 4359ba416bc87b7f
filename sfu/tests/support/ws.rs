//! A `/rtc` WebSocket test client and an in-process server on 127.0.0.1:0, shared by the
//! signalling test files. Every wait has a deadline; nothing sleeps for correctness.
#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sfu::token::{Claims, TokenKey};
use sfu::Config;
use signalling_proto::Role;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any one expected frame may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// A development-mode server (tokens signed with the development key) on 127.0.0.1:0.
    pub async fn start() -> Self {
        Self::start_with(Config::ephemeral()).await
    }

    /// A server with `config` (use ports 0).
    pub async fn start_with(config: Config) -> Self {
        let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sfu::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

pub fn token(room: &str, identity: &str, role: Role) -> String {
    TokenKey::development()
        .sign(&Claims::new(room, identity, role).with_name(identity))
        .expect("valid claims")
}

/// What the client saw next.
#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Closed(Option<(u16, String)>),
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_req: u64,
    /// Events read while waiting for something else, in order.
    pub events: Vec<Value>,
    /// The last `seq` seen; each event's must be one more (spec §6.3).
    pub last_seq: u64,
    /// `false` until the first event on a resumed socket, whose `seq` continues the old one's.
    pub seq_known: bool,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/rtc"))
            .await
            .expect("WebSocket upgrade on /rtc");
        Self {
            ws,
            next_req: 0,
            events: Vec::new(),
            last_seq: 0,
            seq_known: true,
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("frame sent");
    }

    /// Sends a command; returns its `reqId`.
    pub async fn send(&mut self, name: &str, args: Value) -> String {
        self.next_req += 1;
        let req_id = format!("r{}", self.next_req);
        let frame = json!({"type": "command", "name": name, "reqId": req_id, "args": args});
        self.send_text(frame.to_string()).await;
        req_id
    }

    /// Sends a command and waits for its response.
    pub async fn call(&mut self, name: &str, args: Value) -> Value {
        let req_id = self.send(name, args).await;
        self.response(&req_id).await
    }

    pub async fn next_frame(&mut self) -> Frame {
        loop {
            let next = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("a frame within the deadline");
            match next {
                None | Some(Err(_)) => return Frame::Closed(None),
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    return Frame::Json(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Frame::Closed(
                        frame.map(|CloseFrame { code, reason }| (code.into(), reason.to_string())),
                    )
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads frames until the response to `req_id`, keeping the events met on the way.
    pub async fn response(&mut self, req_id: &str) -> Value {
        loop {
            match self.next_frame().await {
                Frame::Json(value) if value["type"] == "response" => {
                    assert_eq!(value["reqId"], json!(req_id), "responses come in order");
                    return value;
                }
                Frame::Json(value) => self.keep_event(value),
                Frame::Closed(close) => panic!("closed {close:?} while waiting for {req_id}"),
            }
        }
    }

    /// A response to a frame whose `reqId` the server could not read.
    pub async fn anonymous_response(&mut self) -> Value {
        loop {
            match self.next_frame().await {
                Frame::Json(value) if value["type"] == "response" => return value,
                Frame::Json(value) => self.keep_event(value),
                Frame::Closed(close) => panic!("closed {close:?} while waiting for a response"),
            }
        }
    }

    pub fn keep_event(&mut self, value: Value) {
        assert_eq!(value["type"], "event", "{value}");
        if let Some(seq) = value["seq"].as_u64() {
            if self.seq_known {
                assert_eq!(seq, self.last_seq + 1, "seq grows by one: {value}");
            }
            self.seq_known = true;
            self.last_seq = seq;
        }
        self.events.push(value);
    }

    /// The first not yet taken event named `name` (reading more frames as needed).
    pub async fn event(&mut self, name: &str) -> Value {
        loop {
            if let Some(at) = self.events.iter().position(|e| e["name"] == name) {
                return self.events.remove(at);
            }
            match self.next_frame().await {
                Frame::Json(value) => self.keep_event(value),
                Frame::Closed(close) => panic!("closed {close:?} while waiting for {name}"),
            }
        }
    }

    /// Reads until the server closes; the close code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match self.next_frame().await {
                Frame::Json(value) => {
                    if value["type"] == "event" {
                        self.keep_event(value);
                    }
                }
                Frame::Closed(close) => return close,
            }
        }
    }

    pub async fn join(&mut self, room: &str, identity: &str, role: Role) -> Value {
        self.call("join_room", join_args(room, &token(room, identity, role)))
            .await
    }
}

impl Client {
    /// Admission through the waiting room of a locked room (spec §7.1, §8.2): `room_locked`,
    /// `knock_room`, `host` accepts, `join_room` with the grant on this socket. The
    /// `room_joined` response.
    pub async fn join_through_knock(
        &mut self,
        host: &mut Client,
        room: &str,
        identity: &str,
        role: Role,
    ) -> Value {
        let refused = self.join(room, identity, role).await;
        assert_eq!(error_code(&refused), "room_locked");
        let self_id = refused["error"]["details"]["selfId"].clone();
        ok_result(&self.call("knock_room", json!({})).await);
        host.event("room_knocked").await;
        let accept = json!({"participantId": self_id, "action": "accept"});
        ok_result(&host.call("handle_knock", accept).await);
        let handled = self.event("knock_handled").await;
        let mut args = join_args(room, "");
        args["credential"] = json!({"grant": handled["data"]["grant"]});
        args["selfId"] = self_id;
        self.call("join_room", args).await
    }
}

pub fn join_args(room: &str, token: &str) -> Value {
    json!({
        "roomName": room,
        "credential": {"token": token},
        "capabilities": {"breakouts": false, "screenshare": true},
        "media": {"audio": true, "video": true},
    })
}

pub fn ok_result(response: &Value) -> &Value {
    assert_eq!(response["ok"], true, "expected success: {response}");
    &response["result"]
}

pub fn error_code(response: &Value) -> &str {
    assert_eq!(response["ok"], false, "expected an error: {response}");
    response["error"]["code"].as_str().expect("error code")
}

pub fn self_id(joined: &Value) -> String {
    ok_result(joined)["selfId"]
        .as_str()
        .expect("selfId")
        .to_owned()
}

// Two clients join one room: the first sees the second arrive (`new_client`), events carry
// seq 1, 2, ... per connection, and each response precedes the events its command caused.

/// A plain HTTP/1.1 GET: the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// The value of one sample line of a Prometheus exposition (`name` with its labels, exactly).
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// A `/rtc` WebSocket opened by hand on a raw TCP socket, for frames no well-behaved client
/// library would send (RFC 6455 violations). Returns the stream just after the 101 response.
pub async fn raw_upgrade(addr: SocketAddr) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = "GET /rtc HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("request");
    // Byte by byte up to the blank line, so no frame byte after the head is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(DEADLINE, stream.read_u8())
            .await
            .expect("upgrade answered in time")
            .expect("upgrade response");
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// One client frame (FIN and opcode in `first`, with any reserved bits), masked as RFC 6455
/// §5.3 requires of clients; payloads under 126 bytes.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let len = u8::try_from(payload.len()).expect("short payload");
    assert!(len < 126, "short payload");
    let mut frame = vec![first, 0x80 | len];
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// Reads everything the server sends until it closes the TCP connection, and returns the
/// code and reason of the close frame among it; `None` for a bare TCP close.
pub async fn raw_close(stream: &mut TcpStream) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    // A reset after the close frame still leaves what was read.
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut bytes))
        .await
        .expect("the server ends the connection in time");
    let mut rest = &bytes[..];
    // Server frames are unmasked (RFC 6455 §5.1).
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let (len, start) = match rest[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 => panic!("no server frame here is that long"),
            n => (usize::from(n), 2),
        };
        let payload = &rest[start..start + len];
        if opcode == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
        }
        rest = &rest[start + len..];
    }
    None
}
