//! Figures for benches/RESULTS.md (issue 18): API latency against its baseline `/healthz` on the
//! same keep-alive connection, and webhook delivery latency to a local receiver. A measurement,
//! not a check: `cargo test -p sfu --test server -- api_bench --ignored --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::ws::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sfu::Config;
use signalling_proto::Role;
use tokio::net::TcpListener;

const ROUNDS: usize = 300;

/// When each webhook arrived (µs since the epoch) and its `createdAt`.
type Arrivals = Arc<Mutex<Vec<(i64, String)>>>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>, baseline: Option<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    let ratio = baseline.map_or(String::new(), |b| {
        format!("  ratio p50 {:.2}", p50.as_secs_f64() / b.as_secs_f64())
    });
    println!(
        "{name:<44} n={:<4} p50 {:>7.3} ms  p95 {:>7.3} ms  p99 {:>7.3} ms{ratio}",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
    p50
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for benches/RESULTS.md, not a check"]
async fn api_latency_and_webhook_delivery() {
    // A receiver that records when each event arrived (wall clock, ms) and its createdAt.
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(arrivals): State<Arrivals>, body: Bytes| async move {
                let now = sfu::clock::system_now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros() as i64;
                let value: Value = serde_json::from_slice(&body).unwrap();
                arrivals
                    .lock()
                    .unwrap()
                    .push((now, value["createdAt"].as_str().unwrap().to_owned()));
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(Arc::clone(&arrivals));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = Config {
        webhook_url: vec![format!("http://{hook}/hook")],
        ..Config::ephemeral()
    };
    let server = TestServer::start_with(config).await;
    let mut people = Vec::new();
    for i in 0..10 {
        let mut client = server.client().await;
        client
            .join("bench", &format!("user-{i}"), Role::Visitor)
            .await;
        people.push(client);
    }
    let token = format!("Bearer {}", crate::support::api::admin_token());
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let timed = |method: Method, path: String, body: String, auth: bool| {
        let client = client.clone();
        let token = token.clone();
        let addr = server.addr;
        async move {
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"));
            if auth {
                request = request.header(hyper::header::AUTHORIZATION, token);
            }
            let request = request.body(Full::new(Bytes::from(body))).unwrap();
            let started = sfu::clock::now();
            let response = client.request(request).await.unwrap();
            let status = response.status();
            response.into_body().collect().await.unwrap();
            let took = sfu::clock::now() - started;
            assert!(status.is_success(), "{path}: {status}");
            took
        }
    };
    let (mut health, mut room, mut list, mut mute) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        health.push(timed(Method::GET, "/healthz".into(), String::new(), false).await);
        room.push(
            timed(
                Method::GET,
                "/api/v1/rooms/bench".into(),
                String::new(),
                true,
            )
            .await,
        );
        list.push(timed(Method::GET, "/api/v1/rooms".into(), String::new(), true).await);
        let body = json!({"kind": "video", "muted": round % 2 == 0}).to_string();
        mute.push(
            timed(
                Method::POST,
                "/api/v1/rooms/bench/participants/p1/mute".into(),
                body,
                true,
            )
            .await,
        );
    }
    println!("10 participants in the room, {ROUNDS} rounds, one keep-alive connection:");
    let baseline = report("GET /healthz (baseline)", health, None);
    report("GET /api/v1/rooms/bench (room view)", room, Some(baseline));
    report("GET /api/v1/rooms (list)", list, Some(baseline));
    report(
        "POST .../participants/p1/mute (command)",
        mute,
        Some(baseline),
    );

    // Webhooks: 100 join/leave cycles, 200 events plus room start/end.
    arrivals.lock().unwrap().clear();
    for i in 0..100 {
        let mut guest = server.client().await;
        guest
            .join("bench", &format!("guest-{i}"), Role::Visitor)
            .await;
        ok_result(&guest.call("leave_room", json!({})).await);
    }
    let deadline = sfu::clock::now() + Duration::from_secs(20);
    while arrivals.lock().unwrap().len() < 200 {
        assert!(sfu::clock::now() < deadline, "webhooks missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let latencies: Vec<Duration> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(arrived_us, created)| {
            let created = parse_millis(created);
            Duration::from_micros(u64::try_from(arrived_us - created * 1000).unwrap_or(0))
        })
        .collect();
    report(
        "webhook: createdAt -> receiver (wall clock)",
        latencies,
        None,
    );
    let (_, metrics) = http_get(server.addr, "/metrics").await;
    let sum = sample(&metrics, "sfu_webhook_delivery_seconds_sum").unwrap();
    let count = sample(&metrics, "sfu_webhook_delivery_seconds_count").unwrap();
    println!(
        "webhook: server histogram mean {:.3} ms over {count} deliveries",
        sum / count * 1e3
    );
    drop(people);
}

/// Milliseconds since the epoch of `2026-12-05T13:00:00.123Z` (UTC, as the server writes it).
fn parse_millis(text: &str) -> i64 {
    let (date, time) = text.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + millis
}
