//! Nearest-neighbour index shared by KNN and LOF: a kd-tree with bounding-box pruning.
//!
//! Why our own: the kept crates did not fit. `kiddo` needs the dimension as a compile-time
//! constant (ours is known only at run time); `petal-neighbors`' ball tree works at any
//! dimension but measured about 4× slower than scikit-learn's trees on the benchmark
//! datasets, which would have made KNN/LOF slower than PyOD. This tree splits at the
//! median along the dimension of largest variance, never inside a run of equal values
//! (see [`split_at_median`]), keeps leaves of at most [`LEAF_SIZE`] rows contiguous in
//! memory, and prunes with nanoflann's incremental lower bound: each node stores the gap
//! between its children along the split dimension, so the distance from the query to a
//! node's region is updated in O(1) per step.
//!
//! With many features the tree is built in the rows' principal axes (centred, times the
//! eigenvectors of their covariance): a rotation keeps Euclidean distances, but the tree's
//! axis-aligned splits then follow the directions where the data varies. On correlated
//! features (e.g. 36 spectral bands of 3×3 pixels) this cut the time per query threefold.
//! Only the tree lives in rotated coordinates: distances between rows are computed on the
//! original values, so they (and ties between them) are exact.
//! The index serialises as the training matrix and rebuilds the tree on load.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DetectionError, Result};

/// Most rows in a leaf. 32 rather than 16: measured side by side on the benchmark sets
/// with 5,000+ rows, KNN and LOF were 6-14% faster (fewer nodes and boxes per query, and
/// the leaf scan vectorises over more rows); 48 and 64 were no faster. The size depends
/// on nothing but the data, so a model loaded from disk rebuilds the very same tree: ties
/// between equidistant neighbours are broken by tree order, and a loaded LOF model must
/// score exactly as the one that was saved.
const LEAF_SIZE: usize = 32;

/// Rows sampled to choose the split axis of a large node.
const SPREAD_SAMPLE: usize = 256;

/// Marks a leaf whose rows are all identical.
const IDENTICAL_ROWS: u32 = u32::MAX;

/// Rotated trees first compare rows on this many leading axes.
const ROTATED_PREFIX: usize = 6;

/// From this many features on, the tree is built in principal axes.
const ROTATE_FROM_DIMS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// Range of positions in `points` covered by the node.
    start: u32,
    end: u32,
    /// Children (both 0 for a leaf; the root is node 0, so 0 is never a child).
    left: u32,
    right: u32,
    /// Split dimension.
    axis: u32,
    /// A leaf's index among the leaves (its box in `leaf_boxes`).
    leaf: u32,
    /// Largest value of the left child and smallest of the right child along `axis`.
    left_max: f64,
    right_min: f64,
}

/// A kd-tree over the training rows.
#[derive(Clone, PartialEq)]
pub(crate) struct NeighborIndex {
    dims: usize,
    /// Mean of the training rows.
    mean: Vec<f64>,
    /// Rotation, row-major: row `r` is the r-th principal axis.
    rotation: Vec<f64>,
    /// Rows in tree order, row-major, original coordinates.
    points: Vec<f64>,
    /// The rows' first [`Self::leading_dims`] tree coordinates again, leaf by leaf in
    /// dimension-major order (the `m` values of dimension 0, then of dimension 1, ...), so
    /// a leaf scan is vectorised across rows (a rotated tree's scan reads no further, so
    /// the other axes are not kept).
    leaf_columns: Vec<f64>,
    /// Original row index of each position.
    order: Vec<u32>,
    /// Position of each original row.
    position: Vec<u32>,
    nodes: Vec<Node>,
    /// Bounding box of all rows (tree coordinates): lower bounds, then upper bounds.
    bounds: Vec<f64>,
    /// Whether the tree is built in rotated coordinates.
    rotated: bool,
    /// Tight bounding box of each leaf's rows over the first [`Self::leading_dims`] tree
    /// coordinates, leaf by leaf (`Node::leaf`): lower bounds, then upper bounds.
    leaf_boxes: Vec<f64>,
}

impl std::fmt::Debug for NeighborIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighborIndex")
            .field("rows", &self.order.len())
            .field("features", &self.dims)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// The k best candidates so far, sorted by squared distance.
struct Candidates {
    k: usize,
    items: Vec<(f64, u32)>,
}

impl Candidates {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn reset(&mut self, k: usize) {
        self.k = k;
        self.items.clear();
    }

    #[inline]
    fn worst(&self) -> f64 {
        if self.items.len() < self.k {
            f64::INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }

    #[inline]
    fn push(&mut self, d2: f64, position: u32) {
        let len = self.items.len();
        if len == self.k {
            if d2 >= self.items[len - 1].0 {
                return;
            }
            self.items.pop();
        }
        // Insertion from the back: k is small, so shifting a few entries beats a search
        // plus a memmove call.
        self.items.push((d2, position));
        let mut i = self.items.len() - 1;
        while i > 0 && self.items[i - 1].0 > d2 {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[i] = (d2, position);
    }
}

/// Every training row's nearest neighbours, from [`NeighborIndex::training_neighbours`].
pub(crate) struct TrainingNeighbours {
    /// Neighbour positions of position `p`: `positions[p * k..(p + 1) * k]`, nearest first.
    pub positions: Vec<u32>,
    /// Their distances, in the same layout.
    pub distances: Vec<f64>,
}

/// Squared Euclidean distance, summed in four independent lanes: a single running sum
/// waits on every addition in turn, which dominated searches over 36 features.
#[inline(always)]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let (chunks_a, chunks_b) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let mut lanes = [0.0f64; 4];
    for (x, y) in chunks_a.zip(chunks_b) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += (x - y) * (x - y);
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

impl NeighborIndex {
    pub(crate) fn build(data: ArrayView2<'_, f64>) -> Result<Self> {
        Ok(Self::build_tree(data)?.0)
    }

    /// Builds the index and finds the `k` nearest neighbours of every training row (see
    /// [`Self::training_neighbours`]).
    pub(crate) fn build_with_training_neighbours(
        data: ArrayView2<'_, f64>,
        k: usize,
    ) -> Result<(Self, TrainingNeighbours)> {
        let (index, rotated_points) = Self::build_tree(data)?;
        let neighbours = index.training_neighbours(k, &rotated_points);
        Ok((index, neighbours))
    }

    /// The index and, when the tree is rotated, the rows in tree order and tree
    /// coordinates (empty otherwise). Only the fit's queries of the training rows read
    /// those coordinates (leaf scans and boxes have `leaf_columns` and `leaf_boxes`; new
    /// rows are rotated as they come), so the index does not keep them: n × d values
    /// (290 MB for a million rows of 36 features) for nothing in a stored model.
    fn build_tree(data: ArrayView2<'_, f64>) -> Result<(Self, Vec<f64>)> {
        let (n, dims) = data.dim();
        if n == 0 || dims == 0 {
            return Err(DetectionError::EmptyInput);
        }
        if n > u32::MAX as usize {
            return Err(DetectionError::Internal {
                component: "kd-tree",
                message: format!("{n} rows is more than the index supports"),
            });
        }
        let rotated = dims >= ROTATE_FROM_DIMS;
        let (mean, rotation, tree_coordinates) = if rotated {
            principal_axes(data)
        } else {
            (Vec::new(), Vec::new(), Array2::zeros((0, 0)))
        };
        let mut index = Self {
            dims,
            mean,
            rotation,
            points: Vec::new(),
            leaf_columns: Vec::new(),
            order: Vec::new(),
            position: Vec::new(),
            nodes: Vec::with_capacity(2 * n / LEAF_SIZE + 1),
            bounds: Vec::new(),
            rotated,
            leaf_boxes: Vec::new(),
        };
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut rotated_points = Vec::new();
        if rotated {
            index.split(tree_coordinates.view(), &mut order, 0);
            rotated_points.reserve_exact(n * dims);
            for &i in &order {
                rotated_points.extend(tree_coordinates.row(i as usize).iter());
            }
        } else {
            index.split(data, &mut order, 0);
        }
        drop(tree_coordinates);
        let mut points = Vec::with_capacity(n * dims);
        for &i in &order {
            points.extend(data.row(i as usize).iter());
        }
        let mut position = vec![0u32; n];
        for (p, &i) in order.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        let tree_points = if rotated { &rotated_points } else { &points };
        let box_dims = index.leading_dims();
        let mut leaf_columns = vec![0.0; n * box_dims];
        let leaves = index.nodes.iter().filter(|n| n.left == 0).count();
        let mut leaf_boxes = vec![0.0; 2 * box_dims * leaves];
        for (id, node) in index.nodes.iter_mut().filter(|n| n.left == 0).enumerate() {
            node.leaf = id as u32;
            let (start, end) = (node.start as usize, node.end as usize);
            let m = end - start;
            for p in 0..m {
                for j in 0..box_dims {
                    leaf_columns[start * box_dims + j * m + p] =
                        tree_points[(start + p) * dims + j];
                }
            }
            let (lo, hi) =
                leaf_boxes[2 * box_dims * id..2 * box_dims * (id + 1)].split_at_mut(box_dims);
            lo.fill(f64::INFINITY);
            hi.fill(f64::NEG_INFINITY);
            for row in tree_points[start * dims..end * dims].chunks_exact(dims) {
                for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                    *l = l.min(v);
                    *h = h.max(v);
                }
            }
        }
        index.leaf_boxes = leaf_boxes;
        index.points = points;
        index.leaf_columns = leaf_columns;
        index.order = order;
        index.position = position;
        Ok((index, rotated_points))
    }

    /// Tree coordinates a leaf scan sums first and leaf boxes cover: all of them, or in a
    /// rotated tree the leading axes.
    fn leading_dims(&self) -> usize {
        if self.rotated {
            self.dims.min(ROTATED_PREFIX)
        } else {
            self.dims
        }
    }

    /// Squared distance from `t` (tree coordinates) to the bounding box of leaf number
    /// `leaf`. Rounding keeps it at most the distance the leaf scan computes for any of its
    /// rows (each per-axis gap is at most that row's difference, and rounded sums and
    /// squares are monotone), so a box at or beyond the scan's limit holds no candidate.
    #[inline]
    fn leaf_box_distance(&self, leaf: usize, t: &[f64]) -> f64 {
        let box_dims = self.leading_dims();
        let (lo, hi) =
            self.leaf_boxes[2 * box_dims * leaf..2 * box_dims * (leaf + 1)].split_at(box_dims);
        let mut d2 = 0.0;
        for ((&x, &l), &h) in t.iter().zip(lo).zip(hi) {
            let gap = (l - x).max(x - h).max(0.0);
            d2 += gap * gap;
        }
        d2
    }

    /// Squared distance (tree coordinates) from which a leaf row cannot be a candidate: the
    /// k-th best, with a margin for rounding when the tree is rotated (rotated distances
    /// only filter; the exact distance on the original values decides).
    #[inline]
    fn scan_limit(&self, best: &Candidates) -> f64 {
        if self.rotated {
            best.worst() * (1.0 + 1e-9)
        } else {
            best.worst()
        }
    }

    /// A query row in tree coordinates (borrowed when the tree is not rotated).
    fn tree_coordinates<'a>(&self, row: &'a [f64]) -> std::borrow::Cow<'a, [f64]> {
        if self.rotated {
            let mut out = vec![0.0; self.dims];
            rotate(&self.mean, &self.rotation, row.iter().copied(), &mut out);
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(row)
        }
    }

    /// Builds the subtree over `order[..]` (positions starting at `offset`); returns its id.
    fn split(&mut self, data: ArrayView2<'_, f64>, order: &mut [u32], offset: usize) -> u32 {
        let id = self.nodes.len();
        self.nodes.push(Node {
            start: offset as u32,
            end: (offset + order.len()) as u32,
            left: 0,
            right: 0,
            axis: 0,
            leaf: 0,
            left_max: 0.0,
            right_min: 0.0,
        });
        let dims = self.dims;
        if id == 0 {
            let (lo, hi) = extent(data, order.iter());
            self.bounds.extend_from_slice(&lo);
            self.bounds.extend_from_slice(&hi);
        }
        if order.len() <= LEAF_SIZE {
            return id as u32;
        }
        // The split axis only steers the search's speed, not its result, so a large node
        // picks it from a sample of its rows: the exact spread of every node would read
        // every row once per tree level, in random order.
        let step = (order.len() / SPREAD_SAMPLE).max(1);
        let (mut axis, mut spread) = widest_axis(data, order.iter().step_by(step));
        if spread <= 0.0 {
            // No variance in the sample: the full extent decides (squared deviations of
            // tiny differences could even underflow to zero).
            let (lo, hi) = extent(data, order.iter());
            (axis, spread) = (0..dims)
                .map(|j| (j, hi[j] - lo[j]))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
        }
        if spread <= 0.0 {
            // Every row here is the same point: a query needs only the first k of them.
            self.nodes[id].axis = IDENTICAL_ROWS;
            return id as u32;
        }
        let value = |i: &u32| data[[*i as usize, axis]];
        let (mid, left_max, right_min) = split_at_median(order, value);
        let (left_rows, right_rows) = order.split_at_mut(mid);
        let left = self.split(data, left_rows, offset);
        let right = self.split(data, right_rows, offset + mid);
        let node = &mut self.nodes[id];
        node.left = left;
        node.right = right;
        node.axis = axis as u32;
        node.left_max = left_max;
        node.right_min = right_min;
        id as u32
    }

    /// Depth-first search with nanoflann's bound: `offsets[j]` is the query's squared
    /// distance to the current region along dimension j, `bound` their sum.
    fn search(
        &self,
        node: usize,
        (q, t): (&[f64], &[f64]),
        best: &mut Candidates,
        offsets: &mut [f64],
        bound: f64,
    ) {
        let n = self.nodes[node];
        if n.left == 0 {
            // The cell the bound measures is wider than the rows in it: their own box rules
            // out a quarter to two thirds of the leaves a search reaches (two thirds on
            // shuttle's integer data, 12% faster there; 7% on cover's LOF; no slower on
            // the other benchmark sets).
            if self.leaf_box_distance(n.leaf as usize, t) >= self.scan_limit(best) {
                return;
            }
            let dims = self.dims;
            let rows = &self.points[n.start as usize * dims..n.end as usize * dims];
            if n.axis == IDENTICAL_ROWS {
                let d2 = squared_distance(q, &rows[..dims]);
                let take = (n.end - n.start).min(best.k as u32);
                for p in n.start..n.start + take {
                    best.push(d2, p);
                }
            } else {
                // Distances to all rows of the leaf at once, dimension by dimension, in
                // tree coordinates (without rotation these are the rows' squared
                // distances, summed in dimension order: `squared_distance`'s four lanes
                // may differ from them in the last bits).
                let m = (n.end - n.start) as usize;
                let leading = self.leading_dims();
                let columns = &self.leaf_columns
                    [n.start as usize * leading..(n.start as usize + m) * leading];
                let mut acc = [0.0f64; LEAF_SIZE];
                let acc = &mut acc[..m];
                // Rotated: the leading axes carry most of the variance, so a partial sum
                // over them already rules most rows out.
                for (column, &x) in columns.chunks_exact(m).zip(t).take(leading) {
                    for (a, &v) in acc.iter_mut().zip(column) {
                        let diff = x - v;
                        *a += diff * diff;
                    }
                }
                // Most rows are farther than the k-th best (rotated: even on the leading
                // axes): a branch-free pass marks the few that may not be (a branch per
                // row mispredicted often enough to cost a tenth of a rotated search, and
                // 3-12% of LOF's without rotation), and only those are visited, in order,
                // against the bound as it tightens.
                let limit = self.scan_limit(best);
                let mut candidates = acc
                    .iter()
                    .enumerate()
                    .fold(0u64, |mask, (k, &d2)| mask | (u64::from(d2 < limit) << k));
                while candidates != 0 {
                    let k = candidates.trailing_zeros() as usize;
                    candidates &= candidates - 1;
                    let position = n.start + k as u32;
                    if !self.rotated {
                        // The exact distance (`push` keeps it only if it is better).
                        best.push(acc[k], position);
                    } else if acc[k] < self.scan_limit(best) {
                        // Rotated distances are exact up to rounding: a filter; the exact
                        // distance on the original values decides, computed straight away
                        // (checking the remaining rotated axes first read a third copy of
                        // the rows: with 36 features the working set then outgrew the
                        // 2 MiB L2, and dropping that step made LOF 5-9% faster).
                        let row = &rows[k * dims..(k + 1) * dims];
                        best.push(squared_distance(q, row), position);
                    }
                }
            }
            return;
        }
        let axis = n.axis as usize;
        let x = t[axis];
        // Distances from the query to each child's extent along the split axis; visit the
        // nearer child first.
        let to_left = (x - n.left_max).max(0.0);
        let to_right = (n.right_min - x).max(0.0);
        let (near, far, gap) = if to_left <= to_right {
            (n.left, n.right, to_right)
        } else {
            (n.right, n.left, to_left)
        };
        self.search(near as usize, (q, t), best, offsets, bound);
        let old = offsets[axis];
        let far_offset = gap * gap;
        let far_bound = bound - old + far_offset.max(old);
        // Strict: a region that can only hold ties with the k-th distance adds nothing.
        if far_bound < best.worst() {
            offsets[axis] = far_offset.max(old);
            self.search(far as usize, (q, t), best, offsets, far_bound);
            offsets[axis] = old;
        }
    }

    /// The `k` nearest rows of `q` (original coordinates).
    fn knn(&self, q: &[f64], k: usize) -> (Vec<usize>, Vec<f64>) {
        let mut best = Candidates::new(k);
        let mut offsets = Vec::with_capacity(self.dims);
        let t = self.tree_coordinates(q);
        self.search_from_root(q, &t, k, &mut best, &mut offsets);
        best.items
            .iter()
            .map(|&(d2, p)| (self.order[p as usize] as usize, d2.sqrt()))
            .unzip()
    }

    /// Fills `best` with the `k` nearest positions of `q` (`t`: `q` in tree coordinates);
    /// `best` and `offsets` are scratch space reused across queries.
    fn search_from_root(
        &self,
        q: &[f64],
        t: &[f64],
        k: usize,
        best: &mut Candidates,
        offsets: &mut Vec<f64>,
    ) {
        let k = k.min(self.order.len());
        best.reset(k);
        if k == 0 {
            return;
        }
        let (lo, hi) = self.bounds.split_at(self.dims);
        offsets.clear();
        offsets.extend(t.iter().zip(lo.iter().zip(hi)).map(|(&x, (&l, &h))| {
            let d = (l - x).max(x - h).max(0.0);
            d * d
        }));
        let bound = offsets.iter().sum();
        self.search(0, (q, t), best, offsets, bound);
    }

    /// The `k` nearest neighbours of every training row, not counting the row itself
    /// (scikit-learn's `kneighbors()` without `X`), in parallel.
    ///
    /// Results are flat and in tree order (position `p` is training row `row_at(p)`, its
    /// neighbours are positions too): no allocation per row, and consecutive queries
    /// touch the same leaves.
    ///
    /// `rotated_points`: the rows in tree order and tree coordinates, from
    /// [`Self::build_tree`] (empty when the tree is not rotated).
    fn training_neighbours(&self, k: usize, rotated_points: &[f64]) -> TrainingNeighbours {
        const CHUNK: usize = 256;
        let n = self.order.len();
        let k = k.min(n.saturating_sub(1));
        let mut positions = vec![0u32; n * k];
        let mut distances = vec![0.0; n * k];
        if k > 0 {
            positions
                .par_chunks_mut(CHUNK * k)
                .zip(distances.par_chunks_mut(CHUNK * k))
                .enumerate()
                .for_each_init(
                    || (Candidates::new(k + 1), Vec::with_capacity(self.dims)),
                    |(best, offsets), (chunk, (positions, distances))| {
                        let rows = positions
                            .chunks_exact_mut(k)
                            .zip(distances.chunks_exact_mut(k));
                        for (r, (positions, distances)) in rows.enumerate() {
                            let p = chunk * CHUNK + r;
                            let q = &self.points[p * self.dims..(p + 1) * self.dims];
                            let t = if self.rotated {
                                &rotated_points[p * self.dims..(p + 1) * self.dims]
                            } else {
                                q
                            };
                            self.search_from_root(q, t, k + 1, best, offsets);
                            // Leave the row itself out; among identical rows it may not
                            // have been kept, and then the farthest candidate goes.
                            let items = &best.items;
                            let own = items
                                .iter()
                                .position(|&(_, o)| o as usize == p)
                                .unwrap_or(items.len() - 1);
                            let others = items[..own].iter().chain(&items[own + 1..]);
                            for ((slot, distance), &(d2, o)) in
                                positions.iter_mut().zip(distances.iter_mut()).zip(others)
                            {
                                *slot = o;
                                *distance = d2.sqrt();
                            }
                        }
                    },
                );
        }
        TrainingNeighbours {
            positions,
            distances,
        }
    }

    /// Values given per tree position, put back in training-row order.
    pub(crate) fn to_row_order<T: Copy + Default>(&self, by_position: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); by_position.len()];
        for (&row, &value) in self.order.iter().zip(by_position) {
            out[row as usize] = value;
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn n_features(&self) -> usize {
        self.dims
    }

    /// Training row `i` (original index).
    fn point(&self, i: usize) -> &[f64] {
        let at = self.position[i] as usize * self.dims;
        &self.points[at..at + self.dims]
    }

    /// The `k` nearest training rows of `row`, nearest first: (original indices, distances).
    pub(crate) fn query(&self, row: &[f64], k: usize) -> (Vec<usize>, Vec<f64>) {
        self.knn(row, k)
    }

    /// The `k` nearest training rows of training row `i`, not counting `i` itself.
    #[cfg(test)]
    pub(crate) fn query_training(&self, i: usize, k: usize) -> (Vec<usize>, Vec<f64>) {
        let (mut idx, mut dist) = self.knn(self.point(i), k + 1);
        let drop = idx.iter().position(|&j| j == i).unwrap_or(idx.len() - 1);
        idx.remove(drop);
        dist.remove(drop);
        (idx, dist)
    }

    /// Per-feature share of the squared distance between `row` and its `k` nearest
    /// training rows (a row identical to `row`, i.e. `row` itself, is skipped).
    pub(crate) fn distance_contributions(&self, row: ArrayView1<'_, f64>, k: usize) -> Vec<f64> {
        let row = row.to_vec();
        let (idx, dist) = self.query(&row, (k + 1).min(self.len()));
        let mut contributions = vec![0.0; row.len()];
        let mut used = 0usize;
        for (&j, &d) in idx.iter().zip(&dist) {
            if d == 0.0 || used == k {
                continue;
            }
            for (c, (&x, &y)) in contributions.iter_mut().zip(row.iter().zip(self.point(j))) {
                *c += (x - y) * (x - y) / d;
            }
            used += 1;
        }
        if used > 0 {
            contributions.iter_mut().for_each(|c| *c /= used as f64);
        }
        contributions
    }

    fn training_matrix(&self) -> Array2<f64> {
        Array2::from_shape_fn((self.len(), self.dims), |(i, j)| self.point(i)[j])
    }
}

/// The axis along which the given rows vary most, and their sum of squared deviations
/// along it (0 when the rows are all the same point).
///
/// By variance rather than range (scikit-learn's rule): on skewed columns the range is
/// set by a few outliers, and halving the bulk along the axis where it is really spread
/// makes cells a neighbourhood overlaps fewer (5-NN queries on annthyroid visited 11
/// leaves instead of 14, on satellite 48 instead of 55).
fn widest_axis<'a>(
    data: ArrayView2<'_, f64>,
    rows: impl Iterator<Item = &'a u32> + Clone,
) -> (usize, f64) {
    let dims = data.ncols();
    let mut mean = vec![0.0; dims];
    let mut count = 0.0;
    for &i in rows.clone() {
        for (m, &v) in mean.iter_mut().zip(data.row(i as usize)) {
            *m += v;
        }
        count += 1.0;
    }
    mean.iter_mut().for_each(|m| *m /= count);
    let mut squares = vec![0.0; dims];
    for &i in rows {
        for ((s, &m), &v) in squares.iter_mut().zip(&mean).zip(data.row(i as usize)) {
            *s += (v - m) * (v - m);
        }
    }
    squares
        .into_iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

/// Reorders `rows` around the median of `value` and returns the split point with the
/// largest value left of it and the smallest right of it.
///
/// When the median value repeats (integer and rounded columns: pixel values, counts),
/// the whole run of it goes to one side, the one that leaves the halves closer to equal,
/// unless the other side would then hold less than 1/32 of the rows (which bounds the
/// depth). A split inside a run leaves no gap between the halves, so a query sitting on
/// that value (and queries are training rows, so many do) could never rule out the far
/// half on this axis: measured on shuttle (49,097 rows of integers), 5-NN queries
/// visited 69 leaves each, 20 with runs kept whole (1/8 instead of 1/32: 22 and 4%
/// slower; no limit: no faster).
fn split_at_median(rows: &mut [u32], value: impl Fn(&u32) -> f64) -> (usize, f64, f64) {
    let len = rows.len();
    let mid = len / 2;
    rows.select_nth_unstable_by(mid, |a, b| value(a).total_cmp(&value(b)));
    let median = value(&rows[mid]);
    let max_of = |rows: &[u32]| rows.iter().map(&value).fold(f64::NEG_INFINITY, f64::max);
    let min_of = |rows: &[u32]| rows.iter().map(&value).fold(f64::INFINITY, f64::min);
    let left_max = max_of(&rows[..mid]);
    if left_max < median {
        return (mid, left_max, median);
    }
    // Values left of `mid` are <= median and right of it >= median: gather the run of
    // medians at the end of the left part and the start of the right part.
    let (left, right) = rows.split_at_mut(mid);
    let below = partition(left, |i| value(i) < median);
    let run_end = mid + partition(right, |i| value(i) == median);
    let balanced = [below, run_end]
        .into_iter()
        .filter(|&at| at.min(len - at) >= len / 32 && at > 0 && at < len)
        .min_by_key(|&at| at.abs_diff(mid));
    match balanced {
        Some(at) => (at, max_of(&rows[..at]), min_of(&rows[at..])),
        None => (mid, left_max, median),
    }
}

/// Moves the items that satisfy `first` to the front (in a deterministic order); returns
/// how many there are.
fn partition(items: &mut [u32], first: impl Fn(&u32) -> bool) -> usize {
    let mut next = 0;
    for i in 0..items.len() {
        if first(&items[i]) {
            items.swap(next, i);
            next += 1;
        }
    }
    next
}

/// Per-column minimum and maximum of the given rows.
fn extent<'a>(
    data: ArrayView2<'_, f64>,
    rows: impl Iterator<Item = &'a u32>,
) -> (Vec<f64>, Vec<f64>) {
    let dims = data.ncols();
    let mut lo = vec![f64::INFINITY; dims];
    let mut hi = vec![f64::NEG_INFINITY; dims];
    for &i in rows {
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(data.row(i as usize)) {
            // Plain comparisons: the values are finite, and `f64::min` pays for NaN rules.
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
        }
    }
    (lo, hi)
}

/// Mean and principal axes (eigenvectors of the covariance, largest variance first).
fn principal_axes(data: ArrayView2<'_, f64>) -> (Vec<f64>, Vec<f64>, Array2<f64>) {
    let (n, d) = data.dim();
    let mut mean = vec![0.0; d];
    for row in data.rows() {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut centred = data.to_owned();
    for mut row in centred.rows_mut() {
        for (c, m) in row.iter_mut().zip(&mean) {
            *c -= m;
        }
    }
    // Matrix products (blocked and vectorised by `matrixmultiply`) rather than a loop
    // per row: the covariance and the rotation were a fifth of a 36-feature fit.
    let gram = centred.t().dot(&centred);
    let cov = DMatrix::<f64>::from_fn(d, d, |a, b| gram[[a, b]]);
    let eig = SymmetricEigen::new(cov);
    let mut axes: Vec<usize> = (0..d).collect();
    axes.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut rotation: Vec<f64> = Vec::with_capacity(d * d);
    for &a in &axes {
        rotation.extend(eig.eigenvectors.column(a).iter());
    }
    if rotation.iter().any(|v| !v.is_finite()) {
        // Degenerate input: fall back to the identity (no rotation).
        rotation = (0..d * d)
            .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
            .collect();
    }
    let axes = ArrayView2::from_shape((d, d), &rotation)
        .map_or_else(|_| Array2::eye(d), |r| r.t().to_owned());
    let rotated = centred.dot(&axes);
    (mean, rotation, rotated)
}

/// `out = R (x − mean)`.
fn rotate(mean: &[f64], rotation: &[f64], x: impl Iterator<Item = f64> + Clone, out: &mut [f64]) {
    let d = mean.len();
    for (r, o) in out.iter_mut().enumerate() {
        let axis = &rotation[r * d..(r + 1) * d];
        *o = x
            .clone()
            .zip(mean)
            .zip(axis)
            .map(|((v, m), a)| (v - m) * a)
            .sum();
    }
}

impl Serialize for NeighborIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.training_matrix().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NeighborIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let points = Array2::<f64>::deserialize(deserializer)?;
        Self::build(points.view()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force reference.
    fn brute(data: &Array2<f64>, q: &[f64], k: usize) -> Vec<f64> {
        let mut d: Vec<f64> = data
            .rows()
            .into_iter()
            .map(|r| squared_distance(r.as_slice().unwrap(), q).sqrt())
            .collect();
        d.sort_by(f64::total_cmp);
        d.truncate(k);
        d
    }

    #[test]
    fn matches_brute_force_on_pseudo_random_data() {
        let data = Array2::from_shape_fn((700, 5), |(i, j)| {
            (((i * 7919 + j * 104_729) % 1000) as f64 / 37.0).sin() * (j + 1) as f64
        });
        let index = NeighborIndex::build(data.view()).unwrap();
        for i in (0..700).step_by(37) {
            let q: Vec<f64> = data.row(i).iter().map(|v| v + 0.01).collect();
            let (idx, dist) = index.query(&q, 7);
            // Distances are computed in rotated coordinates: equal up to rounding.
            for (a, b) in dist.iter().zip(brute(&data, &q, 7)) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
            for (j, d) in idx.iter().zip(&dist) {
                let direct = squared_distance(data.row(*j).as_slice().unwrap(), &q).sqrt();
                assert!((direct - d).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_big_tree_matches_brute_force() {
        let n = 101_000;
        let data = Array2::from_shape_fn((n, 3), |(i, j)| {
            (((i * 7919 + j * 104_729) % 100_003) as f64 / 37.0).sin() * (j + 1) as f64
        });
        let index = NeighborIndex::build(data.view()).unwrap();
        for i in (0..n).step_by(9_973) {
            let q: Vec<f64> = data.row(i).iter().map(|v| v + 0.001).collect();
            let (_, dist) = index.query(&q, 21);
            assert_eq!(dist, brute(&data, &q, 21));
        }
    }

    #[test]
    fn rotated_tree_matches_brute_force_exactly() {
        // 20 correlated features: the tree is built in principal axes.
        let data = Array2::from_shape_fn((500, 20), |(i, j)| {
            let t = ((i * 7919) % 997) as f64 / 97.0;
            t * (j as f64 + 1.0) + ((i * 31 + j * 17) % 13) as f64 * 0.01
        });
        let index = NeighborIndex::build(data.view()).unwrap();
        assert!(index.rotated);
        for i in (0..500).step_by(23) {
            let q: Vec<f64> = data.row(i).iter().map(|v| v + 0.003).collect();
            let (_, dist) = index.query(&q, 5);
            assert_eq!(
                dist,
                brute(&data, &q, 5),
                "distances are exact, not rotated"
            );
        }
    }

    #[test]
    fn all_training_neighbours_match_brute_force() {
        for dims in [3, 20] {
            let data = Array2::from_shape_fn((900, dims), |(i, j)| {
                (((i * 7919 + j * 104_729) % 1013) as f64 / 41.0).cos() * (j % 4 + 1) as f64
            });
            let (index, all) =
                NeighborIndex::build_with_training_neighbours(data.view(), 4).unwrap();
            for i in (0..900).step_by(29) {
                let p = index.position[i] as usize;
                let idx: Vec<usize> = all.positions[p * 4..(p + 1) * 4]
                    .iter()
                    .map(|&o| index.order[o as usize] as usize)
                    .collect();
                let dist = &all.distances[p * 4..(p + 1) * 4];
                assert!(!idx.contains(&i));
                let mut expected: Vec<f64> = (0..900)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let (a, b) = (data.row(i), data.row(j));
                        squared_distance(a.as_slice().unwrap(), b.as_slice().unwrap()).sqrt()
                    })
                    .collect();
                expected.sort_by(f64::total_cmp);
                expected.truncate(4);
                assert_eq!(dist, &expected[..], "dims {dims}, row {i}");
            }
        }
    }

    #[test]
    fn repeated_values_are_never_split_across_children() {
        // Integer columns with few values (as pixel values and counts are): every split
        // keeps each run of equal values on one side, so the children are apart.
        let data = Array2::from_shape_fn((2_000, 3), |(i, j)| {
            ((i / 11usize.pow(j as u32)) % 11) as f64
        });
        let index = NeighborIndex::build(data.view()).unwrap();
        let splits: Vec<&Node> = index.nodes.iter().filter(|node| node.left != 0).collect();
        assert!(splits.len() > 10);
        for node in splits {
            assert!(node.left_max < node.right_min, "{node:?}");
        }
        for i in (0..2_000).step_by(97) {
            let q: Vec<f64> = data.row(i).to_vec();
            let (_, dist) = index.query(&q, 9);
            assert_eq!(dist, brute(&data, &q, 9));
        }
    }

    #[test]
    fn duplicates_and_self_exclusion() {
        let data = Array2::from_shape_fn((100, 2), |(i, _)| (i / 50) as f64);
        let index = NeighborIndex::build(data.view()).unwrap();
        let (idx, dist) = index.query_training(3, 5);
        assert_eq!(dist, vec![0.0; 5]);
        assert!(!idx.contains(&3));
        let round: NeighborIndex =
            serde_json::from_str(&serde_json::to_string(&index).unwrap()).unwrap();
        assert_eq!(round.training_matrix(), data);
        assert_eq!(round.query(&[0.0, 0.0], 3), index.query(&[0.0, 0.0], 3));
    }
}
