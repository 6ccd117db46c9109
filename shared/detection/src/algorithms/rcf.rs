//! Random Cut Forest (Guha et al. 2016) through the `rcf3` crate.
//!
//! Why `rcf3`: among the maintained Rust RCF crates (krcflib/krcf — Apache-2.0, a port of
//! AWS's `rcflib`; rcf3 — MIT/Apache-2.0), rcf3 has a small dependency tree (ndarray,
//! rand 0.10 as we use), a seeded builder, serde state (needed to store models and, for
//! time series, stream state between invocations), per-dimension attribution, and an
//! `&self` score usable from many threads. See the crate README for the comparison.
//!
//! Batch use: every training row is streamed into the forest in a seeded random order with
//! a negligible time decay, so each tree holds a near-uniform sample of `sample_size` rows;
//! rows are then scored against the final forest.
//!
//! Explanation: occlusion, as for Isolation Forest (score drop when a feature is set to its
//! training median). rcf3's own `attribution` credits each tree node's cut dimension rather
//! than the dimensions in which the query leaves the bounding box (the DI-vector of AWS's
//! RCF), and in our tests it blamed the wrong feature of an obvious outlier.

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rcf3::Forest;
use serde::{Deserialize, Serialize};

use super::{
    Detector, Fitted, FittedDetector, column_medians, occlusion_contributions, score_rows,
};
use crate::error::{DetectionError, Result, invalid};
use crate::stats::check_data;

/// Parameters of RCF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RcfParams {
    /// Number of trees (1–1,000; default 100).
    pub num_trees: usize,
    /// Points kept per tree (4–10,000; default 256).
    pub sample_size: usize,
}

impl Default for RcfParams {
    fn default() -> Self {
        Self {
            num_trees: 100,
            sample_size: 256,
        }
    }
}

/// A fitted RCF model.
#[derive(Clone, Serialize, Deserialize)]
pub struct FittedRcf {
    forest: Forest,
    n_features: usize,
    /// Training medians, used for occlusion explanations.
    reference: Vec<f64>,
}

impl std::fmt::Debug for FittedRcf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FittedRcf")
            .field("num_trees", &self.forest.num_trees())
            .field("n_features", &self.n_features)
            .finish()
    }
}

fn rcf_error(e: rcf3::RcfError) -> DetectionError {
    DetectionError::Internal {
        component: "random cut forest",
        message: e.to_string(),
    }
}

impl Detector for RcfParams {
    type Fitted = FittedRcf;

    fn validate(&self) -> Result<()> {
        if !(1..=1000).contains(&self.num_trees) {
            return Err(invalid(
                "num_trees",
                format!("must be between 1 and 1000, got {}", self.num_trees),
            ));
        }
        if !(4..=10_000).contains(&self.sample_size) {
            return Err(invalid(
                "sample_size",
                format!("must be between 4 and 10000, got {}", self.sample_size),
            ));
        }
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedRcf>> {
        self.validate()?;
        check_data(data, "rcf", 2)?;
        let mut forest = Forest::builder(data.ncols())
            .shingle_size(1)
            .num_trees(self.num_trees)
            .capacity(self.sample_size)
            .time_decay(1e-9)
            .seed(seed)
            .build()
            .map_err(rcf_error)?;
        let mut order: Vec<usize> = (0..data.nrows()).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_5eed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let mut point = vec![0f32; data.ncols()];
        for &i in &order {
            for (p, &v) in point.iter_mut().zip(data.row(i)) {
                *p = v as f32;
            }
            forest.update(&point).map_err(rcf_error)?;
        }
        let model = FittedRcf {
            forest,
            n_features: data.ncols(),
            reference: column_medians(data),
        };
        let training_scores = model.score(data);
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedRcf {
    fn as_f32(row: &[f64]) -> Vec<f32> {
        row.iter().map(|&v| v as f32).collect()
    }

    fn score_one(&self, row: &[f64]) -> f64 {
        // Dimensions were checked by the caller, so rcf3 cannot reject the query.
        self.forest.score(&Self::as_f32(row)).unwrap_or(f64::NAN)
    }
}

impl FittedDetector for FittedRcf {
    /// The forest is rcf3's state, whose trees it walks recursively: a stored forest
    /// whose nodes point in a circle overflowed the stack (found by the `model_envelope`
    /// fuzz target), which no `catch_unwind` survives. rcf3 offers no check of its own,
    /// so its serialized form (rcf3 0.5, pinned) is walked here first.
    fn check(&self) -> std::result::Result<(), String> {
        super::same_len("reference", self.reference.len(), self.n_features)?;
        let forest = serde_json::to_value(&self.forest).map_err(|e| e.to_string())?;
        check_forest(&forest, self.n_features)
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| self.score_one(row))
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        occlusion_contributions(row, &self.reference, |r| self.score_one(r))
    }
}

/// Every tree of a serialized rcf3 forest is a tree: from its root, internal nodes cut a
/// known dimension and lead to nodes of the arena not seen before; leaves name points of
/// the point store.
fn check_forest(forest: &serde_json::Value, dims: usize) -> std::result::Result<(), String> {
    let unreadable = || "the forest's layout is not the one this build reads".to_string();
    let as_index = |v: &serde_json::Value| v.as_u64().and_then(|i| usize::try_from(i).ok());
    let store = &forest["point_store"];
    if as_index(&store["dim"]) != Some(dims)
        || as_index(&forest["config"]["input_dim"]) != Some(dims)
    {
        return Err(format!("the forest is not over {dims} features"));
    }
    let points = store["store"]["dim"]
        .get(0)
        .and_then(as_index)
        .ok_or_else(unreadable)?;
    let trees = forest["trees"].as_array().ok_or_else(unreadable)?;
    for (t, tree) in trees.iter().enumerate() {
        let nodes = tree["arena"]["nodes"].as_array().ok_or_else(unreadable)?;
        let Some(root) = as_index(&tree["root"]) else {
            if tree["root"].is_null() {
                continue;
            }
            return Err(unreadable());
        };
        let mut seen = vec![false; nodes.len()];
        let mut stack = vec![root];
        while let Some(at) = stack.pop() {
            let bad = || format!("tree {t}: node {at} is not part of a tree");
            if at >= nodes.len() || std::mem::replace(&mut seen[at], true) {
                return Err(bad());
            }
            let node = &nodes[at];
            if let Some(leaf) = node.get("Leaf") {
                if as_index(&leaf["point_idx"]).is_none_or(|p| p >= points) {
                    return Err(bad());
                }
            } else if let Some(internal) = node.get("Internal") {
                let cut = as_index(&internal["cut_dim"]).ok_or_else(unreadable)?;
                let bounds = |side: &str| internal["bbox"][side].as_array().map(Vec::len);
                if cut >= dims || bounds("min") != Some(dims) || bounds("max") != Some(dims) {
                    return Err(bad());
                }
                for side in ["left", "right"] {
                    stack.push(as_index(&internal[side]).ok_or_else(bad)?);
                }
            } else {
                return Err(unreadable());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn isolated_point_scores_highest_and_is_attributed() {
        let mut rows: Vec<[f64; 2]> = (0..300)
            .map(|i| [(i % 17) as f64 * 0.1, (i % 13) as f64 * 0.1])
            .collect();
        rows.push([1.0, 30.0]);
        let data = Array2::from(rows);
        let fit = RcfParams::default().fit(data.view(), 1).unwrap();
        let s = &fit.training_scores;
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 300);
        let c = fit.model.contributions(ndarray::array![0.8, 40.0].view());
        assert!(c[1] > c[0], "{c:?}");
    }

    #[test]
    fn deterministic_with_seed() {
        let data = Array2::from_shape_fn((100, 3), |(i, j)| ((i * 7 + j * 3) % 19) as f64);
        let a = RcfParams::default()
            .fit(data.view(), 9)
            .unwrap()
            .training_scores;
        let b = RcfParams::default()
            .fit(data.view(), 9)
            .unwrap()
            .training_scores;
        assert_eq!(a, b);
        assert!(
            RcfParams {
                num_trees: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
