//! Tabular protocol: each labelled dataset × algorithm is fitted on all rows and scored on
//! them (PyOD's unsupervised protocol); ROC-AUC and average precision against the labels,
//! the automatic threshold's F1, and the median fit time of three runs under
//! `repeat_below` rows (one above), compared with PyOD's baseline cells.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use pynomaly_detection::metrics::{average_precision, f1, roc_auc};
use pynomaly_detection::{AlgorithmParams, Model, Threshold};

use super::{BenchmarkError, read_file};
use crate::formats::{Format, ReadOptions, Table, read_table};

/// PyOD's figures for one dataset and algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineCell {
    /// ROC-AUC.
    pub roc_auc: f64,
    /// Fit seconds.
    pub seconds: f64,
}

/// PyOD's baseline: cells by dataset and PyOD class name.
#[derive(Debug, Clone, Default)]
pub struct Baseline(HashMap<(String, String), BaselineCell>);

impl Baseline {
    /// Reads a baseline CSV (`dataset,algorithm,roc_auc,seconds` columns among others).
    pub fn from_csv(path: &Path) -> Result<Self, BenchmarkError> {
        let bytes = read_file(path)?;
        let malformed = |message: String| BenchmarkError::Malformed {
            path: path.display().to_string(),
            message,
        };
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let headers = reader
            .headers()
            .map_err(|e| malformed(e.to_string()))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| malformed(format!("no `{name}` column")))
        };
        let (d, a, auc, s) = (
            column("dataset")?,
            column("algorithm")?,
            column("roc_auc")?,
            column("seconds")?,
        );
        let mut cells = HashMap::new();
        for record in reader.records() {
            let r = record.map_err(|e| malformed(e.to_string()))?;
            let number = |i: usize| r.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(roc_auc), Some(seconds)) = (number(auc), number(s)) {
                cells.insert(
                    (r[d].to_string(), r[a].to_string()),
                    BaselineCell { roc_auc, seconds },
                );
            }
        }
        Ok(Self(cells))
    }

    /// PyOD's cell for `dataset` and our `algorithm`.
    pub fn get(&self, dataset: &str, algorithm: &str) -> Option<BaselineCell> {
        self.0
            .get(&(dataset.to_string(), pyod_name(algorithm).to_string()))
            .copied()
    }
}

/// PyOD's class name for one of our algorithms.
pub fn pyod_name(algorithm: &str) -> &str {
    match algorithm {
        "iforest" => "IForest",
        "lof" => "LOF",
        "hbos" => "HBOS",
        "ecod" => "ECOD",
        "copod" => "COPOD",
        "knn" => "KNN",
        "pca" => "PCA",
        other => other,
    }
}

/// A labelled dataset: its features, and whether each row is an anomaly.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// File stem.
    pub name: String,
    /// Features (the `label` column taken out).
    pub table: Table,
    /// `label > 0.5` per row.
    pub labels: Vec<bool>,
}

impl Dataset {
    /// Reads a CSV with a header and a `label` column.
    pub fn read(name: &str, path: &Path) -> Result<Self, BenchmarkError> {
        let bytes = read_file(path)?;
        let options = ReadOptions {
            format: Some(Format::Csv),
            header: Some(true),
            label_column: Some("label".into()),
            ..Default::default()
        };
        let table = read_table(&bytes, &options).map_err(|e| BenchmarkError::Malformed {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let labels = table.labels.iter().flatten().map(|&l| l > 0.5).collect();
        Ok(Self {
            name: name.to_string(),
            table,
            labels,
        })
    }
}

/// Timed runs per measurement: the median of 3 under `repeat_below` rows, one run above
/// (as PyOD's script does).
pub fn runs_for(rows: usize, repeat_below: usize) -> usize {
    if rows < repeat_below { 3 } else { 1 }
}

/// One fit's outcome and its median time over `runs`.
#[derive(Debug, Clone)]
pub struct TimedFit {
    /// The model of the first run.
    pub model: Model,
    /// Its training scores.
    pub scores: Vec<f64>,
    /// Median seconds per fit.
    pub seconds: f64,
}

/// Fits `params` on the dataset `runs` times on the current rayon pool (the caller picks
/// the pool: one thread or all). The clock runs on the pool's thread: handing a job to a
/// sleeping pool thread took 0.1 ms here, no part of a fit.
pub fn timed_fit(
    params: &AlgorithmParams,
    dataset: &Dataset,
    seed: u64,
    runs: usize,
) -> Result<TimedFit, BenchmarkError> {
    let mut times = Vec::with_capacity(runs);
    let mut first = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let fitted = Model::fit(
            params,
            dataset.table.data.view(),
            dataset.table.columns.clone(),
            seed,
        )
        .map_err(|source| detection_error(dataset, params, source))?;
        times.push(start.elapsed().as_secs_f64());
        first.get_or_insert(fitted);
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let (model, scores) = first.ok_or_else(|| BenchmarkError::Malformed {
        path: dataset.name.clone(),
        message: "no run".into(),
    })?;
    Ok(TimedFit {
        model,
        scores,
        seconds,
    })
}

fn detection_error(
    dataset: &Dataset,
    params: &AlgorithmParams,
    source: pynomaly_detection::DetectionError,
) -> BenchmarkError {
    BenchmarkError::Detection {
        context: format!("{} {}", dataset.name, params.name()),
        source,
    }
}

/// How well a fit's scores rank the labelled anomalies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// ROC-AUC (averaged over seeds for randomised algorithms).
    pub roc_auc: f64,
    /// Average precision (likewise).
    pub avg_precision: f64,
    /// Rows over the automatic threshold.
    pub flagged: usize,
    /// F1 of the automatic threshold's flags.
    pub f1: f64,
    /// F1 of flagging the top 10% of scores (PyOD's default contamination).
    pub f1_top_tenth: f64,
}

/// Accuracy of `fit` on `dataset`; for randomised algorithms (iforest, rcf, ensemble)
/// ROC-AUC and AP are averaged over `seeds` seeds from `seed` (the extra fits run on the
/// current pool).
pub fn accuracy(
    params: &AlgorithmParams,
    dataset: &Dataset,
    fit: &TimedFit,
    seed: u64,
    seeds: u64,
) -> Result<Accuracy, BenchmarkError> {
    let threshold = fit
        .model
        .threshold(Threshold::Auto)
        .map_err(|source| detection_error(dataset, params, source))?;
    let flags: Vec<bool> = fit.scores.iter().map(|&s| s > threshold).collect();
    // PyOD's habit, for comparison: flag the top 10%.
    let top_tenth = fit
        .model
        .threshold(Threshold::Contamination(0.1))
        .map_err(|source| detection_error(dataset, params, source))?;
    let top_flags: Vec<bool> = fit.scores.iter().map(|&s| s > top_tenth).collect();
    let mut auc = roc_auc(&fit.scores, &dataset.labels).unwrap_or(f64::NAN);
    let mut ap = average_precision(&fit.scores, &dataset.labels).unwrap_or(f64::NAN);
    let randomised = matches!(params.name(), "iforest" | "rcf" | "ensemble" | "auto");
    if randomised && seeds > 1 {
        for extra in 1..seeds {
            let (_, scores) = Model::fit(
                params,
                dataset.table.data.view(),
                dataset.table.columns.clone(),
                seed + extra,
            )
            .map_err(|source| detection_error(dataset, params, source))?;
            auc += roc_auc(&scores, &dataset.labels).unwrap_or(f64::NAN);
            ap += average_precision(&scores, &dataset.labels).unwrap_or(f64::NAN);
        }
        auc /= seeds as f64;
        ap /= seeds as f64;
    }
    Ok(Accuracy {
        roc_auc: auc,
        avg_precision: ap,
        flagged: flags.iter().filter(|f| **f).count(),
        f1: f1(&flags, &dataset.labels),
        f1_top_tenth: f1(&top_flags, &dataset.labels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wbc() -> Dataset {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/samples/wbc.csv");
        Dataset::read("wbc", Path::new(path)).unwrap()
    }

    #[test]
    fn ecod_on_wbc_matches_pyod_to_the_fourth_decimal() {
        // PyOD 1.1 ECOD on this file: ROC-AUC 0.9948 (../shared/bench/pyod_baseline_dev.csv).
        let data = wbc();
        assert_eq!((data.table.data.nrows(), data.table.data.ncols()), (223, 9));
        assert_eq!(data.labels.iter().filter(|l| **l).count(), 10);
        let params = AlgorithmParams::default_for("ecod").unwrap();
        let fit = timed_fit(&params, &data, 42, 1).unwrap();
        let accuracy = accuracy(&params, &data, &fit, 42, 1).unwrap();
        assert!((accuracy.roc_auc - 0.9948).abs() < 5e-5, "{accuracy:?}");
        assert!(accuracy.avg_precision > 0.85, "{accuracy:?}");
        assert!(accuracy.flagged > 0 && accuracy.f1 > 0.0, "{accuracy:?}");
    }

    #[test]
    fn baseline_cells_by_our_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.csv");
        std::fs::write(
            &path,
            "dataset,rows,features,algorithm,roc_auc,avg_precision,seconds\nwbc,223,9,ECOD,0.9948,0.9038,0.0011\nwbc,223,9,LOF,n/a,,\n",
        )
        .unwrap();
        let baseline = Baseline::from_csv(&path).unwrap();
        assert_eq!(
            baseline.get("wbc", "ecod"),
            Some(BaselineCell {
                roc_auc: 0.9948,
                seconds: 0.0011
            })
        );
        assert_eq!(baseline.get("wbc", "lof"), None);
        std::fs::write(&path, "dataset,algorithm\n").unwrap();
        let err = Baseline::from_csv(&path).unwrap_err();
        assert!(err.to_string().contains("no `roc_auc` column"), "{err}");
    }

    #[test]
    fn f1_counts_hits() {
        assert_eq!(f1(&[true, true, false], &[true, false, false]), 2.0 / 3.0);
        assert_eq!(f1(&[false, true], &[true, false]), 0.0);
    }
}
