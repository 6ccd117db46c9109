//! Points as they arrive: a JSON body (`{"points": [...]}` or a bare array), NDJSON (one
//! point object per line) or CSV (a header naming the fields). A point object carries the
//! stream's entity field, optionally its timestamp field, and its values: under `values`
//! (`{"cpu": 0.5, "lat": 120}`), as top-level fields named like the stream's value fields,
//! or as `value` when the stream has one value field.
//!
//! Every point is checked before any is scored, so a bad point refuses the whole batch
//! and changes no state: the error names the point (0-based, in arrival order) and field.

use serde_json::{Map, Value};

use super::spec::StreamSpec;
use crate::series::parse_timestamp;

/// The entity of points when the stream has no entity field.
pub const SINGLE_ENTITY: &str = "default";

/// Longest entity name, in bytes.
pub const MAX_ENTITY_BYTES: usize = 200;

/// One point, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PointIn {
    /// Entity.
    pub entity: String,
    /// Timestamp in epoch milliseconds, when given.
    pub timestamp: Option<i64>,
    /// The timestamp as sent.
    pub timestamp_text: Option<String>,
    /// One value per value field of the stream, in its order.
    pub values: Vec<f64>,
}

/// How a batch of points is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointsFormat {
    /// `{"points": [...]}` or `[...]`.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A header line, then one point per line.
    Csv,
}

/// Why a batch of points cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PointsError {
    /// The body is not what its format says.
    #[error("malformed {format} body: {message}")]
    Malformed {
        /// The format.
        format: &'static str,
        /// What is wrong.
        message: String,
    },
    /// One point is wrong.
    #[error("point {index}: {message}")]
    Point {
        /// Its 0-based position in the batch.
        index: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// More points than one request takes.
    #[error("{got} points is over the limit of {limit} per request: send smaller batches")]
    TooMany {
        /// Points sent.
        got: usize,
        /// Limit.
        limit: usize,
    },
}

fn point_error(index: usize, message: impl Into<String>) -> PointsError {
    PointsError::Point {
        index,
        message: message.into(),
    }
}

/// Reads the points of `body` in `format` for `spec`, at most `limit` of them.
pub fn read_points(
    body: &[u8],
    format: PointsFormat,
    spec: &StreamSpec,
    limit: usize,
) -> Result<Vec<PointIn>, PointsError> {
    let points = match format {
        PointsFormat::Json => {
            let value: Value =
                serde_json::from_slice(body).map_err(|e| PointsError::Malformed {
                    format: "JSON",
                    message: e.to_string(),
                })?;
            let items = match value {
                Value::Array(items) => items,
                Value::Object(mut object) => match object.remove("points") {
                    Some(Value::Array(items)) if object.is_empty() => items,
                    Some(Value::Array(_)) => {
                        let extra: Vec<&String> = object.keys().collect();
                        return Err(PointsError::Malformed {
                            format: "JSON",
                            message: format!(
                                "unknown field(s) {extra:?} beside `points`; the body is {{\"points\": [...]}}"
                            ),
                        });
                    }
                    _ => {
                        return Err(PointsError::Malformed {
                            format: "JSON",
                            message: "expected {\"points\": [...]} or an array of points"
                                .to_string(),
                        });
                    }
                },
                _ => {
                    return Err(PointsError::Malformed {
                        format: "JSON",
                        message: "expected {\"points\": [...]} or an array of points".to_string(),
                    });
                }
            };
            check_count(items.len(), limit)?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(object) => from_object(i, object, spec),
                    other => Err(point_error(
                        i,
                        format!("expected an object, got {}", kind(&other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        PointsFormat::Ndjson => {
            let text = std::str::from_utf8(body).map_err(|e| PointsError::Malformed {
                format: "NDJSON",
                message: e.to_string(),
            })?;
            let mut points = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let i = points.len();
                check_count(i + 1, limit)?;
                let object: Map<String, Value> = serde_json::from_str(line)
                    .map_err(|e| point_error(i, format!("not a JSON object: {e}")))?;
                points.push(from_object(i, object, spec)?);
            }
            points
        }
        PointsFormat::Csv => from_csv(body, spec, limit)?,
    };
    Ok(points)
}

fn check_count(got: usize, limit: usize) -> Result<(), PointsError> {
    if got > limit {
        Err(PointsError::TooMany { got, limit })
    } else {
        Ok(())
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn entity_of(i: usize, raw: Option<String>, spec: &StreamSpec) -> Result<String, PointsError> {
    match (&spec.entity_field, raw) {
        (None, _) => Ok(SINGLE_ENTITY.to_string()),
        (Some(field), None) => Err(point_error(
            i,
            format!("no `{field}` (the stream's entity field)"),
        )),
        (Some(field), Some(entity)) => {
            let entity = entity.trim().to_string();
            if entity.is_empty() || entity.len() > MAX_ENTITY_BYTES {
                Err(point_error(
                    i,
                    format!(
                        "`{field}` must be 1 to {MAX_ENTITY_BYTES} bytes, got {} bytes",
                        entity.len()
                    ),
                ))
            } else if entity.chars().any(char::is_control) {
                Err(point_error(
                    i,
                    format!("`{field}` holds a control character"),
                ))
            } else {
                Ok(entity)
            }
        }
    }
}

fn timestamp_of(
    i: usize,
    field: &str,
    raw: Option<String>,
) -> Result<(Option<i64>, Option<String>), PointsError> {
    match raw {
        None => Ok((None, None)),
        Some(text) => match parse_timestamp(&text) {
            Some(ms) => Ok((Some(ms), Some(text))),
            None => Err(point_error(
                i,
                format!(
                    "`{field}` {text:?} is not a timestamp (RFC 3339 such as 2026-01-31T12:00:00Z, `YYYY-MM-DD HH:MM:SS`, or epoch seconds)"
                ),
            )),
        },
    }
}

fn check_value(i: usize, field: &str, value: f64) -> Result<f64, PointsError> {
    if value.is_finite() && value.abs() <= pynomaly_detection::MAX_MAGNITUDE {
        Ok(value)
    } else {
        Err(point_error(
            i,
            format!("`{field}` must be a finite number within ±1e100, got {value}"),
        ))
    }
}

fn number(i: usize, field: &str, value: &Value) -> Result<f64, PointsError> {
    match value {
        Value::Number(n) => check_value(i, field, n.as_f64().unwrap_or(f64::NAN)),
        other => Err(point_error(
            i,
            format!("`{field}` must be a number, got {}", kind(other)),
        )),
    }
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn from_object(
    i: usize,
    mut object: Map<String, Value>,
    spec: &StreamSpec,
) -> Result<PointIn, PointsError> {
    let entity = spec
        .entity_field
        .as_ref()
        .and_then(|f| object.remove(f))
        .and_then(text);
    let entity = entity_of(i, entity, spec)?;
    let stamp = object.remove(&spec.timestamp_field).and_then(text);
    let (timestamp, timestamp_text) = timestamp_of(i, &spec.timestamp_field, stamp)?;
    let nested = match object.remove("values") {
        Some(Value::Object(values)) => Some(values),
        Some(other) => {
            return Err(point_error(
                i,
                format!(
                    "`values` must be an object of field: number, got {}",
                    kind(&other)
                ),
            ));
        }
        None => None,
    };
    let single = spec.value_fields.len() == 1;
    let values = spec
        .value_fields
        .iter()
        .map(|field| {
            let found = nested
                .as_ref()
                .and_then(|v| v.get(field))
                .or_else(|| object.get(field))
                .or_else(|| if single { object.get("value") } else { None });
            match found {
                Some(v) => number(i, field, v),
                None => Err(point_error(
                    i,
                    format!(
                        "no value for `{field}`: send it as `\"{field}\": <number>`{}",
                        if single {
                            " or `\"value\": <number>`"
                        } else {
                            " or inside `values`"
                        }
                    ),
                )),
            }
        })
        .collect::<Result<Vec<f64>, _>>()?;
    Ok(PointIn {
        entity,
        timestamp,
        timestamp_text,
        values,
    })
}

fn from_csv(body: &[u8], spec: &StreamSpec, limit: usize) -> Result<Vec<PointIn>, PointsError> {
    let malformed = |message: String| PointsError::Malformed {
        format: "CSV",
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(crate::formats::sniff_delimiter(body))
        .trim(csv::Trim::All)
        .from_reader(body);
    let header = reader
        .headers()
        .map_err(|e| malformed(e.to_string()))?
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let entity_column = match &spec.entity_field {
        Some(field) => Some(column(field).ok_or_else(|| {
            malformed(format!(
                "no `{field}` column (the stream's entity field); the header is {:?}",
                header.iter().collect::<Vec<_>>()
            ))
        })?),
        None => None,
    };
    let time_column = column(&spec.timestamp_field);
    let single = spec.value_fields.len() == 1;
    let value_columns = spec
        .value_fields
        .iter()
        .map(|field| {
            column(field)
                .or_else(|| if single { column("value") } else { None })
                .ok_or_else(|| {
                    malformed(format!(
                        "no `{field}` column (a value field of the stream); the header is {:?}",
                        header.iter().collect::<Vec<_>>()
                    ))
                })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let mut points = Vec::new();
    for record in reader.records() {
        let i = points.len();
        check_count(i + 1, limit)?;
        let record = record.map_err(|e| point_error(i, e.to_string()))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |c: usize| record.get(c).filter(|s| !s.is_empty()).map(str::to_string);
        let entity = entity_of(i, entity_column.and_then(cell), spec)?;
        let (timestamp, timestamp_text) =
            timestamp_of(i, &spec.timestamp_field, time_column.and_then(cell))?;
        let values = value_columns
            .iter()
            .zip(&spec.value_fields)
            .map(|(&c, field)| {
                let raw = record.get(c).unwrap_or("");
                let v: f64 = raw
                    .parse()
                    .map_err(|_| point_error(i, format!("`{field}` {raw:?} is not a number")))?;
                check_value(i, field, v)
            })
            .collect::<Result<Vec<f64>, _>>()?;
        points.push(PointIn {
            entity,
            timestamp,
            timestamp_text,
            values,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fields: &[&str]) -> StreamSpec {
        StreamSpec::for_tests(Some("host"), fields)
    }

    #[test]
    fn the_three_point_shapes_and_formats_agree() {
        let one = spec(&["cpu"]);
        let json =
            br#"{"points": [{"host": "a", "timestamp": "2026-01-01T00:00:00Z", "value": 1.5},
            {"host": "b", "cpu": 2}, {"host": "a", "values": {"cpu": 3}}]}"#;
        let ndjson = b"{\"host\": \"a\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"value\": 1.5}\n{\"host\": \"b\", \"cpu\": 2}\n\n{\"host\": \"a\", \"values\": {\"cpu\": 3}}\n";
        let csv = b"host,timestamp,cpu\na,2026-01-01T00:00:00Z,1.5\nb,,2\na,,3\n";
        let expected = read_points(json, PointsFormat::Json, &one, 10).unwrap();
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[0].timestamp, Some(1_767_225_600_000));
        assert_eq!(expected[1].entity, "b");
        assert_eq!(expected[2].values, vec![3.0]);
        assert_eq!(
            read_points(ndjson, PointsFormat::Ndjson, &one, 10).unwrap(),
            expected
        );
        assert_eq!(
            read_points(csv, PointsFormat::Csv, &one, 10).unwrap(),
            expected
        );
    }

    #[test]
    fn bad_points_are_named() {
        let two = spec(&["cpu", "lat"]);
        let err =
            |body: &[u8], format| read_points(body, format, &two, 10).unwrap_err().to_string();
        let e = err(
            br#"[{"host": "a", "cpu": 1, "lat": 2}, {"host": "a", "cpu": 1}]"#,
            PointsFormat::Json,
        );
        assert!(e.contains("point 1") && e.contains("`lat`"), "{e}");
        let e = err(br#"[{"cpu": 1, "lat": 2}]"#, PointsFormat::Json);
        assert!(e.contains("`host`"), "{e}");
        let e = err(
            br#"[{"host": "a", "cpu": "high", "lat": 2}]"#,
            PointsFormat::Json,
        );
        assert!(e.contains("must be a number"), "{e}");
        let e = err(
            br#"[{"host": "a", "cpu": 1, "lat": 2, "timestamp": "yesterday"}]"#,
            PointsFormat::Json,
        );
        assert!(e.contains("not a timestamp"), "{e}");
        let e = err(b"host,cpu\na,1\n", PointsFormat::Csv);
        assert!(e.contains("no `lat` column"), "{e}");
        let e = err(b"host,cpu,lat\na,1,NaN\n", PointsFormat::Csv);
        assert!(e.contains("finite"), "{e}");
        let e = err(br#"{"points": [], "extra": 1}"#, PointsFormat::Json);
        assert!(e.contains("extra"), "{e}");
        let many = format!(
            "[{}]",
            [r#"{"host": "a", "cpu": 1, "lat": 2}"#; 11].join(",")
        );
        let e = err(many.as_bytes(), PointsFormat::Json);
        assert!(e.contains("over the limit of 10"), "{e}");
    }

    #[test]
    fn a_stream_without_entity_field_has_one_entity() {
        let spec = StreamSpec::for_tests(None, &["value"]);
        let points = read_points(b"value\n1\n2\n", PointsFormat::Csv, &spec, 10).unwrap();
        assert!(points.iter().all(|p| p.entity == SINGLE_ENTITY));
    }
}
