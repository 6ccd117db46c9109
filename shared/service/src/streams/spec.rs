//! A stream's definition: its method and parameters (the batch method's names, plus
//! `cooldown` and `sensitivity`), which field names the entity, the timestamp and the
//! values. Stored as JSON in the object store, one object per stream.

use pynomaly_detection::timeseries::online::{ONLINE_METHODS, OnlineDetector};
use pynomaly_detection::timeseries::{DEFAULT_METHOD, SeriesMethod};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StreamError;

/// Alarm cooldown of a stream when none is given, in points: the batch default's floor (a
/// stream has no length to take a share of).
pub const DEFAULT_STREAM_COOLDOWN: u64 = 10;

/// Most value fields per stream.
pub const MAX_VALUE_FIELDS: usize = 32;

/// What `POST /api/v1/streams` (and `pynomaly stream`) take.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    /// A name for people (default: the id).
    pub name: Option<String>,
    /// `rcf`, `rolling-z` or `context` (default `context`, the batch default).
    pub method: Option<String>,
    /// The method's parameters (as in batch), plus `cooldown` (points after an alarm
    /// during which flags are not alarms; default 10) and `sensitivity` (default 1).
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
    /// The field naming a point's entity (default `entity`; `null`: one entity).
    #[serde(default = "default_entity_field")]
    pub entity_field: Option<String>,
    /// The field with a point's timestamp (default `timestamp`; points may omit it).
    pub timestamp_field: Option<String>,
    /// The fields with a point's values (default `["value"]`).
    pub value_fields: Option<Vec<String>>,
}

#[allow(clippy::unnecessary_wraps)]
fn default_entity_field() -> Option<String> {
    Some("entity".to_string())
}

/// A stream, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The method and its parameters.
    #[serde(flatten)]
    pub method: SeriesMethod,
    /// Threshold scale (thresholds are divided by it).
    pub sensitivity: f64,
    /// Alarm cooldown in points.
    pub cooldown: u64,
    /// Entity field (None: every point is entity `default`).
    pub entity_field: Option<String>,
    /// Timestamp field.
    pub timestamp_field: String,
    /// Value fields.
    pub value_fields: Vec<String>,
    /// When it was created (epoch seconds).
    pub created_at: u64,
}

fn field_name(what: &'static str, name: &str) -> Result<(), StreamError> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        Err(StreamError::invalid(
            what,
            format!("must be 1 to 200 characters without control characters, got {name:?}"),
        ))
    } else {
        Ok(())
    }
}

impl StreamSpec {
    /// Checks `request` and makes the stream `id`.
    pub fn create(id: String, request: CreateStream) -> Result<Self, StreamError> {
        let method_name = request.method.as_deref().unwrap_or(DEFAULT_METHOD);
        let mut parameters = match request.parameters {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(p)) => p,
            Some(_) => {
                return Err(StreamError::invalid(
                    "parameters",
                    "must be an object of parameter: value".to_string(),
                ));
            }
        };
        let cooldown = match parameters.remove("cooldown") {
            None | Some(Value::Null) => DEFAULT_STREAM_COOLDOWN,
            Some(v) => v.as_u64().filter(|&c| c <= 1_000_000).ok_or_else(|| {
                StreamError::invalid(
                    "parameters.cooldown",
                    format!("must be a whole number of points from 0 to 1000000, got {v}"),
                )
            })?,
        };
        let sensitivity = match parameters.remove("sensitivity") {
            None | Some(Value::Null) => 1.0,
            Some(v) => v
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 100.0)
                .ok_or_else(|| {
                    StreamError::invalid(
                        "parameters.sensitivity",
                        format!("must be a number in (0, 100], got {v}"),
                    )
                })?,
        };
        let method = SeriesMethod::from_name(method_name, Some(Value::Object(parameters)))?;
        if !ONLINE_METHODS.contains(&method.name()) {
            return Err(StreamError::invalid(
                "method",
                format!(
                    "`{}` needs the whole series; a stream takes one of: {}",
                    method.name(),
                    ONLINE_METHODS.join(", ")
                ),
            ));
        }
        // The method's state can be built: its parameters hold together.
        OnlineDetector::new(&method)?;
        if let Some(field) = &request.entity_field {
            field_name("entity_field", field)?;
        }
        let timestamp_field = request
            .timestamp_field
            .unwrap_or_else(|| "timestamp".to_string());
        field_name("timestamp_field", &timestamp_field)?;
        let value_fields = request
            .value_fields
            .unwrap_or_else(|| vec!["value".to_string()]);
        if value_fields.is_empty() || value_fields.len() > MAX_VALUE_FIELDS {
            return Err(StreamError::invalid(
                "value_fields",
                format!(
                    "must name 1 to {MAX_VALUE_FIELDS} fields, got {}",
                    value_fields.len()
                ),
            ));
        }
        for (i, field) in value_fields.iter().enumerate() {
            field_name("value_fields", field)?;
            let clash = value_fields[..i].contains(field)
                || request.entity_field.as_ref() == Some(field)
                || *field == timestamp_field
                || field == "values";
            if clash {
                return Err(StreamError::invalid(
                    "value_fields",
                    format!("`{field}` is named twice, or is the entity or timestamp field"),
                ));
            }
        }
        let name = request.name.unwrap_or_else(|| id.clone());
        field_name("name", &name)?;
        Ok(Self {
            id,
            name,
            method,
            sensitivity,
            cooldown,
            entity_field: request.entity_field,
            timestamp_field,
            value_fields,
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        })
    }

    /// A stream over `value_fields` with entity field `entity`, for tests.
    #[doc(hidden)]
    pub fn for_tests(entity: Option<&str>, value_fields: &[&str]) -> Self {
        Self::create(
            "test".into(),
            CreateStream {
                method: Some("rolling-z".into()),
                entity_field: entity.map(str::to_string),
                value_fields: Some(value_fields.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        )
        .expect("a valid test stream")
    }

    /// What the API shows of it.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(parameters) = body.get_mut("parameters").and_then(Value::as_object_mut) {
            parameters.insert("cooldown".into(), self.cooldown.into());
            parameters.insert("sensitivity".into(), self.sensitivity.into());
        }
        if let Some(object) = body.as_object_mut() {
            object.remove("cooldown");
            object.remove("sensitivity");
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(request: Value) -> Result<StreamSpec, StreamError> {
        StreamSpec::create("s1".into(), serde_json::from_value(request).unwrap())
    }

    #[test]
    fn defaults_and_parameters() {
        let spec = create(
            serde_json::json!({"method": "rcf", "parameters": {"cooldown": 5, "threshold": 2.5}}),
        )
        .unwrap();
        assert_eq!(spec.cooldown, 5);
        assert_eq!(spec.entity_field.as_deref(), Some("entity"));
        assert_eq!(spec.value_fields, vec!["value"]);
        let shown = spec.to_json();
        assert_eq!(shown["method"], "rcf");
        assert_eq!(shown["parameters"]["threshold"], 2.5);
        assert_eq!(shown["parameters"]["cooldown"], 5);
        let back: StreamSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        let spec = create(serde_json::json!({"entity_field": null})).unwrap();
        assert_eq!(spec.method.name(), "context");
        assert_eq!(spec.entity_field, None);
    }

    #[test]
    fn bad_requests_name_the_field() {
        let err = |v: Value| create(v).unwrap_err().to_string();
        assert!(err(serde_json::json!({"method": "esd"})).contains("rcf, rolling-z, context"));
        assert!(
            err(serde_json::json!({"method": "rcf", "parameters": {"trees": 3}})).contains("trees")
        );
        assert!(err(serde_json::json!({"parameters": {"cooldown": -1}})).contains("cooldown"));
        assert!(err(serde_json::json!({"value_fields": []})).contains("value_fields"));
        assert!(err(serde_json::json!({"value_fields": ["a", "a"]})).contains("twice"));
        assert!(err(serde_json::json!({"value_fields": ["entity"]})).contains("entity"));
        assert!(err(serde_json::json!({"name": "a\u{17}b"})).contains("name"));
    }
}
