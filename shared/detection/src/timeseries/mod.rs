//! Time-series anomaly detection: one ordered series of values in, per point an expected
//! value, a band, a score, a grade and a flag out — plus changepoints.
//!
//! Points are taken in the order given (callers sort by timestamp); spacing is not
//! resampled, so a seasonal period is a number of points. Methods:
//! - [`rolling_z`]: robust z-score against a trailing window (median / MAD) — the baseline.
//! - [`esd`]: seasonal hybrid ESD (Hochenbaum, Vallis & Kejariwal 2017).
//! - [`forecast`]: MSTL decomposition with an ETS trend (augurs), prediction intervals.
//! - [`changepoint`]: Bayesian online changepoint detection (augurs).
//! - [`stream`]: streaming Random Cut Forest over shingles, with serialisable state.
//! - [`online`]: the methods that run one value at a time (`rcf`, `rolling-z`,
//!   `context`), with cooldown and grade carried as state, for streams.
//! - [`context`]: contextual anomaly detection (CAD OSE's algorithm): a memory of
//!   value patterns that reports what it did not predict.
//!
//! `sensitivity` (default 1) scales every method's threshold: thresholds are divided by
//! it, so 2 flags more and 0.5 flags less.
//!
//! Alarms are de-duplicated: after a flagged point, further flags within `cooldown` points
//! are cleared (their scores stay), so one anomaly episode raises one alarm at its onset.
//! The default cooldown is 1/50 of the series (at least 10 points); 0 turns it off.

/// Settings shared by every method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesSettings {
    /// Seasonal period in points, where the method uses one (default: detected).
    pub period: Option<usize>,
    /// Threshold scale (default 1).
    pub sensitivity: f64,
    /// Points after an alarm during which new flags are cleared (default: n / 50, ≥ 10).
    pub cooldown: Option<usize>,
}

impl Default for SeriesSettings {
    fn default() -> Self {
        Self {
            period: None,
            sensitivity: 1.0,
            cooldown: None,
        }
    }
}

/// The default alarm cooldown for a series of `n` points.
pub fn default_cooldown(n: usize) -> usize {
    (n / 50).max(10)
}

/// Clears flags within `cooldown` points after each kept flag.
pub fn suppress_repeats(anomalies: &mut [bool], cooldown: usize) {
    let mut last: Option<usize> = None;
    for (i, flag) in anomalies.iter_mut().enumerate() {
        if *flag {
            match last {
                Some(l) if i - l <= cooldown => *flag = false,
                _ => last = Some(i),
            }
        }
    }
}

use serde::{Deserialize, Serialize};

use crate::error::{DetectionError, Result, invalid};

pub mod changepoint;
pub mod context;
pub mod esd;
pub mod forecast;
pub mod nab;
pub mod online;
pub mod rolling_z;
pub mod stream;
mod tdist;

/// A detected change of level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changepoint {
    /// Index of the first point of the new level.
    pub index: usize,
    /// Median level of the segment before.
    pub level_before: f64,
    /// Median level of the segment after.
    pub level_after: f64,
}

/// Per-point results, in input order, and the changepoints found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SeriesDetection {
    /// Expected value of each point.
    pub expected: Vec<f64>,
    /// Lower edge of the normal band.
    pub lower: Vec<f64>,
    /// Upper edge of the normal band.
    pub upper: Vec<f64>,
    /// Anomaly score (higher = more anomalous; > 1 means outside the band for the
    /// band-based methods).
    pub scores: Vec<f64>,
    /// Grade in [0, 1]: the share of this series' scores below the point's score.
    pub grades: Vec<f64>,
    /// Anomaly flag.
    pub anomalies: Vec<bool>,
    /// Level changes (the changepoint method; empty for the others).
    pub changepoints: Vec<Changepoint>,
}

impl SeriesDetection {
    pub(crate) fn with_len(n: usize) -> Self {
        Self {
            expected: vec![f64::NAN; n],
            lower: vec![f64::NAN; n],
            upper: vec![f64::NAN; n],
            scores: vec![0.0; n],
            grades: vec![0.0; n],
            anomalies: vec![false; n],
            changepoints: Vec::new(),
        }
    }

    /// Fills `grades` from `scores`.
    pub(crate) fn grade(mut self) -> Self {
        let finite: Vec<f64> = self
            .scores
            .iter()
            .copied()
            .filter(|s| s.is_finite())
            .collect();
        if !finite.is_empty() {
            let distribution = crate::ScoreDistribution::from_scores(&finite);
            self.grades = self.scores.iter().map(|&s| distribution.grade(s)).collect();
        }
        self
    }
}

/// A time-series method with its parameters. Serialised as
/// `{"method": "rolling-z", "parameters": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "parameters", rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum SeriesMethod {
    Forecast(forecast::ForecastParams),
    Changepoint(changepoint::ChangepointParams),
    Esd(esd::EsdParams),
    RollingZ(rolling_z::RollingZParams),
    Rcf(stream::StreamingRcfParams),
    Context(context::ContextParams),
}

/// The method used when none is named: the most windows found with the fewest false
/// alarms on the NAB corpus (`docs/benchmarks.md`).
pub const DEFAULT_METHOD: &str = "context";

/// Names of the methods, in listing order.
pub const METHODS: &[&str] = &[
    "forecast",
    "changepoint",
    "esd",
    "rolling-z",
    "rcf",
    "context",
];

impl SeriesMethod {
    /// Method `name` with `parameters` (a JSON object or null), validated.
    pub fn from_name(name: &str, parameters: Option<serde_json::Value>) -> Result<Self> {
        let canonical = match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "forecast" | "mstl" | "ets" => "forecast",
            "changepoint" | "bocpd" | "change-point" => "changepoint",
            "esd" | "s-h-esd" | "shesd" | "seasonal-esd" => "esd",
            "rolling-z" | "rollingz" | "zscore" | "rolling-zscore" => "rolling-z",
            "rcf" | "random-cut-forest" | "streaming-rcf" => "rcf",
            "context" | "contextual" | "cad" | "cad-ose" => "context",
            _ => {
                return Err(DetectionError::UnknownAlgorithm {
                    name: name.to_string(),
                    known: METHODS.join(", "),
                });
            }
        };
        let parameters = match parameters {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(v) => v,
        };
        let method: Self = serde_json::from_value(
            serde_json::json!({"method": canonical, "parameters": parameters}),
        )
        .map_err(|e| DetectionError::InvalidParameter {
            name: "parameters",
            reason: format!("{e} for method `{canonical}`"),
        })?;
        method.validate()?;
        Ok(method)
    }

    /// Canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Forecast(_) => "forecast",
            Self::Changepoint(_) => "changepoint",
            Self::Esd(_) => "esd",
            Self::RollingZ(_) => "rolling-z",
            Self::Rcf(_) => "rcf",
            Self::Context(_) => "context",
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Forecast(p) => p.validate(),
            Self::Changepoint(p) => p.validate(),
            Self::Esd(p) => p.validate(),
            Self::RollingZ(p) => p.validate(),
            Self::Rcf(p) => p.validate(),
            Self::Context(p) => p.validate(),
        }
    }

    /// The fewest points the method accepts.
    pub fn min_points(&self) -> usize {
        match self {
            Self::Forecast(p) => p.min_points(),
            Self::Changepoint(_) => 3,
            Self::Esd(p) => p.min_points(),
            Self::RollingZ(p) => p.min_points(),
            Self::Rcf(p) => p.min_points(),
            Self::Context(p) => p.min_points(),
        }
    }

    /// Runs the method on `values` (in time order) with `settings` (see the module docs).
    pub fn detect(&self, values: &[f64], settings: SeriesSettings) -> Result<SeriesDetection> {
        let SeriesSettings {
            period,
            sensitivity,
            cooldown,
        } = settings;
        if !(sensitivity.is_finite() && sensitivity > 0.0 && sensitivity <= 100.0) {
            return Err(invalid(
                "sensitivity",
                format!("must be in (0, 100], got {sensitivity}"),
            ));
        }
        if let Some(p) = period
            && p < 2
        {
            return Err(invalid(
                "period",
                format!("must be at least 2 points, got {p}"),
            ));
        }
        if let Some((i, &v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && v.abs() <= crate::MAX_MAGNITUDE))
        {
            return Err(if v.is_finite() {
                DetectionError::TooLarge {
                    row: i,
                    column: 0,
                    value: v,
                }
            } else {
                DetectionError::NonFinite {
                    row: i,
                    column: 0,
                    value: v.to_string(),
                }
            });
        }
        let min = self.min_points();
        if values.len() < min {
            return Err(DetectionError::TooFewRows {
                algorithm: self.name(),
                min,
                got: values.len(),
            });
        }
        let detection = match self {
            Self::Forecast(p) => p.detect(values, period, sensitivity)?,
            Self::Changepoint(p) => p.detect(values, sensitivity),
            Self::Esd(p) => p.detect(values, period, sensitivity),
            Self::RollingZ(p) => p.detect(values, sensitivity),
            Self::Rcf(p) => p.detect(values, sensitivity)?,
            Self::Context(p) => p.detect(values, sensitivity)?,
        };
        let mut detection = detection;
        let cooldown = cooldown.unwrap_or_else(|| default_cooldown(values.len()));
        if cooldown > 0 {
            suppress_repeats(&mut detection.anomalies, cooldown);
        }
        Ok(detection.grade())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_cooldown_are_cleared() {
        let mut flags = vec![false; 30];
        for i in [3, 4, 5, 9, 20, 21] {
            flags[i] = true;
        }
        suppress_repeats(&mut flags, 5);
        let kept: Vec<usize> = (0..30).filter(|&i| flags[i]).collect();
        assert_eq!(kept, vec![3, 9, 20]);
    }

    #[test]
    fn settings_and_input_are_checked() {
        let m = SeriesMethod::from_name("rolling-z", None).unwrap();
        let bad = SeriesSettings {
            sensitivity: 0.0,
            ..Default::default()
        };
        assert!(
            m.detect(&[1.0; 100], bad)
                .unwrap_err()
                .to_string()
                .contains("sensitivity")
        );
        let err = m
            .detect(&[1.0; 5], SeriesSettings::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 21"), "{err}");
        let err = m
            .detect(&[1.0, f64::NAN, 2.0], SeriesSettings::default())
            .unwrap_err();
        assert!(matches!(err, DetectionError::NonFinite { row: 1, .. }));
        let err = SeriesMethod::from_name("changepoint", None)
            .unwrap()
            .detect(&[1.0, -1.7e293, 2.0, 3.0], SeriesSettings::default())
            .unwrap_err();
        assert!(
            matches!(err, DetectionError::TooLarge { row: 1, .. }),
            "{err}"
        );
        let err = SeriesMethod::from_name("arima", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown") && err.contains("rolling-z"),
            "{err}"
        );
        let err =
            SeriesMethod::from_name("esd", Some(serde_json::json!({"alpha": 2}))).unwrap_err();
        assert!(err.to_string().contains("alpha"));
    }
}
