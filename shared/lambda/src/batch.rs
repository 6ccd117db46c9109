//! The batch function: SQS events carrying job messages (from `POST /api/v1/jobs`) and
//! chunk messages (from the ingest function). Each message is handled on its own and
//! reported in `batchItemFailures` when it fails, so one bad message never fails or
//! repeats the others. Handling is idempotent (a finished job or recorded part is not
//! redone), so a batch delivered twice writes every result once. A message that keeps
//! failing goes to the dead-letter queue by the queue's redrive policy; on its last
//! delivery (`PYNOMALY_MAX_RECEIVES`, the redrive count) the job record is failed with the
//! reason first.

use std::time::Instant;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use lambda_runtime::{LambdaEvent, service_fn};
use pynomaly_service::consumer::{Disposition, consume};
use pynomaly_service::jobs::{JobServices, JobSummary, QueueMessage};

use pynomaly_service::config::Settings;

use crate::runtime::{emit_metrics, init_tracing, start};

/// What the function holds between invocations.
#[derive(Debug, Clone)]
pub struct BatchFunction {
    services: JobServices,
    /// The queue's redrive count.
    pub max_receives: u32,
    /// Messages handled at once.
    pub concurrency: usize,
}

/// How one message went.
enum Outcome {
    Done(Option<JobSummary>),
    Failed,
}

impl BatchFunction {
    /// A function over `services` with the redrive count and concurrency of `settings`.
    pub fn new(services: JobServices, settings: &Settings) -> Self {
        Self {
            services,
            max_receives: settings.max_receives,
            concurrency: settings.batch_concurrency,
        }
    }

    /// Handles a batch; the response names the messages to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let started = Instant::now();
        let outcomes: Vec<(String, Outcome)> = futures::stream::iter(event.records)
            .map(|record| async move {
                let id = record.message_id.clone().unwrap_or_default();
                (id, self.handle_one(record).await)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        let (mut rows, mut anomalies, mut handled) = (0usize, 0usize, 0usize);
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Done(summary) => {
                    handled += 1;
                    if let Some(s) = summary {
                        rows += s.rows;
                        anomalies += s.anomalies;
                    }
                }
                Outcome::Failed => {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        emit_metrics(
            "batch",
            &[
                ("MessagesHandled", handled as f64, "Count"),
                (
                    "MessageFailures",
                    response.batch_item_failures.len() as f64,
                    "Count",
                ),
                ("RowsScored", rows as f64, "Count"),
                ("AnomaliesFlagged", anomalies as f64, "Count"),
                (
                    "Duration",
                    started.elapsed().as_secs_f64() * 1000.0,
                    "Milliseconds",
                ),
            ],
        );
        response
    }

    async fn handle_one(&self, record: SqsMessage) -> Outcome {
        let id = record.message_id.as_deref().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let message: QueueMessage = match serde_json::from_str(body) {
            Ok(message) => message,
            Err(e) => {
                // Not ours to interpret: retried, then parked in the dead-letter queue.
                tracing::error!(message_id = %id, error = %e, "not a job or chunk message");
                return Outcome::Failed;
            }
        };
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        match consume(&self.services, &message, receives, self.max_receives).await {
            Disposition::Acknowledge(summary) => Outcome::Done(summary),
            // Reported as failed: the message comes back after the queue's visibility
            // timeout (longer than any lease).
            Disposition::Retry { .. } => Outcome::Failed,
        }
    }
}

/// Runs the function: tracing and clients once, then batches until the container ends.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let (settings, backend) = start().await?;
    let function = BatchFunction::new(
        JobServices::configured(backend.store, backend.metadata, &settings),
        &settings,
    );
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(function.handle(event.payload).await)
    }))
    .await
}
