//! The one error type of the client.

use signalling_proto::{CommandName, ErrorBody, ErrorCode};
use std::fmt;

/// Why a client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// The WebSocket or HTTP connection failed or closed.
    Transport(String),
    /// The server answered the command with an error.
    Refused {
        /// The command refused.
        command: CommandName,
        /// The server's error (code, message, details).
        error: ErrorBody,
    },
    /// A frame or result did not decode.
    Protocol(String),
    /// The WebRTC stack failed.
    WebRtc(String),
    /// Something did not happen in time.
    Timeout(&'static str),
}

impl ClientError {
    /// The server's error code, when the server refused a command.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Transport(m) => write!(f, "transport: {m}"),
            ClientError::Refused { command, error } => {
                write!(f, "{command} refused: {}: {}", error.code, error.message)
            }
            ClientError::Protocol(m) => write!(f, "protocol: {m}"),
            ClientError::WebRtc(m) => write!(f, "webrtc: {m}"),
            ClientError::Timeout(what) => write!(f, "timed out: {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<webrtc::error::Error> for ClientError {
    fn from(e: webrtc::error::Error) -> Self {
        ClientError::WebRtc(e.to_string())
    }
}
