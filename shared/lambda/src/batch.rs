//! The batch function: SQS events carrying job messages (from `POST /api/v1/jobs`), chunk
//! messages (from the ingest function) and stream points (from a FIFO points queue). Each message is handled on its own and
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

    /// Handles a batch; the response names the messages to retry. Messages of one FIFO
    /// message group (stream points, grouped by entity) — and, on a standard queue, the
    /// points messages of one stream — are handled one after another in the order
    /// received, and once one fails the rest of its group is returned unhandled, as SQS
    /// requires for a FIFO queue to keep the group's order.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let started = Instant::now();
        let mut groups: Vec<Vec<SqsMessage>> = Vec::new();
        let mut group_of: std::collections::HashMap<String, usize> = Default::default();
        for record in event.records {
            match group_of_record(&record) {
                Some(group) => {
                    let g = *group_of.entry(group.clone()).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(record);
                }
                None => groups.push(vec![record]),
            }
        }
        let outcomes: Vec<(String, Outcome)> = futures::stream::iter(groups)
            .map(|group| async move {
                let mut outcomes = Vec::with_capacity(group.len());
                let mut failed = false;
                for record in group {
                    let id = record.message_id.clone().unwrap_or_default();
                    let outcome = if failed {
                        Outcome::Failed
                    } else {
                        self.handle_one(record).await
                    };
                    failed |= matches!(outcome, Outcome::Failed);
                    outcomes.push((id, outcome));
                }
                outcomes
            })
            .buffer_unordered(self.concurrency)
            .flat_map(futures::stream::iter)
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

/// The group a message is handled in order within: its FIFO message group, else its
/// stream for points messages; None for messages that may run in any order.
fn group_of_record(record: &SqsMessage) -> Option<String> {
    if let Some(group) = record.attributes.get("MessageGroupId") {
        return Some(format!("group:{group}"));
    }
    let body = record.body.as_deref()?;
    match serde_json::from_str::<QueueMessage>(body).ok()? {
        QueueMessage::Points(points) => Some(format!("stream:{}/{}", points.tenant, points.stream)),
        _ => None,
    }
}

/// Runs the function: tracing and clients once, then batches until the container ends.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let (settings, backend) = start().await?;
    let streams = pynomaly_service::backend::streams(&backend, &settings).await;
    let function = BatchFunction::new(
        JobServices::configured(backend.store, backend.metadata, &settings).with_streams(streams),
        &settings,
    );
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(function.handle(event.payload).await)
    }))
    .await
}
