//! See `rillkv::internals::fuzzing::manifest_replay` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rillkv::internals::fuzzing::manifest_replay(data));
