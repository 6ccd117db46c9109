//! Reading the user's input file (or stdin) into a table.

use std::io::Read;

use anyhow::{Context, Result};
use pynomaly_service::formats::{
    Format, FormatError, MissingPolicy, ReadOptions, Table, read_table,
};

/// Input options shared by `detect`, `train` and `score`.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Input format (default: from the file extension, else from the content).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Use only these columns (comma-separated names, in this order).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Leave these columns out (comma-separated names), e.g. ids or labels.
    #[arg(long, value_delimiter = ',')]
    pub ignore_columns: Vec<String>,
    /// Missing values: error (default, names row and column), drop, mean or median
    /// (`score`: the model's training mean or median).
    #[arg(long, default_value = "error")]
    pub missing: MissingPolicy,
    /// Carry these columns into the results as they are (comma-separated names), e.g. a
    /// timestamp or host; they may also be features.
    #[arg(long, value_delimiter = ',')]
    pub keep: Vec<String>,
    /// CSV field separator: `,` `;` `tab` or `|` (default: detected from the first lines).
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The CSV has no header row (default: detected).
    #[arg(long, conflicts_with = "header")]
    pub no_header: bool,
    /// The CSV has a header row (default: detected).
    #[arg(long)]
    pub header: bool,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "tab" | "\t" | "\\t" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        other => Err(format!("unknown separator `{other}`; use , ; tab or |")),
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        "ndjson" | "jsonl" => Ok(Format::Ndjson),
        "parquet" => Ok(Format::Parquet),
        other => Err(format!(
            "unknown format `{other}`; use csv, json, ndjson or parquet"
        )),
    }
}

impl InputArgs {
    /// Read options for `path`.
    pub fn options(&self, path: &str) -> ReadOptions {
        ReadOptions {
            format: self.format.or_else(|| Format::from_path(path)),
            header: if self.no_header {
                Some(false)
            } else if self.header {
                Some(true)
            } else {
                None
            },
            columns: self.columns.clone(),
            ignore_columns: self.ignore_columns.clone(),
            missing: self.missing,
            delimiter: self.delimiter,
            keep: self.keep.clone(),
            ..Default::default()
        }
    }
}

/// The format named by a path's extension, if any.
pub fn format_for(path: &str) -> Option<Format> {
    Format::from_path(path)
}

/// Reads a whole file, or stdin for `-`.
pub fn read_bytes(path: &str) -> Result<Vec<u8>> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {path}"))
    }
}

/// Reads `path` into a table with `options`.
pub fn load_table(path: &str, options: &ReadOptions) -> Result<Table> {
    let shown = if path == "-" { "standard input" } else { path };
    // Large files take a while to read and parse: say so on a terminal.
    let spinner = crate::progress::spinner(format!("reading {shown}"));
    let bytes = read_bytes(path)?;
    let table = read_table(&bytes, options);
    spinner.finish_and_clear();
    table
        .map_err(|e| anyhow::anyhow!("{e}{}", cli_hint(&e)))
        .with_context(|| format!("cannot use {shown}"))
}

/// What to do about a reading error, in the CLI's flags.
pub fn cli_hint(e: &FormatError) -> String {
    match e {
        FormatError::NonNumeric { column, .. } => {
            format!(" (leave the column out, e.g. --ignore-columns {column})")
        }
        FormatError::Missing { .. } => {
            " (choose --missing drop|mean|median to handle missing values)".to_string()
        }
        _ => String::new(),
    }
}
