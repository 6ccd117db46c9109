//! Fits one detector repeatedly on a labelled CSV, on one thread, for profiling:
//! `MATMUL_NUM_THREADS=1 cargo run --profile profiling --example profile_fit -- FILE ALGORITHM [REPEATS]`
//! (the variable keeps matrix products on one thread, as the `pynomaly` binary does).

use ndarray::Array2;
use pynomaly_detection::{AlgorithmParams, Model};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, algorithm, rest @ ..] = args.as_slice() else {
        return Err("usage: profile_fit FILE ALGORITHM [REPEATS]".into());
    };
    let repeats: usize = rest.first().map_or(Ok(10), |r| r.parse())?;
    let mut reader = csv::Reader::from_path(file)?;
    let headers = reader.headers()?.clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&j| &headers[j] != "label")
        .collect();
    let mut values = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record?;
        for &j in &keep {
            values.push(record[j].parse::<f64>()?);
        }
        rows += 1;
    }
    let data = Array2::from_shape_vec((rows, keep.len()), values)?;
    let params = AlgorithmParams::default_for(algorithm)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let start = std::time::Instant::now();
    for _ in 0..repeats {
        pool.install(|| Model::fit(&params, data.view(), vec![], 0))?;
    }
    let each = start.elapsed().as_secs_f64() / repeats as f64;
    println!(
        "{algorithm} on {rows}x{}: {:.3} ms per fit",
        keep.len(),
        each * 1e3
    );
    Ok(())
}
