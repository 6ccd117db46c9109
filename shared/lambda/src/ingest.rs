//! The ingest function: S3 `ObjectCreated` events under `incoming/{model_id}/`. Small
//! objects are scored here; large ones are split into chunk messages for the batch
//! function (see `pynomaly_service::fanout`). Keys arrive URL-encoded (`+` for a space)
//! and are decoded here. A storage failure fails the invocation, so Lambda retries it;
//! a bad file is not a failure of the function: it gets an error object and a failed job.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use lambda_runtime::{LambdaEvent, service_fn};
use pynomaly_service::fanout::{IngestConfig, IngestOutcome, ingest_object};
use pynomaly_service::jobs::{JobQueue, JobServices};
use pynomaly_service::storage::StoreError;
use serde::Serialize;

use pynomaly_service::config::StoreSettings;

use crate::runtime::{emit_metrics, init_tracing, start};

/// What the function holds between invocations.
#[derive(Debug, Clone)]
pub struct IngestFunction {
    services: JobServices,
    queue: Arc<dyn JobQueue>,
    config: IngestConfig,
    bucket: Option<String>,
}

/// One record's outcome, in the invocation's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordReport {
    /// The decoded key.
    pub key: String,
    /// `ignored`, `duplicate`, `scored`, `fanned_out` or `failed`.
    pub outcome: &'static str,
    /// The job, if one was made.
    pub job_id: Option<String>,
    /// Results object (scored) or parts queued (fanned out), or the reason (failed).
    pub detail: Option<String>,
}

/// Decodes an S3 event key: `+` is a space, then percent-decoding.
pub fn decode_key(raw: &str) -> String {
    let plus_decoded = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8_lossy()
        .into_owned()
}

impl IngestFunction {
    /// A function over `services` and `queue` (for chunk messages), watching `bucket`
    /// (events from other buckets are ignored; `None` takes all).
    pub fn new(
        services: JobServices,
        queue: Arc<dyn JobQueue>,
        config: IngestConfig,
        bucket: Option<String>,
    ) -> Self {
        Self {
            services,
            queue,
            config,
            bucket,
        }
    }

    /// Handles every record of an event.
    pub async fn handle(&self, event: S3Event) -> Result<Vec<RecordReport>, StoreError> {
        let started = Instant::now();
        let mut reports = Vec::with_capacity(event.records.len());
        let (mut rows, mut anomalies, mut failures) = (0usize, 0usize, 0usize);
        for record in event.records {
            let report = self.handle_record(record).await?;
            if let (Some(summary), "scored") = (&report.1, report.0.outcome) {
                rows += summary.rows;
                anomalies += summary.anomalies;
            }
            failures += usize::from(report.0.outcome == "failed");
            reports.push(report.0);
        }
        emit_metrics(
            "ingest",
            &[
                ("ObjectsReceived", reports.len() as f64, "Count"),
                ("RowsScored", rows as f64, "Count"),
                ("AnomaliesFlagged", anomalies as f64, "Count"),
                ("IngestFailures", failures as f64, "Count"),
                (
                    "Duration",
                    started.elapsed().as_secs_f64() * 1000.0,
                    "Milliseconds",
                ),
            ],
        );
        Ok(reports)
    }

    async fn handle_record(
        &self,
        record: S3EventRecord,
    ) -> Result<(RecordReport, Option<pynomaly_service::jobs::JobSummary>), StoreError> {
        let raw_key = record.s3.object.key.clone().unwrap_or_default();
        let key = decode_key(&raw_key);
        let report = |outcome, job_id: Option<&str>, detail: Option<String>| RecordReport {
            key: key.clone(),
            outcome,
            job_id: job_id.map(str::to_string),
            detail,
        };
        let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
        if self.bucket.as_deref().is_some_and(|b| b != bucket) {
            tracing::warn!(%bucket, %key, "event from another bucket; ignored");
            return Ok((report("ignored", None, None), None));
        }
        let size = record.s3.object.size.unwrap_or(0).max(0) as u64;
        let object = &record.s3.object;
        let version = object
            .version_id
            .as_deref()
            .or(object.e_tag.as_deref())
            .or(object.sequencer.as_deref())
            .unwrap_or_default();
        let outcome = ingest_object(
            &self.services,
            self.queue.as_ref(),
            &self.config,
            &key,
            size,
            version,
        )
        .await?;
        tracing::info!(%key, outcome = ?outcome, "ingested");
        Ok(match outcome {
            IngestOutcome::Ignored => (report("ignored", None, None), None),
            IngestOutcome::Duplicate { job_id } => (report("duplicate", Some(&job_id), None), None),
            IngestOutcome::Scored {
                job_id,
                results_key,
                summary,
            } => (
                report("scored", Some(&job_id), Some(results_key)),
                Some(summary),
            ),
            IngestOutcome::FannedOut { job_id, parts } => (
                report("fanned_out", Some(&job_id), Some(format!("{parts} parts"))),
                None,
            ),
            IngestOutcome::Failed { job_id, reason } => {
                (report("failed", Some(&job_id), Some(reason)), None)
            }
        })
    }
}

/// Runs the function: tracing and clients once, then events until the container ends.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let (settings, backend) = start().await?;
    let bucket = match &settings.store {
        StoreSettings::Aws { bucket, .. } => Some(bucket.clone()),
        StoreSettings::Postgres { bucket, .. } => bucket.clone(),
        StoreSettings::Local => None,
    };
    let function = IngestFunction::new(
        JobServices::configured(backend.store, backend.metadata, &settings),
        backend.queue,
        IngestConfig {
            tenant: settings.ingest_tenant.clone(),
            chunk_bytes: settings.chunk_bytes,
        },
        bucket,
    );
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        function
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("incoming/m1/Q3+sales+%28final%29.csv"),
            "incoming/m1/Q3 sales (final).csv"
        );
        assert_eq!(decode_key("incoming/m1/a%2Bb.csv"), "incoming/m1/a+b.csv");
    }
}
