//! Time-series protocol: a NAB-style corpus (`<category>/<series>.csv` with `timestamp`
//! and `value` columns, windows in `labels/combined_windows.json`), each method's alarms
//! scored with NAB's standard profile, totals over the corpus, and the best single score
//! multiplier for all series (NAB's threshold optimisation) from a fixed sweep.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use pynomaly_detection::timeseries::{
    SeriesMethod, SeriesSettings, default_cooldown, nab, suppress_repeats,
};

use super::{BenchmarkError, read_file};
use crate::series::{SeriesOptions, parse_timestamp, read_series};

/// Score multipliers tried for NAB's "one threshold for all series" optimisation.
pub const SWEEP: &[f64] = &[0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0, 5.0];

/// One labelled series.
#[derive(Debug, Clone)]
pub struct LabelledSeries {
    /// Path within the corpus, as the labels file names it.
    pub name: String,
    /// Values in time order.
    pub values: Vec<f64>,
    /// Anomaly windows as point indices.
    pub windows: Vec<nab::Window>,
}

/// Reads every series the corpus's labels file lists.
pub fn load(dir: &Path) -> Result<Vec<LabelledSeries>, BenchmarkError> {
    let labels_path = dir.join("labels/combined_windows.json");
    let labels: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_slice(&read_file(&labels_path)?).map_err(|e| {
            BenchmarkError::Malformed {
                path: labels_path.display().to_string(),
                message: format!("not a NAB windows file: {e}"),
            }
        })?;
    if labels.is_empty() {
        return Err(BenchmarkError::Malformed {
            path: labels_path.display().to_string(),
            message: "lists no series".into(),
        });
    }
    labels
        .iter()
        .map(|(name, windows)| {
            let path = dir.join(name);
            let input = read_series(
                &read_file(&path)?,
                &SeriesOptions {
                    value_columns: Some(vec!["value".into()]),
                    ..Default::default()
                },
            )
            .map_err(|e| BenchmarkError::Malformed {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let series =
                input
                    .series
                    .into_iter()
                    .next()
                    .ok_or_else(|| BenchmarkError::Malformed {
                        path: path.display().to_string(),
                        message: "no series".into(),
                    })?;
            Ok(LabelledSeries {
                name: name.clone(),
                windows: window_indices(&series.timestamps, windows),
                values: series.values,
            })
        })
        .collect()
}

/// NAB windows (inclusive timestamps) as the indices of the points inside them; a window
/// with no point is left out.
pub fn window_indices(timestamps: &[i64], windows: &[[String; 2]]) -> Vec<nab::Window> {
    windows
        .iter()
        .filter_map(|[a, b]| {
            let (a, b) = (parse_timestamp(a)?, parse_timestamp(b)?);
            let start = timestamps.partition_point(|&t| t < a);
            let end = timestamps.partition_point(|&t| t <= b).checked_sub(1)?;
            (start <= end).then_some(nab::Window { start, end })
        })
        .collect()
}

/// One method's results over a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodTotals {
    /// Method name.
    pub name: String,
    /// Per series, in corpus order: its NAB score.
    pub series: Vec<nab::SeriesScore>,
    /// Sum of raw NAB scores at the method's own threshold.
    pub raw: f64,
    /// The same with NAB's low-false-positive profile.
    pub raw_low_fp: f64,
    /// Alarms on the series without any labelled window (every one is false).
    pub clean_alarms: usize,
    /// Points scored (after probation) on those series.
    pub clean_points: usize,
    /// Windows in all.
    pub windows: usize,
    /// Windows with at least one alarm.
    pub found: usize,
    /// Alarms in all.
    pub alarms: usize,
    /// Alarms inside windows.
    pub alarms_in: usize,
    /// Seconds spent detecting.
    pub seconds: f64,
    /// Points scored.
    pub points: usize,
    /// Raw NAB score at each [`SWEEP`] multiplier.
    pub sweep_raw: Vec<f64>,
}

impl MethodTotals {
    /// Normalised NAB score (0 = no alarms, 100 = perfect) at the method's threshold.
    pub fn nab(&self) -> f64 {
        nab::normalised(self.raw, self.windows, nab::STANDARD)
    }

    /// Normalised NAB score with the low-false-positive profile.
    pub fn nab_low_fp(&self) -> f64 {
        nab::normalised(self.raw_low_fp, self.windows, nab::LOW_FP)
    }

    /// False alarms per 1,000 scored points on the series with no labelled window, if any.
    pub fn clean_false_alarms_per_1000(&self) -> Option<f64> {
        (self.clean_points > 0)
            .then(|| 1000.0 * self.clean_alarms as f64 / self.clean_points as f64)
    }

    /// The best sweep multiplier and its normalised NAB score.
    pub fn best(&self) -> (f64, f64) {
        let (t, raw) = SWEEP
            .iter()
            .zip(&self.sweep_raw)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or((1.0, self.raw), |(t, raw)| (*t, *raw));
        (t, nab::normalised(raw, self.windows, nab::STANDARD))
    }

    /// Empty totals for `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            series: Vec::new(),
            raw: 0.0,
            raw_low_fp: 0.0,
            clean_alarms: 0,
            clean_points: 0,
            windows: 0,
            found: 0,
            alarms: 0,
            alarms_in: 0,
            seconds: 0.0,
            points: 0,
            sweep_raw: Vec::new(),
        }
    }

    /// Adds one series' flags, scored with both NAB profiles.
    pub fn add(&mut self, series: &LabelledSeries, flags: &[bool]) {
        let score = nab::score_series(flags, &series.windows, nab::STANDARD);
        self.raw += score.raw;
        self.raw_low_fp += nab::score_series(flags, &series.windows, nab::LOW_FP).raw;
        if series.windows.is_empty() {
            self.clean_alarms += score.alarms;
            self.clean_points += series.values.len() - nab::probation(series.values.len());
        }
        self.windows += score.windows;
        self.found += score.windows_found;
        self.alarms += score.alarms;
        self.alarms_in += score.alarms_in_windows;
        self.series.push(score);
    }
}

/// Runs `method` over `corpus` with `settings` (its `cooldown` also applies to the sweep;
/// default 1/50 of each series).
pub fn evaluate(
    method: &SeriesMethod,
    corpus: &[LabelledSeries],
    settings: SeriesSettings,
) -> Result<MethodTotals, BenchmarkError> {
    let mut totals = MethodTotals::new(method.name());
    totals.sweep_raw = vec![0.0; SWEEP.len()];
    for series in corpus {
        let started = Instant::now();
        let detection = method.detect(&series.values, settings).map_err(|source| {
            BenchmarkError::Detection {
                context: format!("{} {}", series.name, method.name()),
                source,
            }
        })?;
        totals.seconds += started.elapsed().as_secs_f64();
        totals.points += series.values.len();
        totals.add(series, &detection.anomalies);
        let cooldown = settings
            .cooldown
            .unwrap_or_else(|| default_cooldown(series.values.len()));
        for (t, raw) in SWEEP.iter().zip(totals.sweep_raw.iter_mut()) {
            let mut flags: Vec<bool> = detection.scores.iter().map(|&x| x > *t).collect();
            if cooldown > 0 {
                suppress_repeats(&mut flags, cooldown);
            }
            *raw += nab::score_series(&flags, &series.windows, nab::STANDARD).raw;
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of 5-minute points with a spike at `spike`, and its window.
    fn write_corpus(dir: &Path, spike: usize) {
        std::fs::create_dir_all(dir.join("synthetic")).unwrap();
        std::fs::create_dir_all(dir.join("labels")).unwrap();
        let mut csv = String::from("timestamp,value\n");
        for i in 0..2016usize {
            let minutes = i * 5;
            let value = if i == spike {
                90.0
            } else {
                10.0 + ((i * 7919) % 13) as f64 * 0.3
            };
            csv.push_str(&format!(
                "2024-01-{:02} {:02}:{:02}:00,{value}\n",
                1 + minutes / 1440,
                minutes % 1440 / 60,
                minutes % 60
            ));
        }
        std::fs::write(dir.join("synthetic/spike.csv"), csv).unwrap();
        // The spike at point 1500 is 2024-01-06 05:00.
        std::fs::write(
            dir.join("labels/combined_windows.json"),
            r#"{"synthetic/spike.csv": [["2024-01-06 04:00:00.000000", "2024-01-06 06:00:00.000000"], ["2030-01-01 00:00:00", "2030-01-02 00:00:00"]]}"#,
        )
        .unwrap();
    }

    #[test]
    fn a_method_that_alarms_in_the_window_scores_and_one_that_alarms_outside_does_not() {
        let dir = tempfile::tempdir().unwrap();
        write_corpus(dir.path(), 1500);
        let corpus = load(dir.path()).unwrap();
        // 04:00 to 06:00 on day 6 is points 1488..=1512; the window past the data is left out.
        assert_eq!(
            corpus[0].windows,
            vec![nab::Window {
                start: 1488,
                end: 1512
            }]
        );
        let esd = SeriesMethod::from_name("esd", None).unwrap();
        let found = evaluate(&esd, &corpus, SeriesSettings::default()).unwrap();
        assert_eq!((found.windows, found.found), (1, 1), "{found:?}");
        assert!(found.nab() > 0.0, "{found:?}");

        // The same method on a spike outside the window: the window is missed, and the
        // false alarm costs.
        let other = tempfile::tempdir().unwrap();
        write_corpus(other.path(), 300);
        let missed = evaluate(
            &esd,
            &load(other.path()).unwrap(),
            SeriesSettings::default(),
        )
        .unwrap();
        assert_eq!(missed.found, 0, "{missed:?}");
        assert!(missed.nab() < found.nab(), "{missed:?} vs {found:?}");
        // After probation (302 points), a false alarm costs twice as much in the
        // low-false-positive profile.
        let late = tempfile::tempdir().unwrap();
        write_corpus(late.path(), 1000);
        let false_alarm =
            evaluate(&esd, &load(late.path()).unwrap(), SeriesSettings::default()).unwrap();
        assert_eq!(false_alarm.found, 0, "{false_alarm:?}");
        assert!(false_alarm.alarms >= 1, "{false_alarm:?}");
        assert!(
            false_alarm.nab_low_fp() < false_alarm.nab(),
            "{false_alarm:?}"
        );
    }

    #[test]
    fn alarms_on_a_series_without_windows_are_counted_per_thousand_points() {
        let dir = tempfile::tempdir().unwrap();
        write_corpus(dir.path(), 1500);
        std::fs::write(
            dir.path().join("labels/combined_windows.json"),
            r#"{"synthetic/spike.csv": []}"#,
        )
        .unwrap();
        let corpus = load(dir.path()).unwrap();
        let esd = SeriesMethod::from_name("esd", None).unwrap();
        let totals = evaluate(&esd, &corpus, SeriesSettings::default()).unwrap();
        assert!(totals.clean_alarms >= 1, "{totals:?}");
        // 2,016 points, the first 302 in probation.
        assert_eq!(totals.clean_points, 2016 - 302);
        let rate = totals.clean_false_alarms_per_1000().unwrap();
        assert!(
            (rate - 1000.0 * totals.clean_alarms as f64 / 1714.0).abs() < 1e-9,
            "{rate}"
        );
        // No window: both NAB profiles are 0 whatever the alarms (nothing to normalise).
        assert_eq!((totals.windows, totals.nab_low_fp()), (0, 0.0));
    }

    #[test]
    fn a_corpus_without_labels_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("combined_windows.json"), "{err}");
    }
}
