//! Join tokens: the `{token}` credential of `join_room` (spec §8.1, DECISIONS.md §11).
//!
//! A token is an HS256 JWT signed with the server's API secret. Its claims are `room`, `sub` (the
//! identity, which becomes the participant's `identityKey`), `role`, and optional `name`,
//! `externalId` and `exp` (seconds since the Unix epoch). The role always comes from the token.
//!
//! With no secret configured the server runs in development mode and signs with
//! [`DEVELOPMENT_SECRET`], a constant anyone can read in this file: such tokens prove nothing.
//!
//! Expiry is checked against a `now` passed in (the shell reads it from [`crate::clock`]), so tests
//! need no sleeping and the clock rule (DECISIONS.md §15) holds here too.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use signalling_proto::{is_valid_room_name, Role, Secret};

/// The secret of development mode (no `--api-secret`). Public on purpose: a token signed with it
/// proves nothing, which is why the server logs a warning when it uses it.
pub const DEVELOPMENT_SECRET: &str = "sfu-development-secret-not-for-production-use";

/// How far past `exp` a token is still accepted, for clock skew between the token issuer and
/// this server (the same default as the `jsonwebtoken` crate).
pub const EXPIRY_LEEWAY: Duration = Duration::from_secs(60);

/// The longest identity (`sub`) accepted. The spec leaves it open; 256 matches `externalId`.
pub const MAX_IDENTITY_CHARS: usize = 256;

/// The claims of a join token, under the names spec §8.1 gives them on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room this token admits to (`room`).
    pub room: String,
    /// The stable identity (`sub`), which becomes the participant's `identityKey`.
    #[serde(rename = "sub")]
    pub identity: String,
    /// The role the participant gets (`role`, spec §4.1).
    pub role: Role,
    /// The display name used when `join_room` carries no `displayName` (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An opaque id of the issuer's own (`externalId`).
    #[serde(
        rename = "externalId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Expiry in seconds since the Unix epoch (`exp`); no expiry when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

impl Claims {
    /// Claims for `identity` with `role` in `room`, no name, no external id and no expiry.
    pub fn new(room: impl Into<String>, identity: impl Into<String>, role: Role) -> Self {
        Self {
            room: room.into(),
            identity: identity.into(),
            role,
            name: None,
            external_id: None,
            exp: None,
        }
    }

    /// Sets the display name (`name`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the issuer's external id (`externalId`).
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Makes the token expire `ttl` after `now` (whole seconds, rounded down; a `ttl` past the
    /// end of `SystemTime` means never in practice).
    pub fn expiring_after(mut self, ttl: Duration, now: SystemTime) -> Self {
        self.exp = Some(now.checked_add(ttl).map_or(u64::MAX, unix_seconds));
        self
    }

    /// Checks every claim against the spec's value rules (§3, §4.1), naming the first bad one.
    pub fn check(&self) -> Result<(), ClaimError> {
        if !is_valid_room_name(&self.room) {
            return Err(ClaimError::new(
                "room",
                "must be 1-64 characters of a-z, 0-9 and '-' (spec §3)",
            ));
        }
        let identity_chars = self.identity.chars().count();
        if self.identity.trim().is_empty() || identity_chars > MAX_IDENTITY_CHARS {
            return Err(ClaimError::new(
                "identity",
                "must be 1-256 characters and not blank",
            ));
        }
        if !is_token_role(self.role) {
            return Err(ClaimError::new("role", ROLE_RULE));
        }
        if let Some(name) = &self.name {
            let trimmed = name.trim();
            if trimmed.is_empty()
                || trimmed.chars().count() > 100
                || trimmed.chars().any(char::is_control)
            {
                return Err(ClaimError::new(
                    "name",
                    "must be 1-100 characters after trimming, with no control characters (spec §3)",
                ));
            }
        }
        if let Some(external_id) = &self.external_id {
            if !(1..=256).contains(&external_id.chars().count()) {
                return Err(ClaimError::new(
                    "externalId",
                    "must be 1-256 characters (spec §3)",
                ));
            }
        }
        Ok(())
    }
}

const ROLE_RULE: &str =
    "must be one of host, visitor, viewer, recorder, streamer, assistant, captioner";

/// Whether a token may carry `role`. The `granted_*` roles are obtained only through the waiting
/// room (spec §4.1), never from a credential.
pub fn is_token_role(role: Role) -> bool {
    !matches!(role, Role::GrantedVisitor | Role::GrantedViewer)
}

/// Parses a role as a token names it (`host`, `visitor`, `viewer`, `recorder`, `streamer`,
/// `assistant`, `captioner`; the room admits a captioner only as the server's transcriber).
pub fn parse_token_role(text: &str) -> Result<Role, ClaimError> {
    serde_json::from_value::<Role>(serde_json::Value::String(text.to_owned()))
        .ok()
        .filter(|role| is_token_role(*role))
        .ok_or_else(|| ClaimError::new("role", ROLE_RULE))
}

/// A claim that breaks the spec's value rules, when a token is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimError {
    /// The claim's wire name (or the request parameter it came from).
    pub field: &'static str,
    /// What the value must look like.
    pub rule: &'static str,
}

impl ClaimError {
    fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.rule)
    }
}

impl std::error::Error for ClaimError {}

/// Why a presented token is refused. The signalling server answers each with
/// `invalid_credential` (spec §8.1 check 2); the variant is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// `exp` is more than [`EXPIRY_LEEWAY`] in the past.
    Expired,
    /// Not signed with this server's secret (or with another algorithm than HS256, or under
    /// another API key id).
    BadSignature,
    /// A valid token for another room.
    WrongRoom,
    /// Not a JWT, or its claims are missing or break the spec's value rules.
    Malformed,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Expired => "token expired",
            TokenError::BadSignature => "token signature invalid",
            TokenError::WrongRoom => "token is for another room",
            TokenError::Malformed => "token malformed",
        })
    }
}

impl std::error::Error for TokenError {}

/// The key that signs and verifies join tokens.
pub struct TokenKey {
    key_id: Option<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    development: bool,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("key_id", &self.key_id)
            .field("development", &self.development)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// A key over `secret`. With a `key_id` (the `--api-key`), created tokens carry it as the
    /// JWT `kid` header, and a token naming another `kid` is refused as [`TokenError::BadSignature`].
    pub fn new(secret: &Secret, key_id: Option<String>) -> Self {
        Self::from_bytes(secret.expose().as_bytes(), key_id, false)
    }

    /// The development-mode key over [`DEVELOPMENT_SECRET`].
    pub fn development() -> Self {
        Self::from_bytes(DEVELOPMENT_SECRET.as_bytes(), None, true)
    }

    fn from_bytes(secret: &[u8], key_id: Option<String>, development: bool) -> Self {
        Self {
            key_id,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            development,
        }
    }

    /// Whether this is the built-in development key.
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// Signs `claims` after checking them against the spec's value rules.
    pub fn sign(&self, claims: &Claims) -> Result<String, ClaimError> {
        claims.check()?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = self.key_id.clone();
        let token = jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("HS256 over serialisable claims cannot fail");
        Ok(token)
    }

    /// Signs other claims with this key (the server API's admin tokens, `crate::api::auth`),
    /// with the same `kid` header as join tokens.
    pub fn sign_json<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("HS256 over serialisable claims cannot fail")
    }

    /// Checks `token`'s HS256 signature and `kid` and decodes its claims as `T`; the caller
    /// checks the claims themselves (expiry included).
    pub fn decode_json<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data =
            jsonwebtoken::decode::<T>(token, &self.decoding, &validation).map_err(|error| {
                match error.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                        TokenError::BadSignature
                    }
                    _ => TokenError::Malformed,
                }
            })?;
        if let (Some(ours), Some(theirs)) = (&self.key_id, &data.header.kid) {
            if ours != theirs {
                return Err(TokenError::BadSignature);
            }
        }
        Ok(data.claims)
    }

    /// Verifies `token` for a join to `room` at wall-clock time `now`, returning its claims.
    pub fn verify(&self, token: &str, room: &str, now: SystemTime) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is optional (spec §8.1) and checked below against the `now` passed in.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |error| match error.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    TokenError::BadSignature
                }
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Malformed,
            },
        )?;
        if let (Some(ours), Some(theirs)) = (&self.key_id, &data.header.kid) {
            if ours != theirs {
                return Err(TokenError::BadSignature);
            }
        }
        let claims = data.claims;
        claims.check().map_err(|_| TokenError::Malformed)?;
        if let Some(exp) = claims.exp {
            if exp.saturating_add(EXPIRY_LEEWAY.as_secs()) < unix_seconds(now) {
                return Err(TokenError::Expired);
            }
        }
        if claims.room != room {
            return Err(TokenError::WrongRoom);
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch; 0 for a time before it.
fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn key() -> TokenKey {
        TokenKey::new(&Secret::from("0123456789abcdef0123456789abcdef"), None)
    }

    // The claims carry the spec's wire names: room, sub, role, name, externalId, exp.
    #[test]
    fn claims_use_the_spec_wire_names() {
        let claims = Claims::new("team-1", "alice", Role::Host)
            .with_name("Alice")
            .with_external_id("ext-9")
            .expiring_after(Duration::from_secs(10), t0());
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"room": "team-1", "sub": "alice", "role": "host",
                "name": "Alice", "externalId": "ext-9", "exp": 1_800_000_010u64})
        );
    }

    // A token signed by one key verifies with the same key and returns the claims unchanged.
    #[test]
    fn sign_then_verify_round_trips() {
        let claims = Claims::new("team-1", "alice", Role::Viewer).with_name("Alice");
        let token = key().sign(&claims).unwrap();
        assert_eq!(key().verify(&token, "team-1", t0()), Ok(claims));
    }

    // Expiry is checked against the `now` passed in, with the leeway.
    #[test]
    fn expiry_uses_passed_in_time_and_leeway() {
        let claims = Claims::new("r", "a", Role::Visitor).expiring_after(Duration::ZERO, t0());
        let token = key().sign(&claims).unwrap();
        assert!(key().verify(&token, "r", t0() + EXPIRY_LEEWAY).is_ok());
        assert_eq!(
            key().verify(&token, "r", t0() + EXPIRY_LEEWAY + Duration::from_secs(1)),
            Err(TokenError::Expired)
        );
    }

    // Another secret, another kid, another algorithm or garbage are all refused.
    #[test]
    fn foreign_tokens_are_refused() {
        let claims = Claims::new("r", "a", Role::Visitor);
        let other = TokenKey::development().sign(&claims).unwrap();
        assert_eq!(
            key().verify(&other, "r", t0()),
            Err(TokenError::BadSignature)
        );

        let secret = Secret::from("0123456789abcdef0123456789abcdef");
        let with_kid = TokenKey::new(&secret, Some("key-a".into()));
        let token_b = TokenKey::new(&secret, Some("key-b".into()))
            .sign(&claims)
            .unwrap();
        assert_eq!(
            with_kid.verify(&token_b, "r", t0()),
            Err(TokenError::BadSignature)
        );
        let token_a = with_kid.sign(&claims).unwrap();
        assert!(with_kid.verify(&token_a, "r", t0()).is_ok());

        // alg "none" with an empty signature.
        let none = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
            token_a.split('.').nth(1).unwrap()
        );
        assert_ne!(key().verify(&none, "r", t0()).err(), None);
        assert_eq!(
            key().verify("not a token", "r", t0()),
            Err(TokenError::Malformed)
        );
    }

    // Roles: the five a credential can carry parse; granted_* and unknown names do not.
    #[test]
    fn token_roles() {
        assert_eq!(parse_token_role("host"), Ok(Role::Host));
        assert_eq!(parse_token_role("streamer"), Ok(Role::Streamer));
        assert_eq!(parse_token_role("assistant"), Ok(Role::Assistant));
        assert!(parse_token_role("granted_visitor").is_err());
        assert!(parse_token_role("admin").is_err());
        assert_eq!(
            key()
                .sign(&Claims::new("r", "a", Role::GrantedViewer))
                .unwrap_err()
                .field,
            "role"
        );
    }

    // Bad claim values are refused at signing, naming the claim.
    #[test]
    fn bad_claims_are_refused_at_signing() {
        let bad_room = Claims::new("Team One", "a", Role::Host);
        assert_eq!(key().sign(&bad_room).unwrap_err().field, "room");
        let blank = Claims::new("r", "  ", Role::Host);
        assert_eq!(key().sign(&blank).unwrap_err().field, "identity");
        let name = Claims::new("r", "a", Role::Host).with_name("bell\u{7}");
        assert_eq!(key().sign(&name).unwrap_err().field, "name");
    }
}
