//! Which browser pages may use the server (`--allowed-origins`, PROTOCOL.md §1.2), over real
//! HTTP and WebSocket on 127.0.0.1: `/rtc` refuses the upgrade of a disallowed page with 403,
//! `/dev/token` answers allowed pages of other origins with CORS headers, the server's own
//! page and clients that send no `Origin` are never refused, and development mode allows the
//! pages of this machine.
//!
//! Servers run in-process on ephemeral ports, so these tests run in parallel.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sfu::token::{Claims, TokenKey};
use sfu::Config;
use signalling_proto::{Role, Secret};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SECRET: &str = "origin-test-secret-0123456789abcdef0123";

/// A server running in this process until the test ends.
struct TestServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    async fn start(config: Config) -> Self {
        let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sfu::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self { addr, _stop: stop }
    }
}

/// What an HTTP request got: status, the `Access-Control-Allow-Origin` header, the body.
struct Answer {
    status: u16,
    allow_origin: Option<String>,
    body: String,
}

async fn request(addr: SocketAddr, method: Method, path: &str, origin: Option<&str>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(origin) = origin {
        builder = builder.header(ORIGIN, origin);
    }
    let response = client
        .request(builder.body(Empty::new()).expect("a valid request"))
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let allow_origin = response
        .headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().expect("ASCII header").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body read")
        .to_bytes();
    Answer {
        status,
        allow_origin,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    }
}

/// Opens `/rtc` as a page of `origin` (or as a non-browser client). `Ok`: the socket, upgraded;
/// `Err`: the HTTP status and body the upgrade was refused with.
async fn open_rtc(
    addr: SocketAddr,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, String),
> {
    let mut request = format!("ws://{addr}/rtc")
        .into_client_request()
        .expect("a valid URL");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert(ORIGIN, origin.parse().expect("a valid header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("/rtc as {origin:?}: {other}"),
    }
}

/// Joins `room` on an upgraded socket and returns the response frame: the socket works.
async fn join(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    token: &str,
) -> Value {
    let frame = json!({
        "type": "command", "name": "join_room", "reqId": "j1",
        "args": {
            "roomName": "origins", "credential": {"token": token}, "displayName": "Ada",
            "capabilities": {"breakouts": true, "screenshare": true},
            "media": {"audio": false, "video": false},
        },
    });
    socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("join_room sent");
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
            .await
            .expect("an answer within 5 s")
            .expect("socket open")
            .expect("a frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("JSON frame");
            if value["type"] == "response" {
                return value;
            }
        }
    }
}

fn production(origins: &[&str]) -> Config {
    Config {
        api_secret: Some(Secret::from(SECRET)),
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        ..Config::ephemeral()
    }
}

// With a secret and one allowed origin: that page, the server's own page and a non-browser
// client open /rtc and join; any other page, and a page of this machine, get 403 before the
// upgrade, with a body naming the setting.
#[tokio::test]
async fn rtc_refuses_pages_of_disallowed_origins() {
    let server = TestServer::start(production(&["https://app.example.com"])).await;
    let key = TokenKey::new(&Secret::from(SECRET), None);
    let own = format!("http://{}", server.addr);
    for (n, origin) in [
        Some("https://app.example.com"),
        Some("HTTPS://APP.example.com:443"),
        Some(own.as_str()),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let mut socket = open_rtc(server.addr, origin)
            .await
            .unwrap_or_else(|refused| panic!("{origin:?} refused: {refused:?}"));
        let token = key
            .sign(&Claims::new("origins", format!("user-{n}"), Role::Visitor))
            .expect("signed");
        let answer = join(&mut socket, &token).await;
        assert_eq!(answer["ok"], true, "{origin:?}: {answer}");
    }
    for origin in [
        "https://evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "http://localhost:3000",
        "null",
    ] {
        let (status, body) = open_rtc(server.addr, Some(origin))
            .await
            .err()
            .unwrap_or_else(|| panic!("{origin} was upgraded"));
        assert_eq!(status, 403, "{origin}: {body}");
        assert!(body.contains("not allowed"), "{origin}: {body}");
    }
    // /dev/token does not exist with a secret, whatever the origin.
    let answer = request(
        server.addr,
        Method::GET,
        "/dev/token?room=r&identity=i",
        Some("https://app.example.com"),
    )
    .await;
    assert_eq!(answer.status, 404);
}

// `*` allows every page.
#[tokio::test]
async fn a_star_allows_every_page() {
    let server = TestServer::start(production(&["*"])).await;
    assert!(open_rtc(server.addr, Some("https://anything.example"))
        .await
        .is_ok());
}

// Development mode with no list: pages of this machine on any port read /dev/token (CORS
// header naming the page) and open /rtc; another site's page gets 403 and no CORS header;
// the preflight of an allowed page is answered; the server's own page and curl need no CORS.
#[tokio::test]
async fn development_mode_allows_pages_of_this_machine() {
    let server = TestServer::start(Config::ephemeral()).await;
    let path = "/dev/token?room=origins&identity=ada&role=host";
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
    ] {
        let answer = request(server.addr, Method::GET, path, Some(origin)).await;
        assert_eq!(answer.status, 200, "{origin}: {}", answer.body);
        assert_eq!(answer.allow_origin.as_deref(), Some(origin));
        let token: Value = serde_json::from_str(&answer.body).expect("JSON");
        let mut socket = open_rtc(server.addr, Some(origin))
            .await
            .unwrap_or_else(|refused| panic!("{origin} refused: {refused:?}"));
        let joined = join(&mut socket, token["token"].as_str().expect("a token")).await;
        assert_eq!(joined["ok"], true, "{origin}: {joined}");
    }
    let evil = request(server.addr, Method::GET, path, Some("https://evil.example")).await;
    assert_eq!(evil.status, 403, "{}", evil.body);
    assert_eq!(evil.allow_origin, None);
    assert_eq!(
        open_rtc(server.addr, Some("https://evil.example"))
            .await
            .err()
            .map(|(status, _)| status),
        Some(403)
    );
    let preflight = request(
        server.addr,
        Method::OPTIONS,
        "/dev/token",
        Some("http://localhost:5173"),
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.allow_origin.as_deref(),
        Some("http://localhost:5173")
    );
    let own = format!("http://{}", server.addr);
    for origin in [Some(own.as_str()), None] {
        let answer = request(server.addr, Method::GET, path, origin).await;
        assert_eq!(answer.status, 200, "{origin:?}");
        assert_eq!(answer.allow_origin, None, "{origin:?}");
    }
}

// A listed origin in development mode adds to this machine's pages.
#[tokio::test]
async fn development_mode_takes_the_list_too() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["https://app.example.com".to_owned()],
        ..Config::ephemeral()
    })
    .await;
    let path = "/dev/token?room=origins&identity=ada";
    let listed = request(
        server.addr,
        Method::GET,
        path,
        Some("https://app.example.com"),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.allow_origin.as_deref(),
        Some("https://app.example.com")
    );
    let local = request(
        server.addr,
        Method::GET,
        path,
        Some("http://localhost:1234"),
    )
    .await;
    assert_eq!(local.status, 200);
}
