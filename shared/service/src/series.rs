//! Reading time series: a timestamp column, one or more value columns and an optional
//! entity column (one series per entity and value column), from CSV, JSON or NDJSON.
//!
//! Policies:
//! - Timestamps: RFC 3339 (`2024-05-01T12:00:00Z`, with offsets), `YYYY-MM-DD HH:MM:SS[.f]`
//!   and `YYYY-MM-DDTHH:MM:SS[.f]` (read as UTC), `YYYY-MM-DD`, or epoch seconds / epoch
//!   milliseconds (numbers above 10^11 are milliseconds). Anything else is an error naming
//!   the row and value.
//! - Order: each series is sorted by time (stably, so rows with the same timestamp keep
//!   their input order and stay separate points). Results go back to input order.
//! - Spacing: points are taken in time order as they are; gaps and irregular spacing are
//!   not resampled, so a period is a number of points.
//! - Values: every column other than the time and entity columns unless
//!   `value_columns` names them; a missing or non-numeric value is an error naming the row
//!   and column.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::formats::{
    Cell, Format, FormatError, cell_text, check_unique_names, column_index, read_raw,
};

/// Options for [`read_series`].
#[derive(Debug, Clone)]
pub struct SeriesOptions {
    /// Format; guessed from the content when `None`.
    pub format: Option<Format>,
    /// Timestamp column (default `timestamp`).
    pub time_column: String,
    /// Value columns (default: all but the time and entity columns).
    pub value_columns: Option<Vec<String>>,
    /// Entity column: one series per distinct value.
    pub entity_column: Option<String>,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        Self {
            format: None,
            time_column: "timestamp".into(),
            value_columns: None,
            entity_column: None,
        }
    }
}

/// One series in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Entity, when an entity column was given.
    pub entity: Option<String>,
    /// Value column.
    pub column: String,
    /// Input row (0-based) of each point.
    pub rows: Vec<usize>,
    /// Timestamps, milliseconds since the Unix epoch (UTC).
    pub timestamps: Vec<i64>,
    /// Values.
    pub values: Vec<f64>,
}

/// Everything read from one input.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInput {
    /// Data rows in the input.
    pub input_rows: usize,
    /// The timestamp of each input row, as written.
    pub timestamp_text: Vec<String>,
    /// The entity of each input row, when an entity column was given.
    pub entity_text: Vec<Option<String>>,
    /// The series, grouped by entity (first-seen order), then value column.
    pub series: Vec<Series>,
}

/// Parses a timestamp in one of the accepted forms, to epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_millis());
    }
    if let Ok(v) = t.parse::<f64>()
        && v.is_finite()
    {
        return Some(if v.abs() >= 1e11 {
            v as i64
        } else {
            (v * 1000.0) as i64
        });
    }
    None
}

/// Reads `bytes` into series following `options`.
pub fn read_series(bytes: &[u8], options: &SeriesOptions) -> Result<SeriesInput, FormatError> {
    let raw = read_raw(
        bytes,
        options.format.unwrap_or_else(|| Format::sniff(bytes)),
    )?;
    if raw.rows.is_empty() {
        return Err(FormatError::NoRows);
    }
    check_unique_names(&raw.names)?;
    let time = column_index(&raw.names, &options.time_column)?;
    let entity = options
        .entity_column
        .as_deref()
        .map(|e| column_index(&raw.names, e))
        .transpose()?;
    let value_columns: Vec<usize> = match &options.value_columns {
        Some(cols) => cols
            .iter()
            .map(|c| column_index(&raw.names, c))
            .collect::<Result<_, _>>()?,
        None => (0..raw.names.len())
            .filter(|&j| j != time && Some(j) != entity)
            .collect(),
    };
    if value_columns.is_empty() {
        return Err(FormatError::NoColumns);
    }
    let mut timestamp_text = Vec::with_capacity(raw.rows.len());
    let mut entity_text = Vec::with_capacity(raw.rows.len());
    let mut timestamps = Vec::with_capacity(raw.rows.len());
    // (entity, row indices) in first-seen order.
    let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, row) in raw.rows.iter().enumerate() {
        let text = cell_text(&row[time]).ok_or_else(|| FormatError::Missing {
            column: raw.names[time].clone(),
            row: i,
        })?;
        let ts = parse_timestamp(&text).ok_or_else(|| FormatError::BadTimestamp {
            column: raw.names[time].clone(),
            row: i,
            value: text.clone(),
        })?;
        timestamps.push(ts);
        timestamp_text.push(text);
        let key = entity.map(|e| cell_text(&row[e]).unwrap_or_default());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, rows)) => rows.push(i),
            None => groups.push((key.clone(), vec![i])),
        }
        entity_text.push(key);
    }
    let mut series = Vec::new();
    for (key, mut rows) in groups {
        rows.sort_by_key(|&i| timestamps[i]);
        for &j in &value_columns {
            let values = rows
                .iter()
                .map(|&i| match &raw.rows[i][j] {
                    Cell::Number(v) if v.is_finite() => Ok(*v),
                    Cell::Number(v) => Err(FormatError::NonFinite {
                        column: raw.names[j].clone(),
                        row: i,
                        value: v.to_string(),
                    }),
                    Cell::Missing => Err(FormatError::Missing {
                        column: raw.names[j].clone(),
                        row: i,
                    }),
                    Cell::Text(t) => Err(FormatError::NonNumeric {
                        column: raw.names[j].clone(),
                        row: i,
                        value: t.clone(),
                    }),
                })
                .collect::<Result<Vec<f64>, _>>()?;
            series.push(Series {
                entity: key.clone(),
                column: raw.names[j].clone(),
                timestamps: rows.iter().map(|&i| timestamps[i]).collect(),
                rows: rows.clone(),
                values,
            });
        }
    }
    Ok(SeriesInput {
        input_rows: raw.rows.len(),
        timestamp_text,
        entity_text,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats() {
        let expected = 1_714_564_800_000; // 2024-05-01T12:00:00Z
        for text in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01 12:00:00",
            "2024-05-01 12:00:00.000000",
            "2024-05-01T12:00:00",
            "1714564800",
            "1714564800000",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timestamp("2024-05-01"), Some(1_714_521_600_000));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn unsorted_input_with_entities() {
        let csv = "timestamp,host,cpu\n2024-01-01 00:02:00,a,3\n2024-01-01 00:00:00,a,1\n2024-01-01 00:01:00,b,7\n2024-01-01 00:01:00,a,2\n";
        let input = read_series(
            csv.as_bytes(),
            &SeriesOptions {
                entity_column: Some("host".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(input.series.len(), 2);
        let a = &input.series[0];
        assert_eq!(a.entity.as_deref(), Some("a"));
        assert_eq!(a.values, vec![1.0, 2.0, 3.0]);
        assert_eq!(a.rows, vec![1, 3, 0]);
        assert_eq!(input.series[1].values, vec![7.0]);
    }

    #[test]
    fn errors_name_row_and_column() {
        let err =
            read_series(b"timestamp,v\nnot-a-time,1\n", &SeriesOptions::default()).unwrap_err();
        assert!(matches!(err, FormatError::BadTimestamp { .. }), "{err}");
        assert!(
            err.to_string().contains("row 0") && err.to_string().contains("not a timestamp"),
            "{err}"
        );
        let err = read_series(b"time,v\n2024-01-01,1\n", &SeriesOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("no column named `timestamp`"),
            "{err}"
        );
        let err =
            read_series(b"timestamp,v\n2024-01-01,\n", &SeriesOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("missing value in column `v` at row 0"),
            "{err}"
        );
        let json = br#"[{"timestamp": 1714564800, "v": 1}, {"timestamp": 1714564860, "v": "x"}]"#;
        let err = read_series(json, &SeriesOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("column `v` is not numeric"),
            "{err}"
        );
        let err = read_series(
            b"timestamp,v,v\n2024-01-01,1,2\n",
            &SeriesOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("column name `v` is used twice (columns 2 and 3)"),
            "{err}"
        );
    }
}
