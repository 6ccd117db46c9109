//! Robust z-score against a trailing window: `|x − median| / (1.4826 · MAD)` of the
//! `window` points before each point. The simple baseline every other method is compared
//! with. Points with fewer than `min_history` earlier points are not scored.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::SeriesDetection;
use crate::error::{Result, invalid};
use crate::stats::median_in_place;

/// Parameters of the rolling z-score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RollingZParams {
    /// Trailing window, in points (3–100,000; default 288, a day of 5-minute data).
    pub window: usize,
    /// Flag when the robust z-score exceeds this (default 6).
    pub threshold: f64,
    /// Earliest points needed before scoring (default 20).
    pub min_history: usize,
}

impl Default for RollingZParams {
    fn default() -> Self {
        Self {
            window: 288,
            threshold: 6.0,
            min_history: 20,
        }
    }
}

/// Median and robust scale of `history` (MAD × 1.4826, falling back to the mean absolute
/// deviation × 1.2533, then to a tiny positive scale for a constant history).
pub(crate) fn robust_location_scale(history: &[&[f64]], buffer: &mut Vec<f64>) -> (f64, f64) {
    buffer.clear();
    for part in history {
        buffer.extend_from_slice(part);
    }
    let median = median_in_place(buffer);
    for v in buffer.iter_mut() {
        *v = (*v - median).abs();
    }
    let mean_abs = buffer.iter().sum::<f64>() / buffer.len().max(1) as f64;
    let mad = median_in_place(buffer);
    let scale = if mad > 0.0 {
        1.4826 * mad
    } else if mean_abs > 0.0 {
        1.2533 * mean_abs
    } else {
        f64::EPSILON * median.abs().max(1.0)
    };
    (median, scale)
}

impl RollingZParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(3..=100_000).contains(&self.window) {
            return Err(invalid(
                "window",
                format!("must be between 3 and 100000, got {}", self.window),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(invalid(
                "threshold",
                format!("must be positive, got {}", self.threshold),
            ));
        }
        if !(2..=self.window).contains(&self.min_history) {
            return Err(invalid(
                "min_history",
                format!(
                    "must be between 2 and the window ({}), got {}",
                    self.window, self.min_history
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn min_points(&self) -> usize {
        self.min_history + 1
    }

    pub(crate) fn detect(&self, values: &[f64], sensitivity: f64) -> SeriesDetection {
        let mut out = SeriesDetection::with_len(values.len());
        let mut stream = RollingZStream::unchecked(self.clone());
        for (i, &x) in values.iter().enumerate() {
            if let Some(point) = stream.step(x, sensitivity) {
                out.expected[i] = point.expected;
                out.lower[i] = point.lower;
                out.upper[i] = point.upper;
                out.scores[i] = point.score;
                out.anomalies[i] = point.flagged;
            }
        }
        out
    }
}

/// A scored point of the rolling z-score: score (1 at the threshold), flag, median and
/// band of the window before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollingZPoint {
    /// z / threshold.
    pub score: f64,
    /// Whether z is over the threshold.
    pub flagged: bool,
    /// Median of the window.
    pub expected: f64,
    /// Median − threshold × scale.
    pub lower: f64,
    /// Median + threshold × scale.
    pub upper: f64,
}

/// The rolling z-score fed one value at a time: the batch method is this stream run over
/// the series, so both flag the same points. Its state (the trailing window) serialises.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollingZStream {
    params: RollingZParams,
    window: VecDeque<f64>,
    #[serde(skip)]
    buffer: Vec<f64>,
}

impl RollingZStream {
    /// A new, empty stream.
    pub fn new(params: RollingZParams) -> Result<Self> {
        params.validate()?;
        Ok(Self::unchecked(params))
    }

    fn unchecked(params: RollingZParams) -> Self {
        Self {
            window: VecDeque::with_capacity(params.window),
            buffer: Vec::with_capacity(params.window),
            params,
        }
    }

    /// Scores `x` against the window before it (None until `min_history` values were
    /// seen), then adds it.
    pub fn step(&mut self, x: f64, sensitivity: f64) -> Option<RollingZPoint> {
        let point = (self.window.len() >= self.params.min_history).then(|| {
            let (head, tail) = self.window.as_slices();
            let (median, scale) = robust_location_scale(&[head, tail], &mut self.buffer);
            let threshold = self.params.threshold / sensitivity;
            let z = (x - median).abs() / scale;
            RollingZPoint {
                score: z / threshold,
                flagged: z > threshold,
                expected: median,
                lower: median - threshold * scale,
                upper: median + threshold * scale,
            }
        });
        if self.window.len() == self.params.window {
            self.window.pop_front();
        }
        self.window.push_back(x);
        point
    }

    /// Checks a state read back.
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        if self.window.len() > self.params.window {
            return Err(invalid(
                "state",
                "the window holds more values than its length".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 10.0 + (i as f64 * 0.3).sin() + ((i * 7) % 5) as f64 * 0.05)
            .collect()
    }

    #[test]
    fn flags_a_spike_and_nothing_else() {
        let mut v = wave(600);
        v[400] += 30.0;
        let d = RollingZParams::default().detect(&v, 1.0);
        let flagged: Vec<usize> = (0..600).filter(|&i| d.anomalies[i]).collect();
        assert_eq!(flagged, vec![400]);
        assert!(d.scores[400] > 1.0);
        assert!(d.lower[400] < d.expected[400] && d.expected[400] < d.upper[400]);
        // The first points have no history and are not scored.
        assert!(d.expected[0].is_nan() && !d.anomalies[0]);
    }

    #[test]
    fn sensitivity_scales_the_threshold() {
        let mut v = wave(600);
        v[400] += 4.0;
        assert!(!RollingZParams::default().detect(&v, 1.0).anomalies[400]);
        assert!(RollingZParams::default().detect(&v, 3.0).anomalies[400]);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(
            RollingZParams {
                window: 1,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            RollingZParams {
                threshold: -1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
