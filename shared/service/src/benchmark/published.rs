//! Published detectors beside ours: NAB's per-point result files
//! (`results/<detector>/<category>/<detector>_<series>.csv`, column `anomaly_score`) and
//! its optimised thresholds (`config/thresholds.json`, profile `standard`). A point is a
//! detection when its score is at or above the threshold, as NAB's sweeper counts it, and
//! the detections are scored like our methods' flags.

use std::collections::BTreeMap;
use std::path::Path;

use super::corpus::{LabelledSeries, MethodTotals};
use super::{BenchmarkError, read_file};

#[derive(serde::Deserialize)]
struct ProfileThreshold {
    threshold: f64,
}

/// Every detector of `nab_dir`'s thresholds file that has a result file for each series of
/// `corpus`, in name order, scored at its standard-profile threshold. Detectors missing a
/// series are left out (their totals would not compare).
pub fn load(
    nab_dir: &Path,
    corpus: &[LabelledSeries],
) -> Result<Vec<MethodTotals>, BenchmarkError> {
    let thresholds_path = nab_dir.join("config/thresholds.json");
    let thresholds: BTreeMap<String, BTreeMap<String, ProfileThreshold>> =
        serde_json::from_slice(&read_file(&thresholds_path)?).map_err(|e| {
            BenchmarkError::Malformed {
                path: thresholds_path.display().to_string(),
                message: format!("not NAB's thresholds file: {e}"),
            }
        })?;
    let mut out = Vec::new();
    'detectors: for (detector, profiles) in &thresholds {
        let Some(standard) = profiles.get("standard") else {
            continue;
        };
        let mut totals = MethodTotals::new(detector.clone());
        for series in corpus {
            let (category, file) = series.name.rsplit_once('/').unwrap_or(("", &series.name));
            let path = nab_dir
                .join("results")
                .join(detector)
                .join(category)
                .join(format!("{detector}_{file}"));
            if !path.exists() {
                continue 'detectors;
            }
            let scores = anomaly_scores(&path)?;
            if scores.len() != series.values.len() {
                return Err(BenchmarkError::Malformed {
                    path: path.display().to_string(),
                    message: format!(
                        "{} scores for a series of {} points",
                        scores.len(),
                        series.values.len()
                    ),
                });
            }
            let flags: Vec<bool> = scores.iter().map(|&s| s >= standard.threshold).collect();
            totals.add(series, &flags);
        }
        out.push(totals);
    }
    Ok(out)
}

/// The `anomaly_score` column of a NAB result file.
fn anomaly_scores(path: &Path) -> Result<Vec<f64>, BenchmarkError> {
    let malformed = |message: String| BenchmarkError::Malformed {
        path: path.display().to_string(),
        message,
    };
    let bytes = read_file(path)?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let column = reader
        .headers()
        .map_err(|e| malformed(e.to_string()))?
        .iter()
        .position(|h| h == "anomaly_score")
        .ok_or_else(|| malformed("no `anomaly_score` column".into()))?;
    reader
        .records()
        .enumerate()
        .map(|(row, record)| {
            let record = record.map_err(|e| malformed(e.to_string()))?;
            record
                .get(column)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| malformed(format!("row {row}: `anomaly_score` is not a number")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pynomaly_detection::timeseries::nab;

    #[test]
    fn result_files_are_scored_at_the_standard_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let series = LabelledSeries {
            name: "realX/s.csv".into(),
            values: vec![0.0; 200],
            windows: vec![nab::Window {
                start: 100,
                end: 119,
            }],
        };
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("results/det/realX")).unwrap();
        std::fs::write(
            dir.path().join("config/thresholds.json"),
            r#"{"det": {"standard": {"score": 1.0, "threshold": 0.5}},
                "absent": {"standard": {"score": 1.0, "threshold": 0.5}}}"#,
        )
        .unwrap();
        // Scores 0.5 at the window's start (a detection: at the threshold) and 0.4 at a
        // point outside it (not one).
        let mut csv = String::from("timestamp,value,anomaly_score,label\n");
        for i in 0..200 {
            let score = match i {
                100 => 0.5,
                150 => 0.4,
                _ => 0.0,
            };
            csv.push_str(&format!("t{i},0,{score},0\n"));
        }
        std::fs::write(dir.path().join("results/det/realX/det_s.csv"), csv).unwrap();
        let totals = load(dir.path(), std::slice::from_ref(&series)).unwrap();
        assert_eq!(
            totals.len(),
            1,
            "the detector without result files is left out"
        );
        let t = &totals[0];
        assert_eq!(
            (t.name.as_str(), t.found, t.alarms, t.alarms_in),
            ("det", 1, 1, 1)
        );
        // A detection at a window's first point is worth NAB's full true-positive score.
        assert!((t.nab() - 100.0).abs() < 1e-9, "{}", t.nab());
    }
}
