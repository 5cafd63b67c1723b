//! Fuzz target `nats_ops`: feeds libFuzzer's bytes to `commlab_core::fuzzing::nats_ops`.
#![no_main]
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let start = *START.get_or_init(Instant::now);
    commlab_core::fuzzing::nats_ops(data, start);
});
