//! The HTTP routes (ARCHITECTURE.md §2): `/healthz`, `/readyz`, `/metrics` (Prometheus text),
//! the signalling WebSocket `/rtc` ([`super::connection`]), the demo page and browser client
//! ([`super::web_assets`]), and in development mode only `/dev/token` for the demo page
//! (DECISIONS.md §11). Browser pages other than the server's own reach `/rtc` and
//! `/dev/token` only from an allowed origin ([`super::origins`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use signalling_proto::Role;
use tokio::sync::watch;

use crate::clock;
use crate::metrics::Metrics;
use crate::signalling::connection::{self, Connections};
use crate::signalling::origins::{AllowedOrigins, OriginVerdict};
use crate::signalling::web_assets;
use crate::token::{parse_token_role, Claims, TokenKey};

/// Lifetime of a token from `/dev/token`.
pub(crate) const DEV_TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub(crate) struct HttpState {
    tokens: Arc<TokenKey>,
    draining: watch::Receiver<bool>,
    connections: Connections,
    metrics: Metrics,
    origins: Arc<AllowedOrigins>,
    /// Whether the cluster store answers (`/readyz` says 503 while it does not); `None` in
    /// tests without a cluster.
    store_up: Option<watch::Receiver<bool>>,
}

impl HttpState {
    /// State over the signalling connections (which hold the token key and the rooms) and the
    /// server's draining flag (`true` once shutdown begins).
    pub(crate) fn new(
        connections: Connections,
        draining: watch::Receiver<bool>,
        metrics: Metrics,
    ) -> Self {
        Self {
            tokens: Arc::clone(connections.tokens()),
            draining,
            connections,
            metrics,
            origins: Arc::new(AllowedOrigins::default()),
            store_up: None,
        }
    }

    /// `/readyz` answers 503 while `store_up` is `false`.
    pub(crate) fn with_store_up(mut self, store_up: watch::Receiver<bool>) -> Self {
        self.store_up = Some(store_up);
        self
    }

    /// The browser pages, besides the server's own, that may use `/rtc` and `/dev/token`
    /// (default: none).
    pub(crate) fn with_origins(mut self, origins: AllowedOrigins) -> Self {
        self.origins = Arc::new(origins);
        self
    }
}

/// `/rtc` takes only the connections' shared state, so `connection` needs nothing from this module.
impl FromRef<HttpState> for Connections {
    fn from_ref(state: &HttpState) -> Connections {
        state.connections.clone()
    }
}

/// The HTTP router. `/dev/token` is routed only when the key is the development key, so with a
/// configured secret it does not exist (404).
pub(crate) fn router(state: HttpState) -> Router {
    // The routes a browser page of another origin could abuse: they check its Origin.
    let mut guarded = Router::new().route("/rtc", get(connection::rtc));
    if state.tokens.is_development() {
        guarded = guarded.route("/dev/token", get(dev_token).options(dev_token_preflight));
    }
    let guarded = guarded.route_layer(middleware::from_fn_with_state(state.clone(), check_origin));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(guarded)
        .merge(web_assets::routes())
        .with_state(state)
}

/// Refuses a browser page of a disallowed origin with 403 before the route runs (for `/rtc`:
/// before the upgrade); answers an allowed page of another origin with CORS headers.
async fn check_origin(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    match state.origins.check(request.headers()) {
        OriginVerdict::Unrestricted => next.run(request).await,
        OriginVerdict::Allowed(origin) => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
            response
        }
        OriginVerdict::Refused(message) => (
            StatusCode::FORBIDDEN,
            [(header::VARY, HeaderValue::from_static("Origin"))],
            message,
        )
            .into_response(),
    }
}

/// The CORS preflight of `/dev/token` (a page that adds headers to its GET); the origin check
/// has already passed.
async fn dev_token_preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// The Prometheus text exposition (format 0.0.4) of every metric of the server.
async fn metrics(State(state): State<HttpState>) -> Response {
    // The shards' counters are read at scrape time: the packet path never touches the
    // registry, and a scrape is never staler than the request.
    state
        .metrics
        .observe_shards(state.connections.rooms().shards())
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 while serving, 503 once shutdown has begun (so load balancers send no new
/// clients while the server drains).
async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if *state.draining.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if state.store_up.as_ref().is_some_and(|up| !*up.borrow()) {
        // Rooms running here go on; new rooms cannot be placed until the store answers.
        (StatusCode::SERVICE_UNAVAILABLE, "cluster store unreachable")
    } else {
        (StatusCode::OK, "ok")
    }
}

/// `/dev/token` query parameters.
#[derive(Debug, Deserialize)]
struct DevTokenQuery {
    room: Option<String>,
    identity: Option<String>,
    /// Defaults to `visitor`.
    role: Option<String>,
    name: Option<String>,
}

/// Development mode only: a signed join token for the demo page, as `{"token": "..."}`.
async fn dev_token(
    State(state): State<HttpState>,
    query: Result<Query<DevTokenQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("query", "is not a valid query string");
    };
    let Some(room) = query.room else {
        return bad_request("room", "is required");
    };
    let Some(identity) = query.identity else {
        return bad_request("identity", "is required");
    };
    let role = match query.role.as_deref() {
        None => Role::Visitor,
        Some(text) => match parse_token_role(text) {
            Ok(role) => role,
            Err(error) => return bad_request(error.field, error.rule),
        },
    };
    let mut claims =
        Claims::new(room, identity, role).expiring_after(DEV_TOKEN_TTL, clock::system_now());
    // An empty name (a blank form field) means none: the join falls back to "Guest".
    claims.name = query.name.filter(|name| !name.trim().is_empty());
    match state.tokens.sign(&claims) {
        Ok(token) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "token": token })),
        )
            .into_response(),
        Err(error) => bad_request(error.field, error.rule),
    }
}

/// `400 {"error": "invalid_argument", "field": .., "message": ..}`, in the spec's error-code
/// vocabulary (§6.6).
fn bad_request(field: &str, rule: &str) -> Response {
    let body = json!({
        "error": "invalid_argument",
        "field": field,
        "message": format!("{field} {rule}"),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
