//! HTTPS and WSS served by the server itself (`--tls-cert` / `--tls-key`): a real TLS client
//! that trusts only a certificate generated here reaches `/healthz` and joins a room over
//! `wss://…/rtc`; a client that never finishes its handshake delays nobody, and plain HTTP on
//! the TLS port gets no answer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::ws::{join_args, token, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sfu::Config;
use signalling_proto::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
struct TestCert {
    dir: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    fn new(name: &str) -> TestCert {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("a certificate");
        let dir = std::env::temp_dir().join(format!("sfu-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("cert.pem"), generated.cert.pem()).expect("cert written");
        std::fs::write(dir.join("key.pem"), generated.signing_key.serialize_pem())
            .expect("key written");
        TestCert {
            dir,
            der: generated.cert.der().clone(),
        }
    }

    fn config(&self) -> Config {
        Config {
            tls_cert: Some(self.dir.join("cert.pem")),
            tls_key: Some(self.dir.join("key.pem")),
            ..Config::ephemeral()
        }
    }

    /// A client that trusts this certificate only.
    fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("root added");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    async fn connect(&self, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("server name");
        tokio::time::timeout(Duration::from_secs(10), self.connector().connect(name, tcp))
            .await
            .expect("handshake in time")
            .expect("TLS handshake with the generated certificate")
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn https_get(cert: &TestCert, addr: SocketAddr, path: &str) -> String {
    let mut tls = cert.connect(addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    // A TLS peer may close without close_notify; what was read counts.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

// HTTPS answers /healthz and a WSS client joins a room; the join result is the usual one.
#[tokio::test]
async fn https_and_wss_are_served_with_the_configured_certificate() {
    let cert = TestCert::new("serve");
    let server = TestServer::start_with(cert.config()).await;
    let answer = https_get(&cert, server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let tls = cert.connect(server.addr).await;
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/rtc", tls)
        .await
        .expect("WebSocket upgrade over TLS");
    let join = json!({"type": "command", "name": "join_room", "reqId": "1",
        "args": join_args("tls-1", &token("tls-1", "ada", Role::Host))});
    ws.send(Message::text(join.to_string()))
        .await
        .expect("sent");
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a response in time")
        .expect("a frame")
        .expect("no error");
    let response: Value = serde_json::from_str(frame.to_text().expect("text")).expect("JSON");
    assert_eq!(response["ok"], true, "{response}");
    assert!(response["result"]["selfId"].is_string(), "{response}");
}

// A client that opens a connection and never sends its ClientHello, and one that speaks plain
// HTTP to the TLS port, do not keep the server from serving the next TLS client.
#[tokio::test]
async fn stalled_and_plaintext_clients_do_not_block_tls_clients() {
    let cert = TestCert::new("stall");
    let server = TestServer::start_with(cert.config()).await;
    let _silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("written");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP must not be served on the TLS port"
    );
    let answer = https_get(&cert, server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

// Files that are not a certificate and key stop the server with a message naming the flag.
#[tokio::test]
async fn unreadable_certificate_files_stop_the_start() {
    let cert = TestCert::new("bad");
    std::fs::write(cert.dir.join("cert.pem"), "not a certificate").expect("written");
    let config = cert.config();
    let (listener, _) = sfu::bind(&config).await.expect("bind");
    let error = sfu::run(config, listener, std::future::pending())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("--tls-cert"), "{error}");
}
