//! The error bodies the room layer answers with when a room cannot be reached or placed.

use signalling_proto::{ErrorBody, ErrorCode};

use crate::cluster::StoreError;

/// `internal_error` response body for a room that stopped under a session.
pub(crate) fn room_gone() -> ErrorBody {
    ErrorBody::new(ErrorCode::InternalError, "the room stopped; join again")
}

/// `placement_unavailable` for a store that could not place or look up a room; the store's
/// own error is logged (`Cluster::timed`), not handed to clients.
pub(super) fn store_refusal(error: &StoreError) -> ErrorBody {
    match error {
        StoreError::Unavailable(_) => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            "the cluster store does not answer, so a new room cannot be placed now; try \
             again in a moment",
        ),
        StoreError::NoServingNode => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            "no node of the cluster can take a new room now; try again in a moment",
        ),
        StoreError::WarmingUp => ErrorBody::new(
            ErrorCode::PlacementUnavailable,
            format!("{error}; try again in a moment"),
        ),
    }
}

/// `join_room` refused because this node drains and no other node takes the room.
pub(super) fn draining_refusal() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ServerDraining,
        "the server is shutting down; join through another server",
    )
}
