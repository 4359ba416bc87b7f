//! Admin tokens of the server API: short-lived HS256 JWTs signed with the server's API secret
//! (the key of join tokens, under the same `kid`), carrying an `admin` grant.
//!
//! Claims: `sub` (who is calling, for logs), `exp` (required, at most [`MAX_ADMIN_TTL`] ahead)
//! and `admin: {}` for every room or `admin: {"room": "team-1"}` for one. A join token has no
//! `admin` grant, so a participant's token is refused with 403 even though its signature is
//! good; an admin token has no `room`/`role` claims, so it never admits to a room either.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::token::{TokenError, TokenKey, EXPIRY_LEEWAY};

/// The longest lifetime an admin token may claim: a leaked one is useful for a day at most.
pub const MAX_ADMIN_TTL: Duration = Duration::from_secs(24 * 3600);

/// What `sfu room ...` and the other CLI commands mint for each call.
pub const CLI_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The claims of an admin token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClaims {
    /// Who calls (free text, logged).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch; required for admin tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// The grant; absent in join tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminGrant>,
}

/// What an admin token may do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AdminGrant {
    /// Only this room (no listing of others, no creating others); absent: every room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl AdminGrant {
    /// Whether the grant covers `room`.
    pub fn covers(&self, room: &str) -> bool {
        self.room.as_deref().is_none_or(|only| only == room)
    }
}

impl AdminClaims {
    /// An admin token's claims for every room, expiring `ttl` after `now`.
    pub fn new(sub: impl Into<String>, ttl: Duration, now: SystemTime) -> Self {
        Self {
            sub: sub.into(),
            exp: Some(unix_seconds(now + ttl)),
            admin: Some(AdminGrant::default()),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// 401: no bearer token, a bad signature, malformed, expired, no `exp` or too long-lived.
    Unauthenticated(&'static str),
    /// 403: a valid token without the grant (a participant's join token, another room).
    Forbidden,
}

/// Checks an `Authorization` header value at wall-clock `now`; the grant on success.
pub fn authorize(
    key: &TokenKey,
    header: Option<&str>,
    now: SystemTime,
) -> Result<AdminGrant, AuthError> {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(AuthError::Unauthenticated(
            "an Authorization: Bearer <admin token> header is required",
        ));
    };
    let claims: AdminClaims = key.decode_json(token.trim()).map_err(|error| {
        AuthError::Unauthenticated(match error {
            TokenError::BadSignature => "token signature invalid",
            _ => "token malformed",
        })
    })?;
    let now_s = unix_seconds(now);
    if let Some(exp) = claims.exp {
        if exp.saturating_add(EXPIRY_LEEWAY.as_secs()) < now_s {
            return Err(AuthError::Unauthenticated("token expired"));
        }
    }
    let Some(grant) = claims.admin else {
        return Err(AuthError::Forbidden);
    };
    match claims.exp {
        None => Err(AuthError::Unauthenticated("admin tokens must carry exp")),
        Some(exp)
            if exp > now_s.saturating_add(MAX_ADMIN_TTL.as_secs() + EXPIRY_LEEWAY.as_secs()) =>
        {
            Err(AuthError::Unauthenticated(
                "admin tokens may live 24 hours at most",
            ))
        }
        Some(_) => Ok(grant),
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Claims;
    use signalling_proto::{Role, Secret};

    fn key() -> TokenKey {
        TokenKey::new(&Secret::from("0123456789abcdef0123456789abcdef"), None)
    }

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    // An admin token passes; a join token (good signature, no grant) is 403; another key,
    // no header, an expired or too long-lived token are 401.
    #[test]
    fn grants_and_refusals() {
        let admin = key().sign_json(&AdminClaims::new("cli", CLI_TOKEN_TTL, t0()));
        assert_eq!(
            authorize(&key(), Some(&bearer(&admin)), t0()),
            Ok(AdminGrant::default())
        );
        let join = key()
            .sign(&Claims::new("r", "a", Role::Host).expiring_after(CLI_TOKEN_TTL, t0()))
            .unwrap();
        assert_eq!(
            authorize(&key(), Some(&bearer(&join)), t0()),
            Err(AuthError::Forbidden)
        );
        let foreign =
            TokenKey::development().sign_json(&AdminClaims::new("x", CLI_TOKEN_TTL, t0()));
        assert!(matches!(
            authorize(&key(), Some(&bearer(&foreign)), t0()),
            Err(AuthError::Unauthenticated(_))
        ));
        assert!(matches!(
            authorize(&key(), None, t0()),
            Err(AuthError::Unauthenticated(_))
        ));
        let later = t0() + CLI_TOKEN_TTL + EXPIRY_LEEWAY + Duration::from_secs(1);
        assert_eq!(
            authorize(&key(), Some(&bearer(&admin)), later),
            Err(AuthError::Unauthenticated("token expired"))
        );
        let forever = key().sign_json(&AdminClaims::new("x", MAX_ADMIN_TTL * 2, t0()));
        assert!(matches!(
            authorize(&key(), Some(&bearer(&forever)), t0()),
            Err(AuthError::Unauthenticated(_))
        ));
        // An admin token is no join token: it has no room or role.
        assert!(key().verify(&admin, "r", t0()).is_err());
    }
}
