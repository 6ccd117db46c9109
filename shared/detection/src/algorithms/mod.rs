//! One module per detector. Each follows the same shape: a params struct with defaults and
//! `validate`, `Detector::fit` → a fitted model, `FittedDetector::score` on new rows.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::Result;

pub mod ecod;
pub mod hbos;
pub mod iforest;
pub mod knn;
pub mod lof;
pub mod mad;
pub mod pca;
pub mod rcf;

/// A detector's validated parameters: fitting turns them into a fitted model.
pub trait Detector {
    /// The model that `fit` produces.
    type Fitted: FittedDetector;

    /// Checks every parameter; the error names the first bad one.
    fn validate(&self) -> Result<()>;

    /// Fits on `data` (rows × features, all finite) and returns the model together with
    /// the training scores. Training scores follow PyOD's `decision_scores_`: for
    /// neighbour methods a row is not its own neighbour, which is why they are returned
    /// here rather than recomputed with [`FittedDetector::score`].
    fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<Self::Fitted>>;
}

/// The result of fitting: the model and one score per training row.
#[derive(Debug, Clone)]
pub struct Fitted<M> {
    /// The fitted model.
    pub model: M,
    /// One score per training row, higher = more anomalous.
    pub training_scores: Vec<f64>,
}

/// A fitted model that scores new rows without refitting on them.
pub trait FittedDetector {
    /// Number of features the model was fitted on.
    fn n_features(&self) -> usize;

    /// Scores rows (already checked for shape and finiteness), higher = more anomalous.
    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64>;

    /// Per-feature contributions to the anomaly of one row (≥ 0, larger = more to blame).
    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64>;

    /// Checks that a state read from storage holds together (lengths agree, indices in
    /// range, trees descend), so scoring it cannot index out of bounds or loop: a stored
    /// model is input like any other. `Err` says what is inconsistent.
    fn check(&self) -> std::result::Result<(), String>;
}

/// `Err` naming `what` unless `got == expected`.
pub(crate) fn same_len(what: &str, got: usize, expected: usize) -> std::result::Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what} has {got} entries, expected {expected}"))
    }
}

/// A type that holds one of several fitted detectors and answers as the one it holds
/// (the enums over algorithms).
pub(crate) trait Delegating {
    /// The detector held.
    fn inner(&self) -> &dyn FittedDetector;
}

impl<T: Delegating> FittedDetector for T {
    fn n_features(&self) -> usize {
        self.inner().n_features()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        self.inner().score(data)
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        self.inner().contributions(row)
    }

    fn check(&self) -> std::result::Result<(), String> {
        self.inner().check()
    }
}

/// Scores every row in parallel (rayon; one thread when the pool has one). Rows are
/// handed over as contiguous slices, in chunks large enough that scheduling costs nothing
/// next to cheap per-row scores, and small enough to balance expensive ones.
pub(crate) fn score_rows<F>(data: ArrayView2<'_, f64>, score_one: F) -> Vec<f64>
where
    F: Fn(&[f64]) -> f64 + Sync + Send,
{
    let data = data.as_standard_layout();
    let (n, d) = data.dim();
    let mut out = vec![0.0; n];
    let Some(flat) = data.as_slice() else {
        return out;
    };
    if d == 0 {
        return out;
    }
    let chunk = (n / (8 * rayon::current_num_threads().max(1))).clamp(64, 4096);
    out.par_chunks_mut(chunk)
        .zip(flat.par_chunks(chunk * d))
        .for_each(|(scores, rows)| {
            for (s, row) in scores.iter_mut().zip(rows.chunks_exact(d)) {
                *s = score_one(row);
            }
        });
    out
}

/// Per-column medians: the reference point for occlusion explanations.
pub(crate) fn column_medians(data: ArrayView2<'_, f64>) -> Vec<f64> {
    data.axis_iter(Axis(1))
        .map(|col| crate::stats::median_in_place(&mut col.to_vec()))
        .collect()
}

/// Occlusion contributions for models without an additive score: how much the score drops
/// when one feature is replaced by its training median (clamped at 0).
pub(crate) fn occlusion_contributions(
    row: ArrayView1<'_, f64>,
    reference: &[f64],
    score_one: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    let mut probe: Vec<f64> = row.to_vec();
    let base = score_one(&probe);
    (0..probe.len())
        .map(|j| {
            let original = probe[j];
            probe[j] = reference[j];
            let occluded = score_one(&probe);
            probe[j] = original;
            (base - occluded).max(0.0)
        })
        .collect()
}
