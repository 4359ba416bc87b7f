//! The `--config` TOML file (issue 7): precedence flag > env > file > default, errors that name
//! the key, the documented example, and `--log-format json` writing one JSON object per line.
//!
//! Precedence with environment variables runs the built binary (`sfu check-config`), so the
//! test process's own environment is never changed.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::CommandFactory;
use sfu::config::{Cli, ConfigError, LogFormat, MIN_API_SECRET_BYTES};
use sfu::Config;

const EXAMPLE: &str = include_str!("../../../deploy/sfu.example.toml");

/// A file under the temp dir that is removed when dropped.
struct TempToml(PathBuf);

impl TempToml {
    fn new(text: &str) -> TempToml {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sfu-config-test-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("temp dir is writable");
        TempToml(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8 here")
    }
}

impl Drop for TempToml {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The built binary with no `SFU_*` variables from the test's environment.
fn sfu_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SFU_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the sfu binary runs")
}

/// Loads through `Cli::load_from` and returns the error's message.
fn load_error(file: &str) -> String {
    let file = TempToml::new(file);
    match Cli::load_from(["sfu", "--config", file.arg()]) {
        Ok(cli) => panic!("accepted: {:?}", cli.config),
        Err(error) => error.to_string(),
    }
}

// The shipped example parses, differs from the defaults where a server in a container needs it
// to, and documents every option (set or commented out).
#[test]
fn example_file_parses_and_documents_every_key() {
    let config = Config::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("example: {e}"));
    assert_eq!(config.http_addr, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(config.log_format, LogFormat::Json);
    assert!(config.drain_grace > Duration::ZERO);
    for arg in Cli::command().get_arguments() {
        let key = arg.get_id().as_str();
        if ["config_file", "help", "version"].contains(&key) {
            continue;
        }
        let documented = EXAMPLE.lines().any(|line| {
            let line = line.trim_start_matches("# ");
            line.starts_with(&format!("{key} = "))
        });
        assert!(
            documented,
            "deploy/sfu.example.toml does not document `{key}`"
        );
    }
}

// A file sets what flags leave at their defaults; a flag wins over the file.
#[test]
fn file_fills_defaults_and_flags_win() {
    let file = TempToml::new("http_port = 1111\nrtc_port = 2222\nlog_format = \"json\"\n");
    let cli = Cli::load_from(["sfu", "--config", file.arg(), "--rtc-port", "3333"]).unwrap();
    assert_eq!(cli.config.http_port, 1111);
    assert_eq!(cli.config.rtc_port, 3333);
    assert_eq!(cli.config.log_format, LogFormat::Json);
    assert_eq!(cli.config.drain_grace, Duration::ZERO, "default kept");
    // A flag equal to the default still counts as given.
    let cli = Cli::load_from(["sfu", "--config", file.arg(), "--http-port", "7880"]).unwrap();
    assert_eq!(cli.config.http_port, 7880);
}

// flag > env > file > default, through the real binary and its environment; SFU_CONFIG names
// the file like --config does.
#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let file = TempToml::new(
        "http_port = 1111\nrtc_port = 2222\nshards = 3\ndrain_grace = \"10s\"\n\
         public_ip = \"192.0.2.1\"\n",
    );
    let out = run(sfu_command()
        .args(["--config", file.arg(), "--rtc-port", "3333", "check-config"])
        .env("SFU_RTC_PORT", "4444")
        .env("SFU_SHARDS", "5"));
    assert!(out.status.success(), "{out:?}");
    let shown = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(shown.rtc_port, 3333, "flag beats env and file");
    assert_eq!(shown.shards.get(), 5, "env beats file");
    assert_eq!(shown.http_port, 1111, "file beats default");
    assert_eq!(shown.drain_grace, Duration::from_secs(10));
    assert_eq!(shown.public_ip, [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))]);
    assert_eq!(shown.http_addr, Config::default().http_addr, "default");

    let out = run(sfu_command()
        .arg("check-config")
        .env("SFU_CONFIG", file.arg()));
    assert!(out.status.success(), "{out:?}");
    let shown = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(shown.rtc_port, 2222);
}

// The room-policy settings follow the same precedence, and `check-config` shows them: the
// file turns viewers_must_knock on, a flag turns it off again, a variable sets another knob.
#[test]
fn room_policy_settings_follow_the_precedence() {
    let file =
        TempToml::new("viewers_must_knock = true\nknock_timeout = \"0s\"\nmax_viewers = 9\n");
    let out = run(sfu_command()
        .args(["--config", file.arg(), "check-config"])
        .env("SFU_ALLOW_SELF_UNMUTE", "false"));
    assert!(out.status.success(), "{out:?}");
    let shown = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let policy = shown.room_policy();
    assert!(policy.viewers_must_knock, "file beats default");
    assert_eq!(policy.knock_timeout, None, "0s waits forever");
    assert_eq!(policy.max_viewers, 9);
    assert!(!policy.allow_self_unmute, "env beats default");
    assert_eq!(shown.reconnect_grace, Duration::from_secs(30), "default");

    let out = run(sfu_command().args([
        "--config",
        file.arg(),
        "--viewers-must-knock",
        "false",
        "check-config",
    ]));
    assert!(out.status.success(), "{out:?}");
    let shown = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert!(!shown.viewers_must_knock, "flag beats file");
}

// An unknown key stops the start with a message naming it (a typo is never ignored).
#[test]
fn unknown_key_is_an_error_naming_the_key() {
    let message = load_error("http_port = 1\nhtp_addr = \"0.0.0.0\"\n");
    assert!(message.contains("htp_addr"), "{message}");
    assert!(message.contains("line 2"), "{message}");

    let file = TempToml::new("[http]\nport = 1\n");
    let out = run(sfu_command().args(["--config", file.arg(), "check-config"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("http"), "{stderr}");
    assert!(stderr.contains(file.arg()), "names the file: {stderr}");
}

// A bad value stops the start with a message naming the field, and never echoes a secret.
#[test]
fn bad_values_are_errors_naming_the_field() {
    for (file, field) in [
        ("http_port = \"x\"", "http_port"),
        ("http_port = 70000", "http_port"),
        ("http_addr = \"localhost:1\"", "http_addr"),
        ("shards = 0", "shards"),
        ("log_format = \"xml\"", "log_format"),
        ("drain_grace = \"5 minutes\"", "drain_grace"),
        ("public_ip = 7", "public_ip"),
        ("public_ip = \"203.0.113\"", "public_ip"),
        ("public_ip = [\"192.0.2.1\", \"0.0.0.0\"]", "public_ip"),
        ("rtc_bind = \"any\"", "rtc_bind"),
        ("rtc_advertised_port = 70000", "rtc_advertised_port"),
        ("viewers_must_knock = \"yes\"", "viewers_must_knock"),
        ("max_participants = 0", "max_participants"),
        ("max_viewers = -1", "max_viewers"),
        ("knock_timeout = 600", "knock_timeout"),
        ("reconnect_grace = \"soon\"", "reconnect_grace"),
    ] {
        let message = load_error(file);
        assert!(message.contains(field), "{file}: {message}");
    }
    let short = "hunter2-too-short";
    let message = load_error(&format!("api_secret = \"{short}\""));
    assert!(message.contains("api_secret"), "{message}");
    assert!(
        message.contains(&MIN_API_SECRET_BYTES.to_string()),
        "{message}"
    );
    assert!(!message.contains(short), "the secret leaked: {message}");

    let message = load_error("api_key = \"k\"");
    assert!(message.contains("api_secret"), "{message}");

    let message = load_error("http_port = ");
    assert!(message.contains("line 1"), "not TOML: {message}");

    let missing = Cli::load_from(["sfu", "--config", "/nonexistent/sfu.toml"]).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/sfu.toml"));
}

// `sfu --help` lists every option with its variable and explains the file and precedence.
#[test]
fn help_explains_every_option_and_the_file() {
    let out = run(sfu_command().arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for arg in Cli::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                help.contains(&format!("--{long}")),
                "--{long} missing:\n{help}"
            );
        }
    }
    assert!(help.contains("SFU_CONFIG"), "{help}");
    assert!(help.contains("A flag wins over"), "{help}");
}

// With --log-format json every line the server writes is one JSON object with a level and a
// message.
#[test]
fn json_log_format_writes_one_object_per_line() {
    let mut child = sfu_command()
        .args([
            "--http-port",
            "0",
            "--rtc-port",
            "0",
            "--rtc-tcp-port",
            "0",
            "--shards",
            "1",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sfu binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("UTF-8 log line");
        let serving = line.contains("\"serving\"");
        lines.push(line);
        if serving || lines.len() > 50 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("\"serving\"")),
        "no `serving` line: {lines:#?}"
    );
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
        assert!(value.is_object(), "{line}");
        assert!(value["level"].is_string(), "{line}");
        assert!(value["fields"]["message"].is_string(), "{line}");
        assert!(!line.contains('\u{1b}'), "ANSI escape in {line:?}");
    }
}

// Bind and advertise are separate (DECISIONS.md §23): several --public-ip (IPv4 and IPv6, also
// comma-separated in the variable), an advertised port, and the bind address derived from
// them when not given: loopback stays loopback, a public address binds every interface.
#[test]
fn bind_and_advertised_addresses_are_separate() {
    let cli = Cli::load_from([
        "sfu",
        "--public-ip",
        "203.0.113.7",
        "--public-ip",
        "2001:db8::7",
        "--rtc-advertised-port",
        "40000",
    ])
    .unwrap();
    let config = cli.config;
    assert_eq!(
        config.public_ip,
        [
            "203.0.113.7".parse::<IpAddr>().unwrap(),
            "2001:db8::7".parse().unwrap()
        ]
    );
    assert_eq!(config.media_bind_ip(), "::".parse::<IpAddr>().unwrap());
    assert_eq!(config.rtc_advertised_port, Some(40000));
    let shard = config.shard_config(2);
    assert_eq!(
        shard.bind,
        "[::]:7884".parse::<std::net::SocketAddr>().unwrap()
    );
    assert_eq!(shard.advertised_port, Some(40002));
    assert!(!shard.loopback_only);

    let config = Cli::load_from(["sfu", "--public-ip", "203.0.113.7,203.0.113.7"])
        .unwrap()
        .config;
    assert_eq!(config.public_ip.len(), 1, "duplicates advertised once");
    assert_eq!(config.media_bind_ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));

    let default = Cli::load_from(["sfu"]).unwrap().config;
    assert_eq!(default.media_bind_ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let shard = default.shard_config(0);
    assert!(
        shard.loopback_only,
        "a loopback server answers only loopback"
    );

    // The file takes one address or a list; check-config prints a list that reads back.
    let file = TempToml::new("public_ip = [\"192.0.2.1\", \"2001:db8::1\"]\nrtc_bind = \"::\"\n");
    let out = run(sfu_command().args(["--config", file.arg(), "check-config"]));
    assert!(out.status.success(), "{out:?}");
    let shown = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(shown.public_ip.len(), 2);
    assert_eq!(shown.rtc_bind, Some("::".parse().unwrap()));
}

// Combinations no other host could use stop the server with a message naming the flags; a
// public IP that does not parse names --public-ip.
#[test]
fn unusable_bind_and_advertise_combinations_are_refused() {
    let error = |args: &[&str]| match Cli::load_from(args.iter().copied()) {
        Ok(cli) => panic!("accepted {args:?}: {:?}", cli.config),
        Err(error) => error.to_string(),
    };
    let message = error(&["sfu", "--rtc-bind", "0.0.0.0"]);
    assert!(
        message.contains("--rtc-bind") && message.contains("--public-ip"),
        "{message}"
    );
    let message = error(&["sfu", "--rtc-bind", "::", "--public-ip", "127.0.0.2"]);
    assert!(message.contains("only loopback"), "{message}");
    let message = error(&["sfu", "--rtc-bind", "127.0.0.1", "--public-ip", "192.0.2.1"]);
    assert!(message.contains("--rtc-bind"), "{message}");
    for bad in ["203.0.113", "0.0.0.0", "my-host", "224.0.0.1"] {
        let message = error(&["sfu", "--public-ip", bad]);
        assert!(message.contains("--public-ip"), "{bad}: {message}");
    }
}

// check-config warns about what starts but cannot serve a browser elsewhere: the HTTP port on
// every interface while media advertises loopback, and development mode on a public address.
#[test]
fn check_config_warns_about_what_other_hosts_cannot_use() {
    let out = run(sfu_command().args(["--http-addr", "0.0.0.0", "check-config"]));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("advertises only loopback"), "{stderr}");
    assert!(stderr.contains("development mode"), "{stderr}");

    let out = run(sfu_command().args(["check-config"]));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "",
        "the default is quiet"
    );

    // The shipped example advertises a public address: development mode and plain http are
    // left to warn about (its deployments set SFU_API_SECRET and terminate TLS in front).
    let example = TempToml::new(EXAMPLE);
    let out = run(sfu_command().args(["--config", example.arg(), "check-config"]));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("loopback"), "{stderr}");
    let secret = "s".repeat(MIN_API_SECRET_BYTES);
    let out = run(sfu_command()
        .args(["--config", example.arg(), "check-config"])
        .env("SFU_API_SECRET", &secret));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("development mode"), "{stderr}");
    assert!(stderr.contains("plain http"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
