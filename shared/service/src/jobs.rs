//! Jobs: inputs too big for one request are uploaded to object storage, then scored by a
//! worker. A job moves `queued → running → succeeded | failed`; state changes are
//! conditional (compare-and-set on the current state and attempt number), so a
//! redelivered message never runs a finished job again. A worker that dies mid-job leaves
//! the job `running` with a lease; when the message comes back after the lease expired,
//! the next worker takes the job over, and the results object (one key per job) is
//! written by whichever attempt finishes — once.
//!
//! Ports: [`MetadataStore`] (job records) and [`JobQueue`] (messages); the local adapters
//! (files + an in-process channel) are always built. Cloud adapters implement the same
//! traits.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pynomaly_detection::{Budget, Model, ScoreOptions, Threshold};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc};

use crate::counters::Door;
use crate::formats::{Format, ReadOptions};
use crate::scoring::{self, ScoringError};
use crate::storage::{ObjectStore, StoreError};

/// Job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker has it.
    Running,
    /// Results are written.
    Succeeded,
    /// It failed; `error` says why.
    Failed,
}

impl JobState {
    /// The lowercase name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }
}

/// What to score and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Object holding the input (within the tenant's space).
    pub object_key: String,
    /// Input format (default: from the key's extension, else sniffed).
    pub format: Option<String>,
    /// Score with this stored model ...
    pub model_id: Option<String>,
    /// ... or fit this algorithm on the input and score it.
    pub algorithm: Option<String>,
    /// Algorithm parameters.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// Contamination, when thresholding by share.
    pub contamination: Option<f64>,
    /// Explicit score threshold.
    pub threshold: Option<f64>,
    /// Columns to ignore.
    pub ignore_columns: Option<Vec<String>>,
    /// Use only these columns, in this order (fitting; a model picks its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Missing values: `error` (default), `drop`, `mean` or `median` (with a model: its
    /// training mean or median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Columns carried into the results as text (a timestamp, a host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
}

/// Summary of a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// Rows scored.
    pub rows: usize,
    /// Rows flagged.
    pub anomalies: usize,
    /// Score threshold used.
    pub threshold: f64,
    /// Wall time of the run, milliseconds.
    pub duration_ms: f64,
}

/// A job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Job id.
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// State.
    pub state: JobState,
    /// The request.
    pub spec: JobSpec,
    /// Where results are (when succeeded).
    pub results_key: Option<String>,
    /// Summary (when succeeded).
    pub summary: Option<JobSummary>,
    /// Why it failed (when failed).
    pub error: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// While running: until when (epoch seconds) the current attempt holds the job.
    #[serde(default)]
    pub lease_expires_at: Option<u64>,
    /// How far it is.
    #[serde(default)]
    pub progress: JobProgress,
    /// When it was submitted (epoch seconds).
    #[serde(default)]
    pub created_at: Option<u64>,
    /// When its latest attempt started (epoch seconds).
    #[serde(default)]
    pub started_at: Option<u64>,
    /// When it succeeded or failed (epoch seconds).
    #[serde(default)]
    pub finished_at: Option<u64>,
}

/// Parts scored out of parts: one part for a job run by one worker; one per chunk when a
/// large object is fanned out to many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobProgress {
    /// Parts finished.
    pub parts_done: u32,
    /// Parts in all.
    pub parts_total: u32,
}

impl Default for JobProgress {
    fn default() -> Self {
        Self {
            parts_done: 0,
            parts_total: 1,
        }
    }
}

impl Job {
    /// A new job of `tenant`, queued, with no attempt yet.
    pub fn queued(tenant: &str, id: &str, spec: JobSpec) -> Self {
        Self {
            id: id.to_string(),
            tenant: tenant.to_string(),
            state: JobState::Queued,
            spec,
            results_key: None,
            summary: None,
            error: None,
            attempts: 0,
            lease_expires_at: None,
            progress: JobProgress::default(),
            created_at: Some(now_seconds()),
            started_at: None,
            finished_at: None,
        }
    }
}

/// How long an attempt holds a running job before another worker may take it over.
pub const LEASE_SECONDS: u64 = 900;

pub(crate) fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub use crate::messages::{JobMessage, QueueMessage};

/// Job records, with conditional state changes.
#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// Creates a job record.
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Reads a job (None when the tenant has no such job).
    async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<Job>, StoreError>;
    /// Replaces the job only if its current state and attempt number are `expected`;
    /// false if they were not.
    async fn update_job_if(&self, job: &Job, expected: (JobState, u32))
    -> Result<bool, StoreError>;
    /// Records that part `part` of a fanned-out job is scored. Idempotent: recording a
    /// part twice counts it once. Returns the parts recorded so far, sorted.
    async fn record_part(&self, tenant: &str, id: &str, part: u32) -> Result<Vec<u32>, StoreError>;
    /// The parts of a fanned-out job recorded so far, sorted.
    async fn parts_done(&self, tenant: &str, id: &str) -> Result<Vec<u32>, StoreError>;
    /// Every job of `tenant`, in no particular order (the API sorts and pages them).
    async fn list_jobs(&self, tenant: &str) -> Result<Vec<Job>, StoreError>;
    /// Whether the store is reachable (for `/ready`).
    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A queue of job messages.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Sends a message.
    async fn send(&self, message: &QueueMessage) -> Result<(), StoreError>;
}

/// Job records as JSON objects in an [`ObjectStore`]; conditional updates are serialised
/// by a lock, which is enough for one process (the local mode).
#[derive(Debug)]
pub struct ObjectMetadataStore {
    store: Arc<dyn ObjectStore>,
    lock: Mutex<()>,
}

impl ObjectMetadataStore {
    /// Job records in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            lock: Mutex::new(()),
        }
    }
}

fn job_key(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/jobs/{id}.json")
}

fn parts_key(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/jobs/{id}.parts.json")
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Backend {
        action: "decode",
        key: "job".into(),
        message: e.to_string(),
    }
}

#[async_trait]
impl MetadataStore for ObjectMetadataStore {
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(job).map_err(corrupt)?;
        self.store.put(&job_key(&job.tenant, &job.id), bytes).await
    }

    async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<Job>, StoreError> {
        let mut job: Job = match self.store.get(&job_key(tenant, id)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(corrupt)?,
            Err(StoreError::NotFound(_) | StoreError::InvalidKey(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let parts = self.parts_done(tenant, id).await?.len() as u32;
        job.progress.parts_done = job.progress.parts_done.max(parts);
        Ok(Some(job))
    }

    async fn record_part(&self, tenant: &str, id: &str, part: u32) -> Result<Vec<u32>, StoreError> {
        let _guard = self.lock.lock().await;
        let mut parts = self.parts_done(tenant, id).await?;
        if let Err(at) = parts.binary_search(&part) {
            parts.insert(at, part);
            let bytes = serde_json::to_vec(&parts).map_err(corrupt)?;
            self.store.put(&parts_key(tenant, id), bytes).await?;
        }
        Ok(parts)
    }

    async fn list_jobs(&self, tenant: &str) -> Result<Vec<Job>, StoreError> {
        let prefix = format!("tenants/{tenant}/jobs/");
        let mut jobs = Vec::new();
        for key in self.store.list(&prefix).await? {
            let Some(id) = key
                .strip_prefix(prefix.as_str())
                .and_then(|k| k.strip_suffix(".json"))
                .filter(|id| !id.contains('/') && !id.ends_with(".parts"))
            else {
                continue;
            };
            if let Some(job) = self.get_job(tenant, id).await? {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn parts_done(&self, tenant: &str, id: &str) -> Result<Vec<u32>, StoreError> {
        match self.store.get(&parts_key(tenant, id)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(corrupt),
            Err(StoreError::NotFound(_) | StoreError::InvalidKey(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn update_job_if(
        &self,
        job: &Job,
        expected: (JobState, u32),
    ) -> Result<bool, StoreError> {
        let _guard = self.lock.lock().await;
        match self.get_job(&job.tenant, &job.id).await? {
            Some(current) if (current.state, current.attempts) == expected => {
                self.insert_job(job).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// An in-process queue: messages go to a worker task in the same process.
#[derive(Debug, Clone)]
pub struct InProcessQueue {
    pub(crate) sender: mpsc::UnboundedSender<LocalDelivery>,
}

/// A message of the in-process queue with its delivery count.
#[derive(Debug, Clone)]
pub struct LocalDelivery {
    /// The message.
    pub message: QueueMessage,
    /// Deliveries so far, this one included.
    pub receive_count: u32,
}

impl InProcessQueue {
    /// A queue and the receiving end for its worker
    /// ([`run_worker`](crate::consumer::run_worker)).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<LocalDelivery>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), StoreError> {
        self.sender
            .send(LocalDelivery {
                message: message.clone(),
                receive_count: 1,
            })
            .map_err(|e| StoreError::Backend {
                action: "enqueue",
                key: message.job_id().to_string(),
                message: e.to_string(),
            })
    }
}

/// Everything a worker needs.
#[derive(Debug, Clone)]
pub struct JobServices {
    /// Objects (inputs, models, results).
    pub store: Arc<dyn ObjectStore>,
    /// Job records.
    pub metadata: Arc<dyn MetadataStore>,
    /// How long an attempt holds a running job ([`LEASE_SECONDS`] by default).
    pub lease_seconds: u64,
    /// What one job's fit may cost ([`JOB_BUDGET`](scoring::JOB_BUDGET) by default).
    pub budget: Budget,
    /// Rows this process's jobs scored (share them with the HTTP metrics).
    pub counters: Arc<crate::counters::ScoreCounters>,
    /// Streams, for points messages (none: such messages are retried, then dead-lettered).
    pub streams: Option<crate::streams::Streams>,
}

impl JobServices {
    /// Services over `store` and `metadata` with the default lease.
    pub fn new(store: Arc<dyn ObjectStore>, metadata: Arc<dyn MetadataStore>) -> Self {
        Self {
            store,
            metadata,
            lease_seconds: LEASE_SECONDS,
            budget: scoring::JOB_BUDGET,
            counters: Arc::default(),
            streams: None,
        }
    }

    /// Also scores points messages, with `streams`.
    pub fn with_streams(mut self, streams: crate::streams::Streams) -> Self {
        self.streams = Some(streams);
        self
    }

    /// Services over `store` and `metadata` as `settings` configure them (the lease).
    pub fn configured(
        store: Arc<dyn ObjectStore>,
        metadata: Arc<dyn MetadataStore>,
        settings: &crate::config::Settings,
    ) -> Self {
        Self {
            lease_seconds: settings.lease_seconds,
            ..Self::new(store, metadata)
        }
    }
}

/// What [`run_job`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// This call ran the job: its final record.
    Ran(Box<Job>),
    /// Nothing to do: the job finished before, or there is no such job.
    Nothing,
    /// Another attempt holds the job until `until` (epoch seconds): the message must come
    /// back then (when that attempt died, its lease has run out and the job is taken
    /// over), not be deleted.
    Held {
        /// When the holder's lease runs out.
        until: u64,
    },
}

impl RunOutcome {
    /// The final record, when this call ran the job.
    pub fn ran(self) -> Option<Job> {
        match self {
            Self::Ran(job) => Some(*job),
            _ => None,
        }
    }
}

/// Runs one job message. Idempotent: a finished job is left alone, and a job another
/// live attempt holds is reported as [`RunOutcome::Held`]. While it runs, the attempt
/// renews its lease every third of [`JobServices::lease_seconds`], so only a dead
/// attempt's job is ever taken over.
pub async fn run_job(
    services: &JobServices,
    message: &JobMessage,
) -> Result<RunOutcome, StoreError> {
    let Some(job) = services
        .metadata
        .get_job(&message.tenant, &message.job_id)
        .await?
    else {
        return Ok(RunOutcome::Nothing);
    };
    match job.state {
        JobState::Queued => {}
        JobState::Running => match job.lease_expires_at {
            // A previous attempt died: its lease ran out.
            Some(until) if until > now_seconds() => return Ok(RunOutcome::Held { until }),
            _ => {}
        },
        JobState::Succeeded | JobState::Failed => return Ok(RunOutcome::Nothing),
    }
    let mut running = job.clone();
    running.state = JobState::Running;
    running.attempts += 1;
    running.lease_expires_at = Some(now_seconds() + services.lease_seconds);
    running.started_at = Some(now_seconds());
    if !services
        .metadata
        .update_job_if(&running, (job.state, job.attempts))
        .await?
    {
        // Another delivery took it between our read and our write.
        return Ok(RunOutcome::Held {
            until: now_seconds() + services.lease_seconds,
        });
    }
    let heartbeat = tokio::spawn(renew_lease(services.clone(), running.clone()));
    let result = finish_job(services, running).await;
    heartbeat.abort();
    result.map(|job| RunOutcome::Ran(Box::new(job)))
}

/// Extends a running attempt's lease every third of the lease time, until aborted.
async fn renew_lease(services: JobServices, mut running: Job) {
    let every = std::time::Duration::from_secs((services.lease_seconds / 3).max(1));
    loop {
        tokio::time::sleep(every).await;
        let mut renewed = running.clone();
        renewed.lease_expires_at = Some(now_seconds() + services.lease_seconds);
        match services
            .metadata
            .update_job_if(&renewed, (JobState::Running, running.attempts))
            .await
        {
            Ok(true) => running = renewed,
            // Finished (or taken over): nothing more to hold.
            Ok(false) => return,
            Err(e) => tracing::warn!(job = %running.id, error = %e, "cannot renew the lease"),
        }
    }
}

/// Scores a running job and records the outcome (the attempt's part of [`run_job`]).
async fn finish_job(services: &JobServices, running: Job) -> Result<Job, StoreError> {
    let started = Instant::now();
    let outcome = match score(services, &running).await {
        Ok(outcome) => outcome,
        Err(storage) => return Err(release(services, &running, storage).await),
    };
    let mut done = running.clone();
    match outcome {
        Ok((results, summary)) => {
            let key = format!("tenants/{}/results/{}.csv", running.tenant, running.id);
            if let Err(storage) = services.store.put(&key, results).await {
                return Err(release(services, &running, storage).await);
            }
            services
                .counters
                .record(Door::Job, summary.rows, summary.anomalies);
            done.state = JobState::Succeeded;
            done.results_key = Some(key);
            done.progress.parts_done = done.progress.parts_total;
            done.summary = Some(JobSummary {
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                ..summary
            });
        }
        Err(reason) => {
            done.state = JobState::Failed;
            done.error = Some(reason);
        }
    }
    done.lease_expires_at = None;
    done.finished_at = Some(now_seconds());
    // The heartbeat may have renewed the lease meanwhile; state and attempt are what count.
    services
        .metadata
        .update_job_if(&done, (JobState::Running, running.attempts))
        .await?;
    Ok(done)
}

/// Storage trouble is not the job's fault: the attempt hands the job back (queued, no
/// lease) so that the message's redelivery runs it, instead of failing it for good or
/// leaving it held until the lease runs out. Returns `error` for the caller to pass on.
async fn release(services: &JobServices, running: &Job, error: StoreError) -> StoreError {
    let mut released = running.clone();
    released.state = JobState::Queued;
    released.lease_expires_at = None;
    if let Err(e) = services
        .metadata
        .update_job_if(&released, (JobState::Running, running.attempts))
        .await
    {
        tracing::warn!(job = %running.id, error = %e, "cannot hand the job back; its lease will expire");
    }
    error
}

/// Scores a job's input: results CSV (`row,score,grade,anomaly`) and a summary, or the
/// reason the input or model is rejected (permanent); a storage failure is an error
/// (transient: the message is retried).
async fn score(
    services: &JobServices,
    job: &Job,
) -> Result<Result<(Vec<u8>, JobSummary), String>, StoreError> {
    let spec = &job.spec;
    let input_key = format!("tenants/{}/{}", job.tenant, spec.object_key);
    let bytes = match services.store.get(&input_key).await {
        Ok(bytes) => bytes,
        Err(e @ (StoreError::NotFound(_) | StoreError::InvalidKey(_))) => {
            return Ok(Err(format!(
                "cannot read the input `{}`: {e}",
                spec.object_key
            )));
        }
        Err(e) => return Err(e),
    };
    let model_bytes = match &spec.model_id {
        Some(id) => {
            let models = crate::models::ModelRepository::new(services.store.clone());
            match models.envelope(&job.tenant, id).await {
                Ok(bytes) => Some(bytes),
                Err(crate::models::ModelStoreError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        None => None,
    };
    let spec = spec.clone();
    let budget = services.budget;
    tokio::task::spawn_blocking(move || {
        score_blocking(&spec, &bytes, model_bytes.as_deref(), budget)
    })
    .await
    .map_err(|e| StoreError::Backend {
        action: "score",
        key: input_key,
        message: e.to_string(),
    })
}

/// The input format a job names, or the one its key's extension implies.
pub(crate) fn job_format(name: Option<&str>, key: &str) -> Result<Option<Format>, String> {
    match name {
        Some("csv") => Ok(Some(Format::Csv)),
        Some("json") => Ok(Some(Format::Json)),
        Some("ndjson") | Some("jsonl") => Ok(Some(Format::Ndjson)),
        Some("parquet") => Ok(Some(Format::Parquet)),
        Some(other) => Err(format!(
            "unknown format `{other}`; use csv, json, ndjson or parquet"
        )),
        None => Ok(Format::from_path(key)),
    }
}

/// How a job reads its input: the spec's format, columns, missing-value policy and kept
/// columns, or what is wrong with them in the words of its fields.
pub(crate) fn job_read_options(spec: &JobSpec) -> Result<ReadOptions, String> {
    let missing = scoring::missing_policy(spec.missing.as_deref())?;
    Ok(ReadOptions {
        format: job_format(spec.format.as_deref(), &spec.object_key)
            .map_err(|e| format!("`format`: {e}"))?,
        columns: spec.columns.clone(),
        ignore_columns: spec.ignore_columns.clone().unwrap_or_default(),
        missing,
        keep: spec.keep.clone().unwrap_or_default(),
        ..Default::default()
    })
}

/// Checks a job spec before it is queued, so a mistake is answered at once in the words
/// of its fields, not found by the worker later: a stored model's job takes no fitting
/// fields (they would be ignored), an algorithm's parameters must suit it.
pub fn check_spec(spec: &JobSpec) -> Result<(), ScoringError> {
    if spec.model_id.is_some() {
        let fitting = [
            ("algorithm", spec.algorithm.is_some()),
            ("parameters", spec.parameters.is_some()),
            ("columns", spec.columns.is_some()),
            ("ignore_columns", spec.ignore_columns.is_some()),
        ];
        if let Some((field, _)) = fitting.iter().find(|(_, given)| *given) {
            return Err(ScoringError::Spec(format!(
                "`{field}` is not used with `model_id` (the model was fitted with its own); leave it out"
            )));
        }
    } else {
        scoring::algorithm_params(spec.algorithm.as_deref(), spec.parameters.clone())?;
    }
    job_threshold(spec).map_err(|e| ScoringError::Spec(job_reason(e)))?;
    job_read_options(spec).map_err(ScoringError::Spec)?;
    Ok(())
}

/// The threshold rule a job spec asks for (the one policy: both is an error).
pub(crate) fn job_threshold(spec: &JobSpec) -> Result<Threshold, ScoringError> {
    scoring::threshold_rule(spec.contamination, spec.threshold.map(Threshold::Score))
}

/// A job's use case in the words of its spec's fields.
fn job_reason(e: ScoringError) -> String {
    match e {
        ScoringError::ThresholdConflict => {
            "give either `contamination` or `threshold`, not both".to_string()
        }
        other => other.to_string(),
    }
}

fn score_blocking(
    spec: &JobSpec,
    bytes: &[u8],
    model: Option<&[u8]>,
    budget: Budget,
) -> Result<(Vec<u8>, JobSummary), String> {
    let read = job_read_options(spec)?;
    let threshold = job_threshold(spec).map_err(job_reason)?;
    match model {
        Some(model_bytes) => {
            let model = Model::from_json(model_bytes)
                .map_err(|e| format!("the stored model cannot be used: {e}"))?;
            score_with_model(&model, bytes, &read, threshold)
        }
        None => {
            let params =
                scoring::algorithm_params(spec.algorithm.as_deref(), spec.parameters.clone())
                    .map_err(job_reason)?;
            let table = scoring::read_for_fit(bytes, &read).map_err(job_reason)?;
            let options = ScoreOptions {
                threshold,
                explain_top: None,
            };
            let (_, detection) =
                scoring::detect(&params, &table, scoring::DEFAULT_SEED, options, budget)
                    .map_err(job_reason)?;
            Ok(summarised(&table, &detection))
        }
    }
}

/// Scores `bytes` (a table, in `read.format` or sniffed) with a fitted model: results CSV
/// (`row,score,grade,anomaly`) and a summary, or what is wrong with the input.
pub fn score_with_model(
    model: &Model,
    bytes: &[u8],
    read: &ReadOptions,
    threshold: Threshold,
) -> Result<(Vec<u8>, JobSummary), String> {
    let table = scoring::read_for_model(bytes, model, read).map_err(job_reason)?;
    let options = ScoreOptions {
        threshold,
        explain_top: None,
    };
    let detection = scoring::score(model, &table, options).map_err(job_reason)?;
    Ok(summarised(&table, &detection))
}

fn summarised(
    table: &crate::formats::Table,
    detection: &pynomaly_detection::Detection,
) -> (Vec<u8>, JobSummary) {
    (
        scoring::results_csv(table, detection),
        JobSummary {
            rows: detection.scores.len(),
            anomalies: detection.anomaly_count(),
            threshold: detection.threshold,
            duration_ms: 0.0,
        },
    )
}

/// Marks a job failed with `reason` unless it already finished (used when a message is
/// about to go to the dead-letter queue, so the job record says why); true when this call
/// failed it.
pub async fn fail_job(
    services: &JobServices,
    tenant: &str,
    id: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    for _ in 0..3 {
        let Some(job) = services.metadata.get_job(tenant, id).await? else {
            return Ok(false);
        };
        if matches!(job.state, JobState::Succeeded | JobState::Failed) {
            return Ok(false);
        }
        let mut failed = job.clone();
        failed.state = JobState::Failed;
        failed.error = Some(reason.to_string());
        failed.lease_expires_at = None;
        failed.finished_at = Some(now_seconds());
        if services
            .metadata
            .update_job_if(&failed, (job.state, job.attempts))
            .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::{Disposition, consume};
    use crate::storage::LocalObjectStore;

    fn job(id: &str, key: &str) -> Job {
        crate::testing::sample_job("t", id, key)
    }

    #[tokio::test]
    async fn local_metadata_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
        crate::testing::metadata_contract(&ObjectMetadataStore::new(store)).await;
    }

    #[tokio::test]
    async fn runs_once_and_records_failures() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
        let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
        let services = JobServices::new(store.clone(), metadata.clone());
        let csv: String = std::iter::once("a,b\n".to_string())
            .chain((0..50).map(|i| format!("{},{}\n", i % 7, i % 3)))
            .collect();
        store
            .put("tenants/t/uploads/in.csv", csv.into_bytes())
            .await
            .unwrap();
        metadata
            .insert_job(&job("j1", "uploads/in.csv"))
            .await
            .unwrap();
        let message = JobMessage {
            tenant: "t".into(),
            job_id: "j1".into(),
        };
        let done = run_job(&services, &message).await.unwrap().ran().unwrap();
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.summary.as_ref().unwrap().rows, 50);
        let results = store
            .get(done.results_key.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(String::from_utf8(results).unwrap().lines().count(), 51);
        // A redelivery does nothing.
        assert_eq!(
            run_job(&services, &message).await.unwrap(),
            RunOutcome::Nothing
        );
        assert_eq!(
            metadata.get_job("t", "j1").await.unwrap().unwrap().attempts,
            1
        );

        metadata
            .insert_job(&job("j2", "uploads/missing.csv"))
            .await
            .unwrap();
        let failed = run_job(
            &services,
            &JobMessage {
                tenant: "t".into(),
                job_id: "j2".into(),
            },
        )
        .await
        .unwrap()
        .ran()
        .unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert!(failed.error.unwrap().contains("cannot read the input"));
    }

    /// A store whose reads of keys containing `flaky` fail while `down` is set.
    #[derive(Debug)]
    struct Outage {
        inner: LocalObjectStore,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl ObjectStore for Outage {
        async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
            self.inner.put(key, bytes).await
        }
        async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
            if key.contains("/model") && self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Backend {
                    action: "get",
                    key: key.into(),
                    message: "connection refused".into(),
                });
            }
            self.inner.get(key).await
        }
        async fn get_range(
            &self,
            key: &str,
            range: std::ops::Range<u64>,
        ) -> Result<Vec<u8>, StoreError> {
            self.inner.get_range(key, range).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        async fn ready(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_storage_outage_is_retried_and_a_corrupt_model_fails_once() {
        let dir = tempfile::tempdir().unwrap();
        let outage = Arc::new(Outage {
            inner: LocalObjectStore::new(dir.path()),
            down: std::sync::atomic::AtomicBool::new(true),
        });
        let store: Arc<dyn ObjectStore> = outage.clone();
        let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
        let services = JobServices::new(store.clone(), metadata.clone());
        let csv: String = std::iter::once("a,b\n".to_string())
            .chain((0..50).map(|i| format!("{},{}\n", i % 7, i % 3)))
            .collect();
        let table = crate::formats::read_table(csv.as_bytes(), &ReadOptions::default()).unwrap();
        let params = scoring::algorithm_params(Some("ecod"), None).unwrap();
        let model = scoring::fit(&params, &table, 1, Budget::UNLIMITED).unwrap();
        outage
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        crate::models::ModelRepository::new(store.clone())
            .save("t", Some("m"), model, crate::models::OnNameTaken::Refuse)
            .await
            .unwrap();
        outage.down.store(true, std::sync::atomic::Ordering::SeqCst);
        store
            .put("tenants/t/uploads/in.csv", csv.into_bytes())
            .await
            .unwrap();
        let mut spec = job("j1", "uploads/in.csv").spec;
        spec.algorithm = None;
        spec.model_id = Some("m".into());
        metadata
            .insert_job(&Job::queued("t", "j1", spec.clone()))
            .await
            .unwrap();
        let message = QueueMessage::Job(JobMessage {
            tenant: "t".into(),
            job_id: "j1".into(),
        });
        // The model cannot be read: the delivery fails (the message comes back) and the
        // job is handed back, not failed.
        assert!(matches!(
            consume(&services, &message, 1, 5).await,
            Disposition::Retry { .. }
        ));
        let held = metadata.get_job("t", "j1").await.unwrap().unwrap();
        assert_eq!((held.state, held.error), (JobState::Queued, None));
        // Storage is back: the redelivery runs it.
        outage
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            consume(&services, &message, 2, 5).await,
            Disposition::Acknowledge(Some(_))
        ));
        let done = metadata.get_job("t", "j1").await.unwrap().unwrap();
        assert_eq!(done.state, JobState::Succeeded, "{done:?}");
        assert_eq!(done.summary.unwrap().rows, 50);

        // A corrupt model is the job's problem: failed at once, with the reason.
        let bad = "0123abcd-0123-0123-0123-0123456789ab";
        store
            .put(
                &format!("tenants/t/models/{bad}.json"),
                b"{\"not\": \"a model\"}".to_vec(),
            )
            .await
            .unwrap();
        spec.model_id = Some(bad.into());
        metadata
            .insert_job(&Job::queued("t", "j2", spec.clone()))
            .await
            .unwrap();
        let message = QueueMessage::Job(JobMessage {
            tenant: "t".into(),
            job_id: "j2".into(),
        });
        assert!(matches!(
            consume(&services, &message, 1, 5).await,
            Disposition::Acknowledge(_)
        ));
        let failed = metadata.get_job("t", "j2").await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert!(
            failed
                .error
                .unwrap()
                .contains("stored model cannot be used"),
        );

        // Contamination and threshold together: the one policy, in the spec's words.
        spec.model_id = Some("m".into());
        spec.contamination = Some(0.1);
        spec.threshold = Some(2.0);
        metadata
            .insert_job(&Job::queued("t", "j3", spec))
            .await
            .unwrap();
        let message = QueueMessage::Job(JobMessage {
            tenant: "t".into(),
            job_id: "j3".into(),
        });
        assert!(matches!(
            consume(&services, &message, 1, 5).await,
            Disposition::Acknowledge(_)
        ));
        let failed = metadata.get_job("t", "j3").await.unwrap().unwrap();
        assert!(
            failed
                .error
                .unwrap()
                .contains("`contamination` or `threshold`")
        );
    }
}
