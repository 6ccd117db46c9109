//! `pynomaly bench`: accuracy and speed on labelled datasets, side by side with a baseline
//! (PyOD's results, `../shared/bench/pyod_baseline_dev.csv`), with the protocol of
//! `../shared/bench/README.md`: fit on all rows, score the same rows (training scores),
//! ROC-AUC and average precision against `label`, which the detector never sees; time =
//! fit + score wall time excluding file reading (clocked on the worker thread), median of 3
//! runs under 20,000 rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pynomaly_detection::metrics::{average_precision, roc_auc};
use pynomaly_detection::{AlgorithmParams, Model, Threshold};
use pynomaly_service::formats::{Format, ReadOptions, Table, read_table};

/// Options of `pynomaly bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Directory of labelled CSV files (a `label` column: 1 = anomaly).
    #[arg(long)]
    pub data: PathBuf,
    /// Algorithms to run (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "iforest,lof,hbos,ecod,copod,knn,pca"
    )]
    pub algorithms: Vec<String>,
    /// Only these datasets (file stems, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Option<Vec<String>>,
    /// Baseline results CSV (columns dataset, algorithm, roc_auc, seconds).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Also write the table as CSV here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Skip the all-threads timing.
    #[arg(long)]
    pub single_thread_only: bool,
    /// Write each cell's training scores and labels as CSV into this directory.
    #[arg(long)]
    pub scores_dir: Option<PathBuf>,
    /// Seed for randomised detectors.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// For randomised detectors (iforest, rcf, ensemble), average ROC-AUC and average
    /// precision over this many seeds (seed, seed + 1, ...); a single forest's AUC moves by
    /// a few hundredths with the seed, for PyOD as for us. Times come from the first seed.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Time the median of 3 runs on datasets with fewer rows than this, a single run on
    /// larger ones (the rule and default of `pyod_baseline.py --repeat-below`; give both
    /// the same value).
    #[arg(long, default_value_t = 20_000)]
    pub repeat_below: usize,
}

/// One baseline entry.
#[derive(Debug, Clone, Copy)]
struct BaselineCell {
    auc: f64,
    seconds: f64,
}

/// PyOD's class name for one of our algorithms.
fn pyod_name(algorithm: &str) -> &str {
    match algorithm {
        "iforest" => "IForest",
        "lof" => "LOF",
        "hbos" => "HBOS",
        "ecod" => "ECOD",
        "copod" => "COPOD",
        "knn" => "KNN",
        "pca" => "PCA",
        other => other,
    }
}

fn load_baseline(path: &Path) -> Result<HashMap<(String, String), BaselineCell>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("baseline {} has no `{name}` column", path.display()))
    };
    let (d, a, auc, s) = (
        col("dataset")?,
        col("algorithm")?,
        col("roc_auc")?,
        col("seconds")?,
    );
    let mut out = HashMap::new();
    for record in reader.records() {
        let r = record?;
        let parse = |i: usize| r.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(auc), Some(seconds)) = (parse(auc), parse(s)) {
            out.insert(
                (r[d].to_string(), r[a].to_string()),
                BaselineCell { auc, seconds },
            );
        }
    }
    Ok(out)
}

/// A measured cell.
#[derive(Debug, Clone)]
struct Cell {
    dataset: String,
    rows: usize,
    features: usize,
    algorithm: String,
    auc: f64,
    ap: f64,
    seconds_1t: f64,
    seconds_all: Option<f64>,
    auto_flagged: usize,
    auto_f1: f64,
    baseline: Option<BaselineCell>,
}

fn timed_fit(
    pool: &rayon::ThreadPool,
    params: &AlgorithmParams,
    table: &Table,
    seed: u64,
    runs: usize,
) -> Result<(Model, Vec<f64>, f64)> {
    let mut times = Vec::with_capacity(runs);
    let mut result = None;
    // The clock runs on the pool's thread: handing a job to a sleeping pool thread and
    // waking the caller afterwards took 0.1 ms on this machine, which is no part of a fit
    // (PyOD's timings have no such hand-off either).
    pool.install(|| -> Result<()> {
        for _ in 0..runs {
            let start = Instant::now();
            let fitted = Model::fit(params, table.data.view(), table.columns.clone(), seed)?;
            times.push(start.elapsed().as_secs_f64());
            result.get_or_insert(fitted);
        }
        Ok(())
    })?;
    times.sort_by(f64::total_cmp);
    let (model, scores) = result.context("no run")?;
    Ok((model, scores, times[times.len() / 2]))
}

/// Timed runs per measurement: the median of 3 under `repeat_below` rows, one run above
/// (as PyOD's script does).
fn runs_for(table: &Table, repeat_below: usize) -> usize {
    if table.data.nrows() < repeat_below {
        3
    } else {
        1
    }
}

fn f1(flags: &[bool], labels: &[bool]) -> f64 {
    let tp = flags.iter().zip(labels).filter(|(f, l)| **f && **l).count() as f64;
    let flagged = flags.iter().filter(|f| **f).count() as f64;
    let positives = labels.iter().filter(|l| **l).count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (flagged + positives)
    }
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<()> {
    let baseline = args.baseline.as_deref().map(load_baseline).transpose()?;
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&args.data)
        .with_context(|| format!("cannot list {}", args.data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().to_string(), p)))
        .filter(|(name, _)| args.datasets.as_ref().is_none_or(|d| d.contains(name)))
        .collect();
    if files.is_empty() {
        bail!("no matching .csv files in {}", args.data.display());
    }
    files.sort();
    let params: Vec<AlgorithmParams> = args
        .algorithms
        .iter()
        .map(|a| AlgorithmParams::default_for(a))
        .collect::<Result<_, _>>()?;
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let all = rayon::ThreadPoolBuilder::new().build()?;
    let progress = crate::progress::bar((files.len() * params.len()) as u64);
    let mut tables: Vec<(String, Table)> = Vec::new();
    for (name, path) in &files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let options = ReadOptions {
            format: Some(Format::Csv),
            header: Some(true),
            label_column: Some("label".into()),
            ..Default::default()
        };
        let table = read_table(&bytes, &options)
            .with_context(|| format!("cannot use {}", path.display()))?;
        tables.push((name.clone(), table));
    }
    tables.sort_by_key(|(_, t)| t.data.nrows());
    println!(
        "{:<12} {:>7} {:>4} {:<8} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10} {:>8} {:>7} {:>7}",
        "dataset",
        "rows",
        "feat",
        "algo",
        "auc",
        "base",
        "ap",
        "sec_1t",
        "sec_all",
        "base_sec",
        "speedup",
        "auto%",
        "autoF1"
    );
    // Every one-thread timing first, then the all-threads and extra-seed runs: one-thread
    // timings of a few milliseconds taken after runs on the all-threads pool came out up
    // to twice as long (measured; memory freed by that pool's threads is not reused at
    // once), which PyOD's single-threaded process never suffers.
    let mut single_threaded = Vec::with_capacity(tables.len() * params.len());
    for (name, table) in &tables {
        let runs = runs_for(table, args.repeat_below);
        for p in &params {
            progress.set_message(format!("{name} {} (one thread)", p.name()));
            let (model, scores, seconds) = timed_fit(&one, p, table, args.seed, runs)?;
            let threshold = model.threshold(Threshold::Auto)?;
            single_threaded.push((scores, threshold, seconds));
        }
    }
    let mut cells = Vec::new();
    let mut single_threaded = single_threaded.into_iter();
    for (name, table) in &tables {
        let labels: Vec<bool> = table
            .labels
            .as_ref()
            .context("labels")?
            .iter()
            .map(|&l| l > 0.5)
            .collect();
        let runs = runs_for(table, args.repeat_below);
        for p in &params {
            let (scores, threshold, seconds_1t) = single_threaded
                .next()
                .context("a one-thread run is missing")?;
            progress.set_message(format!("{name} {}", p.name()));
            let seconds_all = if args.single_thread_only {
                None
            } else {
                Some(timed_fit(&all, p, table, args.seed, runs)?.2)
            };
            if let Some(dir) = &args.scores_dir {
                write_scores(dir, name, p.name(), &scores, &labels)?;
            }
            let flags: Vec<bool> = scores.iter().map(|&s| s > threshold).collect();
            let randomised = matches!(p.name(), "iforest" | "rcf" | "ensemble");
            let mut auc = roc_auc(&scores, &labels).unwrap_or(f64::NAN);
            let mut ap = average_precision(&scores, &labels).unwrap_or(f64::NAN);
            if randomised && args.seeds > 1 {
                for extra in 1..args.seeds {
                    let (_, s) = all.install(|| {
                        Model::fit(
                            p,
                            table.data.view(),
                            table.columns.clone(),
                            args.seed + extra,
                        )
                    })?;
                    auc += roc_auc(&s, &labels).unwrap_or(f64::NAN);
                    ap += average_precision(&s, &labels).unwrap_or(f64::NAN);
                }
                auc /= args.seeds as f64;
                ap /= args.seeds as f64;
            }
            let cell = Cell {
                dataset: name.clone(),
                rows: table.data.nrows(),
                features: table.data.ncols(),
                algorithm: p.name().to_string(),
                auc,
                ap,
                seconds_1t,
                seconds_all,
                auto_flagged: flags.iter().filter(|f| **f).count(),
                auto_f1: f1(&flags, &labels),
                baseline: baseline.as_ref().and_then(|b| {
                    b.get(&(name.clone(), pyod_name(p.name()).to_string()))
                        .copied()
                }),
            };
            progress.suspend(|| print_cell(&cell));
            progress.inc(1);
            cells.push(cell);
        }
    }
    progress.finish_and_clear();
    print_summary(&cells, &args.algorithms);
    if let Some(path) = &args.output {
        write_csv(path, &cells)?;
    }
    Ok(())
}

fn opt(v: Option<f64>, precision: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.precision$}"))
}

fn print_cell(c: &Cell) {
    let speedup = c.baseline.map(|b| b.seconds / c.seconds_1t);
    println!(
        "{:<12} {:>7} {:>4} {:<8} {:>7.4} {:>7} {:>7.4} {:>10.5} {:>10} {:>10} {:>8} {:>6.1}% {:>7.3}",
        c.dataset,
        c.rows,
        c.features,
        c.algorithm,
        c.auc,
        opt(c.baseline.map(|b| b.auc), 4),
        c.ap,
        c.seconds_1t,
        opt(c.seconds_all, 5),
        opt(c.baseline.map(|b| b.seconds), 4),
        opt(speedup, 1),
        100.0 * c.auto_flagged as f64 / c.rows as f64,
        c.auto_f1,
    );
}

fn geomean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

fn print_summary(cells: &[Cell], algorithms: &[String]) {
    println!();
    println!(
        "{:<8} {:>9} {:>9} {:>8} {:>22} {:>11} {:>13} {:>11}",
        "algo",
        "mean_auc",
        "base_auc",
        "delta",
        "worst (dataset)",
        "speedup_gm",
        "gm_>=5000rows",
        "speedup_all"
    );
    for algorithm in algorithms {
        let name = AlgorithmParams::default_for(algorithm).map_or(algorithm.as_str(), |p| p.name());
        let mine: Vec<&Cell> = cells.iter().filter(|c| c.algorithm == name).collect();
        if mine.is_empty() {
            continue;
        }
        let mean_auc = mine.iter().map(|c| c.auc).sum::<f64>() / mine.len() as f64;
        let with_base: Vec<(&Cell, BaselineCell)> = mine
            .iter()
            .filter_map(|c| c.baseline.map(|b| (*c, b)))
            .collect();
        let base_auc = (!with_base.is_empty())
            .then(|| with_base.iter().map(|(_, b)| b.auc).sum::<f64>() / with_base.len() as f64);
        let worst = with_base
            .iter()
            .map(|(c, b)| (c.auc - b.auc, c.dataset.as_str()))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let speedup = geomean(with_base.iter().map(|(c, b)| b.seconds / c.seconds_1t));
        let speedup_big = geomean(
            with_base
                .iter()
                .filter(|(c, _)| c.rows >= 5000)
                .map(|(c, b)| b.seconds / c.seconds_1t),
        );
        let speedup_all = geomean(
            with_base
                .iter()
                .filter_map(|(c, b)| c.seconds_all.map(|s| b.seconds / s)),
        );
        println!(
            "{:<8} {:>9.4} {:>9} {:>8} {:>22} {:>11} {:>13} {:>11}",
            name,
            mean_auc,
            opt(base_auc, 4),
            opt(base_auc.map(|b| mean_auc - b), 4),
            worst.map_or("-".to_string(), |(d, n)| format!("{d:+.4} ({n})")),
            opt(speedup, 1),
            opt(speedup_big, 1),
            opt(speedup_all, 1),
        );
    }
    let big: Vec<f64> = cells
        .iter()
        .filter(|c| c.rows >= 5000)
        .filter_map(|c| c.baseline.map(|b| b.seconds / c.seconds_1t))
        .collect();
    if let Some(gm) = geomean(big.iter().copied()) {
        println!(
            "\ngeometric-mean speedup (1 thread) over {} cells with >= 5000 rows: {gm:.1}x",
            big.len()
        );
    }
    let all_threads: Vec<f64> = cells
        .iter()
        .filter(|c| c.rows >= 5000)
        .filter_map(|c| Some(c.baseline?.seconds / c.seconds_all?))
        .collect();
    if let Some(gm) = geomean(all_threads.iter().copied()) {
        println!(
            "geometric-mean speedup (all threads) over {} cells with >= 5000 rows: {gm:.1}x",
            all_threads.len()
        );
    }
}

fn write_csv(path: &Path, cells: &[Cell]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    w.write_record([
        "dataset",
        "rows",
        "features",
        "algorithm",
        "roc_auc",
        "avg_precision",
        "seconds",
        "seconds_all_threads",
        "baseline_roc_auc",
        "baseline_seconds",
        "speedup",
        "auto_flagged",
        "auto_f1",
    ])?;
    for c in cells {
        w.write_record([
            c.dataset.clone(),
            c.rows.to_string(),
            c.features.to_string(),
            c.algorithm.clone(),
            format!("{:.4}", c.auc),
            format!("{:.4}", c.ap),
            format!("{:.5}", c.seconds_1t),
            opt(c.seconds_all, 5),
            opt(c.baseline.map(|b| b.auc), 4),
            opt(c.baseline.map(|b| b.seconds), 4),
            opt(c.baseline.map(|b| b.seconds / c.seconds_1t), 2),
            c.auto_flagged.to_string(),
            format!("{:.4}", c.auto_f1),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_scores(
    dir: &Path,
    dataset: &str,
    algorithm: &str,
    scores: &[f64],
    labels: &[bool],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{dataset}.{algorithm}.csv"));
    let mut w = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    w.write_record(["score", "label"])?;
    for (s, l) in scores.iter().zip(labels) {
        w.write_record([s.to_string(), u8::from(*l).to_string()])?;
    }
    w.flush()?;
    Ok(())
}
