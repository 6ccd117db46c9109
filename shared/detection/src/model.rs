//! The product-level model: a fitted detector with its feature names, training score
//! distribution and thresholding, and the versioned envelope it is stored in.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::algorithms::FittedDetector;
use crate::error::{DetectionError, Result, invalid};
use crate::registry::{AlgorithmParams, FittedModel};
use crate::stats::{ScoreDistribution, check_features, percentile_sorted};

/// How the anomaly flag is decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "rule", content = "value")]
pub enum Threshold {
    /// No contamination guess needed. For `auto` (and ensembles built like it: `max` of
    /// `robust`-normalised members), whose scores are already robust z-scores,
    /// [`crate::auto::threshold`]: above 3, and above halfway between the median training
    /// score and its 98th percentile. For the others, a
    /// row is anomalous when its score's robust z-score against the training scores
    /// exceeds 2.5, i.e. `score > median + 2.5 · 1.4826 · MAD`,
    /// with the threshold capped at the training scores' 99th percentile, so that a large
    /// share of anomalies inflating the MAD cannot hide all of them. When the MAD is zero,
    /// `mean + 2.5 · std` replaces the robust part. (Chosen on the benchmark datasets: mean
    /// F1 0.318 over 13 datasets × 9 detectors, against 0.274 for the classic 3.5 cut-off
    /// and 0.329 for a correct-on-average `contamination = 0.1` guess.)
    #[default]
    Auto,
    /// The expected share of anomalies in the training rows, in (0, 0.5]: the threshold
    /// is that upper percentile of the training scores (PyOD's `contamination`).
    Contamination(f64),
    /// An explicit threshold on the raw score.
    Score(f64),
}

impl Threshold {
    /// Checks the threshold's value.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Contamination(c) if !(c > 0.0 && c <= 0.5) => Err(invalid(
                "contamination",
                format!("must be in (0, 0.5], got {c}"),
            )),
            Self::Score(t) if !t.is_finite() => Err(invalid(
                "threshold",
                format!("must be a finite number, got {t}"),
            )),
            _ => Ok(()),
        }
    }

    /// The score threshold given the algorithm and its training distribution;
    /// `sorted_training` is the sorted training scores when at hand (exact percentiles),
    /// else the quantile table.
    fn resolve(
        &self,
        params: &AlgorithmParams,
        training: &ScoreDistribution,
        sorted_training: Option<&[f64]>,
    ) -> f64 {
        match *self {
            Self::Score(t) => t,
            Self::Contamination(c) => {
                let table = sorted_training.unwrap_or(&training.quantiles);
                percentile_sorted(table, 100.0 * (1.0 - c))
            }
            Self::Auto => params
                .own_threshold(training)
                .unwrap_or_else(|| auto_threshold(training)),
        }
    }
}

const AUTO_Z: f64 = 2.5;
const AUTO_CAP_PERCENTILE: f64 = 99.0;

fn auto_threshold(training: &ScoreDistribution) -> f64 {
    let robust = if training.mad > 0.0 {
        training.median + AUTO_Z * 1.4826 * training.mad
    } else if training.std > 0.0 {
        training.mean + AUTO_Z * training.std
    } else {
        // Every training score is equal: only a strictly higher score is anomalous.
        return training.median;
    };
    robust.min(training.percentile(AUTO_CAP_PERCENTILE))
}

/// What the model learnt about its training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    /// Training rows.
    pub rows: usize,
    /// Features.
    pub features: usize,
    /// Distribution of the training scores (for grades and thresholds).
    pub scores: ScoreDistribution,
    /// Each feature's mean over the training rows: what a missing value is filled with
    /// when scoring new rows with the `mean` policy. Empty in models saved before it was
    /// recorded.
    #[serde(default)]
    pub feature_means: Vec<f64>,
    /// Each feature's median over the training rows (the `median` policy's fill).
    #[serde(default)]
    pub feature_medians: Vec<f64>,
    /// Each feature's training distribution as [`SKETCH_POINTS`] evenly spaced quantiles
    /// (the minimum, …, the maximum): what new data is checked against for drift. Empty in
    /// models saved before it was recorded.
    #[serde(default)]
    pub feature_quantiles: Vec<Vec<f64>>,
}

/// Quantiles kept per feature in [`TrainingStats::feature_quantiles`].
pub const SKETCH_POINTS: usize = 257;

/// `SKETCH_POINTS` evenly spaced quantiles of `values` (linear interpolation).
fn quantile_sketch(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Vec::new();
    }
    (0..SKETCH_POINTS)
        .map(|k| {
            let pos = k as f64 / (SKETCH_POINTS - 1) as f64 * (v.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            v[lo] + (v[(lo + 1).min(v.len() - 1)] - v[lo]) * frac
        })
        .collect()
}

/// One feature's part in a row's anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureContribution {
    /// Feature name.
    pub feature: String,
    /// Zero-based feature index.
    pub index: usize,
    /// The row's value of the feature.
    pub value: f64,
    /// The feature's contribution, in the algorithm's units (≥ 0).
    pub contribution: f64,
    /// The contribution as a share of all features' contributions (0–1).
    pub share: f64,
}

/// The ranked top contributions of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Zero-based row index in the scored data.
    pub row: usize,
    /// Features by decreasing contribution.
    pub top_features: Vec<FeatureContribution>,
    /// For `auto` and `max` ensembles: the member detector that gave the row its score
    /// (the contributions are that member's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
}

/// Options for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreOptions {
    /// Threshold rule.
    pub threshold: Threshold,
    /// Explain flagged rows with this many top features (None = no explanations).
    pub explain_top: Option<usize>,
}

/// Scores, grades, flags and explanations for a batch of rows, in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Raw score per row, higher = more anomalous.
    pub scores: Vec<f64>,
    /// Grade per row in [0, 1]: the share of training scores below the row's score, so
    /// 0.99 means "more anomalous than 99% of the training rows" for every algorithm.
    pub grades: Vec<f64>,
    /// Anomaly flag per row (`score > threshold`).
    pub anomalies: Vec<bool>,
    /// The score threshold used.
    pub threshold: f64,
    /// Explanations of the flagged rows, by row index, when asked for.
    pub explanations: Vec<Explanation>,
}

impl Detection {
    /// Number of rows flagged.
    pub fn anomaly_count(&self) -> usize {
        self.anomalies.iter().filter(|&&a| a).count()
    }
}

/// A fitted detector ready to score rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Parameters it was fitted with.
    pub params: AlgorithmParams,
    /// Names of the features, in column order.
    pub feature_names: Vec<String>,
    /// Seed used to fit.
    pub seed: u64,
    /// Training summary.
    pub training: TrainingStats,
    /// The fitted state.
    pub state: FittedModel,
}

impl Model {
    /// Fits `params` on `data`. `feature_names` must have one name per column (empty →
    /// `f0, f1, ...`). Returns the model and the training scores.
    pub fn fit(
        params: &AlgorithmParams,
        data: ArrayView2<'_, f64>,
        feature_names: Vec<String>,
        seed: u64,
    ) -> Result<(Self, Vec<f64>)> {
        let feature_names = if feature_names.is_empty() {
            (0..data.ncols()).map(|j| format!("f{j}")).collect()
        } else if feature_names.len() != data.ncols() {
            return Err(invalid(
                "feature_names",
                format!("{} names for {} columns", feature_names.len(), data.ncols()),
            ));
        } else {
            feature_names
        };
        let fitted = params.fit(data, seed)?;
        if let Some(row) = fitted.training_scores.iter().position(|s| !s.is_finite()) {
            return Err(DetectionError::Internal {
                component: params.name(),
                message: format!("produced a non-finite score for row {row}"),
            });
        }
        let model = Self {
            params: params.clone(),
            feature_names,
            seed,
            training: TrainingStats {
                rows: data.nrows(),
                features: data.ncols(),
                scores: ScoreDistribution::from_scores(&fitted.training_scores),
                feature_means: data
                    .columns()
                    .into_iter()
                    .map(|c| c.mean().unwrap_or(0.0))
                    .collect(),
                feature_medians: data
                    .columns()
                    .into_iter()
                    .map(|c| crate::stats::median_in_place(&mut c.to_vec()))
                    .collect(),
                feature_quantiles: data
                    .columns()
                    .into_iter()
                    .map(|c| quantile_sketch(&c.to_vec()))
                    .collect(),
            },
            state: fitted.model,
        };
        Ok((model, fitted.training_scores))
    }

    /// Canonical algorithm name.
    pub fn algorithm(&self) -> &'static str {
        self.params.name()
    }

    /// Raw scores of new rows (never refits).
    pub fn score(&self, data: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        check_features(data, self.training.features)?;
        Ok(self.state.score(data))
    }

    /// Grade of a raw score, in [0, 1].
    pub fn grade(&self, score: f64) -> f64 {
        self.training.scores.grade(score)
    }

    /// The score threshold a rule gives for this model.
    pub fn threshold(&self, rule: Threshold) -> Result<f64> {
        rule.validate()?;
        Ok(rule.resolve(&self.params, &self.training.scores, None))
    }

    /// Scores new rows and decides flags (and explanations) with `options`.
    pub fn evaluate(&self, data: ArrayView2<'_, f64>, options: ScoreOptions) -> Result<Detection> {
        options.threshold.validate()?;
        let scores = self.score(data)?;
        let threshold = options
            .threshold
            .resolve(&self.params, &self.training.scores, None);
        Ok(self.finish(data, scores, threshold, options.explain_top))
    }

    /// Fits on `data` and returns the detection of those same rows, with PyOD's
    /// unsupervised protocol (training scores; contamination percentiles exact).
    pub fn detect(
        params: &AlgorithmParams,
        data: ArrayView2<'_, f64>,
        feature_names: Vec<String>,
        seed: u64,
        options: ScoreOptions,
    ) -> Result<(Self, Detection)> {
        options.threshold.validate()?;
        let (model, scores) = Self::fit(params, data, feature_names, seed)?;
        let threshold = if let Threshold::Contamination(_) = options.threshold {
            let mut sorted = scores.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            options
                .threshold
                .resolve(params, &model.training.scores, Some(&sorted))
        } else {
            options
                .threshold
                .resolve(params, &model.training.scores, None)
        };
        let detection = model.finish(data, scores, threshold, options.explain_top);
        Ok((model, detection))
    }

    fn finish(
        &self,
        data: ArrayView2<'_, f64>,
        scores: Vec<f64>,
        threshold: f64,
        explain_top: Option<usize>,
    ) -> Detection {
        let grades = scores.iter().map(|&s| self.grade(s)).collect();
        let anomalies: Vec<bool> = scores.iter().map(|&s| s > threshold).collect();
        let explanations = match explain_top {
            Some(k) => anomalies
                .par_iter()
                .enumerate()
                .filter(|(_, a)| **a)
                .map(|(i, _)| self.explain_row(i, data.row(i), k))
                .collect(),
            None => Vec::new(),
        };
        Detection {
            scores,
            grades,
            anomalies,
            threshold,
            explanations,
        }
    }

    /// Explains one row: its `top` largest feature contributions.
    pub fn explain_row(&self, index: usize, row: ArrayView1<'_, f64>, top: usize) -> Explanation {
        let (contributions, detector) = self.state.explain(row);
        let total: f64 = contributions.iter().filter(|c| c.is_finite()).sum();
        let mut ranked: Vec<FeatureContribution> = contributions
            .iter()
            .enumerate()
            .map(|(j, &c)| FeatureContribution {
                feature: self.feature_names[j].clone(),
                index: j,
                value: row[j],
                contribution: c,
                share: if total > 0.0 { c / total } else { 0.0 },
            })
            .collect();
        ranked.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        ranked.truncate(top.max(1));
        Explanation {
            row: index,
            top_features: ranked,
            detector: detector.map(str::to_string),
        }
    }

    /// Serialises the model into its versioned envelope (JSON).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.envelope()).map_err(|e| DetectionError::ModelFormat(e.to_string()))
    }

    /// Writes the envelope of [`Self::to_json`] to `writer` as it is produced, without
    /// holding the whole JSON in memory: a neighbour model's envelope carries its training
    /// rows (about 135 MB of JSON for 200,000 rows of 36 features). Writing a model can
    /// only fail in `writer`.
    pub fn write_json(&self, writer: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(writer, &self.envelope()).map_err(std::io::Error::from)
    }

    fn envelope(&self) -> EnvelopeRef<'_> {
        EnvelopeRef {
            format: FORMAT_NAME,
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION"),
            algorithm: self.algorithm(),
            model: self,
        }
    }

    /// Scores two rows and explains one before a loaded model is trusted: a state that
    /// passes [`FittedDetector::check`] but still fails (a third party's opaque state)
    /// is refused at load, not at every request.
    fn probe(&self) -> std::result::Result<(), String> {
        let features = self.training.features;
        let rows = ndarray::Array2::from_shape_fn((2, features), |(r, _)| r as f64);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let scores = self.state.score(rows.view());
            let contributions = self.state.contributions(rows.row(1));
            scores.len() == 2 && contributions.len() == features
        }))
        .map_err(|_| "scoring it fails".to_string())?
        .then_some(())
        .ok_or_else(|| "its scores do not match its rows".to_string())
    }

    /// Reads a model from its envelope. Rejects other formats and newer format versions
    /// with a clear error; loading only parses data (no code runs).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let header: EnvelopeHeader = serde_json::from_slice(bytes)
            .map_err(|e| DetectionError::ModelFormat(format!("not a Pynomaly model file ({e})")))?;
        if header.format.as_deref() != Some(FORMAT_NAME) {
            return Err(DetectionError::ModelFormat(format!(
                "not a Pynomaly model file (format is {:?}, expected \"{FORMAT_NAME}\")",
                header.format.unwrap_or_default()
            )));
        }
        match header.format_version {
            Some(v) if v == FORMAT_VERSION => {}
            Some(v) if v > FORMAT_VERSION => {
                return Err(DetectionError::ModelFormat(format!(
                    "model format version {v} was written by a newer Pynomaly ({}); this build \
                     ({}) reads format version {FORMAT_VERSION}",
                    header
                        .crate_version
                        .unwrap_or_else(|| "unknown version".into()),
                    env!("CARGO_PKG_VERSION"),
                )));
            }
            other => {
                return Err(DetectionError::ModelFormat(format!(
                    "unsupported model format version {other:?}; this build reads {FORMAT_VERSION}"
                )));
            }
        }
        let envelope: EnvelopeOwned = serde_json::from_slice(bytes)
            .map_err(|e| DetectionError::ModelFormat(format!("corrupt model: {e}")))?;
        let model = envelope.model;
        if model.feature_names.len() != model.training.features
            || model.state.n_features() != model.training.features
        {
            return Err(DetectionError::ModelFormat(
                "corrupt model: feature counts disagree".into(),
            ));
        }
        let corrupt = |why: String| DetectionError::ModelFormat(format!("corrupt model: {why}"));
        model.state.check().map_err(corrupt)?;
        if model.training.scores.quantiles.is_empty() {
            return Err(corrupt("no training score distribution".into()));
        }
        model.probe().map_err(corrupt)?;
        Ok(model)
    }
}

/// Name written in every model envelope.
pub const FORMAT_NAME: &str = "pynomaly-model";
/// Current envelope version.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    format: &'static str,
    format_version: u32,
    crate_version: &'static str,
    algorithm: &'static str,
    model: &'a Model,
}

#[derive(Deserialize)]
struct EnvelopeHeader {
    format: Option<String>,
    format_version: Option<u32>,
    crate_version: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeOwned {
    model: Model,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn data() -> Array2<f64> {
        let mut rows: Vec<[f64; 3]> = (0..200)
            .map(|i| [(i % 13) as f64, (i % 7) as f64 * 2.0, (i % 5) as f64])
            .collect();
        rows.push([6.0, 60.0, 2.0]);
        Array2::from(rows)
    }

    #[test]
    fn contamination_flags_that_share() {
        let params = AlgorithmParams::default_for("ecod").unwrap();
        let opts = ScoreOptions {
            threshold: Threshold::Contamination(0.1),
            explain_top: None,
        };
        let (_, det) = Model::detect(&params, data().view(), vec![], 0, opts).unwrap();
        let flagged = det.anomaly_count();
        assert!((15..=21).contains(&flagged), "{flagged}");
        assert!(det.anomalies[200]);
    }

    #[test]
    fn auto_threshold_flags_the_outlier_and_explains_it() {
        let params = AlgorithmParams::default_for("iforest").unwrap();
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let opts = ScoreOptions {
            threshold: Threshold::Auto,
            explain_top: Some(2),
        };
        let (_, det) = Model::detect(&params, data().view(), names, 0, opts).unwrap();
        assert!(det.anomalies[200]);
        assert!(det.anomaly_count() < 20, "{}", det.anomaly_count());
        let e = det.explanations.iter().find(|e| e.row == 200).unwrap();
        assert_eq!(e.top_features.len(), 2);
        assert_eq!(e.top_features[0].feature, "b");
        assert_eq!(det.grades[200], 1.0);
    }

    #[test]
    fn explicit_score_threshold() {
        let params = AlgorithmParams::default_for("mad").unwrap();
        let opts = ScoreOptions {
            threshold: Threshold::Score(8.0),
            explain_top: None,
        };
        let (_, det) = Model::detect(&params, data().view(), vec![], 0, opts).unwrap();
        assert_eq!(det.anomaly_count(), 1);
        assert_eq!(det.threshold, 8.0);
        let bad = ScoreOptions {
            threshold: Threshold::Contamination(0.9),
            explain_top: None,
        };
        let err = Model::detect(&params, data().view(), vec![], 0, bad).unwrap_err();
        assert!(err.to_string().contains("contamination"));
    }

    #[test]
    fn a_failing_writer_is_an_error_not_a_panic() {
        /// Accepts 100 bytes, then fails like a full disk.
        struct Full(usize);
        impl std::io::Write for Full {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.0 >= 100 {
                    return Err(std::io::Error::other("disk full"));
                }
                let n = buf.len().min(100 - self.0);
                self.0 += n;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let params = AlgorithmParams::default_for("knn").unwrap();
        let (model, _) = Model::fit(&params, data().view(), vec![], 0).unwrap();
        let err = model.write_json(Full(0)).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }

    #[test]
    fn round_trip_scores_identically_for_every_algorithm() {
        let d = data();
        for info in crate::ALGORITHMS {
            let params = AlgorithmParams::default_for(info.name).unwrap();
            let (model, _) = Model::fit(&params, d.view(), vec![], 5).unwrap();
            let bytes = model.to_json().unwrap();
            let mut streamed = Vec::new();
            model.write_json(&mut streamed).unwrap();
            assert_eq!(streamed, bytes, "{}", info.name);
            let loaded = Model::from_json(&bytes).unwrap();
            let probe = d.slice(ndarray::s![190..201, ..]);
            assert_eq!(
                model.score(probe).unwrap(),
                loaded.score(probe).unwrap(),
                "{}",
                info.name
            );
            assert_eq!(loaded.feature_names, vec!["f0", "f1", "f2"]);
        }
    }

    #[test]
    fn newer_or_foreign_envelopes_are_rejected() {
        let params = AlgorithmParams::default_for("hbos").unwrap();
        let (model, _) = Model::fit(&params, data().view(), vec![], 0).unwrap();
        let mut value: serde_json::Value =
            serde_json::from_slice(&model.to_json().unwrap()).unwrap();
        value["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
        let err = Model::from_json(&serde_json::to_vec(&value).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer Pynomaly"), "{err}");
        let err = Model::from_json(b"{\"format\": \"pickle\"}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Pynomaly model"), "{err}");
        let err = Model::from_json(b"\x80\x04garbage")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Pynomaly model"), "{err}");
    }

    #[test]
    fn scoring_checks_shape_and_values() {
        let params = AlgorithmParams::default_for("ecod").unwrap();
        let (model, _) = Model::fit(&params, data().view(), vec![], 0).unwrap();
        let err = model.score(Array2::zeros((2, 2)).view()).unwrap_err();
        assert!(matches!(
            err,
            DetectionError::FeatureMismatch {
                expected: 3,
                got: 2
            }
        ));
        let mut bad = Array2::zeros((2, 3));
        bad[[1, 2]] = f64::NAN;
        let err = model.score(bad.view()).unwrap_err().to_string();
        assert!(err.contains("row 1, column 2"), "{err}");
    }
}
