//! HBOS, histogram-based outlier score (Goldstein & Dengel 2012), as PyOD computes it:
//! one equal-width histogram per feature over the training range (numpy's
//! `histogram(density=True)`), score = `-Σ_j log2(density_j(x) + alpha)`. A value just
//! outside the training range (within `tol` bin widths) counts as in the edge bin; further
//! out it gets the lowest density of that feature.
//!
//! Explanation: feature `j` contributes `log2(max density_j + alpha) - log2(density_j(x) +
//! alpha)`, how much rarer the value's bin is than the feature's most common bin.

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{Detector, Fitted, FittedDetector, score_rows};
use crate::error::{Result, invalid};
use crate::stats::{check_shape, check_sums};

/// Parameters of HBOS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HbosParams {
    /// Bins per feature (2–10,000; default 10).
    pub n_bins: usize,
    /// Regulariser added to every density (0 < alpha < 1; default 0.1).
    pub alpha: f64,
    /// Bin widths outside the range still counted as the edge bin (0–1; default 0.5).
    pub tol: f64,
}

impl Default for HbosParams {
    fn default() -> Self {
        Self {
            n_bins: 10,
            alpha: 0.1,
            tol: 0.5,
        }
    }
}

/// One feature's histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Histogram {
    /// `n_bins + 1` ascending edges.
    edges: Vec<f64>,
    /// `log2(density + alpha)` per bin.
    log_density: Vec<f64>,
    /// Smallest and largest `log_density`.
    min_log: f64,
    max_log: f64,
}

/// A fitted HBOS model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedHbos {
    histograms: Vec<Histogram>,
    tol: f64,
}

impl Histogram {
    fn new(lo: f64, hi: f64, counts: &[usize], n: usize, alpha: f64) -> Self {
        let n_bins = counts.len();
        let width = (hi - lo) / n_bins as f64;
        let edges: Vec<f64> = (0..=n_bins).map(|i| lo + width * i as f64).collect();
        let log_density: Vec<f64> = counts
            .iter()
            .map(|&c| (c as f64 / (n as f64 * width) + alpha).log2())
            .collect();
        let min_log = log_density.iter().copied().fold(f64::INFINITY, f64::min);
        let max_log = log_density
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        Self {
            edges,
            log_density,
            min_log,
            max_log,
        }
    }

    /// `log2(density + alpha)` of the bin `x` falls in, with PyOD's rules: `np.digitize`
    /// with `right=True` (a value on an edge belongs to the bin below it).
    #[inline]
    fn log_density_of(&self, x: f64, tol: f64) -> f64 {
        let n_bins = self.log_density.len();
        let first = self.edges[0];
        let last = self.edges[n_bins];
        if x <= first {
            let width = self.edges[1] - first;
            return if first - x <= width * tol {
                self.log_density[0]
            } else {
                self.min_log
            };
        }
        if x > last {
            let width = last - self.edges[n_bins - 1];
            return if x - last <= width * tol {
                self.log_density[n_bins - 1]
            } else {
                self.min_log
            };
        }
        // The bin b with edges[b] < x <= edges[b + 1]: guess arithmetically, then correct
        // for rounding against the actual edges.
        let width = self.edges[1] - first;
        let mut b = (((x - first) / width) as usize).min(n_bins - 1);
        while b > 0 && x <= self.edges[b] {
            b -= 1;
        }
        while b + 1 < n_bins && x > self.edges[b + 1] {
            b += 1;
        }
        self.log_density[b]
    }
}

/// Builds every feature's histogram in two row-major passes (ranges, then counts), with
/// numpy's binning: equal-width bins over [min, max], half-open except the last. Returns
/// the histograms and the training scores: the counting pass records each value's bin
/// under PyOD's `digitize(right=True)` rule (a value exactly on an inner edge belongs to
/// the bin below), so training rows are scored by table look-ups alone.
fn fit_histograms(
    data: ArrayView2<'_, f64>,
    n_bins: usize,
    alpha: f64,
) -> Result<(Vec<Histogram>, Vec<f64>)> {
    let data = data.as_standard_layout();
    let (n, d) = data.dim();
    let flat = data.as_slice().unwrap_or(&[]);
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    let mut sums = vec![0.0; d];
    for row in flat.chunks_exact(d) {
        for (((l, h), s), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(&mut sums).zip(row) {
            // Plain comparisons: `f64::min` pays for NaN rules, and the sums rule NaN out.
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
            *s += v;
        }
    }
    check_sums(data.view(), &sums)?;
    for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
        if *l == *h {
            // numpy widens a zero-width range by 0.5 on each side.
            *l -= 0.5;
            *h += 0.5;
        }
    }
    let width: Vec<f64> = lo
        .iter()
        .zip(&hi)
        .map(|(l, h)| (h - l) / n_bins as f64)
        .collect();
    // The bin of a value is first guessed with a multiplication (a division per value
    // costs several times more), then corrected against the actual edges, as numpy does.
    let inverse_width: Vec<f64> = width.iter().map(|w| 1.0 / w).collect();
    // How close (in bin widths) a value may come to a computed edge before the edges
    // themselves must decide: a few ulps of the edge values and of the guess, relative to
    // the width. Above 1% (a range tiny next to its magnitude) every value takes the
    // careful path.
    let margin: Vec<f64> = (0..d)
        .map(|j| {
            let m = 16.0 * f64::EPSILON * (lo[j].abs() + hi[j].abs()) / width[j] + 1e-9;
            if m < 0.01 { m } else { 1.0 }
        })
        .collect();
    let edges: Vec<f64> = (0..d)
        .flat_map(|j| (0..=n_bins).map(move |b| (j, b)))
        .map(|(j, b)| lo[j] + width[j] * b as f64)
        .collect();
    let mut counts = vec![0usize; d * n_bins];
    let mut digitized = vec![0u16; n * d];
    for (row, bins) in flat.chunks_exact(d).zip(digitized.chunks_exact_mut(d)) {
        for (j, (&v, slot)) in row.iter().zip(bins.iter_mut()).enumerate() {
            let position = (v - lo[j]) * inverse_width[j];
            // Through `i64`: x86-64 converts signed integers to and from `f64` in one
            // instruction each, unsigned ones in several (`position` is never negative).
            let guess = position as i64 as usize;
            let offset = position - guess as i64 as f64;
            if guess < n_bins && offset > margin[j] && offset < 1.0 - margin[j] {
                // Clear of both edges by more than rounding can move them.
                counts[j * n_bins + guess] += 1;
                *slot = guess as u16;
                continue;
            }
            let e = &edges[j * (n_bins + 1)..(j + 1) * (n_bins + 1)];
            let mut bin = guess.min(n_bins - 1);
            bin -= usize::from(bin > 0 && v < e[bin]);
            bin += usize::from(bin + 1 < n_bins && v >= e[bin + 1]);
            counts[j * n_bins + bin] += 1;
            // `digitize(right=True)`: a value exactly on an inner edge scores in the bin below.
            *slot = (bin - usize::from(bin > 0 && v == e[bin])) as u16;
        }
    }
    let histograms: Vec<Histogram> = (0..d)
        .map(|j| {
            Histogram::new(
                lo[j],
                hi[j],
                &counts[j * n_bins..(j + 1) * n_bins],
                n,
                alpha,
            )
        })
        .collect();
    // One flat table, feature-major, so scoring a row is d look-ups into one slice.
    let table: Vec<f64> = histograms
        .iter()
        .flat_map(|h| h.log_density.iter().copied())
        .collect();
    let training_scores = digitized
        .chunks_exact(d)
        .map(|bins| {
            -bins
                .iter()
                .enumerate()
                .map(|(j, &b)| table[j * n_bins + b as usize])
                .sum::<f64>()
        })
        .collect();
    Ok((histograms, training_scores))
}

impl Detector for HbosParams {
    type Fitted = FittedHbos;

    fn validate(&self) -> Result<()> {
        if !(2..=10_000).contains(&self.n_bins) {
            return Err(invalid(
                "n_bins",
                format!("must be between 2 and 10000, got {}", self.n_bins),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(invalid(
                "alpha",
                format!("must be in (0, 1), got {}", self.alpha),
            ));
        }
        if !(0.0..=1.0).contains(&self.tol) {
            return Err(invalid(
                "tol",
                format!("must be in [0, 1], got {}", self.tol),
            ));
        }
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, _seed: u64) -> Result<Fitted<FittedHbos>> {
        self.validate()?;
        check_shape(data, "hbos", 1)?;
        let (histograms, training_scores) = fit_histograms(data, self.n_bins, self.alpha)?;
        let model = FittedHbos {
            histograms,
            tol: self.tol,
        };
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedDetector for FittedHbos {
    fn check(&self) -> std::result::Result<(), String> {
        for (j, h) in self.histograms.iter().enumerate() {
            if h.log_density.is_empty() {
                return Err(format!("histogram {j} has no bins"));
            }
            super::same_len(
                "a histogram's edges",
                h.edges.len(),
                h.log_density.len() + 1,
            )?;
        }
        Ok(())
    }

    fn n_features(&self) -> usize {
        self.histograms.len()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(data, |row| {
            -row.iter()
                .zip(&self.histograms)
                .map(|(&x, h)| h.log_density_of(x, self.tol))
                .sum::<f64>()
        })
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        row.iter()
            .zip(&self.histograms)
            .map(|(&x, h)| h.max_log - h.log_density_of(x, self.tol))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn densities_match_numpy_histogram() {
        // np.histogram(range(10), bins=10, density=True) → 1/9 in every bin (width 0.9)
        let data = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
        let fit = HbosParams::default().fit(data.view(), 0).unwrap();
        let expected = -(1.0f64 / 9.0 + 0.1).log2();
        for s in &fit.training_scores {
            assert!((s - expected).abs() < 1e-12, "{s}");
        }
    }

    #[test]
    fn rare_bin_scores_higher_and_is_explained() {
        let mut rows: Vec<[f64; 2]> = (0..99).map(|i| [(i % 10) as f64 * 0.1, 1.0]).collect();
        rows.push([0.5, 10.0]);
        let data = Array2::from(rows);
        let fit = HbosParams::default().fit(data.view(), 0).unwrap();
        let top = (0..100)
            .max_by(|&a, &b| fit.training_scores[a].total_cmp(&fit.training_scores[b]))
            .unwrap();
        assert_eq!(top, 99);
        let c = fit.model.contributions(data.row(99));
        assert!(c[1] > c[0]);
    }

    #[test]
    fn training_scores_equal_rescoring_including_values_on_edges() {
        // Values 0..=20 with 10 bins: every even value sits exactly on an edge.
        let data = Array2::from_shape_fn((21, 2), |(i, j)| (i * (j + 1)) as f64);
        let fit = HbosParams::default().fit(data.view(), 0).unwrap();
        assert_eq!(fit.model.score(data.view()), fit.training_scores);
        let skewed =
            Array2::from_shape_fn((300, 3), |(i, j)| ((i * i * (j + 3)) % 97) as f64 / 7.0);
        let fit = HbosParams::default().fit(skewed.view(), 0).unwrap();
        assert_eq!(fit.model.score(skewed.view()), fit.training_scores);
        // Values equal to computed edges that are not round numbers (0.1 · 3 is
        // 0.30000000000000004, one ulp above 0.3: the multiplication alone would put it
        // just inside bin 3, numpy's `right=True` rule puts it in bin 2), values a hair
        // either side of edges, and a column whose range is tiny next to its magnitude
        // (every value goes the careful way): the fit's bins must be the edge-by-edge
        // rule's, which scoring uses.
        let near_edges = Array2::from_shape_fn((400, 2), |(i, j)| {
            // Uneven counts (a third of the rows on edge 3), so a value put in the
            // neighbouring bin changes its score.
            let b = if i % 3 == 0 { 3 } else { i % 11 };
            let edge = 0.1 * b as f64;
            // Only inner edges move, so the range stays exactly [0, 1].
            let inner = b != 0 && b != 10;
            let nudge = if inner {
                [0.0, -1e-15, 1e-15, 3e-10][(i / 11) % 4]
            } else {
                0.0
            };
            if j == 0 {
                edge + nudge
            } else {
                1e9 + (i % 17) as f64 * 1e-6
            }
        });
        let fit = HbosParams::default().fit(near_edges.view(), 0).unwrap();
        assert_eq!(fit.model.score(near_edges.view()), fit.training_scores);
    }

    #[test]
    fn far_values_get_the_lowest_density() {
        let data = Array2::from_shape_fn((20, 1), |(i, _)| i as f64);
        let fit = HbosParams::default().fit(data.view(), 0).unwrap();
        let s = fit.model.score(array![[1000.0], [-1000.0]].view());
        assert_eq!(s[0], s[1]);
        assert!(s[0] >= fit.training_scores.iter().copied().fold(f64::MIN, f64::max));
    }

    #[test]
    fn rejects_bad_parameters() {
        for p in [
            HbosParams {
                n_bins: 1,
                ..Default::default()
            },
            HbosParams {
                alpha: 0.0,
                ..Default::default()
            },
            HbosParams {
                tol: 2.0,
                ..Default::default()
            },
        ] {
            assert!(p.validate().is_err());
        }
    }
}
