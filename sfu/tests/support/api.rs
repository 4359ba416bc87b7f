//! A client of the server API (`/api/v1`) for the API and webhook tests: real HTTP/1.1 over
//! 127.0.0.1 with hyper, admin tokens minted with the development key.
#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sfu::api::auth::{AdminClaims, AdminGrant};
use sfu::token::TokenKey;

/// An admin token for every room, signed with the development key.
pub fn admin_token() -> String {
    TokenKey::development().sign_json(&AdminClaims::new(
        "test",
        Duration::from_secs(300),
        sfu::clock::system_now(),
    ))
}

/// An admin token for `room` only.
pub fn room_token(room: &str) -> String {
    let mut claims = AdminClaims::new("test", Duration::from_secs(300), sfu::clock::system_now());
    claims.admin = Some(AdminGrant {
        room: Some(room.to_owned()),
    });
    TokenKey::development().sign_json(&claims)
}

pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: admin_token(),
        }
    }

    /// `method` on `/api/v1{path}` with the admin token; the status and the JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let bearer = format!("Bearer {}", self.token);
        self.raw(method, path, Some(&bearer), body.map(|b| b.to_string()))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `post` that must succeed; its body.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    /// Any request: `authorization` is the whole header value, `body` the raw text.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}/api/v1{path}", self.addr));
        if let Some(value) = authorization {
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
            .await
            .expect("answered in time")
            .expect("answered");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body read")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"notJson": String::from_utf8_lossy(&bytes)}));
        (status, value)
    }
}

/// Asserts a 400 `invalid_argument` naming `field`.
pub fn assert_bad_field(answer: &(u16, Value), field: &str) {
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(answer.1["code"], "invalid_argument", "{}", answer.1);
    assert_eq!(answer.1["details"]["field"], field, "{}", answer.1);
}
