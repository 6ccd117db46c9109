//! `pynomaly`: anomaly detection on local files, no cloud needed.
//!
//! The binary stays thin: it parses arguments, reads files, and calls the shared crates.

mod bench;
mod cli;
mod input;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
