//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`, plus any crash inputs kept
//! in `fuzz/regressions/<target>/`) through the same functions the fuzz targets run: an
//! input that once found a bug, or that reaches deep into a parser, stays a test on
//! stable Rust without a fuzzer.

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    for (name, target) in pynomaly_fuzzing::TARGETS {
        let mut replayed = 0;
        for folder in ["corpus", "regressions"] {
            let dir = fuzz_dir().join(folder).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for file in files {
                // A file gone since the listing (a fuzzer minimising the corpus meanwhile).
                let Ok(data) = std::fs::read(&file) else {
                    continue;
                };
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name}: {} fails", file.display());
                replayed += 1;
            }
        }
        assert!(replayed >= 5, "{name}: only {replayed} corpus inputs");
    }
}
