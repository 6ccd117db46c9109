//! `pynomaly stream`: points from standard input as they arrive (NDJSON, or CSV with a
//! header line), scored by the same [`Streams`] use case as `POST /api/v1/streams/{id}/points`.
//! Lines that arrive together are scored as one batch (a piped file goes fast; `tail -f`
//! answers each line as it comes). Prints one JSON line per alarm (every point with
//! `--all`). With `--state DIR` the entity states and the stream's definition are kept in
//! DIR, so a restart carries on; without it they live in memory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pynomaly_service::storage::LocalObjectStore;
use pynomaly_service::streams::points::{PointsFormat, read_points};
use pynomaly_service::streams::spec::{CreateStream, StreamSpec};
use pynomaly_service::streams::store::{LocalStateStore, MemoryStateStore, StateStore};
use pynomaly_service::streams::{StreamError, Streams};

/// Most lines scored as one batch.
const BATCH_LINES: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// rcf | rolling-z | context.
    #[arg(long, short = 'm', default_value = pynomaly_detection::timeseries::DEFAULT_METHOD)]
    pub method: String,
    /// The method's parameters as a JSON object, e.g. '{"threshold": 2.5}'.
    #[arg(long)]
    pub params: Option<String>,
    /// Points after an alarm during which flags are not alarms.
    #[arg(long, default_value_t = pynomaly_service::streams::spec::DEFAULT_STREAM_COOLDOWN)]
    pub cooldown: u64,
    /// Threshold scale: 2 flags more, 0.5 less.
    #[arg(long, default_value_t = 1.0)]
    pub sensitivity: f64,
    /// The field naming each point's entity (one model per entity); without it every
    /// point is one series.
    #[arg(long)]
    pub entity_field: Option<String>,
    /// The field with each point's timestamp (optional in the points).
    #[arg(long, default_value = "timestamp")]
    pub timestamp_field: String,
    /// The fields with each point's values (repeat, or separate with commas).
    #[arg(long = "value-field", value_delimiter = ',', default_value = "value")]
    pub value_fields: Vec<String>,
    /// ndjson | csv [default: from the first line: `{` starts NDJSON, else a CSV header].
    #[arg(long)]
    pub format: Option<String>,
    /// Keep the stream's state in this directory, so a restart carries on.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print every point, not only alarms.
    #[arg(long)]
    pub all: bool,
}

/// The file in `--state` holding the stream's definition.
const SPEC_FILE: &str = "stream.json";
const TENANT: &str = "local";

fn spec_of(args: &StreamArgs) -> Result<StreamSpec> {
    let mut parameters = match &args.params {
        Some(text) => serde_json::from_str::<serde_json::Value>(text)
            .with_context(|| format!("--params is not valid JSON: {text}"))?,
        None => serde_json::json!({}),
    };
    let Some(object) = parameters.as_object_mut() else {
        bail!("--params must be a JSON object, e.g. '{{\"threshold\": 2.5}}'");
    };
    for name in ["cooldown", "sensitivity"] {
        if object.contains_key(name) {
            bail!("give {name} as --{name}, not inside --params");
        }
    }
    object.insert("cooldown".into(), args.cooldown.into());
    object.insert("sensitivity".into(), args.sensitivity.into());
    let request = CreateStream {
        name: Some("stdin".into()),
        method: Some(args.method.clone()),
        parameters: Some(parameters),
        entity_field: args.entity_field.clone(),
        timestamp_field: Some(args.timestamp_field.clone()),
        value_fields: Some(args.value_fields.clone()),
    };
    StreamSpec::create("cli".into(), request).map_err(|e| anyhow::anyhow!(in_flags(&e)))
}

/// A use-case error in the CLI's words (its flags, not the API's fields).
fn in_flags(e: &StreamError) -> String {
    let text = e.to_string();
    let text = text
        .replace("`parameters.cooldown`", "--cooldown")
        .replace("`parameters.sensitivity`", "--sensitivity")
        .replace("`value_fields`", "--value-field")
        .replace("`entity_field`", "--entity-field")
        .replace("`timestamp_field`", "--timestamp-field")
        .replace("`method`", "--method");
    match e {
        StreamError::Detection(pynomaly_detection::DetectionError::InvalidParameter { .. }) => {
            format!("{text} (in --params)")
        }
        _ => text,
    }
}

/// The definition kept in `dir`: the one given, checked against a previous run's.
fn keep_spec(dir: &std::path::Path, mut spec: StreamSpec) -> Result<StreamSpec> {
    let path = dir.join(SPEC_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let stored: StreamSpec = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a stream definition", path.display()))?;
            spec.created_at = stored.created_at;
            if stored != spec {
                bail!(
                    "--state {} holds a stream with other settings ({}); give the same flags to carry on, or another --state directory",
                    dir.display(),
                    serde_json::to_string(&stored.to_json()).unwrap_or_default()
                );
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create --state {}", dir.display()))?;
            std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(spec)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn run(args: StreamArgs) -> Result<()> {
    let spec = spec_of(&args)?;
    let format = match args.format.as_deref() {
        None => None,
        Some("ndjson" | "jsonl") => Some(PointsFormat::Ndjson),
        Some("csv") => Some(PointsFormat::Csv),
        Some(other) => bail!("--format must be ndjson or csv, got `{other}`"),
    };
    let (spec, states, objects_dir): (StreamSpec, Arc<dyn StateStore>, PathBuf) = match &args.state
    {
        Some(dir) => (
            keep_spec(dir, spec)?,
            Arc::new(LocalStateStore::new(dir.join("states"))),
            dir.clone(),
        ),
        None => (
            spec,
            Arc::new(MemoryStateStore::default()),
            std::env::temp_dir(),
        ),
    };
    let streams = Streams::new(
        Arc::new(LocalObjectStore::new(objects_dir)),
        states,
        pynomaly_service::streams::DEFAULT_CACHE_BYTES,
    );
    let spec = Arc::new(spec);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // A reader thread hands lines over as they arrive; the scorer takes all that are
    // waiting as one batch.
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<std::io::Result<String>>(4 * BATCH_LINES);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut format = format;
    let mut header: Option<String> = None;
    let mut line_number = 0usize;
    let mut refused = 0usize;
    let mut out = std::io::stdout().lock();
    while let Ok(first) = receiver.recv() {
        let mut lines = vec![first];
        while lines.len() < BATCH_LINES {
            match receiver.try_recv() {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        let mut batch: Vec<(usize, String)> = Vec::with_capacity(lines.len());
        for line in lines {
            line_number += 1;
            let line = line.context("cannot read standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let format = *format.get_or_insert(if line.trim_start().starts_with('{') {
                PointsFormat::Ndjson
            } else {
                PointsFormat::Csv
            });
            if format == PointsFormat::Csv && header.is_none() {
                header = Some(line);
                continue;
            }
            batch.push((line_number, line));
        }
        if batch.is_empty() {
            continue;
        }
        let format = format.unwrap_or(PointsFormat::Ndjson);
        let body = |lines: &[(usize, String)]| {
            let mut text = header.clone().map(|h| h + "\n").unwrap_or_default();
            for (_, line) in lines {
                text.push_str(line);
                text.push('\n');
            }
            text
        };
        let parsed = read_points(body(&batch).as_bytes(), format, &spec, usize::MAX);
        let points = match parsed {
            Ok(points) => points,
            // One bad line: take the good ones one by one and name the bad.
            Err(_) => {
                let mut good = Vec::new();
                for one in batch.chunks(1) {
                    match read_points(body(one).as_bytes(), format, &spec, usize::MAX) {
                        Ok(points) => good.extend(points),
                        Err(e) => {
                            refused += 1;
                            let message = e.to_string().replacen("point 0: ", "", 1);
                            eprintln!("line {}: {message} (skipped)", one[0].0);
                        }
                    }
                }
                good
            }
        };
        let outcome = runtime
            .block_on(streams.push_points(TENANT, &spec, points))
            .map_err(|e| anyhow::anyhow!(in_flags(&e)))?;
        for result in outcome.results.iter().filter(|r| args.all || r.anomaly) {
            use std::io::Write;
            serde_json::to_writer(&mut out, result)?;
            writeln!(out)?;
        }
        std::io::Write::flush(&mut out)?;
    }
    if refused > 0 {
        bail!("{refused} line(s) refused (named above); the others were scored");
    }
    Ok(())
}
