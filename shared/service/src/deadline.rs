//! Deadlines on every storage and queue call: an adapter wrapped here answers within a
//! bounded time, so a hung dependency (an object store that stopped answering, a
//! database behind a dead connection) turns into a fast, retryable
//! [`StoreError::Unavailable`] — a 503 on the API, a retried message in a worker —
//! instead of a request or a job that hangs for the whole outage. SDK clients have
//! connect timeouts but no deadline on a call whose server went silent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::jobs::{Job, JobQueue, JobState, MetadataStore, QueueMessage};
use crate::storage::{ObjectStore, StoreError};
use crate::streams::entity::EntitySummary;
use crate::streams::store::{StateKey, StateRecord, StateStore};

/// How long calls may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A call that moves little data (metadata, listing, delete, a small object).
    pub call: Duration,
    /// Added per MiB an object call moves (reads of unknown size get 64 MiB's worth).
    pub per_mib: Duration,
    /// The readiness probe.
    pub ready: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            call: Duration::from_secs(10),
            per_mib: Duration::from_millis(500),
            ready: Duration::from_secs(2),
        }
    }
}

impl Deadlines {
    fn for_bytes(&self, bytes: u64) -> Duration {
        self.call + self.per_mib * u32::try_from(bytes >> 20).unwrap_or(u32::MAX)
    }
}

async fn within<T>(
    dependency: &'static str,
    action: &'static str,
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable {
            dependency,
            action,
            seconds: limit.as_secs_f64(),
        }),
    }
}

/// An [`ObjectStore`] whose calls end within [`Deadlines`].
#[derive(Debug)]
pub struct DeadlineStore {
    inner: Arc<dyn ObjectStore>,
    deadlines: Deadlines,
}

impl DeadlineStore {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn ObjectStore>, deadlines: Deadlines) -> Arc<dyn ObjectStore> {
        Arc::new(Self { inner, deadlines })
    }
}

const OBJECTS: &str = "object storage";
const RECORDS: &str = "the job store";
const QUEUE: &str = "the job queue";

#[async_trait]
impl ObjectStore for DeadlineStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let limit = self.deadlines.for_bytes(bytes.len() as u64);
        within(OBJECTS, "put", limit, self.inner.put(key, bytes)).await
    }

    async fn put_with(
        &self,
        key: &str,
        write: crate::storage::ObjectWriter,
    ) -> Result<(), StoreError> {
        // Size unknown up front: a large model's worth.
        let limit = self.deadlines.for_bytes(1 << 30);
        within(OBJECTS, "put", limit, self.inner.put_with(key, write)).await
    }

    async fn put_stream(
        &self,
        key: &str,
        stream: crate::storage::ObjectStream,
    ) -> Result<u64, StoreError> {
        // Paced by the client sending it (the server's body timeout bounds that): the
        // deadline is a whole upload's worth.
        let limit = self.deadlines.for_bytes(1 << 30);
        within(OBJECTS, "put", limit, self.inner.put_stream(key, stream)).await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let limit = self.deadlines.for_bytes(64 << 20);
        within(OBJECTS, "get", limit, self.inner.get(key)).await
    }

    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, StoreError> {
        let limit = self
            .deadlines
            .for_bytes(range.end.saturating_sub(range.start));
        within(OBJECTS, "get", limit, self.inner.get_range(key, range)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        within(
            OBJECTS,
            "list",
            self.deadlines.call,
            self.inner.list(prefix),
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        within(
            OBJECTS,
            "delete",
            self.deadlines.call,
            self.inner.delete(key),
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        within(OBJECTS, "ready", self.deadlines.ready, self.inner.ready()).await
    }

    async fn presign_put(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<Option<String>, StoreError> {
        within(
            OBJECTS,
            "presign",
            self.deadlines.call,
            self.inner.presign_put(key, expires),
        )
        .await
    }
}

/// A [`MetadataStore`] whose calls end within [`Deadlines::call`].
#[derive(Debug)]
pub struct DeadlineMetadata {
    inner: Arc<dyn MetadataStore>,
    deadlines: Deadlines,
}

impl DeadlineMetadata {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn MetadataStore>, deadlines: Deadlines) -> Arc<dyn MetadataStore> {
        Arc::new(Self { inner, deadlines })
    }
}

#[async_trait]
impl MetadataStore for DeadlineMetadata {
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        within(
            RECORDS,
            "insert",
            self.deadlines.call,
            self.inner.insert_job(job),
        )
        .await
    }

    async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<Job>, StoreError> {
        within(
            RECORDS,
            "get",
            self.deadlines.call,
            self.inner.get_job(tenant, id),
        )
        .await
    }

    async fn update_job_if(
        &self,
        job: &Job,
        expected: (JobState, u32),
    ) -> Result<bool, StoreError> {
        let call = self.inner.update_job_if(job, expected);
        within(RECORDS, "update", self.deadlines.call, call).await
    }

    async fn record_part(&self, tenant: &str, id: &str, part: u32) -> Result<Vec<u32>, StoreError> {
        let call = self.inner.record_part(tenant, id, part);
        within(RECORDS, "record a part", self.deadlines.call, call).await
    }

    async fn parts_done(&self, tenant: &str, id: &str) -> Result<Vec<u32>, StoreError> {
        let call = self.inner.parts_done(tenant, id);
        within(RECORDS, "read parts", self.deadlines.call, call).await
    }

    async fn list_jobs(&self, tenant: &str) -> Result<Vec<Job>, StoreError> {
        within(
            RECORDS,
            "list",
            self.deadlines.call,
            self.inner.list_jobs(tenant),
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        within(RECORDS, "ready", self.deadlines.ready, self.inner.ready()).await
    }
}

/// A [`JobQueue`] whose sends end within [`Deadlines::call`].
#[derive(Debug)]
pub struct DeadlineQueue {
    inner: Arc<dyn JobQueue>,
    deadlines: Deadlines,
}

impl DeadlineQueue {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn JobQueue>, deadlines: Deadlines) -> Arc<dyn JobQueue> {
        Arc::new(Self { inner, deadlines })
    }
}

#[async_trait]
impl JobQueue for DeadlineQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), StoreError> {
        within(QUEUE, "send", self.deadlines.call, self.inner.send(message)).await
    }
}

/// A [`StateStore`] whose calls end within [`Deadlines`]. A write that times out may
/// still land: the caller drops its cached copy and the next write finds the version.
#[derive(Debug)]
pub struct DeadlineStates {
    inner: Arc<dyn StateStore>,
    deadlines: Deadlines,
}

const STATES: &str = "the stream state store";

impl DeadlineStates {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn StateStore>, deadlines: Deadlines) -> Arc<dyn StateStore> {
        Arc::new(Self { inner, deadlines })
    }
}

#[async_trait]
impl StateStore for DeadlineStates {
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError> {
        let limit = self.deadlines.for_bytes(64 << 20);
        within(STATES, "load", limit, self.inner.load(key)).await
    }

    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let limit = self.deadlines.for_bytes(state.len() as u64);
        within(
            STATES,
            "save",
            limit,
            self.inner.save(key, expected, summary, state),
        )
        .await
    }

    async fn summaries(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Vec<EntitySummary>, StoreError> {
        let limit = self.deadlines.call * 6;
        within(STATES, "list", limit, self.inner.summaries(tenant, stream)).await
    }

    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError> {
        let limit = self.deadlines.call * 6;
        within(
            STATES,
            "delete",
            limit,
            self.inner.delete_stream(tenant, stream),
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        within(STATES, "answer", self.deadlines.ready, self.inner.ready()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hung_store_answers_unavailable_in_bounded_time() {
        let deadlines = Deadlines {
            call: Duration::from_millis(50),
            per_mib: Duration::from_millis(1),
            ready: Duration::from_millis(20),
        };
        let store = DeadlineStore::wrap(Arc::new(crate::testing::HungStore), deadlines);
        let started = std::time::Instant::now();
        let err = store.ready().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unavailable {
                    dependency: "object storage",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.is_transient());
        let err = store.list("a/").await.unwrap_err();
        assert!(err.to_string().contains("did not answer list"), "{err}");
        assert!(store.get("k").await.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
