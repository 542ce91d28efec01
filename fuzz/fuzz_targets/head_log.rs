//! Fuzz target: see `bgfetch_fuzz_checks::head_log` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bgfetch_fuzz_checks::head_log(data);
});
