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

use std::collections::{HashMap, HashSet};

// Fixed-seed fast hashing: the memory is many small integer keys, where SipHash dominates
// the run time; nothing iterates these maps, so the seed does not change results.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type Set<K> = HashSet<K, foldhash::fast::FixedState>;

use serde::{Deserialize, Serialize};

use super::SeriesDetection;
use super::stream::{StreamingRcf, StreamingRcfParams};
use crate::error::{Result, invalid};

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

    /// Points the range is learned from, for a series of `n`.
    fn learning_points(n: usize) -> usize {
        (n * 15 / 100).clamp(10.min(n), 750)
    }

    pub(crate) fn detect(&self, values: &[f64], sensitivity: f64) -> Result<SeriesDetection> {
        let n = values.len();
        let range_of = |v: &[f64]| {
            v.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                })
        };
        let (lo, hi) = match (self.lower, self.upper, self.range) {
            (Some(lo), Some(hi), _) => (lo, hi),
            (_, _, RangeSource::Series) => range_of(values),
            (_, _, RangeSource::Learned | RangeSource::Expanding) => {
                let (lo, hi) = range_of(&values[..Self::learning_points(n)]);
                let margin = (hi - lo) * self.margin;
                (lo - margin, hi + margin)
            }
        };
        let rest = self.rest.unwrap_or((n * 3 / 100).clamp(10, 150));
        let mut detector = ContextDetector::new(self, lo, hi, rest);
        let expanding = self.range == RangeSource::Expanding && self.lower.is_none();
        let flag_at = self.threshold / sensitivity;
        let mut spikes = self
            .spike_threshold
            .map(|t| StreamingRcf::new(spike_forest(t)))
            .transpose()?;
        let spike_at = self.spike_threshold.unwrap_or(f64::INFINITY) / sensitivity;
        let mut out = SeriesDetection::with_len(n);
        for (i, &x) in values.iter().enumerate() {
            if expanding {
                detector.take_in(x, self.margin);
            }
            let score = detector.score(x);
            out.scores[i] = score / flag_at;
            out.anomalies[i] = score >= flag_at;
            if let Some(forest) = &mut spikes {
                let (raw, flagged) = forest.process(x, sensitivity)?;
                out.scores[i] = out.scores[i].max(raw / spike_at);
                out.anomalies[i] |= flagged;
            }
        }
        Ok(out)
    }
}

/// Facts of a step: bits of the value's bin (below 64), and active contexts
/// (`NEURON | context`).
type Fact = u32;
const NEURON: Fact = 1 << 31;

/// One half of some contexts: a sorted set of facts.
#[derive(Debug, Clone)]
struct Half {
    size: usize,
    /// Its value facts as bits and its context facts, for finding whole matches fast.
    sensor_mask: u64,
    neurons: Vec<Fact>,
    /// This half's facts among the current input (sorted).
    matched: Vec<Fact>,
    /// Left halves: (right half, context) in the order learned.
    contexts: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Context {
    uses: u32,
    /// Remembered as a (previous step, this step) pair, which lets it seed new contexts.
    zero_level: bool,
    left: u32,
    right: u32,
}

/// The halves of one side and the index from fact to the halves holding it.
#[derive(Debug, Clone, Default)]
struct Side {
    halves: Vec<Half>,
    ids: Map<Vec<Fact>, u32>,
    by_fact: Map<Fact, Vec<u32>>,
    /// Halves with at least one matched fact, in creation order.
    matched: Vec<u32>,
    /// Halves without context facts, by their value facts.
    values_only: Map<u64, Vec<u32>>,
    /// Halves with context facts, by the first.
    by_first_neuron: Map<Fact, Vec<u32>>,
}

/// The value facts of `facts` as bits.
fn sensor_mask(facts: &[Fact]) -> u64 {
    facts
        .iter()
        .filter(|&&f| f < 64)
        .fold(0, |mask, &f| mask | (1u64 << f))
}

impl Side {
    fn id(&mut self, facts: &[Fact]) -> u32 {
        if let Some(&id) = self.ids.get(facts) {
            return id;
        }
        let id = self.halves.len() as u32;
        let neurons: Vec<Fact> = facts.iter().copied().filter(|&f| f >= NEURON).collect();
        match neurons.first() {
            Some(&first) => self.by_first_neuron.entry(first).or_default().push(id),
            None => self
                .values_only
                .entry(sensor_mask(facts))
                .or_default()
                .push(id),
        }
        self.halves.push(Half {
            size: facts.len(),
            sensor_mask: sensor_mask(facts),
            neurons,
            matched: Vec::new(),
            contexts: Vec::new(),
        });
        self.ids.insert(facts.to_vec(), id);
        for &f in facts {
            self.by_fact.entry(f).or_default().push(id);
        }
        id
    }

    /// Matches every half against `facts` (sorted).
    fn cross(&mut self, facts: &[Fact]) {
        for &h in &self.matched {
            self.halves[h as usize].matched.clear();
        }
        self.matched.clear();
        for &f in facts {
            if let Some(holders) = self.by_fact.get(&f) {
                for &h in holders {
                    let half = &mut self.halves[h as usize];
                    if half.matched.is_empty() {
                        self.matched.push(h);
                    }
                    half.matched.push(f);
                }
            }
        }
        self.matched.sort_unstable();
    }

    /// The halves all of whose facts are in `facts` (sorted), in creation order, without
    /// matching the others: a half with context facts is reached through its first one
    /// (one of at most `max_active` in `facts`), a half of value facts alone through its
    /// value facts, a subset of the few in `facts`.
    fn wholly_in(&self, facts: &[Fact], out: &mut Vec<u32>) {
        out.clear();
        let mask = sensor_mask(facts);
        let mut sub = mask;
        loop {
            if let Some(halves) = self.values_only.get(&sub) {
                out.extend_from_slice(halves);
            }
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & mask;
        }
        for f in facts.iter().filter(|&&f| f >= NEURON) {
            let Some(halves) = self.by_first_neuron.get(f) else {
                continue;
            };
            for &h in halves {
                let half = &self.halves[h as usize];
                if half.sensor_mask & !mask == 0
                    && half.neurons[1..]
                        .iter()
                        .all(|n| facts.binary_search(n).is_ok())
                {
                    out.push(h);
                }
            }
        }
        out.sort_unstable();
    }
}

type Candidate = (Vec<Fact>, Vec<Fact>);

/// The detector's memory, fed one value at a time.
#[derive(Debug, Clone)]
struct ContextDetector {
    lo: f64,
    step: f64,
    bits: u32,
    max_bin: i64,
    threshold: f64,
    rest: usize,
    max_left: usize,
    max_active: usize,
    left: Side,
    right: Side,
    contexts: Vec<Context>,
    pair_ids: Map<(u32, u32), u32>,
    left_facts: Vec<Fact>,
    /// The left facts of the previous step, which left halves are matched against.
    previous_left: Vec<Fact>,
    /// Scratch: the left halves matched this step.
    wholes: Vec<u32>,
    /// Points left in the rest period.
    resting: usize,
}

impl ContextDetector {
    fn new(params: &ContextParams, lo: f64, hi: f64, rest: usize) -> Self {
        let max_bin = (1i64 << params.bits) - 1;
        let width = if hi > lo { hi - lo } else { max_bin as f64 };
        Self {
            lo,
            step: width / max_bin as f64,
            bits: params.bits,
            max_bin,
            threshold: params.threshold,
            rest,
            max_left: params.max_left,
            max_active: params.max_active,
            left: Side::default(),
            right: Side::default(),
            contexts: Vec::new(),
            pair_ids: Map::default(),
            left_facts: Vec::new(),
            previous_left: Vec::new(),
            wholes: Vec::new(),
            // Nothing is reported while the memory fills.
            resting: rest,
        }
    }

    /// Widens the range to hold `x` (with `margin` of the new width beyond it).
    fn take_in(&mut self, x: f64, margin: f64) {
        let hi = self.lo + self.step * self.max_bin as f64;
        if x < self.lo || x > hi {
            let (lo, hi) = (self.lo.min(x), hi.max(x));
            let m = (hi - lo) * margin;
            let (lo, hi) = (
                if x < self.lo { lo - m } else { lo },
                if x > hi { hi + m } else { hi },
            );
            self.lo = lo;
            self.step = (hi - lo) / self.max_bin as f64;
        }
    }

    /// The context of halves (`left`, `right`), learned if new: `(id, was new)`.
    fn learn(&mut self, left: &[Fact], right: &[Fact], zero_level: bool) -> (u32, bool) {
        let l = self.left.id(left);
        let r = self.right.id(right);
        if let Some(&c) = self.pair_ids.get(&(l, r)) {
            if zero_level {
                self.contexts[c as usize].zero_level = true;
            }
            return (c, false);
        }
        let c = self.contexts.len() as u32;
        self.contexts.push(Context {
            uses: 0,
            zero_level,
            left: l,
            right: r,
        });
        self.pair_ids.insert((l, r), c);
        self.left.halves[l as usize].contexts.push((r, c));
        (c, true)
    }

    /// Scores `x` and learns from it: the reported score (0 while resting).
    fn score(&mut self, x: f64) -> f64 {
        let bin = (((x - self.lo) / self.step) as i64).clamp(0, self.max_bin);
        let facts: Vec<Fact> = (0..self.bits)
            .map(|b| b * 2 + ((bin >> b) & 1) as u32)
            .collect();
        let raw = self.step_facts(&facts);
        let reported = if self.resting > 0 {
            self.resting -= 1;
            0.0
        } else {
            raw
        };
        if raw >= self.threshold {
            self.resting = self.rest;
        }
        reported
    }

    fn step_facts(&mut self, facts: &[Fact]) -> f64 {
        // The pair (previous step, this step), when new: the step is a learning one.
        let mut new_zero: Option<u32> = None;
        let mut zero_pair: Option<Candidate> = None;
        if !self.left_facts.is_empty() {
            let left = std::mem::take(&mut self.left_facts);
            let (c, new) = self.learn(&left, facts, true);
            if new {
                new_zero = Some(c);
                zero_pair = Some((left, facts.to_vec()));
            }
        }
        let learning = new_zero.is_some();
        self.right.cross(facts);
        // Left halves against the previous step's facts: all overlaps when learning (they
        // seed new contexts), else only the whole matches (most steps, far cheaper).
        let mut wholes = std::mem::take(&mut self.wholes);
        if learning {
            self.left.cross(&self.previous_left);
            wholes.clone_from(&self.left.matched);
        } else {
            self.left.wholly_in(&self.previous_left, &mut wholes);
        }

        // Contexts whose left half matched the previous step: selected; of those, the ones
        // whose right half matches now: active.
        let mut active: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut selected = 0usize;
        let mut partial: Vec<Candidate> = Vec::new();
        if !learning {
            // Every context of a whole half is selected; the active ones pair it with a
            // wholly matched right half, of which there are a few at most: look those up
            // rather than walk every context.
            let full_rights: Vec<u32> = self
                .right
                .matched
                .iter()
                .copied()
                .filter(|&r| {
                    let right = &self.right.halves[r as usize];
                    right.matched.len() == right.size
                })
                .collect();
            for &l in &wholes {
                selected += self.left.halves[l as usize].contexts.len();
                for &r in &full_rights {
                    if let Some(&c) = self.pair_ids.get(&(l, r)) {
                        let context = &mut self.contexts[c as usize];
                        context.uses += 1;
                        active.push((context.uses, context.left, context.right, c));
                    }
                }
            }
        }
        for &l in wholes.iter().filter(|_| learning) {
            let half = &self.left.halves[l as usize];
            let whole = half.matched.len() == half.size;
            // A partly matched half only seeds candidates (while learning).
            if !whole && half.matched.len() > self.max_left {
                continue;
            }
            for &(r, c) in &half.contexts {
                if Some(c) == new_zero {
                    continue;
                }
                let right = &self.right.halves[r as usize];
                let context = &mut self.contexts[c as usize];
                let seeds = context.zero_level && learning && half.matched.len() <= self.max_left;
                if right.matched.is_empty() {
                    if whole {
                        selected += 1;
                    }
                    continue;
                }
                if whole {
                    selected += 1;
                    if right.matched.len() == right.size {
                        context.uses += 1;
                        active.push((context.uses, context.left, context.right, c));
                        continue;
                    }
                }
                if seeds {
                    partial.push((half.matched.clone(), right.matched.clone()));
                }
            }
        }
        // Distinct candidates (the new pair among them), counted only when learning: the
        // novelty term is 0 otherwise.
        let candidates = if learning {
            let mut distinct: Set<&Candidate> = partial.iter().collect();
            distinct.extend(zero_pair.as_ref());
            distinct.len()
        } else {
            0
        };
        let predicted = if selected > 0 {
            active.len() as f64 / selected as f64
        } else {
            0.0
        };

        active.sort_unstable();
        let mut left_facts: Vec<Fact> = facts.to_vec();
        left_facts.extend(
            active
                .iter()
                .rev()
                .take(self.max_active)
                .map(|a| NEURON | a.3),
        );
        left_facts.sort_unstable();
        left_facts.dedup();

        let mut added = usize::from(learning);
        for (l, r) in &partial {
            if self.learn(l, r, false).1 {
                added += 1;
            }
        }
        self.previous_left.clone_from(&left_facts);
        self.left_facts = left_facts;
        self.wholes = wholes;

        let novel = if learning && candidates > 0 {
            added as f64 / candidates as f64
        } else {
            0.0
        };
        (1.0 - predicted + novel) / 2.0
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
