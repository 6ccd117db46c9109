//! The job queue in PostgreSQL (feature `postgres`), for the stack that has PostgreSQL and
//! object storage but no SQS (`PYNOMALY_STORE=postgres`, `PYNOMALY_QUEUE=postgres`). It
//! keeps SQS's contract (see [`crate::queue`]): receivers take ready rows with
//! `FOR UPDATE SKIP LOCKED`, so two workers never get the same message at once and none
//! waits on another's lock; a received row stays invisible for the visibility timeout
//! and comes back unless acknowledged (a worker killed mid-job loses nothing); a row
//! received `max_receives` times is marked dead instead of delivered again (the
//! dead-letter queue: kept, counted, never retried).
//!
//! Receiving polls (every [`POLL`] while waiting) instead of `LISTEN`: a pooled
//! connection cannot hold a listener, and one indexed query per poll per idle worker is
//! cheap next to a job.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::jobs::{JobQueue, QueueMessage};
use crate::postgres::{PostgresMetadataStore, backend};
use crate::queue::{Delivery, QueueStats, ReceivingQueue, Unreadable, read_body};
use crate::storage::StoreError;

/// How often an empty queue is asked again while a receive waits.
pub const POLL: Duration = Duration::from_millis(250);

/// The job queue table of a PostgreSQL job store.
#[derive(Debug, Clone)]
pub struct PostgresQueue {
    store: PostgresMetadataStore,
    visibility: Duration,
    max_receives: u32,
}

/// Takes up to $1 ready rows; those already received $3 times are marked dead, the others
/// are hidden for $2 seconds and returned with their receive counted.
const RECEIVE: &str = "
    WITH due AS (
        SELECT id FROM job_queue
        WHERE dead_at IS NULL AND visible_at <= now()
        ORDER BY visible_at, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ), moved AS (
        UPDATE job_queue q SET dead_at = now()
        FROM due WHERE q.id = due.id AND q.receive_count >= $3
        RETURNING q.id
    )
    UPDATE job_queue q
    SET receive_count = q.receive_count + 1,
        visible_at = now() + make_interval(secs => $2)
    FROM due
    WHERE q.id = due.id AND q.receive_count < $3
    RETURNING q.id, q.body, q.receive_count";

impl PostgresQueue {
    pub(crate) fn new(
        store: PostgresMetadataStore,
        visibility: Duration,
        max_receives: u32,
    ) -> Self {
        Self {
            store,
            visibility,
            max_receives: max_receives.max(1),
        }
    }

    async fn receive_once(
        &self,
        max: usize,
    ) -> Result<Vec<Result<Delivery, Unreadable>>, StoreError> {
        let limit = i64::try_from(max.clamp(1, 100)).unwrap_or(100);
        let visibility = self.visibility.as_secs_f64();
        let max_receives = i32::try_from(self.max_receives).unwrap_or(i32::MAX);
        let rows = self
            .store
            .client()
            .await?
            .query(RECEIVE, &[&limit, &visibility, &max_receives])
            .await
            .map_err(|e| backend("receive", "job_queue", e))?;
        let mut deliveries: Vec<(i64, Result<Delivery, Unreadable>)> = rows
            .iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let body: String = row.get(1);
                let receive_count = u32::try_from(row.get::<_, i32>(2)).unwrap_or(0);
                let delivery = read_body(&body).map(|message| Delivery {
                    message,
                    receipt: receipt(id, receive_count),
                    receive_count,
                });
                (id, delivery)
            })
            .collect();
        // In the order they were sent, as far as one receive sees them.
        deliveries.sort_by_key(|(id, _)| *id);
        Ok(deliveries.into_iter().map(|(_, d)| d).collect())
    }
}

/// A receipt names the row and the receive it belongs to, so a worker whose message was
/// received again by another (its visibility ran out) cannot settle the newer delivery.
fn receipt(id: i64, receive_count: u32) -> String {
    format!("{id}.{receive_count}")
}

fn parse_receipt(receipt: &str) -> Result<(i64, i32), StoreError> {
    receipt
        .split_once('.')
        .and_then(|(id, count)| Some((id.parse().ok()?, count.parse().ok()?)))
        .ok_or_else(|| StoreError::InvalidKey(format!("`{receipt}` is not a queue receipt")))
}

#[async_trait]
impl JobQueue for PostgresQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(message).map_err(|e| backend("encode", message.job_id(), e))?;
        self.store
            .client()
            .await?
            .execute("INSERT INTO job_queue (body) VALUES ($1)", &[&body])
            .await
            .map_err(|e| backend("send", "job_queue", e))?;
        Ok(())
    }
}

#[async_trait]
impl ReceivingQueue for PostgresQueue {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Result<Delivery, Unreadable>>, StoreError> {
        let started = Instant::now();
        loop {
            let batch = self.receive_once(max).await?;
            let left = wait.saturating_sub(started.elapsed());
            if !batch.is_empty() || left.is_zero() {
                return Ok(batch);
            }
            tokio::time::sleep(left.min(POLL)).await;
        }
    }

    /// A stale receipt (the message was received again since) deletes nothing, as on SQS.
    async fn acknowledge(&self, receipt: &str) -> Result<(), StoreError> {
        let (id, count) = parse_receipt(receipt)?;
        self.store
            .client()
            .await?
            .execute(
                "DELETE FROM job_queue WHERE id = $1 AND receive_count = $2",
                &[&id, &count],
            )
            .await
            .map_err(|e| backend("acknowledge", receipt, e))?;
        Ok(())
    }

    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        let (id, count) = parse_receipt(receipt)?;
        let seconds = delay.as_secs_f64();
        self.store
            .client()
            .await?
            .execute(
                "UPDATE job_queue SET visible_at = now() + make_interval(secs => $3)
                 WHERE id = $1 AND receive_count = $2 AND dead_at IS NULL",
                &[&id, &count, &seconds],
            )
            .await
            .map_err(|e| backend("retry", receipt, e))?;
        Ok(())
    }

    /// Counts of pending and dead messages and the age of the oldest pending one.
    async fn stats(&self) -> Result<Option<QueueStats>, StoreError> {
        let row = self
            .store
            .client()
            .await?
            .query_one(
                "SELECT count(*) FILTER (WHERE dead_at IS NULL),
                        count(*) FILTER (WHERE dead_at IS NOT NULL),
                        COALESCE(EXTRACT(EPOCH FROM now() - min(sent_at) FILTER (WHERE dead_at IS NULL)), 0)::float8
                 FROM job_queue",
                &[],
            )
            .await
            .map_err(|e| backend("count", "job_queue", e))?;
        Ok(Some(QueueStats {
            pending: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            dead: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
            oldest_age_seconds: row.get::<_, f64>(2).max(0.0),
        }))
    }

    fn describe(&self) -> String {
        format!(
            "postgres job_queue (visibility {} s, dead after {} receives)",
            self.visibility.as_secs(),
            self.max_receives
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_name_the_row_and_the_receive() {
        assert_eq!(parse_receipt(&receipt(42, 3)).unwrap(), (42, 3));
        assert!(parse_receipt("42").is_err());
        assert!(parse_receipt("a.b").is_err());
    }
}
