//! The server shell's entry points, mini-redis style (STYLE.md rule 10): [`bind`] binds the
//! listener, [`run`] serves on an already-bound listener until a shutdown future resolves. Tests
//! bind `127.0.0.1:0` and run many servers in parallel (DECISIONS.md §13).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::{self, ApiState};
use crate::cluster::{Cluster, ClusterMetrics, ClusterStore, MemoryStore, RedisStore};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::room::heartbeat::{self, Heartbeat};
use crate::room::recording::RecorderService;
use crate::room::transcription::{Engine, EngineCommand, HttpEngine, TranscriptionService};
use crate::room::turn_credentials::TurnCredentials;
use crate::room::RoomRegistry;
use crate::shard::{self, ShardEvents, ShardHandle};
use crate::signalling::connection::Connections;
use crate::signalling::http::{self, HttpState};
use crate::signalling::origins::AllowedOrigins;
use crate::signalling::unjoined::UnjoinedSockets;
use crate::tls_listener::{self, TlsListener};
use crate::webhook::Webhooks;

/// How long `run` waits, after the listener closed, for the signalling connections to send their
/// close frames before it returns anyway.
const CONNECTION_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How often the drain checks whether every room has emptied.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Binds the HTTP/WebSocket listener at `--http-addr`:`--http-port` (port 0: an ephemeral one)
/// and logs the address it got.
pub async fn bind(config: &Config) -> io::Result<(TcpListener, SocketAddr)> {
    let wanted = config.http_socket_addr();
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|error| io::Error::new(error.kind(), format!("binding {wanted}: {error}")))?;
    let addr = listener.local_addr()?;
    info!(%addr, "HTTP listener bound");
    Ok((listener, addr))
}

/// Serves HTTP on `listener` until `shutdown` resolves, then drains: `/readyz` answers 503 at
/// once, the server keeps serving for `config.drain_grace`, then stops accepting, closes every
/// signalling WebSocket with 1001 (going away), lets in-flight requests finish and returns.
///
/// Errors are I/O errors of the listener.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Some(tls_listener::load_acceptor(cert, key).map_err(io::Error::other)?)
        }
        _ => None,
    };
    let tokens = Arc::new(config.token_key());
    if tokens.is_development() {
        warn!(
            "DEVELOPMENT MODE: no --api-secret / SFU_API_SECRET configured. Join tokens are \
             signed with a built-in, publicly known secret and GET /dev/token hands them to \
             anyone; pages served from localhost on any port may use /rtc and /dev/token. \
             Never expose this server."
        );
    }
    let (draining_tx, draining_rx) = watch::channel(false);
    // Upgraded WebSockets run in their own tasks, outside axum's graceful shutdown, so they
    // get their own signal.
    let (closing_tx, closing_rx) = watch::channel(false);
    let shards = start_shards(&config)?;
    let metrics = Metrics::new().map_err(io::Error::other)?;
    let registry = RoomRegistry::with_shards(
        config.room_policy(),
        shards.iter().map(|(handle, _)| handle.clone()).collect(),
    )
    .with_metrics(metrics.clone());
    let registry = match config.webhooks() {
        Some(webhooks) => {
            let urls = webhooks.urls.len();
            let webhooks =
                Webhooks::start(webhooks, metrics.registry()).map_err(io::Error::other)?;
            info!(urls, "webhooks configured");
            registry.with_webhooks(webhooks)
        }
        None => registry,
    };
    let addr = listener.local_addr()?;
    let cluster = Arc::new(start_cluster(&config, addr, tls.is_some(), &metrics)?);
    let registry = registry.with_cluster(Arc::clone(&cluster));
    // The recorder joins over this server's own plain WebSocket; behind TLS it would need the
    // certificate's name, so there recording waits for an outside recorder as before.
    let registry = if tls.is_none() {
        registry.with_recorder(RecorderService::new(
            addr,
            Arc::clone(&tokens),
            config.recording_dir.clone(),
            Some(metrics.clone()),
        ))
    } else {
        warn!("TLS is on: the built-in cloud recorder is off (it joins over plain ws)");
        registry
    };
    // The transcriber joins like the recorder: over this server's own plain WebSocket.
    let engine = match (&config.transcription_command, &config.transcription_url) {
        (Some(command), _) => EngineCommand::parse(command).map(Engine::Command),
        (None, Some(url)) => Some(Engine::Http(
            HttpEngine::new(url).map_err(io::Error::other)?,
        )),
        (None, None) => None,
    };
    let registry = match engine {
        Some(engine) if tls.is_none() => {
            info!(?engine, "live transcription engine configured");
            registry.with_transcriber(TranscriptionService::new(
                addr,
                Arc::clone(&tokens),
                engine,
                Some(metrics.clone()),
            ))
        }
        Some(_) => {
            warn!("TLS is on: the built-in live transcriber is off (it joins over plain ws)");
            registry
        }
        None => registry,
    };
    let registry = match &config.turn_secret {
        Some(secret) => registry.with_turn(TurnCredentials::new(
            config.turn_url.clone(),
            secret,
            config.turn_credential_ttl,
        )),
        None => registry,
    };
    let media: Vec<String> = shards
        .iter()
        .map(|(handle, _)| handle.local_addr().to_string())
        .collect();
    let mut shard_handles = Vec::with_capacity(shards.len());
    for (handle, mut events) in shards {
        let registry = registry.clone();
        // Dispatch never waits for a room (each has its own queues), so one busy room cannot
        // hold back the events of the others on this shard.
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                registry.dispatch_shard_event(event);
            }
        });
        shard_handles.push(handle);
    }
    let api_routes = api::router(ApiState {
        tokens: Arc::clone(&tokens),
        rooms: registry.clone(),
    });
    let connections = Connections::new(tokens, registry.clone(), closing_rx)
        .with_draining(draining_rx.clone())
        .with_metrics(metrics.clone())
        .with_unjoined(UnjoinedSockets::new(
            config.join_deadline,
            config.max_unjoined_per_ip.get(),
        ));
    let beat = Heartbeat {
        cluster: Arc::clone(&cluster),
        rooms: registry.clone(),
        metrics: metrics.clone(),
        draining: draining_rx.clone(),
        media,
        capacity: config.node_capacity.get(),
    }
    .start()
    .await;
    let origins = AllowedOrigins::new(&config.allowed_origins, config.is_development());
    let app = http::router(
        HttpState::new(connections.clone(), draining_rx, metrics)
            .with_origins(origins)
            .with_store_up(cluster.store_up()),
    )
    .nest(api::PREFIX, api_routes);
    info!(
        %addr,
        shards = config.shards.get(),
        public_ip = ?config.public_ip,
        rtc_bind = %config.media_bind_ip(),
        development = config.is_development(),
        tls = tls.is_some(),
        node = cluster.node_id(),
        node_url = cluster.url(),
        redis = config.redis_url.is_some(),
        "serving"
    );

    let grace = config.drain_grace;
    let drained = async move {
        shutdown.await;
        draining_tx.send_replace(true);
        info!(
            ?grace,
            "shutdown begun: /readyz answers 503, new joins are refused"
        );
        // The drain ends at the grace deadline, or earlier once every room has emptied.
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && registry.room_count() > 0 {
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + DRAIN_POLL)).await;
        }
        info!("drain grace over: closing the HTTP listener and the signalling connections");
        closing_tx.send_replace(true);
    };
    // The peer address lets `/rtc` limit the sockets each address holds before joining; the
    // TLS listener passes it on through `tap_io`, which gives it the same connect info.
    match tls {
        Some(acceptor) => {
            let listener = TlsListener::new(listener, acceptor)?.tap_io(|_| ());
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(drained)
            .await?;
        }
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(drained)
            .await?;
        }
    }
    if tokio::time::timeout(CONNECTION_CLOSE_WAIT, connections.all_closed())
        .await
        .is_err()
    {
        warn!("signalling connections still open after {CONNECTION_CLOSE_WAIT:?}; stopping anyway");
    }
    beat.abort();
    heartbeat::retire(&cluster).await;
    for shard in &shard_handles {
        // A shard that already stopped has nothing left to release.
        let _ = shard.shutdown().await;
    }
    info!(%addr, "server stopped");
    Ok(())
}

/// This node's cluster: on `--redis-url` when set, else on a store in memory (one node). Its
/// id defaults to `<hostname>-<http port>`, its URL to `ws(s)://<bound address>/rtc` (a
/// wildcard bind advertises the first `--public-ip`).
fn start_cluster(
    config: &Config,
    addr: SocketAddr,
    tls: bool,
    metrics: &Metrics,
) -> io::Result<Cluster> {
    let store: Arc<dyn ClusterStore> = match &config.redis_url {
        Some(url) => Arc::new(RedisStore::new(url).map_err(io::Error::other)?),
        None => Arc::new(MemoryStore::new()),
    };
    let node_id = config.node_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "sfu".to_owned());
        format!("{host}-{}", addr.port())
    });
    let url = config.node_url.clone().unwrap_or_else(|| {
        let ip = match addr.ip() {
            ip if ip.is_unspecified() => config.public_ip.first().copied().unwrap_or(ip),
            ip => ip,
        };
        let scheme = if tls { "wss" } else { "ws" };
        format!("{scheme}://{}/rtc", SocketAddr::new(ip, addr.port()))
    });
    let cluster_metrics = ClusterMetrics::register(metrics.registry()).map_err(io::Error::other)?;
    Ok(Cluster::new(store, node_id, url).with_metrics(cluster_metrics))
}

/// Starts `--shards` media shards on `--rtc-port` + k and `--rtc-tcp-port` + k
/// (ARCHITECTURE.md §2) and logs the media addresses each bound.
fn start_shards(config: &Config) -> io::Result<Vec<(ShardHandle, ShardEvents)>> {
    let count = u16::try_from(config.shards.get()).unwrap_or(u16::MAX);
    let mut shards = Vec::with_capacity(usize::from(count));
    for index in 0..count {
        let shard_config = config.shard_config(index);
        let wanted = shard_config.bind;
        let (handle, events) = shard::spawn(shard_config).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("binding media port {wanted}: {error}"),
            )
        })?;
        info!(shard = index, media = %handle.local_addr(), tcp = ?handle.tcp_addr(),
              "media shard started");
        shards.push((handle, events));
    }
    Ok(shards)
}
