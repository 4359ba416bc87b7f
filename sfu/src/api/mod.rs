//! The server API (issue 18): an authenticated HTTP JSON API under [`PREFIX`] on the HTTP
//! port, for a meeting product's backend.
//!
//! * [`auth`]: admin tokens (HS256 with the server's API secret and an `admin` grant);
//! * [`routes`]: the endpoints that are one protocol command each (breakouts, moderation);
//! * [`handlers`]: rooms, participants and system chat, and the command endpoints' runner;
//! * [`types`]: the API's own bodies; everything else is a `signalling-proto` type;
//! * [`error`]: errors in the protocol's `{code, message, details}` shape;
//! * [`openapi`]: the OpenAPI 3.1 document, generated from the same tables and types, served
//!   at `/api/v1/openapi.json` and kept in `docs/openapi.json`.
//!
//! Every change to a room is a command the room actor runs as [`crate::control::SYSTEM`]
//! through the handlers a host's socket reaches: the API is one more caller of the rules.

pub mod auth;
pub(crate) mod error;
pub(crate) mod handlers;
pub(crate) mod openapi;
pub(crate) mod routes;
pub(crate) mod types;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;

use crate::room::RoomRegistry;
use crate::token::TokenKey;

/// Where the API lives on the HTTP port.
pub const PREFIX: &str = "/api/v1";

/// What the API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub tokens: Arc<TokenKey>,
    pub rooms: RoomRegistry,
}

/// The API's routes, to be nested under [`PREFIX`].
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new()
        .route("/openapi.json", get(handlers::openapi_document))
        .route(
            "/rooms",
            get(handlers::list_rooms).post(handlers::create_room),
        )
        .route(
            "/rooms/{room}",
            get(handlers::get_room).delete(handlers::end_room),
        )
        .route(
            "/rooms/{room}/participants",
            get(handlers::list_participants),
        )
        .route(
            "/rooms/{room}/participants/{participantId}",
            get(handlers::get_participant),
        )
        .route(
            "/rooms/{room}/participants/{participantId}/remove",
            post(handlers::remove_participant),
        )
        .route(
            "/rooms/{room}/participants/{participantId}/mute",
            post(handlers::mute_participant),
        )
        .route(
            "/rooms/{room}/participants/{participantId}/name",
            post(handlers::rename_participant),
        )
        .route("/rooms/{room}/chat", post(handlers::send_chat))
        .route("/rooms/{room}/tokens", post(handlers::create_token));
    for route in routes::COMMAND_ROUTES {
        let handler = move |state: State<ApiState>,
                            params: Result<Path<HashMap<String, String>>, PathRejection>,
                            headers: HeaderMap,
                            body: Bytes| {
            handlers::run_command(state, route, params, headers, body)
        };
        let method_router = match route.method {
            routes::Method::Get => get(handler),
            routes::Method::Post => post(handler),
        };
        router = router.route(route.path, method_router);
    }
    router.with_state(state)
}
