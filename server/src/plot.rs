//! `--plot FILE.svg`: pictures of a result, drawn with plotters' SVG backend. Detect draws
//! the scores' histogram with the threshold beside a scatter of the two features that
//! set the flagged rows apart; timeseries draws each series with its expected band,
//! anomalies and changepoints. Titles, axis names and legends make them readable alone.

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use pynomaly_detection::Detection;
use pynomaly_detection::timeseries::SeriesDetection;
use pynomaly_service::formats::Table;

const FLAGGED: RGBColor = RGBColor(192, 57, 43);
const NORMAL: RGBColor = RGBColor(91, 107, 128);
const LINE: RGBColor = RGBColor(31, 95, 153);
const EXPECTED: RGBColor = RGBColor(92, 143, 58);
const CHANGEPOINT: RGBColor = RGBColor(125, 60, 152);
/// Series drawn in one picture at most (one panel each); the rest are named in a note.
const MAX_PANELS: usize = 6;

/// Refuses a `--plot` path that is not an .svg before any work is done.
pub fn check_path(path: &str) -> Result<()> {
    if !path.to_ascii_lowercase().ends_with(".svg") {
        bail!("--plot {path}: plots are SVG; give a path ending in .svg");
    }
    Ok(())
}

fn drawing_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the plot: {e}")
}

/// Finite range of `values`, widened a little (and made non-empty).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-9 * lo.abs().max(1.0));
    lo - pad..hi + pad
}

/// The two features that set the flagged rows apart most: by the explanations' summed
/// shares when the result has them, else by how far the flagged rows' mean lies from
/// the others' in units of the feature's spread.
fn separating_features(table: &Table, detection: &Detection) -> Vec<usize> {
    let features = table.data.ncols();
    let mut weight = vec![0.0; features];
    for explanation in &detection.explanations {
        for part in &explanation.top_features {
            if part.index < features {
                weight[part.index] += part.share;
            }
        }
    }
    if detection.explanations.is_empty() {
        for (f, w) in weight.iter_mut().enumerate() {
            let column = table.data.column(f);
            let mean = |flag: bool| {
                let (sum, n) = column
                    .iter()
                    .zip(&detection.anomalies)
                    .filter(|(_, a)| **a == flag)
                    .fold((0.0, 0usize), |(s, n), (v, _)| (s + v, n + 1));
                sum / n.max(1) as f64
            };
            let all = column.mean().unwrap_or(0.0);
            let spread = column.iter().map(|v| (v - all).powi(2)).sum::<f64>().sqrt()
                / (column.len().max(1) as f64).sqrt();
            *w = if spread > 0.0 {
                (mean(true) - mean(false)).abs() / spread
            } else {
                0.0
            };
        }
    }
    let mut order: Vec<usize> = (0..features).collect();
    order.sort_by(|&a, &b| weight[b].total_cmp(&weight[a]).then(a.cmp(&b)));
    order.truncate(2);
    order
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The legend box of the series drawn with a label.
fn legend<'a>(chart: &mut Chart<'a, 'a>, position: SeriesLabelPosition) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(drawing_error)
}

/// Detect's picture: histogram of scores with the threshold, and the scatter.
pub fn detection(path: &str, title: &str, table: &Table, detection: &Detection) -> Result<()> {
    let root = SVGBackend::new(path, (1280, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error)?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(drawing_error)?;
    let (left, right) = root.split_horizontally(600);
    histogram(&left, &detection.scores, detection.threshold)?;
    let features = separating_features(table, detection);
    if let [x, y] = features[..] {
        scatter(&right, table, detection, x, y)?;
    } else {
        right
            .draw_text(
                "one feature: no scatter",
                &("sans-serif", 16).into_text_style(&right),
                (40, 40),
            )
            .map_err(drawing_error)?;
    }
    root.present()
        .map_err(drawing_error)
        .with_context(|| format!("--plot {path}"))
}

fn histogram(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    scores: &[f64],
    threshold: f64,
) -> Result<()> {
    const BINS: usize = 40;
    let std::ops::Range { start: lo, end: hi } = range(scores.iter().copied().chain([threshold]));
    let step = (hi - lo) / BINS as f64;
    let mut counts = [0usize; BINS];
    for s in scores.iter().filter(|s| s.is_finite()) {
        counts[(((s - lo) / step) as usize).min(BINS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.08;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Scores of all {} rows", scores.len()),
            ("sans-serif", 17),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .x_desc("anomaly score")
        .y_desc("rows")
        .disable_x_mesh()
        .draw()
        .map_err(drawing_error)?;
    chart
        .draw_series(counts.iter().enumerate().map(|(k, &c)| {
            let x0 = lo + k as f64 * step;
            Rectangle::new(
                [(x0, 0.0), (x0 + step * 0.95, c as f64)],
                NORMAL.mix(0.55).filled(),
            )
        }))
        .map_err(drawing_error)?
        .label("rows per score bin")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], NORMAL.mix(0.55).filled()));
    chart
        .draw_series(LineSeries::new(
            [(threshold, 0.0), (threshold, top)],
            FLAGGED.stroke_width(2),
        ))
        .map_err(drawing_error)?
        .label(format!("threshold {threshold:.4}"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], FLAGGED.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn scatter(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    table: &Table,
    detection: &Detection,
    x: usize,
    y: usize,
) -> Result<()> {
    let xs = table.data.column(x);
    let ys = table.data.column(y);
    let (x_name, y_name) = (&table.columns[x], &table.columns[y]);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{y_name} against {x_name}"), ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(range(xs.iter().copied()), range(ys.iter().copied()))
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .x_desc(x_name.as_str())
        .y_desc(y_name.as_str())
        .draw()
        .map_err(drawing_error)?;
    let points = |flag: bool| {
        xs.iter()
            .zip(ys.iter())
            .zip(&detection.anomalies)
            .filter(move |(_, a)| **a == flag)
            .map(|((&x, &y), _)| (x, y))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect::<Vec<_>>()
    };
    for (flag, color, size, what) in [
        (false, NORMAL, 2, "normal rows"),
        (true, FLAGGED, 4, "flagged rows"),
    ] {
        let drawn = points(flag);
        let label = format!("{what} ({})", drawn.len());
        chart
            .draw_series(
                drawn
                    .into_iter()
                    .map(move |p| Circle::new(p, size, color.filled())),
            )
            .map_err(drawing_error)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 6, y), size.max(3), color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// One series to draw: its name, x positions (epoch seconds, or point numbers), values
/// and what the method found.
pub struct SeriesPlot<'a> {
    pub name: String,
    pub times: Vec<f64>,
    pub is_time: bool,
    pub values: &'a [f64],
    pub detection: &'a SeriesDetection,
}

fn time_label(seconds: f64, span: f64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(seconds as i64, 0) else {
        return format!("{seconds}");
    };
    if span > 10.0 * 86_400.0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// The series' picture: a panel per series (up to [`MAX_PANELS`]).
pub fn series(path: &str, title: &str, method: &str, all: &[SeriesPlot<'_>]) -> Result<()> {
    let shown = &all[..all.len().min(MAX_PANELS)];
    let height = 120 + 360 * shown.len() as u32;
    let root = SVGBackend::new(path, (1280, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error)?;
    let heading = if all.len() > shown.len() {
        format!(
            "{title} ({method}; the first {} of {} series)",
            shown.len(),
            all.len()
        )
    } else {
        format!("{title} ({method})")
    };
    let root = root
        .titled(&heading, ("sans-serif", 22))
        .map_err(drawing_error)?;
    for (panel, plot) in root.split_evenly((shown.len(), 1)).iter().zip(shown) {
        series_panel(panel, plot)?;
    }
    root.present()
        .map_err(drawing_error)
        .with_context(|| format!("--plot {path}"))
}

fn series_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, plot: &SeriesPlot<'_>) -> Result<()> {
    let d = plot.detection;
    let std::ops::Range { start: x0, end: x1 } = range(plot.times.iter().copied());
    let std::ops::Range { start: y0, end: y1 } =
        range(plot.values.iter().chain(&d.lower).chain(&d.upper).copied());
    let anomalies = d.anomalies.iter().filter(|a| **a).count();
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: {anomalies} anomalies, {} changepoints",
                plot.name,
                d.changepoints.len()
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(drawing_error)?;
    let span = x1 - x0;
    let is_time = plot.is_time;
    chart
        .configure_mesh()
        .x_desc(if is_time { "time (UTC)" } else { "point" })
        .y_desc(plot.name.as_str())
        .x_label_formatter(&|x| {
            if is_time {
                time_label(*x, span)
            } else {
                format!("{x:.0}")
            }
        })
        .x_labels(8)
        .draw()
        .map_err(drawing_error)?;
    let at = |k: usize| plot.times[k];
    // The band: one polygon from the upper edge forward and the lower edge back.
    let banded: Vec<usize> = (0..plot.values.len())
        .filter(|&k| d.lower[k].is_finite() && d.upper[k].is_finite())
        .collect();
    if !banded.is_empty() {
        let outline: Vec<(f64, f64)> = banded
            .iter()
            .map(|&k| (at(k), d.upper[k]))
            .chain(banded.iter().rev().map(|&k| (at(k), d.lower[k])))
            .collect();
        chart
            .draw_series([Polygon::new(outline, LINE.mix(0.15).filled())])
            .map_err(drawing_error)?
            .label("expected band")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], LINE.mix(0.15).filled())
            });
        chart
            .draw_series(LineSeries::new(
                banded.iter().map(|&k| (at(k), d.expected[k])),
                EXPECTED.stroke_width(1),
            ))
            .map_err(drawing_error)?
            .label("expected")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], EXPECTED));
    }
    chart
        .draw_series(LineSeries::new(
            (0..plot.values.len()).map(|k| (at(k), plot.values[k])),
            LINE.stroke_width(1),
        ))
        .map_err(drawing_error)?
        .label("value")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], LINE));
    chart
        .draw_series(
            (0..plot.values.len())
                .filter(|&k| d.anomalies[k])
                .map(|k| Circle::new((at(k), plot.values[k]), 5, FLAGGED.filled())),
        )
        .map_err(drawing_error)?
        .label("anomaly")
        .legend(|(x, y)| Circle::new((x + 6, y), 4, FLAGGED.filled()));
    for (n, c) in d.changepoints.iter().enumerate() {
        let x = at(c.index);
        let line = chart
            .draw_series(DashedLineSeries::new(
                [(x, y0), (x, y1)],
                6,
                4,
                CHANGEPOINT.stroke_width(2),
            ))
            .map_err(drawing_error)?;
        if n == 0 {
            line.label("changepoint").legend(|(x, y)| {
                PathElement::new([(x, y), (x + 16, y)], CHANGEPOINT.stroke_width(2))
            });
        }
        chart
            .draw_series([Text::new(
                format!("{:.3} → {:.3}", c.level_before, c.level_after),
                (x, y1),
                ("sans-serif", 12).into_font().color(&CHANGEPOINT),
            )])
            .map_err(drawing_error)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
