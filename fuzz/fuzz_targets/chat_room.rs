//! Fuzz target `chat_room`: feeds libFuzzer's bytes to `commlab_core::fuzzing::chat_room`.
#![no_main]
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let start = *START.get_or_init(Instant::now);
    commlab_core::fuzzing::chat_room(data, start);
});
