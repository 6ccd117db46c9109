//! Entity states of streams in DynamoDB, with S3 for states too big for an item. One item
//! per entity in the job table (partition key `pk` = `stream#<tenant>#<stream>#<entity>`),
//! holding `version`, `summary` (JSON) and either `state` (binary) or `state_key`, an S3
//! key named after the version and the write attempt. A write is a `PutItem` conditional
//! on the version read; a big state is uploaded first under its own key, so the item never
//! points to a missing or foreign object, and the loser of a race deletes its upload.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{backend, sdk_error};
use crate::storage::{ObjectStore, StoreError};
use crate::streams::entity::EntitySummary;
use crate::streams::store::{StateKey, StateRecord, StateStore, encode_entity};

/// States up to this size live in the item (DynamoDB's limit is 400 KB per item).
pub const INLINE_STATE_BYTES: usize = 300 * 1024;

/// Stream states in DynamoDB + S3.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    objects: Arc<dyn ObjectStore>,
    inline_limit: usize,
}

fn prefix(tenant: &str, stream: &str) -> String {
    format!("stream#{tenant}#{stream}#")
}

fn pk(key: &StateKey) -> AttributeValue {
    AttributeValue::S(format!(
        "{}{}",
        prefix(&key.tenant, &key.stream),
        encode_entity(&key.entity)
    ))
}

/// The S3 key of one write attempt's state: named after the version *and* the attempt, so
/// two writers racing for the same version never overwrite (or delete) each other's upload.
fn object_key(key: &StateKey, version: u64) -> String {
    format!(
        "stream-states/{}/{}/{}/{version}-{}.state",
        key.tenant,
        key.stream,
        encode_entity(&key.entity),
        uuid::Uuid::new_v4().simple()
    )
}

fn summary_of(
    item: &std::collections::HashMap<String, AttributeValue>,
    key: &str,
) -> Result<EntitySummary, StoreError> {
    let text = item
        .get("summary")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| backend("decode", key, "item has no summary"))?;
    serde_json::from_str(text).map_err(|e| backend("decode", key, e))
}

impl DynamoStateStore {
    /// States in `table`, big ones in `objects` (the S3 bucket).
    pub fn new(
        config: &aws_config::SdkConfig,
        table: impl Into<String>,
        objects: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
            objects,
            inline_limit: INLINE_STATE_BYTES,
        }
    }

    /// The items of every entity of a stream (the `projection` of each).
    async fn scan_stream(
        &self,
        tenant: &str,
        stream: &str,
        projection: &str,
    ) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, StoreError> {
        let prefix = prefix(tenant, stream);
        super::scan_prefix(
            &self.client,
            &self.table,
            &prefix,
            Some(projection),
            "scan states",
            stream,
        )
        .await
    }

    /// Keeps states over `bytes` in S3 (tests use a small limit to exercise that path).
    pub fn with_inline_limit(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }
}

#[async_trait]
impl StateStore for DynamoStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error("get state", &key.entity))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| backend("decode", &key.entity, "item has no version"))?;
        let summary = summary_of(item, &key.entity)?;
        let state = match (item.get("state"), item.get("state_key")) {
            (Some(AttributeValue::B(bytes)), _) => bytes.clone().into_inner(),
            (_, Some(AttributeValue::S(object))) => self.objects.get(object).await?,
            _ => return Err(backend("decode", &key.entity, "item has no state")),
        };
        Ok(Some(StateRecord {
            version,
            summary,
            state,
        }))
    }

    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let version = expected.map_or(1, |v| v + 1);
        let summary =
            serde_json::to_string(summary).map_err(|e| backend("encode", &key.entity, e))?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk(key))
            .item("version", AttributeValue::N(version.to_string()))
            .item("summary", AttributeValue::S(summary));
        let uploaded = if state.len() > self.inline_limit {
            let object = object_key(key, version);
            self.objects.put(&object, state.to_vec()).await?;
            put = put.item("state_key", AttributeValue::S(object.clone()));
            Some(object)
        } else {
            put = put.item(
                "state",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(state)),
            );
            None
        };
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        let put = put.return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
        match put.send().await {
            Ok(output) => {
                // The replaced version's object, if it had one (best effort: a leftover
                // costs storage, never correctness).
                if let Some(AttributeValue::S(old)) =
                    output.attributes().and_then(|a| a.get("state_key"))
                {
                    let _ = self.objects.delete(old).await;
                }
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                if let Some(object) = uploaded {
                    let _ = self.objects.delete(&object).await;
                }
                Ok(false)
            }
            Err(e) => Err(backend(
                "put state",
                &key.entity,
                aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )),
        }
    }

    /// Every entity of the stream, from a scan filtered by the stream's key prefix (the
    /// table has no sort key or index by stream; a GSI would make it a query for very large
    /// tables).
    async fn summaries(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Vec<EntitySummary>, StoreError> {
        let mut summaries = self
            .scan_stream(tenant, stream, "summary")
            .await?
            .iter()
            .map(|item| summary_of(item, stream))
            .collect::<Result<Vec<_>, _>>()?;
        summaries.sort_by(|a, b| a.entity.cmp(&b.entity));
        Ok(summaries)
    }

    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError> {
        for item in self.scan_stream(tenant, stream, "pk, state_key").await? {
            if let Some(pk) = item.get("pk") {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", pk.clone())
                    .send()
                    .await
                    .map_err(sdk_error("delete state", stream))?;
            }
            if let Some(AttributeValue::S(object)) = item.get("state_key") {
                let _ = self.objects.delete(object).await;
            }
        }
        Ok(())
    }
}
