#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pynomaly_fuzzing::s3_event(data));
