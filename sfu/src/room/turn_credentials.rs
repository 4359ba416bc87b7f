//! Time-limited TURN credentials for the `join_room` result (PROTOCOL.md §10, `iceServers`).
//!
//! The TURN REST scheme (draft-uberti-behave-turn-rest-00 §2.2), which coturn checks when it
//! runs with `use-auth-secret` and `static-auth-secret=<secret>`: the username is
//! `<expiry as Unix seconds>:<id>` and the password base64(HMAC-SHA1(secret, username)). coturn
//! recomputes the password from the username and refuses it once the expiry has passed, so the
//! SFU and coturn share only the secret, never a user list.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use signalling_proto::{IceServer, Secret};

/// The TURN servers of the configuration and the secret shared with them.
#[derive(Debug, Clone)]
pub struct TurnCredentials {
    urls: Vec<String>,
    key: HmacKey,
    ttl: Duration,
}

/// The HMAC key; its `Debug` never prints the secret.
#[derive(Clone)]
struct HmacKey(hmac::Key);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl TurnCredentials {
    /// `urls` (`turn:` / `turns:` / `stun:`) with credentials under `secret`, each valid for
    /// `ttl` from the moment it is handed out.
    pub fn new(urls: Vec<String>, secret: &Secret, ttl: Duration) -> TurnCredentials {
        TurnCredentials {
            urls,
            key: HmacKey(hmac::Key::new(
                hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                secret.expose().as_bytes(),
            )),
            ttl,
        }
    }

    /// The `iceServers` entry for `id` (the participant), valid until `now + ttl`.
    pub fn ice_servers(&self, id: &str, now: SystemTime) -> Vec<IceServer> {
        let expiry = now
            .checked_add(self.ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let username = format!("{expiry}:{id}");
        let tag = hmac::sign(&self.key.0, username.as_bytes());
        let credential = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
        vec![IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(Secret(credential)),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The password is the one coturn computes: base64(HMAC-SHA1(secret, "expiry:id")), checked
    // against Python's hmac module (`hmac.new(b'north-sea-turn-secret', b'1714564800:p-1',
    // hashlib.sha1)`).
    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        let turn = TurnCredentials::new(
            vec!["turn:127.0.0.1:3478?transport=udp".into()],
            &Secret::from("north-sea-turn-secret"),
            Duration::from_secs(3600),
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_714_564_800 - 3600);
        let servers = turn.ice_servers("p-1", now);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].urls, ["turn:127.0.0.1:3478?transport=udp"]);
        assert_eq!(servers[0].username.as_deref(), Some("1714564800:p-1"));
        assert_eq!(
            servers[0].credential.as_ref().map(Secret::expose),
            Some("vs8zoigdHJ3iDq1elVuVv93kY1Q=")
        );
        assert!(!format!("{turn:?}").contains("north-sea"));
    }
}
