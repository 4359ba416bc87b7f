//! Which web pages may use the server from a browser: the `Origin` check of `/rtc` and the CORS
//! answer of `/dev/token` (`--allowed-origins`, PROTOCOL.md §1.2).
//!
//! A browser names the page that makes a request in the `Origin` header; other clients (curl,
//! server-side code, the load tester) send none and are not restricted by it, since a token
//! decides what they may do. A page is allowed when it is the server's own (its origin names
//! the host the request was sent to, the `Host` header), when it is listed, when the list holds
//! `*`, or in development mode when it is served from this machine (`localhost`, `127.0.0.1`,
//! `[::1]`), so a web app under development on another port can use the server.

use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Uri};

/// The normalised form of one origin: `scheme://host[:port]`, lowercase, the scheme's default
/// port left out (`https://example.com:443` is `https://example.com`).
pub(crate) fn normalize_origin(text: &str) -> Result<String, String> {
    let malformed = || {
        format!("'{text}' is not an origin like https://app.example.com or http://localhost:3000")
    };
    let uri: Uri = text.trim().parse().map_err(|_| malformed())?;
    let scheme = uri.scheme_str().ok_or_else(malformed)?.to_ascii_lowercase();
    let authority = uri.authority().ok_or_else(malformed)?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() || authority.as_str().contains('@')
    {
        return Err(malformed());
    }
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(malformed()),
    };
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err(malformed());
    }
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The pages allowed to use the server from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedOrigins {
    /// Normalised listed origins.
    listed: Vec<String>,
    /// `*` was listed: every page.
    any: bool,
    /// Development mode: pages served from this machine too.
    loopback: bool,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginVerdict {
    /// No `Origin` header (not a browser page), or the server's own page: serve it as is.
    Unrestricted,
    /// Another allowed page: serve it, with `Access-Control-Allow-Origin` set to this value.
    Allowed(HeaderValue),
    /// A page that may not use the server: answer 403 with this text.
    Refused(String),
}

impl AllowedOrigins {
    /// From the `--allowed-origins` entries (each already checked by [`normalize_origin`] or
    /// `*`); `development` adds the pages of this machine.
    pub(crate) fn new(entries: &[String], development: bool) -> Self {
        let mut listed = Vec::with_capacity(entries.len());
        let mut any = false;
        for entry in entries {
            if entry.trim() == "*" {
                any = true;
            } else if let Ok(origin) = normalize_origin(entry) {
                listed.push(origin);
            }
        }
        Self {
            listed,
            any,
            loopback: development,
        }
    }

    /// The verdict on a request with these headers.
    pub(crate) fn check(&self, headers: &HeaderMap) -> OriginVerdict {
        let Some(value) = headers.get(ORIGIN) else {
            return OriginVerdict::Unrestricted;
        };
        let text = value.to_str().unwrap_or("");
        // `null` (a sandboxed frame, a file:// page) and garbage name no page to allow.
        let Ok(origin) = normalize_origin(text) else {
            return OriginVerdict::Refused(format!(
                "origin {text:?} is not allowed: the page's origin is not a http(s) origin"
            ));
        };
        if self.is_own(&origin, headers) {
            return OriginVerdict::Unrestricted;
        }
        if self.any || self.listed.contains(&origin) || (self.loopback && is_loopback(&origin)) {
            return OriginVerdict::Allowed(value.clone());
        }
        OriginVerdict::Refused(format!(
            "origin {origin} is not allowed to use this server: add it to --allowed-origins \
             (SFU_ALLOWED_ORIGINS, allowed_origins in the config file)"
        ))
    }

    /// The page was served by this server: its origin's host and port are those the request
    /// was sent to.
    fn is_own(&self, origin: &str, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        ["http", "https"].iter().any(|scheme| {
            normalize_origin(&format!("{scheme}://{host}")).is_ok_and(|own| own == origin)
        })
    }
}

/// `localhost` (and its subdomains), `127.0.0.0/8` and `[::1]`, on any port and scheme.
fn is_loopback(origin: &str) -> bool {
    let Some((_, rest)) = origin.split_once("://") else {
        return false;
    };
    let host = if let Some(bracketed) = rest.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        rest.split(':').next().unwrap_or("")
    };
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            map.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        map
    }

    // Origins compare in one spelling: case, default ports and a trailing slash do not matter;
    // paths, credentials and other schemes are refused.
    #[test]
    fn origins_normalise() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:443/"),
            Ok("https://app.example.com".to_owned())
        );
        assert_eq!(
            normalize_origin("http://localhost:3000"),
            Ok("http://localhost:3000".to_owned())
        );
        assert_eq!(
            normalize_origin("http://[::1]:8080"),
            Ok("http://[::1]:8080".to_owned())
        );
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/app",
            "https://u:p@example.com",
            "null",
            "",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    // The server's own page, listed pages and (development mode) this machine's pages pass;
    // any other page is refused; a request without Origin is not a page and passes.
    #[test]
    fn verdicts() {
        let production = AllowedOrigins::new(&["https://app.example.com".to_owned()], false);
        let host = "sfu.example.com";
        assert_eq!(
            production.check(&headers(None, host)),
            OriginVerdict::Unrestricted
        );
        assert_eq!(
            production.check(&headers(Some("https://sfu.example.com"), host)),
            OriginVerdict::Unrestricted
        );
        assert!(matches!(
            production.check(&headers(Some("https://app.example.com"), host)),
            OriginVerdict::Allowed(_)
        ));
        assert!(matches!(
            production.check(&headers(Some("https://evil.example"), host)),
            OriginVerdict::Refused(_)
        ));
        assert!(matches!(
            production.check(&headers(Some("http://localhost:3000"), host)),
            OriginVerdict::Refused(_)
        ));
        assert!(matches!(
            production.check(&headers(Some("null"), host)),
            OriginVerdict::Refused(_)
        ));
        let development = AllowedOrigins::new(&[], true);
        for page in [
            "http://localhost:3000",
            "http://127.0.0.1:5173",
            "http://[::1]:8000",
        ] {
            assert!(
                matches!(
                    development.check(&headers(Some(page), host)),
                    OriginVerdict::Allowed(_)
                ),
                "{page}"
            );
        }
        assert!(matches!(
            development.check(&headers(Some("https://evil.example"), host)),
            OriginVerdict::Refused(_)
        ));
        let any = AllowedOrigins::new(&["*".to_owned()], false);
        assert!(matches!(
            any.check(&headers(Some("https://evil.example"), host)),
            OriginVerdict::Allowed(_)
        ));
    }
}
