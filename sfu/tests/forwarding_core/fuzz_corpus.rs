//! Replays the checked-in fuzz corpus (`sfu/fuzz/corpus/<target>/`) through the same checks the
//! libFuzzer targets run, so every input a fuzzing session found interesting stays a regression
//! test on the stable toolchain (STYLE.md testing level 4, DECISIONS.md §18).

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable corpus entry").path();
        let data = fs::read(&path).expect("readable corpus file");
        check(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
}

// Every RTP payload in the corpus parses or is refused with a reason; patches keep layouts.
#[test]
fn rtp_in_corpus() {
    replay("rtp_in", sfu::fuzz_checks::rtp_in);
}

// Every signalling frame in the corpus is decoded or classified; decodes round-trip.
#[test]
fn signalling_decode_corpus() {
    replay("signalling_decode", sfu::fuzz_checks::signalling_decode);
}

// Every input sequence in the corpus runs without panics and forwards only what policy allows.
#[test]
fn core_inputs_corpus() {
    replay("core_inputs", sfu::fuzz_checks::core_inputs);
}
