//! Where alarms go besides the answer: an optional alerts queue
//! (`PYNOMALY_ALERT_QUEUE_URL`), one JSON message per alarm. Sent after the states are
//! stored; a failed send is logged and counted, never a reason to score the points again
//! (the redelivered points would be late, and their alarms lost anyway).

use async_trait::async_trait;
use serde::Serialize;

use super::entity::PointResult;
use super::spec::StreamSpec;
use crate::storage::StoreError;

/// One alarm, as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Tenant.
    pub tenant: String,
    /// Stream id.
    pub stream: String,
    /// Stream name.
    pub stream_name: String,
    /// Entity.
    pub entity: String,
    /// Timestamp as sent, when the point had one.
    pub timestamp: Option<String>,
    /// The entity's point number.
    pub index: Option<u64>,
    /// Score (1 at the threshold).
    pub score: f64,
    /// Grade in [0, 1].
    pub grade: f64,
    /// Why, in words.
    pub reason: String,
}

impl Alert {
    /// The alert of an alarm `result` of `spec`.
    pub fn of(tenant: &str, spec: &StreamSpec, result: &PointResult) -> Self {
        let mut reason = format!(
            "{} score {:.2} is {:.1} times its threshold",
            spec.method.name(),
            result.score,
            result.score
        );
        if let Some(field) = &result.field {
            reason.push_str(&format!(", driven by `{field}`"));
        }
        if let (Some(lo), Some(hi)) = (result.lower, result.upper) {
            reason.push_str(&format!("; the normal band was {lo:.4} to {hi:.4}"));
        }
        Self {
            tenant: tenant.to_string(),
            stream: spec.id.clone(),
            stream_name: spec.name.clone(),
            entity: result.entity.clone(),
            timestamp: result.timestamp.clone(),
            index: result.index,
            score: result.score,
            grade: result.grade,
            reason,
        }
    }
}

/// Where alerts go.
#[async_trait]
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Sends `alerts` (one message each).
    async fn send(&self, alerts: &[Alert]) -> Result<(), StoreError>;
}
