//! The files under `deploy/` hold together (DECISIONS.md §19): compose and the Kubernetes
//! manifests agree with the server's configuration and probes, and every metric the Grafana
//! dashboard and the alert rules query is one a real scrape of the server contains.
//!
//! `scripts/check-deploy` runs this beside hadolint, promtool and kubernetes-validate.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sfu::config::parse_duration;
use sfu::Config;
use tokio::sync::oneshot;

fn deploy_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(relative)
}

fn read(relative: &str) -> String {
    let path = deploy_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML document as JSON values, so the checks below index it the same way as the dashboard.
fn yaml(relative: &str) -> Value {
    let parsed: serde_norway::Value = serde_norway::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not YAML: {e}"));
    serde_json::to_value(parsed).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn seconds(text: &str) -> Duration {
    parse_duration(text).unwrap_or_else(|e| panic!("{e}"))
}

// compose runs the SFU on the host network with the example configuration, Prometheus with
// our config and rules, and Grafana with the provisioned datasource and dashboard; every file
// it mounts exists, and the SFU's stop grace outlasts its drain.
#[test]
fn compose_file_wires_sfu_prometheus_and_grafana() {
    let compose = yaml("compose.yaml");
    let services = compose["services"]
        .as_object()
        .expect("compose has services");
    for name in ["sfu", "prometheus", "grafana"] {
        let service = &services[name];
        assert!(service.is_object(), "service {name} missing");
        assert_eq!(
            service["network_mode"], "host",
            "{name} on the host network"
        );
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let volume = volume.as_str().expect("short volume syntax");
            if let Some(local) = volume.split(':').next().filter(|v| v.starts_with("./")) {
                assert!(deploy_path(local).exists(), "{name} mounts missing {local}");
            }
        }
    }
    let sfu = &services["sfu"];
    assert_eq!(sfu["build"]["dockerfile"], "deploy/Dockerfile");
    assert!(deploy_path("Dockerfile").exists());
    let mounted = sfu["volumes"][0].as_str().unwrap();
    assert!(
        mounted.starts_with("./sfu.example.toml:/etc/sfu/sfu.toml"),
        "{mounted}"
    );
    assert_eq!(sfu["environment"]["SFU_CONFIG"], "/etc/sfu/sfu.toml");
    let config = Config::from_toml(&read("sfu.example.toml")).unwrap();
    let stop = seconds(sfu["stop_grace_period"].as_str().unwrap());
    assert!(
        stop > config.drain_grace,
        "stop_grace_period {stop:?} must outlast drain_grace {:?}",
        config.drain_grace
    );
    let health = sfu["healthcheck"]["test"].to_string();
    assert!(
        health.contains(&format!("127.0.0.1:{}/healthz", config.http_port)),
        "{health}"
    );

    let prometheus = yaml("prometheus/prometheus.yml");
    let target = &prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0];
    assert_eq!(*target, format!("127.0.0.1:{}", config.http_port));

    let datasource = yaml("grafana/provisioning/datasources/prometheus.yaml");
    let uid = datasource["datasources"][0]["uid"].clone();
    let dashboard = dashboard();
    let mut uids = BTreeSet::new();
    collect_key(&dashboard, "datasource", &mut |v| {
        uids.insert(v["uid"].to_string());
    });
    assert_eq!(
        uids,
        BTreeSet::from([uid.to_string()]),
        "dashboard datasources"
    );
}

// The Kubernetes Deployment runs on the host network with the ConfigMap's TOML (which parses),
// probes /readyz and /healthz, declares every shard's UDP port, and gives the drain time to
// finish before the kill.
#[test]
fn kubernetes_manifests_match_the_configuration() {
    let config_map = yaml("k8s/configmap.yaml");
    let toml = config_map["data"]["sfu.toml"]
        .as_str()
        .expect("ConfigMap carries sfu.toml");
    let config = Config::from_toml(toml).unwrap_or_else(|e| panic!("ConfigMap TOML: {e}"));

    let deployment = yaml("k8s/deployment.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let udp: BTreeSet<u64> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["protocol"] == "UDP")
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    let first = u64::from(config.rtc_port);
    let wanted: BTreeSet<u64> = (first..first + config.shards.get() as u64).collect();
    assert_eq!(udp, wanted, "one UDP port per shard");
    let http = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(http, u64::from(config.http_port));

    let pre_stop = container["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .expect("preStop sleeps N seconds");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        Duration::from_secs(grace) > Duration::from_secs(pre_stop) + config.drain_grace,
        "terminationGracePeriodSeconds {grace} must outlast preStop {pre_stop}s + drain {:?}",
        config.drain_grace
    );
    let mounted = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let env = container["env"].to_string();
    assert!(env.contains(&format!("{mounted}/sfu.toml")), "{env}");

    let monitor = yaml("k8s/servicemonitor.yaml");
    let service = yaml("k8s/service.yaml");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
}

// Every PromQL expression of the dashboard and the alerts names metrics, and each one is in a
// real scrape of the server.
#[tokio::test]
async fn dashboard_and_alerts_query_only_exported_metrics() {
    let scraped = scrape_metric_names().await;
    let known = |name: &str| scraped.contains(name);

    let mut expressions = Vec::new();
    collect_key(&dashboard(), "expr", &mut |v| {
        expressions.push(("dashboard", v.as_str().unwrap().to_owned()));
    });
    assert!(expressions.len() >= 10, "{expressions:?}");
    let alerts = yaml("prometheus/alerts.yml");
    collect_key(&alerts, "expr", &mut |v| {
        expressions.push(("alerts", v.as_str().unwrap().to_owned()));
    });

    for (file, expr) in &expressions {
        let names = metric_names(expr);
        assert!(
            !names.is_empty() || expr.contains("up{"),
            "{file}: `{expr}` names no sfu_/process_ metric"
        );
        for name in names {
            assert!(known(&name), "{file}: `{expr}` uses {name}, not exported");
        }
    }
    // The families the dashboard must show.
    let all: String = expressions.iter().map(|(_, e)| e.as_str()).collect();
    for needed in [
        "sfu_rooms",
        "sfu_participants",
        "sfu_rtp_packets_in_total",
        "sfu_rtp_packets_out_total",
        "sfu_shard_drops_total",
        "sfu_keyframe_rtcp_total",
        "sfu_layer_switches_total",
        "sfu_forwarding_latency_seconds_bucket",
        "sfu_process_cpu_seconds_total",
    ] {
        assert!(all.contains(needed), "no panel or alert uses {needed}");
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/dashboards/sfu.json"))
        .unwrap_or_else(|e| panic!("dashboard is not JSON: {e}"))
}

/// Calls `found` with the value of every `key` anywhere in `value`.
fn collect_key(value: &Value, key: &str, found: &mut dyn FnMut(&Value)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found(v);
                } else {
                    collect_key(v, key, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_key(v, key, found)),
        _ => {}
    }
}

/// The `sfu_*` and `process_*` identifiers of a PromQL expression, skipping label values
/// (inside quotes) and legend templates.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("sfu_") || word.starts_with("process_") {
            names.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    names
}

/// The metric names of one `/metrics` scrape of a server running in this process.
async fn scrape_metric_names() -> BTreeSet<String> {
    let config = Config::ephemeral();
    let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(sfu::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let text = get(addr, "/metrics").await;
    let _ = stop.send(());
    server.await.expect("server task").expect("server stops");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path}").parse().expect("a valid URI");
    let response = client.get(uri).await.expect("GET answered");
    assert_eq!(response.status(), 200, "GET {path}");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8 body")
}
