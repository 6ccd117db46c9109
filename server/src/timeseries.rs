//! `pynomaly timeseries detect | bench`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use pynomaly_detection::timeseries::{METHODS, SeriesDetection, SeriesMethod, SeriesSettings, nab};
use pynomaly_service::benchmark::{corpus, published};
use pynomaly_service::formats::FormatError;
use pynomaly_service::series::{SeriesOptions, read_series};
use serde::Serialize;

use crate::input::read_bytes;

#[derive(Debug, clap::Subcommand)]
pub enum TimeseriesCommand {
    /// Score every point of one or more time series.
    Detect(DetectArgs),
    /// Run every method on NAB-style labelled series and score them with NAB.
    Bench(BenchArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct MethodArgs {
    /// context | forecast | changepoint | esd | rolling-z | rcf
    #[arg(long, short = 'm', default_value = pynomaly_detection::timeseries::DEFAULT_METHOD)]
    pub method: String,
    /// Parameters of the method as a JSON object, e.g. '{"threshold": 0.8}' (an error lists
    /// each method's parameters).
    #[arg(long)]
    pub params: Option<String>,
    /// Seasonal period in points (default: detected where the method uses one).
    #[arg(long)]
    pub period: Option<usize>,
    /// Threshold scale: 2 flags more, 0.5 flags less (default 1).
    #[arg(long, default_value_t = 1.0)]
    pub sensitivity: f64,
    /// Points after an alarm during which repeated flags are cleared (default: 1/50 of
    /// the series, at least 10; 0 keeps every flag).
    #[arg(long)]
    pub cooldown: Option<usize>,
}

impl MethodArgs {
    fn settings(&self) -> SeriesSettings {
        SeriesSettings {
            period: self.period,
            sensitivity: self.sensitivity,
            cooldown: self.cooldown,
        }
    }

    fn method(&self, name: &str) -> Result<SeriesMethod> {
        let params = self
            .params
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
            .transpose()
            .context("--params is not valid JSON")?;
        Ok(SeriesMethod::from_name(name, params)?)
    }
}

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Input file (CSV, JSON or NDJSON), or `-` for standard input.
    pub file: String,
    #[command(flatten)]
    pub method: MethodArgs,
    /// Timestamp column (default `timestamp`; a file without one is read in row order).
    #[arg(long)]
    pub time_column: Option<String>,
    /// Format of the timestamps when not ISO 8601 / RFC 3339 or epoch, in strftime
    /// notation, e.g. '%m/%d/%Y %H:%M' or '%d.%m.%Y'.
    #[arg(long)]
    pub time_format: Option<String>,
    /// Value column(s), comma-separated (default: every other column).
    #[arg(long, value_delimiter = ',')]
    pub value_column: Option<Vec<String>>,
    /// Entity column: one series per distinct value (e.g. host).
    #[arg(long)]
    pub entity_column: Option<String>,
    /// Write results here (.csv, .json or .ndjson); default: CSV on standard output.
    #[arg(long, short = 'o')]
    pub output: Option<String>,
    /// Also draw the result as an SVG: each series with its expected band, anomalies in
    /// red and changepoints as dashed lines labelled with the levels before and after.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<String>,
}

#[derive(Serialize)]
struct PointRow<'a> {
    row: usize,
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<&'a str>,
    column: &'a str,
    value: f64,
    expected: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    score: f64,
    grade: f64,
    anomaly: bool,
}

#[derive(Serialize)]
struct ChangepointRow<'a> {
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<&'a str>,
    column: &'a str,
    level_before: f64,
    level_after: f64,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

pub fn run(command: TimeseriesCommand) -> Result<()> {
    match command {
        TimeseriesCommand::Detect(args) => detect(args),
        TimeseriesCommand::Bench(args) => bench(args),
    }
}

fn detect(args: DetectArgs) -> Result<()> {
    let started = Instant::now();
    args.plot
        .as_deref()
        .map(crate::plot::check_path)
        .transpose()?;
    let method = args.method.method(&args.method.method)?;
    let bytes = read_bytes(&args.file)?;
    let options = SeriesOptions {
        format: crate::input::format_for(&args.file),
        time_column: args.time_column.clone(),
        time_format: args.time_format.clone(),
        value_columns: args.value_column.clone(),
        entity_column: args.entity_column.clone(),
    };
    let input = read_series(&bytes, &options)
        .map_err(|e| anyhow::anyhow!("{e}{}", series_hint(&e, &args)))
        .with_context(|| format!("cannot use {}", args.file))?;
    if input.row_order {
        eprintln!("pynomaly: no `timestamp` column: points are taken in row order");
    }
    for s in input.series.iter().filter(|s| s.repeated_timestamps > 0) {
        eprintln!(
            "pynomaly: warning: series {}: {} points repeat the previous point's timestamp; they are scored as separate points in file order (if the file holds several series, name their column with --entity-column)",
            s.column, s.repeated_timestamps
        );
    }
    // (input row, series index, point index) for every point, then input order.
    let mut results: Vec<SeriesDetection> = Vec::with_capacity(input.series.len());
    for s in &input.series {
        let label = match &s.entity {
            Some(e) => format!("series {e}/{}", s.column),
            None => format!("series {}", s.column),
        };
        results.push(
            method
                .detect(&s.values, args.method.settings())
                .with_context(|| format!("{label}: {} failed", method.name()))?,
        );
    }
    let mut order: Vec<(usize, usize, usize)> = Vec::new();
    for (k, s) in input.series.iter().enumerate() {
        for (p, &row) in s.rows.iter().enumerate() {
            order.push((row, k, p));
        }
    }
    order.sort_unstable();
    let points: Vec<PointRow<'_>> = order
        .iter()
        .map(|&(row, k, p)| {
            let s = &input.series[k];
            let d = &results[k];
            PointRow {
                row,
                timestamp: &input.timestamp_text[row],
                entity: s.entity.as_deref(),
                column: &s.column,
                value: s.values[p],
                expected: finite(d.expected[p]),
                lower: finite(d.lower[p]),
                upper: finite(d.upper[p]),
                score: d.scores[p],
                grade: d.grades[p],
                anomaly: d.anomalies[p],
            }
        })
        .collect();
    let timestamp_text = &input.timestamp_text;
    let changepoints: Vec<ChangepointRow<'_>> = input
        .series
        .iter()
        .zip(&results)
        .flat_map(|(s, d)| {
            d.changepoints.iter().map(move |c| ChangepointRow {
                timestamp: &timestamp_text[s.rows[c.index]],
                entity: s.entity.as_deref(),
                column: &s.column,
                level_before: c.level_before,
                level_after: c.level_after,
            })
        })
        .collect();
    write_points(args.output.as_deref(), &points, &changepoints)?;
    report_changepoints(&changepoints, args.output.as_deref());
    if let Some(path) = &args.plot {
        let plots: Vec<crate::plot::SeriesPlot<'_>> = input
            .series
            .iter()
            .zip(&results)
            .map(|(s, d)| crate::plot::SeriesPlot {
                name: match &s.entity {
                    Some(e) => format!("{e} / {}", s.column),
                    None => s.column.clone(),
                },
                // Epoch milliseconds to seconds; in row order, the point numbers.
                times: if input.row_order {
                    (0..s.values.len()).map(|k| k as f64).collect()
                } else {
                    s.timestamps.iter().map(|&t| t as f64 / 1000.0).collect()
                },
                is_time: !input.row_order,
                values: &s.values,
                detection: d,
            })
            .collect();
        crate::plot::series(path, &args.file, method.name(), &plots)?;
        eprintln!("pynomaly: plot written to {path}");
    }
    let anomalies = points.iter().filter(|p| p.anomaly).count();
    eprintln!(
        "pynomaly: {} points in {} series, {anomalies} anomalies, {} changepoints, {}, {:.1} ms",
        points.len(),
        input.series.len(),
        changepoints.len(),
        method.name(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Changepoints shown on standard error: a long series can have hundreds, so only the
/// largest level shifts, in time order, and where to find the rest.
const CHANGEPOINTS_SHOWN: usize = 5;

fn report_changepoints(changepoints: &[ChangepointRow<'_>], output: Option<&str>) {
    let mut largest: Vec<usize> = (0..changepoints.len()).collect();
    let shift = |i: usize| (changepoints[i].level_after - changepoints[i].level_before).abs();
    largest.sort_by(|&a, &b| shift(b).total_cmp(&shift(a)));
    largest.truncate(CHANGEPOINTS_SHOWN);
    largest.sort_unstable();
    if changepoints.len() > CHANGEPOINTS_SHOWN {
        eprintln!(
            "pynomaly: {} changepoints; the {CHANGEPOINTS_SHOWN} largest level shifts:",
            changepoints.len()
        );
    }
    for &i in &largest {
        let c = &changepoints[i];
        let entity = c.entity.map(|e| format!("{e}/")).unwrap_or_default();
        eprintln!(
            "changepoint at {} ({entity}{}): level {:.4} -> {:.4}",
            c.timestamp, c.column, c.level_before, c.level_after
        );
    }
    let in_json = output.is_some_and(|o| o.to_ascii_lowercase().ends_with(".json"));
    if changepoints.len() > CHANGEPOINTS_SHOWN && !in_json {
        eprintln!("pynomaly: every changepoint is in the JSON output (-o result.json)");
    }
}

/// What to do about a reading error, in this command's flags.
fn series_hint(e: &FormatError, args: &DetectArgs) -> String {
    match e {
        FormatError::BadTimestamp { value, .. } if args.time_format.is_none() => {
            let example = if value.contains('/') {
                "'%m/%d/%Y %H:%M' or '%d/%m/%Y %H:%M'"
            } else {
                "'%d.%m.%Y %H:%M:%S'"
            };
            format!(" -- or give its format with --time-format, e.g. {example}")
        }
        FormatError::BadTimestamp { .. } => {
            " (the value does not match --time-format; its notation is strftime's)".into()
        }
        FormatError::MergedSeries { column, .. } => {
            format!(" (--entity-column {column})")
        }
        FormatError::NonNumeric { column, .. } => format!(
            " (choose the value columns with --value-column, or if `{column}` names a host or sensor, --entity-column {column})"
        ),
        FormatError::UnknownColumn { name, .. } if args.time_column.as_deref() == Some(name) => {
            " (--time-column names the timestamp column; leave it out to read the rows in order)"
                .into()
        }
        _ => String::new(),
    }
}

fn write_points(
    path: Option<&str>,
    points: &[PointRow<'_>],
    changepoints: &[ChangepointRow<'_>],
) -> Result<()> {
    use std::io::Write;
    let lower = path.unwrap_or("").to_ascii_lowercase();
    let mut sink = crate::output::open_sink(path)?;
    if lower.ends_with(".json") {
        serde_json::to_writer(
            &mut sink,
            &serde_json::json!({"points": points, "changepoints": changepoints}),
        )?;
        writeln!(sink)?;
    } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        for p in points {
            serde_json::to_writer(&mut sink, p)?;
            writeln!(sink)?;
        }
    } else {
        let mut w = csv::Writer::from_writer(&mut sink);
        let with_entity = points.iter().any(|p| p.entity.is_some());
        let mut header = vec!["row", "timestamp"];
        if with_entity {
            header.push("entity");
        }
        header.extend([
            "column", "value", "expected", "lower", "upper", "score", "grade", "anomaly",
        ]);
        w.write_record(&header)?;
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for p in points {
            let mut rec = vec![p.row.to_string(), p.timestamp.to_string()];
            if with_entity {
                rec.push(p.entity.unwrap_or("").to_string());
            }
            rec.extend([
                p.column.to_string(),
                p.value.to_string(),
                num(p.expected),
                num(p.lower),
                num(p.upper),
                p.score.to_string(),
                format!("{:.6}", p.grade),
                p.anomaly.to_string(),
            ]);
            w.write_record(&rec)?;
        }
        w.flush()?;
    }
    sink.flush()?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// NAB-style directory: `<category>/<series>.csv` files and `labels/combined_windows.json`.
    #[arg(long)]
    pub data: PathBuf,
    /// Methods to run (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rolling-z,esd,forecast,changepoint,rcf,context"
    )]
    pub methods: Vec<String>,
    /// Print every series' result, not only the totals.
    #[arg(long)]
    pub verbose: bool,
    /// Parameters (JSON) for the methods, e.g. with a single --methods entry.
    #[arg(long)]
    pub params: Option<String>,
    /// Alarm cooldown in points (default: 1/50 of each series; 0 = off).
    #[arg(long)]
    pub cooldown: Option<usize>,
    /// Only the series whose name starts with one of these (comma-separated), e.g.
    /// `realKnownCause,artificial` — to score a split apart from the one tuned on.
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Leave out the series whose name starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Option<Vec<String>>,
    /// A NAB checkout (its `results/` and `config/thresholds.json`): score the published
    /// detectors' result files the same way, printed below ours.
    #[arg(long)]
    pub published: Option<PathBuf>,
}

fn bench(args: BenchArgs) -> Result<()> {
    let mut corpus = corpus::load(&args.data)?;
    let starts = |name: &str, prefixes: &[String]| prefixes.iter().any(|p| name.starts_with(p));
    corpus.retain(|s| {
        args.only.as_deref().is_none_or(|p| starts(&s.name, p))
            && !args.exclude.as_deref().is_some_and(|p| starts(&s.name, p))
    });
    anyhow::ensure!(
        !corpus.is_empty(),
        "no series left after --only / --exclude; names look like {}",
        "realKnownCause/nyc_taxi.csv"
    );
    // The rolling z-score always runs: it is the baseline printed beside every method.
    let mut methods: Vec<SeriesMethod> = args
        .methods
        .iter()
        .map(|m| {
            let params = args
                .params
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("--params is not valid JSON")?;
            Ok(SeriesMethod::from_name(m, params)?)
        })
        .collect::<Result<_>>()?;
    // `--params` are the listed methods'; the baseline keeps its defaults.
    if !methods.iter().any(|m| m.name() == "rolling-z") {
        methods.insert(0, SeriesMethod::from_name("rolling-z", None)?);
    }
    let settings = SeriesSettings {
        cooldown: args.cooldown,
        ..Default::default()
    };
    let progress = crate::progress::bar(methods.len() as u64);
    let mut totals = Vec::with_capacity(methods.len());
    for method in &methods {
        progress.set_message(method.name().to_string());
        let t = corpus::evaluate(method, &corpus, settings)?;
        if args.verbose {
            progress.suspend(|| {
                for (series, s) in corpus.iter().zip(&t.series) {
                    println!(
                        "{:<55} {:<12} windows found {}/{} alarms {:>4} false alarms {:>4} nab {:>7.1}",
                        series.name,
                        method.name(),
                        s.windows_found,
                        s.windows,
                        s.alarms,
                        s.alarms - s.alarms_in_windows,
                        nab::normalised(s.raw, s.windows, nab::STANDARD)
                    );
                }
            });
        }
        progress.inc(1);
        totals.push(t);
    }
    progress.finish_and_clear();
    println!(
        "\n{:<12} {:>9} {:>9} {:>8} {:>11} {:>10} {:>14} {:>12} {:>9} {:>10}",
        "method",
        "windows",
        "found%",
        "alarms",
        "precision%",
        "NAB",
        "NAB(best t)",
        "points/s",
        "NAB lowFP",
        "FA/1k clean"
    );
    let row = |t: &corpus::MethodTotals| {
        let (best_t, best_nab) = t.best();
        println!(
            "{:<12} {:>4}/{:<4} {:>9.1} {:>8} {:>11.1} {:>10.1} {:>8.1} (t={:<4}) {:>12} {:>9.1} {:>10}",
            t.name,
            t.found,
            t.windows,
            100.0 * t.found as f64 / t.windows.max(1) as f64,
            t.alarms,
            100.0 * t.alarms_in as f64 / t.alarms.max(1) as f64,
            t.nab(),
            best_nab,
            best_t,
            if t.points > 0 {
                format!("{:.0}", t.points as f64 / t.seconds.max(1e-9))
            } else {
                "-".into()
            },
            t.nab_low_fp(),
            t.clean_false_alarms_per_1000()
                .map_or_else(|| "-".to_string(), |r| format!("{r:.2}")),
        );
    };
    let baseline = totals.iter().find(|t| t.name == "rolling-z");
    for t in &totals {
        row(t);
        if let Some(b) = baseline.filter(|b| b.name != t.name) {
            println!(
                "{:<12} {:>4}/{:<4} {:>9.1} {:>8} {:>11.1} {:>10.1}   (rolling-z baseline)",
                "",
                b.found,
                b.windows,
                100.0 * b.found as f64 / b.windows.max(1) as f64,
                b.alarms,
                100.0 * b.alarms_in as f64 / b.alarms.max(1) as f64,
                b.nab(),
            );
        }
    }
    if let Some(dir) = &args.published {
        let published = published::load(dir, &corpus)?;
        println!("\npublished (NAB result files, NAB's standard-profile thresholds):");
        if published.is_empty() {
            println!("  none with a result file for every series");
        }
        published.iter().for_each(row);
    }
    println!("\nmethods known: {}", METHODS.join(", "));
    Ok(())
}
