//! Fuzz target `chat_lines`: feeds libFuzzer's bytes to `commlab_core::fuzzing::chat_lines`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::chat_lines(data));
