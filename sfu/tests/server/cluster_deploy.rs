//! `deploy/compose.cluster.yaml` (issue 17) holds together: two SFU nodes on the Redis it runs,
//! with their own ids, ports and node URLs, each a valid configuration over the example file.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use sfu::config::Cli;

fn compose() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose.cluster.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("not YAML: {e}"));
    serde_json::to_value(parsed).expect("YAML as JSON")
}

#[test]
fn cluster_compose_runs_two_nodes_on_its_redis() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let redis_args: Vec<&str> = services["redis"]["command"]
        .as_array()
        .expect("redis command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let port = redis_args[redis_args
        .iter()
        .position(|a| *a == "--port")
        .expect("--port")
        + 1];
    let mut ids = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for name in ["sfu-1", "sfu-2"] {
        let env = &services[name]["environment"];
        let text = |key: &str| env[key].as_str().unwrap_or_else(|| panic!("{name}: {key}"));
        assert_eq!(
            text("SFU_REDIS_URL"),
            format!("redis://127.0.0.1:{port}/0"),
            "{name}"
        );
        assert!(
            ids.insert(text("SFU_NODE_ID").to_owned()),
            "{name}: node id taken"
        );
        let http = text("SFU_HTTP_PORT");
        assert!(
            text("SFU_NODE_URL").ends_with(&format!(":{http}/rtc")),
            "{name}: node URL"
        );
        for key in ["SFU_HTTP_PORT", "SFU_RTC_PORT", "SFU_RTC_TCP_PORT"] {
            assert!(ports.insert(text(key).to_owned()), "{name}: {key} collides");
        }
        assert_eq!(services[name]["network_mode"], "host", "{name}");
        // The flags the variables stand for, over the mounted example file, make a valid
        // configuration (SFU_NODE_URL with the public IP filled in).
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/sfu.example.toml");
        let node_url = text("SFU_NODE_URL").replace("${SFU_PUBLIC_IP}", "203.0.113.7");
        let cli = Cli::load_from([
            "sfu",
            "--config",
            example.to_str().expect("UTF-8 path"),
            "--redis-url",
            text("SFU_REDIS_URL"),
            "--node-id",
            text("SFU_NODE_ID"),
            "--node-url",
            &node_url,
            "--http-port",
            http,
        ])
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cli.config.node_id.as_deref(), Some(text("SFU_NODE_ID")));
    }
}
