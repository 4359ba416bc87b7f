#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sfu::fuzz_checks::signalling_decode(data));
