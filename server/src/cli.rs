//! Command-line interface: argument definitions and the commands that call the shared
//! crates.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use pynomaly_detection::{AlgorithmParams, Detection, ScoreOptions, Threshold};
use pynomaly_service::models::{
    DEFAULT_TENANT, ModelRepository, ModelStoreError, OnNameTaken, default_data_dir, migrate_legacy,
};
use pynomaly_service::scoring::{self, ScoringError};
use pynomaly_service::storage::LocalObjectStore;

use crate::input::{InputArgs, load_table};
use crate::output::write_results;
use crate::progress;

/// Pynomaly: find anomalies in tabular data, locally or as a service.
#[derive(Debug, Parser)]
#[command(name = "pynomaly", version, about)]
pub struct Cli {
    /// Where models are stored [env: PYNOMALY_DATA_DIR, default ./.pynomaly].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Whose models `train`, `score` and `models` use: the tenant whose API keys see them
    /// in `pynomaly serve` on the same data dir.
    #[arg(long, global = true, env = "PYNOMALY_TENANT", default_value = DEFAULT_TENANT)]
    pub tenant: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit a detector on a file and score every row of it.
    Detect(DetectArgs),
    /// Fit a detector on a file and save it as a named model.
    Train(TrainArgs),
    /// Score a file with a saved model (the model is not refitted).
    Score(ScoreArgs),
    /// List, show or delete saved models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Benchmark the detectors on labelled datasets (CSV files with a `label` column).
    Bench(crate::bench::BenchArgs),
    /// Serve the HTTP API (local storage under the data dir).
    Serve(crate::serve::ServeArgs),
    /// Run queued jobs from SQS (PYNOMALY_STORE=aws).
    Worker(crate::worker::WorkerArgs),
    /// Manage API keys for `serve`.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Exit 0 if a health URL answers 2xx (the container's HEALTHCHECK).
    Probe(crate::probe::ProbeArgs),
    /// Time series: detect anomalies and changepoints, or benchmark on NAB.
    #[command(subcommand)]
    Timeseries(crate::timeseries::TimeseriesCommand),
    /// Compare two datasets feature by feature (KS test and PSI): has the data drifted?
    Drift(crate::drift::DriftArgs),
    /// Score points from standard input as they arrive (NDJSON or CSV), one model per
    /// entity; prints the alarms.
    Stream(crate::stream::StreamArgs),
}

/// Algorithm choice and fitting options.
#[derive(Debug, Clone, clap::Args)]
pub struct AlgorithmArgs {
    /// iforest | ecod | copod | hbos | knn | lof | pca | mad | rcf | ensemble
    /// (aliases such as isolation_forest are accepted).
    #[arg(long, short = 'a', default_value = scoring::DEFAULT_ALGORITHM)]
    pub algorithm: String,
    /// Algorithm parameters as a JSON object, e.g. '{"n_neighbors": 10}'.
    #[arg(long)]
    pub params: Option<String>,
    /// Random seed (results are reproducible for a given seed).
    #[arg(long, default_value_t = scoring::DEFAULT_SEED)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl AlgorithmArgs {
    fn params(&self) -> Result<AlgorithmParams> {
        let params = match &self.params {
            Some(text) => Some(
                serde_json::from_str::<serde_json::Value>(text)
                    .with_context(|| format!("--params is not valid JSON: {text}"))?,
            ),
            None => None,
        };
        scoring::algorithm_params(Some(&self.algorithm), params).map_err(cli_error)
    }
}

/// Thresholding and explanation options.
#[derive(Debug, Clone, clap::Args)]
pub struct ThresholdArgs {
    /// Expected share of anomalies, in (0, 0.5]: flag that top fraction.
    #[arg(long, conflicts_with = "threshold")]
    pub contamination: Option<f64>,
    /// `auto` (default: robust z-score of the score above 2.5, threshold capped at the
    /// training scores' 99th percentile) or a raw score threshold.
    #[arg(long)]
    pub threshold: Option<String>,
    /// Explain each flagged row: its top contributing features.
    #[arg(long)]
    pub explain: bool,
    /// Number of features in each explanation.
    #[arg(long, default_value_t = 3)]
    pub top_features: usize,
}

impl ThresholdArgs {
    fn options(&self) -> Result<ScoreOptions> {
        let threshold = self
            .threshold
            .as_deref()
            .map(scoring::parse_threshold)
            .transpose()
            .and_then(|t| scoring::threshold_rule(self.contamination, t))
            .map_err(cli_error)?;
        if self.top_features == 0 {
            bail!("--top-features must be at least 1");
        }
        Ok(ScoreOptions {
            threshold,
            explain_top: self.explain.then_some(self.top_features),
        })
    }

    fn describe(&self) -> String {
        match (&self.contamination, self.threshold.as_deref()) {
            (Some(c), _) => format!("contamination {c}"),
            (None, None | Some("auto")) => "auto".to_string(),
            (None, Some(_)) => "explicit".to_string(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Input file (CSV, JSON or NDJSON), or `-` for standard input.
    pub file: String,
    #[command(flatten)]
    pub algorithm: AlgorithmArgs,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Write results here (.csv, .json or .ndjson); default: CSV on standard output.
    #[arg(long, short = 'o')]
    pub output: Option<String>,
    /// Also draw the result as an SVG: the scores' histogram with the threshold, and the
    /// two features that set the flagged rows apart, flagged rows in red.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training file (CSV, JSON or NDJSON), or `-` for standard input.
    pub file: String,
    /// Name to save the model under.
    #[arg(long, short = 'm')]
    pub model: String,
    /// Replace a model of the same name.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub algorithm: AlgorithmArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// File to score (CSV, JSON or NDJSON), or `-` for standard input.
    pub file: String,
    /// Saved model to score with.
    #[arg(long, short = 'm')]
    pub model: String,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Write results here (.csv, .json or .ndjson); default: CSV on standard output.
    #[arg(long, short = 'o')]
    pub output: Option<String>,
    /// Also draw the result as an SVG (as `detect --plot`).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<String>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List saved models.
    List,
    /// Show one model's details as JSON.
    Show { name: String },
    /// Delete a model.
    Delete { name: String },
    /// Store a model file (from `export`, or a Python detector's `save`) under a name.
    Import {
        /// The model file (the engine's versioned JSON format).
        file: PathBuf,
        /// Name to save the model under.
        #[arg(long)]
        name: String,
        /// Replace a model of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Write a model's file (the format `pynomaly.load` in Python and `import` read).
    Export {
        name: String,
        /// Where to write it.
        file: PathBuf,
    },
}

/// The CLI's model repository: the data dir's object store (the one `pynomaly serve`
/// uses locally), for one tenant.
struct Models {
    repository: ModelRepository,
    tenant: String,
    runtime: tokio::runtime::Runtime,
}

impl Models {
    fn open(data_dir: &std::path::Path, tenant: String) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let repository = ModelRepository::new(std::sync::Arc::new(LocalObjectStore::new(data_dir)));
        // Models saved by earlier versions (`<data dir>/models/<name>.json`) move into
        // the default tenant once.
        let moved = runtime.block_on(migrate_legacy(data_dir, &repository, DEFAULT_TENANT))?;
        if !moved.is_empty() {
            eprintln!(
                "pynomaly: moved {} model(s) of the earlier layout into tenant `{DEFAULT_TENANT}`: {}",
                moved.len(),
                moved.join(", ")
            );
        }
        Ok(Self {
            repository,
            tenant,
            runtime,
        })
    }

    /// A repository error in the CLI's words.
    fn error(&self, e: ModelStoreError) -> anyhow::Error {
        match e {
            ModelStoreError::NotFound(name) => anyhow::anyhow!(
                "no model named `{name}` for tenant `{}` (see `pynomaly models list`)",
                self.tenant
            ),
            ModelStoreError::Exists(name) => anyhow::anyhow!(
                "a model named `{name}` exists already (delete it first, or pass --force)"
            ),
            other => other.into(),
        }
    }

    fn load(&self, name: &str) -> Result<pynomaly_detection::Model> {
        self.runtime
            .block_on(self.repository.load(&self.tenant, name))
            .map_err(|e| self.error(e))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let tenant = cli.tenant;
    match cli.command {
        Command::Detect(args) => detect(args),
        Command::Train(args) => train(args, &Models::open(&data_dir, tenant)?),
        Command::Score(args) => score(args, &Models::open(&data_dir, tenant)?),
        Command::Models(cmd) => models(cmd, &Models::open(&data_dir, tenant)?),
        Command::Bench(args) => crate::bench::run(args),
        Command::Timeseries(cmd) => crate::timeseries::run(cmd),
        Command::Stream(args) => crate::stream::run(args),
        Command::Drift(args) => crate::drift::run(args),
        Command::Serve(args) => crate::serve::run(args, data_dir),
        Command::Keys(cmd) => crate::keys::run(cmd, &data_dir),
        Command::Worker(args) => crate::worker::run(args, data_dir),
        Command::Probe(args) => crate::probe::run(args),
    }
}

/// A use case's rejection in the CLI's words (its flags).
fn cli_error(e: ScoringError) -> anyhow::Error {
    match e {
        ScoringError::ThresholdConflict => {
            anyhow::anyhow!("give either --contamination or --threshold, not both")
        }
        ScoringError::BadThreshold(text) => {
            anyhow::anyhow!("--threshold must be `auto` or a number, got `{text}`")
        }
        ScoringError::OverBudget { .. } => anyhow::anyhow!(
            "{e} (the limit is the memory this machine has available; --columns picks fewer)"
        ),
        other => other.into(),
    }
}

/// Sizes rayon's global pool (0 = one thread per core).
fn set_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot start worker threads")
}

/// Writes the results and prints the summary: the end of `detect` and `score`.
fn finish(
    output: &Option<String>,
    threshold: &ThresholdArgs,
    table: &pynomaly_service::formats::Table,
    detection: &Detection,
    algorithm: &str,
    started: Instant,
) -> Result<()> {
    write_results(output.as_deref(), table, detection, threshold.explain)?;
    summary(
        detection,
        table.input_rows,
        &threshold.describe(),
        algorithm,
        started,
    );
    Ok(())
}

fn summary(
    detection: &Detection,
    input_rows: usize,
    rule: &str,
    algorithm: &str,
    started: Instant,
) {
    let scored = detection.scores.len();
    let anomalies = detection.anomaly_count();
    let dropped = input_rows - scored;
    eprintln!(
        "pynomaly: {scored} rows scored{}, {anomalies} anomalies ({:.2}%), threshold {:.6} ({rule}), {algorithm}, {:.1} ms",
        if dropped > 0 {
            format!(" ({dropped} dropped for missing values)")
        } else {
            String::new()
        },
        100.0 * anomalies as f64 / scored.max(1) as f64,
        detection.threshold,
        started.elapsed().as_secs_f64() * 1000.0,
    );
}

fn detect(args: DetectArgs) -> Result<()> {
    let started = Instant::now();
    args.plot
        .as_deref()
        .map(crate::plot::check_path)
        .transpose()?;
    set_threads(args.algorithm.threads)?;
    let params = args.algorithm.params()?;
    let options = args.threshold.options()?;
    let table = load_table(&args.file, &args.input.options(&args.file))?;
    let spinner = progress::spinner(format!("{} on {} rows", params.name(), table.data.nrows()));
    let (_, detection) = scoring::detect(
        &params,
        &table,
        args.algorithm.seed,
        options,
        scoring::machine_budget(),
    )
    .map_err(cli_error)?;
    spinner.finish_and_clear();
    finish(
        &args.output,
        &args.threshold,
        &table,
        &detection,
        params.name(),
        started,
    )?;
    plot_detection(
        args.plot.as_deref(),
        &args.file,
        params.name(),
        &table,
        &detection,
    )
}

/// Draws `--plot` when asked, titled with the file and what was found.
fn plot_detection(
    path: Option<&str>,
    file: &str,
    algorithm: &str,
    table: &pynomaly_service::formats::Table,
    detection: &Detection,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let title = format!(
        "{file}: {algorithm} flagged {} of {} rows",
        detection.anomaly_count(),
        detection.scores.len()
    );
    crate::plot::detection(path, &title, table, detection)?;
    eprintln!("pynomaly: plot written to {path}");
    Ok(())
}

fn train(args: TrainArgs, store: &Models) -> Result<()> {
    let started = Instant::now();
    set_threads(args.algorithm.threads)?;
    pynomaly_service::models::validate_name(&args.model)?;
    if !args.force
        && store
            .runtime
            .block_on(store.repository.resolve(&store.tenant, &args.model))
            .is_ok()
    {
        return Err(store.error(ModelStoreError::Exists(args.model.clone())));
    }
    let params = args.algorithm.params()?;
    let table = load_table(&args.file, &args.input.options(&args.file))?;
    let spinner = progress::spinner(format!(
        "training {} on {} rows",
        params.name(),
        table.data.nrows()
    ));
    let model = scoring::fit(
        &params,
        &table,
        args.algorithm.seed,
        scoring::machine_budget(),
    )
    .map_err(cli_error)?;
    spinner.finish_and_clear();
    let (rows, cols) = table.data.dim();
    drop(table);
    let taken = if args.force {
        OnNameTaken::Replace
    } else {
        OnNameTaken::Refuse
    };
    let saved = store
        .runtime
        .block_on(
            store
                .repository
                .save(&store.tenant, Some(&args.model), model, taken),
        )
        .map_err(|e| store.error(e))?;
    eprintln!(
        "pynomaly: trained {} on {rows} rows x {cols} features in {:.1} ms, saved as `{}` (id {}, tenant `{}`)",
        params.name(),
        started.elapsed().as_secs_f64() * 1000.0,
        args.model,
        saved.id,
        store.tenant,
    );
    println!("{}", args.model);
    Ok(())
}

fn score(args: ScoreArgs, store: &Models) -> Result<()> {
    let started = Instant::now();
    args.plot
        .as_deref()
        .map(crate::plot::check_path)
        .transpose()?;
    set_threads(args.threads)?;
    let model = store.load(&args.model)?;
    let options = args.threshold.options()?;
    // The columns the model was trained on, by name; other columns are left alone.
    let read = scoring::model_read_options(&model, &args.input.options(&args.file));
    let table = load_table(&args.file, &read)?;
    let spinner = progress::spinner(format!(
        "scoring {} rows with {}",
        table.data.nrows(),
        model.algorithm()
    ));
    let detection = scoring::score(&model, &table, options).map_err(cli_error)?;
    spinner.finish_and_clear();
    finish(
        &args.output,
        &args.threshold,
        &table,
        &detection,
        model.algorithm(),
        started,
    )?;
    plot_detection(
        args.plot.as_deref(),
        &args.file,
        model.algorithm(),
        &table,
        &detection,
    )
}

fn models(cmd: ModelsCommand, store: &Models) -> Result<()> {
    match cmd {
        ModelsCommand::List => {
            let models = store
                .runtime
                .block_on(store.repository.list(&store.tenant))
                .map_err(|e| store.error(e))?;
            if models.is_empty() {
                eprintln!("no models yet (create one with `pynomaly train FILE --model NAME`)");
            } else {
                println!(
                    "{:<24} {:<36} {:<10} {:>10} {:>9}",
                    "NAME", "ID", "ALGORITHM", "ROWS", "FEATURES"
                );
                for m in models {
                    println!(
                        "{:<24} {:<36} {:<10} {:>10} {:>9}",
                        m.name.as_deref().unwrap_or("-"),
                        m.id,
                        m.algorithm,
                        m.training_rows,
                        m.features.len(),
                    );
                }
            }
        }
        ModelsCommand::Show { name } => {
            let model = store.load(&name)?;
            let scores = &model.training.scores;
            let details = serde_json::json!({
                "name": name,
                "algorithm": model.algorithm(),
                "params": model.params,
                "features": model.feature_names,
                "seed": model.seed,
                "training_rows": model.training.rows,
                "training_scores": {
                    "mean": scores.mean, "std": scores.std, "median": scores.median,
                    "mad": scores.mad,
                    "min": scores.quantiles.first(), "max": scores.quantiles.last(),
                },
                "auto_threshold": model.threshold(Threshold::Auto)?,
                "format_version": pynomaly_detection::model::FORMAT_VERSION,
            });
            println!("{}", serde_json::to_string_pretty(&details)?);
        }
        ModelsCommand::Delete { name } => {
            store
                .runtime
                .block_on(store.repository.delete(&store.tenant, &name))
                .map_err(|e| store.error(e))?;
            eprintln!("deleted model `{name}`");
        }
        ModelsCommand::Import { file, name, force } => {
            pynomaly_service::models::validate_name(&name)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let model = pynomaly_detection::Model::from_json(&bytes)
                .with_context(|| format!("{} is not a model file", file.display()))?;
            let taken = if force {
                OnNameTaken::Replace
            } else {
                OnNameTaken::Refuse
            };
            let algorithm = model.algorithm();
            let saved = store
                .runtime
                .block_on(
                    store
                        .repository
                        .save(&store.tenant, Some(&name), model, taken),
                )
                .map_err(|e| store.error(e))?;
            eprintln!(
                "pynomaly: imported {algorithm} model as `{name}` (id {}, tenant `{}`)",
                saved.id, store.tenant
            );
            println!("{name}");
        }
        ModelsCommand::Export { name, file } => {
            let bytes = store
                .runtime
                .block_on(store.repository.envelope(&store.tenant, &name))
                .map_err(|e| store.error(e))?;
            std::fs::write(&file, bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("pynomaly: model `{name}` written to {}", file.display());
        }
    }
    Ok(())
}
