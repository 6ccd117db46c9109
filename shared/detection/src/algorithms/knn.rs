//! k-nearest-neighbour distance (Ramaswamy et al. 2000; Angiulli & Pizzuti 2002) as in
//! PyOD's `KNN`: the score of a row is the distance to its k-th nearest training row
//! (`largest`), or the mean / median of the distances to its k nearest. A training row is
//! not its own neighbour. Neighbours come from a ball tree, never an O(n²) scan.
//!
//! Explanation: each feature's share of the squared distances to the k neighbours.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::{Result, invalid};
use crate::neighbors::NeighborIndex;
use crate::stats::{check_data, median_in_place};

/// How the k neighbour distances become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KnnMethod {
    /// Distance to the k-th neighbour.
    #[default]
    Largest,
    /// Mean distance to the k neighbours.
    Mean,
    /// Median distance to the k neighbours.
    Median,
}

/// Parameters of KNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnParams {
    /// Number of neighbours (1–1,000; fewer than the number of rows; default 5).
    pub n_neighbors: usize,
    /// Distance aggregation (default `largest`).
    pub method: KnnMethod,
    /// At most this many training rows, sampled with the seed, are kept as neighbours
    /// (default: all, as PyOD). Caps the model's size and the cost of a query on large
    /// tables; the other training rows are scored against the sample like new rows.
    pub max_reference_rows: Option<usize>,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            n_neighbors: 5,
            method: KnnMethod::Largest,
            max_reference_rows: None,
        }
    }
}

/// A fitted KNN model: the training rows in a ball tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedKnn {
    index: NeighborIndex,
    n_neighbors: usize,
    method: KnnMethod,
}

/// A stored neighbour count: at least 1, and no more than the rows that can be neighbours.
pub(crate) fn check_neighbours(n_neighbors: usize, rows: usize) -> std::result::Result<(), String> {
    if n_neighbors == 0 || n_neighbors > rows {
        return Err(format!(
            "{n_neighbors} neighbours among {rows} training rows"
        ));
    }
    Ok(())
}

pub(crate) fn validate_neighbors(n_neighbors: usize) -> Result<()> {
    if !(1..=1000).contains(&n_neighbors) {
        return Err(invalid(
            "n_neighbors",
            format!("must be between 1 and 1000, got {n_neighbors}"),
        ));
    }
    Ok(())
}

fn aggregate(method: KnnMethod, distances: &mut [f64]) -> f64 {
    match method {
        KnnMethod::Largest => distances.last().copied().unwrap_or(0.0),
        KnnMethod::Mean => distances.iter().sum::<f64>() / distances.len().max(1) as f64,
        KnnMethod::Median => median_in_place(distances),
    }
}

impl Detector for KnnParams {
    type Fitted = FittedKnn;

    fn validate(&self) -> Result<()> {
        validate_neighbors(self.n_neighbors)?;
        match self.max_reference_rows {
            Some(cap) if cap <= self.n_neighbors => Err(invalid(
                "max_reference_rows",
                format!(
                    "must be more than n_neighbors ({}), got {cap}",
                    self.n_neighbors
                ),
            )),
            _ => Ok(()),
        }
    }

    fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedKnn>> {
        self.validate()?;
        check_data(data, "knn", self.n_neighbors + 1)?;
        let k = self.n_neighbors;
        let method = self.method;
        let n = data.nrows();
        let reference = match self.max_reference_rows {
            Some(cap) if cap < n => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let mut rows = rand::seq::index::sample(&mut rng, n, cap).into_vec();
                rows.sort_unstable();
                Some(rows)
            }
            _ => None,
        };
        let sample = reference.as_ref().map(|rows| data.select(Axis(0), rows));
        let (index, mut neighbours) = NeighborIndex::build_with_training_neighbours(
            sample.as_ref().map_or(data, |s| s.view()),
            k,
        )?;
        let by_position: Vec<f64> = neighbours
            .distances
            .par_chunks_mut(k)
            .map(|distances| aggregate(method, distances))
            .collect();
        let model = FittedKnn {
            index,
            n_neighbors: k,
            method: self.method,
        };
        let reference_scores = model.index.to_row_order(&by_position);
        let training_scores = match reference {
            None => reference_scores,
            Some(rows) => {
                // Rows in the sample are not their own neighbours; the others (only
                // those: each query costs) are scored against the whole sample.
                let mut in_sample = vec![false; n];
                for &row in &rows {
                    in_sample[row] = true;
                }
                let others: Vec<usize> = (0..n).filter(|&i| !in_sample[i]).collect();
                let other_scores = model.score(data.select(Axis(0), &others).view());
                let mut scores = vec![0.0; n];
                for (&row, score) in rows.iter().zip(reference_scores) {
                    scores[row] = score;
                }
                for (&row, score) in others.iter().zip(other_scores) {
                    scores[row] = score;
                }
                scores
            }
        };
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedDetector for FittedKnn {
    fn check(&self) -> std::result::Result<(), String> {
        check_neighbours(self.n_neighbors, self.index.len())
    }

    fn n_features(&self) -> usize {
        self.index.n_features()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| {
            aggregate(self.method, &mut self.index.query(row, self.n_neighbors).1)
        })
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        self.index.distance_contributions(row, self.n_neighbors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn distances_exclude_self_on_training_rows() {
        let data = array![[0.0], [1.0], [3.0], [10.0]];
        let p = KnnParams {
            n_neighbors: 1,
            ..Default::default()
        };
        let fit = p.fit(data.view(), 0).unwrap();
        assert_eq!(fit.training_scores, vec![1.0, 1.0, 2.0, 7.0]);
        // New rows see every training row, including an identical one.
        assert_eq!(
            fit.model.score(array![[3.0], [20.0]].view()),
            vec![0.0, 10.0]
        );
    }

    #[test]
    fn methods_aggregate_differently() {
        let data = array![[0.0], [1.0], [2.0], [4.0], [8.0]];
        let score_of = |method| {
            KnnParams {
                n_neighbors: 3,
                method,
                ..Default::default()
            }
            .fit(data.view(), 0)
            .unwrap()
            .training_scores[0]
        };
        assert_eq!(score_of(KnnMethod::Largest), 4.0);
        assert!((score_of(KnnMethod::Mean) - 7.0 / 3.0).abs() < 1e-12);
        assert_eq!(score_of(KnnMethod::Median), 2.0);
    }

    #[test]
    fn a_capped_reference_set_scores_every_row_against_the_sample() {
        let data =
            ndarray::Array2::from_shape_fn((300, 2), |(i, j)| ((i * 7 + j * 13) % 29) as f64);
        let capped = KnnParams {
            max_reference_rows: Some(50),
            ..Default::default()
        };
        let fit = capped.fit(data.view(), 3).unwrap();
        assert_eq!(fit.model.index.len(), 50);
        // Same seed, same sample; another seed, another sample.
        assert_eq!(
            capped.fit(data.view(), 3).unwrap().training_scores,
            fit.training_scores
        );
        let rescored = fit.model.score(data.view());
        let mut excluded_self = 0;
        for (trained, again) in fit.training_scores.iter().zip(&rescored) {
            // A sampled row does not count itself, so its training score is never lower.
            assert!(trained >= again);
            excluded_self += usize::from(trained > again);
        }
        assert!(excluded_self > 0 && excluded_self <= 50, "{excluded_self}");
        let err = KnnParams {
            max_reference_rows: Some(5),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("max_reference_rows"), "{err}");
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let data = array![[0.0], [1.0]];
        let err = KnnParams::default().fit(data.view(), 0).unwrap_err();
        assert!(err.to_string().contains("at least 6 rows"), "{err}");
    }

    #[test]
    fn explanation_points_at_the_deviating_feature() {
        let data = ndarray::Array2::from_shape_fn((40, 2), |(i, j)| (i % 7) as f64 + j as f64);
        let fit = KnnParams::default().fit(data.view(), 0).unwrap();
        let c = fit.model.contributions(array![3.0, 40.0].view());
        assert!(c[1] > 10.0 * c[0], "{c:?}");
    }
}
