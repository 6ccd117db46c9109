//! `pynomaly`: anomaly detection on local files, no cloud needed.
//!
//! The binary stays thin: it parses arguments, reads files, and calls the shared crates.

mod bench;
mod cli;
mod drift;
mod input;
mod keys;
mod listen;
mod output;
mod plot;
mod probe;
mod progress;
mod serve;
mod stream;
mod timeseries;
mod worker;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed pages for reuse where the system allocator hands large blocks back
/// and faults them in again: on repeated fits (the server, `bench`) that page-fault and
/// zeroing work was a quarter to a third of the time of the per-feature detectors.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    limit_matrix_product_threads();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stdout (e.g. `| head`) is the reader's choice, not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `matrixmultiply` (behind ndarray's matrix products) starts threads of its own — a
/// dependency of augurs turns its `threading` feature on — so a `--threads 1` run (and
/// `bench`'s one-thread column) would still multiply on every core, while its idle
/// workers spin. Parallelism here is rayon's alone: one thread per matrix product unless
/// MATMUL_NUM_THREADS says otherwise.
#[allow(unsafe_code)]
fn limit_matrix_product_threads() {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: the first thing `main` does, before any other thread exists.
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", "1") };
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}
