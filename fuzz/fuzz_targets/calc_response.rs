//! Fuzz target `calc_response`: feeds libFuzzer's bytes to `commlab_core::fuzzing::calc_response`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::calc_response(data));
