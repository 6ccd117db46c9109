#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pynomaly_fuzzing::json(data));
