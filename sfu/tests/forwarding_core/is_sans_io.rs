//! The forwarding core stays sans-IO (STYLE.md rule 1, review checklist): no clock reads,
//! sockets, threads, async runtime or WebRTC stack under `sfu/src/core/`. Clippy's
//! `disallowed-methods` catches calls; this catches imports and paths clippy cannot see.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "std::net",
    "std::thread",
    "std::sync::Mutex",
    "tokio",
    "str0m",
    "async fn",
    ".await",
    "UdpSocket",
];

// Every file of the core is free of I/O, clock reads and async dependencies.
#[test]
fn core_has_no_io_clock_or_async() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("src/core exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("readable source");
        // Unit-test modules (last in each file) own a clock, with a reason.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in shipped.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                assert!(
                    !contains_word(code, word),
                    "{}:{}: `{word}` in the sans-IO core",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} core files found");
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
