//! `pynomaly bench`: accuracy and speed on labelled datasets, side by side with a baseline
//! (PyOD's results, `../shared/bench/pyod_baseline_dev.csv`), with the protocol of
//! `../shared/bench/README.md`: fit on all rows, score the same rows (training scores),
//! ROC-AUC and average precision against `label`, which the detector never sees; time =
//! fit + score wall time excluding file reading (clocked on the worker thread), median of 3
//! runs under 20,000 rows.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pynomaly_detection::AlgorithmParams;
use pynomaly_service::benchmark::tabular::{
    Accuracy, Baseline, BaselineCell, Dataset, accuracy, runs_for, timed_fit,
};

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
        default_value = "auto,iforest,lof,hbos,ecod,copod,knn,pca"
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

/// A measured cell: the library's figures and what the binary prints beside them.
#[derive(Debug, Clone)]
struct Cell {
    dataset: String,
    rows: usize,
    features: usize,
    algorithm: String,
    accuracy: Accuracy,
    seconds_1t: f64,
    seconds_all: Option<f64>,
    baseline: Option<BaselineCell>,
}

/// Runs the benchmark (the protocol is `pynomaly_service::benchmark::tabular`).
pub fn run(args: BenchArgs) -> Result<()> {
    let baseline = args
        .baseline
        .as_deref()
        .map(Baseline::from_csv)
        .transpose()?;
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
    let mut datasets: Vec<Dataset> = files
        .iter()
        .map(|(name, path)| Dataset::read(name, path))
        .collect::<Result<_, _>>()?;
    datasets.sort_by_key(|d| d.table.data.nrows());
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
    let mut single_threaded = Vec::with_capacity(datasets.len() * params.len());
    for data in &datasets {
        let runs = runs_for(data.table.data.nrows(), args.repeat_below);
        for p in &params {
            progress.set_message(format!("{} {} (one thread)", data.name, p.name()));
            single_threaded.push(one.install(|| timed_fit(p, data, args.seed, runs))?);
        }
    }
    let mut cells = Vec::new();
    let mut single_threaded = single_threaded.into_iter();
    for data in &datasets {
        let runs = runs_for(data.table.data.nrows(), args.repeat_below);
        for p in &params {
            let fit = single_threaded
                .next()
                .context("a one-thread run is missing")?;
            progress.set_message(format!("{} {}", data.name, p.name()));
            let seconds_all = if args.single_thread_only {
                None
            } else {
                Some(all.install(|| timed_fit(p, data, args.seed, runs))?.seconds)
            };
            if let Some(dir) = &args.scores_dir {
                write_scores(dir, &data.name, p.name(), &fit.scores, &data.labels)?;
            }
            let cell = Cell {
                dataset: data.name.clone(),
                rows: data.table.data.nrows(),
                features: data.table.data.ncols(),
                algorithm: p.name().to_string(),
                accuracy: all.install(|| accuracy(p, data, &fit, args.seed, args.seeds))?,
                seconds_1t: fit.seconds,
                seconds_all,
                baseline: baseline.as_ref().and_then(|b| b.get(&data.name, p.name())),
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
        c.accuracy.roc_auc,
        opt(c.baseline.map(|b| b.roc_auc), 4),
        c.accuracy.avg_precision,
        c.seconds_1t,
        opt(c.seconds_all, 5),
        opt(c.baseline.map(|b| b.seconds), 4),
        opt(speedup, 1),
        100.0 * c.accuracy.flagged as f64 / c.rows as f64,
        c.accuracy.f1,
    );
}

fn geomean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

fn print_summary(cells: &[Cell], algorithms: &[String]) {
    println!();
    println!(
        "{:<8} {:>9} {:>9} {:>8} {:>22} {:>11} {:>13} {:>11} {:>8} {:>8} {:>8} {:>10}",
        "algo",
        "mean_auc",
        "base_auc",
        "delta",
        "worst (dataset)",
        "speedup_gm",
        "gm_>=5000rows",
        "speedup_all",
        "mean_ap",
        "autoF1",
        "top10F1",
        "x_iforest"
    );
    // One-thread time relative to iforest's on the same set, for sets of >= 5000 rows.
    let iforest_seconds = |dataset: &str| {
        cells
            .iter()
            .find(|c| c.algorithm == "iforest" && c.dataset == dataset)
            .map(|c| c.seconds_1t)
    };
    for algorithm in algorithms {
        let name = AlgorithmParams::default_for(algorithm).map_or(algorithm.as_str(), |p| p.name());
        let mine: Vec<&Cell> = cells.iter().filter(|c| c.algorithm == name).collect();
        if mine.is_empty() {
            continue;
        }
        let mean_auc = mine.iter().map(|c| c.accuracy.roc_auc).sum::<f64>() / mine.len() as f64;
        let with_base: Vec<(&Cell, BaselineCell)> = mine
            .iter()
            .filter_map(|c| c.baseline.map(|b| (*c, b)))
            .collect();
        let base_auc = (!with_base.is_empty()).then(|| {
            with_base.iter().map(|(_, b)| b.roc_auc).sum::<f64>() / with_base.len() as f64
        });
        let worst = with_base
            .iter()
            .map(|(c, b)| (c.accuracy.roc_auc - b.roc_auc, c.dataset.as_str()))
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
        let count = mine.len() as f64;
        let mean_ap = mine.iter().map(|c| c.accuracy.avg_precision).sum::<f64>() / count;
        let mean_f1 = mine.iter().map(|c| c.accuracy.f1).sum::<f64>() / count;
        let mean_top_f1 = mine.iter().map(|c| c.accuracy.f1_top_tenth).sum::<f64>() / count;
        let to_iforest = geomean(
            mine.iter()
                .filter(|c| c.rows >= 5000)
                .filter_map(|c| Some(c.seconds_1t / iforest_seconds(&c.dataset)?)),
        );
        println!(
            "{:<8} {:>9.4} {:>9} {:>8} {:>22} {:>11} {:>13} {:>11} {:>8.4} {:>8.3} {:>8.3} {:>10}",
            name,
            mean_auc,
            opt(base_auc, 4),
            opt(base_auc.map(|b| mean_auc - b), 4),
            worst.map_or("-".to_string(), |(d, n)| format!("{d:+.4} ({n})")),
            opt(speedup, 1),
            opt(speedup_big, 1),
            opt(speedup_all, 1),
            mean_ap,
            mean_f1,
            mean_top_f1,
            opt(to_iforest, 2),
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
            format!("{:.4}", c.accuracy.roc_auc),
            format!("{:.4}", c.accuracy.avg_precision),
            format!("{:.5}", c.seconds_1t),
            opt(c.seconds_all, 5),
            opt(c.baseline.map(|b| b.roc_auc), 4),
            opt(c.baseline.map(|b| b.seconds), 4),
            opt(c.baseline.map(|b| b.seconds / c.seconds_1t), 2),
            c.accuracy.flagged.to_string(),
            format!("{:.4}", c.accuracy.f1),
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
