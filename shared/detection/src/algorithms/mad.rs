//! Robust z-score per feature (Iglewicz & Hoaglin 1993): `z_j = |x_j − median_j| /
//! (1.4826 · MAD_j)`; the row's score is its largest `z_j`, and each `z_j` is that
//! feature's contribution. A feature whose MAD is zero falls back to 1.2533 × the mean
//! absolute deviation, and to a scale of 1 when that is zero too (a constant feature).

use ndarray::{ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::Result;
use crate::stats::{check_data, robust_location_scale};

/// Parameters of the MAD detector (none to tune).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadParams {}

/// A fitted MAD model: per-feature median and robust scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedMad {
    median: Vec<f64>,
    scale: Vec<f64>,
}

impl Detector for MadParams {
    type Fitted = FittedMad;

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedMad>> {
        check_data(data, "mad", 1)?;
        let (median, scale) = data
            .axis_iter(Axis(1))
            .map(|col| robust_location_scale(&col.to_vec()))
            .unzip();
        let model = FittedMad { median, scale };
        let training_scores = model.score(data);
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedDetector for FittedMad {
    fn check(&self) -> std::result::Result<(), String> {
        super::same_len("scale", self.scale.len(), self.median.len())
    }

    fn n_features(&self) -> usize {
        self.median.len()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| {
            row.iter()
                .zip(self.median.iter().zip(&self.scale))
                .map(|(x, (m, s))| (x - m).abs() / s)
                .fold(0.0, f64::max)
        })
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        row.iter()
            .zip(self.median.iter().zip(&self.scale))
            .map(|(x, (m, s))| (x - m).abs() / s)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn robust_z_of_known_values() {
        // median 3, MAD 1 → scale 1.4826
        let data = array![[1.0], [2.0], [3.0], [4.0], [5.0]];
        let fit = MadParams::default().fit(data.view(), 0).unwrap();
        assert!((fit.training_scores[4] - 2.0 / 1.4826).abs() < 1e-12);
        let s = fit.model.score(array![[33.0]].view());
        assert!((s[0] - 30.0 / 1.4826).abs() < 1e-9);
    }

    #[test]
    fn constant_feature_falls_back_to_unit_scale() {
        let data = array![[7.0, 1.0], [7.0, 2.0], [7.0, 3.0]];
        let fit = MadParams::default().fit(data.view(), 0).unwrap();
        let c = fit.model.contributions(array![9.0, 2.0].view());
        assert_eq!(c, vec![2.0, 0.0]);
    }
}
