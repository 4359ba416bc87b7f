//! A minimal HTTP/1.1 GET over a plain TCP connection, enough for `/dev/token` and `/metrics`
//! on the SFU (no TLS, no redirects: the load tester talks to a server on loopback).

use crate::client_error::ClientError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `http://host:port/path` and returns (status, body).
pub async fn get(url: &str) -> Result<(u16, String), ClientError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Transport(format!("{url}: only http:// is supported")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let transport = |e: std::io::Error| ClientError::Transport(format!("GET {url}: {e}"));
    let mut stream = TcpStream::connect(authority).await.map_err(transport)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(transport)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(transport)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol(format!("GET {url}: no header end")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol(format!("GET {url}: no status")))?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The HTTP base (`http://host:port`) of a signalling URL (`ws://host:port/rtc`).
pub fn http_base(ws_url: &str) -> String {
    let rest = ws_url
        .strip_prefix("ws://")
        .or_else(|| ws_url.strip_prefix("http://"))
        .unwrap_or(ws_url);
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("http://{authority}")
}
