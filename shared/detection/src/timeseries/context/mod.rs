//! Contextual anomaly detection: the algorithm of CAD OSE (M. Smirnov's Contextual Anomaly
//! Detector, Open Source Edition, second on the Numenta Anomaly Benchmark's
//! standard-profile table), implemented here from its description; no code of the
//! AGPL reference was taken.
//!
//! Each value becomes a few *facts*: its bin among `2^bits` equal bins of the series'
//! range, written as one fact per bit. A *context* pairs a set of facts seen at one step
//! (the left half: the step's facts plus the contexts it activated) with facts seen at the
//! next (the right half). The memory starts empty and learns as it reads:
//! - at every step the pair (previous left facts, current facts) is remembered as a
//!   zero-level context, and contexts whose left half matched the previous step are
//!   *selected*; those whose right half matches the current facts fire (*active*);
//! - partial overlaps of selected halves with what was seen become candidate contexts,
//!   remembered when new;
//! - the `max_active` most-used active contexts join the next step's left facts, so
//!   contexts chain into longer patterns.
//!
//! The raw score is `(1 − active/selected + new/candidates) / 2`: high when the memory
//! predicted little of what happened and had to learn much. After a raw score at or above
//! `threshold`, the next `rest` points score 0 (the episode is already reported). The first
//! `rest` points score 0 too, while the memory fills.
//!
//! A second channel catches what the memory can miss — a burst during a rest period, a
//! spike far beyond a noisy series' usual swings: a small streaming Random Cut Forest
//! ([`super::stream`]: shingles of 10, 4 trees of 256 points) flags a point whose score
//! exceeds `spike_threshold` (default 3.2, 1.6 times the `rcf` method's own threshold, so
//! only its most extreme points). On the NAB corpus it adds two windows for twelve alarms
//! (the same from 3.0 to 3.4).
//! `spike_threshold: null` turns it off.
//!
//! Every step depends only on the past, except the value range that the bins divide.
//! `lower` and `upper`, when given (a CPU's 0–100%), fix it and the method is causal. Else
//! `range: "series"` (the default in batch) takes the whole series' minimum and maximum,
//! as NAB gives every detector its input's range; `range: "learned"` takes the range of
//! the first points (15% of the series, at most 750) widened by `margin` of its width on
//! each side, later values clamped to it; `range: "expanding"` also widens it to take in a
//! value beyond it. On the 43 NAB series the series range finds the most windows; the
//! learned ones lose about a fifth of them (figures in `docs/benchmarks.md`).

mod memory;

use memory::ContextDetector;

use serde::{Deserialize, Serialize};

use super::SeriesDetection;
use super::stream::{StreamingRcf, StreamingRcfParams};
use crate::error::{DetectionError, Result, invalid};

/// How the value range that the bins divide is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RangeSource {
    /// The first points (15%, at most 750), widened by `margin` each side: causal.
    Learned,
    /// The whole series' minimum and maximum (batch only).
    #[default]
    Series,
    /// Learned, then widened to take in any value outside it.
    Expanding,
}

/// Parameters of the contextual detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextParams {
    /// Bits per value: the range is cut into `2^bits` bins (1–8; default 3).
    pub bits: u32,
    /// Raw score at which a point is flagged and the rest period starts (0–1; default
    /// 0.75).
    pub threshold: f64,
    /// Points after a flag whose score is 0 (default: 3% of the series, 10–150).
    pub rest: Option<usize>,
    /// Largest left half, in facts, from which new contexts are built (1–64; default 5:
    /// CAD OSE's 7 finds the same NAB windows with more false alarms, at half the speed).
    pub max_left: usize,
    /// Active contexts carried into the next step (1–256; default 15).
    pub max_active: usize,
    /// Where the value range comes from, unless `lower` and `upper` give it (default
    /// `series`).
    pub range: RangeSource,
    /// The lowest value expected (with `upper`: a fixed range, and a causal method).
    pub lower: Option<f64>,
    /// The highest value expected.
    pub upper: Option<f64>,
    /// Widening of a learned range, as a share of its width on each side (default 0.5).
    pub margin: f64,
    /// Random Cut Forest score above which the spike channel flags a point (default 3.2;
    /// `null`: no spike channel).
    pub spike_threshold: Option<f64>,
}

fn range_of(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Values a stream learns its range from when `lower` and `upper` are not given: NAB's
/// probation period of a long series.
pub const STREAM_RANGE_POINTS: usize = 750;

/// Rest period of a stream, whose length is unknown: the batch default's cap.
const STREAM_REST: usize = 150;

/// A live contextual detector fed one value at a time, whose state serialises so a stream
/// continues in another invocation. Causal: the range is `lower`/`upper`, or learned from
/// the first [`STREAM_RANGE_POINTS`] values (`range: series` cannot be known in advance and
/// is taken as `learned`), which are held and score 0 until then.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextStream {
    params: ContextParams,
    /// Values held until the range is learned.
    pending: Vec<f64>,
    memory: Option<ContextDetector>,
    spikes: Option<StreamingRcf>,
    seen: u64,
}

impl ContextStream {
    /// A new, empty stream.
    pub fn new(params: ContextParams) -> Result<Self> {
        params.validate()?;
        let rest = params.rest.unwrap_or(STREAM_REST);
        let memory = match (params.lower, params.upper) {
            (Some(lo), Some(hi)) => Some(ContextDetector::new(&params, lo, hi, rest)),
            _ => None,
        };
        let spikes = params
            .spike_threshold
            .map(|t| StreamingRcf::new(spike_forest(t)))
            .transpose()?;
        Ok(Self {
            params,
            pending: Vec::new(),
            memory,
            spikes,
            seen: 0,
        })
    }

    /// Scores `value` against the stream so far, then learns it. Returns the score (1 at
    /// the threshold, which `sensitivity` divides) and whether the point is flagged.
    pub fn process(&mut self, value: f64, sensitivity: f64) -> Result<(f64, bool)> {
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
        let (score, flagged) = self.params.step(
            self.memory.as_mut(),
            self.spikes.as_mut(),
            value,
            sensitivity,
        )?;
        if self.memory.is_none() {
            self.pending.push(value);
            if self.pending.len() >= STREAM_RANGE_POINTS {
                let (lo, hi) = self.params.learned_range(&self.pending);
                let rest = self.params.rest.unwrap_or(STREAM_REST);
                let mut memory = ContextDetector::new(&self.params, lo, hi, rest);
                for &x in &self.pending {
                    memory.score(x);
                }
                self.pending = Vec::new();
                self.memory = Some(memory);
            }
        }
        self.seen += 1;
        Ok((score, flagged))
    }

    /// Points seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The stream's state as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| DetectionError::ModelFormat(e.to_string()))
    }

    /// Restores a stream from [`ContextStream::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let stream: Self = serde_json::from_slice(bytes)
            .map_err(|e| DetectionError::ModelFormat(format!("corrupt stream state: {e}")))?;
        stream.validate()?;
        Ok(stream)
    }

    /// Checks a state read back (the memory checks itself as it is read).
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        if let Some(spikes) = &self.spikes {
            spikes.validate()?;
        }
        Ok(())
    }
}

/// The spike channel's forest: small, as it only has to rank the extreme points.
fn spike_forest(threshold: f64) -> StreamingRcfParams {
    StreamingRcfParams {
        num_trees: 4,
        sample_size: 256,
        threshold,
        ..StreamingRcfParams::default()
    }
}

impl Default for ContextParams {
    fn default() -> Self {
        Self {
            bits: 3,
            threshold: 0.75,
            rest: None,
            max_left: 5,
            max_active: 15,
            range: RangeSource::Series,
            lower: None,
            upper: None,
            margin: 0.5,
            spike_threshold: Some(3.2),
        }
    }
}

impl ContextParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=8).contains(&self.bits) {
            return Err(invalid(
                "bits",
                format!("must be between 1 and 8, got {}", self.bits),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(invalid(
                "threshold",
                format!("must be in (0, 1], got {}", self.threshold),
            ));
        }
        if let Some(r) = self.rest
            && r > 100_000
        {
            return Err(invalid("rest", format!("must be at most 100000, got {r}")));
        }
        if !(1..=64).contains(&self.max_left) {
            return Err(invalid(
                "max_left",
                format!("must be between 1 and 64, got {}", self.max_left),
            ));
        }
        if !(self.margin.is_finite() && (0.0..=10.0).contains(&self.margin)) {
            return Err(invalid(
                "margin",
                format!("must be between 0 and 10, got {}", self.margin),
            ));
        }
        match (self.lower, self.upper) {
            (None, None) => {}
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo < hi => {}
            (Some(lo), Some(hi)) => {
                return Err(invalid(
                    "lower",
                    format!("must be below `upper` and both finite, got {lo} and {hi}"),
                ));
            }
            _ => {
                return Err(invalid(
                    "upper",
                    "`lower` and `upper` go together: give both or neither".to_string(),
                ));
            }
        }
        if let Some(t) = self.spike_threshold
            && !(t.is_finite() && t > 0.0)
        {
            return Err(invalid(
                "spike_threshold",
                format!("must be positive (or null for no spike channel), got {t}"),
            ));
        }
        if !(1..=256).contains(&self.max_active) {
            return Err(invalid(
                "max_active",
                format!("must be between 1 and 256, got {}", self.max_active),
            ));
        }
        Ok(())
    }

    pub(crate) fn min_points(&self) -> usize {
        20
    }

    /// One point through both channels, for the batch and the stream alike: the memory's
    /// score (none while a stream learns its range) and the spike forest's, as
    /// `(score, flagged)` with 1 at the threshold that `sensitivity` divides.
    fn step(
        &self,
        memory: Option<&mut ContextDetector>,
        spikes: Option<&mut StreamingRcf>,
        x: f64,
        sensitivity: f64,
    ) -> Result<(f64, bool)> {
        let (mut score, mut flagged) = (0.0, false);
        if let Some(memory) = memory {
            if self.range == RangeSource::Expanding && self.lower.is_none() {
                memory.take_in(x, self.margin);
            }
            let flag_at = self.threshold / sensitivity;
            let raw = memory.score(x);
            score = raw / flag_at;
            flagged = raw >= flag_at;
        }
        if let Some(forest) = spikes {
            let spike_at = self.spike_threshold.unwrap_or(f64::INFINITY) / sensitivity;
            let (raw, spike) = forest.process(x, sensitivity)?;
            score = score.max(raw / spike_at);
            flagged |= spike;
        }
        Ok((score, flagged))
    }

    /// The range of `first` widened by `margin` of its width on each side.
    fn learned_range(&self, first: &[f64]) -> (f64, f64) {
        let (lo, hi) = range_of(first);
        let margin = (hi - lo) * self.margin;
        (lo - margin, hi + margin)
    }

    /// Points the range is learned from, for a series of `n`.
    fn learning_points(n: usize) -> usize {
        (n * 15 / 100).clamp(10.min(n), 750)
    }

    pub(crate) fn detect(&self, values: &[f64], sensitivity: f64) -> Result<SeriesDetection> {
        let n = values.len();
        let (lo, hi) = match (self.lower, self.upper, self.range) {
            (Some(lo), Some(hi), _) => (lo, hi),
            (_, _, RangeSource::Series) => range_of(values),
            (_, _, RangeSource::Learned | RangeSource::Expanding) => {
                self.learned_range(&values[..Self::learning_points(n)])
            }
        };
        let rest = self.rest.unwrap_or((n * 3 / 100).clamp(10, 150));
        let mut detector = ContextDetector::new(self, lo, hi, rest);
        let mut spikes = self
            .spike_threshold
            .map(|t| StreamingRcf::new(spike_forest(t)))
            .transpose()?;
        let mut out = SeriesDetection::with_len(n);
        for (i, &x) in values.iter().enumerate() {
            (out.scores[i], out.anomalies[i]) =
                self.step(Some(&mut detector), spikes.as_mut(), x, sensitivity)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daily cycle (144 points a day) with a little deterministic noise.
    fn seasonal(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let phase = (i % 144) as f64 / 144.0 * std::f64::consts::TAU;
                50.0 + 20.0 * phase.sin() + ((i * 7919) % 13) as f64 * 0.2
            })
            .collect()
    }

    fn flagged(values: &[f64], params: &ContextParams) -> Vec<usize> {
        let d = params.detect(values, 1.0).unwrap();
        (0..values.len()).filter(|&i| d.anomalies[i]).collect()
    }

    fn near(flags: &[usize], at: usize, within: usize) -> bool {
        flags.iter().any(|&f| f >= at && f <= at + within)
    }

    #[test]
    fn a_clean_seasonal_series_raises_no_alarm() {
        let v = seasonal(4000);
        let flags = flagged(&v, &ContextParams::default());
        // Only while the memory learns the first cycles.
        assert!(flags.iter().all(|&f| f < 600), "{flags:?}");
    }

    #[test]
    fn a_spike_a_level_shift_and_a_broken_season_are_found() {
        let params = ContextParams::default();
        let mut spike = seasonal(4000);
        spike[3000] += 60.0;
        assert!(near(&flagged(&spike, &params), 3000, 5));

        let mut shift = seasonal(4000);
        for v in &mut shift[3000..] {
            *v += 35.0;
        }
        let flags = flagged(&shift, &params);
        assert!(near(&flags, 3000, 20), "{flags:?}");

        // A day where the cycle stops: values stay in range, the pattern does not.
        let mut flat = seasonal(4000);
        for v in &mut flat[3000..3144] {
            *v = 50.0;
        }
        let flags = flagged(&flat, &params);
        assert!(near(&flags, 3000, 144), "{flags:?}");
    }

    #[test]
    fn a_fixed_range_makes_the_method_causal() {
        let params = ContextParams {
            lower: Some(0.0),
            upper: Some(100.0),
            ..Default::default()
        };
        let v = seasonal(3000);
        let mut later_spike = v.clone();
        later_spike[2500] = 99.0;
        let a = params.detect(&v, 1.0).unwrap();
        let b = params.detect(&later_spike, 1.0).unwrap();
        // Nothing before the change depends on it.
        assert_eq!(a.scores[..2500], b.scores[..2500]);
        assert!(b.anomalies[2500..2510].iter().any(|&f| f));
    }

    #[test]
    fn a_stream_with_a_given_range_scores_as_the_batch_does_and_resumes_from_its_state() {
        let params = ContextParams {
            lower: Some(0.0),
            upper: Some(100.0),
            rest: Some(100),
            ..Default::default()
        };
        let mut v = seasonal(2500);
        v[2000] = 97.0;
        let batch = params.detect(&v, 1.0).unwrap();
        let mut stream = ContextStream::new(params).unwrap();
        let mut scores = Vec::new();
        for &x in &v[..1200] {
            scores.push(stream.process(x, 1.0).unwrap());
        }
        let mut resumed = ContextStream::from_json(&stream.to_json().unwrap()).unwrap();
        assert_eq!(resumed.seen(), 1200);
        for &x in &v[1200..] {
            let a = stream.process(x, 1.0).unwrap();
            assert_eq!(a, resumed.process(x, 1.0).unwrap());
            scores.push(a);
        }
        for (i, &(score, flagged)) in scores.iter().enumerate() {
            assert_eq!(score, batch.scores[i], "point {i}");
            assert_eq!(flagged, batch.anomalies[i], "point {i}");
        }
        assert!(scores[2000..2010].iter().any(|s| s.1));
    }

    #[test]
    fn a_stream_learns_its_range_then_flags() {
        let mut stream = ContextStream::new(ContextParams::default()).unwrap();
        let mut v = seasonal(3000);
        v[2600] += 60.0;
        let flags: Vec<usize> = v
            .iter()
            .enumerate()
            .filter(|&(_, &x)| stream.process(x, 1.0).unwrap().1)
            .map(|(i, _)| i)
            .collect();
        assert!(near(&flags, 2600, 5), "{flags:?}");
        assert!(
            flags.iter().all(|&f| !(900..2600).contains(&f)),
            "{flags:?}"
        );
        assert!(stream.process(f64::NAN, 1.0).is_err());
        // A state naming halves it does not have is refused, not trusted.
        let mut state: serde_json::Value =
            serde_json::from_slice(&stream.to_json().unwrap()).unwrap();
        state["memory"]["contexts"][0][2] = serde_json::json!(1_000_000);
        let err = ContextStream::from_json(&serde_json::to_vec(&state).unwrap()).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn rejects_bad_parameters() {
        let bad = |p: ContextParams| p.validate().unwrap_err().to_string();
        assert!(
            bad(ContextParams {
                bits: 0,
                ..Default::default()
            })
            .contains("bits")
        );
        assert!(
            bad(ContextParams {
                threshold: 1.5,
                ..Default::default()
            })
            .contains("threshold")
        );
        assert!(
            bad(ContextParams {
                lower: Some(1.0),
                ..Default::default()
            })
            .contains("together")
        );
        assert!(
            bad(ContextParams {
                lower: Some(5.0),
                upper: Some(1.0),
                ..Default::default()
            })
            .contains("below")
        );
    }
}
