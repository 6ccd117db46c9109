//! ECOD (Li et al. 2022) and COPOD (Li et al. 2020): per-feature empirical tail
//! probabilities, as PyOD computes them.
//!
//! For each feature the left tail `U_l = -ln F(x)` and right tail `U_r = -ln F̄(x)` come
//! from the training ECDF (`F(x)` = share of training values ≤ x, `F̄(x)` = share ≥ x);
//! the skewness sign of the feature picks `U_skew` (left tail for negative skew, right for
//! positive, both for zero). Per feature, ECOD keeps `max(U_skew, U_l, U_r)` and COPOD
//! `max(U_skew, (U_l + U_r) / 2)`; the score is the sum over features, and that sum is
//! also the explanation (each feature's term is its contribution).
//!
//! New rows are scored against the *training* ECDF only — they never join it (PyOD
//! issue #408). A value beyond the training range gets the tail mass of one training
//! value, `1/n`, so scores stay finite.

use ndarray::{ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::Result;
use crate::stats::{check_data, skewness};

/// Which tail-combination rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TailRule {
    /// ECOD: `max(U_skew, max(U_l, U_r))`.
    Ecod,
    /// COPOD: `max(U_skew, (U_l + U_r) / 2)`.
    Copod,
}

/// Parameters of ECOD (no tunable parameters; it is parameter-free by design).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcodParams {}

/// Parameters of COPOD (no tunable parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopodParams {}

/// A fitted ECOD or COPOD model: the sorted training values of every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedTailModel {
    rule: TailRule,
    /// Sorted training values, one vector per feature.
    sorted: Vec<Vec<f64>>,
    /// Sign of each feature's training skewness (-1, 0 or 1).
    skew_sign: Vec<f64>,
}

fn fit_tail(
    data: ArrayView2<'_, f64>,
    rule: TailRule,
    name: &'static str,
) -> Result<Fitted<FittedTailModel>> {
    check_data(data, name, 1)?;
    let n = data.nrows();
    // ln(k / n) for every count k = 1..=n: each tail term is a table look-up.
    let ln_n = (n as f64).ln();
    let neg_log_share: Vec<f64> = (0..=n)
        .map(|k| if k == 0 { 0.0 } else { ln_n - (k as f64).ln() })
        .collect();
    let mut sorted = Vec::with_capacity(data.ncols());
    let mut skew_sign = Vec::with_capacity(data.ncols());
    let mut training_scores = vec![0.0; n];
    let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(n);
    for column in data.axis_iter(Axis(1)) {
        // Sort (value, row) once; each run of equal values [a, b) has
        // count(<= x) = b and count(>= x) = n - a. O(n) after the sort, where a lookup per
        // value would cost O(n log n) again.
        pairs.clear();
        pairs.extend(column.iter().enumerate().map(|(i, &v)| (v, i as u32)));
        radsort::sort_by_key(&mut pairs, |p| p.0);
        let s = sign(skewness(column.iter().copied()));
        let mut a = 0;
        while a < n {
            let mut b = a + 1;
            while b < n && pairs[b].0 == pairs[a].0 {
                b += 1;
            }
            let term = tail_term(rule, s, neg_log_share[b], neg_log_share[n - a]);
            for &(_, row) in &pairs[a..b] {
                training_scores[row as usize] += term;
            }
            a = b;
        }
        sorted.push(pairs.iter().map(|p| p.0).collect());
        skew_sign.push(s);
    }
    Ok(Fitted {
        model: FittedTailModel {
            rule,
            sorted,
            skew_sign,
        },
        training_scores,
    })
}

/// The per-feature outlier term from the left and right tail terms and the skew sign.
#[inline]
fn tail_term(rule: TailRule, skew_sign: f64, u_l: f64, u_r: f64) -> f64 {
    // PyOD: U_skew = U_l * -sign(s - 1) + U_r * sign(s + 1), with s the skew sign.
    let u_skew = u_l * -sign(skew_sign - 1.0) + u_r * sign(skew_sign + 1.0);
    match rule {
        TailRule::Ecod => u_skew.max(u_l.max(u_r)),
        TailRule::Copod => u_skew.max((u_l + u_r) / 2.0),
    }
}

impl Detector for EcodParams {
    type Fitted = FittedTailModel;

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedTailModel>> {
        fit_tail(data, TailRule::Ecod, "ecod")
    }
}

impl Detector for CopodParams {
    type Fitted = FittedTailModel;

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedTailModel>> {
        fit_tail(data, TailRule::Copod, "copod")
    }
}

impl FittedTailModel {
    /// The per-feature outlier term `O_j` of one value.
    fn feature_term(&self, j: usize, x: f64) -> f64 {
        let col = &self.sorted[j];
        let n = col.len() as f64;
        let at_most = col.partition_point(|&v| v <= x) as f64;
        let at_least = (col.len() - col.partition_point(|&v| v < x)) as f64;
        // Same arithmetic as in `fit_tail`, so re-scoring a training row is bit-identical.
        let u_l = n.ln() - at_most.max(1.0).ln();
        let u_r = n.ln() - at_least.max(1.0).ln();
        tail_term(self.rule, self.skew_sign[j], u_l, u_r)
    }
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl FittedDetector for FittedTailModel {
    fn n_features(&self) -> usize {
        self.sorted.len()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| {
            row.iter()
                .enumerate()
                .map(|(j, &x)| self.feature_term(j, x))
                .sum()
        })
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &x)| self.feature_term(j, x))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn ecod_matches_hand_computed_single_feature() {
        // x = [1, 2, 3, 4, 10]: skew > 0 so U_skew = U_r; O = max(U_l, U_r).
        let data = array![[1.0], [2.0], [3.0], [4.0], [10.0]];
        let fit = EcodParams::default().fit(data.view(), 0).unwrap();
        let expected_last = -(1.0f64 / 5.0).ln(); // U_r of the max value
        assert!((fit.training_scores[4] - expected_last).abs() < 1e-12);
        // first value: U_l = -ln(1/5) = 1.609, U_r = 0 → max 1.609
        assert!((fit.training_scores[0] - expected_last).abs() < 1e-12);
        // middle value 3: U_l = -ln(3/5), U_r = -ln(3/5)
        assert!((fit.training_scores[2] + (0.6f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn copod_averages_tails() {
        let data = array![[1.0], [2.0], [3.0], [4.0], [10.0]];
        let fit = CopodParams::default().fit(data.view(), 0).unwrap();
        // value 1: U_l = ln 5, U_r = 0, U_skew = U_r = 0 → max(0, ln5/2)
        assert!((fit.training_scores[0] - 5f64.ln() / 2.0).abs() < 1e-12);
        // value 10: U_skew = U_r = ln 5
        assert!((fit.training_scores[4] - 5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn new_rows_do_not_change_the_model() {
        let data = Array2::from_shape_fn((100, 2), |(i, j)| ((i * 7 + j * 3) % 17) as f64);
        let fit = EcodParams::default().fit(data.view(), 0).unwrap();
        let probe = array![[1000.0, 5.0]];
        let once = fit.model.score(probe.view());
        let twice = fit.model.score(probe.view());
        assert_eq!(once, twice);
        assert!(once[0].is_finite());
        assert_eq!(fit.model.score(data.view()), fit.training_scores);
    }

    #[test]
    fn contributions_sum_to_score() {
        let data = Array2::from_shape_fn((50, 3), |(i, j)| ((i * 13 + j * 5) % 11) as f64);
        let fit = CopodParams::default().fit(data.view(), 0).unwrap();
        let row = data.row(7);
        let total: f64 = fit.model.contributions(row).iter().sum();
        assert!((total - fit.training_scores[7]).abs() < 1e-9);
    }
}
