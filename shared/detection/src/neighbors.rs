//! Nearest-neighbour index shared by KNN and LOF: petal-neighbors' ball tree (Euclidean),
//! the same structure scikit-learn uses for these detectors. It serialises as the training
//! matrix and is rebuilt on load.

use ndarray::{Array2, ArrayView1, ArrayView2};
use petal_neighbors::BallTree;
use petal_neighbors::distance::Euclidean;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DetectionError, Result};

/// A ball tree over the training rows.
pub(crate) struct NeighborIndex {
    tree: BallTree<'static, f64, Euclidean>,
}

impl std::fmt::Debug for NeighborIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighborIndex")
            .field("rows", &self.tree.points.nrows())
            .field("features", &self.tree.points.ncols())
            .finish()
    }
}

impl Clone for NeighborIndex {
    fn clone(&self) -> Self {
        // Rebuilding from the same points cannot fail: they built a tree before.
        Self::from_owned(self.tree.points.to_owned()).unwrap_or_else(|_| unreachable!())
    }
}

impl PartialEq for NeighborIndex {
    fn eq(&self, other: &Self) -> bool {
        self.tree.points == other.tree.points
    }
}

impl NeighborIndex {
    pub(crate) fn build(data: ArrayView2<'_, f64>) -> Result<Self> {
        Self::from_owned(data.as_standard_layout().into_owned())
    }

    fn from_owned(points: Array2<f64>) -> Result<Self> {
        let tree = BallTree::euclidean(points).map_err(|e| DetectionError::Internal {
            component: "ball tree",
            message: e.to_string(),
        })?;
        Ok(Self { tree })
    }

    pub(crate) fn len(&self) -> usize {
        self.tree.points.nrows()
    }

    pub(crate) fn n_features(&self) -> usize {
        self.tree.points.ncols()
    }

    pub(crate) fn point(&self, i: usize) -> ArrayView1<'_, f64> {
        self.tree.points.row(i)
    }

    /// The `k` nearest training rows of `row`, nearest first.
    pub(crate) fn query(&self, row: ArrayView1<'_, f64>, k: usize) -> (Vec<usize>, Vec<f64>) {
        self.tree.query(&row, k)
    }

    /// The `k` nearest training rows of training row `i`, not counting `i` itself
    /// (scikit-learn's `kneighbors()` without `X`).
    pub(crate) fn query_training(&self, i: usize, k: usize) -> (Vec<usize>, Vec<f64>) {
        let (mut idx, mut dist) = self.tree.query(&self.tree.points.row(i), k + 1);
        let drop = idx.iter().position(|&j| j == i).unwrap_or(idx.len() - 1);
        idx.remove(drop);
        dist.remove(drop);
        (idx, dist)
    }

    /// Per-feature share of the squared distance between `row` and its `k` nearest
    /// training rows (a row identical to `row`, i.e. `row` itself, is skipped).
    pub(crate) fn distance_contributions(&self, row: ArrayView1<'_, f64>, k: usize) -> Vec<f64> {
        let (idx, dist) = self.query(row, (k + 1).min(self.len()));
        let mut contributions = vec![0.0; row.len()];
        let mut used = 0usize;
        for (&j, &d) in idx.iter().zip(&dist) {
            if d == 0.0 || used == k {
                continue;
            }
            let neighbour = self.point(j);
            for (c, (&x, &y)) in contributions.iter_mut().zip(row.iter().zip(neighbour)) {
                *c += (x - y) * (x - y) / d;
            }
            used += 1;
        }
        if used > 0 {
            contributions.iter_mut().for_each(|c| *c /= used as f64);
        }
        contributions
    }
}

impl Serialize for NeighborIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.tree.points.view().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NeighborIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let points = Array2::<f64>::deserialize(deserializer)?;
        if points.nrows() == 0 || points.ncols() == 0 {
            return Err(serde::de::Error::custom("empty neighbour index"));
        }
        Self::from_owned(points).map_err(serde::de::Error::custom)
    }
}
