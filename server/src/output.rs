//! Where the CLI writes: a file named by `--output`, or standard output. The layout is the
//! service's one results writer.

use std::io::Write;

use anyhow::{Context, Result};
use pynomaly_detection::Detection;
use pynomaly_service::formats::Table;
use pynomaly_service::results::OutputFormat;

/// A buffered writer to `path`, or to standard output for `None` or `-`.
pub fn open_sink(path: Option<&str>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) if p != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?,
        )),
        _ => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Writes the results for every input row of `table` to `path` (stdout when `None`), in
/// the format its extension names.
pub fn write_results(
    path: Option<&str>,
    table: &Table,
    detection: &Detection,
    explain: bool,
) -> Result<()> {
    let sink = open_sink(path)?;
    pynomaly_service::results::write_results(
        sink,
        OutputFormat::for_path(path),
        table,
        detection,
        explain,
    )
    .context("cannot write results")
}
