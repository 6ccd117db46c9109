//! JSON (an array of rows, a `data`/`records`/`rows` wrapper, or an object of columns)
//! and NDJSON into raw cells, plus the fast path for numeric arrays.

use std::collections::HashMap;

use ndarray::Array2;
use serde_json::Value;

use super::MAX_MAGNITUDE;
use super::cells::{Cell, RawTable, default_names, text_cell};
use super::error::FormatError;
use super::options::ReadOptions;
use super::table::Table;

fn json_cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Missing,
        Value::Number(n) => n.as_f64().map_or(Cell::Text(n.to_string()), Cell::Number),
        Value::String(s) => text_cell(s),
        other => Cell::Text(other.to_string()),
    }
}

/// Rows given as JSON values: arrays or objects (not mixed).
pub(super) fn rows_from_json(items: &[Value], line_numbers: bool) -> Result<RawTable, FormatError> {
    let json_err = |i: usize, message: String| FormatError::Json {
        line: line_numbers.then_some(i + 1),
        message,
    };
    match items.first() {
        None => Err(FormatError::NoRows),
        Some(Value::Array(first)) => {
            let names = default_names(first.len());
            let mut rows = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::Array(values) = item else {
                    return Err(json_err(i, format!("row {i} is not an array like row 0")));
                };
                if values.len() != names.len() {
                    return Err(FormatError::RaggedRow {
                        row: i,
                        expected: names.len(),
                        got: values.len(),
                    });
                }
                rows.push(values.iter().map(json_cell).collect());
            }
            Ok(RawTable { names, rows })
        }
        Some(Value::Object(_)) => {
            let mut names: Vec<String> = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(map) = item else {
                    return Err(json_err(i, format!("row {i} is not an object like row 0")));
                };
                for key in map.keys() {
                    if !index.contains_key(key) {
                        index.insert(key.clone(), names.len());
                        names.push(key.clone());
                    }
                }
            }
            let rows = items
                .iter()
                .map(|item| {
                    let mut row = vec![Cell::Missing; names.len()];
                    if let Value::Object(map) = item {
                        for (k, v) in map {
                            row[index[k]] = json_cell(v);
                        }
                    }
                    row
                })
                .collect();
            Ok(RawTable { names, rows })
        }
        Some(other) => Err(json_err(
            0,
            format!("expected rows as arrays or objects, found {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Columns given as a JSON object of equal-length arrays.
fn columns_from_json(map: &serde_json::Map<String, Value>) -> Result<RawTable, FormatError> {
    let names: Vec<String> = map.keys().cloned().collect();
    let columns: Vec<&Vec<Value>> = map
        .iter()
        .map(|(k, v)| match v {
            Value::Array(a) => Ok(a),
            other => Err(FormatError::Json {
                line: None,
                message: format!("column `{k}` is {}, expected an array", kind(other)),
            }),
        })
        .collect::<Result<_, _>>()?;
    let n = columns.first().map_or(0, |c| c.len());
    if let Some((name, col)) = names.iter().zip(&columns).find(|(_, c)| c.len() != n) {
        return Err(FormatError::Json {
            line: None,
            message: format!("column `{name}` has {} values, expected {n}", col.len()),
        });
    }
    let rows = (0..n)
        .map(|i| columns.iter().map(|c| json_cell(&c[i])).collect())
        .collect();
    Ok(RawTable { names, rows })
}

pub(super) fn read_json(bytes: &[u8]) -> Result<RawTable, FormatError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| FormatError::Json {
        line: Some(e.line()),
        message: e.to_string(),
    })?;
    match &value {
        Value::Array(items) => rows_from_json(items, false),
        Value::Object(map) => {
            // {"data": [...]} / {"records": [...]} wrappers, else an object of columns.
            for key in ["data", "records", "rows"] {
                if let Some(Value::Array(items)) = map.get(key) {
                    return rows_from_json(items, false);
                }
            }
            columns_from_json(map)
        }
        other => Err(FormatError::Json {
            line: None,
            message: format!(
                "expected an array of rows or an object of columns, found {}",
                kind(other)
            ),
        }),
    }
}

pub(super) fn read_ndjson(bytes: &[u8]) -> Result<RawTable, FormatError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Encoding(e.to_string()))?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| FormatError::Json {
            line: Some(i + 1),
            message: e.to_string(),
        })?;
        items.push(v);
    }
    rows_from_json(&items, true)
}

/// Fast path for the common body: equal-length arrays of finite numbers and no column
/// options. Anything else (and every error) goes through the general path.
pub(super) fn numeric_arrays(items: &[Value], options: &ReadOptions) -> Option<Table> {
    if options.columns.is_some()
        || options.model_columns.is_some()
        || !options.keep.is_empty()
        || !options.ignore_columns.is_empty()
        || options.label_column.is_some()
    {
        return None;
    }
    let width = items.first()?.as_array()?.len();
    let mut values = Vec::with_capacity(items.len() * width);
    for item in items {
        let row = item.as_array()?;
        if row.len() != width {
            return None;
        }
        for v in row {
            values.push(
                v.as_f64()
                    .filter(|x| x.is_finite() && x.abs() <= MAX_MAGNITUDE)?,
            );
        }
    }
    let data = Array2::from_shape_vec((items.len(), width), values).ok()?;
    Some(Table {
        columns: default_names(width),
        data,
        source_rows: (0..items.len()).collect(),
        input_rows: items.len(),
        labels: None,
        kept: Vec::new(),
    })
}
