//! The WebSocket close codes the room ends sockets with: 1000 and RFC 6455 codes for the
//! server's own reasons, 4000-4999 (RFC 6455 §7.4.2: for applications) for the rules'.

use crate::control::CloseReason;

/// The close code and reason for each way the room ends a socket. 1000 is a normal close;
/// the others are application codes (RFC 6455 §7.4.2: 4000-4999 are for applications).
pub fn close_code(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Left => (1000, "left"),
        CloseReason::Kicked => (4001, "kicked"),
        CloseReason::MeetingEnded => (4002, "meeting_ended"),
        CloseReason::KnockRejected => (4003, "knock_rejected"),
        CloseReason::Replaced => (4004, "replaced"),
        CloseReason::ServiceStopped => (4005, "service_stopped"),
    }
}

/// Close code for a client that does not read its frames fast enough (RFC 6455 1008, policy).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;

/// Close code when the room moved to another node (fencing): RFC 6455 1012, service restart.
/// Clients reconnect; their resume fails here and they join again.
pub const CLOSE_ROOM_MOVED: u16 = 1012;
