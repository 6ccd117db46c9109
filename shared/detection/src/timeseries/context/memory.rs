//! The contextual detector's memory: halves of contexts, the indexes that find the ones
//! matching a step, and the per-step score (see the parent module for the algorithm).
//! Serialised as its halves and contexts; the indexes are rebuilt on load.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::ContextParams;

// Fixed-seed fast hashing: the memory is many small integer keys, where SipHash dominates
// the run time; nothing iterates these maps, so the seed does not change results.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type Set<K> = HashSet<K, foldhash::fast::FixedState>;

/// Facts of a step: bits of the value's bin (below 64), and active contexts
/// (`NEURON | context`).
type Fact = u32;
const NEURON: Fact = 1 << 31;

/// One half of some contexts: a sorted set of facts.
#[derive(Debug, Clone)]
struct Half {
    facts: Vec<Fact>,
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
            facts: facts.to_vec(),
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "Snapshot", try_from = "Snapshot")]
pub(super) struct ContextDetector {
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
    pub(super) fn new(params: &ContextParams, lo: f64, hi: f64, rest: usize) -> Self {
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
    pub(super) fn take_in(&mut self, x: f64, margin: f64) {
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
    pub(super) fn score(&mut self, x: f64) -> f64 {
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

/// What a [`ContextDetector`] saves: the halves' facts and the contexts in the order
/// learned (ids are positions), and the state between steps.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    lo: f64,
    step: f64,
    bits: u32,
    threshold: f64,
    rest: usize,
    max_left: usize,
    max_active: usize,
    left_halves: Vec<Vec<Fact>>,
    right_halves: Vec<Vec<Fact>>,
    /// (uses, zero level, left half, right half).
    contexts: Vec<(u32, bool, u32, u32)>,
    left_facts: Vec<Fact>,
    previous_left: Vec<Fact>,
    resting: usize,
}

impl From<ContextDetector> for Snapshot {
    fn from(d: ContextDetector) -> Self {
        let facts = |side: Side| side.halves.into_iter().map(|h| h.facts).collect();
        Self {
            lo: d.lo,
            step: d.step,
            bits: d.bits,
            threshold: d.threshold,
            rest: d.rest,
            max_left: d.max_left,
            max_active: d.max_active,
            left_halves: facts(d.left),
            right_halves: facts(d.right),
            contexts: d
                .contexts
                .iter()
                .map(|c| (c.uses, c.zero_level, c.left, c.right))
                .collect(),
            left_facts: d.left_facts,
            previous_left: d.previous_left,
            resting: d.resting,
        }
    }
}

impl TryFrom<Snapshot> for ContextDetector {
    type Error = String;

    fn try_from(s: Snapshot) -> Result<Self, String> {
        let sound = (1..=8).contains(&s.bits) && s.step.is_finite() && s.step > 0.0;
        if !(sound && s.lo.is_finite()) {
            return Err("the value range or bits are out of bounds".into());
        }
        let (lefts, rights) = (s.left_halves.len() as u32, s.right_halves.len() as u32);
        if s.contexts
            .iter()
            .any(|&(_, _, l, r)| l >= lefts || r >= rights)
        {
            return Err("a context names a half that does not exist".into());
        }
        let side = |halves: &[Vec<Fact>]| {
            let mut side = Side::default();
            for facts in halves {
                side.id(facts);
            }
            side
        };
        let (left, right) = (side(&s.left_halves), side(&s.right_halves));
        if left.halves.len() != s.left_halves.len() || right.halves.len() != s.right_halves.len() {
            return Err("a half is listed twice".into());
        }
        let mut d = Self {
            lo: s.lo,
            step: s.step,
            bits: s.bits,
            max_bin: (1i64 << s.bits) - 1,
            threshold: s.threshold,
            rest: s.rest,
            max_left: s.max_left,
            max_active: s.max_active,
            left,
            right,
            contexts: Vec::with_capacity(s.contexts.len()),
            pair_ids: Map::default(),
            left_facts: s.left_facts,
            previous_left: s.previous_left,
            wholes: Vec::new(),
            resting: s.resting,
        };
        for (id, (uses, zero_level, left, right)) in s.contexts.into_iter().enumerate() {
            let id = id as u32;
            d.contexts.push(Context {
                uses,
                zero_level,
                left,
                right,
            });
            d.pair_ids.insert((left, right), id);
            d.left.halves[left as usize].contexts.push((right, id));
        }
        Ok(d)
    }
}
