//! Fuzz target `lambda_event`: feeds libFuzzer's bytes to `commlab_core::fuzzing::lambda_event`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::lambda_event(data));
