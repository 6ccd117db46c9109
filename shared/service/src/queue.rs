//! The job queue's receiving side: the port `pynomaly worker` consumes, whichever queue
//! carries the messages (SQS, or PostgreSQL when the stack has no SQS). Sending is
//! [`crate::jobs::JobQueue`]; what a delivery means is [`crate::consumer::consume`].
//!
//! The contract every adapter keeps (tests/aws.rs runs it on each): a received message is
//! invisible to other receivers until its visibility timeout runs out, then comes back
//! with its receive count one higher; `acknowledge` deletes it; `retry_after` makes it
//! visible again after a delay; a message received as often as the queue's redrive count
//! allows is moved aside (SQS's dead-letter queue, PostgreSQL's `dead` rows) instead of
//! being delivered again.

use std::time::Duration;

use async_trait::async_trait;

use crate::jobs::QueueMessage;
use crate::storage::StoreError;

/// A received message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: QueueMessage,
    /// Handle to delete (acknowledge) it or put it back; valid for this delivery only.
    pub receipt: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A message that is not a job, chunk or points message: left for the redrive policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// Why it could not be read, with (the start of) its body.
    pub reason: String,
}

/// What is in a queue, for metrics and alerts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    /// Messages not yet acknowledged nor dead (ready or being handled).
    pub pending: u64,
    /// Messages moved aside after the redrive count.
    pub dead: u64,
    /// Seconds since the oldest pending message was sent (0 when none is).
    pub oldest_age_seconds: f64,
}

/// The receiving side of a job queue.
#[async_trait]
pub trait ReceivingQueue: Send + Sync + std::fmt::Debug {
    /// Up to `max` messages, waiting up to `wait` for the first one.
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Result<Delivery, Unreadable>>, StoreError>;

    /// Deletes a received message: it was handled.
    async fn acknowledge(&self, receipt: &str) -> Result<(), StoreError>;

    /// Makes a received message visible again after `delay`, instead of after the
    /// visibility timeout.
    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError>;

    /// What is in the queue; `None` where the queue's own service reports it (SQS's
    /// CloudWatch metrics: `ApproximateAgeOfOldestMessage`, the dead-letter queue's depth).
    async fn stats(&self) -> Result<Option<QueueStats>, StoreError> {
        Ok(None)
    }

    /// What this queue is, for logs ("sqs https://...", "postgres").
    fn describe(&self) -> String;
}

/// Reads a message body; what cannot be read is reported with the start of its body.
pub fn read_body(body: &str) -> Result<QueueMessage, Unreadable> {
    serde_json::from_str::<QueueMessage>(body).map_err(|e| {
        let start: String = body.chars().take(200).collect();
        Unreadable {
            reason: format!("not a job, chunk or points message ({e}): {start}"),
        }
    })
}
