//! Writing results, the one layout every door uses: one output row per input row, in
//! input order, `row` (counted from 0, as errors count), the `keep` columns, then
//! `score,grade,anomaly` (+ `explanation`), as CSV, JSON or NDJSON. Rows dropped for
//! missing values keep their place with empty fields.

use std::io::{Result, Write};

use pynomaly_detection::{Detection, Explanation};
use serde::Serialize;

use crate::formats::Table;

/// Results format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `row,score,grade,anomaly[,explanation]` with a header.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl OutputFormat {
    /// The format a path's extension names (CSV by default).
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

/// The `keep` columns of one row, serialized as fields of the row object.
struct KeptFields<'a> {
    table: &'a Table,
    row: usize,
}

impl Serialize for KeptFields<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.table.kept.len()))?;
        for column in &self.table.kept {
            map.serialize_entry(&column.name, &column.values[self.row])?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct OutputRow<'a> {
    row: usize,
    #[serde(flatten)]
    kept: KeptFields<'a>,
    score: Option<f64>,
    grade: Option<f64>,
    anomaly: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a [pynomaly_detection::FeatureContribution]>,
    /// The member detector that scored the row highest (`auto`, `max` ensembles).
    #[serde(skip_serializing_if = "Option::is_none")]
    detector: Option<&'a str>,
}

/// `feature=value (share%); ...`, after `detector: ` when a member detector fired.
fn explanation_text(e: &Explanation) -> String {
    let features = e
        .top_features
        .iter()
        .map(|f| format!("{}={} ({:.0}%)", f.feature, f.value, f.share * 100.0))
        .collect::<Vec<_>>()
        .join("; ");
    match &e.detector {
        Some(detector) => format!("{detector}: {features}"),
        None => features,
    }
}

/// Writes the results for every input row of `table` to `sink`.
pub fn write_results(
    mut sink: impl Write,
    format: OutputFormat,
    table: &Table,
    detection: &Detection,
    explain: bool,
) -> Result<()> {
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
                kept: KeptFields { table, row },
                score: Some(detection.scores[k]),
                grade: Some(detection.grades[k]),
                anomaly: Some(detection.anomalies[k]),
                explanation: explain
                    .then(|| explanation_of[k].map_or(&[][..], |e| e.top_features.as_slice())),
                detector: explanation_of[k].and_then(|e| e.detector.as_deref()),
            },
            explanation_of[k],
        ),
        None => (
            OutputRow {
                row,
                kept: KeptFields { table, row },
                score: None,
                grade: None,
                anomaly: None,
                explanation: None,
                detector: None,
            },
            None,
        ),
    });
    match format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut sink);
            let mut header = vec!["row"];
            header.extend(table.kept.iter().map(|c| c.name.as_str()));
            header.extend(["score", "grade", "anomaly"]);
            if explain {
                header.push("explanation");
            }
            w.write_record(&header)?;
            for (r, e) in rows {
                let mut rec = vec![r.row.to_string()];
                rec.extend(table.kept.iter().map(|c| c.values[r.row].clone()));
                rec.extend([
                    r.score.map(|v| v.to_string()).unwrap_or_default(),
                    r.grade.map(|v| format!("{v:.6}")).unwrap_or_default(),
                    r.anomaly.map(|v| v.to_string()).unwrap_or_default(),
                ]);
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
    sink.flush()
}
