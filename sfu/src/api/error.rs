//! API errors in the protocol's shape (spec §6.2, §6.6): the body is the `error` object of a
//! failed response, `{code, message, details?}`, and the HTTP status follows the code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use signalling_proto::{
    ArgumentError, ErrorBody, ErrorCode, InvalidArgumentDetails, WrongNodeDetails,
};

use crate::api::auth::AuthError;
use crate::api::PREFIX;
use crate::cluster::Placement;

/// A failed API request.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// The status of a protocol error code: 400 for bad input, 401/403 for credentials and
    /// roles, 404 for unknown ids, 429 for rate limits, 409 for every state conflict.
    pub(crate) fn from_body(body: ErrorBody) -> Self {
        use ErrorCode as C;
        let status = match body.code {
            C::InvalidRequest | C::UnknownCommand | C::InvalidArgument => StatusCode::BAD_REQUEST,
            C::InvalidCredential => StatusCode::UNAUTHORIZED,
            C::Forbidden => StatusCode::FORBIDDEN,
            C::ParticipantNotFound
            | C::KnockNotFound
            | C::MessageNotFound
            | C::StreamNotFound
            | C::SessionNotFound
            | C::RoomNotFound => StatusCode::NOT_FOUND,
            C::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            C::ServerDraining | C::PlacementUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            C::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        };
        Self { status, body }
    }

    /// 400 `invalid_argument` naming the field.
    pub(crate) fn invalid_argument(details: &InvalidArgumentDetails) -> Self {
        Self::from_body(ErrorBody::invalid_argument(details, details.describe()))
    }

    /// 400 `invalid_argument` from a body that did not decode.
    pub(crate) fn from_argument_error(error: &ArgumentError) -> Self {
        let details = error.details();
        let message = format!("{}: {}", details.field, error.message());
        Self::from_body(ErrorBody::invalid_argument(&details, message))
    }

    /// 400 `invalid_request`: the body is not JSON at all.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::from_body(ErrorBody::new(ErrorCode::InvalidRequest, message))
    }

    /// 404 `room_not_found`.
    pub(crate) fn room_not_found() -> Self {
        Self::from_body(ErrorBody::new(ErrorCode::RoomNotFound, "no such room"))
    }

    /// 409 `wrong_node`: `room` runs (or was just placed) on another node of the cluster;
    /// `details` carry that node's API root (`url`) and id. Not a 307: HTTP clients drop the
    /// `Authorization` header when a redirect changes host or port, so a redirect would
    /// arrive without credentials.
    pub(crate) fn wrong_node(room: &str, owner: &Placement) -> Self {
        Self::from_body(ErrorBody::with_details(
            ErrorCode::WrongNode,
            format!("room {room} runs on node {}: call its API", owner.node_id),
            &WrongNodeDetails {
                url: api_root(&owner.url),
                node_id: owner.node_id.clone(),
            },
        ))
    }

    /// 409 for a room name already running.
    pub(crate) fn room_exists() -> Self {
        Self {
            status: StatusCode::CONFLICT,
            body: ErrorBody::with_details(
                ErrorCode::InvalidArgument,
                "a room with this name is running",
                &InvalidArgumentDetails::new(
                    "name",
                    signalling_proto::ArgumentReason::InvalidValue,
                ),
            ),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(message) => {
                Self::from_body(ErrorBody::new(ErrorCode::InvalidCredential, message))
            }
            AuthError::Forbidden => Self::from_body(ErrorBody::new(
                ErrorCode::Forbidden,
                "the token carries no admin grant for this",
            )),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The API root of the node whose `/rtc` WebSocket URL is `rtc_url` (the URL nodes publish):
/// `ws://h:p/rtc` → `http://h:p/api/v1`, `wss://` → `https://`. The API is served on the same
/// port as `/rtc`.
pub(crate) fn api_root(rtc_url: &str) -> String {
    let (scheme, rest) = if let Some(rest) = rtc_url.strip_prefix("wss://") {
        ("https://", rest)
    } else if let Some(rest) = rtc_url.strip_prefix("ws://") {
        ("http://", rest)
    } else {
        ("", rtc_url)
    };
    let rest = rest
        .strip_suffix("/rtc")
        .unwrap_or(rest)
        .trim_end_matches('/');
    format!("{scheme}{rest}{PREFIX}")
}

#[cfg(test)]
mod tests {
    use super::api_root;

    #[test]
    fn the_api_root_is_the_rtc_url_s_origin() {
        assert_eq!(
            api_root("ws://127.0.0.1:7890/rtc"),
            "http://127.0.0.1:7890/api/v1"
        );
        assert_eq!(
            api_root("wss://sfu-2.example.com/rtc"),
            "https://sfu-2.example.com/api/v1"
        );
        assert_eq!(
            api_root("wss://edge.example.com/sfu-2/rtc"),
            "https://edge.example.com/sfu-2/api/v1"
        );
    }
}
