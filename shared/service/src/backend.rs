//! Storage backends from [`StoreSettings`](crate::config::StoreSettings): `PYNOMALY_STORE=local` (default: files under the data
//! dir, jobs on an in-process worker) or `aws` (S3 `PYNOMALY_BUCKET`, DynamoDB
//! `PYNOMALY_TABLE`, SQS `PYNOMALY_QUEUE_URL`; endpoints, region and credentials from the
//! SDK's standard settings such as `AWS_ENDPOINT_URL` and `AWS_REGION`), or `postgres`
//! (job records in PostgreSQL at `DATABASE_URL`, schema `PYNOMALY_DB_SCHEMA` if set;
//! objects in S3 when `PYNOMALY_BUCKET` is set, else under the data dir; jobs on SQS when
//! `PYNOMALY_QUEUE_URL` is set, in the database itself with `PYNOMALY_QUEUE=postgres`,
//! else on an in-process worker).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::aws::{DynamoMetadataStore, DynamoStateStore, S3ObjectStore, SqsQueue, load_config};
#[cfg(feature = "postgres")]
use crate::config::QueueChoice;
use crate::config::{ConfigError, Settings, StoreSettings};
use crate::deadline::{DeadlineMetadata, DeadlineQueue, DeadlineStates, DeadlineStore, Deadlines};
use crate::jobs::{InProcessQueue, JobQueue, LocalDelivery, MetadataStore, ObjectMetadataStore};
#[cfg(feature = "postgres")]
use crate::postgres::PostgresMetadataStore;
use crate::queue::ReceivingQueue;
use crate::storage::{LocalObjectStore, ObjectStore, StoreError};
use crate::streams::store::{LocalStateStore, StateStore};

/// Why the configured backend cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The settings cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend could not be reached or prepared.
    #[error("cannot open the {what}: {cause}")]
    Open {
        /// What.
        what: &'static str,
        /// Why. Shown in the message and not chained as a `source`, so that a printed
        /// chain (`{:#}`) does not say it twice.
        cause: StoreError,
    },
}

/// The adapters a process runs on.
#[derive(Debug)]
pub struct Backend {
    /// Objects: models, uploads, results, keys.
    pub store: Arc<dyn ObjectStore>,
    /// Job records.
    pub metadata: Arc<dyn MetadataStore>,
    /// Where job messages go.
    pub queue: Arc<dyn JobQueue>,
    /// Entity states of streams.
    pub states: Arc<dyn StateStore>,
    /// The queue `pynomaly worker` consumes, when jobs travel through one (SQS, or the
    /// PostgreSQL queue).
    pub consumer: Option<Arc<dyn ReceivingQueue>>,
    /// The in-process queue and its receiving end (local mode), for
    /// [`run_worker`](crate::consumer::run_worker).
    pub local_jobs: Option<(InProcessQueue, UnboundedReceiver<LocalDelivery>)>,
    /// What it is, for the log.
    pub description: String,
}

/// Builds the backend the environment names (`PYNOMALY_STORE`, default `local`).
pub async fn from_env(data_dir: &Path) -> Result<Backend, BackendError> {
    open(&Settings::from_env("local")?, data_dir).await
}

/// Builds the backend `settings` name, every call of it bounded by the default
/// [`Deadlines`].
pub async fn open(settings: &Settings, data_dir: &Path) -> Result<Backend, BackendError> {
    let mut backend = adapters(settings, data_dir).await?;
    let deadlines = Deadlines::default();
    backend.store = DeadlineStore::wrap(backend.store, deadlines);
    backend.metadata = DeadlineMetadata::wrap(backend.metadata, deadlines);
    backend.queue = DeadlineQueue::wrap(backend.queue, deadlines);
    backend.states = DeadlineStates::wrap(backend.states, deadlines);
    Ok(backend)
}

async fn adapters(settings: &Settings, data_dir: &Path) -> Result<Backend, BackendError> {
    match &settings.store {
        StoreSettings::Local => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(data_dir));
            let metadata: Arc<dyn MetadataStore> =
                Arc::new(ObjectMetadataStore::new(store.clone()));
            let (queue, receiver) = InProcessQueue::new();
            Ok(Backend {
                store,
                metadata,
                queue: Arc::new(queue.clone()),
                states: Arc::new(LocalStateStore::new(data_dir.join("stream-states"))),
                consumer: None,
                local_jobs: Some((queue, receiver)),
                description: format!("local ({})", data_dir.display()),
            })
        }
        StoreSettings::Aws {
            bucket,
            table,
            queue_url,
        } => {
            let config = load_config().await;
            let sqs = SqsQueue::new(&config, queue_url);
            let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&config, bucket));
            Ok(Backend {
                states: Arc::new(DynamoStateStore::new(&config, table, store.clone())),
                store,
                metadata: Arc::new(DynamoMetadataStore::new(&config, table)),
                queue: Arc::new(sqs.clone()),
                consumer: Some(Arc::new(sqs)),
                local_jobs: None,
                description: format!("aws (s3://{bucket}, dynamodb {table}, sqs {queue_url})"),
            })
        }
        #[cfg(feature = "postgres")]
        StoreSettings::Postgres {
            url,
            schema,
            bucket,
            queue,
        } => {
            let metadata = PostgresMetadataStore::connect(url, 16, schema.as_deref())
                .await
                .map_err(|cause| BackendError::Open {
                    what: "PostgreSQL job store at DATABASE_URL",
                    cause,
                })?;
            let config = match bucket.is_some() || matches!(queue, QueueChoice::Sqs(_)) {
                true => Some(load_config().await),
                false => None,
            };
            let store: Arc<dyn ObjectStore> = match (&bucket, &config) {
                (Some(bucket), Some(config)) => Arc::new(S3ObjectStore::new(config, bucket)),
                _ => Arc::new(LocalObjectStore::new(data_dir)),
            };
            let objects = bucket
                .as_ref()
                .map_or_else(|| data_dir.display().to_string(), |b| format!("s3://{b}"));
            type Queues = (
                Arc<dyn JobQueue>,
                Option<Arc<dyn ReceivingQueue>>,
                Option<(InProcessQueue, UnboundedReceiver<LocalDelivery>)>,
            );
            let (sending, consumer, local_jobs): Queues = match (queue, &config) {
                (QueueChoice::Sqs(url), Some(config)) => {
                    let sqs = SqsQueue::new(config, url);
                    (Arc::new(sqs.clone()), Some(Arc::new(sqs)), None)
                }
                (QueueChoice::Postgres, _) => {
                    let table = metadata.queue(
                        std::time::Duration::from_secs(settings.queue_visibility_seconds),
                        settings.max_receives,
                    );
                    (Arc::new(table.clone()), Some(Arc::new(table)), None)
                }
                _ => {
                    let (queue, receiver) = InProcessQueue::new();
                    (Arc::new(queue.clone()), None, Some((queue, receiver)))
                }
            };
            let jobs = consumer
                .as_ref()
                .map_or_else(|| "in-process".to_string(), |c| c.describe());
            // Said at startup: an operator sees whether `sslmode` took effect.
            let link = match metadata.encrypted().await {
                Ok(true) => "TLS",
                Ok(false) => "not encrypted",
                Err(_) => "encryption unknown",
            };
            Ok(Backend {
                store,
                states: Arc::new(metadata.states()),
                metadata: Arc::new(metadata),
                queue: sending,
                consumer,
                local_jobs,
                description: format!("postgres ({link}, objects {objects}, jobs {jobs})"),
            })
        }
        #[cfg(not(feature = "postgres"))]
        StoreSettings::Postgres { .. } => Err(BackendError::Config(ConfigError::Invalid {
            name: "PYNOMALY_STORE",
            value: "postgres".into(),
            expected: "local or aws (this build has no PostgreSQL support)",
        })),
    }
}

/// The streams use case over `backend` as `settings` configure it: its state store, the
/// cache size, and the alerts queue when `PYNOMALY_ALERT_QUEUE_URL` names one.
pub async fn streams(backend: &Backend, settings: &Settings) -> crate::streams::Streams {
    let streams = crate::streams::Streams::new(
        backend.store.clone(),
        backend.states.clone(),
        settings.stream_cache_bytes,
    );
    match &settings.alert_queue_url {
        Some(url) => streams.with_alerts(Arc::new(crate::aws::SqsAlerts::new(
            &load_config().await,
            url,
        ))),
        None => streams,
    }
}
