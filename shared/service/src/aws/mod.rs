//! AWS adapters (feature `aws`): S3 for objects, DynamoDB for job records (and stream
//! states, [`states`]), SQS for job messages, through aws-sdk-rust. SDK types stay in this module. Endpoints follow the
//! SDK's standard configuration, so `AWS_ENDPOINT_URL` points everything at an emulator
//! (moto_server) in tests.

mod states;

pub use states::{DynamoStateStore, INLINE_STATE_BYTES};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;

use crate::jobs::{Job, JobQueue, JobState, MetadataStore, QueueMessage};
use crate::queue::{Delivery, ReceivingQueue, Unreadable, read_body};
use crate::storage::{ObjectStore, StoreError, check_object_key};

fn backend(action: &'static str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        action,
        key: key.to_string(),
        message: e.to_string(),
    }
}

/// Loads the shared AWS configuration (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Objects in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    /// A store over `bucket`. Path-style addressing keeps emulators and custom endpoints
    /// working.
    pub fn new(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: bucket.into(),
        }
    }
}

impl S3ObjectStore {
    /// GET of the whole object, or of an HTTP `Range`.
    async fn read(&self, key: &str, range: Option<String>) -> Result<Vec<u8>, StoreError> {
        check_object_key(key)?;
        let ranged = range.is_some();
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(StoreError::NotFound(key.to_string()));
            }
            // 416: the range starts at or past the object's end (an empty object): no
            // bytes, as the trait promises for a range clamped to the object's size.
            Err(e) if ranged && e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Vec::new());
            }
            Err(e) => {
                return Err(backend(
                    "get",
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                ));
            }
        };
        let data = output
            .body
            .collect()
            .await
            .map_err(|e| backend("read", key, e))?;
        Ok(data.into_bytes().to_vec())
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        check_object_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_error("put", key))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.read(key, None).await
    }

    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, StoreError> {
        if range.end <= range.start {
            return Ok(Vec::new());
        }
        self.read(
            key,
            Some(format!("bytes={}-{}", range.start, range.end - 1)),
        )
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(sdk_error("list", prefix))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => {
                    token = Some(next.to_string())
                }
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_object_key(key)?;
        // S3 deletes missing keys silently; the port reports them.
        self.client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                    StoreError::NotFound(key.to_string())
                } else {
                    backend("head", key, aws_sdk_s3::error::DisplayErrorContext(e))
                }
            })?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk_error("delete", key))?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(sdk_error("head bucket", &self.bucket))?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        expires: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        check_object_key(key)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires)
            .map_err(|e| backend("presign", key, e))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(sdk_error("presign", key))?;
        Ok(Some(request.uri().to_string()))
    }
}

/// Job records in a DynamoDB table with string partition key `pk` (`<tenant>#<job id>`).
#[derive(Debug, Clone)]
pub struct DynamoMetadataStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoMetadataStore {
    /// A store over `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
        }
    }

    fn item(job: &Job) -> Result<std::collections::HashMap<String, AttributeValue>, StoreError> {
        let body = serde_json::to_string(job).map_err(|e| backend("encode", &job.id, e))?;
        Ok([
            (
                "pk".to_string(),
                AttributeValue::S(format!("{}#{}", job.tenant, job.id)),
            ),
            (
                "state".to_string(),
                AttributeValue::S(job.state.as_str().into()),
            ),
            (
                "attempts".to_string(),
                AttributeValue::N(job.attempts.to_string()),
            ),
            ("body".to_string(), AttributeValue::S(body)),
        ]
        .into_iter()
        .collect())
    }
}

/// The partition key of a job's item.
fn item_key(tenant: &str, id: &str) -> AttributeValue {
    AttributeValue::S(format!("{tenant}#{id}"))
}

/// Maps an SDK error (S3, DynamoDB or SQS) to the port's error, with the SDK's full context.
/// Every item of `table` whose key `pk` starts with `prefix` (only the `projection`
/// attributes when given), page by page, read consistently: the tables have no index by
/// prefix, so this is a filtered scan of the whole table. Job listings and stream states
/// share it; `action` and `key` name a failure.
pub(crate) async fn scan_prefix(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    prefix: &str,
    projection: Option<&str>,
    action: &'static str,
    key: &str,
) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
            .set_projection_expression(projection.map(str::to_string))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error(action, key))?;
        items.extend(output.items().iter().cloned());
        match output.last_evaluated_key() {
            Some(last) if !last.is_empty() => start = Some(last.clone()),
            _ => break,
        }
    }
    Ok(items)
}

fn sdk_error<'a, E: std::error::Error + Send + Sync + 'static>(
    action: &'static str,
    key: &'a str,
) -> impl FnOnce(E) -> StoreError + 'a {
    move |e| backend(action, key, aws_sdk_s3::error::DisplayErrorContext(e))
}

/// Attribute holding the parts of a fanned-out job (a number set, outside the JSON body).
const PARTS: &str = "parts";

fn parts_of(value: Option<&AttributeValue>) -> Vec<u32> {
    let mut parts: Vec<u32> = value
        .and_then(|v| v.as_ns().ok())
        .map(|set| set.iter().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    parts.sort_unstable();
    parts
}

#[async_trait]
impl MetadataStore for DynamoMetadataStore {
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(job)?))
            .send()
            .await
            .map_err(sdk_error("put item", &job.id))?;
        Ok(())
    }

    /// The tenant's job items (see [`scan_prefix`]: fine for the job counts a tenant's
    /// listing serves; a GSI on the tenant would make it a query).
    async fn list_jobs(&self, tenant: &str) -> Result<Vec<Job>, StoreError> {
        let items = scan_prefix(
            &self.client,
            &self.table,
            &format!("{tenant}#"),
            None,
            "scan",
            tenant,
        )
        .await?;
        let mut jobs = Vec::new();
        for item in &items {
            let Some(body) = item.get("body").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            let mut job: Job =
                serde_json::from_str(body).map_err(|e| backend("decode", tenant, e))?;
            let parts = item
                .get(PARTS)
                .and_then(|v| v.as_ns().ok())
                .map_or(0, |set| set.len() as u32);
            job.progress.parts_done = job.progress.parts_done.max(parts);
            jobs.push(job);
        }
        Ok(jobs)
    }

    async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<Job>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", item_key(tenant, id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("get item", id))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let body = item
            .get("body")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| backend("decode", id, "item has no body"))?;
        let mut job: Job = serde_json::from_str(body).map_err(|e| backend("decode", id, e))?;
        let parts = item
            .get(PARTS)
            .and_then(|v| v.as_ns().ok())
            .map_or(0, |set| set.len() as u32);
        job.progress.parts_done = job.progress.parts_done.max(parts);
        Ok(Some(job))
    }

    async fn record_part(&self, tenant: &str, id: &str, part: u32) -> Result<Vec<u32>, StoreError> {
        // ADD to a number set: a part recorded twice is counted once, atomically.
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", item_key(tenant, id))
            .update_expression("ADD #p :part")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#p", PARTS)
            .expression_attribute_values(":part", AttributeValue::Ns(vec![part.to_string()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error("record part", id))?;
        Ok(parts_of(output.attributes().and_then(|a| a.get(PARTS))))
    }

    async fn parts_done(&self, tenant: &str, id: &str) -> Result<Vec<u32>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", item_key(tenant, id))
            .projection_expression("#p")
            .expression_attribute_names("#p", PARTS)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("get item", id))?;
        Ok(parts_of(output.item().and_then(|i| i.get(PARTS))))
    }

    async fn update_job_if(
        &self,
        job: &Job,
        expected: (JobState, u32),
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(job)?))
            .condition_expression("#s = :state AND #a = :attempts")
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#a", "attempts")
            .expression_attribute_values(":state", AttributeValue::S(expected.0.as_str().into()))
            .expression_attribute_values(":attempts", AttributeValue::N(expected.1.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend(
                "update item",
                &job.id,
                aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )),
        }
    }
}

/// Job messages on an SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// A queue at `url`.
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
        }
    }
}

#[async_trait]
impl ReceivingQueue for SqsQueue {
    /// Long-polls (SQS allows at most 10 messages and 20 s). Messages that are not job
    /// messages are returned as [`Unreadable`], left to the dead-letter queue.
    async fn receive(
        &self,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<Result<Delivery, Unreadable>>, StoreError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(sdk_error("receive", &self.url))?;
        Ok(output
            .messages()
            .iter()
            .map(|m| {
                let receipt = m.receipt_handle().unwrap_or_default().to_string();
                let receive_count = m
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                read_body(m.body().unwrap_or_default()).map(|message| Delivery {
                    message,
                    receipt,
                    receive_count,
                })
            })
            .collect())
    }

    /// At most SQS's 12 hours.
    async fn retry_after(
        &self,
        receipt: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        let seconds = delay.as_secs().min(43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(sdk_error("change message visibility", &self.url))?;
        Ok(())
    }

    async fn acknowledge(&self, receipt: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sdk_error("delete message", &self.url))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("sqs {}", self.url)
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(message).map_err(|e| backend("encode", message.job_id(), e))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sdk_error("send", &self.url))?;
        Ok(())
    }
}

/// Alerts on an SQS queue, ten to a `SendMessageBatch`. On a FIFO queue (`.fifo`) each
/// entity is a message group and (stream, entity, point number) the deduplication id, so a
/// redelivered alarm is sent once.
#[derive(Debug, Clone)]
pub struct SqsAlerts {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsAlerts {
    /// Alerts to the queue at `url`.
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
        }
    }
}

#[async_trait]
impl crate::streams::alerts::AlertSink for SqsAlerts {
    async fn send(&self, alerts: &[crate::streams::alerts::Alert]) -> Result<(), StoreError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let fifo = self.url.ends_with(".fifo");
        for chunk in alerts.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, alert) in chunk.iter().enumerate() {
                let body = serde_json::to_string(alert)
                    .map_err(|e| backend("encode", &alert.stream, e))?;
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body);
                if fifo {
                    use sha2::Digest;
                    let dedup = sha2::Sha256::digest(format!(
                        "{}\u{0}{}\u{0}{}\u{0}{:?}",
                        alert.tenant, alert.stream, alert.entity, alert.index
                    ));
                    let dedup: String = dedup.iter().map(|b| format!("{b:02x}")).collect();
                    entry = entry
                        .message_group_id(crate::streams::store::encode_entity(&alert.entity))
                        .message_deduplication_id(dedup);
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| backend("encode", &alert.stream, e))?,
                );
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk_error("send alerts", &self.url))?;
            if let Some(failed) = output.failed().first() {
                return Err(backend(
                    "send alerts",
                    &self.url,
                    format!(
                        "{} of {} refused: {}",
                        output.failed().len(),
                        chunk.len(),
                        failed.message().unwrap_or("no reason given")
                    ),
                ));
            }
        }
        Ok(())
    }
}
