//! Fuzz target `calc_route`: feeds libFuzzer's bytes to `commlab_core::fuzzing::calc_route`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::calc_route(data));
