//! Data drift between two datasets, for `pynomaly drift` and `POST /api/v1/drift`: both
//! read with the same options, the current one by the reference's column names (any
//! order, extra columns left alone), then per feature the KS test and the PSI
//! ([`pynomaly_detection::drift`]).
//!
//! A feature has drifted when both say so: its KS p-value is under `alpha` divided by the
//! number of features (Bonferroni: with 50 features, one would pass 0.05 by chance) *and*
//! its PSI is at least `psi_threshold` (the shift is large enough to matter — on big
//! samples a negligible shift is "significant"). The verdict is `drift` when any feature
//! has drifted.

use serde::Serialize;

use crate::formats::{FormatError, ReadOptions, Table, read_table};

/// Defaults of [`DriftOptions`].
pub const DEFAULT_ALPHA: f64 = 0.05;
/// PSI from which a shift counts (the usual "moderate" boundary).
pub const DEFAULT_PSI_THRESHOLD: f64 = 0.1;

/// How drift is decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftOptions {
    /// Family-wise significance level, in (0, 1).
    pub alpha: f64,
    /// Smallest PSI that counts as a shift, ≥ 0.
    pub psi_threshold: f64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            psi_threshold: DEFAULT_PSI_THRESHOLD,
        }
    }
}

/// One feature's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeatureDrift {
    /// Column name.
    pub feature: String,
    /// Largest gap between the two empirical CDFs.
    pub ks_statistic: f64,
    /// Its exact two-sided p-value.
    pub p_value: f64,
    /// Population stability index (10 bins at the reference's deciles).
    pub psi: f64,
    /// Whether it moved (see the module docs).
    pub drifted: bool,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    /// `drift` or `stable`.
    pub verdict: &'static str,
    /// The features that moved, most shifted (by PSI) first.
    pub drifted: Vec<String>,
    /// Every feature, in the reference's column order.
    pub features: Vec<FeatureDrift>,
    /// Rows compared.
    pub reference_rows: usize,
    /// Rows compared.
    pub current_rows: usize,
    /// The p-value bound each feature was held to (`alpha` / features).
    pub p_value_bound: f64,
    /// The PSI threshold.
    pub psi_threshold: f64,
}

/// Why two datasets cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The reference cannot be read.
    #[error("reference: {0}")]
    Reference(FormatError),
    /// The current data cannot be read (or lacks a reference column).
    #[error("current: {0}")]
    Current(FormatError),
    /// An option is out of range.
    #[error("`{name}` {reason}")]
    Option {
        /// Which.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A sample is unusable.
    #[error(transparent)]
    Detection(#[from] pynomaly_detection::DetectionError),
}

impl DriftOptions {
    fn check(&self) -> Result<(), DriftError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(DriftError::Option {
                name: "alpha",
                reason: format!("must be in (0, 1), got {}", self.alpha),
            });
        }
        if !(self.psi_threshold.is_finite() && self.psi_threshold >= 0.0) {
            return Err(DriftError::Option {
                name: "psi_threshold",
                reason: format!("must be a number ≥ 0, got {}", self.psi_threshold),
            });
        }
        Ok(())
    }
}

/// Reads both inputs with `read` (the current one by the reference's columns) and
/// compares them.
pub fn compare_inputs(
    reference: &[u8],
    current: &[u8],
    read: &ReadOptions,
    options: DriftOptions,
) -> Result<DriftReport, DriftError> {
    options.check()?;
    let reference = read_table(reference, read).map_err(DriftError::Reference)?;
    let current =
        read_table(current, &current_options(read, &reference)).map_err(DriftError::Current)?;
    compare(&reference, &current, options)
}

/// How the current data is read: `read`'s options, the columns by the reference's names.
pub fn current_options(read: &ReadOptions, reference: &Table) -> ReadOptions {
    ReadOptions {
        columns: None,
        ignore_columns: Vec::new(),
        keep: Vec::new(),
        model_columns: Some(reference.columns.clone()),
        ..read.clone()
    }
}

/// Checks `current` (read by the model's columns) against the training distribution that
/// `model` keeps: each feature's [`SKETCH_POINTS`](pynomaly_detection::model::SKETCH_POINTS)
/// quantiles stand for the reference sample (so the KS test's reference has that many
/// values, however many rows the model was trained on: its p-values are conservative).
pub fn compare_with_model(
    model: &pynomaly_detection::Model,
    current: &[u8],
    read: &ReadOptions,
    options: DriftOptions,
) -> Result<DriftReport, DriftError> {
    options.check()?;
    let sketch = &model.training.feature_quantiles;
    if sketch.len() != model.feature_names.len() || sketch.iter().any(Vec::is_empty) {
        return Err(DriftError::Option {
            name: "model",
            reason: "was saved before models kept their training distribution; train it again to check drift against it".into(),
        });
    }
    let points = sketch[0].len();
    let data = ndarray::Array2::from_shape_fn((points, sketch.len()), |(i, j)| {
        sketch[j].get(i).copied().unwrap_or(f64::NAN)
    });
    let reference = Table {
        columns: model.feature_names.clone(),
        source_rows: (0..points).collect(),
        input_rows: points,
        data,
        labels: None,
        kept: Vec::new(),
    };
    let current =
        read_table(current, &current_options(read, &reference)).map_err(DriftError::Current)?;
    let mut report = compare(&reference, &current, options)?;
    report.reference_rows = model.training.rows;
    Ok(report)
}

/// Compares two tables with the same columns.
pub fn compare(
    reference: &Table,
    current: &Table,
    options: DriftOptions,
) -> Result<DriftReport, DriftError> {
    options.check()?;
    let k = reference.columns.len().max(1);
    let bound = options.alpha / k as f64;
    let mut features = Vec::with_capacity(k);
    for (c, name) in reference.columns.iter().enumerate() {
        let r = reference.data.column(c).to_vec();
        let x = current.data.column(c).to_vec();
        let ks = pynomaly_detection::drift::ks_2samp(&r, &x)?;
        let psi = pynomaly_detection::drift::psi(&r, &x)?;
        features.push(FeatureDrift {
            feature: name.clone(),
            ks_statistic: ks.statistic,
            p_value: ks.pvalue,
            psi,
            drifted: ks.pvalue < bound && psi >= options.psi_threshold,
        });
    }
    let mut moved: Vec<&FeatureDrift> = features.iter().filter(|f| f.drifted).collect();
    moved.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    let drifted: Vec<String> = moved.iter().map(|f| f.feature.clone()).collect();
    Ok(DriftReport {
        verdict: if drifted.is_empty() {
            "stable"
        } else {
            "drift"
        },
        drifted,
        features,
        reference_rows: reference.data.nrows(),
        current_rows: current.data.nrows(),
        p_value_bound: bound,
        psi_threshold: options.psi_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: usize, shift_b: f64) -> String {
        let mut out = String::from("id,a,b,c\n");
        for i in 0..rows {
            let a = ((i * 7919) % 1000) as f64 / 100.0;
            let b = ((i * 104_729) % 997) as f64 / 100.0 + shift_b;
            let c = ((i * 31) % 101) as f64;
            out.push_str(&format!("h{i},{a},{b},{c}\n"));
        }
        out
    }

    #[test]
    fn a_shifted_feature_is_named_and_the_others_are_not() {
        let read = ReadOptions {
            ignore_columns: vec!["id".into()],
            ..Default::default()
        };
        // The current file has its columns in another order and one more column.
        let current: String = {
            let shifted = csv(800, 3.0);
            let mut out = String::new();
            for (n, line) in shifted.lines().enumerate() {
                let f: Vec<&str> = line.split(',').collect();
                let extra = if n == 0 {
                    "z".to_string()
                } else {
                    n.to_string()
                };
                out.push_str(&format!("{},{},{},{},{extra}\n", f[3], f[2], f[1], f[0]));
            }
            out
        };
        let report = compare_inputs(
            csv(1000, 0.0).as_bytes(),
            current.as_bytes(),
            &read,
            DriftOptions::default(),
        )
        .unwrap();
        assert_eq!(report.verdict, "drift");
        assert_eq!(report.drifted, vec!["b"]);
        assert_eq!(report.features.len(), 3);
        let a = &report.features[0];
        assert!(!a.drifted && a.p_value > 0.05 && a.psi < 0.1, "{a:?}");
        let same = compare_inputs(
            csv(1000, 0.0).as_bytes(),
            csv(700, 0.0).as_bytes(),
            &read,
            DriftOptions::default(),
        )
        .unwrap();
        assert_eq!(same.verdict, "stable");
    }

    #[test]
    fn a_missing_column_and_bad_options_are_named() {
        let read = ReadOptions {
            ignore_columns: vec!["id".into()],
            ..Default::default()
        };
        let err = compare_inputs(
            csv(50, 0.0).as_bytes(),
            b"a,b\n1,2\n",
            &read,
            DriftOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("current:") && err.contains('c'), "{err}");
        let err = compare_inputs(
            csv(50, 0.0).as_bytes(),
            csv(50, 0.0).as_bytes(),
            &read,
            DriftOptions {
                alpha: 2.0,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("alpha"), "{err}");
    }
}
