//! The S3 drop folder: an object created under `incoming/{model_id}/{name}` is scored with
//! that stored model and the result written to `results/{model_id}/{name}.scores.csv`,
//! with a job record (tenant from the configuration) saying what happened.
//!
//! Objects larger than [`IngestConfig::chunk_bytes`] are not read whole: they are split
//! into row-aligned byte ranges, one [`ChunkMessage`] each on the queue; whoever consumes
//! the queue (the batch function, or `pynomaly worker`) scores the parts in parallel into
//! `results/{model_id}/{name}.scores/part-NNNNN.csv`. The part that completes the set
//! writes `results/{model_id}/{name}.manifest.json` (parts in order, each with its first
//! row number) and marks the job succeeded. Parts are recorded idempotently in the
//! [`MetadataStore`](crate::jobs::MetadataStore), so a redelivered chunk is not scored
//! twice and the job finishes exactly once.
//!
//! Failures never pass silently: an unknown model, an unsupported or corrupt file writes
//! `{input}.error.json` next to the input and a failed job record with the reason. Keys
//! outside `incoming/` and those error objects are ignored, so the function cannot
//! trigger itself.

use std::time::Instant;

use pynomaly_detection::{Model, Threshold};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::counters::Door;
use crate::formats::{Format, ReadOptions};
use crate::jobs::{
    Job, JobProgress, JobQueue, JobServices, JobSpec, JobState, JobSummary, QueueMessage, fail_job,
    score_with_model,
};
use crate::storage::StoreError;

/// Where dropped objects go.
pub const INCOMING_PREFIX: &str = "incoming/";
/// Where results go.
pub const RESULTS_PREFIX: &str = "results/";
/// Suffix of the error object written next to an input that could not be scored.
pub const ERROR_SUFFIX: &str = ".error.json";
/// How far past a nominal chunk boundary to look for the end of a line.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// Drop-folder settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Tenant whose models score dropped objects and who owns the job records.
    pub tenant: String,
    /// Objects above this size are split into chunks of about this size.
    pub chunk_bytes: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            tenant: "default".into(),
            chunk_bytes: 8 << 20,
        }
    }
}

pub use crate::messages::ChunkMessage;

/// What [`ingest_object`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Not an input (outside `incoming/`, or one of our own error objects).
    Ignored,
    /// This object version was already taken in (a repeated event).
    Duplicate {
        /// Its job.
        job_id: String,
    },
    /// Scored in this call.
    Scored {
        /// Its job.
        job_id: String,
        /// Where the results are.
        results_key: String,
        /// Rows and anomalies.
        summary: JobSummary,
    },
    /// Split into parts, queued.
    FannedOut {
        /// Its job.
        job_id: String,
        /// Parts queued.
        parts: u32,
    },
    /// Could not be scored; an error object and a failed job record say why.
    Failed {
        /// Its job.
        job_id: String,
        /// Why.
        reason: String,
    },
}

/// Manifest of a fanned-out result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The input.
    pub input: String,
    /// The job.
    pub job_id: String,
    /// Rows scored in all.
    pub rows: usize,
    /// Rows flagged in all.
    pub anomalies: usize,
    /// Parts in input order.
    pub parts: Vec<ManifestPart>,
}

/// One part of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestPart {
    /// Results object (`row` in it counts from 0 within the part).
    pub key: String,
    /// Row number of the part's first row in the whole input.
    pub first_row: usize,
    /// Rows in the part.
    pub rows: usize,
    /// Rows flagged in the part.
    pub anomalies: usize,
}

/// `incoming/{model}/{name}` → (model, name).
fn parse_incoming(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(INCOMING_PREFIX)?;
    let (model, name) = rest.split_once('/')?;
    (!model.is_empty() && !name.is_empty()).then_some((model, name))
}

/// A job id that is the same for every event about the same object version.
fn ingest_job_id(key: &str, version: &str) -> String {
    let digest = Sha256::digest(format!("{key}\n{version}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("ingest-{hex}")
}

/// The format of a dropped object, from its extension; `Ok(None)` means sniff it.
fn ingest_format(name: &str) -> Result<Option<Format>, String> {
    let file = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv" | "txt" | "json" | "ndjson" | "jsonl" | "parquet" | "pq") => {
            Ok(Format::from_path(&file))
        }
        Some(ext) => Err(format!(
            "unsupported file type `.{ext}`; drop .csv, .json, .ndjson, .jsonl or .parquet"
        )),
        None => Ok(None),
    }
}

fn strip_extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => stem,
        _ => name,
    }
}

/// The job record of a dropped object: running from the start (this call is its attempt).
fn ingest_job(config: &IngestConfig, id: &str, key: &str, model_id: &str) -> Job {
    let spec = JobSpec {
        object_key: key.to_string(),
        format: None,
        model_id: Some(model_id.to_string()),
        ..Default::default()
    };
    Job {
        state: JobState::Running,
        attempts: 1,
        ..Job::queued(&config.tenant, id, spec)
    }
}

/// Takes in an object created at `key` (`size` bytes; `version` tells object versions
/// apart, e.g. the ETag or the event's sequencer).
pub async fn ingest_object(
    services: &JobServices,
    queue: &dyn JobQueue,
    config: &IngestConfig,
    key: &str,
    size: u64,
    version: &str,
) -> Result<IngestOutcome, StoreError> {
    let Some((model_id, name)) = parse_incoming(key) else {
        return Ok(IngestOutcome::Ignored);
    };
    if key.ends_with(ERROR_SUFFIX) {
        return Ok(IngestOutcome::Ignored);
    }
    let job_id = ingest_job_id(key, version);
    if services
        .metadata
        .get_job(&config.tenant, &job_id)
        .await?
        .is_some()
    {
        return Ok(IngestOutcome::Duplicate { job_id });
    }
    let mut job = ingest_job(config, &job_id, key, model_id);
    services.metadata.insert_job(&job).await?;
    let started = Instant::now();
    let results_base = format!("{RESULTS_PREFIX}{model_id}/{}", strip_extension(name));

    let failed = |reason: String| async {
        record_failure(services, &config.tenant, &job_id, key, &reason).await?;
        Ok::<_, StoreError>(IngestOutcome::Failed {
            job_id: job_id.clone(),
            reason,
        })
    };
    let format = match ingest_format(name) {
        Ok(format) => format,
        Err(reason) => return failed(reason).await,
    };
    let model = match load_model(services, &config.tenant, model_id).await? {
        Ok(model) => model,
        Err(reason) => return failed(reason).await,
    };
    let splittable = matches!(format, Some(Format::Csv | Format::Ndjson));
    if size > config.chunk_bytes && splittable {
        let chunks = match plan_chunks(services, key, size, config.chunk_bytes, format).await? {
            Ok(chunks) => chunks,
            Err(reason) => return failed(reason).await,
        };
        let parts = chunks.len() as u32;
        job.progress = JobProgress {
            parts_done: 0,
            parts_total: parts,
        };
        job.results_key = Some(format!("{results_base}.manifest.json"));
        services
            .metadata
            .update_job_if(&job, (JobState::Running, 1))
            .await?;
        let format_name = if format == Some(Format::Ndjson) {
            "ndjson"
        } else {
            "csv"
        };
        for (part, (start, end, header)) in chunks.into_iter().enumerate() {
            let message = ChunkMessage {
                tenant: config.tenant.clone(),
                job_id: job_id.clone(),
                part: part as u32,
                parts,
                object_key: key.to_string(),
                start,
                end,
                header,
                format: format_name.into(),
                model_id: model_id.to_string(),
                results_base: results_base.clone(),
            };
            queue.send(&QueueMessage::Chunk(message)).await?;
        }
        return Ok(IngestOutcome::FannedOut { job_id, parts });
    }
    if size > config.chunk_bytes.saturating_mul(8) {
        return failed(format!(
            "a JSON or Parquet file of {size} bytes is too large to score at once \
             (limit {} bytes); drop CSV or NDJSON, which are split into parts",
            config.chunk_bytes.saturating_mul(8)
        ))
        .await;
    }
    let bytes = services.store.get(key).await?;
    let scored = tokio::task::spawn_blocking(move || {
        let read = ReadOptions {
            format,
            ..Default::default()
        };
        score_with_model(&model, &bytes, &read, Threshold::Auto)
    })
    .await
    .map_err(|e| StoreError::Backend {
        action: "score",
        key: key.to_string(),
        message: e.to_string(),
    })?;
    let (results, mut summary) = match scored {
        Ok(scored) => scored,
        Err(reason) => return failed(reason).await,
    };
    let results_key = format!("{results_base}.scores.csv");
    services.store.put(&results_key, results).await?;
    summary.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    services
        .counters
        .record(Door::Job, summary.rows, summary.anomalies);
    let mut done = job.clone();
    done.state = JobState::Succeeded;
    done.results_key = Some(results_key.clone());
    done.summary = Some(summary.clone());
    done.progress.parts_done = 1;
    if services
        .metadata
        .update_job_if(&done, (JobState::Running, 1))
        .await?
    {
        services.counters.job_finished(true);
    }
    Ok(IngestOutcome::Scored {
        job_id,
        results_key,
        summary,
    })
}

async fn load_model(
    services: &JobServices,
    tenant: &str,
    model_id: &str,
) -> Result<Result<Model, String>, StoreError> {
    use crate::models::{ModelRepository, ModelStoreError};
    let bytes = match ModelRepository::new(services.store.clone())
        .envelope(tenant, model_id)
        .await
    {
        Ok(bytes) => bytes,
        Err(ModelStoreError::Store(e)) => return Err(e),
        Err(_) => {
            return Ok(Err(format!(
                "unknown model `{model_id}`: train one with POST /api/v1/models and drop files under incoming/<its id or name>/"
            )));
        }
    };
    let parsed = tokio::task::spawn_blocking(move || Model::from_json(&bytes))
        .await
        .map_err(|e| StoreError::Backend {
            action: "decode",
            key: model_id.to_string(),
            message: e.to_string(),
        })?;
    Ok(parsed.map_err(|e| format!("model `{model_id}` cannot be loaded: {e}")))
}

/// Writes `{key}.error.json` and marks the job failed.
async fn record_failure(
    services: &JobServices,
    tenant: &str,
    job_id: &str,
    key: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let body = serde_json::json!({"input": key, "job_id": job_id, "error": reason});
    services
        .store
        .put(
            &format!("{key}{ERROR_SUFFIX}"),
            serde_json::to_vec_pretty(&body).unwrap_or_default(),
        )
        .await?;
    if fail_job(services, tenant, job_id, reason).await? {
        services.counters.job_finished(false);
    }
    Ok(())
}

type Chunk = (u64, u64, Option<String>);

/// Row-aligned byte ranges of about `chunk_bytes`: each nominal boundary moves to just
/// past the next newline. For CSV the first line is the header, which every part after
/// the first gets prepended. Assumes no newline inside quoted CSV fields.
async fn plan_chunks(
    services: &JobServices,
    key: &str,
    size: u64,
    chunk_bytes: u64,
    format: Option<Format>,
) -> Result<Result<Vec<Chunk>, String>, StoreError> {
    let next_line = |offset: u64| async move {
        let window = services
            .store
            .get_range(key, offset..(offset + MAX_LINE_BYTES).min(size))
            .await?;
        Ok::<_, StoreError>(
            window
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| offset + p as u64 + 1),
        )
    };
    let header = match format {
        Some(Format::Csv) => {
            let Some(end) = next_line(0).await? else {
                return Ok(Err("the first line is longer than 1 MiB".into()));
            };
            let bytes = services.store.get_range(key, 0..end).await?;
            let line = String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if line.is_empty() {
                return Ok(Err("the first line (the CSV header) is empty".into()));
            }
            Some(line)
        }
        _ => None,
    };
    let mut bounds = vec![0u64];
    let mut nominal = chunk_bytes;
    while nominal < size {
        let from = nominal.max(*bounds.last().unwrap_or(&0));
        match next_line(from.saturating_sub(1)).await? {
            Some(end) if end < size => {
                if end > *bounds.last().unwrap_or(&0) {
                    bounds.push(end);
                }
            }
            Some(_) => break,
            None => {
                return Ok(Err(format!(
                    "a line near byte {nominal} is longer than 1 MiB"
                )));
            }
        }
        nominal = bounds.last().copied().unwrap_or(nominal) + chunk_bytes;
    }
    bounds.push(size);
    Ok(Ok(bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[0], w[1], if i == 0 { None } else { header.clone() }))
        .collect()))
}

fn part_key(base: &str, part: u32) -> String {
    format!("{base}.scores/part-{part:05}.csv")
}

fn part_summary_key(base: &str, part: u32) -> String {
    format!("{base}.scores/part-{part:05}.json")
}

/// Scores one chunk. Idempotent: a part already recorded is not scored again, and the
/// part that completes the set finishes the job (exactly once, by a conditional update).
/// Bad data in a part fails the job with the reason; storage trouble is an error, so the
/// message is retried.
pub async fn process_chunk(
    services: &JobServices,
    chunk: &ChunkMessage,
) -> Result<Option<JobSummary>, StoreError> {
    let Some(job) = services
        .metadata
        .get_job(&chunk.tenant, &chunk.job_id)
        .await?
    else {
        tracing::warn!(job = %chunk.job_id, "chunk of an unknown job; dropped");
        return Ok(None);
    };
    if job.state != JobState::Running {
        return Ok(None);
    }
    let done = services
        .metadata
        .parts_done(&chunk.tenant, &chunk.job_id)
        .await?;
    let mut scored_now = None;
    let done = if done.binary_search(&chunk.part).is_ok() {
        done
    } else {
        let model = match load_model(services, &chunk.tenant, &chunk.model_id).await? {
            Ok(model) => model,
            Err(reason) => return fail_chunked(services, chunk, &reason).await.map(|()| None),
        };
        let body = services
            .store
            .get_range(&chunk.object_key, chunk.start..chunk.end)
            .await?;
        let bytes = match &chunk.header {
            Some(header) => {
                let mut with_header = Vec::with_capacity(header.len() + 1 + body.len());
                with_header.extend_from_slice(header.as_bytes());
                with_header.push(b'\n');
                with_header.extend_from_slice(&body);
                with_header
            }
            None => body,
        };
        let format = if chunk.format == "ndjson" {
            Format::Ndjson
        } else {
            Format::Csv
        };
        let scored = tokio::task::spawn_blocking(move || {
            let read = ReadOptions {
                format: Some(format),
                ..Default::default()
            };
            score_with_model(&model, &bytes, &read, Threshold::Auto)
        })
        .await
        .map_err(|e| StoreError::Backend {
            action: "score",
            key: chunk.object_key.clone(),
            message: e.to_string(),
        })?;
        let (results, summary) = match scored {
            Ok(scored) => scored,
            Err(reason) => {
                let reason = format!("part {} of {}: {reason}", chunk.part + 1, chunk.parts);
                return fail_chunked(services, chunk, &reason).await.map(|()| None);
            }
        };
        services
            .store
            .put(&part_key(&chunk.results_base, chunk.part), results)
            .await?;
        let summary_bytes = serde_json::to_vec(&summary).unwrap_or_default();
        services
            .counters
            .record(Door::Job, summary.rows, summary.anomalies);
        scored_now = Some(summary);
        services
            .store
            .put(
                &part_summary_key(&chunk.results_base, chunk.part),
                summary_bytes,
            )
            .await?;
        services
            .metadata
            .record_part(&chunk.tenant, &chunk.job_id, chunk.part)
            .await?
    };
    if done.len() as u32 >= chunk.parts {
        finish(services, chunk, job).await?;
    }
    Ok(scored_now)
}

async fn fail_chunked(
    services: &JobServices,
    chunk: &ChunkMessage,
    reason: &str,
) -> Result<(), StoreError> {
    record_failure(
        services,
        &chunk.tenant,
        &chunk.job_id,
        &chunk.object_key,
        reason,
    )
    .await
}

/// Writes the manifest and marks the job succeeded (once: a conditional update).
async fn finish(services: &JobServices, chunk: &ChunkMessage, job: Job) -> Result<(), StoreError> {
    let mut parts = Vec::with_capacity(chunk.parts as usize);
    let (mut rows, mut anomalies) = (0, 0);
    let mut threshold = f64::NAN;
    for part in 0..chunk.parts {
        let bytes = services
            .store
            .get(&part_summary_key(&chunk.results_base, part))
            .await?;
        let summary: JobSummary =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Backend {
                action: "decode",
                key: part_summary_key(&chunk.results_base, part),
                message: e.to_string(),
            })?;
        parts.push(ManifestPart {
            key: part_key(&chunk.results_base, part),
            first_row: rows,
            rows: summary.rows,
            anomalies: summary.anomalies,
        });
        rows += summary.rows;
        anomalies += summary.anomalies;
        threshold = summary.threshold;
    }
    let manifest = Manifest {
        input: chunk.object_key.clone(),
        job_id: chunk.job_id.clone(),
        rows,
        anomalies,
        parts,
    };
    let manifest_key = format!("{}.manifest.json", chunk.results_base);
    services
        .store
        .put(
            &manifest_key,
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        )
        .await?;
    let mut done = job.clone();
    done.state = JobState::Succeeded;
    done.results_key = Some(manifest_key);
    done.progress.parts_done = chunk.parts;
    done.summary = Some(JobSummary {
        rows,
        anomalies,
        threshold,
        duration_ms: 0.0,
    });
    if services
        .metadata
        .update_job_if(&done, (JobState::Running, job.attempts))
        .await?
    {
        services.counters.job_finished(true);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_keys_name_the_model() {
        assert_eq!(
            parse_incoming("incoming/m1/a/b c.csv"),
            Some(("m1", "a/b c.csv"))
        );
        assert_eq!(parse_incoming("incoming/m1/"), None);
        assert_eq!(parse_incoming("incoming/x.csv"), None);
        assert_eq!(parse_incoming("results/m1/x.csv"), None);
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(ingest_format("a.CSV"), Ok(Some(Format::Csv)));
        assert_eq!(ingest_format("a.jsonl"), Ok(Some(Format::Ndjson)));
        assert_eq!(ingest_format("noext"), Ok(None));
        assert!(ingest_format("a.xlsx").unwrap_err().contains(".xlsx"));
        assert_eq!(strip_extension("dir/a.b.csv"), "dir/a.b");
        assert_eq!(strip_extension("noext"), "noext");
    }

    #[test]
    fn job_ids_are_stable_per_object_version() {
        assert_eq!(ingest_job_id("k", "v1"), ingest_job_id("k", "v1"));
        assert_ne!(ingest_job_id("k", "v1"), ingest_job_id("k", "v2"));
    }
}
