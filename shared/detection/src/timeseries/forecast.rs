//! Forecast bands: MSTL decomposition (one LOESS seasonal component per period) with an
//! automatically selected ETS model for the trend, from augurs. A point outside the
//! in-sample prediction interval is flagged; the score is the residual over the half
//! width of the interval (> 1 means outside).

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;
use serde::{Deserialize, Serialize};

use super::SeriesDetection;
use super::esd::detect_period;
use crate::error::{DetectionError, Result, invalid};

/// Parameters of the forecast method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastParams {
    /// Seasonal periods in points (default: the dominant period detected, if any).
    pub periods: Option<Vec<usize>>,
    /// Prediction-interval level (0.5–0.9999; default 0.99).
    pub level: f64,
}

impl Default for ForecastParams {
    fn default() -> Self {
        Self {
            periods: None,
            level: 0.99,
        }
    }
}

impl ForecastParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(0.5..=0.9999).contains(&self.level) {
            return Err(invalid(
                "level",
                format!("must be in [0.5, 0.9999], got {}", self.level),
            ));
        }
        if let Some(p) = &self.periods
            && p.iter().any(|&p| p < 2)
        {
            return Err(invalid("periods", "every period must be at least 2 points"));
        }
        Ok(())
    }

    pub(crate) fn min_points(&self) -> usize {
        let longest = self
            .periods
            .as_ref()
            .and_then(|p| p.iter().max().copied())
            .unwrap_or(0);
        (2 * longest).max(10)
    }

    pub(crate) fn detect(
        &self,
        values: &[f64],
        period: Option<usize>,
        sensitivity: f64,
    ) -> Result<SeriesDetection> {
        let n = values.len();
        let periods: Vec<usize> = match (period, &self.periods) {
            (Some(p), _) => vec![p],
            (None, Some(p)) => p.clone(),
            (None, None) => detect_period(values).into_iter().collect(),
        };
        if let Some(&longest) = periods.iter().max()
            && n < 2 * longest
        {
            return Err(DetectionError::TooFewRows {
                algorithm: "forecast",
                min: 2 * longest,
                got: n,
            });
        }
        let failed = |e: &dyn std::fmt::Display| DetectionError::Internal {
            component: "forecast (augurs MSTL/ETS)",
            message: e.to_string(),
        };
        let model = MSTLModel::new(periods, AutoETS::non_seasonal().into_trend_model());
        let fitted = model.fit(values).map_err(|e| failed(&e))?;
        let forecast = fitted
            .predict_in_sample(self.level)
            .map_err(|e| failed(&e))?;
        let mut out = SeriesDetection::with_len(n);
        out.expected = forecast.point;
        if let Some(intervals) = forecast.intervals {
            // Several parallel per-point arrays are filled by index.
            #[allow(clippy::needless_range_loop)]
            for i in 0..n {
                let half = ((intervals.upper[i] - intervals.lower[i]) / 2.0 / sensitivity)
                    .max(f64::EPSILON);
                out.lower[i] = out.expected[i] - half;
                out.upper[i] = out.expected[i] + half;
                out.scores[i] = (values[i] - out.expected[i]).abs() / half;
                out.anomalies[i] = out.scores[i] > 1.0;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_spike_is_outside_the_band() {
        let mut v: Vec<f64> = (0..960)
            .map(|i| {
                50.0 + 10.0 * ((i % 48) as f64 / 48.0 * std::f64::consts::TAU).sin()
                    + ((i * 7) % 3) as f64 * 0.2
            })
            .collect();
        v[500] += 12.0;
        let d = ForecastParams::default().detect(&v, Some(48), 1.0).unwrap();
        assert!(d.anomalies[500], "score {}", d.scores[500]);
        let false_alarms = (0..960).filter(|&i| d.anomalies[i] && i != 500).count();
        assert!(false_alarms < 10, "{false_alarms}");
        assert!(d.lower[100] < d.expected[100] && d.expected[100] < d.upper[100]);
    }
}
