//! The forwarding core and the control plane stay sans-IO (STYLE.md rule 1, review checklist):
//! no clock reads, sockets, files, threads, async runtime or WebRTC stack under `sfu/src/core/`
//! or `sfu/src/control/`, and neither imports the shell layers above it. Clippy's
//! `disallowed-methods` catches calls; this catches imports and paths clippy cannot see.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "std::net",
    "std::fs",
    "std::thread",
    "std::sync::Mutex",
    "tokio",
    "str0m",
    "async fn",
    ".await",
    "UdpSocket",
];

/// The shell modules: a sans-IO layer only imports downward, never these.
const SHELL: &[&str] = &[
    "crate::clock",
    "crate::config",
    "crate::server",
    "crate::shard",
    "crate::signalling",
    "crate::api",
    "crate::webhook",
    "crate::metrics",
    "crate::room",
    "crate::cluster",
];

// Every file of the core is free of I/O, clock reads, async dependencies and shell imports.
#[test]
fn core_has_no_io_clock_or_async() {
    let checked = check_sans_io("src/core", &[FORBIDDEN, SHELL, &["crate::control"]]);
    assert!(checked >= 10, "only {checked} core files found");
}

// Every file of the control plane is free of I/O, clock reads, async dependencies and shell
// imports (it may import the core and the join-token leaf below it).
#[test]
fn control_has_no_io_clock_or_async() {
    let checked = check_sans_io("src/control", &[FORBIDDEN, SHELL]);
    assert!(checked >= 10, "only {checked} control files found");
}

/// Checks the shipped part of each `.rs` file directly under `dir` for the `forbidden` words;
/// returns how many files it checked.
fn check_sans_io(dir: &str, forbidden: &[&[&str]]) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("the directory exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("readable source");
        // Unit-test modules (last in each file) own a clock, with a reason.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in shipped.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden.iter().copied().flatten() {
                assert!(
                    !contains_word(code, word),
                    "{}:{}: `{word}` in a sans-IO layer",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    checked
}

/// `word` occurs in `code` not followed by an identifier character (so `.await` does not match
/// `.awaited_keyframe`).
fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        code[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}
