//! The server's modules import downward only (STYLE.md rule 13, issue 15): each top-level
//! module of `sfu/src` has a layer, and a module refers (`crate::x`) only to modules of lower
//! layers, so the import graph has no cycle. A new module fails here until it is given a layer.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every top-level module, lowest layer first. Modules of one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: the clock, wire-independent arguments, the TLS listener.
    &["clock", "admin_args", "tls_listener"],
    // The sans-IO forwarding core; join tokens.
    &["core", "token"],
    // The sans-IO meeting rules; the media shards; webhooks; the cluster store.
    &["control", "shard", "webhook", "cluster", "fuzz_checks"],
    // Prometheus metrics (read the core's and the shards' counters).
    &["metrics"],
    // One actor per room: rules + media + the room's machines; the node's heartbeat.
    &["room"],
    // What clients talk to: signalling connections and the server API.
    &["signalling", "api"],
    // The configuration (settings of every layer below).
    &["config"],
    // Wiring and the command line.
    &["server", "admin_cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module each file of `dir` belongs to, with the modules its code names.
fn references(src: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut refs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        refs.entry(module.clone())
                            .or_default()
                            .push((name, rel.display().to_string()));
                    }
                }
            }
        }
    }
    refs
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut top_level: Vec<String> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            (p.is_dir() || name.ends_with(".rs")).then(|| name.trim_end_matches(".rs").to_owned())
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    top_level.sort();
    let unplaced: Vec<&String> = top_level.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules without a layer: {unplaced:?}");

    let mut upward = Vec::new();
    let refs = references(&src);
    for (module, names) in &refs {
        let from = layer_of(module).unwrap();
        for (name, file) in names {
            match layer_of(name) {
                Some(to) if to < from => {}
                // `crate::` followed by something that is not a module of ours (a macro path).
                None if !top_level.contains(name) => {}
                _ => upward.push(format!("{file}: {module} -> {name}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point downward:\n{}",
        upward.join("\n")
    );
    assert!(
        refs.len() >= 10,
        "only {} modules import others",
        refs.len()
    );
}
