//! See `rillkv::internals::fuzzing::wal_reader` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rillkv::internals::fuzzing::wal_reader(data));
