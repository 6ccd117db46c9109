//! Data drift between a reference sample and a current one, per feature: the two-sample
//! Kolmogorov–Smirnov statistic and its exact p-value, and the population stability index.
//!
//! - [`ks_2samp`] follows scipy's `stats.ks_2samp` (two-sided): the statistic is the
//!   largest gap between the two empirical CDFs (ties handled as scipy's right-continuous
//!   `searchsorted`), the p-value the exact probability of a gap at least as large —
//!   Hodges' lattice-path count, as scipy computes it (`_compute_prob_outside_square` for
//!   equal sizes, the "outer probability, inside method" of Viehmann 2021 otherwise).
//!   scipy uses the exact method up to 10,000 values per sample and an asymptotic
//!   approximation beyond; this module stays exact at every size (the work is linear in
//!   the sizes for equal samples, and bounded by their product otherwise).
//!   Written here because no kept Rust crate computes the exact two-sample distribution.
//! - [`psi`]: the population stability index, `Σ (c − r) ln(c / r)` over 10 bins cut at the
//!   reference's deciles (the outer bins open-ended), each share floored at 1e-4 so an
//!   empty bin stays finite. Usual reading: < 0.1 stable, 0.1–0.25 moderate, > 0.25 large.

use serde::{Deserialize, Serialize};

use crate::error::{DetectionError, Result, invalid};

/// KS statistic and two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsTest {
    /// Largest gap between the empirical CDFs.
    pub statistic: f64,
    /// Probability of a gap at least as large if both samples came from one distribution.
    pub pvalue: f64,
}

fn check(name: &'static str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(invalid(
            name,
            "is empty: each sample needs at least one value",
        ));
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DetectionError::NonFinite {
            row: i,
            column: 0,
            value: v.to_string(),
        });
    }
    Ok(())
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The two-sided two-sample Kolmogorov–Smirnov test of `a` against `b`.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsTest> {
    check("reference", a)?;
    check("current", b)?;
    let (a, b) = (sorted(a), sorted(b));
    let (n1, n2) = (a.len(), b.len());
    // The gap at every distinct value: both CDFs counted with `<=` (right-continuous).
    let (mut i, mut j) = (0usize, 0usize);
    let (mut max_gap, mut min_gap) = (0.0f64, 0.0f64);
    while i < n1 || j < n2 {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < n1 && a[i] <= x {
            i += 1;
        }
        while j < n2 && b[j] <= x {
            j += 1;
        }
        let gap = i as f64 / n1 as f64 - j as f64 / n2 as f64;
        max_gap = max_gap.max(gap);
        min_gap = min_gap.min(gap);
    }
    let d = max_gap.max((-min_gap).clamp(0.0, 1.0));
    let (n1, n2) = (n1 as u64, n2 as u64);
    let g = gcd(n1, n2);
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h = (d * lcm).round();
    if h == 0.0 {
        return Ok(KsTest {
            statistic: 0.0,
            pvalue: 1.0,
        });
    }
    let statistic = h / lcm;
    let pvalue = if n1 == n2 {
        prob_outside_square(n1, h as u64)
    } else {
        outer_prob_inside(n1, n2, g, h as u64)
    };
    Ok(KsTest {
        statistic,
        pvalue: pvalue.clamp(0.0, 1.0),
    })
}

/// P(D_{n,n} ≥ h/n): `2 (A0 (1 − A1 (1 − A2 (…))))`, each `Ai` a ratio of binomials
/// evaluated as a product, from the innermost term out (no cancellation).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kh = k as u64 * h;
        let mut term = 1.0;
        for j in 0..h {
            // A term reaching n - kh - j = 0 (only when kh + j = n) makes the product 0.
            let numerator = n as f64 - kh as f64 - j as f64;
            term = numerator * term / (n as f64 + kh as f64 + j as f64 + 1.0);
        }
        p = term * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The share of lattice paths from (0, 0) to (m, n) that leave the band
/// `|x/m − y/n| < h / lcm(m, n)`, by the recursion on `1 − p` column by column, keeping
/// only the sliding window of the band.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let (m, n, h) = (m as i64, n as i64, h as f64);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h / mg).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (((ng * i as f64 - h) / mg).floor() as i64 + 1)
            .max(0)
            .min(n);
        maxj = (((ng * i as f64 + h) / mg).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            let from = (jj + minj - lastminj) as usize;
            val = (a[from] * i as f64 + val * j) / (i as f64 + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for v in &mut a[start..end] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// Bins of [`psi`].
pub const PSI_BINS: usize = 10;
/// Smallest share of a bin in [`psi`].
pub const PSI_FLOOR: f64 = 1e-4;

/// The population stability index of `current` against `reference` (see the module docs).
pub fn psi(reference: &[f64], current: &[f64]) -> Result<f64> {
    check("reference", reference)?;
    check("current", current)?;
    let r = sorted(reference);
    // Inner edges at the reference's deciles (linear interpolation, as numpy's default).
    let edges: Vec<f64> = (1..PSI_BINS)
        .map(|k| {
            let pos = k as f64 / PSI_BINS as f64 * (r.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            r[lo] + (r[(lo + 1).min(r.len() - 1)] - r[lo]) * frac
        })
        .collect();
    let shares = |values: &[f64]| -> Vec<f64> {
        let mut counts = [0usize; PSI_BINS];
        for &v in values {
            // Bin k holds edges[k-1] < v <= edges[k].
            counts[edges.partition_point(|&e| e < v)] += 1;
        }
        counts
            .iter()
            .map(|&c| (c as f64 / values.len() as f64).max(PSI_FLOOR))
            .collect()
    };
    let (rs, cs) = (shares(reference), shares(current));
    Ok(rs
        .iter()
        .zip(&cs)
        .map(|(r, c)| (c - r) * (c / r).ln())
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from scipy 1.17.1 `stats.ks_2samp` (two-sided, method 'auto' = exact at
    /// these sizes), computed on these same vectors:
    /// `python -c "from scipy.stats import ks_2samp; print(repr(ks_2samp(a, b)))"`.
    #[test]
    fn matches_scipy() {
        let a: Vec<f64> = (0..40).map(|i| ((i * 37) % 41) as f64 / 4.0).collect();
        let b: Vec<f64> = (0..55)
            .map(|i| ((i * 13) % 47) as f64 / 4.0 + 1.5)
            .collect();
        let c: Vec<f64> = (0..40)
            .map(|i| ((i * 29) % 43) as f64 / 4.0 + 0.75)
            .collect();
        for (x, y, statistic, pvalue) in [
            (&a, &b, SCIPY_AB.0, SCIPY_AB.1),
            (&a, &c, SCIPY_AC.0, SCIPY_AC.1),
            (&a, &a, 0.0, 1.0),
        ] {
            let t = ks_2samp(x, y).unwrap();
            assert!(
                (t.statistic - statistic).abs() < 1e-12,
                "{t:?} vs {statistic}"
            );
            assert!((t.pvalue - pvalue).abs() < 1e-9, "{t:?} vs {pvalue}");
        }
    }

    const SCIPY_AB: (f64, f64) = (0.2545454545454545, 0.08161035446053247);
    const SCIPY_AC: (f64, f64) = (0.1, 0.9900193288833089);

    /// `tests/data/ks_2samp_scipy.json`: larger vectors, ties, coprime sizes, with scipy's
    /// answers (provenance inside the file).
    #[test]
    fn matches_scipy_on_the_committed_vectors() {
        let text = include_str!("../tests/data/ks_2samp_scipy.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 4);
        for case in cases {
            let values = |k: &str| -> Vec<f64> {
                case[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            };
            let t = ks_2samp(&values("a"), &values("b")).unwrap();
            let (statistic, pvalue) = (
                case["statistic"].as_f64().unwrap(),
                case["pvalue"].as_f64().unwrap(),
            );
            assert!(
                (t.statistic - statistic).abs() < 1e-12,
                "{}: {t:?} vs {statistic}",
                case["name"]
            );
            assert!(
                (t.pvalue - pvalue).abs() < 1e-9,
                "{}: {t:?} vs {pvalue}",
                case["name"]
            );
        }
    }

    #[test]
    fn psi_sees_a_shift_and_not_its_absence() {
        let r: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let same: Vec<f64> = (0..800).map(|i| ((i * 104_729) % 1000) as f64).collect();
        let shifted: Vec<f64> = same.iter().map(|v| v + 300.0).collect();
        assert!(psi(&r, &same).unwrap() < 0.02);
        // numpy: quantile edges, searchsorted(side='left'), shares floored at 1e-4.
        assert!((psi(&r, &shifted).unwrap() - 2.4862050687024273).abs() < 1e-9);
        assert!(psi(&r, &[]).is_err());
        assert!(ks_2samp(&[1.0, f64::NAN], &r).is_err());
    }
}
