//! Reading time series: a timestamp column, one or more value columns and an optional
//! entity column (one series per entity and value column), from CSV, JSON or NDJSON.
//!
//! Policies:
//! - Time column: `timestamp` unless named; a file without one (and no name given) is
//!   taken in row order, the row number standing in for the time.
//! - Timestamps: a `time_format` (chrono's strftime, e.g. `%m/%d/%Y %H:%M`) when given;
//!   otherwise RFC 3339 (`2024-05-01T12:00:00Z`, with offsets), `YYYY-MM-DD HH:MM:SS[.f]`
//!   and `YYYY-MM-DDTHH:MM:SS[.f]` (read as UTC), `YYYY-MM-DD`, or epoch seconds / epoch
//!   milliseconds (numbers above 10^11 are milliseconds). Anything else is an error naming
//!   the row and value.
//! - Order: each series is sorted by time (stably, so rows with the same timestamp keep
//!   their input order and stay separate points). Results go back to input order.
//! - Repeated timestamps: when a series repeats timestamps and another column splits
//!   its rows into series that do not (a host, a sensor), the file holds several series
//!   merged by mistake: refused, naming that column. Otherwise counted in
//!   [`Series::repeated_timestamps`] for the door to mention.
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
#[derive(Debug, Clone, Default)]
pub struct SeriesOptions {
    /// Format; guessed from the content when `None`.
    pub format: Option<Format>,
    /// Timestamp column; `None`: `timestamp` if the input has one, else row order.
    pub time_column: Option<String>,
    /// The timestamps' strftime format, when not one of the accepted forms.
    pub time_format: Option<String>,
    /// Value columns (default: all but the time and entity columns).
    pub value_columns: Option<Vec<String>>,
    /// Entity column: one series per distinct value.
    pub entity_column: Option<String>,
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
    /// Points whose timestamp equals the previous point's.
    pub repeated_timestamps: usize,
}

/// Everything read from one input.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInput {
    /// Data rows in the input.
    pub input_rows: usize,
    /// The timestamp of each input row, as written (its row number in row order).
    pub timestamp_text: Vec<String>,
    /// Whether the points were taken in row order, the input having no time column.
    pub row_order: bool,
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

/// Parses `text` with a strftime `format` (a date and time, or a date alone at midnight),
/// read as UTC unless the format has an offset.
pub fn parse_timestamp_with(text: &str, format: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_str(t, format) {
        return Some(dt.timestamp_millis());
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
        return Some(dt.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(t, format)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

/// Among `candidates`, the first column that splits `rows` into two or more groups
/// none of which repeats a timestamp: the entity column a merged file most likely lacks.
fn likely_entity_column(
    raw_rows: &[Vec<Cell>],
    candidates: impl Iterator<Item = usize>,
    rows: &[usize],
    timestamps: &[i64],
) -> Option<usize> {
    candidates.into_iter().find(|&j| {
        let mut keyed: Vec<(String, i64)> = rows
            .iter()
            .map(|&i| {
                (
                    cell_text(&raw_rows[i][j]).unwrap_or_default(),
                    timestamps[i],
                )
            })
            .collect();
        keyed.sort_unstable();
        let groups = 1 + keyed.windows(2).filter(|w| w[0].0 != w[1].0).count();
        // An entity has many rows: a column of mostly distinct values (a measurement) does
        // not name series however it splits the rows.
        groups >= 2 && 4 * groups <= rows.len() && keyed.windows(2).all(|w| w[0] != w[1])
    })
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
    let time = match &options.time_column {
        Some(name) => Some(column_index(&raw.names, name)?),
        None => raw.names.iter().position(|n| n == "timestamp"),
    };
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
            .filter(|&j| Some(j) != time && Some(j) != entity)
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
        let (text, ts) = match time {
            None => (i.to_string(), i as i64),
            Some(time) => {
                let text = cell_text(&row[time]).ok_or_else(|| FormatError::Missing {
                    column: raw.names[time].clone(),
                    row: i,
                })?;
                let ts = match &options.time_format {
                    Some(format) => parse_timestamp_with(&text, format),
                    None => parse_timestamp(&text),
                }
                .ok_or_else(|| FormatError::BadTimestamp {
                    column: raw.names[time].clone(),
                    row: i,
                    value: text.clone(),
                })?;
                (text, ts)
            }
        };
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
        let repeated_timestamps = rows
            .windows(2)
            .filter(|w| timestamps[w[0]] == timestamps[w[1]])
            .count();
        if repeated_timestamps > 0 {
            // Text columns (a host name), then numeric ones that are not values (a
            // sensor number).
            let is_text = |j: usize| {
                rows.iter()
                    .any(|&i| matches!(raw.rows[i][j], Cell::Text(_)))
            };
            let mut candidates: Vec<usize> = (0..raw.names.len())
                .filter(|&j| Some(j) != time && Some(j) != entity)
                .filter(|&j| is_text(j) || !value_columns.contains(&j))
                .collect();
            candidates.sort_by_key(|&j| !is_text(j));
            let candidates = candidates.into_iter();
            if let Some(j) = likely_entity_column(&raw.rows, candidates, &rows, &timestamps) {
                return Err(FormatError::MergedSeries {
                    repeated: repeated_timestamps,
                    column: raw.names[j].clone(),
                });
            }
        }
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
                repeated_timestamps,
            });
        }
    }
    Ok(SeriesInput {
        input_rows: raw.rows.len(),
        timestamp_text,
        row_order: time.is_none(),
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
    fn merged_series_are_refused_naming_the_separating_column() {
        let csv = "timestamp,host,cpu\n2024-01-01 00:00:00,a,1\n2024-01-01 00:00:00,b,5\n2024-01-01 00:01:00,a,2\n2024-01-01 00:01:00,b,6\n2024-01-01 00:02:00,a,1\n2024-01-01 00:02:00,b,5\n2024-01-01 00:03:00,a,1\n2024-01-01 00:03:00,b,5\n";
        let options = SeriesOptions {
            value_columns: Some(vec!["cpu".into()]),
            ..Default::default()
        };
        let err = read_series(csv.as_bytes(), &options).unwrap_err();
        assert_eq!(
            err,
            FormatError::MergedSeries {
                repeated: 4,
                column: "host".into()
            }
        );
        // Repeats no column explains are kept, and counted.
        let csv =
            "timestamp,cpu\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,5\n2024-01-01 00:01:00,2\n";
        let input = read_series(csv.as_bytes(), &SeriesOptions::default()).unwrap();
        assert_eq!(input.series[0].values, vec![1.0, 5.0, 2.0]);
        assert_eq!(input.series[0].repeated_timestamps, 1);
    }

    #[test]
    fn without_a_time_column_rows_are_in_order_and_a_format_reads_other_dates() {
        let input = read_series(b"cpu\n3\n1\n2\n", &SeriesOptions::default()).unwrap();
        assert!(input.row_order);
        assert_eq!(input.series[0].values, vec![3.0, 1.0, 2.0]);
        assert_eq!(input.series[0].timestamps, vec![0, 1, 2]);
        let options = SeriesOptions {
            time_format: Some("%m/%d/%Y %H:%M".into()),
            ..Default::default()
        };
        let input = read_series(
            b"timestamp,v\n05/01/2024 12:00,1\n04/30/2024 12:00,2\n",
            &options,
        )
        .unwrap();
        assert_eq!(
            input.series[0].timestamps,
            vec![1_714_478_400_000, 1_714_564_800_000]
        );
        assert_eq!(
            parse_timestamp_with("01.05.2024", "%d.%m.%Y"),
            Some(1_714_521_600_000)
        );
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
        let named = SeriesOptions {
            time_column: Some("timestamp".into()),
            ..Default::default()
        };
        let err = read_series(b"time,v\n2024-01-01,1\n", &named).unwrap_err();
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
