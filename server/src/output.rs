//! Writing results: one output row per input row, in input order, as CSV, JSON or NDJSON.

use std::io::Write;

use anyhow::{Context, Result};
use pynomaly_detection::{Detection, Explanation};
use pynomaly_service::formats::Table;
use serde::Serialize;

/// Output format, from the output path's extension (CSV by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Json,
    Ndjson,
}

impl OutputFormat {
    pub fn for_path(path: Option<&str>) -> Self {
        let lower = path.unwrap_or("").to_ascii_lowercase();
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            Self::Ndjson
        } else if lower.ends_with(".json") {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

#[derive(Serialize)]
struct OutputRow<'a> {
    row: usize,
    score: Option<f64>,
    grade: Option<f64>,
    anomaly: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a [pynomaly_detection::FeatureContribution]>,
}

fn explanation_text(e: &Explanation) -> String {
    e.top_features
        .iter()
        .map(|f| format!("{}={} ({:.0}%)", f.feature, f.value, f.share * 100.0))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A buffered writer to `path`, or to standard output for `None` or `-`.
pub fn open_sink(path: Option<&str>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) if p != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?,
        )),
        _ => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Writes the results for every input row of `table` to `path` (stdout when `None`).
pub fn write_results(
    path: Option<&str>,
    table: &Table,
    detection: &Detection,
    explain: bool,
) -> Result<()> {
    let format = OutputFormat::for_path(path);
    let mut sink = open_sink(path)?;
    // Map input rows to result positions (rows dropped for missing values have none).
    let mut position = vec![None; table.input_rows];
    for (k, &source) in table.source_rows.iter().enumerate() {
        position[source] = Some(k);
    }
    let mut explanation_of = vec![None; detection.scores.len()];
    for e in &detection.explanations {
        explanation_of[e.row] = Some(e);
    }
    let rows = position.iter().enumerate().map(|(row, pos)| match *pos {
        Some(k) => (
            OutputRow {
                row,
                score: Some(detection.scores[k]),
                grade: Some(detection.grades[k]),
                anomaly: Some(detection.anomalies[k]),
                explanation: explain
                    .then(|| explanation_of[k].map_or(&[][..], |e| e.top_features.as_slice())),
            },
            explanation_of[k],
        ),
        None => (
            OutputRow {
                row,
                score: None,
                grade: None,
                anomaly: None,
                explanation: None,
            },
            None,
        ),
    });
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut sink);
            let mut header = vec!["row", "score", "grade", "anomaly"];
            if explain {
                header.push("explanation");
            }
            w.write_record(&header)?;
            for (r, e) in rows {
                let mut rec = vec![
                    r.row.to_string(),
                    r.score.map(|v| v.to_string()).unwrap_or_default(),
                    r.grade.map(|v| format!("{v:.6}")).unwrap_or_default(),
                    r.anomaly.map(|v| v.to_string()).unwrap_or_default(),
                ];
                if explain {
                    rec.push(e.map(explanation_text).unwrap_or_default());
                }
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        OutputFormat::Json => {
            let all: Vec<OutputRow<'_>> = rows.map(|(r, _)| r).collect();
            serde_json::to_writer(&mut sink, &all)?;
            writeln!(sink)?;
        }
        OutputFormat::Ndjson => {
            for (r, _) in rows {
                serde_json::to_writer(&mut sink, &r)?;
                writeln!(sink)?;
            }
        }
    }
    sink.flush().context("cannot write results")?;
    Ok(())
}
