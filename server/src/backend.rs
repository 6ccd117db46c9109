//! Storage backends by configuration: `PYNOMALY_STORE=local` (default: files under the data
//! dir, jobs on an in-process worker) or `aws` (S3 `PYNOMALY_BUCKET`, DynamoDB
//! `PYNOMALY_TABLE`, SQS `PYNOMALY_QUEUE_URL`; endpoints, region and credentials from the
//! SDK's standard settings such as `AWS_ENDPOINT_URL` and `AWS_REGION`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pynomaly_service::aws::{DynamoMetadataStore, S3ObjectStore, SqsQueue, load_config};
use pynomaly_service::jobs::{
    InProcessQueue, JobMessage, JobQueue, MetadataStore, ObjectMetadataStore,
};
use pynomaly_service::storage::{LocalObjectStore, ObjectStore};
use tokio::sync::mpsc::UnboundedReceiver;

/// The adapters a process runs on.
pub struct Backend {
    pub store: Arc<dyn ObjectStore>,
    pub metadata: Arc<dyn MetadataStore>,
    pub queue: Arc<dyn JobQueue>,
    /// SQS, when jobs travel through it (the worker consumes it).
    pub sqs: Option<SqsQueue>,
    /// The in-process queue's receiving end (local mode).
    pub local_jobs: Option<UnboundedReceiver<JobMessage>>,
    pub description: String,
}

fn env(name: &str) -> Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{name} must be set when PYNOMALY_STORE=aws"))
}

/// Builds the backend named by `PYNOMALY_STORE`.
pub async fn from_env(data_dir: &Path) -> Result<Backend> {
    let kind = std::env::var("PYNOMALY_STORE").unwrap_or_else(|_| "local".into());
    match kind.as_str() {
        "local" | "" => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(data_dir));
            let metadata: Arc<dyn MetadataStore> =
                Arc::new(ObjectMetadataStore::new(store.clone()));
            let (queue, receiver) = InProcessQueue::new();
            Ok(Backend {
                store,
                metadata,
                queue: Arc::new(queue),
                sqs: None,
                local_jobs: Some(receiver),
                description: format!("local ({})", data_dir.display()),
            })
        }
        "aws" => {
            let config = load_config().await;
            let (bucket, table, queue_url) = (
                env("PYNOMALY_BUCKET")?,
                env("PYNOMALY_TABLE")?,
                env("PYNOMALY_QUEUE_URL")?,
            );
            let sqs = SqsQueue::new(&config, &queue_url);
            Ok(Backend {
                store: Arc::new(S3ObjectStore::new(&config, &bucket)),
                metadata: Arc::new(DynamoMetadataStore::new(&config, &table)),
                queue: Arc::new(sqs.clone()),
                sqs: Some(sqs),
                local_jobs: None,
                description: format!("aws (s3://{bucket}, dynamodb {table}, sqs {queue_url})"),
            })
        }
        other => bail!(
            "PYNOMALY_STORE must be `local` or `aws`, got `{other}` (postgres is not built yet)"
        ),
    }
}
