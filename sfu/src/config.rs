//! The server's configuration, from three sources: command-line flags, `SFU_*` environment
//! variables and a TOML file (`--config PATH` or `SFU_CONFIG`). For each setting a flag wins
//! over its variable, the variable over the file, and the file over the built-in default, so an
//! operator keeps one file per deployment and overrides a key for one run without editing it.
//!
//! Every setting is one field of [`Config`]: its doc comment is the `--help` text, its clap
//! attribute names the flag and variable, and its serde name is the file's key (the flag's name
//! with `_` for `-`). Invalid values fail at start with a message naming the flag, or for the
//! file, the key; unknown keys in the file fail too, so a typo is never silently ignored.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};
use serde::{Deserialize, Deserializer};
use signalling_proto::{Role, Secret};

use crate::admin_args::{BreakoutCommand, ParticipantCommand, RoomCommand};
use crate::control::RoomPolicy;
use crate::shard::{ShardConfig, TcpMediaConfig};
use crate::signalling::origins;
use crate::token::{self, TokenKey};

/// The shortest `--api-secret` accepted: HS256 keys shorter than the hash output (32 bytes) are
/// weaker than the algorithm (RFC 7518 §3.2).
pub const MIN_API_SECRET_BYTES: usize = 32;

/// Shown under `sfu --help`: where settings come from.
const SOURCES_HELP: &str = "\
Every option can also be set by its SFU_* environment variable (shown with each option) or by \
a key of the TOML file given with --config / SFU_CONFIG: the key is the option's name with '_' \
for '-' (e.g. http_port = 7880); deploy/sfu.example.toml documents them all. A flag wins over \
its variable, a variable over the file, the file over the default. Unknown keys and invalid \
values stop the server at start, naming the key. `sfu check-config` prints the result. The room-policy options (viewers-must-knock .. allow-self-unmute) apply to every room the server creates (spec control-plane.md §5.1).";
/// The `sfu` command line.
#[derive(Debug, Parser)]
#[command(
    name = "sfu",
    version,
    about = "A media SFU with breakout groups inside one room",
    after_help = SOURCES_HELP
)]
pub struct Cli {
    /// TOML configuration file; flags and SFU_* variables override its keys.
    #[arg(
        long = "config",
        env = "SFU_CONFIG",
        global = true,
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,
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
    /// Load and validate the configuration (file, SFU_* variables, flags), then print the
    /// values the server would run with as TOML (the API secret redacted) and exit.
    CheckConfig,
    /// Rooms of a running server (its API, with an admin token from --api-secret).
    #[command(subcommand)]
    Room(RoomCommand),
    /// Participants of a room on a running server.
    #[command(subcommand)]
    Participant(ParticipantCommand),
    /// Breakouts of a room on a running server.
    #[command(subcommand)]
    Breakout(BreakoutCommand),
}

/// `sfu token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed join token (with the configured --api-secret, else the development secret).
    Create(TokenCreate),
    /// Print a short-lived admin token for the server API (`Authorization: Bearer <token>`).
    Admin(TokenAdmin),
}

/// `sfu token admin` arguments.
#[derive(Debug, Clone, Args)]
pub struct TokenAdmin {
    /// Only this room; default: every room.
    #[arg(long)]
    pub room: Option<String>,
    /// Who calls (`sub`, logged by the server).
    #[arg(long, default_value = "sfu-cli")]
    pub sub: String,
    /// Lifetime, at most 24h (e.g. 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub ttl: Duration,
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
    /// host, visitor, viewer, recorder, streamer or assistant.
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

/// `--rtc-tcp-port`: the first ICE-TCP port, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcTcpPort {
    /// UDP only: no TCP candidate is advertised.
    Off,
    /// Shard k listens on this port + k (0: ephemeral ports).
    Port(u16),
}

impl RtcTcpPort {
    /// The first port, `None` when off.
    pub fn port(self) -> Option<u16> {
        match self {
            RtcTcpPort::Off => None,
            RtcTcpPort::Port(port) => Some(port),
        }
    }
}

impl fmt::Display for RtcTcpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcTcpPort::Off => f.write_str("off"),
            RtcTcpPort::Port(port) => write!(f, "{port}"),
        }
    }
}

/// `rtc_tcp_port = 7881` or `rtc_tcp_port = "off"` in the file.
impl<'de> Deserialize<'de> for RtcTcpPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum PortOrWord {
            Port(u16),
            Word(String),
        }
        match PortOrWord::deserialize(deserializer)? {
            PortOrWord::Port(port) => Ok(RtcTcpPort::Port(port)),
            PortOrWord::Word(word) => parse_rtc_tcp_port(&word).map_err(serde::de::Error::custom),
        }
    }
}

fn parse_rtc_tcp_port(text: &str) -> Result<RtcTcpPort, String> {
    if text.trim() == "off" {
        return Ok(RtcTcpPort::Off);
    }
    text.trim()
        .parse()
        .map(RtcTcpPort::Port)
        .map_err(|_| format!("'{text}' is neither a port (0-65535) nor `off`"))
}

/// How the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's configuration. [`Config::default`] is what `sfu` with no flags, no `SFU_*`
/// variables and no file runs with. The file deserializes into this struct too (missing keys
/// keep their defaults), so there is one list of settings.
#[derive(Clone, PartialEq, Eq, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP/WebSocket listener.
    #[arg(long, env = "SFU_HTTP_ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub http_addr: IpAddr,
    /// Port of the HTTP/WebSocket listener (0 = ephemeral).
    #[arg(long, env = "SFU_HTTP_PORT", default_value_t = 7880)]
    pub http_port: u16,
    /// PEM certificate chain: serve HTTPS and WSS on the HTTP port (needs --tls-key).
    #[arg(long, env = "SFU_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SFU_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// First UDP media port; shard k uses rtc-port + k (0 = ephemeral).
    #[arg(long, env = "SFU_RTC_PORT", default_value_t = 7882)]
    pub rtc_port: u16,
    /// Address the UDP media sockets bind (0.0.0.0 or :: for every interface). Default:
    /// 127.0.0.1 when every --public-ip is loopback, else 0.0.0.0 (:: when one is IPv6).
    #[arg(long, env = "SFU_RTC_BIND")]
    pub rtc_bind: Option<IpAddr>,
    /// Address advertised in the ICE host candidates; repeat it (or separate with commas) for
    /// IPv4 and IPv6. It need not be on a local interface (a cloud VM's public address).
    #[arg(long, env = "SFU_PUBLIC_IP", value_delimiter = ',', action = ArgAction::Append,
          default_values_t = [IpAddr::V4(Ipv4Addr::LOCALHOST)], value_parser = parse_public_ip)]
    #[serde(deserialize_with = "de_public_ips")]
    pub public_ip: Vec<IpAddr>,
    /// First media port advertised in the candidates when a 1:1 NAT maps another port to
    /// --rtc-port (shard k advertises it + k); default: the bound port.
    #[arg(long, env = "SFU_RTC_ADVERTISED_PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub rtc_advertised_port: Option<u16>,
    /// First ICE-TCP media port, for clients that cannot send UDP (RFC 6544 passive
    /// candidates, advertised beside the UDP one with a lower priority on every --public-ip):
    /// shard k listens on it + k on --rtc-bind (0 = ephemeral); `off` for UDP only.
    #[arg(long, env = "SFU_RTC_TCP_PORT", default_value_t = RtcTcpPort::Port(7881),
          value_parser = parse_rtc_tcp_port)]
    pub rtc_tcp_port: RtcTcpPort,
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
    #[serde(deserialize_with = "de_api_secret")]
    pub api_secret: Option<Secret>,
    /// TURN (or STUN) server URL handed to clients in join_room's iceServers, e.g.
    /// turn:turn.example.com:3478?transport=udp; repeat it (or separate with commas) for more.
    #[arg(long, env = "SFU_TURN_URL", value_delimiter = ',', action = ArgAction::Append,
          value_parser = parse_turn_url)]
    #[serde(deserialize_with = "de_turn_urls")]
    pub turn_url: Vec<String>,
    /// Secret shared with the TURN server (coturn `use-auth-secret` / `static-auth-secret`);
    /// the SFU signs time-limited TURN credentials with it.
    #[arg(long, env = "SFU_TURN_SECRET", hide_env_values = true, value_parser = parse_turn_secret)]
    #[serde(deserialize_with = "de_turn_secret")]
    pub turn_secret: Option<Secret>,
    /// How long the TURN credentials of a join stay valid (e.g. 12h).
    #[arg(long, env = "SFU_TURN_CREDENTIAL_TTL", default_value = "12h", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub turn_credential_ttl: Duration,
    /// Web pages (origins like https://app.example.com) that may open /rtc and read /dev/token
    /// from a browser, besides the server's own page; repeat it (or separate with commas); `*`
    /// allows every page. Development mode also allows pages of this machine (localhost,
    /// 127.0.0.1, [::1]). Requests without an Origin header (not a browser) are not checked.
    #[arg(long, env = "SFU_ALLOWED_ORIGINS", value_delimiter = ',', action = ArgAction::Append,
          value_name = "ORIGIN", value_parser = parse_allowed_origin)]
    #[serde(deserialize_with = "de_allowed_origins")]
    pub allowed_origins: Vec<String>,
    /// Log format.
    #[arg(long, env = "SFU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// After a shutdown signal, keep serving this long with /readyz at 503 so load balancers
    /// stop sending new clients (e.g. 10s); 0s stops at once.
    #[arg(long, env = "SFU_DRAIN_GRACE", default_value = "0s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub drain_grace: Duration,
    /// How long a new signalling WebSocket may take to join a room (`join_room` or `resume`
    /// admitted, or answered room_locked, which lets it knock) before it is closed with 1008;
    /// more than 0s.
    #[arg(long, env = "SFU_JOIN_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub join_deadline: Duration,
    /// Signalling WebSockets one IP address (IPv6: one /64) may hold open before they join a
    /// room; one more is refused with HTTP 429. Loopback counts like any address.
    #[arg(long, env = "SFU_MAX_UNJOINED_PER_IP", default_value_t = NonZeroU32::new(64).expect("64 > 0"))]
    pub max_unjoined_per_ip: NonZeroU32,
    // --- Room policy (spec §5.1): the same for every room; defaults are `RoomPolicy::default`.
    /// Room policy: viewers knock at a locked room like visitors and, once a host accepts
    /// them, join as granted_viewer (spec viewersMustKnock). false: viewers bypass the lock.
    #[arg(long, env = "SFU_VIEWERS_MUST_KNOCK", default_value_t = false,
          action = ArgAction::Set, value_name = "BOOL")]
    pub viewers_must_knock: bool,
    /// Room policy: people per room, viewers not counted; one more gets room_full.
    #[arg(long, env = "SFU_MAX_PARTICIPANTS", default_value_t = NonZeroU32::new(200).expect("200 > 0"))]
    pub max_participants: NonZeroU32,
    /// Room policy: viewers per room; one more gets max_viewer_limit_reached.
    #[arg(long, env = "SFU_MAX_VIEWERS", default_value_t = NonZeroU32::new(400).expect("400 > 0"))]
    pub max_viewers: NonZeroU32,
    /// Room policy: how long a participant whose socket dropped keeps its place for `resume`
    /// before it counts as gone (e.g. 30s).
    #[arg(long, env = "SFU_RECONNECT_GRACE", default_value = "30s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub reconnect_grace: Duration,
    /// Room policy: how long a knocker waits for a host's answer before it is rejected; 0s
    /// waits forever.
    #[arg(long, env = "SFU_KNOCK_TIMEOUT", default_value = "600s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub knock_timeout: Duration,
    /// Room policy (spec allowSelfUnmute): whether a participant a host muted may unmute
    /// itself; false: only a host's request re-opens its microphone.
    #[arg(long, env = "SFU_ALLOW_SELF_UNMUTE", default_value_t = true,
          action = ArgAction::Set, value_name = "BOOL")]
    pub allow_self_unmute: bool,
    // --- Webhooks (issue 18).
    /// Webhook URL (http:// or https://) that receives every room event as signed JSON;
    /// repeat it (or separate with commas) for more.
    #[arg(long, env = "SFU_WEBHOOK_URL", value_delimiter = ',', action = ArgAction::Append,
          value_parser = parse_webhook_url)]
    #[serde(deserialize_with = "de_webhook_urls")]
    pub webhook_url: Vec<String>,
    /// Key of the webhooks' HMAC-SHA256 signature (at least 16 bytes); default: the API secret.
    #[arg(long, env = "SFU_WEBHOOK_KEY", hide_env_values = true, value_parser = parse_turn_secret)]
    #[serde(deserialize_with = "de_turn_secret")]
    pub webhook_key: Option<Secret>,
    /// Webhook events waiting per URL; one more is dropped and counted
    /// (sfu_webhook_dropped_total), so a slow endpoint never holds up a room.
    #[arg(long, env = "SFU_WEBHOOK_QUEUE", default_value_t = NonZeroUsize::new(4096).expect("4096 > 0"))]
    pub webhook_queue: NonZeroUsize,
    /// PEM file of the root certificates https:// webhook endpoints are checked against;
    /// default: the system's bundle (/etc/ssl/certs/ca-certificates.crt).
    #[arg(long, env = "SFU_WEBHOOK_CA", value_name = "PATH")]
    pub webhook_ca: Option<PathBuf>,
    /// How long one webhook delivery may take before it is retried (e.g. 5s).
    #[arg(long, env = "SFU_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de_duration")]
    pub webhook_timeout: Duration,
    // --- Cluster (issue 17, README "Running a cluster").
    /// Redis (or Valkey) of a cluster, e.g. redis://10.0.0.5:6379/0: rooms are placed across
    /// every node on it. Unset: one node, placement in memory.
    #[arg(long, env = "SFU_REDIS_URL", value_parser = parse_redis_url)]
    #[serde(deserialize_with = "de_redis_url")]
    pub redis_url: Option<String>,
    /// This node's id in the cluster, unique per node; default: <hostname>-<http port>.
    #[arg(long, env = "SFU_NODE_ID", value_parser = parse_node_id)]
    #[serde(deserialize_with = "de_node_id")]
    pub node_id: Option<String>,
    /// The /rtc WebSocket URL clients reach this node at (wss://sfu-2.example.com/rtc), sent
    /// to clients whose join reached another node; default: ws(s)://<bound address>/rtc.
    #[arg(long, env = "SFU_NODE_URL", value_parser = parse_node_url)]
    #[serde(deserialize_with = "de_node_url")]
    pub node_url: Option<String>,
    /// Forwarded packets per second that count as this node's full load for placement (with
    /// CPU busy: the larger counts); nodes at 85 % take no new room.
    #[arg(long, env = "SFU_NODE_CAPACITY", default_value_t = NonZeroU64::new(100_000).expect("> 0"))]
    pub node_capacity: NonZeroU64,
    /// Where `start_cloud_recording` writes: one folder per recording under it, with each
    /// participant's Ogg/Opus and IVF files and a `recording.json` sidecar. Created on demand.
    #[arg(long, env = "SFU_RECORDING_DIR", default_value = "recordings")]
    pub recording_dir: PathBuf,
    /// The live transcription engine (README "Live transcription"): a program and its
    /// arguments, split at whitespace (no shell quoting), run once per speaker utterance with
    /// the audio as Ogg/Opus on stdin; each line it prints is a caption. Unset:
    /// `start_live_transcription` stays requested (an outside transcriber's state).
    #[arg(long, env = "SFU_TRANSCRIPTION_COMMAND")]
    pub transcription_command: Option<String>,
    /// The live transcription engine as an HTTP(S) endpoint instead of a command: one POST per
    /// speaker utterance with the Ogg/Opus audio as the body; each line of a 2xx answer is a
    /// caption. At most one of the two engines.
    #[arg(long, env = "SFU_TRANSCRIPTION_URL", value_parser = parse_webhook_url)]
    #[serde(deserialize_with = "de_transcription_url")]
    pub transcription_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 7880,
            tls_cert: None,
            tls_key: None,
            rtc_port: 7882,
            rtc_bind: None,
            public_ip: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            rtc_advertised_port: None,
            rtc_tcp_port: RtcTcpPort::Port(7881),
            shards: default_shards(),
            api_key: None,
            api_secret: None,
            turn_url: Vec::new(),
            turn_secret: None,
            turn_credential_ttl: Duration::from_secs(12 * 3600),
            allowed_origins: Vec::new(),
            log_format: LogFormat::Text,
            drain_grace: Duration::ZERO,
            join_deadline: Duration::from_secs(10),
            max_unjoined_per_ip: NonZeroU32::new(64).expect("64 > 0"),
            viewers_must_knock: false,
            max_participants: NonZeroU32::new(200).expect("200 > 0"),
            max_viewers: NonZeroU32::new(400).expect("400 > 0"),
            reconnect_grace: Duration::from_secs(30),
            knock_timeout: Duration::from_secs(600),
            allow_self_unmute: true,
            webhook_url: Vec::new(),
            webhook_key: None,
            webhook_queue: NonZeroUsize::new(4096).expect("4096 > 0"),
            webhook_ca: None,
            webhook_timeout: Duration::from_secs(5),
            redis_url: None,
            node_id: None,
            node_url: None,
            node_capacity: NonZeroU64::new(100_000).expect("> 0"),
            recording_dir: PathBuf::from("recordings"),
            transcription_command: None,
            transcription_url: None,
        }
    }
}

impl fmt::Debug for Config {
    // Spelled out so a new field is a compile error here; the secret prints as `Secret(..)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            http_addr,
            http_port,
            tls_cert,
            tls_key,
            rtc_port,
            rtc_bind,
            public_ip,
            rtc_advertised_port,
            rtc_tcp_port,
            shards,
            api_key,
            api_secret,
            turn_url,
            turn_secret,
            turn_credential_ttl,
            allowed_origins,
            log_format,
            drain_grace,
            join_deadline,
            max_unjoined_per_ip,
            viewers_must_knock,
            max_participants,
            max_viewers,
            reconnect_grace,
            knock_timeout,
            allow_self_unmute,
            webhook_url,
            webhook_key,
            webhook_queue,
            webhook_ca,
            webhook_timeout,
            redis_url,
            node_id,
            node_url,
            node_capacity,
            recording_dir,
            transcription_command,
            transcription_url,
        } = self;
        f.debug_struct("Config")
            .field("http_addr", http_addr)
            .field("http_port", http_port)
            .field("tls_cert", tls_cert)
            .field("tls_key", tls_key)
            .field("rtc_port", rtc_port)
            .field("rtc_bind", rtc_bind)
            .field("public_ip", public_ip)
            .field("rtc_advertised_port", rtc_advertised_port)
            .field("rtc_tcp_port", rtc_tcp_port)
            .field("shards", shards)
            .field("api_key", api_key)
            .field("api_secret", api_secret)
            .field("turn_url", turn_url)
            .field("turn_secret", turn_secret)
            .field("turn_credential_ttl", turn_credential_ttl)
            .field("allowed_origins", allowed_origins)
            .field("log_format", log_format)
            .field("drain_grace", drain_grace)
            .field("join_deadline", join_deadline)
            .field("max_unjoined_per_ip", max_unjoined_per_ip)
            .field("viewers_must_knock", viewers_must_knock)
            .field("max_participants", max_participants)
            .field("max_viewers", max_viewers)
            .field("reconnect_grace", reconnect_grace)
            .field("knock_timeout", knock_timeout)
            .field("allow_self_unmute", allow_self_unmute)
            .field("webhook_url", webhook_url)
            .field("webhook_key", webhook_key)
            .field("webhook_queue", webhook_queue)
            .field("webhook_ca", webhook_ca)
            .field("webhook_timeout", webhook_timeout)
            .field("redis_url", &redis_url.as_ref().map(|_| "(set)"))
            .field("node_id", node_id)
            .field("node_url", node_url)
            .field("node_capacity", node_capacity)
            .field("recording_dir", recording_dir)
            .field("transcription_command", transcription_command)
            .field("transcription_url", transcription_url)
            .finish()
    }
}

impl Config {
    /// Shard `index` of the server: port `--rtc-port + index` (or ephemeral with port 0) on
    /// `--rtc-bind`, advertising every `--public-ip` with `--rtc-advertised-port + index` when
    /// set (ARCHITECTURE.md §2, "Ports"); ICE-TCP on `--rtc-tcp-port + index` of the same
    /// address unless it is `off`.
    pub fn shard_config(&self, index: u16) -> ShardConfig {
        let config = self;
        let port = if config.rtc_port == 0 {
            0
        } else {
            config.rtc_port.saturating_add(index)
        };
        let first_ip = config
            .public_ip
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let tcp = config.rtc_tcp_port.port().map(|first| {
            let port = if first == 0 {
                0
            } else {
                first.saturating_add(index)
            };
            TcpMediaConfig::new(SocketAddr::new(config.media_bind_ip(), port))
        });
        ShardConfig {
            tcp,
            public_ips: config.public_ip.clone(),
            advertised_port: config
                .rtc_advertised_port
                .map(|first| first.saturating_add(index)),
            loopback_only: config.advertises_only_loopback(),
            ..ShardConfig::new(SocketAddr::new(config.media_bind_ip(), port), first_ip)
        }
    }

    /// A configuration for tests: the defaults with an ephemeral HTTP port and media ports.
    pub fn ephemeral() -> Self {
        Self {
            http_port: 0,
            rtc_port: 0,
            rtc_tcp_port: RtcTcpPort::Port(0),
            // Not the working directory: a test that starts a recording writes nothing there.
            recording_dir: std::env::temp_dir().join("sfu-test-recordings"),
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

    /// The join-token key: the configured secret, or the development key when none is
    /// configured.
    pub fn token_key(&self) -> TokenKey {
        match &self.api_secret {
            Some(secret) => TokenKey::new(secret, self.api_key.clone()),
            None => TokenKey::development(),
        }
    }

    /// The webhooks' configuration; `None` without a URL. The signing key is `webhook_key`,
    /// else the API secret, else the development secret (a development server's webhooks
    /// prove nothing, like its tokens).
    pub fn webhooks(&self) -> Option<crate::webhook::WebhookConfig> {
        if self.webhook_url.is_empty() {
            return None;
        }
        let key = match (&self.webhook_key, &self.api_secret) {
            (Some(key), _) | (None, Some(key)) => key.expose().as_bytes().to_vec(),
            (None, None) => token::DEVELOPMENT_SECRET.as_bytes().to_vec(),
        };
        Some(crate::webhook::WebhookConfig {
            urls: self.webhook_url.clone(),
            key,
            queue: self.webhook_queue.get(),
            roots: self
                .webhook_ca
                .clone()
                .unwrap_or_else(|| crate::webhook::https::SYSTEM_ROOTS.into()),
            timeout: self.webhook_timeout,
        })
    }

    /// The policy of every room this server creates: the room-policy settings over the spec's
    /// defaults ([`RoomPolicy::default`]) for the knobs not configurable here.
    pub fn room_policy(&self) -> RoomPolicy {
        RoomPolicy {
            viewers_must_knock: self.viewers_must_knock,
            max_participants: self.max_participants.get(),
            max_viewers: self.max_viewers.get(),
            reconnect_grace: self.reconnect_grace,
            knock_timeout: (!self.knock_timeout.is_zero()).then_some(self.knock_timeout),
            allow_self_unmute: self.allow_self_unmute,
            ..RoomPolicy::default()
        }
    }
}

/// Why the configuration could not be loaded. Each message names the flag or the file's key.
#[derive(Debug)]
pub enum ConfigError {
    /// Flags or variables: clap's own error (also `--help` and `--version`, which exit 0).
    Cli(clap::Error),
    /// The file could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is no valid TOML, has an unknown key or an invalid value.
    File { path: PathBuf, message: String },
    /// The sources together give an invalid configuration.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Cli(error) => write!(f, "{error}"),
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config file {}: {error}", path.display())
            }
            ConfigError::File { path, message } => {
                write!(f, "config file {}: {message}", path.display())
            }
            ConfigError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Cli {
    /// The command line of this process, its `SFU_*` variables and the file they name.
    pub fn load() -> Result<Cli, ConfigError> {
        Self::load_from(std::env::args_os())
    }

    /// Like [`Cli::load`] with these arguments (the first is the program name); variables still
    /// come from the environment.
    pub fn load_from<I, T>(args: I) -> Result<Cli, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Cli::command()
            .try_get_matches_from(args)
            .map_err(ConfigError::Cli)?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(ConfigError::Cli)?;
        if let Some(path) = &cli.config_file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.clone(),
                error,
            })?;
            cli.config
                .fill_from_file(&text, &matches)
                .map_err(|message| ConfigError::File {
                    path: path.clone(),
                    message,
                })?;
        }
        // `--public-ip a --public-ip a` (or a flag repeating the variable) advertises it once.
        let mut seen = Vec::with_capacity(cli.config.public_ip.len());
        cli.config.public_ip.retain(|ip| {
            let first = !seen.contains(ip);
            seen.push(*ip);
            first
        });
        cli.config.validate()?;
        Ok(cli)
    }
}

impl Config {
    /// Parses a configuration file alone: missing keys keep their defaults. `Err` names the
    /// offending key (never echoing its value, which may be the secret).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|error| describe_toml_error(text, &error))
    }

    /// Takes each key the file sets unless a flag or variable set that setting
    /// (flag > env > file > default).
    fn fill_from_file(&mut self, text: &str, matches: &ArgMatches) -> Result<(), String> {
        let file = Self::from_toml(text)?;
        let keys: toml::Table = text
            .parse()
            .map_err(|error| describe_toml_error(text, &error))?;
        for key in keys.keys() {
            let overridden = matches!(
                matches.value_source(key),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            if !overridden {
                self.take_setting(key, &file);
            }
        }
        Ok(())
    }

    /// Copies the setting named `key` from `file`. Keys are the field names (the file was
    /// already checked for unknown keys); `every_file_key_is_taken` checks this list is whole.
    fn take_setting(&mut self, key: &str, file: &Config) {
        match key {
            "http_addr" => self.http_addr = file.http_addr,
            "http_port" => self.http_port = file.http_port,
            "tls_cert" => self.tls_cert.clone_from(&file.tls_cert),
            "tls_key" => self.tls_key.clone_from(&file.tls_key),
            "rtc_port" => self.rtc_port = file.rtc_port,
            "rtc_bind" => self.rtc_bind = file.rtc_bind,
            "public_ip" => self.public_ip.clone_from(&file.public_ip),
            "rtc_advertised_port" => self.rtc_advertised_port = file.rtc_advertised_port,
            "rtc_tcp_port" => self.rtc_tcp_port = file.rtc_tcp_port,
            "shards" => self.shards = file.shards,
            "api_key" => self.api_key.clone_from(&file.api_key),
            "api_secret" => self.api_secret.clone_from(&file.api_secret),
            "turn_url" => self.turn_url.clone_from(&file.turn_url),
            "turn_secret" => self.turn_secret.clone_from(&file.turn_secret),
            "turn_credential_ttl" => self.turn_credential_ttl = file.turn_credential_ttl,
            "allowed_origins" => self.allowed_origins.clone_from(&file.allowed_origins),
            "log_format" => self.log_format = file.log_format,
            "drain_grace" => self.drain_grace = file.drain_grace,
            "join_deadline" => self.join_deadline = file.join_deadline,
            "max_unjoined_per_ip" => self.max_unjoined_per_ip = file.max_unjoined_per_ip,
            "viewers_must_knock" => self.viewers_must_knock = file.viewers_must_knock,
            "max_participants" => self.max_participants = file.max_participants,
            "max_viewers" => self.max_viewers = file.max_viewers,
            "reconnect_grace" => self.reconnect_grace = file.reconnect_grace,
            "knock_timeout" => self.knock_timeout = file.knock_timeout,
            "allow_self_unmute" => self.allow_self_unmute = file.allow_self_unmute,
            "webhook_url" => self.webhook_url.clone_from(&file.webhook_url),
            "webhook_key" => self.webhook_key.clone_from(&file.webhook_key),
            "webhook_queue" => self.webhook_queue = file.webhook_queue,
            "webhook_ca" => self.webhook_ca.clone_from(&file.webhook_ca),
            "webhook_timeout" => self.webhook_timeout = file.webhook_timeout,
            "redis_url" => self.redis_url.clone_from(&file.redis_url),
            "node_id" => self.node_id.clone_from(&file.node_id),
            "node_url" => self.node_url.clone_from(&file.node_url),
            "node_capacity" => self.node_capacity = file.node_capacity,
            "recording_dir" => self.recording_dir.clone_from(&file.recording_dir),
            "transcription_command" => self
                .transcription_command
                .clone_from(&file.transcription_command),
            "transcription_url" => self.transcription_url.clone_from(&file.transcription_url),
            _ => {}
        }
    }

    /// Rules across settings, which clap checks only among flags and variables.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.api_key.is_some() && self.api_secret.is_none() {
            return Err(ConfigError::Invalid(
                "api_key (--api-key / SFU_API_KEY) requires api_secret (--api-secret / \
                 SFU_API_SECRET)"
                    .to_owned(),
            ));
        }
        if self.transcription_command.is_some() && self.transcription_url.is_some() {
            return Err(ConfigError::Invalid(
                "transcription_command (--transcription-command) and transcription_url \
                 (--transcription-url) are two engines: set at most one"
                    .to_owned(),
            ));
        }
        if self.join_deadline.is_zero() {
            return Err(ConfigError::Invalid(
                "join_deadline (--join-deadline / SFU_JOIN_DEADLINE) must be more than 0s"
                    .to_owned(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert (--tls-cert / SFU_TLS_CERT) and tls_key (--tls-key / SFU_TLS_KEY) go \
                 together"
                    .to_owned(),
            ));
        }
        let needs_secret = self.turn_url.iter().any(|u| u.starts_with("turn"));
        if needs_secret && self.turn_secret.is_none() {
            return Err(ConfigError::Invalid(
                "turn_url (--turn-url / SFU_TURN_URL) names a TURN server, which needs \
                 turn_secret (--turn-secret / SFU_TURN_SECRET), coturn's static-auth-secret"
                    .to_owned(),
            ));
        }
        if self.turn_secret.is_some() && !needs_secret {
            return Err(ConfigError::Invalid(
                "turn_secret (--turn-secret / SFU_TURN_SECRET) is set but turn_url \
                 (--turn-url / SFU_TURN_URL) names no turn: or turns: server"
                    .to_owned(),
            ));
        }
        if self.turn_credential_ttl.is_zero() {
            return Err(ConfigError::Invalid(
                "turn_credential_ttl (--turn-credential-ttl / SFU_TURN_CREDENTIAL_TTL) must be \
                 longer than 0s"
                    .to_owned(),
            ));
        }
        if self.public_ip.is_empty() {
            return Err(ConfigError::Invalid(
                "public_ip (--public-ip / SFU_PUBLIC_IP) needs at least one address".to_owned(),
            ));
        }
        if self.media_bind_ip().is_unspecified() && self.advertises_only_loopback() {
            return Err(ConfigError::Invalid(format!(
                "rtc_bind (--rtc-bind / SFU_RTC_BIND) {} listens on every interface, but \
                 public_ip (--public-ip / SFU_PUBLIC_IP) advertises only loopback ({}): no other \
                 host could use it. Set --public-ip to the address clients reach this host on, \
                 or bind 127.0.0.1",
                self.media_bind_ip(),
                self.public_ip_list()
            )));
        }
        if self.media_bind_ip().is_loopback() && !self.advertises_only_loopback() {
            return Err(ConfigError::Invalid(format!(
                "rtc_bind (--rtc-bind / SFU_RTC_BIND) {} accepts only this host, but public_ip \
                 (--public-ip / SFU_PUBLIC_IP) advertises {}: bind 0.0.0.0 (or ::) instead",
                self.media_bind_ip(),
                self.public_ip_list()
            )));
        }
        Ok(())
    }

    /// Combinations that start but cannot serve a browser on another host; `check-config`
    /// prints each on stderr and the server logs them at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.advertises_only_loopback() && !self.http_addr.is_loopback() {
            warnings.push(format!(
                "http_addr {} is reachable from other hosts, but public_ip advertises only \
                 loopback ({}): their browsers load the page and then cannot connect media. Set \
                 --public-ip to this host's public address",
                self.http_addr,
                self.public_ip_list()
            ));
        }
        if self.tls_cert.is_none() && !self.http_addr.is_loopback() {
            warnings.push(format!(
                "http_addr {} serves plain http: browsers on other hosts give the page no \
                 camera or microphone (they need https). Set --tls-cert/--tls-key or put an \
                 HTTPS reverse proxy in front (deploy/README.md)",
                self.http_addr
            ));
        }
        if self.is_development() && !self.http_addr.is_loopback() {
            warnings.push(format!(
                "development mode (no api_secret) on http_addr {}: anyone who reaches it can \
                 fetch host tokens from /dev/token. Set --api-secret",
                self.http_addr
            ));
        }
        if let Some(bind) = self.rtc_bind {
            if !bind.is_unspecified() && !bind.is_loopback() && !self.public_ip.contains(&bind) {
                warnings.push(format!(
                    "rtc_bind {bind} is not among public_ip ({}): fine behind a 1:1 NAT that \
                     forwards to it, otherwise clients send to an address nobody listens on",
                    self.public_ip_list()
                ));
            }
        }
        warnings
    }

    /// The address the media sockets bind: `--rtc-bind`, or derived from `--public-ip`.
    pub fn media_bind_ip(&self) -> IpAddr {
        if let Some(bind) = self.rtc_bind {
            return bind;
        }
        if self.advertises_only_loopback() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else if self.public_ip.iter().any(IpAddr::is_ipv6) {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    }

    /// Whether every advertised address is loopback: such a server answers only loopback
    /// peers (`ShardConfig::loopback_only`).
    pub fn advertises_only_loopback(&self) -> bool {
        self.public_ip.iter().all(IpAddr::is_loopback)
    }

    fn public_ip_list(&self) -> String {
        let ips: Vec<String> = self.public_ip.iter().map(ToString::to_string).collect();
        ips.join(", ")
    }

    /// The configuration as a TOML file [`Config::from_toml`] reads back; the API secret is
    /// left out (a comment says whether one is set), so the output can be logged or shared.
    pub fn to_toml(&self) -> String {
        let string = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("http_addr = \"{}\"", self.http_addr));
        line(format!("http_port = {}", self.http_port));
        for (key, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
            match path {
                Some(path) => line(format!("{key} = {}", string(&path.to_string_lossy()))),
                None => line(format!("# {key}: not set")),
            }
        }
        line(format!("rtc_port = {}", self.rtc_port));
        match self.rtc_bind {
            Some(bind) => line(format!("rtc_bind = \"{bind}\"")),
            None => line(format!(
                "# rtc_bind: not set; binds {} (from public_ip)",
                self.media_bind_ip()
            )),
        }
        let ips: Vec<String> = self
            .public_ip
            .iter()
            .map(|ip| format!("\"{ip}\""))
            .collect();
        line(format!("public_ip = [{}]", ips.join(", ")));
        match self.rtc_advertised_port {
            Some(port) => line(format!("rtc_advertised_port = {port}")),
            None => line("# rtc_advertised_port: not set (the bound port)".to_owned()),
        }
        match self.rtc_tcp_port {
            RtcTcpPort::Port(port) => line(format!("rtc_tcp_port = {port}")),
            RtcTcpPort::Off => line("rtc_tcp_port = \"off\"".to_owned()),
        }
        line(format!("shards = {}", self.shards));
        match &self.api_key {
            Some(key) => line(format!("api_key = {}", string(key))),
            None => line("# api_key: not set".to_owned()),
        }
        line(match self.api_secret {
            Some(_) => "# api_secret: set (redacted)".to_owned(),
            None => "# api_secret: not set (development mode)".to_owned(),
        });
        let urls: Vec<String> = self.turn_url.iter().map(|u| string(u)).collect();
        line(format!("turn_url = [{}]", urls.join(", ")));
        line(match self.turn_secret {
            Some(_) => "# turn_secret: set (redacted)".to_owned(),
            None => "# turn_secret: not set".to_owned(),
        });
        line(format!(
            "turn_credential_ttl = \"{}\"",
            format_duration(self.turn_credential_ttl)
        ));
        let origins: Vec<String> = self.allowed_origins.iter().map(|o| string(o)).collect();
        line(format!("allowed_origins = [{}]", origins.join(", ")));
        let format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        line(format!("log_format = \"{format}\""));
        line(format!(
            "drain_grace = \"{}\"",
            format_duration(self.drain_grace)
        ));
        line(format!(
            "join_deadline = \"{}\"",
            format_duration(self.join_deadline)
        ));
        line(format!(
            "max_unjoined_per_ip = {}",
            self.max_unjoined_per_ip
        ));
        line(format!("viewers_must_knock = {}", self.viewers_must_knock));
        line(format!("max_participants = {}", self.max_participants));
        line(format!("max_viewers = {}", self.max_viewers));
        line(format!(
            "reconnect_grace = \"{}\"",
            format_duration(self.reconnect_grace)
        ));
        line(format!(
            "knock_timeout = \"{}\"",
            format_duration(self.knock_timeout)
        ));
        line(format!("allow_self_unmute = {}", self.allow_self_unmute));
        let hooks: Vec<String> = self.webhook_url.iter().map(|u| string(u)).collect();
        line(format!("webhook_url = [{}]", hooks.join(", ")));
        line(match self.webhook_key {
            Some(_) => "# webhook_key: set (redacted)".to_owned(),
            None => "# webhook_key: not set (the API secret signs webhooks)".to_owned(),
        });
        line(format!("webhook_queue = {}", self.webhook_queue));
        match &self.webhook_ca {
            Some(path) => line(format!("webhook_ca = {}", string(&path.to_string_lossy()))),
            None => line("# webhook_ca: not set (the system's root certificates)".to_owned()),
        }
        line(format!(
            "webhook_timeout = \"{}\"",
            format_duration(self.webhook_timeout)
        ));
        line(match self.redis_url {
            // The URL may carry a password.
            Some(_) => "# redis_url: set (redacted)".to_owned(),
            None => "# redis_url: not set (one node, placement in memory)".to_owned(),
        });
        match &self.node_id {
            Some(id) => line(format!("node_id = {}", string(id))),
            None => line("# node_id: not set (<hostname>-<http port>)".to_owned()),
        }
        match &self.node_url {
            Some(url) => line(format!("node_url = {}", string(url))),
            None => line("# node_url: not set (ws(s)://<bound address>/rtc)".to_owned()),
        }
        line(format!("node_capacity = {}", self.node_capacity));
        line(format!(
            "recording_dir = {}",
            string(&self.recording_dir.to_string_lossy())
        ));
        match &self.transcription_command {
            Some(command) => line(format!("transcription_command = {}", string(command))),
            None => line("# transcription_command: not set (no built-in transcriber)".to_owned()),
        }
        match &self.transcription_url {
            Some(url) => line(format!("transcription_url = {}", string(url))),
            None => line("# transcription_url: not set".to_owned()),
        }
        out
    }
}

/// `line N, key `k`: what is wrong`, from toml's error and the span it points at.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return error.message().to_owned();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let line = &text[line_start..line_end];
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !key.trim().starts_with('[') => {
            format!("line {line_no}, key `{}`: {}", key.trim(), error.message())
        }
        _ => format!("line {line_no}: {}", error.message()),
    }
}

/// `90s`, or `250ms` when not a whole number of seconds ([`parse_duration`] reads both).
fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

fn de_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn de_api_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_api_secret(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_turn_urls<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let urls = Vec::<String>::deserialize(deserializer)?;
    urls.iter()
        .map(|url| parse_turn_url(url).map_err(serde::de::Error::custom))
        .collect()
}

fn de_turn_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_turn_secret(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_webhook_urls<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let urls = Vec::<String>::deserialize(deserializer)?;
    urls.iter()
        .map(|url| parse_webhook_url(url).map_err(serde::de::Error::custom))
        .collect()
}

fn de_transcription_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(deserializer)?;
    url.map(|url| parse_webhook_url(&url).map_err(serde::de::Error::custom))
        .transpose()
}

/// An absolute `http://` URL with a host.
fn parse_webhook_url(text: &str) -> Result<String, String> {
    crate::webhook::delivery::parse_url(text).map(|_| text.to_owned())
}

fn de_redis_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(deserializer)?;
    url.map(|url| parse_redis_url(&url).map_err(serde::de::Error::custom))
        .transpose()
}

/// `redis://`, `rediss://` (TLS) or `unix://`, which the client can parse.
fn parse_redis_url(text: &str) -> Result<String, String> {
    redis::Client::open(text)
        .map(|_| text.to_owned())
        .map_err(|error| format!("not a Redis URL ({error}): e.g. redis://127.0.0.1:6379/0"))
}

fn de_node_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let id = Option::<String>::deserialize(deserializer)?;
    id.map(|id| parse_node_id(&id).map_err(serde::de::Error::custom))
        .transpose()
}

/// 1..=64 characters of `[A-Za-z0-9._-]` (it is part of store keys).
fn parse_node_id(text: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if valid {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 64 characters of letters, digits, '.', '_' or '-'".to_owned())
    }
}

fn de_node_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(deserializer)?;
    url.map(|url| parse_node_url(&url).map_err(serde::de::Error::custom))
        .transpose()
}

/// An absolute `ws://` or `wss://` URL.
fn parse_node_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("wss://")
        .or_else(|| text.strip_prefix("ws://"))
        .ok_or("must start with ws:// or wss:// (e.g. wss://sfu-2.example.com/rtc)")?;
    if rest.is_empty() || rest.starts_with('/') || text.chars().any(char::is_whitespace) {
        return Err("must name a host (e.g. wss://sfu-2.example.com/rtc)".to_owned());
    }
    Ok(text.to_owned())
}

fn de_allowed_origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let origins = Vec::<String>::deserialize(deserializer)?;
    origins
        .iter()
        .map(|origin| parse_allowed_origin(origin).map_err(serde::de::Error::custom))
        .collect()
}

/// An origin (`https://app.example.com`), normalised so that it compares with the `Origin`
/// header whatever its spelling, or `*` for every page.
fn parse_allowed_origin(text: &str) -> Result<String, String> {
    if text.trim() == "*" {
        return Ok("*".to_owned());
    }
    origins::normalize_origin(text)
}

/// `turn:`, `turns:` or `stun:` and a host (RFC 7065 / RFC 7064 URIs), as browsers accept them.
fn parse_turn_url(text: &str) -> Result<String, String> {
    let rest = ["turn:", "turns:", "stun:"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "'{text}' is not a TURN URL like turn:turn.example.com:3478?transport=udp"
        )),
    }
}

/// coturn accepts any secret; a short one would be guessable from one credential.
fn parse_turn_secret(text: &str) -> Result<Secret, String> {
    if text.len() < 16 {
        return Err("must be at least 16 bytes (try `openssl rand -hex 32`)".to_owned());
    }
    Ok(Secret::from(text))
}

/// `public_ip = "192.0.2.1"` or `public_ip = ["192.0.2.1", "2001:db8::1"]`.
fn de_public_ips<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let texts = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(text) => vec![text],
        OneOrMany::Many(texts) => texts,
    };
    let mut ips = Vec::with_capacity(texts.len());
    for text in texts {
        let ip = parse_public_ip(&text).map_err(serde::de::Error::custom)?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

/// An address a client can send to: not unspecified (0.0.0.0 binds, it is never a
/// destination) and not multicast.
fn parse_public_ip(text: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 or IPv6 address"))?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!(
            "'{text}' cannot be a destination: advertise the address clients send to (the \
             bind address is --rtc-bind)"
        ));
    }
    Ok(ip)
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

    // The two transcription engines exclude each other; a URL must be http(s).
    #[test]
    fn at_most_one_transcription_engine() {
        let both = Config {
            transcription_command: Some("wc -c".into()),
            transcription_url: Some("http://127.0.0.1:9/asr".into()),
            ..Config::default()
        };
        let error = both.validate().expect_err("two engines");
        assert!(error.to_string().contains("at most one"), "{error}");
        let one = Config {
            transcription_url: Some("http://127.0.0.1:9/asr".into()),
            ..Config::default()
        };
        assert!(one.validate().is_ok());
        assert!(parse_webhook_url("ftp://127.0.0.1/asr").is_err());
    }

    // `sfu --help` explains every option: each argument has a help text.
    #[test]
    fn every_option_has_help() {
        let command = Cli::command();
        for arg in command.get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(!help.trim().is_empty(), "--{} has no help", arg.get_id());
        }
    }

    // The file's keys are exactly the options of `Config`, and each one is taken from the file:
    // a new setting cannot be forgotten in `take_setting`.
    #[test]
    fn every_file_key_is_taken() {
        let ids: Vec<String> = Cli::command()
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .filter(|id| !["config_file", "help", "version"].contains(&id.as_str()))
            .collect();
        let secret = "s".repeat(MIN_API_SECRET_BYTES);
        let file = Config {
            http_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            http_port: 1,
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            rtc_port: 2,
            rtc_bind: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            public_ip: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))],
            rtc_advertised_port: Some(3),
            rtc_tcp_port: RtcTcpPort::Off,
            shards: NonZeroUsize::new(7).unwrap(),
            api_key: Some("k".into()),
            api_secret: Some(Secret::from(secret.as_str())),
            turn_url: vec!["turn:192.0.2.1:3478".into()],
            turn_secret: Some(Secret::from(secret.as_str())),
            turn_credential_ttl: Duration::from_secs(60),
            allowed_origins: vec!["https://app.example.com".into()],
            log_format: LogFormat::Json,
            drain_grace: Duration::from_secs(9),
            join_deadline: Duration::from_secs(3),
            max_unjoined_per_ip: NonZeroU32::new(5).unwrap(),
            viewers_must_knock: true,
            max_participants: NonZeroU32::new(3).unwrap(),
            max_viewers: NonZeroU32::new(4).unwrap(),
            reconnect_grace: Duration::from_secs(5),
            knock_timeout: Duration::ZERO,
            allow_self_unmute: false,
            webhook_url: vec!["http://127.0.0.1:9/hook".into()],
            webhook_key: Some(Secret::from(secret.as_str())),
            webhook_queue: NonZeroUsize::new(3).unwrap(),
            webhook_ca: Some("ca.pem".into()),
            webhook_timeout: Duration::from_secs(1),
            redis_url: Some("redis://127.0.0.1:9/0".into()),
            node_id: Some("n-1".into()),
            node_url: Some("ws://127.0.0.1:1/rtc".into()),
            node_capacity: NonZeroU64::new(7).unwrap(),
            recording_dir: "rec".into(),
            transcription_command: Some("whisper-wrapper".into()),
            transcription_url: Some("http://127.0.0.1:9/asr".into()),
        };
        for id in &ids {
            let mut config = Config::default();
            config.take_setting(id, &file);
            assert_ne!(config, Config::default(), "file key {id} is not taken");
        }
        assert_eq!(ids.len(), 38, "{ids:?}");
    }

    // `to_toml` reads back to the same configuration, less the secret it leaves out.
    #[test]
    fn to_toml_round_trips_without_the_secret() {
        let config = Config {
            api_key: Some("key \"1\"".into()),
            api_secret: Some(Secret::from("s".repeat(MIN_API_SECRET_BYTES).as_str())),
            drain_grace: Duration::from_millis(1500),
            join_deadline: Duration::from_millis(2500),
            max_unjoined_per_ip: NonZeroU32::new(9).unwrap(),
            log_format: LogFormat::Json,
            viewers_must_knock: true,
            max_viewers: NonZeroU32::new(12).unwrap(),
            knock_timeout: Duration::ZERO,
            allow_self_unmute: false,
            rtc_bind: Some(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            public_ip: vec![
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                "2001:db8::1".parse().unwrap(),
            ],
            rtc_advertised_port: Some(40000),
            allowed_origins: vec!["https://app.example.com".into(), "*".into()],
            rtc_tcp_port: RtcTcpPort::Off,
            ..Config::ephemeral()
        };
        let text = config.to_toml();
        assert!(!text.contains(&"s".repeat(MIN_API_SECRET_BYTES)), "{text}");
        let back = Config::from_toml(&text).unwrap();
        assert_eq!(
            back,
            Config {
                api_secret: None,
                ..config
            }
        );
    }

    // With no setting the server keeps the spec's default room policy (viewers bypass the
    // lock); the flags' defaults are `Config::default`'s.
    #[test]
    fn defaults_keep_the_default_room_policy() {
        assert_eq!(Config::default().room_policy(), RoomPolicy::default());
        let cli = Cli::try_parse_from(["sfu"]).unwrap();
        assert_eq!(cli.config, Config::default());
    }

    // The room-policy flags reach `RoomPolicy`; a knock timeout of 0s waits forever (the
    // spec's `knockTimeout: 0`); booleans take an explicit value so a flag can turn off what
    // the file turned on.
    #[test]
    fn room_policy_flags_reach_the_policy() {
        let cli = Cli::try_parse_from([
            "sfu",
            "--viewers-must-knock",
            "true",
            "--max-participants",
            "5",
            "--max-viewers",
            "6",
            "--reconnect-grace",
            "10s",
            "--knock-timeout",
            "0s",
            "--allow-self-unmute",
            "false",
        ])
        .unwrap();
        let policy = cli.config.room_policy();
        assert!(policy.viewers_must_knock);
        assert_eq!(policy.max_participants, 5);
        assert_eq!(policy.max_viewers, 6);
        assert_eq!(policy.reconnect_grace, Duration::from_secs(10));
        assert_eq!(policy.knock_timeout, None);
        assert!(!policy.allow_self_unmute);
        let zero = Cli::try_parse_from(["sfu", "--max-viewers", "0"]).unwrap_err();
        assert!(zero.to_string().contains("--max-viewers"), "{zero}");
        let bare = Cli::try_parse_from(["sfu", "--viewers-must-knock", "yes"]).unwrap_err();
        assert!(bare.to_string().contains("--viewers-must-knock"), "{bare}");
    }

    // `--rtc-tcp-port` takes a port or `off`, from a flag or the file; anything else is
    // refused naming the flag.
    #[test]
    fn rtc_tcp_port_takes_a_port_or_off() {
        let cli = Cli::try_parse_from(["sfu", "--rtc-tcp-port", "off"]).unwrap();
        assert_eq!(cli.config.rtc_tcp_port, RtcTcpPort::Off);
        let cli = Cli::try_parse_from(["sfu", "--rtc-tcp-port", "7000"]).unwrap();
        assert_eq!(cli.config.rtc_tcp_port.port(), Some(7000));
        let bad = Cli::try_parse_from(["sfu", "--rtc-tcp-port", "tcp"]).unwrap_err();
        assert!(bad.to_string().contains("--rtc-tcp-port"), "{bad}");
        let file = Config::from_toml("rtc_tcp_port = \"off\"").unwrap();
        assert_eq!(file.rtc_tcp_port, RtcTcpPort::Off);
        let file = Config::from_toml("rtc_tcp_port = 9000").unwrap();
        assert_eq!(file.rtc_tcp_port, RtcTcpPort::Port(9000));
        let bad = Config::from_toml("rtc_tcp_port = \"on\"").unwrap_err();
        assert!(bad.contains("rtc_tcp_port"), "{bad}");
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

    // The unjoined-socket rules come from flags; a join deadline of 0s would close every
    // socket at once and is refused, naming the flag.
    #[test]
    fn unjoined_socket_flags_parse_and_zero_deadline_is_refused() {
        let cli =
            Cli::load_from(["sfu", "--join-deadline", "3s", "--max-unjoined-per-ip", "7"]).unwrap();
        assert_eq!(cli.config.join_deadline, Duration::from_secs(3));
        assert_eq!(cli.config.max_unjoined_per_ip.get(), 7);
        let zero = Cli::load_from(["sfu", "--join-deadline", "0s"]).unwrap_err();
        assert!(zero.to_string().contains("--join-deadline"), "{zero}");
        let none = Cli::try_parse_from(["sfu", "--max-unjoined-per-ip", "0"]).unwrap_err();
        assert!(none.to_string().contains("--max-unjoined-per-ip"), "{none}");
    }
}
