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

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::Result;
use crate::stats::{check_finite, check_shape, column_major, key_value, order_key, skewness};

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
    check_shape(data, name, 1)?;
    let n = data.nrows();
    // ln(k / n) for every count k = 1..=n: each tail term is a table look-up.
    let ln_n = (n as f64).ln();
    let neg_log_share: Vec<f64> = (0..=n)
        .map(|k| if k == 0 { 0.0 } else { ln_n - (k as f64).ln() })
        .collect();
    let columns = column_major(data);
    let mut sorted = Vec::with_capacity(data.ncols());
    let mut skew_sign = Vec::with_capacity(data.ncols());
    let mut training_scores = vec![0.0; n];
    let mut ranked = RankedColumn::default();
    for column in columns.chunks_exact(n) {
        let skew = skewness(column);
        // The skewness sums the column: a NaN or infinity leaves it non-finite.
        if !skew.is_finite() {
            check_finite(data)?;
        }
        let s = sign(skew);
        ranked.rank(column);
        // A run of `count` equal values after `below` smaller ones has count(<= x) =
        // below + count and count(>= x) = n - below.
        ranked.add_terms(column, &mut training_scores, |below, count| {
            tail_term(
                rule,
                s,
                neg_log_share[below + count],
                neg_log_share[n - below],
            )
        });
        sorted.push(ranked.sorted_values(column));
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

/// Largest key range (max − min) of a column that is counted instead of sorted.
const MAX_COUNTED_RANGE: usize = 1 << 20;

/// Most decimals of values that are counted instead of sorted.
const MAX_COUNTED_DECIMALS: usize = 6;

/// `round(v · scale)`, half away from zero, with a cast (baseline x86-64 has no rounding
/// instruction; `i64` converts in one, `usize` in several).
#[inline]
fn decimal_key(v: f64, scale: f64) -> i64 {
    let x = v * scale;
    (x + 0.5f64.copysign(x)) as i64
}

/// Every value's [`decimal_key`] into `keys`, and the smallest and largest, if every value
/// is exactly `key / scale`: then keys are distinct for distinct values and in the same
/// order (a correctly rounded division is monotone). Values parsed from text with at most
/// `log10(scale)` decimals always pass; most continuous columns fail on their first value.
fn decimal_keys(column: &[f64], scale: f64, keys: &mut Vec<i64>) -> Option<(i64, i64)> {
    keys.clear();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &v in column {
        let k = decimal_key(v, scale);
        if k.unsigned_abs() >= 1 << 52 || k as f64 / scale != v {
            return None;
        }
        keys.push(k);
        lo = lo.min(k);
        hi = hi.max(k);
    }
    Some((lo, hi))
}

/// The ranks of one column's values, reused across columns. Three ways, cheapest first:
///
/// - integer values over a modest range (counts, pixel values, codes — most columns of
///   real tables), or values with a few decimals that are integers once scaled: a
///   counting pass, no sort at all;
/// - values whose order keys differ only in 32 bits or fewer (e.g. positive decimals of
///   similar magnitude): key and row packed in one `u64`, radix-sorted on the key bytes
///   that vary;
/// - anything else: the key's varying bits, cut to what leaves room for the row, and the
///   row packed in one `u64`, sorted by the standard library's pattern-defeating
///   quicksort. Measured on continuous columns with many ties (pendigits), this took
///   half the time of radix-sorting (value, row) pairs on the full 64-bit key (an
///   interpolation bucket sort was no faster: its many small sorts mispredict). Values
///   whose keys differ only in the cut bits (within about 2^-40 of each other) come out
///   in row order; a check of each run of equal cut keys puts them in value order.
#[derive(Default)]
struct RankedColumn {
    mode: Mode,
    /// Counting: occurrences of `min + k`.
    counts: Vec<u32>,
    /// Counting: each row's decimal key, computed once for the check, the counts and the
    /// terms.
    keys: Vec<i64>,
    /// Packed: compact key << 32 | row.
    packed: Vec<u64>,
    /// Truncated: cut key << row bits | row.
    truncated: Vec<u64>,
}

#[derive(Clone, Copy)]
enum Mode {
    Truncated {
        /// Low bits holding the row.
        row_bits: u32,
        /// Whether some run of equal cut keys holds different values (then runs of
        /// equal values must be found from the values themselves).
        mixed: bool,
    },
    Counting {
        /// Smallest [`decimal_key`] of the column.
        min_key: i64,
        /// `10^decimals`.
        scale: f64,
    },
    Packed {
        /// Key bits shared by every value, and the shift of the varying ones.
        common: u64,
        shift: u32,
    },
}

impl Default for Mode {
    fn default() -> Self {
        Self::Truncated {
            row_bits: 0,
            mixed: false,
        }
    }
}

const LOW32: u64 = u32::MAX as u64;

impl RankedColumn {
    fn rank(&mut self, column: &[f64]) {
        self.counts.clear();
        self.packed.clear();
        self.truncated.clear();
        // Integers first, then values with up to six decimals (e.g. lab values read from
        // text): scaled to integers, they are counted like integers.
        let keys = &mut self.keys;
        let counted = std::iter::successors(Some(1.0f64), |s| Some(s * 10.0))
            .take(MAX_COUNTED_DECIMALS + 1)
            .find_map(|scale| Some((scale, decimal_keys(column, scale, keys)?)));
        // Counting costs a pass over the key range as well as the values: beyond about
        // eight keys per value, sorting is cheaper.
        let max_range = MAX_COUNTED_RANGE.min(8 * column.len() + 4096) as i64;
        if let Some((scale, (min_key, max_key))) = counted
            && max_key - min_key < max_range
        {
            self.mode = Mode::Counting { min_key, scale };
            self.counts.resize((max_key - min_key) as usize + 1, 0);
            for &k in &self.keys {
                self.counts[(k - min_key) as usize] += 1;
            }
            return;
        }
        let first = column.first().map_or(0, |&v| order_key(v));
        let varying = column
            .iter()
            .fold(0u64, |acc, &v| acc | (order_key(v) ^ first));
        // A constant column varies in no bit: no shift (64 would overflow the shifts below).
        let shift = if varying == 0 {
            0
        } else {
            varying.trailing_zeros()
        };
        if varying.leading_zeros() + shift >= 32 && column.len() <= u32::MAX as usize {
            self.mode = Mode::Packed {
                common: first & !(LOW32 << shift),
                shift,
            };
            self.packed.extend(
                column
                    .iter()
                    .enumerate()
                    .map(|(row, &v)| (((order_key(v) >> shift) & LOW32) << 32) | row as u64),
            );
            radsort::sort_by_key(&mut self.packed, |p| (p >> 32) as u32);
        } else {
            let row_bits = usize::BITS - column.len().leading_zeros();
            let row_mask = (1u64 << row_bits) - 1;
            let shift = varying.leading_zeros();
            self.truncated.extend(
                column
                    .iter()
                    .enumerate()
                    .map(|(row, &v)| ((order_key(v) << shift) & !row_mask) | row as u64),
            );
            self.truncated.sort_unstable();
            // Equal cut keys: rows with different values among them go in value order.
            let value = |p: &u64| column[(p & row_mask) as usize];
            let mut mixed = false;
            let mut start = 0;
            while start < self.truncated.len() {
                let end = run_end(&self.truncated, start, |p| p >> row_bits);
                let run = &mut self.truncated[start..end];
                let first = value(&run[0]);
                if run.iter().any(|p| value(p) != first) {
                    run.sort_unstable_by_key(|p| order_key(value(p)));
                    mixed = true;
                }
                start = end;
            }
            self.mode = Mode::Truncated { row_bits, mixed };
        }
    }

    /// Adds `term(below, count)` of each value's run of equals to that row's score.
    fn add_terms(&self, column: &[f64], scores: &mut [f64], term: impl Fn(usize, usize) -> f64) {
        match self.mode {
            Mode::Counting { min_key, .. } => {
                let mut below = 0;
                let table: Vec<f64> = self
                    .counts
                    .iter()
                    .map(|&c| {
                        let t = if c > 0 { term(below, c as usize) } else { 0.0 };
                        below += c as usize;
                        t
                    })
                    .collect();
                for (score, &k) in scores.iter_mut().zip(&self.keys) {
                    *score += table[(k - min_key) as usize];
                }
            }
            Mode::Packed { .. } => {
                for_each_run(
                    &self.packed,
                    |p| p >> 32,
                    |below, run| {
                        let t = term(below, run.len());
                        for &p in run {
                            scores[(p & LOW32) as usize] += t;
                        }
                    },
                );
            }
            Mode::Truncated { row_bits, mixed } => {
                let row_mask = (1u64 << row_bits) - 1;
                let add_run = |below, run: &[u64]| {
                    let t = term(below, run.len());
                    for p in run {
                        scores[(p & row_mask) as usize] += t;
                    }
                };
                if mixed {
                    for_each_run(
                        &self.truncated,
                        |p| order_key(column[(p & row_mask) as usize]),
                        add_run,
                    );
                } else {
                    for_each_run(&self.truncated, |p| p >> row_bits, add_run);
                }
            }
        }
    }

    fn sorted_values(&self, column: &[f64]) -> Vec<f64> {
        match self.mode {
            Mode::Counting { min_key, scale } => {
                let mut out = Vec::with_capacity(self.counts.iter().map(|&c| c as usize).sum());
                for (k, &c) in self.counts.iter().enumerate() {
                    // A division (not a product with 1/scale): it gives back the value
                    // exactly, as `decimal_range` checked.
                    let value = (min_key + k as i64) as f64 / scale;
                    out.extend(std::iter::repeat_n(value, c as usize));
                }
                out
            }
            Mode::Packed { common, shift } => self
                .packed
                .iter()
                .map(|&p| key_value(common | ((p >> 32) << shift)))
                .collect(),
            Mode::Truncated { row_bits, .. } => {
                let row_mask = (1u64 << row_bits) - 1;
                self.truncated
                    .iter()
                    .map(|p| column[(p & row_mask) as usize])
                    .collect()
            }
        }
    }
}

/// Calls `visit(below, run)` for each run of items with equal `key` in a sorted slice.
fn for_each_run<T>(items: &[T], key: impl Fn(&T) -> u64, mut visit: impl FnMut(usize, &[T])) {
    let mut a = 0;
    while a < items.len() {
        let b = run_end(items, a, &key);
        visit(a, &items[a..b]);
        a = b;
    }
}

/// End of the run of items with the same `key` as `items[start]`.
fn run_end<T>(items: &[T], start: usize, key: impl Fn(&T) -> u64) -> usize {
    let k = key(&items[start]);
    start + items[start..].iter().take_while(|q| key(q) == k).count()
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

    fn check(&self) -> std::result::Result<(), String> {
        super::same_len("skew_sign", self.skew_sign.len(), self.sorted.len())?;
        if self.sorted.iter().any(|col| col.is_empty()) {
            return Err("a feature has no training values".into());
        }
        Ok(())
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

    /// A constant column with more decimals than are counted took the packed path with
    /// a shift of 64 (found by the `csv` fuzz target; a panic in debug builds).
    #[test]
    fn a_constant_column_of_long_decimals_is_ranked() {
        let data = Array2::from_shape_fn(
            (50, 2),
            |(i, j)| {
                if j == 0 { 0.123_456_789_1 } else { i as f64 }
            },
        );
        let fit = EcodParams {}.fit(data.view(), 0).unwrap();
        let scores = fit.model.score(data.view());
        assert_eq!(scores.len(), 50);
        assert!(scores.iter().all(|s| s.is_finite()));
    }

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

    /// ECOD's training scores by definition: counts by brute force, no sorting.
    fn brute_force_ecod(data: &Array2<f64>) -> Vec<f64> {
        let n = data.nrows() as f64;
        let mut scores = vec![0.0; data.nrows()];
        for column in data.columns() {
            let values = column.to_vec();
            let s = sign(skewness(&values));
            for (score, &x) in scores.iter_mut().zip(&values) {
                let at_most = values.iter().filter(|&&v| v <= x).count() as f64;
                let at_least = values.iter().filter(|&&v| v >= x).count() as f64;
                *score += tail_term(TailRule::Ecod, s, -(at_most / n).ln(), -(at_least / n).ln());
            }
        }
        scores
    }

    #[test]
    fn every_ranking_path_matches_brute_force() {
        // Column 0: small integers (counted); 1: positive decimals of one magnitude (packed
        // keys); 2: decimals of both signs with -0.0 and 0.0 (full keys); 3: integers with
        // a range too wide to count; 4: values a few ulps apart (equal after the key is cut
        // to make room for the row) among values of both signs and wide range; 5: values
        // with three decimals (counted once scaled).
        let data = Array2::from_shape_fn((300, 6), |(i, j)| {
            let k = (i * 37 + 11) % 97;
            match j {
                0 => (k % 13) as f64 - 4.0,
                1 => 1.0 + (k % 29) as f64 / 64.0,
                2 if k % 10 == 0 => -0.0,
                2 if k % 10 == 1 => 0.0,
                2 => (k as f64 - 48.5) * 0.173,
                3 => (k * k * 1_000_003) as f64,
                4 if k % 2 == 0 => 1.0 + (k % 7) as f64 * f64::EPSILON,
                4 => (k as f64 - 48.5) * 1e10,
                _ => ((k % 37) as f64 - 10.0) / 1000.0,
            }
        });
        let fit = EcodParams::default().fit(data.view(), 0).unwrap();
        for (got, want) in fit.training_scores.iter().zip(brute_force_ecod(&data)) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        for (j, sorted) in fit.model.sorted.iter().enumerate() {
            let mut want = data.column(j).to_vec();
            want.sort_by(f64::total_cmp);
            assert!(sorted.iter().zip(&want).all(|(a, b)| a == b), "column {j}");
        }
    }
}
