//! Seasonal hybrid ESD (Hochenbaum, Vallis & Kejariwal 2017, "Automatic Anomaly Detection
//! in the Cloud Via Statistical Learning"), written here: the published Rust port carries
//! GPL terms.
//!
//! 1. Trend: the median of each block of `trend_block` points (their "piecewise median").
//! 2. Seasonality: the median of the detrended values at each phase of the period (given,
//!    or detected with augurs' periodogram; none if no period stands out).
//! 3. Generalised ESD (Rosner 1983) on the residuals, with median and MAD in place of mean
//!    and standard deviation (the "hybrid" part), up to `max_anoms` of the points (times
//!    the sensitivity when above 1), at significance `alpha`, looking at high, low or
//!    both tails.

use augurs::seasons::PeriodogramDetector;
use serde::{Deserialize, Serialize};

use super::SeriesDetection;
use super::rolling_z::robust_location_scale;
use super::tdist::t_quantile;
use crate::error::{Result, invalid};
use crate::stats::median_in_place;

/// Which deviations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Both high and low values.
    #[default]
    Both,
    /// High values only.
    Pos,
    /// Low values only.
    Neg,
}

/// Parameters of S-H-ESD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EsdParams {
    /// Largest share of points that may be flagged (0–0.49; default 0.02).
    pub max_anoms: f64,
    /// Significance level of each test (0–0.5; default 0.05).
    pub alpha: f64,
    /// Tails to test (default both).
    pub direction: Direction,
    /// Seasonal period in points (default: detected).
    pub period: Option<usize>,
    /// Points per trend block (default: 2 periods, at least 100).
    pub trend_block: Option<usize>,
}

impl Default for EsdParams {
    fn default() -> Self {
        Self {
            max_anoms: 0.02,
            alpha: 0.05,
            direction: Direction::Both,
            period: None,
            trend_block: None,
        }
    }
}

/// The dominant seasonal period of `values`, if any (at most a third of the series).
pub(crate) fn detect_period(values: &[f64]) -> Option<usize> {
    if values.len() < 16 {
        return None;
    }
    let max = (values.len() / 3).min(10_000) as u32;
    // Centre first: a large mean leaks into the lowest frequencies and drowns the season.
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
    // The strongest peak of the periodogram (augurs lists peaks by ascending power).
    PeriodogramDetector::builder()
        .min_period(4)
        .max_period(max.max(5))
        .build()
        .periodogram(&centred)
        .peaks(0.5)
        .max_by(|a, b| a.power.total_cmp(&b.power))
        .map(|p| refine_period(&centred, p.period as usize))
        .filter(|&p| p >= 2 && p <= values.len() / 3)
}

/// The periodogram's resolution is coarse at long periods: take the lag near `period`
/// (±10%) with the highest autocorrelation.
fn refine_period(centred: &[f64], period: usize) -> usize {
    let n = centred.len();
    let lo = (period * 9 / 10).max(2);
    let hi = (period * 11 / 10 + 1).min(n / 2);
    (lo..=hi.max(lo))
        .map(|lag| {
            let acf: f64 = centred[lag..]
                .iter()
                .zip(centred)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / (n - lag) as f64;
            (lag, acf)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(period, |(lag, _)| lag)
}

/// Piecewise-median trend plus per-phase median seasonality.
pub(crate) fn decompose(values: &[f64], period: Option<usize>, block: usize) -> Vec<f64> {
    let n = values.len();
    let mut expected = vec![0.0; n];
    let mut buffer = Vec::with_capacity(block);
    for (start, chunk) in (0..n).step_by(block).zip(values.chunks(block)) {
        buffer.clear();
        buffer.extend_from_slice(chunk);
        let m = median_in_place(&mut buffer);
        expected[start..start + chunk.len()].fill(m);
    }
    if let Some(p) = period {
        let detrended: Vec<f64> = values.iter().zip(&expected).map(|(v, t)| v - t).collect();
        let seasonal: Vec<f64> = (0..p)
            .map(|phase| {
                let mut at_phase: Vec<f64> =
                    detrended.iter().skip(phase).step_by(p).copied().collect();
                median_in_place(&mut at_phase)
            })
            .collect();
        for (i, e) in expected.iter_mut().enumerate() {
            *e += seasonal[i % p];
        }
    }
    expected
}

impl EsdParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.max_anoms > 0.0 && self.max_anoms < 0.5) {
            return Err(invalid(
                "max_anoms",
                format!("must be in (0, 0.5), got {}", self.max_anoms),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(invalid(
                "alpha",
                format!("must be in (0, 0.5), got {}", self.alpha),
            ));
        }
        if let Some(p) = self.period
            && p < 2
        {
            return Err(invalid("period", format!("must be at least 2, got {p}")));
        }
        if let Some(b) = self.trend_block
            && b < 3
        {
            return Err(invalid(
                "trend_block",
                format!("must be at least 3, got {b}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn min_points(&self) -> usize {
        self.period.map_or(16, |p| (2 * p).max(16))
    }

    pub(crate) fn detect(
        &self,
        values: &[f64],
        period: Option<usize>,
        sensitivity: f64,
    ) -> SeriesDetection {
        let n = values.len();
        let period = period.or(self.period).or_else(|| detect_period(values));
        let block = self
            .trend_block
            .unwrap_or_else(|| period.map_or(100, |p| (2 * p).max(100)));
        let expected = decompose(values, period, block);
        let residuals: Vec<f64> = values.iter().zip(&expected).map(|(v, e)| v - e).collect();
        let mut buffer = Vec::with_capacity(n);
        let (centre, scale) = robust_location_scale(&[&residuals], &mut buffer);

        // Generalised ESD: remove the most extreme residual k times, each time testing it
        // against the critical value for the points left.
        // A sensitivity above 1 raises the cap with the threshold; otherwise a series
        // already at its cap would flag the same points at every sensitivity.
        let cap = (self.max_anoms * sensitivity.max(1.0)).min(0.49);
        let k_max = ((cap * n as f64) as usize).max(1);
        let mut remaining: Vec<usize> = (0..n).collect();
        let mut removed = Vec::with_capacity(k_max);
        let mut anomalies = 0;
        let mut last_lambda = f64::NAN;
        let tails = if self.direction == Direction::Both {
            2.0
        } else {
            1.0
        };
        let mut values_left: Vec<f64> = Vec::with_capacity(n);
        for i in 1..=k_max {
            values_left.clear();
            values_left.extend(remaining.iter().map(|&j| residuals[j]));
            let (m, s) = robust_location_scale(&[&values_left], &mut buffer);
            let deviation = |j: usize| match self.direction {
                Direction::Both => (residuals[j] - m).abs(),
                Direction::Pos => residuals[j] - m,
                Direction::Neg => m - residuals[j],
            };
            let Some((at, &worst)) = remaining
                .iter()
                .enumerate()
                .max_by(|a, b| deviation(*a.1).total_cmp(&deviation(*b.1)))
            else {
                break;
            };
            let r = deviation(worst) / s;
            let left = (n - i + 1) as f64;
            let p = 1.0 - self.alpha / (tails * left);
            let t = t_quantile(p, left - 2.0);
            let lambda = (left - 1.0) * t / ((left - 2.0 + t * t) * left).sqrt();
            last_lambda = lambda;
            remaining.swap_remove(at);
            removed.push(worst);
            if r > lambda / sensitivity {
                anomalies = i;
            }
        }
        let critical = (if last_lambda.is_finite() {
            last_lambda
        } else {
            3.0
        }) / sensitivity;
        let mut out = SeriesDetection::with_len(n);
        for j in 0..n {
            out.expected[j] = expected[j] + centre;
            out.lower[j] = out.expected[j] - critical * scale;
            out.upper[j] = out.expected[j] + critical * scale;
            let z = match self.direction {
                Direction::Both => (residuals[j] - centre).abs(),
                Direction::Pos => (residuals[j] - centre).max(0.0),
                Direction::Neg => (centre - residuals[j]).max(0.0),
            } / scale;
            out.scores[j] = z / critical;
        }
        for &j in &removed[..anomalies] {
            out.anomalies[j] = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(n: usize, period: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let phase = (i % period) as f64 / period as f64;
                100.0 + 20.0 * (phase * std::f64::consts::TAU).sin() + ((i * 13) % 7) as f64 * 0.3
            })
            .collect()
    }

    #[test]
    fn finds_spikes_on_a_seasonal_series_and_not_the_season() {
        let mut v = seasonal(2000, 48);
        v[700] += 15.0; // large for its phase, ordinary for the series' range
        v[1500] -= 25.0;
        let d = EsdParams::default().detect(&v, None, 1.0);
        let flagged: Vec<usize> = (0..2000).filter(|&i| d.anomalies[i]).collect();
        assert_eq!(flagged, vec![700, 1500], "{flagged:?}");
    }

    #[test]
    fn direction_limits_the_tail() {
        let mut v = seasonal(1000, 24);
        v[300] += 30.0;
        v[600] -= 30.0;
        let p = EsdParams {
            direction: Direction::Pos,
            period: Some(24),
            ..Default::default()
        };
        let d = p.detect(&v, None, 1.0);
        assert!(d.anomalies[300] && !d.anomalies[600]);
    }

    #[test]
    fn a_higher_sensitivity_raises_the_cap_on_flags() {
        // 60 spikes in 1,000 points: three times the default cap of 2%.
        let mut v = seasonal(1000, 24);
        for k in 0..60 {
            v[10 + 16 * k] += 40.0 + k as f64;
        }
        let p = EsdParams {
            period: Some(24),
            ..Default::default()
        };
        let flags = |s: f64| {
            p.detect(&v, None, s)
                .anomalies
                .iter()
                .filter(|&&a| a)
                .count()
        };
        assert_eq!(flags(1.0), 20);
        assert_eq!(flags(2.0), 40);
        // At 4 the cap (80) is above the spikes: every spike, and the threshold decides.
        assert!(flags(4.0) >= 60);
    }

    #[test]
    fn detects_the_period() {
        assert_eq!(detect_period(&seasonal(2000, 48)), Some(48));
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(
            EsdParams {
                alpha: 0.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            EsdParams {
                max_anoms: 0.7,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
