//! `IceServer`: a STUN/TURN server a client adds to its `RTCPeerConnection` (W3C WebRTC
//! `RTCIceServer`), carried by the `join_room` result.

use serde::{Deserialize, Serialize};

use crate::Secret;

/// One entry of `RoomJoined.iceServers`, shaped like the browser's `RTCIceServer` so a client
/// passes the list to `new RTCPeerConnection({iceServers})` unchanged.
///
/// For TURN the credentials are time-limited (the TURN REST scheme coturn implements with
/// `use-auth-secret`): `username` is `<expiry unix seconds>:<id>` and `credential` the base64
/// HMAC-SHA1 of it under the secret shared with the TURN server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IceServer {
    /// `turn:host:port?transport=udp`, `turns:host:443?transport=tcp`, `stun:host:port`.
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Secret>,
}
