//! `pynomaly drift REFERENCE CURRENT`: per feature, has the data moved? The KS test and
//! the PSI of each column of CURRENT (read by the reference's column names) against
//! REFERENCE ([`pynomaly_service::drift`]); a table, or JSON with `--json`. Exits 0 either
//! way: the verdict is the answer, not an error.

use anyhow::Result;
use pynomaly_service::drift::{DriftOptions, compare, current_options};

use crate::input::{InputArgs, load_table};

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// The reference data (CSV, JSON, NDJSON or Parquet), e.g. the training set.
    pub reference: String,
    /// The data to check against it (its columns are found by the reference's names).
    pub current: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// Family-wise significance level (each feature is held to alpha / features).
    #[arg(long, default_value_t = pynomaly_service::drift::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// Smallest population stability index that counts as a shift.
    #[arg(long, default_value_t = pynomaly_service::drift::DEFAULT_PSI_THRESHOLD)]
    pub psi_threshold: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DriftArgs) -> Result<()> {
    let reference = load_table(&args.reference, &args.input.options(&args.reference))?;
    let read = current_options(&args.input.options(&args.current), &reference);
    let current = load_table(&args.current, &read)?;
    let options = DriftOptions {
        alpha: args.alpha,
        psi_threshold: args.psi_threshold,
    };
    let report = compare(&reference, &current, options).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .replace("`alpha`", "--alpha")
                .replace("`psi_threshold`", "--psi-threshold")
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>8} {:>12} {:>8}  drifted",
        "feature", "KS", "p-value", "PSI"
    );
    for f in &report.features {
        println!(
            "{:<24} {:>8.4} {:>12.3e} {:>8.4}  {}",
            f.feature,
            f.ks_statistic,
            f.p_value,
            f.psi,
            if f.drifted { "yes" } else { "" }
        );
    }
    println!(
        "verdict: {} ({} reference rows, {} current rows; a feature drifts when its p-value < {:.2e} and its PSI >= {})",
        report.verdict,
        report.reference_rows,
        report.current_rows,
        report.p_value_bound,
        report.psi_threshold
    );
    if !report.drifted.is_empty() {
        println!("moved: {}", report.drifted.join(", "));
    }
    Ok(())
}
