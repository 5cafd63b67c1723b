//! Fuzz target `xmlrpc_call`: feeds libFuzzer's bytes to `commlab_core::fuzzing::xmlrpc_call`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| commlab_core::fuzzing::xmlrpc_call(data));
