//! Level changes by Bayesian online changepoint detection (Adams & MacKay 2007) through
//! augurs, on the series standardised by its median and MAD. Each changepoint is reported
//! with the median level of the segments before and after; the point starting a new
//! segment is flagged. Between changepoints the expected value is the segment's median and
//! the band is ± `band` robust standard deviations of the segment.

use augurs::changepoint::{Detector as _, NormalGammaDetector, dist::NormalGamma};
use serde::{Deserialize, Serialize};

use super::rolling_z::robust_location_scale;
use super::{Changepoint, SeriesDetection};
use crate::error::{Result, invalid};

/// Parameters of the changepoint method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangepointParams {
    /// Expected run length between changes, in points (the hazard's inverse; default 250).
    pub hazard_lambda: f64,
    /// Smallest level change to report, in robust standard deviations of the series
    /// (default 1).
    pub min_shift: f64,
    /// Half width of the band around each segment's level, in robust standard deviations
    /// (default 4).
    pub band: f64,
}

impl Default for ChangepointParams {
    fn default() -> Self {
        Self {
            hazard_lambda: 250.0,
            min_shift: 1.0,
            band: 4.0,
        }
    }
}

impl ChangepointParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.hazard_lambda.is_finite() && self.hazard_lambda >= 2.0) {
            return Err(invalid(
                "hazard_lambda",
                format!("must be at least 2, got {}", self.hazard_lambda),
            ));
        }
        if !(self.min_shift.is_finite() && self.min_shift >= 0.0) {
            return Err(invalid(
                "min_shift",
                format!("must be non-negative, got {}", self.min_shift),
            ));
        }
        if !(self.band.is_finite() && self.band > 0.0) {
            return Err(invalid(
                "band",
                format!("must be positive, got {}", self.band),
            ));
        }
        Ok(())
    }

    // Several parallel per-point arrays are filled by index.
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn detect(&self, values: &[f64], sensitivity: f64) -> SeriesDetection {
        let n = values.len();
        let mut buffer = Vec::with_capacity(n);
        let (centre, scale) = robust_location_scale(&[values], &mut buffer);
        let standardised: Vec<f64> = values.iter().map(|v| (v - centre) / scale).collect();
        let prior = NormalGamma::new_unchecked(0.0, 1.0, 1.0, 1.0);
        let mut detector = NormalGammaDetector::normal_gamma(self.hazard_lambda, prior);
        let mut starts: Vec<usize> = detector
            .detect_changepoints(&standardised)
            .into_iter()
            .filter(|&i| i > 0 && i < n)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        // Segment levels; keep only changes of at least `min_shift / sensitivity`.
        let level = |a: usize, b: usize, buffer: &mut Vec<f64>| {
            robust_location_scale(&[&values[a..b]], buffer)
        };
        let min_shift = self.min_shift / sensitivity * scale;
        let mut kept: Vec<usize> = Vec::new();
        let mut segment_start = 0;
        for (k, &s) in starts.iter().enumerate() {
            let next = starts.get(k + 1).copied().unwrap_or(n);
            let (before, _) = level(segment_start, s, &mut buffer);
            let (after, _) = level(s, next, &mut buffer);
            if (after - before).abs() >= min_shift {
                kept.push(s);
                segment_start = s;
            }
        }
        let mut out = SeriesDetection::with_len(n);
        let mut bounds = vec![0];
        bounds.extend(&kept);
        bounds.push(n);
        let band = self.band / sensitivity;
        let mut levels = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (m, s) = level(a, b, &mut buffer);
            levels.push(m);
            for i in a..b {
                out.expected[i] = m;
                out.lower[i] = m - band * s;
                out.upper[i] = m + band * s;
                out.scores[i] = (values[i] - m).abs() / (band * s);
            }
        }
        for (k, &s) in kept.iter().enumerate() {
            out.anomalies[s] = true;
            out.scores[s] = out.scores[s].max(1.0 + (levels[k + 1] - levels[k]).abs() / scale);
            out.changepoints.push(Changepoint {
                index: s,
                level_before: levels[k],
                level_after: levels[k + 1],
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_level_shift_with_levels() {
        let v: Vec<f64> = (0..600)
            .map(|i| if i < 300 { 10.0 } else { 25.0 } + ((i * 17) % 11) as f64 * 0.2)
            .collect();
        let d = ChangepointParams::default().detect(&v, 1.0);
        assert_eq!(d.changepoints.len(), 1, "{:?}", d.changepoints);
        let c = &d.changepoints[0];
        assert!((295..=305).contains(&c.index), "{}", c.index);
        assert!((c.level_before - 11.0).abs() < 1.0 && (c.level_after - 26.0).abs() < 1.0);
        assert!(d.anomalies[c.index]);
    }

    #[test]
    fn flat_noise_has_no_changepoint() {
        let v: Vec<f64> = (0..600)
            .map(|i| 5.0 + ((i * 17) % 11) as f64 * 0.1)
            .collect();
        let d = ChangepointParams::default().detect(&v, 1.0);
        assert!(d.changepoints.is_empty(), "{:?}", d.changepoints);
    }
}
