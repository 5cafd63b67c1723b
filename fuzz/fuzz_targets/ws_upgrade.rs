//! Fuzz target `ws_upgrade`: feeds libFuzzer's bytes to `commlab_core::fuzzing::ws_upgrade`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::ws_upgrade(data));
