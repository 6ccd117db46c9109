//! Small numeric helpers shared by the detectors.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{DetectionError, Result};

/// Checks that `data` is a non-empty matrix of finite numbers with at least `min_rows` rows.
pub(crate) fn check_data(
    data: ArrayView2<'_, f64>,
    algorithm: &'static str,
    min_rows: usize,
) -> Result<()> {
    check_shape(data, algorithm, min_rows)?;
    check_finite(data)
}

/// [`check_data`] without the finiteness check, for detectors that sum every column in
/// their first pass anyway and call [`check_sums`] with the result: one pass fewer over
/// the data.
pub(crate) fn check_shape(
    data: ArrayView2<'_, f64>,
    algorithm: &'static str,
    min_rows: usize,
) -> Result<()> {
    if data.nrows() == 0 {
        return Err(DetectionError::EmptyInput);
    }
    if data.ncols() == 0 {
        return Err(DetectionError::NoFeatures);
    }
    if data.nrows() < min_rows {
        return Err(DetectionError::TooFewRows {
            algorithm,
            min: min_rows,
            got: data.nrows(),
        });
    }
    Ok(())
}

/// Finishes [`check_shape`]: a NaN or infinite value makes its column's sum non-finite, so
/// finite sums prove finite data; otherwise the values are searched for the culprit (sums
/// of huge finite values can overflow, so this may still pass).
pub(crate) fn check_sums(data: ArrayView2<'_, f64>, sums: &[f64]) -> Result<()> {
    if sums.iter().all(|s| s.is_finite()) {
        Ok(())
    } else {
        check_finite(data)
    }
}

/// Checks that every value is finite.
pub(crate) fn check_finite(data: ArrayView2<'_, f64>) -> Result<()> {
    // Fast path: one branch-free pass over contiguous memory (a value is non-finite when
    // its exponent bits are all ones), vectorised; locate the culprit only on failure.
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    if let Some(flat) = data.as_slice()
        && flat.chunks(4096).all(|c| {
            c.iter().fold(0u8, |bad, v| {
                bad | u8::from(v.to_bits() & EXPONENT == EXPONENT)
            }) == 0
        })
    {
        return Ok(());
    }
    for (row, values) in data.rows().into_iter().enumerate() {
        if let Some((column, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(DetectionError::NonFinite {
                row,
                column,
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

/// The matrix in column-major order (column `j` is `out[j * n..(j + 1) * n]`), copied in
/// one row-major pass. Per-feature algorithms read each column many times; walking a
/// column of a row-major matrix touches a new cache line per value, so one transposing
/// pass is far cheaper than strided passes per column.
pub(crate) fn column_major(data: ArrayView2<'_, f64>) -> Vec<f64> {
    let (n, d) = data.dim();
    let mut out = vec![0.0; n * d];
    let data = data.as_standard_layout();
    let flat = data.as_slice().unwrap_or(&[]);
    for (i, row) in flat.chunks_exact(d.max(1)).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * n + i] = v;
        }
    }
    out
}

/// Sum with eight independent accumulators: the compiler may not reorder a plain
/// floating-point sum, so this is what lets it vectorise.
pub(crate) fn lane_sum(values: &[f64], term: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| term(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += term(v);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// An unsigned key with the same order as the finite `f64` (and -0.0 equal to 0.0), for
/// radix sorting.
#[inline]
pub(crate) fn order_key(v: f64) -> u64 {
    let bits = (v + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The `f64` of an [`order_key`].
#[inline]
pub(crate) fn key_value(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// Checks the column count of data to be scored against a fitted model.
pub(crate) fn check_features(data: ArrayView2<'_, f64>, expected: usize) -> Result<()> {
    if data.ncols() != expected {
        return Err(DetectionError::FeatureMismatch {
            expected,
            got: data.ncols(),
        });
    }
    if data.nrows() == 0 {
        return Err(DetectionError::EmptyInput);
    }
    check_finite(data)
}

/// Mean and population standard deviation (ddof = 0, as numpy and scikit-learn's scaler).
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = lane_sum(values, |v| v) / n;
    let var = lane_sum(values, |v| (v - mean) * (v - mean)) / n;
    (mean, var.sqrt())
}

/// Median of a slice (the slice is reordered). Empty → NaN. Values are finite, so the
/// plain `<` order is total here and cheaper than `f64::total_cmp`.
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let by_value = |a: &f64, b: &f64| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal);
    let mid = n / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(mid, by_value);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + upper) / 2.0
    }
}

/// Median of an ascending slice (empty → NaN).
pub(crate) fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Median absolute deviation of an ascending slice around its median, without a copy:
/// the deviations below and above the median are two ascending runs (walking outwards
/// from the middle), so the middle deviation(s) are found by binary search over how many
/// come from each run, O(log n) (a merge walk of n/2 steps mispredicted at every step).
pub(crate) fn mad_of_sorted(sorted: &[f64], median: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let split = sorted.partition_point(|&v| v <= median);
    let below = |i: usize| median - sorted[split - 1 - i];
    let above = |j: usize| sorted[split + j] - median;
    let (n_below, n_above) = (split, n - split);
    // The `rank`-th smallest (from 0) of the two runs together: the split `i` (taken from
    // `below`) where `below(i) >= above(rank - i)` first holds.
    let select = |rank: usize| {
        let take = rank + 1;
        let (mut lo, mut hi) = (take.saturating_sub(n_above), take.min(n_below));
        while lo < hi {
            let i = (lo + hi) / 2;
            if below(i) < above(take - i - 1) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let last_below = if lo > 0 {
            below(lo - 1)
        } else {
            f64::NEG_INFINITY
        };
        let last_above = if take > lo {
            above(take - lo - 1)
        } else {
            f64::NEG_INFINITY
        };
        last_below.max(last_above)
    };
    if n % 2 == 1 {
        select(n / 2)
    } else {
        (select(n / 2 - 1) + select(n / 2)) / 2.0
    }
}

/// Median and median absolute deviation (unscaled) of `values`.
pub(crate) fn median_mad(values: &[f64]) -> (f64, f64) {
    let mut buf = values.to_vec();
    let median = median_in_place(&mut buf);
    for v in &mut buf {
        *v = (*v - median).abs();
    }
    (median, median_in_place(&mut buf))
}

/// Robust location and scale of `values`: the median and `1.4826 · MAD` (the standard
/// deviation of a normal sample). A zero MAD (more than half the values equal) falls back
/// to `1.2533 ·` the mean absolute deviation around the median, and to 1 when that is zero
/// too (constant values), so the scale can always divide.
pub(crate) fn robust_location_scale(values: &[f64]) -> (f64, f64) {
    let (median, mad) = median_mad(values);
    let scale = if mad > 0.0 {
        1.4826 * mad
    } else {
        let mean_abs = lane_sum(values, |v| (v - median).abs()) / values.len().max(1) as f64;
        if mean_abs > 0.0 {
            1.2533 * mean_abs
        } else {
            1.0
        }
    };
    (median, scale)
}

/// Percentile `q` (0–100) of sorted values with numpy's default linear interpolation.
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = (q / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            // A cast truncates, which is the floor for `pos >= 0`; `floor` itself is a
            // library call on baseline x86-64 and dominated the 4,097-quantile summary.
            // Through `i64`: one instruction each way, `usize` takes several.
            let lo = pos as i64 as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as i64 as f64;
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

/// Sample skewness, biased (scipy.stats.skew's default, Fisher–Pearson).
pub(crate) fn skewness(values: &[f64]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = lane_sum(values, |v| v) / n;
    let m2 = lane_sum(values, |v| (v - mean) * (v - mean)) / n;
    let m3 = lane_sum(values, |v| (v - mean) * (v - mean) * (v - mean)) / n;
    // scipy returns 0 for (numerically) constant data.
    if m2 <= (f64::EPSILON * mean.abs()).powi(2) || m2 == 0.0 {
        0.0
    } else {
        m3 / m2.powf(1.5)
    }
}

/// The training score distribution of a fitted model, kept as a compact quantile table.
///
/// Up to [`ScoreDistribution::MAX_POINTS`] evenly spaced quantiles of the training scores
/// (all of them when there are fewer), so that percentiles, grades and the automatic
/// threshold of a stored model can be computed without the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreDistribution {
    /// Ascending quantiles; `quantiles[0]` is the minimum, the last one the maximum.
    pub quantiles: Vec<f64>,
    /// Number of training scores the table summarises.
    pub count: usize,
    /// Mean of the training scores.
    pub mean: f64,
    /// Population standard deviation of the training scores.
    pub std: f64,
    /// Median of the training scores.
    pub median: f64,
    /// Median absolute deviation (unscaled) of the training scores.
    pub mad: f64,
}

impl ScoreDistribution {
    /// Largest number of quantiles kept.
    pub const MAX_POINTS: usize = 4097;

    /// Summarises training scores. Scores must be finite.
    pub fn from_scores(scores: &[f64]) -> Self {
        // Sorting order keys as integers (pattern-defeating quicksort) measured faster
        // than radix-sorting the floats, most of all on scores with many ties (HBOS).
        let mut keys: Vec<u64> = scores.iter().map(|&v| order_key(v)).collect();
        keys.sort_unstable();
        let sorted: Vec<f64> = keys.into_iter().map(key_value).collect();
        let (mean, std) = mean_std(&sorted);
        let median = median_of_sorted(&sorted);
        let mad = mad_of_sorted(&sorted, median);
        let quantiles = if sorted.len() <= Self::MAX_POINTS {
            sorted
        } else {
            (0..Self::MAX_POINTS)
                .map(|i| {
                    percentile_sorted(&sorted, 100.0 * i as f64 / (Self::MAX_POINTS - 1) as f64)
                })
                .collect()
        };
        Self {
            quantiles,
            count: scores.len(),
            mean,
            std,
            median,
            mad,
        }
    }

    /// Percentile `q` (0–100) of the training scores.
    pub fn percentile(&self, q: f64) -> f64 {
        percentile_sorted(&self.quantiles, q)
    }

    /// Fraction of training scores below `score`, interpolated, in [0, 1]: the grade.
    pub fn grade(&self, score: f64) -> f64 {
        let q = &self.quantiles;
        let n = q.len();
        if n == 0 || score.is_nan() {
            return 0.0;
        }
        if score < q[0] {
            return 0.0;
        }
        if score >= q[n - 1] {
            return 1.0;
        }
        // First index with q[i] > score; score lies in [q[i-1], q[i]).
        let i = q.partition_point(|&v| v <= score);
        let lo = q[i - 1];
        let hi = q[i];
        let frac = if hi > lo {
            (score - lo) / (hi - lo)
        } else {
            0.0
        };
        ((i - 1) as f64 + frac) / (n - 1) as f64
    }

    /// Standardises a score with the training mean and standard deviation.
    pub fn z_score(&self, score: f64) -> f64 {
        if self.std > 0.0 {
            (score - self.mean) / self.std
        } else {
            score - self.mean
        }
    }
}

/// Average path length of an unsuccessful search in a binary search tree of `n` items:
/// the normaliser of Isolation Forest (Liu et al. 2008), as in scikit-learn.
pub(crate) fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_lengths() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn mad_of_sorted_matches_the_definition() {
        for values in [
            vec![1.0, 2.0, 3.0, 4.0, 100.0],
            vec![1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0, 9.5],
            vec![5.0],
            vec![-3.0, -1.0, 0.0, 0.0, 0.0, 7.0],
            vec![2.0, 2.0],
            (0..101).map(|i| ((i * i * 7) % 23) as f64 * 0.5).collect(),
            (0..100)
                .map(|i| ((i * 13) % 17) as f64 - (i % 3) as f64)
                .collect(),
            (0..64)
                .map(|i| if i < 40 { 1.0 } else { i as f64 })
                .collect(),
        ] {
            let mut values = values;
            values.sort_by(f64::total_cmp);
            let (median, mad) = median_mad(&values);
            assert_eq!(mad_of_sorted(&values, median), mad, "{values:?}");
        }
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile_sorted(&v, 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile_sorted(&v, 0.0), 1.0);
        assert_eq!(percentile_sorted(&v, 100.0), 4.0);
    }

    #[test]
    fn skewness_matches_scipy() {
        // scipy.stats.skew([1, 2, 3, 10]) = 45 / 12.5^1.5
        let s = skewness(&[1.0, 2.0, 3.0, 10.0]);
        assert!((s - 45.0 / 12.5f64.powf(1.5)).abs() < 1e-12, "{s}");
        assert_eq!(skewness(&[5.0, 5.0, 5.0]), 0.0);
    }

    #[test]
    fn grade_is_monotone_and_bounded() {
        let d = ScoreDistribution::from_scores(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(d.grade(0.0), 0.0);
        assert_eq!(d.grade(9.0), 1.0);
        assert!((d.grade(3.0) - 0.5).abs() < 1e-12);
        assert!(d.grade(3.5) > d.grade(3.0));
    }

    #[test]
    fn quantile_table_is_capped() {
        let scores: Vec<f64> = (0..100_000).map(f64::from).collect();
        let d = ScoreDistribution::from_scores(&scores);
        assert_eq!(d.quantiles.len(), ScoreDistribution::MAX_POINTS);
        assert!((d.percentile(90.0) - 89_999.1).abs() < 30.0);
        assert!((d.grade(50_000.0) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn path_length_normaliser() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(256) from the Isolation Forest paper ≈ 10.24
        assert!((average_path_length(256) - 10.244_770_920_116_851).abs() < 1e-9);
    }
}
