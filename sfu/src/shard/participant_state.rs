//! `ParticipantState`: a participant placed on a shard: its room, its downlink in the room's
//! core, and its two transports once each is negotiated.

use std::time::Instant;

use super::peer::PeerKey;
use super::room_id::RoomId;
use crate::core::DownlinkId;

#[derive(Debug)]
pub(crate) struct ParticipantState {
    pub room: RoomId,
    /// When the participant was added to the shard (the start of its join latency).
    pub joined_at: Instant,
    pub downlink: DownlinkId,
    pub publisher: Option<PeerKey>,
    pub subscriber: Option<PeerKey>,
}
