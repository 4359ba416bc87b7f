//! `RoomPolicy`: the static per-room settings (spec §5.1, §17.2-§17.3).

use std::time::Duration;

/// What a room was provisioned with; the defaults are the spec's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Person roles except viewers.
    pub max_participants: u32,
    pub max_viewers: u32,
    /// Hard ceiling 100 (used by breakouts).
    pub max_sessions: u32,
    pub reconnect_grace: Duration,
    /// `None` = knockers wait forever (the spec's `0`).
    pub knock_timeout: Option<Duration>,
    pub viewers_must_knock: bool,
    pub screenshare_policy: ScreensharePolicy,
    pub stop_screenshare_on_move: bool,
    /// Messages of the new scope sent on entering it.
    pub chat_history_on_enter: u32,
    /// §17.3: when false, a host-muted participant cannot unmute itself.
    pub allow_self_unmute: bool,
    /// 30..=300 s (§12).
    pub edit_lock_ttl: Duration,
    /// The initial `is_locked` ("policy may preset true", spec §5.1).
    pub locked: bool,
}

/// How many screenshares a location may have at once (spec §5.1, §13.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScreensharePolicy {
    Multiple,
    OnePerLocation,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self {
            max_participants: 200,
            max_viewers: 400,
            max_sessions: 50,
            reconnect_grace: Duration::from_secs(30),
            knock_timeout: Some(Duration::from_secs(600)),
            viewers_must_knock: false,
            screenshare_policy: ScreensharePolicy::Multiple,
            stop_screenshare_on_move: true,
            chat_history_on_enter: 50,
            allow_self_unmute: true,
            edit_lock_ttl: Duration::from_secs(30),
            locked: false,
        }
    }
}
