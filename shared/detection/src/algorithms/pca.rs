//! PCA outlier score (Shyu et al. 2003) exactly as PyOD's `PCA` defines it: standardise
//! every feature (scikit-learn's `StandardScaler`), take the principal components of the
//! standardised data (eigenvectors of its covariance, signs fixed so that each
//! component's largest-magnitude entry is positive, like scikit-learn's `svd_flip`), and
//! score a row as `Σ_c ‖x − v_c‖ / r_c` over all components, `r_c` being the component's
//! explained-variance ratio — so low-variance directions weigh most. Components that
//! explain (numerically) no variance are skipped instead of dividing by zero.
//!
//! Explanation: the score is exactly additive over features,
//! `Σ_c Σ_j (x_j − v_cj)² / (‖x − v_c‖ r_c)`, and each feature's term is its contribution.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector};
use crate::error::{Result, invalid};
use crate::stats::{check_shape, check_sums};

/// Parameters of PCA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcaParams {
    /// Use only the `n` lowest-variance components (default: all).
    pub n_selected_components: Option<usize>,
    /// Standardise features first (default true).
    pub standardization: bool,
    /// Weigh each component by 1 / explained-variance ratio (default true).
    pub weighted: bool,
}

impl Default for PcaParams {
    fn default() -> Self {
        Self {
            n_selected_components: None,
            standardization: true,
            weighted: true,
        }
    }
}

/// A fitted PCA model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPca {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Selected components, one per row.
    components: Array2<f64>,
    /// Divisor of each selected component's distance.
    weights: Vec<f64>,
}

impl Detector for PcaParams {
    type Fitted = FittedPca;

    fn validate(&self) -> Result<()> {
        if self.n_selected_components == Some(0) {
            return Err(invalid("n_selected_components", "must be at least 1"));
        }
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedPca>> {
        self.validate()?;
        check_shape(data, "pca", 2)?;
        let (n, d) = data.dim();
        let data = data.as_standard_layout();
        let flat = data.as_slice().unwrap_or(&[]);
        let mut mean = vec![0.0; d];
        for row in flat.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        check_sums(data.view(), &mean)?;
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // One more pass: the Gram matrix of the centred rows, block by block without a copy
        // of X. Its diagonal gives the variances (scikit-learn's scaler: population
        // deviation, zero → 1), and the covariance of the standardised data is the same
        // matrix scaled — no separate variance pass, no standardised copy.
        let mut gram = Array2::<f64>::zeros((d, d));
        let unit = vec![1.0; d];
        let mut centred = Vec::with_capacity(BLOCK * d);
        for rows in flat.chunks(BLOCK * d) {
            let Some(block) = standardise_into(rows, d, &mean, &unit, &mut centred) else {
                continue;
            };
            general_mat_mul(1.0, &block.t(), &block, 1.0, &mut gram);
        }
        let deviation: Vec<f64> = (0..d)
            .map(|j| {
                let s = (gram[[j, j]] / n as f64).sqrt();
                if s > 0.0 { s } else { 1.0 }
            })
            .collect();
        let denominator = (n as f64 - 1.0).max(1.0);
        let (mean, scale) = if self.standardization {
            (mean, deviation)
        } else {
            (vec![0.0; d], unit)
        };
        let cov = Array2::from_shape_fn((d, d), |(a, b)| {
            gram[[a, b]] / (scale[a] * scale[b]) / denominator
        });
        let eig = SymmetricEigen::new(DMatrix::from_fn(d, d, |i, j| cov[[i, j]]));
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let total: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let n_components = n.min(d);
        let selected = self
            .n_selected_components
            .unwrap_or(n_components)
            .min(n_components);
        // Keep the `selected` lowest-variance of the first `n_components` components.
        let chosen = &order[n_components - selected..n_components];
        let mut rows = Vec::with_capacity(chosen.len() * d);
        let mut weights = Vec::with_capacity(chosen.len());
        for &c in chosen {
            let ratio = if total > 0.0 {
                eig.eigenvalues[c].max(0.0) / total
            } else {
                0.0
            };
            let divisor = if self.weighted { ratio } else { 1.0 };
            if divisor <= 1e-12 {
                continue;
            }
            let vector = eig.eigenvectors.column(c);
            let pivot = vector
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(1.0);
            let sign = if pivot < 0.0 { -1.0 } else { 1.0 };
            rows.extend(vector.iter().map(|v| v * sign));
            weights.push(divisor);
        }
        let components = Array2::from_shape_vec((weights.len(), d), rows).map_err(|e| {
            crate::DetectionError::Internal {
                component: "pca",
                message: e.to_string(),
            }
        })?;
        let model = FittedPca {
            mean,
            scale,
            components,
            weights,
        };
        let training_scores = model.score(data.view());
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

/// Rows per block when standardising: small enough to stay in cache.
const BLOCK: usize = 1024;

/// Standardises row-major `rows` (`d` values each) into `out` (reused, so blocks cost no
/// allocation): `(x − mean) · inverse_scale`. Multiplying by the reciprocal (computed once
/// per call by the caller) costs several times less than a division per value; results
/// differ in the last bit at most.
fn standardise_into<'a>(
    rows: &[f64],
    d: usize,
    mean: &[f64],
    inverse_scale: &[f64],
    out: &'a mut Vec<f64>,
) -> Option<ArrayView2<'a, f64>> {
    out.clear();
    for row in rows.chunks_exact(d) {
        out.extend(
            row.iter()
                .zip(mean)
                .zip(inverse_scale)
                .map(|((x, m), s)| (x - m) * s),
        );
    }
    // (Always the right length: `None` only to avoid an unwrap.)
    ArrayView2::from_shape((out.len() / d.max(1), d), out).ok()
}

/// What scoring derives from a fitted model, computed once per call rather than per block.
struct ScoringConstants {
    inverse_scale: Vec<f64>,
    /// `‖v‖²` of each selected component.
    component_norms: Vec<f64>,
    inverse_weights: Vec<f64>,
}

impl FittedPca {
    fn inverse_scale(&self) -> Vec<f64> {
        self.scale.iter().map(|s| 1.0 / s).collect()
    }

    fn constants(&self) -> ScoringConstants {
        ScoringConstants {
            inverse_scale: self.inverse_scale(),
            component_norms: self
                .components
                .rows()
                .into_iter()
                .map(|v| v.dot(&v))
                .collect(),
            inverse_weights: self.weights.iter().map(|w| 1.0 / w).collect(),
        }
    }

    /// Scores standardised rows into `scores`. `‖x − v‖² = ‖x‖² − 2 x·v + ‖v‖²`, so all
    /// the distances come from one matrix product (`X Vᵀ`, into the reused `projections`)
    /// instead of a loop per component.
    fn score_standardised(
        &self,
        x: ArrayView2<'_, f64>,
        k: &ScoringConstants,
        projections: &mut Vec<f64>,
        scores: &mut [f64],
    ) {
        let c = self.weights.len();
        projections.clear();
        projections.resize(x.nrows() * c, 0.0);
        let (Some(xs), Ok(mut p)) = (
            x.as_slice(),
            ArrayViewMut2::from_shape((x.nrows(), c), &mut projections[..]),
        ) else {
            return;
        };
        if c == 0 {
            return;
        }
        general_mat_mul(1.0, &x, &self.components.t(), 0.0, &mut p);
        for ((row, distances), score) in xs
            .chunks_exact(x.ncols().max(1))
            .zip(projections.chunks_exact_mut(c))
            .zip(scores)
        {
            let x2: f64 = row.iter().map(|v| v * v).sum();
            // Distances first, in place (a loop without a running sum vectorises), then
            // their sum.
            for ((p, v2), w) in distances
                .iter_mut()
                .zip(&k.component_norms)
                .zip(&k.inverse_weights)
            {
                *p = (x2 - 2.0 * *p + v2).max(0.0).sqrt() * w;
            }
            *score = distances.iter().sum::<f64>();
        }
    }
}

impl FittedDetector for FittedPca {
    fn check(&self) -> std::result::Result<(), String> {
        let d = self.mean.len();
        super::same_len("scale", self.scale.len(), d)?;
        super::same_len("a component", self.components.ncols(), d)?;
        super::same_len("weights", self.weights.len(), self.components.nrows())
    }

    fn n_features(&self) -> usize {
        self.mean.len()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        let data = data.as_standard_layout();
        let d = data.ncols();
        let flat = data.as_slice().unwrap_or(&[]);
        let mut out = vec![0.0; data.nrows()];
        if d == 0 {
            return out;
        }
        let constants = self.constants();
        out.par_chunks_mut(BLOCK)
            .zip(flat.par_chunks(BLOCK * d))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(standardised, projections), (scores, rows)| {
                    let x = standardise_into(
                        rows,
                        d,
                        &self.mean,
                        &constants.inverse_scale,
                        standardised,
                    );
                    if let Some(x) = x {
                        self.score_standardised(x, &constants, projections, scores);
                    }
                },
            );
        out
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        let row = row.to_vec();
        let mut x = Vec::with_capacity(row.len());
        standardise_into(&row, row.len(), &self.mean, &self.inverse_scale(), &mut x);
        let mut out = vec![0.0; x.len()];
        for (v, w) in self.components.rows().into_iter().zip(&self.weights) {
            let d: f64 = x
                .iter()
                .zip(v)
                .map(|(a, c)| (a - c) * (a - c))
                .sum::<f64>()
                .sqrt();
            if d > 0.0 {
                for ((o, a), c) in out.iter_mut().zip(&x).zip(v) {
                    *o += (a - c) * (a - c) / (d * w);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn correlated() -> Array2<f64> {
        // Two strongly correlated features plus one point that breaks the correlation (and,
        // as PyOD's score is a distance to the component vectors, lies far from the mean).
        let mut rows: Vec<[f64; 2]> = (0..200)
            .map(|i| {
                let t = i as f64 / 20.0;
                [t, 2.0 * t + 0.05 * ((i * 7 % 5) as f64 - 2.0)]
            })
            .collect();
        rows.push([5.0, 40.0]);
        Array2::from(rows)
    }

    #[test]
    fn flags_the_point_off_the_principal_axis() {
        let data = correlated();
        let fit = PcaParams::default().fit(data.view(), 0).unwrap();
        let s = &fit.training_scores;
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 200);
    }

    #[test]
    fn contributions_sum_to_the_score_and_score_matches_training() {
        let data = correlated();
        let fit = PcaParams::default().fit(data.view(), 0).unwrap();
        let row = data.row(200);
        let total: f64 = fit.model.contributions(row).iter().sum();
        assert!((total - fit.training_scores[200]).abs() < 1e-6);
        let again = fit.model.score(data.view());
        for (a, b) in again.iter().zip(&fit.training_scores) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn components_follow_the_sign_convention() {
        let fit = PcaParams::default().fit(correlated().view(), 0).unwrap();
        for v in fit.model.components.rows() {
            let pivot = v
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap();
            assert!(pivot > 0.0);
        }
    }

    #[test]
    fn constant_feature_does_not_break_scores() {
        let data = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [10.0, 5.0]];
        let fit = PcaParams::default().fit(data.view(), 0).unwrap();
        assert!(fit.training_scores.iter().all(|s| s.is_finite()));
        assert!(
            PcaParams {
                n_selected_components: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
