//! See `rillkv::internals::fuzzing::block_decoder` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rillkv::internals::fuzzing::block_decoder(data));
