//! Delivery: one bounded queue and one task per configured URL (module docs of
//! [`crate::webhook`]).
//!
//! Each task delivers its queue in order, so a receiver sees a room's events in `seq` order
//! unless it answered an event with a 4xx (given up at once) or kept failing it
//! [`MAX_ATTEMPTS`] times. Timeouts, connection errors and 5xx are retried after
//! [`RETRY_BASE`], doubling up to [`RETRY_MAX`]. The event keeps its `id` across retries; the
//! signature is made afresh for each attempt (its `t` is the time of sending).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use rand_core::{OsRng, TryRngCore};
use signalling_proto::Timestamp;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::clock;
use crate::webhook::event::{WebhookBody, WebhookEvent};
use crate::webhook::https::Connector;
use crate::webhook::signature::{sign, SIGNATURE_HEADER};

/// The first retry waits this long; each next one twice as long.
pub(crate) const RETRY_BASE: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);
/// Attempts per event before it is given up (about 2 minutes of retrying).
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// Latency buckets of `sfu_webhook_delivery_seconds`, from the event to its 2xx answer.
const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// What the webhooks are configured with.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `http://` or `https://` URLs; each gets every event.
    pub urls: Vec<String>,
    /// PEM file of the root certificates `https://` endpoints are checked against.
    pub roots: std::path::PathBuf,
    /// The HMAC key of the signature.
    pub key: Vec<u8>,
    /// Events waiting per URL; one more is dropped and counted.
    pub queue: usize,
    /// How long one attempt may take before it counts as failed (and is retried).
    pub timeout: Duration,
}

/// Checks that `url` is an absolute `http://` or `https://` URL the client can POST to.
pub(crate) fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|error| format!("{url:?} is not a URL: {error}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "{url:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(uri)
}

/// The room actors' handle: cheap to clone, never waits.
#[derive(Clone, Debug)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<mpsc::Sender<Arc<Delivery>>>,
    /// The last `seq` per running room (bounded by the rooms running).
    seq: Mutex<HashMap<String, u64>>,
    /// Random per server process, so ids of two runs never collide.
    id_prefix: String,
    next_id: AtomicU64,
    metrics: WebhookMetrics,
}

/// One event on its way to every endpoint.
#[derive(Debug)]
struct Delivery {
    id: String,
    body: Bytes,
    queued_at: std::time::Instant,
}

/// How a webhook event's delivery to one endpoint ended (the `result` label of
/// `sfu_webhook_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeliveryResult {
    /// Answered 2xx.
    Delivered,
    /// Answered 4xx: not retried.
    Rejected,
    /// Every attempt failed (timeout, connection error, 5xx).
    GaveUp,
}

impl DeliveryResult {
    const ALL: [DeliveryResult; 3] = [
        DeliveryResult::Delivered,
        DeliveryResult::Rejected,
        DeliveryResult::GaveUp,
    ];

    /// The label value.
    fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Rejected => "rejected",
            DeliveryResult::GaveUp => "gave_up",
        }
    }
}

/// `sfu_webhook_*` (the registry adds the `sfu_` prefix).
#[derive(Clone, Debug)]
struct WebhookMetrics {
    /// Events by final [`DeliveryResult`].
    results: IntCounterVec,
    retries: IntCounter,
    /// Events dropped because an endpoint's queue was full.
    dropped: IntCounter,
    latency: Histogram,
}

impl WebhookMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let results = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Webhook events per endpoint by final result: delivered (2xx), rejected (4xx, \
                 not retried), gave_up (failed every attempt).",
            ),
            &["result"],
        )?;
        let retries = IntCounter::new(
            "webhook_retries_total",
            "Webhook attempts retried after a timeout, a connection error or a 5xx.",
        )?;
        let dropped = IntCounter::new(
            "webhook_dropped_total",
            "Webhook events dropped because an endpoint's queue was full.",
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "webhook_delivery_seconds",
                "From a webhook event happening to its 2xx answer, retries included.",
            )
            .buckets(LATENCY_BOUNDS.to_vec()),
        )?;
        for result in DeliveryResult::ALL {
            results.with_label_values(&[result.as_str()]);
        }
        registry.register(Box::new(results.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            results,
            retries,
            dropped,
            latency,
        })
    }

    /// One event's delivery to one endpoint ended with `result`.
    fn observe(&self, result: DeliveryResult) {
        self.results.with_label_values(&[result.as_str()]).inc();
    }
}

impl Webhooks {
    /// Starts one delivery task per URL (inside a tokio runtime) and registers the metrics.
    pub fn start(config: WebhookConfig, registry: &Registry) -> Result<Self, String> {
        let metrics = WebhookMetrics::new(registry).map_err(|error| error.to_string())?;
        let client: Client<Connector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(Connector::new(&config.roots)?);
        let key: Arc<[u8]> = config.key.into();
        let mut endpoints = Vec::with_capacity(config.urls.len());
        for url in &config.urls {
            let uri = parse_url(url)?;
            let (tx, rx) = mpsc::channel(config.queue.max(1));
            let worker = Worker {
                uri,
                client: client.clone(),
                key: Arc::clone(&key),
                timeout: config.timeout,
                metrics: metrics.clone(),
            };
            tokio::spawn(worker.run(rx));
            endpoints.push(tx);
        }
        let mut prefix = [0u8; 8];
        if OsRng.try_fill_bytes(&mut prefix).is_err() {
            // Unique enough for de-duplication within one receiver's window.
            prefix = clock::system_now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                .to_le_bytes();
        }
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                seq: Mutex::default(),
                id_prefix: prefix.iter().map(|b| format!("{b:02x}")).collect(),
                next_id: AtomicU64::new(1),
                metrics,
            }),
        })
    }

    /// Forgets `room`'s count: its actor stopped (nobody in it, not kept open), so the next
    /// actor under that name counts from 1 again. Called before the actor unregisters, so no
    /// newer actor of the name numbers events meanwhile.
    pub fn room_stopped(&self, room: &str) {
        self.inner
            .seq
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(room);
    }

    /// Queues `event` of `room` for every endpoint with the room's next `seq`; never waits.
    /// Called by the room's actor only, so a room's events are numbered in order.
    pub fn room_event(&self, room: &str, event: WebhookEvent, created_at: Timestamp) {
        let seq = {
            let mut seqs = self
                .inner
                .seq
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let seq = seqs.entry(room.to_owned()).or_insert(0);
            *seq += 1;
            *seq
        };
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = WebhookBody {
            id: format!("{}-{n}", self.inner.id_prefix),
            room: room.to_owned(),
            seq,
            created_at,
            event,
        };
        let Ok(json) = serde_json::to_vec(&body) else {
            return;
        };
        let delivery = Arc::new(Delivery {
            id: body.id,
            body: Bytes::from(json),
            queued_at: clock::now(),
        });
        for endpoint in &self.inner.endpoints {
            if endpoint.try_send(Arc::clone(&delivery)).is_err() {
                self.inner.metrics.dropped.inc();
            }
        }
    }
}

/// The task of one endpoint.
struct Worker {
    uri: Uri,
    client: Client<Connector, Full<Bytes>>,
    key: Arc<[u8]>,
    timeout: Duration,
    metrics: WebhookMetrics,
}

/// How one attempt ended.
enum Attempt {
    Delivered,
    /// 4xx: the receiver refuses this event; retrying would not change that.
    Rejected(u16),
    /// Timeout, connection error or 5xx.
    Retry(String),
}

impl Worker {
    async fn run(self, mut queue: mpsc::Receiver<Arc<Delivery>>) {
        while let Some(delivery) = queue.recv().await {
            self.deliver(&delivery).await;
        }
    }

    async fn deliver(&self, delivery: &Delivery) {
        let mut wait = RETRY_BASE;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.attempt(delivery).await {
                Attempt::Delivered => {
                    let latency = clock::now().saturating_duration_since(delivery.queued_at);
                    self.metrics.latency.observe(latency.as_secs_f64());
                    self.metrics.observe(DeliveryResult::Delivered);
                    return;
                }
                Attempt::Rejected(status) => {
                    warn!(uri = %self.uri, id = %delivery.id, status, "webhook rejected");
                    self.metrics.observe(DeliveryResult::Rejected);
                    return;
                }
                Attempt::Retry(reason) => {
                    debug!(uri = %self.uri, id = %delivery.id, attempt, %reason, "webhook attempt failed");
                    if attempt == MAX_ATTEMPTS {
                        break;
                    }
                    self.metrics.retries.inc();
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
        warn!(uri = %self.uri, id = %delivery.id, "webhook given up after {MAX_ATTEMPTS} attempts");
        self.metrics.observe(DeliveryResult::GaveUp);
    }

    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let now = clock::system_now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("sfu-event-id", delivery.id.as_str())
            .header(SIGNATURE_HEADER, sign(&self.key, now, &delivery.body))
            .body(Full::new(delivery.body.clone()));
        let request = match request {
            Ok(request) => request,
            // A header the id or signature made invalid cannot be fixed by retrying.
            Err(_) => return Attempt::Rejected(400),
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Attempt::Retry(format!("no answer within {:?}", self.timeout)),
            Ok(Err(error)) => Attempt::Retry(error.to_string()),
            Ok(Ok(response)) => {
                let status = response.status();
                if status.is_success() {
                    Attempt::Delivered
                } else if status.is_client_error() {
                    Attempt::Rejected(status.as_u16())
                } else {
                    Attempt::Retry(format!("HTTP {status}"))
                }
            }
        }
    }
}
