#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]
//! The adapter contract and the job lifecycle on S3 + DynamoDB + SQS, through the real
//! aws-sdk-rust clients against moto_server. `scripts/test` starts moto_server and sets
//! `AWS_ENDPOINT_URL`; without it these tests fail (they never pass silently).

use std::sync::Arc;
use std::time::Duration;

use pynomaly_service::aws::{DynamoMetadataStore, S3ObjectStore, SqsQueue};
use pynomaly_service::consumer::{Disposition, consume};
use pynomaly_service::jobs::{
    JobMessage, JobQueue, JobServices, JobState, MetadataStore, QueueMessage, RunOutcome, run_job,
};
use pynomaly_service::storage::ObjectStore;
use pynomaly_service::testing::{
    AwsResources, create_aws_resources, metadata_contract, object_store_contract, sample_job,
};

type Resources = AwsResources;

async fn resources(name: &str) -> Resources {
    create_aws_resources(&format!("pynomaly-{name}"), 1).await
}

#[tokio::test]
async fn s3_and_dynamodb_meet_the_contract() {
    let r = resources("contract").await;
    object_store_contract(&S3ObjectStore::new(&r.config, &r.bucket), "contract").await;
    metadata_contract(&DynamoMetadataStore::new(&r.config, &r.table)).await;
}

/// Submit → a worker dies mid-job (message not deleted, job left running) → the message
/// comes back → the next worker finishes the job → results written once; a duplicate
/// delivery changes nothing.
#[tokio::test]
async fn job_survives_a_dead_worker_on_sqs() {
    let r = resources("lifecycle").await;
    let metadata = Arc::new(DynamoMetadataStore::new(&r.config, &r.table));
    dead_worker_lifecycle(&r, metadata).await;
}

/// The third adapter set: S3 and SQS on moto, job records in PostgreSQL (`DATABASE_URL`,
/// which `scripts/test` points at a throwaway cluster), each test in its own schema.
#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use pynomaly_service::postgres::PostgresMetadataStore;

    async fn metadata(schema: &str) -> PostgresMetadataStore {
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must point at PostgreSQL (scripts/test starts one)");
        let store = PostgresMetadataStore::connect(&url, 4, Some(schema))
            .await
            .unwrap();
        // A fresh schema per run: migrations already applied leave nothing to do.
        assert_eq!(store.migrate().await.unwrap(), 0);
        store
    }

    fn unique(name: &str) -> String {
        format!("{name}_{}", uuid::Uuid::new_v4().simple())
    }

    #[tokio::test]
    async fn s3_and_postgres_meet_the_contract() {
        let r = resources("pg-contract").await;
        object_store_contract(&S3ObjectStore::new(&r.config, &r.bucket), "contract").await;
        let store = metadata(&unique("contract")).await;
        store.ready().await.unwrap();
        metadata_contract(&store).await;
    }

    #[tokio::test]
    async fn job_survives_a_dead_worker_on_sqs_with_postgres() {
        let r = resources("pg-lifecycle").await;
        dead_worker_lifecycle(&r, Arc::new(metadata(&unique("lifecycle")).await)).await;
    }

    #[tokio::test]
    async fn bad_schema_names_are_refused() {
        let url = std::env::var("DATABASE_URL").unwrap();
        let err = PostgresMetadataStore::connect(&url, 1, Some("x; drop table jobs"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("schema"), "{err}");
    }
}

async fn dead_worker_lifecycle(r: &Resources, metadata: Arc<dyn MetadataStore>) {
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&r.config, &r.bucket));
    let queue = SqsQueue::new(&r.config, &r.queue_url);
    let csv: String = std::iter::once("a,b\n".to_string())
        .chain((0..200).map(|i| format!("{},{}\n", i % 11, i % 5)))
        .collect();
    store
        .put("tenants/t/uploads/in.csv", csv.into_bytes())
        .await
        .unwrap();
    let job = sample_job("t", "job-1", "uploads/in.csv");
    metadata.insert_job(&job).await.unwrap();
    let message = JobMessage {
        tenant: "t".into(),
        job_id: "job-1".into(),
    };
    queue.send(&message.clone().into()).await.unwrap();

    // Worker 1 receives, takes the job, and dies: no result, no delete.
    let first = queue.receive(1, 2).await.unwrap();
    assert_eq!(first.len(), 1);
    let lease_until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let mut taken = job.clone();
    taken.state = JobState::Running;
    taken.attempts = 1;
    taken.lease_expires_at = Some(lease_until);
    assert!(
        metadata
            .update_job_if(&taken, (JobState::Queued, 0))
            .await
            .unwrap()
    );

    // After the visibility timeout the message is back while worker 1's lease still runs:
    // worker 2 must not run the job, nor delete the message, but bring it back when the
    // lease has run out; then it takes the job over and finishes it.
    let services = JobServices::new(store.clone(), metadata.clone());
    let mut finished = None;
    let mut held = 0;
    for _ in 0..20 {
        for delivery in queue.receive(1, 2).await.unwrap() {
            let delivery = delivery.unwrap();
            assert_eq!(delivery.message, QueueMessage::Job(message.clone()));
            match consume(&services, &delivery.message, delivery.receive_count, 5).await {
                Disposition::Retry { delay, .. } => {
                    held += 1;
                    assert!(delay <= Duration::from_secs(4), "{delay:?}");
                    queue.retry_after(&delivery.receipt, delay).await.unwrap();
                }
                Disposition::Acknowledge(summary) => {
                    finished = metadata.get_job("t", "job-1").await.unwrap();
                    assert_eq!(summary.map(|s| s.rows), Some(200));
                    queue.acknowledge(&delivery.receipt).await.unwrap();
                }
            }
        }
        if finished.is_some() {
            break;
        }
    }
    assert!(
        held >= 1,
        "the redelivery during the lease was not held back"
    );
    let done = finished.expect("the message came back and the job ran");
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.attempts, 2);
    let results = store
        .get(done.results_key.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(String::from_utf8(results).unwrap().lines().count(), 201);
    assert_eq!(store.list("tenants/t/results/").await.unwrap().len(), 1);

    // A duplicate delivery of a finished job does nothing.
    assert_eq!(
        run_job(&services, &message).await.unwrap(),
        RunOutcome::Nothing
    );
    assert_eq!(
        metadata
            .get_job("t", "job-1")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
}
