//! The `sfu` binary: `sfu` serves, `sfu token create ...` prints a join token, `sfu
//! check-config` prints the configuration the server would run with, and `sfu room|participant|
//! breakout ...` drive a running server through its API.
//!
//! Only this file installs the tracing subscriber and the signal handlers; the library's
//! [`sfu::run`] takes a shutdown future instead.

use std::process::ExitCode;

use sfu::admin_args::AdminCommand;
use sfu::admin_cli;
use sfu::config::{Cli, Command, Config, ConfigError, LogFormat, TokenCommand, TokenCreate};
use sfu::token::Claims;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::load() {
        Ok(cli) => cli,
        // clap prints its own message (or the help) and picks the exit code.
        Err(ConfigError::Cli(error)) => error.exit(),
        Err(error) => {
            // Tracing is not set up yet (its format is part of the configuration).
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        None => serve(cli.config),
        Some(Command::Token(TokenCommand::Create(args))) => token_create(&cli.config, args),
        Some(Command::Token(TokenCommand::Admin(args))) => {
            admin_cli::admin_token(&cli.config, &args)
        }
        Some(Command::Room(command)) => admin_cli::run(&cli.config, AdminCommand::Room(command)),
        Some(Command::Participant(command)) => {
            admin_cli::run(&cli.config, AdminCommand::Participant(command))
        }
        Some(Command::Breakout(command)) => {
            admin_cli::run(&cli.config, AdminCommand::Breakout(command))
        }
        Some(Command::CheckConfig) => {
            for warning in cli.config.warnings() {
                eprintln!("warning: {warning}");
            }
            print!("{}", cli.config.to_toml());
            ExitCode::SUCCESS
        }
    }
}

fn serve(config: Config) -> ExitCode {
    init_tracing(config.log_format);
    for warning in config.warnings() {
        warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let (listener, _addr) = sfu::bind(&config).await?;
        sfu::run(config, listener, shutdown_signal()).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Text or JSON lines on stdout; the level filter comes from `RUST_LOG` (default `info`).
///
/// JSON: one object per line (`timestamp`, `level`, `fields.message` and the event's other
/// fields, `target`, the current span); no ANSI colour codes, which would end up inside the JSON
/// strings.
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .init(),
    }
}

/// Resolves on the first Ctrl-C or SIGTERM, which begins the graceful shutdown. A second one
/// ends the process at once.
async fn shutdown_signal() {
    let name = signal().await;
    info!(
        signal = name,
        "shutdown requested; a second signal exits at once"
    );
    tokio::spawn(async {
        let name = signal().await;
        warn!(signal = name, "second signal: exiting without draining");
        std::process::exit(130);
    });
}

async fn signal() -> &'static str {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// `sfu token create`: prints the token on stdout, warnings on stderr.
fn token_create(config: &Config, args: TokenCreate) -> ExitCode {
    let key = config.token_key();
    let mut claims = Claims::new(args.room, args.identity, args.role)
        .expiring_after(args.ttl, sfu::clock::system_now());
    claims.name = args.name;
    claims.external_id = args.external_id;
    match key.sign(&claims) {
        Ok(token) => {
            if key.is_development() {
                eprintln!(
                    "warning: no --api-secret / SFU_API_SECRET configured: signed with the \
                     built-in development secret; only a server in development mode accepts it"
                );
            }
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let flag = match error.field {
                "externalId" => "external-id",
                other => other,
            };
            eprintln!("error: invalid value for '--{flag}': {flag} {}", error.rule);
            ExitCode::from(2)
        }
    }
}
