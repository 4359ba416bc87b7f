//! The `error` object of a failed response, and the typed `details` of the codes that have them
//! (spec §6.2, §6.6).

use crate::{ErrorCode, InvalidArgumentDetails};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{code, message, details?}` (spec §6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// Human readable; clients must not parse it.
    pub message: String,
    /// Code-specific fields; see the `*Details` types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
}

impl ErrorBody {
    /// An error without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// An error with typed details (one of the `*Details` structs, or any struct).
    pub fn with_details<T: Serialize>(
        code: ErrorCode,
        message: impl Into<String>,
        details: &T,
    ) -> Self {
        let details = match serde_json::to_value(details) {
            Ok(Value::Object(map)) => Some(map),
            // Details types are structs; anything else is dropped rather than sent malformed.
            _ => None,
        };
        Self {
            code,
            message: message.into(),
            details,
        }
    }

    /// `invalid_argument` with `{field, reason, min?, max?}`.
    pub fn invalid_argument(details: &InvalidArgumentDetails, message: impl Into<String>) -> Self {
        Self::with_details(ErrorCode::InvalidArgument, message, details)
    }

    /// The details decoded as `T` (e.g. [`RateLimitedDetails`]).
    pub fn details_as<T: for<'de> Deserialize<'de>>(&self) -> Option<T> {
        let details = self.details.clone()?;
        serde_json::from_value(Value::Object(details)).ok()
    }
}

/// `details` of `rate_limited` (spec §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitedDetails {
    pub retry_after_ms: u64,
}

/// `details` of `wrong_node`: the node that runs the room, and its signalling URL (the
/// `/rtc` WebSocket URL to send the same `join_room` to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WrongNodeDetails {
    pub url: String,
    pub node_id: String,
}

/// `details` of an atomic multi-target command that failed: the offending ids (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvalidTargetsDetails {
    pub invalid: Vec<String>,
}
