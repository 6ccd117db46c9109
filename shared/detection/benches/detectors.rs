//! Criterion benches: fit (including the training scores) and scoring of new rows, for
//! every detector, on 5,000 × 8 synthetic rows (a few clusters plus scattered outliers).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use pynomaly_detection::{ALGORITHMS, AlgorithmParams, Model};

fn synthetic(rows: usize, cols: usize, salt: u64) -> Array2<f64> {
    // A small deterministic generator (splitmix64) keeps the bench free of extra crates.
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        let centre = ((i % 3) * 5 + j) as f64;
        let spread = if i % 50 == 0 { 20.0 } else { 1.0 };
        centre + spread * (next() - 0.5)
    })
}

fn detectors(c: &mut Criterion) {
    let train = synthetic(5_000, 8, 1);
    let fresh = synthetic(1_000, 8, 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut fit = c.benchmark_group("fit_5000x8_1thread");
    fit.sample_size(10);
    for info in ALGORITHMS {
        let params = AlgorithmParams::default_for(info.name).expect("defaults");
        fit.bench_with_input(BenchmarkId::from_parameter(info.name), &params, |b, p| {
            b.iter(|| pool.install(|| Model::fit(p, train.view(), vec![], 0).expect("fit")));
        });
    }
    fit.finish();
    let mut score = c.benchmark_group("score_1000x8_1thread");
    score.sample_size(10);
    for info in ALGORITHMS {
        let params = AlgorithmParams::default_for(info.name).expect("defaults");
        let (model, _) = Model::fit(&params, train.view(), vec![], 0).expect("fit");
        score.bench_function(BenchmarkId::from_parameter(info.name), |b| {
            b.iter(|| pool.install(|| model.score(fresh.view()).expect("score")));
        });
    }
    score.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
