//! The Numenta Anomaly Benchmark's scoring (Lavin & Ahmad 2015), standard profile,
//! written from NAB's description: labelled anomaly windows; in each window only the
//! earliest detection counts, weighted by a scaled sigmoid of its position (earlier =
//! closer to `tp_weight`); every detection outside a window costs `fp_weight`, weighted by
//! how far it is past the previous window; a window with no detection costs `fn_weight`.
//! The first 15% of a series (at most 750 points) is a probation period and not scored.
//! Scores are normalised so the null detector (no detections) gets 0 and a perfect one 100.

/// NAB cost profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Reward of a detection at the very start of a window.
    pub tp_weight: f64,
    /// Cost of a detection far from any window.
    pub fp_weight: f64,
    /// Cost of a missed window.
    pub fn_weight: f64,
}

/// NAB's standard profile: A_TP = 1, A_FP = −0.11, A_FN = −1.
pub const STANDARD: Profile = Profile {
    tp_weight: 1.0,
    fp_weight: 0.11,
    fn_weight: 1.0,
};

/// NAB's `reward_low_FP_rate` profile: a false alarm costs twice the standard's (A_FP =
/// −0.22), for teams that mute a noisy detector.
pub const LOW_FP: Profile = Profile {
    tp_weight: 1.0,
    fp_weight: 0.22,
    fn_weight: 1.0,
};

/// A labelled window, as inclusive point indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First point.
    pub start: usize,
    /// Last point.
    pub end: usize,
}

/// One series' result.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeriesScore {
    /// Raw NAB score.
    pub raw: f64,
    /// Windows scored (not wholly in probation).
    pub windows: usize,
    /// Windows with at least one detection.
    pub windows_found: usize,
    /// Alarms: runs of consecutive detections, after probation.
    pub alarms: usize,
    /// Alarms with at least one point inside a window.
    pub alarms_in_windows: usize,
}

fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// Probation length for a series of `n` points.
pub fn probation(n: usize) -> usize {
    ((0.15 * n as f64).floor()).min(0.15 * 5000.0) as usize
}

/// Scores one series' detections against its windows (sorted, non-overlapping).
pub fn score_series(detections: &[bool], windows: &[Window], profile: Profile) -> SeriesScore {
    let n = detections.len();
    let probation = probation(n);
    let max_tp = scaled_sigmoid(-1.0);
    let mut window_of = vec![None; n];
    for (w, win) in windows.iter().enumerate() {
        for slot in window_of
            .iter_mut()
            .take(win.end.min(n - 1) + 1)
            .skip(win.start)
        {
            *slot = Some(w);
        }
    }
    let mut best: Vec<Option<f64>> = vec![None; windows.len()];
    let mut scored_window = vec![false; windows.len()];
    let mut fp_total = 0.0;
    let mut previous_window: Option<usize> = None;
    let mut result = SeriesScore::default();
    let mut in_alarm = false;
    let mut alarm_touches_window = false;
    for i in 0..n {
        let window = window_of[i];
        if i >= probation {
            if let Some(w) = window {
                scored_window[w] = true;
            }
            if detections[i] {
                match window {
                    Some(w) => {
                        let win = windows[w];
                        let width = (win.end - win.start + 1) as f64;
                        let position = -((win.end as f64 - i as f64 + 1.0) / width);
                        let score = scaled_sigmoid(position) * profile.tp_weight / max_tp;
                        best[w] = Some(best[w].map_or(score, |b: f64| b.max(score)));
                    }
                    None => {
                        let position = match previous_window {
                            None => 3.0,
                            Some(p) => {
                                let win = windows[p];
                                let width = (win.end - win.start + 1) as f64;
                                (i as f64 - win.end as f64).abs() / (width - 1.0).max(1.0)
                            }
                        };
                        fp_total += scaled_sigmoid(position) * profile.fp_weight;
                    }
                }
                if !in_alarm {
                    result.alarms += 1;
                    alarm_touches_window = false;
                }
                if window.is_some() && !alarm_touches_window {
                    alarm_touches_window = true;
                    result.alarms_in_windows += 1;
                }
                in_alarm = true;
            } else {
                in_alarm = false;
            }
        }
        if let Some(w) = window
            && i == windows[w].end
        {
            previous_window = Some(w);
        }
    }
    for (w, counted) in scored_window.iter().enumerate() {
        if !counted {
            continue;
        }
        result.windows += 1;
        match best[w] {
            Some(score) => {
                result.raw += score;
                result.windows_found += 1;
            }
            None => result.raw -= profile.fn_weight,
        }
    }
    result.raw += fp_total;
    result
}

/// Normalised NAB score of summed raw scores over `windows` scored windows.
pub fn normalised(raw: f64, windows: usize, profile: Profile) -> f64 {
    let null = -profile.fn_weight * windows as f64;
    let perfect = profile.tp_weight * windows as f64;
    if perfect > null {
        100.0 * (raw - null) / (perfect - null)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 2000;

    fn windows() -> Vec<Window> {
        vec![
            Window {
                start: 1000,
                end: 1099,
            },
            Window {
                start: 1500,
                end: 1599,
            },
        ]
    }

    #[test]
    fn null_and_perfect_detectors_score_0_and_100() {
        let none = score_series(&vec![false; N], &windows(), STANDARD);
        assert_eq!(none.windows, 2);
        assert_eq!(normalised(none.raw, none.windows, STANDARD), 0.0);
        let mut perfect = vec![false; N];
        perfect[1000] = true;
        perfect[1500] = true;
        let s = score_series(&perfect, &windows(), STANDARD);
        assert!((normalised(s.raw, s.windows, STANDARD) - 100.0).abs() < 1e-9);
        assert_eq!((s.windows_found, s.alarms, s.alarms_in_windows), (2, 2, 2));
    }

    #[test]
    fn late_detections_and_false_alarms_cost() {
        let mut late = vec![false; N];
        late[1098] = true; // near the end of the first window
        let s = score_series(&late, &windows(), STANDARD);
        // one window found late (score near 0), one missed (−1)
        assert!(s.raw < -0.9 && s.raw > -1.0, "{}", s.raw);
        let mut false_alarm = vec![false; N];
        false_alarm[1000] = true;
        false_alarm[1500] = true;
        false_alarm[800] = true; // before any window: full cost
        false_alarm[801] = true; // same alarm, second point
        let s = score_series(&false_alarm, &windows(), STANDARD);
        assert!((s.raw - (2.0 - 2.0 * 0.11)).abs() < 1e-9, "{}", s.raw);
        assert_eq!((s.alarms, s.alarms_in_windows), (3, 2));
    }

    #[test]
    fn probation_is_not_scored() {
        let mut early = vec![false; N];
        early[10] = true;
        let s = score_series(&early, &windows(), STANDARD);
        assert_eq!(s.alarms, 0);
        assert_eq!(s.raw, -2.0);
    }
}
