//! Local Outlier Factor (Breunig et al. 2000), following scikit-learn's
//! `LocalOutlierFactor`: reachability distance `max(k-distance(o), d(p, o))`, local
//! reachability density `1 / (mean reach-dist + 1e-10)`, and LOF = mean lrd of the
//! neighbours / lrd of the row. New rows are scored against the training neighbourhoods
//! (scikit-learn's `novelty=True`) without changing them.
//!
//! Explanation: each feature's share of the squared distances to the k neighbours
//! (LOF itself is not additive over features, so this says which features set the row
//! apart from its neighbourhood).

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::knn::validate_neighbors;
use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::Result;
use crate::neighbors::NeighborIndex;
use crate::stats::check_data;

/// Parameters of LOF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LofParams {
    /// Number of neighbours (1–1,000, capped at rows − 1 like scikit-learn; default 20).
    pub n_neighbors: usize,
}

impl Default for LofParams {
    fn default() -> Self {
        Self { n_neighbors: 20 }
    }
}

/// A fitted LOF model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedLof {
    index: NeighborIndex,
    n_neighbors: usize,
    /// k-distance of every training row.
    k_distance: Vec<f64>,
    /// Local reachability density of every training row.
    lrd: Vec<f64>,
}

/// Local reachability density from the neighbours' ids (rows or tree positions, whichever
/// `k_distance` is indexed by) and distances.
fn lrd<I: Copy>(
    neighbours: &[I],
    id: impl Fn(I) -> usize,
    distances: &[f64],
    k_distance: &[f64],
) -> f64 {
    let reach: f64 = neighbours
        .iter()
        .zip(distances)
        .map(|(&o, &d)| d.max(k_distance[id(o)]))
        .sum();
    1.0 / (reach / neighbours.len() as f64 + 1e-10)
}

/// LOF: the neighbours' mean lrd over the row's own.
fn lof<I: Copy>(
    neighbours: &[I],
    id: impl Fn(I) -> usize + Copy,
    distances: &[f64],
    (k_distance, lrds): (&[f64], &[f64]),
) -> f64 {
    let own = lrd(neighbours, id, distances, k_distance);
    let mean_neighbour: f64 =
        neighbours.iter().map(|&o| lrds[id(o)]).sum::<f64>() / neighbours.len() as f64;
    mean_neighbour / own
}

impl FittedLof {
    fn lof_of(&self, neighbours: &[usize], distances: &[f64]) -> f64 {
        lof(neighbours, |o| o, distances, (&self.k_distance, &self.lrd))
    }
}

impl Detector for LofParams {
    type Fitted = FittedLof;

    fn validate(&self) -> Result<()> {
        validate_neighbors(self.n_neighbors)
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedLof>> {
        self.validate()?;
        check_data(data, "lof", 2)?;
        let k = self.n_neighbors.min(data.nrows() - 1);
        // Everything in tree order (see `training_neighbours`), back to rows at the end.
        let (index, neighbours) = NeighborIndex::build_with_training_neighbours(data, k)?;
        let as_index = |p: u32| p as usize;
        let by_position = || {
            neighbours
                .positions
                .par_chunks(k)
                .zip(neighbours.distances.par_chunks(k))
        };
        let k_distance: Vec<f64> = neighbours.distances.chunks(k).map(|d| d[k - 1]).collect();
        let lrd: Vec<f64> = by_position()
            .map(|(positions, distances)| lrd(positions, as_index, distances, &k_distance))
            .collect();
        let scores: Vec<f64> = by_position()
            .map(|(positions, distances)| lof(positions, as_index, distances, (&k_distance, &lrd)))
            .collect();
        let model = FittedLof {
            n_neighbors: k,
            k_distance: index.to_row_order(&k_distance),
            lrd: index.to_row_order(&lrd),
            index,
        };
        let training_scores = model.index.to_row_order(&scores);
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedDetector for FittedLof {
    fn check(&self) -> std::result::Result<(), String> {
        super::knn::check_neighbours(self.n_neighbors, self.index.len())?;
        super::same_len("k_distance", self.k_distance.len(), self.index.len())?;
        super::same_len("lrd", self.lrd.len(), self.index.len())
    }

    fn n_features(&self) -> usize {
        self.index.n_features()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| {
            let (idx, dist) = self.index.query(row, self.n_neighbors);
            self.lof_of(&idx, &dist)
        })
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        self.index.distance_contributions(row, self.n_neighbors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn uniform_grid_has_lof_one_and_outlier_higher() {
        let mut rows: Vec<[f64; 2]> = (0..100)
            .map(|i| [(i % 10) as f64, (i / 10) as f64])
            .collect();
        rows.push([30.0, 30.0]);
        let data = Array2::from(rows);
        let fit = LofParams { n_neighbors: 5 }.fit(data.view(), 0).unwrap();
        let s = &fit.training_scores;
        assert!(s[100] > 3.0, "{}", s[100]);
        // an interior grid point is an inlier: LOF close to 1
        assert!((s[44] - 1.0).abs() < 0.2, "{}", s[44]);
    }

    #[test]
    fn hand_computed_lof_on_a_line() {
        // points 0,1,2 and 10, k = 1
        let data = array![[0.0], [1.0], [2.0], [10.0]];
        let fit = LofParams { n_neighbors: 1 }.fit(data.view(), 0).unwrap();
        // k-dist: [1, 1, 1, 8]; lrd(10) = 1/8, neighbour 2 has lrd 1 → LOF = 8
        assert!((fit.training_scores[3] - 8.0).abs() < 1e-6);
    }

    #[test]
    fn scoring_new_rows_leaves_the_model_alone() {
        let data = Array2::from_shape_fn((60, 2), |(i, j)| ((i * 3 + j) % 11) as f64);
        let fit = LofParams::default().fit(data.view(), 0).unwrap();
        let before = fit.model.clone();
        let s = fit.model.score(array![[100.0, 100.0], [5.0, 5.0]].view());
        assert!(s[0] > s[1]);
        assert_eq!(before, fit.model);
    }
}
