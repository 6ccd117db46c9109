//! Isolation Forest (Liu, Ting & Zhou 2008), following scikit-learn's `IsolationForest`:
//! each tree is grown on `max_samples` rows drawn without replacement, splitting on a
//! random non-constant feature at a uniform random threshold, down to
//! `ceil(log2(max_samples))` levels. The score is `2^(-E[h(x)] / c(max_samples))` in (0, 1],
//! higher = more anomalous.

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, column_medians, occlusion_contributions};
use crate::error::{Result, invalid};
use crate::stats::{average_path_length, check_data};

/// Parameters of [`IsolationForest`](FittedIsolationForest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolationForestParams {
    /// Number of trees (1–10,000; default 100).
    pub n_estimators: usize,
    /// Rows sampled per tree, capped at the number of rows (2–1,000,000; default 256).
    pub max_samples: usize,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: 256,
        }
    }
}

/// One node of a flattened tree (16 bytes). Children are stored side by side, so a
/// descent is `left + (x > threshold)` with no branch on the direction. Leaves carry their
/// whole path-length contribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    /// Split threshold (`x <= value` goes left); for a leaf, `depth + c(size)`.
    value: f64,
    /// Split feature, or `u32::MAX` for a leaf.
    feature: u32,
    /// Index of the left child; the right child is `left + 1`.
    left: u32,
}

const LEAF: u32 = u32::MAX;
const EMPTY: Node = Node {
    value: 0.0,
    feature: LEAF,
    left: 0,
};

/// One isolation tree, nodes in depth-first order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    #[inline]
    fn path_length(&self, row: &[f64]) -> f64 {
        let mut node = &self.nodes[0];
        while node.feature != LEAF {
            let go_right = row[node.feature as usize] > node.value;
            node = &self.nodes[node.left as usize + usize::from(go_right)];
        }
        node.value
    }
}

/// A tree laid out for branch-free scoring of many rows at once: leaves point to
/// themselves with an infinite threshold, so every row can take exactly `depth` steps.
#[derive(Debug, Clone, PartialEq)]
struct FlatTree {
    nodes: Vec<Node>,
    /// Path length of each node if it is a leaf (0 for internal nodes).
    path: Vec<f64>,
    depth: usize,
}

impl FlatTree {
    fn from_tree(tree: &Tree) -> Self {
        let mut nodes = tree.nodes.clone();
        let mut path = vec![0.0; nodes.len()];
        let mut depth = vec![0usize; nodes.len()];
        let mut max_depth = 0;
        for i in 0..nodes.len() {
            if nodes[i].feature == LEAF {
                path[i] = nodes[i].value;
                nodes[i] = Node {
                    value: f64::INFINITY,
                    feature: 0,
                    left: i as u32,
                };
            } else {
                let left = nodes[i].left as usize;
                depth[left] = depth[i] + 1;
                depth[left + 1] = depth[i] + 1;
                max_depth = max_depth.max(depth[i] + 1);
            }
        }
        Self {
            nodes,
            path,
            depth: max_depth,
        }
    }

    /// Adds each row's path length to `acc`. Rows go through in groups of eight, level
    /// by level, so the eight independent descents overlap in the CPU's pipeline.
    fn accumulate(&self, rows: &[f64], d: usize, acc: &mut [f64]) {
        const LANES: usize = 8;
        let mut groups = acc.chunks_exact_mut(LANES);
        let mut row_groups = rows.chunks_exact(LANES * d);
        for (acc, rows) in (&mut groups).zip(&mut row_groups) {
            let mut at = [0usize; LANES];
            for _ in 0..self.depth {
                for (l, a) in at.iter_mut().enumerate() {
                    let node = &self.nodes[*a];
                    let x = rows[l * d + node.feature as usize];
                    *a = node.left as usize + usize::from(x > node.value);
                }
            }
            for (s, a) in acc.iter_mut().zip(at) {
                *s += self.path[a];
            }
        }
        for (s, row) in groups
            .into_remainder()
            .iter_mut()
            .zip(row_groups.remainder().chunks_exact(d))
        {
            let mut a = 0usize;
            for _ in 0..self.depth {
                let node = &self.nodes[a];
                a = node.left as usize + usize::from(row[node.feature as usize] > node.value);
            }
            *s += self.path[a];
        }
    }
}

/// A fitted Isolation Forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedIsolationForest {
    trees: Vec<Tree>,
    /// Scoring layout of `trees`, built on first use.
    #[serde(skip)]
    flat: std::sync::OnceLock<Vec<FlatTree>>,
    n_features: usize,
    /// `c(max_samples)`: the normaliser of the mean path length.
    normaliser: f64,
    /// Training medians, used for occlusion explanations.
    reference: Vec<f64>,
}

struct TreeBuilder<'a> {
    /// The tree's sample, column-major: feature `f` of sample row `r` is
    /// `columns[f * stride + r]`.
    columns: &'a [f64],
    /// Sample size.
    m: usize,
    /// Distance between features in `columns` (see `fit_tree`).
    stride: usize,
    max_depth: usize,
    nodes: Vec<Node>,
    rng: Xoshiro256PlusPlus,
    features: Vec<usize>,
}

impl TreeBuilder<'_> {
    fn leaf(&mut self, at: usize, depth: usize, size: usize) {
        self.nodes[at] = Node {
            value: depth as f64 + average_path_length(size),
            feature: LEAF,
            left: 0,
        };
    }

    /// Grows the subtree rooted at the (already allocated) node `at`.
    fn grow(&mut self, at: usize, rows: &mut [usize], depth: usize) {
        if depth >= self.max_depth || rows.len() <= 1 {
            return self.leaf(at, depth, rows.len());
        }
        // Draw features in random order until one is not constant in this node, as
        // scikit-learn's random splitter does; an all-constant node is a leaf.
        let n_features = self.features.len();
        let mut remaining = n_features;
        let split = loop {
            if remaining == 0 {
                break None;
            }
            let pick = self.rng.random_range(0..remaining);
            self.features.swap(pick, remaining - 1);
            let feature = self.features[remaining - 1];
            remaining -= 1;
            let column = &self.columns[feature * self.stride..feature * self.stride + self.m];
            // Plain comparisons (inputs are finite, validated on entry) compile to
            // branch-free min/max, unlike the NaN-aware `f64::min`.
            let (lo, hi) = rows
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                    let v = column[r];
                    (if v < lo { v } else { lo }, if v > hi { v } else { hi })
                });
            if hi > lo {
                let mut threshold = lo + (hi - lo) * self.rng.random::<f64>();
                if threshold >= hi {
                    threshold = lo;
                }
                break Some((feature, threshold));
            }
        };
        let Some((feature, threshold)) = split else {
            return self.leaf(at, depth, rows.len());
        };
        // Partition rows: `<= threshold` first.
        // Branch-free Lomuto partition: a random threshold makes the branch unpredictable,
        // so always swap and advance `mid` by the comparison instead.
        let column = &self.columns[feature * self.stride..feature * self.stride + self.m];
        let mut mid = 0;
        for i in 0..rows.len() {
            let goes_left = column[rows[i]] <= threshold;
            rows.swap(i, mid);
            mid += usize::from(goes_left);
        }
        let left = self.nodes.len();
        self.nodes.extend([EMPTY, EMPTY]);
        self.nodes[at] = Node {
            value: threshold,
            feature: feature as u32,
            left: left as u32,
        };
        let (left_rows, right_rows) = rows.split_at_mut(mid);
        self.grow(left, left_rows, depth + 1);
        self.grow(left + 1, right_rows, depth + 1);
    }
}

impl IsolationForestParams {
    fn fit_tree(
        &self,
        data: ArrayView2<'_, f64>,
        sample_size: usize,
        seed: u64,
        population: &mut Population,
    ) -> Tree {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        // Partial Fisher–Yates: the first `sample_size` entries are a uniform sample.
        let n = data.nrows();
        let rows: Vec<usize> = if sample_size == n {
            (0..n).collect()
        } else {
            population.sample(&mut rng, n, sample_size)
        };
        let max_depth = (sample_size.max(2) as f64).log2().ceil() as usize;
        // Copy the sample into a small column-major block: the splits below scan one
        // feature of a node's rows at a time.
        let m = rows.len();
        // With the default 256 rows, a stride of exactly 2 KiB sends every feature's writes
        // to the same two L1 cache sets (24 lines): with more features than that this
        // copy took a quarter of the fit (36 features, measured), so their columns are set
        // 8 values further apart (12% faster there; with few features, 2-4% slower).
        let stride = if data.ncols() > 16 { m + 8 } else { m };
        let mut columns = vec![0.0; stride * data.ncols()];
        for (k, &r) in rows.iter().enumerate() {
            for (f, &v) in data.row(r).iter().enumerate() {
                columns[f * stride + k] = v;
            }
        }
        let mut rows: Vec<usize> = (0..m).collect();
        let mut builder = TreeBuilder {
            columns: &columns,
            m,
            stride,
            max_depth,
            nodes: Vec::with_capacity(2 * sample_size),
            rng,
            features: (0..data.ncols()).collect(),
        };
        builder.nodes.push(EMPTY);
        builder.grow(0, &mut rows, 0);
        Tree {
            nodes: builder.nodes,
        }
    }
}

/// Largest population drawn from with a dense table (4 MiB of `u32` per thread at most).
const DENSE_POPULATION_MAX: usize = 1 << 20;

/// A dense Fisher–Yates table over `0..n`, kept per thread across trees and restored after
/// each draw: a draw of `k` costs O(k) once the table exists. (A fresh table per tree cost
/// O(n) each time: on 11,000 rows, 7-10% of the whole fit.)
#[derive(Default)]
struct Population {
    slots: Vec<u32>,
    swaps: Vec<usize>,
}

impl Population {
    /// `k` distinct indices from `0..n`, uniformly: the same draws, and the same sample,
    /// as [`sparse_sample`], which is used for populations too big for a table.
    fn sample(&mut self, rng: &mut impl Rng, n: usize, k: usize) -> Vec<usize> {
        if n > DENSE_POPULATION_MAX {
            return sparse_sample(rng, n, k);
        }
        if self.slots.len() != n {
            self.slots = (0..n as u32).collect();
        }
        self.swaps.clear();
        for i in 0..k {
            let j = rng.random_range(i..n);
            self.slots.swap(i, j);
            self.swaps.push(j);
        }
        let sample = self.slots[..k].iter().map(|&r| r as usize).collect();
        // Undo the swaps, last first: the table is `0..n` again for the next tree.
        for (i, &j) in self.swaps.iter().enumerate().rev() {
            self.slots.swap(i, j);
        }
        sample
    }
}

/// Fisher–Yates over a virtual array, remembering only the swapped slots.
fn sparse_sample(rng: &mut impl Rng, n: usize, k: usize) -> Vec<usize> {
    let mut swapped = std::collections::HashMap::with_capacity(2 * k);
    let mut out = Vec::with_capacity(k);
    for i in 0..k {
        let j = rng.random_range(i..n);
        let vj = *swapped.get(&j).unwrap_or(&j);
        let vi = *swapped.get(&i).unwrap_or(&i);
        swapped.insert(j, vi);
        out.push(vj);
    }
    out
}

impl Detector for IsolationForestParams {
    type Fitted = FittedIsolationForest;

    fn validate(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.n_estimators) {
            return Err(invalid(
                "n_estimators",
                format!("must be between 1 and 10000, got {}", self.n_estimators),
            ));
        }
        if !(2..=1_000_000).contains(&self.max_samples) {
            return Err(invalid(
                "max_samples",
                format!("must be between 2 and 1000000, got {}", self.max_samples),
            ));
        }
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedIsolationForest>> {
        self.validate()?;
        check_data(data, "iforest", 2)?;
        let sample_size = self.max_samples.min(data.nrows());
        // Each tree gets its own seed derived from the forest seed, so the forest is the
        // same whatever the number of threads.
        let mut seeder = Xoshiro256PlusPlus::seed_from_u64(seed);
        let seeds: Vec<u64> = (0..self.n_estimators).map(|_| seeder.random()).collect();
        let trees: Vec<Tree> = seeds
            .par_iter()
            .map_init(Population::default, |population, &s| {
                self.fit_tree(data, sample_size, s, population)
            })
            .collect();
        let model = FittedIsolationForest {
            flat: std::sync::OnceLock::new(),
            trees,
            n_features: data.ncols(),
            normaliser: average_path_length(sample_size),
            reference: column_medians(data),
        };
        let training_scores = model.score(data);
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedIsolationForest {
    fn score_one(&self, row: &[f64]) -> f64 {
        let total: f64 = self.trees.iter().map(|t| t.path_length(row)).sum();
        self.anomaly_score(total)
    }

    fn anomaly_score(&self, total_path: f64) -> f64 {
        let mean = total_path / self.trees.len() as f64;
        if self.normaliser > 0.0 {
            2f64.powf(-mean / self.normaliser)
        } else {
            1.0
        }
    }
}

impl FittedDetector for FittedIsolationForest {
    /// Every internal node splits on a known feature and points to two later nodes of
    /// its tree (so every descent ends, at a leaf).
    fn check(&self) -> std::result::Result<(), String> {
        super::same_len("reference", self.reference.len(), self.n_features)?;
        for (t, tree) in self.trees.iter().enumerate() {
            if tree.nodes.is_empty() {
                return Err(format!("tree {t} has no nodes"));
            }
            for (i, node) in tree.nodes.iter().enumerate() {
                if node.feature == LEAF {
                    continue;
                }
                let left = node.left as usize;
                if node.feature as usize >= self.n_features
                    || left <= i
                    || left + 1 >= tree.nodes.len()
                {
                    return Err(format!("tree {t}, node {i} points outside its tree"));
                }
            }
        }
        Ok(())
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        // Tree by tree over a block of rows: one tree (a few KB) stays in L1 cache while
        // the block's rows stream past it.
        const BLOCK: usize = 256;
        let data = data.as_standard_layout();
        let d = data.ncols();
        let Some(flat) = data.as_slice() else {
            return Vec::new();
        };
        let mut out = vec![0.0; data.nrows()];
        let trees = self
            .flat
            .get_or_init(|| self.trees.iter().map(FlatTree::from_tree).collect());
        out.par_chunks_mut(BLOCK)
            .zip(flat.par_chunks(BLOCK * d))
            .for_each(|(scores, rows)| {
                for tree in trees {
                    tree.accumulate(rows, d, scores);
                }
                for s in scores.iter_mut() {
                    *s = self.anomaly_score(*s);
                }
            });
        out
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        occlusion_contributions(row, &self.reference, |r| self.score_one(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn blob_with_outlier() -> Array2<f64> {
        // A filled 20 × 10 grid on [0, 1] × [0, 0.5] and one far point.
        let mut rows: Vec<[f64; 2]> = (0..200)
            .map(|i| [(i % 20) as f64 / 19.0, (i / 20) as f64 / 18.0])
            .collect();
        rows.push([8.0, -7.0]);
        Array2::from(rows)
    }

    #[test]
    fn isolates_the_far_point() {
        let data = blob_with_outlier();
        let fit = IsolationForestParams::default()
            .fit(data.view(), 7)
            .unwrap();
        let scores = fit.training_scores;
        let max_idx = (0..scores.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        assert_eq!(max_idx, 200);
        assert!(scores.iter().all(|&s| s > 0.0 && s <= 1.0));
    }

    #[test]
    fn same_seed_same_scores_different_seed_different() {
        let data = blob_with_outlier();
        let p = IsolationForestParams::default();
        let a = p.fit(data.view(), 1).unwrap().training_scores;
        let b = p.fit(data.view(), 1).unwrap().training_scores;
        let c = p.fit(data.view(), 2).unwrap().training_scores;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn rejects_bad_parameters() {
        let p = IsolationForestParams {
            n_estimators: 0,
            ..Default::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("n_estimators"), "{err}");
        let p = IsolationForestParams {
            max_samples: 1,
            ..Default::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("max_samples")
        );
    }

    #[test]
    fn explanation_blames_the_shifted_feature() {
        let data = blob_with_outlier();
        let fit = IsolationForestParams::default()
            .fit(data.view(), 3)
            .unwrap();
        let c = fit.model.contributions(array![0.5, 9.0].view());
        assert!(c[1] > c[0], "{c:?}");
    }

    #[test]
    fn dense_and_sparse_sampling_draw_the_same_rows() {
        let mut a = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut b = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut population = Population::default();
        // The table is reused: every draw must match a fresh sparse draw.
        for _ in 0..3 {
            let dense = population.sample(&mut a, 5000, 256);
            assert_eq!(dense, sparse_sample(&mut b, 5000, 256));
            let mut unique = dense.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 256);
        }
        assert!(
            population
                .slots
                .iter()
                .enumerate()
                .all(|(i, &r)| r as usize == i)
        );
    }

    #[test]
    fn constant_data_gives_equal_scores() {
        let data = Array2::from_elem((50, 3), 1.5);
        let fit = IsolationForestParams::default()
            .fit(data.view(), 0)
            .unwrap();
        let first = fit.training_scores[0];
        assert!(fit.training_scores.iter().all(|&s| s == first));
    }
}
