//! Fuzz target `xmlrpc_response`: feeds libFuzzer's bytes to `commlab_core::fuzzing::xmlrpc_response`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::xmlrpc_response(data));
