//! The one queue-consumer core: what a delivered message means, on every transport (SQS
//! through `pynomaly worker`, SQS through the batch Lambda function, the in-process queue
//! of `pynomaly serve`). A delivery is either acknowledged (done, or nothing to do) or
//! retried after a delay: when another live attempt holds its job (until that attempt's
//! lease runs out, so a dead worker's job is taken over), or when storage failed (with a
//! backoff). On its last delivery a message whose handling still fails fails its job with
//! the reason, so the job record says why the message went to the dead-letter queue.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::jobs::{
    InProcessQueue, JobServices, JobSummary, LocalDelivery, QueueMessage, RunOutcome, fail_job,
    now_seconds, run_job,
};

/// The redrive count of the in-process queue (SQS's is the queue's own setting).
pub const LOCAL_MAX_RECEIVES: u32 = 5;

/// What to do with a delivered message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Delete it: handled (with what this delivery scored, if anything), or nothing to do.
    Acknowledge(Option<JobSummary>),
    /// Leave it to come back after `delay`.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// Why, for the log.
        reason: String,
    },
}

/// Backoff after a failed delivery: 2, 4, 8 ... seconds, at most five minutes.
pub fn backoff(receive_count: u32) -> Duration {
    Duration::from_secs(1u64 << receive_count.clamp(1, 8)).min(Duration::from_secs(300))
}

/// Handles the `receive_count`-th delivery of `message` from a queue that moves it to its
/// dead-letter queue after `max_receives` deliveries.
pub async fn consume(
    services: &JobServices,
    message: &QueueMessage,
    receive_count: u32,
    max_receives: u32,
) -> Disposition {
    let handled = match message {
        QueueMessage::Job(job) => run_job(services, job).await.map(|outcome| match outcome {
            RunOutcome::Ran(done) => {
                tracing::info!(job = %done.id, state = ?done.state, "job finished");
                services
                    .counters
                    .job_finished(done.state == crate::jobs::JobState::Succeeded);
                Disposition::Acknowledge(done.summary)
            }
            RunOutcome::Nothing => Disposition::Acknowledge(None),
            RunOutcome::Held { until } => Disposition::Retry {
                delay: Duration::from_secs(until.saturating_sub(now_seconds()) + 1),
                reason: "another attempt holds the job".into(),
            },
        }),
        QueueMessage::Chunk(chunk) => crate::fanout::process_chunk(services, chunk)
            .await
            .map(Disposition::Acknowledge),
        QueueMessage::Points(points) => {
            return consume_points(services, points, receive_count).await;
        }
    };
    let error = match handled {
        Ok(disposition) => return disposition,
        Err(e) => e,
    };
    tracing::error!(job = %message.job_id(), error = %error, receive_count, "message failed");
    if receive_count >= max_receives {
        let reason = format!("gave up after {receive_count} deliveries: {error}");
        match fail_job(services, message.tenant(), message.job_id(), &reason).await {
            Ok(true) => services.counters.job_finished(false),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(job = %message.job_id(), error = %e, "cannot record the failure")
            }
        }
    }
    Disposition::Retry {
        delay: backoff(receive_count),
        reason: error.to_string(),
    }
}

/// Scores a points message. Any failure retries it (after a backoff), so the queue's
/// redrive policy parks a message that keeps failing (a deleted stream, bad points) in
/// the dead-letter queue; points already taken by an earlier delivery are skipped as
/// late when they carry timestamps.
async fn consume_points(
    services: &JobServices,
    message: &crate::messages::PointsMessage,
    receive_count: u32,
) -> Disposition {
    let Some(streams) = &services.streams else {
        return Disposition::Retry {
            delay: backoff(receive_count),
            reason: "this consumer has no stream state store".into(),
        };
    };
    let body = serde_json::json!({ "points": message.points }).to_string();
    let pushed = streams
        .push(
            &message.tenant,
            &message.stream,
            body.as_bytes(),
            crate::streams::points::PointsFormat::Json,
            usize::MAX,
        )
        .await;
    match pushed {
        Ok(outcome) => {
            services.counters.record(
                crate::counters::Door::Job,
                outcome.results.len(),
                outcome.anomalies,
            );
            Disposition::Acknowledge(Some(JobSummary {
                rows: outcome.results.len(),
                anomalies: outcome.anomalies,
                threshold: 1.0,
                duration_ms: 0.0,
            }))
        }
        Err(e) => {
            tracing::error!(stream = %message.stream, error = %e, receive_count, "points message failed");
            Disposition::Retry {
                delay: backoff(receive_count),
                reason: e.to_string(),
            }
        }
    }
}

/// Consumes the in-process `queue` until it closes, with the same dispositions as SQS:
/// a retried message is sent back to the queue after its delay; after
/// [`LOCAL_MAX_RECEIVES`] deliveries it is dropped (its job was failed with the reason on
/// the last one).
pub async fn run_worker(
    services: JobServices,
    queue: InProcessQueue,
    mut receiver: mpsc::UnboundedReceiver<LocalDelivery>,
) {
    let max_receives = LOCAL_MAX_RECEIVES;
    let sender = queue.sender;
    while let Some(delivery) = receiver.recv().await {
        match consume(
            &services,
            &delivery.message,
            delivery.receive_count,
            max_receives,
        )
        .await
        {
            Disposition::Acknowledge(_) => {}
            Disposition::Retry { .. } if delivery.receive_count >= max_receives => {
                tracing::error!(job = %delivery.message.job_id(), "message dropped after its last delivery");
            }
            Disposition::Retry { delay, reason } => {
                tracing::warn!(job = %delivery.message.job_id(), %reason, ?delay, "message will be retried");
                let sender = sender.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(LocalDelivery {
                        receive_count: delivery.receive_count + 1,
                        ..delivery
                    });
                });
            }
        }
    }
}

/// Puts back on the in-process `queue` every job of the local store that a previous
/// process left `queued` or `running` (a stopped or killed `pynomaly serve`): the local
/// store belongs to one process, so a running job found at start has no live attempt,
/// and its lease is cleared for the redelivery to take it over. Returns the jobs queued.
pub async fn recover_local_jobs(
    services: &JobServices,
    queue: &InProcessQueue,
) -> Result<usize, crate::storage::StoreError> {
    use crate::jobs::{JobMessage, JobQueue, JobState};
    let mut recovered = 0;
    for key in services.store.list("tenants/").await? {
        let Some((tenant, id)) = local_job_key(&key) else {
            continue;
        };
        let Some(job) = services.metadata.get_job(tenant, id).await? else {
            continue;
        };
        // Fanned-out drop-folder jobs are driven by their chunk messages, not a job one.
        if job.progress.parts_total > 1 {
            continue;
        }
        match job.state {
            JobState::Queued => {}
            JobState::Running => {
                let mut released = job.clone();
                released.state = JobState::Queued;
                released.lease_expires_at = None;
                if !services
                    .metadata
                    .update_job_if(&released, (job.state, job.attempts))
                    .await?
                {
                    continue;
                }
            }
            JobState::Succeeded | JobState::Failed => continue,
        }
        let message = QueueMessage::Job(JobMessage {
            tenant: tenant.to_string(),
            job_id: id.to_string(),
        });
        queue.send(&message).await?;
        recovered += 1;
    }
    Ok(recovered)
}

/// `tenants/{tenant}/jobs/{id}.json` → (tenant, id).
fn local_job_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("tenants/")?;
    let (tenant, rest) = rest.split_once('/')?;
    let id = rest.strip_prefix("jobs/")?.strip_suffix(".json")?;
    (!id.contains('/') && !id.ends_with(".parts")).then_some((tenant, id))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::jobs::{Job, JobState, MetadataStore, ObjectMetadataStore};
    use crate::storage::{LocalObjectStore, ObjectStore};

    #[test]
    fn job_keys_of_the_local_store() {
        assert_eq!(local_job_key("tenants/t/jobs/j1.json"), Some(("t", "j1")));
        assert_eq!(local_job_key("tenants/t/jobs/j1.parts.json"), None);
        assert_eq!(local_job_key("tenants/t/models/m.json"), None);
        assert_eq!(local_job_key("tenants/t/jobs/a/b.json"), None);
    }

    /// What a killed `pynomaly serve` leaves: one job running (its lease still valid)
    /// and one queued; the next start queues both again and the worker finishes them.
    #[tokio::test]
    async fn a_restart_finishes_the_jobs_a_dead_process_left() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
        let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
        let services = JobServices::new(store.clone(), metadata.clone());
        let csv: String = std::iter::once("a,b\n".to_string())
            .chain((0..40).map(|i| format!("{},{}\n", i % 7, i % 3)))
            .collect();
        store
            .put("tenants/t/uploads/in.csv", csv.into_bytes())
            .await
            .unwrap();
        let queued = crate::testing::sample_job("t", "queued", "uploads/in.csv");
        metadata.insert_job(&queued).await.unwrap();
        let running = Job {
            state: JobState::Running,
            attempts: 1,
            lease_expires_at: Some(now_seconds() + 900),
            ..crate::testing::sample_job("t", "running", "uploads/in.csv")
        };
        metadata.insert_job(&running).await.unwrap();
        let finished = Job {
            state: JobState::Succeeded,
            ..crate::testing::sample_job("t", "done", "uploads/in.csv")
        };
        metadata.insert_job(&finished).await.unwrap();

        let (queue, receiver) = InProcessQueue::new();
        assert_eq!(recover_local_jobs(&services, &queue).await.unwrap(), 2);
        tokio::spawn(run_worker(services.clone(), queue, receiver));
        for id in ["queued", "running"] {
            let mut state = JobState::Queued;
            for _ in 0..200 {
                state = metadata.get_job("t", id).await.unwrap().unwrap().state;
                if state == JobState::Succeeded {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(state, JobState::Succeeded, "{id}");
        }
        let done = metadata.get_job("t", "done").await.unwrap().unwrap();
        assert_eq!(done.attempts, 0, "a finished job is not run again");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(50), Duration::from_secs(256));
    }
}
