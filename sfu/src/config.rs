//! The server's configuration: command-line flags, each also settable by an `SFU_*` environment
//! variable (a flag wins over its variable). Invalid values fail at start with clap's message,
//! which names the flag.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use signalling_proto::{Role, Secret};

use crate::signalling::token;

/// The shortest `--api-secret` accepted: HS256 keys shorter than the hash output (32 bytes) are
/// weaker than the algorithm (RFC 7518 §3.2).
pub const MIN_API_SECRET_BYTES: usize = 32;

/// The `sfu` command line.
#[derive(Debug, Parser)]
#[command(
    name = "sfu",
    version,
    about = "A media SFU with breakout groups inside one room"
)]
pub struct Cli {
    /// Server configuration (used by `sfu` itself; `token` uses only the key flags).
    #[command(flatten)]
    pub config: Config,
    /// What to do; without one, serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `sfu` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join tokens (spec §8.1).
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `sfu token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed join token (with the configured --api-secret, else the development secret).
    Create(TokenCreate),
}

/// `sfu token create` arguments.
#[derive(Debug, Clone, Args)]
pub struct TokenCreate {
    /// Room name (1-64 characters of a-z, 0-9, '-').
    #[arg(long)]
    pub room: String,
    /// Stable identity (`sub`), the participant's identityKey.
    #[arg(long)]
    pub identity: String,
    /// host, visitor, viewer, recorder or streamer.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Display name used when the client sends none.
    #[arg(long)]
    pub name: Option<String>,
    /// Opaque id of the issuer's own.
    #[arg(long)]
    pub external_id: Option<String>,
    /// Lifetime, e.g. 90s, 30m, 6h, 7d.
    #[arg(long, default_value = "6h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// How the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's configuration. [`Config::default`] is what `sfu` with no flags and no `SFU_*`
/// variables runs with.
#[derive(Clone, PartialEq, Eq, Args)]
pub struct Config {
    /// Address of the HTTP/WebSocket listener.
    #[arg(long, env = "SFU_HTTP_ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub http_addr: IpAddr,
    /// Port of the HTTP/WebSocket listener (0 = ephemeral).
    #[arg(long, env = "SFU_HTTP_PORT", default_value_t = 7880)]
    pub http_port: u16,
    /// First UDP media port; shard k uses rtc-port + k (0 = ephemeral).
    #[arg(long, env = "SFU_RTC_PORT", default_value_t = 7882)]
    pub rtc_port: u16,
    /// IP address advertised in ICE host candidates.
    #[arg(long, env = "SFU_PUBLIC_IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub public_ip: IpAddr,
    /// Media shards (one thread each); default: the number of cores.
    #[arg(long, env = "SFU_SHARDS", default_value_t = default_shards())]
    pub shards: NonZeroUsize,
    /// API key id; carried as the token `kid` header (requires --api-secret).
    #[arg(long, env = "SFU_API_KEY", global = true, requires = "api_secret")]
    pub api_key: Option<String>,
    /// API secret that signs join tokens (HS256, at least 32 bytes). Without it the server runs
    /// in development mode with a built-in secret.
    #[arg(long, env = "SFU_API_SECRET", global = true, hide_env_values = true,
          value_parser = parse_api_secret)]
    pub api_secret: Option<Secret>,
    /// Log format.
    #[arg(long, env = "SFU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// After a shutdown signal, keep serving this long with /readyz at 503 so load balancers
    /// stop sending new clients (e.g. 10s); 0s stops at once.
    #[arg(long, env = "SFU_DRAIN_GRACE", default_value = "0s", value_parser = parse_duration)]
    pub drain_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 7880,
            rtc_port: 7882,
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            shards: default_shards(),
            api_key: None,
            api_secret: None,
            log_format: LogFormat::Text,
            drain_grace: Duration::ZERO,
        }
    }
}

impl fmt::Debug for Config {
    // Spelled out so a new field is a compile error here; the secret prints as `Secret(..)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            http_addr,
            http_port,
            rtc_port,
            public_ip,
            shards,
            api_key,
            api_secret,
            log_format,
            drain_grace,
        } = self;
        f.debug_struct("Config")
            .field("http_addr", http_addr)
            .field("http_port", http_port)
            .field("rtc_port", rtc_port)
            .field("public_ip", public_ip)
            .field("shards", shards)
            .field("api_key", api_key)
            .field("api_secret", api_secret)
            .field("log_format", log_format)
            .field("drain_grace", drain_grace)
            .finish()
    }
}

impl Config {
    /// A configuration for tests: the defaults with an ephemeral HTTP port and media port.
    pub fn ephemeral() -> Self {
        Self {
            http_port: 0,
            rtc_port: 0,
            ..Self::default()
        }
    }

    /// Where the HTTP listener binds.
    pub fn http_socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.http_addr, self.http_port)
    }

    /// Development mode: no API secret, so tokens are signed with the built-in one and
    /// `GET /dev/token` exists (DECISIONS.md §11).
    pub fn is_development(&self) -> bool {
        self.api_secret.is_none()
    }
}

fn default_shards() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

fn parse_api_secret(text: &str) -> Result<Secret, String> {
    if text.len() < MIN_API_SECRET_BYTES {
        return Err(format!(
            "must be at least {MIN_API_SECRET_BYTES} bytes (try `openssl rand -hex 32`)"
        ));
    }
    Ok(Secret::from(text))
}

fn parse_role(text: &str) -> Result<Role, String> {
    token::parse_token_role(text).map_err(|error| error.rule.to_owned())
}

/// Parses `500ms`, `90s`, `30m`, `6h` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 5] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    let malformed = || format!("'{text}' is not a duration like 500ms, 90s, 30m, 6h or 7d");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(malformed)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| malformed())?;
    let (_, millis_per_unit) = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(malformed)?;
    let millis = number.checked_mul(*millis_per_unit).ok_or_else(malformed)?;
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The clap definition is consistent (debug_assert checks every attribute).
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    // Durations take one unit suffix; anything else is refused with an example.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("6").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    // Flags parse into the config; the secret has a minimum length and never prints.
    #[test]
    fn flags_parse_into_config() {
        let secret = "s".repeat(MIN_API_SECRET_BYTES);
        let cli = Cli::try_parse_from([
            "sfu",
            "--http-port",
            "0",
            "--shards",
            "3",
            "--api-secret",
            &secret,
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.config.http_port, 0);
        assert_eq!(cli.config.shards.get(), 3);
        assert_eq!(cli.config.log_format, LogFormat::Json);
        assert!(!cli.config.is_development());
        assert!(!format!("{:?}", cli.config).contains(&secret));

        let short = Cli::try_parse_from(["sfu", "--api-secret", "short"]).unwrap_err();
        assert!(short.to_string().contains("--api-secret"), "{short}");
        let zero = Cli::try_parse_from(["sfu", "--shards", "0"]).unwrap_err();
        assert!(zero.to_string().contains("--shards"), "{zero}");
        let key_alone = Cli::try_parse_from(["sfu", "--api-key", "k"]).unwrap_err();
        assert!(
            key_alone.to_string().contains("--api-secret"),
            "{key_alone}"
        );
    }
}
