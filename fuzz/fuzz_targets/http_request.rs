//! Fuzz target `http_request`: feeds libFuzzer's bytes to `commlab_core::fuzzing::http_request`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::http_request(data));
