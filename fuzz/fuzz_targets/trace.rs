//! Fuzz target `trace`: feeds libFuzzer's bytes to `commlab_core::fuzzing::trace`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::trace(data, std::time::Instant::now()));
