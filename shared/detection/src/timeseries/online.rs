//! Time series one value at a time: the methods that can score a point from the past alone
//! (`rcf`, `rolling-z`, `context`), behind one type whose state serialises, plus the two
//! things a batch computes over the whole series and a stream must carry instead — the
//! alarm cooldown ([`Cooldown`]) and the grade ([`GradeSketch`]).
//!
//! A stream fed a series flags the same points as the batch method over the whole series
//! with the same parameters and a fixed `cooldown` (for `context`, with `lower`/`upper`
//! and `rest` given: a stream cannot know the series' range or length in advance).

use serde::{Deserialize, Serialize};

use super::SeriesMethod;
use super::context::ContextStream;
use super::rolling_z::RollingZStream;
use super::stream::StreamingRcf;
use crate::error::{DetectionError, Result, invalid};

/// Methods a stream can run, in listing order.
pub const ONLINE_METHODS: &[&str] = &["rcf", "rolling-z", "context"];

/// One point's result: the score (1 at the method's threshold), whether the method flags
/// it (before any cooldown), and the expected value and band where the method has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineScore {
    /// Score, 1 at the threshold.
    pub score: f64,
    /// The method's flag.
    pub flagged: bool,
    /// Expected value, where the method has one.
    pub expected: Option<f64>,
    /// Normal band `(lower, upper)`, where the method has one.
    pub band: Option<(f64, f64)>,
}

/// A method's live state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum OnlineDetector {
    Rcf(Box<StreamingRcf>),
    RollingZ(RollingZStream),
    Context(Box<ContextStream>),
}

impl OnlineDetector {
    /// A new stream of `method`; the batch-only methods are refused, naming the others.
    pub fn new(method: &SeriesMethod) -> Result<Self> {
        match method {
            SeriesMethod::Rcf(p) => Ok(Self::Rcf(Box::new(StreamingRcf::new(p.clone())?))),
            SeriesMethod::RollingZ(p) => Ok(Self::RollingZ(RollingZStream::new(p.clone())?)),
            SeriesMethod::Context(p) => Ok(Self::Context(Box::new(ContextStream::new(p.clone())?))),
            other => Err(invalid(
                "method",
                format!(
                    "`{}` needs the whole series; a stream takes one of: {}",
                    other.name(),
                    ONLINE_METHODS.join(", ")
                ),
            )),
        }
    }

    /// Scores `value` against what came before, then learns it. `sensitivity` divides the
    /// threshold, as in batch.
    pub fn process(&mut self, value: f64, sensitivity: f64) -> Result<OnlineScore> {
        if !(value.is_finite() && value.abs() <= crate::MAX_MAGNITUDE) {
            return Err(invalid(
                "value",
                format!("must be a finite number within ±1e100, got {value}"),
            ));
        }
        if !(sensitivity.is_finite() && sensitivity > 0.0 && sensitivity <= 100.0) {
            return Err(invalid(
                "sensitivity",
                format!("must be in (0, 100], got {sensitivity}"),
            ));
        }
        Ok(match self {
            Self::Rcf(forest) => {
                let (raw, flagged) = forest.process(value, sensitivity)?;
                OnlineScore {
                    score: forest.score_of(raw, sensitivity),
                    flagged,
                    expected: None,
                    band: None,
                }
            }
            Self::RollingZ(stream) => match stream.step(value, sensitivity) {
                Some(p) => OnlineScore {
                    score: p.score,
                    flagged: p.flagged,
                    expected: Some(p.expected),
                    band: Some((p.lower, p.upper)),
                },
                None => OnlineScore {
                    score: 0.0,
                    flagged: false,
                    expected: None,
                    band: None,
                },
            },
            Self::Context(stream) => {
                let (score, flagged) = stream.process(value, sensitivity)?;
                OnlineScore {
                    score,
                    flagged,
                    expected: None,
                    band: None,
                }
            }
        })
    }

    /// Checks a state read back (parameters in range, internal sizes consistent).
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Rcf(forest) => forest.validate(),
            Self::RollingZ(stream) => stream.validate(),
            Self::Context(stream) => stream.validate(),
        }
    }
}

/// The alarm cooldown of a stream: after an alarm, flags within `cooldown` points are
/// not alarms — as [`super::suppress_repeats`] does over a whole series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldown {
    /// Points after an alarm during which flags are cleared (0: none).
    pub points: u64,
    /// Index of the last alarm.
    pub last_alarm: Option<u64>,
}

impl Cooldown {
    /// A cooldown of `points`.
    pub fn new(points: u64) -> Self {
        Self {
            points,
            last_alarm: None,
        }
    }

    /// Whether a flag at point `index` (0-based, increasing) is an alarm; records it.
    pub fn admit(&mut self, index: u64, flagged: bool) -> bool {
        if !flagged {
            return false;
        }
        match self.last_alarm {
            Some(last) if self.points > 0 && index - last <= self.points => false,
            _ => {
                self.last_alarm = Some(index);
                true
            }
        }
    }
}

/// Bins of [`GradeSketch`]: one for scores ≤ [`GradeSketch::LOWEST`], then
/// [`GradeSketch::PER_DECADE`] per decade up to [`GradeSketch::HIGHEST`], one above.
const DECADES: usize = 6;

/// A stream's grade: the share of the scores it has seen below a point's score, as a batch
/// grade is over the series — from a log-spaced histogram of scores (a few hundred bytes,
/// whatever the stream's length) instead of every score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeSketch {
    counts: Vec<u64>,
}

impl Default for GradeSketch {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::BINS],
        }
    }
}

impl GradeSketch {
    /// Scores at or below this share the lowest bin.
    pub const LOWEST: f64 = 1e-3;
    /// Scores above this share the highest bin.
    pub const HIGHEST: f64 = 1e3;
    /// Bins per decade between them.
    pub const PER_DECADE: usize = 10;
    const BINS: usize = DECADES * Self::PER_DECADE + 2;

    fn bin(score: f64) -> usize {
        if score.is_nan() || score <= Self::LOWEST {
            0
        } else if score > Self::HIGHEST {
            Self::BINS - 1
        } else {
            let position = (score / Self::LOWEST).log10() * Self::PER_DECADE as f64;
            1 + (position.ceil() as usize)
                .saturating_sub(1)
                .min(Self::BINS - 3)
        }
    }

    /// Adds `score` and returns its grade in [0, 1]: the share of scores so far (this one
    /// included) in lower bins, plus half the share in its own bin.
    pub fn add(&mut self, score: f64) -> f64 {
        let bin = Self::bin(score);
        self.counts[bin] += 1;
        let total: u64 = self.counts.iter().sum();
        let below: u64 = self.counts[..bin].iter().sum();
        let same = self.counts[bin] - 1;
        (below as f64 + 0.5 * same as f64) / total.max(1) as f64
    }

    /// Checks a sketch read back.
    pub fn validate(&self) -> Result<()> {
        if self.counts.len() == Self::BINS {
            Ok(())
        } else {
            Err(DetectionError::ModelFormat(format!(
                "corrupt stream state: a grade sketch has {} bins, expected {}",
                self.counts.len(),
                Self::BINS
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeseries::{SeriesSettings, suppress_repeats};

    fn series(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let season = 5.0 * ((i % 40) as f64 / 40.0 * std::f64::consts::TAU).sin();
                let noise = ((i * 7919) % 97) as f64 / 97.0;
                let spike = if i % 331 == 300 { 25.0 } else { 0.0 };
                20.0 + season + noise + spike
            })
            .collect()
    }

    /// The stream flags exactly the batch's points, for every online method.
    #[test]
    fn streams_flag_what_the_batch_flags() {
        let v = series(2500);
        for (name, params) in [
            ("rcf", serde_json::json!({})),
            ("rolling-z", serde_json::json!({"window": 100})),
            (
                "context",
                serde_json::json!({"lower": 15, "upper": 50, "rest": 30}),
            ),
        ] {
            let method = SeriesMethod::from_name(name, Some(params)).unwrap();
            for cooldown in [0, 7] {
                let settings = SeriesSettings {
                    cooldown: Some(cooldown),
                    sensitivity: 1.3,
                    ..Default::default()
                };
                let batch = method.detect(&v, settings).unwrap();
                let mut online = OnlineDetector::new(&method).unwrap();
                let mut alarms = Cooldown::new(cooldown as u64);
                let mut flags = Vec::new();
                for (i, &x) in v.iter().enumerate() {
                    let point = online.process(x, 1.3).unwrap();
                    assert!((point.score - batch.scores[i]).abs() < 1e-12, "{name} {i}");
                    flags.push(alarms.admit(i as u64, point.flagged));
                }
                assert_eq!(flags, batch.anomalies, "{name} cooldown {cooldown}");
                assert!(flags.iter().any(|&f| f), "{name} flags nothing");
            }
        }
    }

    #[test]
    fn state_survives_a_round_trip() {
        let v = series(1200);
        let method = SeriesMethod::from_name("rolling-z", None).unwrap();
        let mut a = OnlineDetector::new(&method).unwrap();
        for &x in &v[..700] {
            a.process(x, 1.0).unwrap();
        }
        let json = serde_json::to_vec(&a).unwrap();
        let mut b: OnlineDetector = serde_json::from_slice(&json).unwrap();
        b.validate().unwrap();
        for &x in &v[700..] {
            assert_eq!(a.process(x, 1.0).unwrap(), b.process(x, 1.0).unwrap());
        }
    }

    #[test]
    fn batch_only_methods_and_bad_values_are_refused() {
        let esd = SeriesMethod::from_name("esd", None).unwrap();
        let err = OnlineDetector::new(&esd).unwrap_err().to_string();
        assert!(err.contains("rcf, rolling-z, context"), "{err}");
        let mut rcf = OnlineDetector::new(&SeriesMethod::from_name("rcf", None).unwrap()).unwrap();
        assert!(rcf.process(f64::NAN, 1.0).is_err());
        assert!(rcf.process(1.0, 0.0).is_err());
    }

    #[test]
    fn cooldown_matches_suppress_repeats() {
        let raw: Vec<bool> = (0..200).map(|i| i % 7 == 0 || i % 11 == 0).collect();
        for points in [0, 3, 10] {
            let mut batch = raw.clone();
            if points > 0 {
                suppress_repeats(&mut batch, points);
            }
            let mut c = Cooldown::new(points as u64);
            let online: Vec<bool> = raw
                .iter()
                .enumerate()
                .map(|(i, &f)| c.admit(i as u64, f))
                .collect();
            assert_eq!(online, batch, "cooldown {points}");
        }
    }

    #[test]
    fn grades_rank_scores() {
        let mut sketch = GradeSketch::default();
        for i in 0..1000 {
            sketch.add(0.1 + (i % 10) as f64 * 0.05);
        }
        assert!(sketch.add(5.0) > 0.99);
        assert!(sketch.add(0.0) < 0.01);
        let middle = sketch.add(0.32);
        assert!((0.3..0.7).contains(&middle), "{middle}");
        sketch.validate().unwrap();
        assert!(GradeSketch { counts: vec![1] }.validate().is_err());
    }
}
