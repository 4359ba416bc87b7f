//! `ParticipantState`: a participant placed on a shard: its downlink in its room's core, and
//! its two transports once each is negotiated. The shard keys it by room and participant id
//! together (ids are counted per room).

use std::time::Instant;

use super::peer::PeerKey;
use crate::core::DownlinkId;

#[derive(Debug)]
pub(crate) struct ParticipantState {
    /// When the participant was added to the shard (the start of its join latency).
    pub joined_at: Instant,
    pub downlink: DownlinkId,
    pub publisher: Option<PeerKey>,
    pub subscriber: Option<PeerKey>,
}
