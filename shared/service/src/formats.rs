//! Reading tabular data: CSV (with or without header), JSON (array of arrays, array of
//! objects, or an object of columns) and NDJSON, into a numeric matrix.
//!
//! Policies:
//! - Header: CSV headers are detected (a first record with any non-numeric, non-empty
//!   field is a header) unless forced; without one, columns are named `f0, f1, ...`.
//! - Columns: `columns` keeps only the named columns (in that order); `ignore_columns`
//!   drops them. An unknown name is an error listing the available columns; a name used
//!   by two columns is an error naming both.
//! - Non-numeric values in a kept column are an error naming the column, row and value.
//! - Missing values (empty, `NA`, `N/A`, `NaN`, `null`, `?`, JSON `null`, a missing key)
//!   follow [`MissingPolicy`]; `error` (the default) names the row and column.
//! - Infinite values are an error. Ragged rows are an error naming the row.
//! - Row numbers in errors are 1-based data rows (the header is not counted).

use std::collections::HashMap;

use ndarray::Array2;
use serde_json::Value;

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// A JSON document.
    Json,
    /// One JSON array or object per line.
    Ndjson,
    /// Apache Parquet (flat schema; snappy, gzip or lz4 compression).
    Parquet,
}

impl Format {
    /// Guesses the format from a file name's extension.
    pub fn from_path(path: &str) -> Option<Self> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") || lower.ends_with(".txt") {
            Some(Self::Csv)
        } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            Some(Self::Ndjson)
        } else if lower.ends_with(".json") {
            Some(Self::Json)
        } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
            Some(Self::Parquet)
        } else {
            None
        }
    }

    /// Guesses the format from content: Parquet's `PAR1` magic; `[` or `{` first means JSON (several top-level
    /// lines starting with `{`/`[` mean NDJSON), anything else CSV.
    pub fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"PAR1") {
            return Self::Parquet;
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        match lines.next() {
            Some(first) if first.starts_with('{') || first.starts_with('[') => {
                let first_closes = serde_json::from_str::<Value>(first).is_ok();
                if first_closes && lines.next().is_some() {
                    Self::Ndjson
                } else {
                    Self::Json
                }
            }
            _ => Self::Csv,
        }
    }
}

/// What to do with a missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingPolicy {
    /// Fail, naming the row and column.
    #[default]
    Error,
    /// Leave the row out (it is reported as dropped).
    Drop,
    /// Replace with the column mean of the present values.
    Mean,
    /// Replace with the column median of the present values.
    Median,
}

impl std::str::FromStr for MissingPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Self::Error),
            "drop" => Ok(Self::Drop),
            "mean" => Ok(Self::Mean),
            "median" => Ok(Self::Median),
            other => Err(format!(
                "unknown missing-value policy `{other}`; use error, drop, mean or median"
            )),
        }
    }
}

/// Options for [`read_table`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Format; guessed from the content when `None`.
    pub format: Option<Format>,
    /// CSV header: `Some(true)` / `Some(false)` to force, `None` to detect.
    pub header: Option<bool>,
    /// Keep only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// Drop these columns.
    pub ignore_columns: Vec<String>,
    /// Missing-value policy.
    pub missing: MissingPolicy,
    /// A column to take out as labels (used by the benchmark, never given to detectors).
    pub label_column: Option<String>,
    /// CSV field separator; detected from the first lines when `None` (`,` `;` tab `|`).
    pub delimiter: Option<u8>,
    /// The features of the model that will score the table: taken by name, in the
    /// model's order, when the input names its columns (other columns are left alone,
    /// whatever they hold); by position when it does not (headerless CSV, JSON arrays),
    /// which must then have exactly that many columns. `columns`, when given, wins.
    pub model_columns: Option<Vec<String>>,
}

/// A numeric table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Feature names, one per column of `data`.
    pub columns: Vec<String>,
    /// Rows × features.
    pub data: Array2<f64>,
    /// Index (0-based) in the input of each row of `data`; differs only when rows were
    /// dropped.
    pub source_rows: Vec<usize>,
    /// Number of data rows in the input.
    pub input_rows: usize,
    /// Values of the label column, when one was asked for.
    pub labels: Option<Vec<f64>>,
}

/// Why data could not be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum FormatError {
    /// The CSV is malformed.
    #[error("malformed CSV at row {row}: {message}")]
    Csv {
        /// 1-based data row.
        row: usize,
        /// Parser message.
        message: String,
    },
    /// The JSON is malformed or not of a supported shape.
    #[error("malformed JSON{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Json {
        /// 1-based line (NDJSON) when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A row has a different number of fields than the first.
    #[error("row {row} has {got} fields, expected {expected}")]
    RaggedRow {
        /// 1-based data row.
        row: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        got: usize,
    },
    /// A value is not a number.
    #[error("column `{column}` is not numeric: row {row} has {value:?}")]
    NonNumeric {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A value is infinite.
    #[error("column `{column}`, row {row}: value {value} is not a finite number")]
    NonFinite {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A timestamp in none of the accepted forms.
    #[error(
        "column `{column}`, row {row}: {value:?} is not a timestamp; use RFC 3339, YYYY-MM-DD HH:MM:SS, YYYY-MM-DD, or epoch seconds or milliseconds"
    )]
    BadTimestamp {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A value so large that the detectors' arithmetic (squared distances, covariances)
    /// would overflow and score it silently wrong.
    #[error(
        "column `{column}`, row {row}: value {value} is beyond ±1e100, where the detectors' arithmetic would overflow; rescale the column (e.g. divide it by a power of ten)"
    )]
    TooLarge {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A value is missing and the policy is `error`.
    #[error("missing value in column `{column}` at row {row}")]
    Missing {
        /// Column name.
        column: String,
        /// 1-based data row.
        row: usize,
    },
    /// A column named in the options does not exist.
    #[error("no column named `{name}`; columns are: {available}")]
    UnknownColumn {
        /// The name asked for.
        name: String,
        /// The input's columns.
        available: String,
    },
    /// The model that scores the input was trained on a column the input lacks.
    #[error(
        "the model was trained on column `{name}`, which the input lacks; its columns are: {available}"
    )]
    MissingFeature {
        /// The trained column's name.
        name: String,
        /// The input's columns.
        available: String,
    },
    /// An input without column names has a different number of columns than the model.
    #[error(
        "the input has {got} unnamed columns but the model was trained on {expected} ({names}); send them in that order, or name the columns"
    )]
    FeatureCount {
        /// Columns the model needs.
        expected: usize,
        /// Columns the input has.
        got: usize,
        /// The model's feature names.
        names: String,
    },
    /// Two columns have the same name, so selecting, ignoring or explaining by name
    /// would be ambiguous.
    #[error(
        "column name `{name}` is used twice (columns {first} and {second}); column names must be unique"
    )]
    DuplicateColumn {
        /// The repeated name.
        name: String,
        /// 1-based position of its first use.
        first: usize,
        /// 1-based position of its second use.
        second: usize,
    },
    /// Nothing to score.
    #[error("the input has no data rows")]
    NoRows,
    /// Every column was ignored.
    #[error("no feature columns are left to use")]
    NoColumns,
    /// A column has only missing values, so mean/median imputation cannot fill it.
    #[error("column `{0}` has no values to impute from")]
    EmptyColumn(String),
    /// The input is not UTF-8 text.
    #[error("the input is not UTF-8 text: {0}")]
    Encoding(String),
    /// The Parquet file cannot be read.
    #[error("unreadable Parquet: {0}")]
    Parquet(String),
}

/// One raw cell before numeric conversion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Missing,
    Text(String),
    Number(f64),
}

/// Raw table: names and rows of cells.
pub(crate) struct RawTable {
    pub(crate) names: Vec<String>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

/// The largest magnitude accepted: squares and products of values up to this bound, summed
/// over any number of columns a request can have, stay far from `f64::MAX` (~1.8e308).
pub const MAX_MAGNITUDE: f64 = 1e100;

const MISSING_MARKERS: &[&str] = &["", "na", "n/a", "nan", "null", "none", "?"];

pub(crate) fn text_cell(field: &str) -> Cell {
    let t = field.trim();
    if t.len() <= 4 && MISSING_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(t)) {
        Cell::Missing
    } else {
        match t.parse::<f64>() {
            Ok(v) => Cell::Number(v),
            Err(_) => Cell::Text(t.to_string()),
        }
    }
}

fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("f{j}")).collect()
}

/// The separator of a CSV text: the first of tab, `;`, `|` found the same non-zero
/// number of times (outside quotes) on each of the first lines, else `,`. The others come
/// before the comma because a file separated by them may hold decimal commas (`1,5;2,0`),
/// while a comma file rarely has the same count of another separator on every line.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    // The last line may be cut by the window.
    let lines = if lines.len() > 2 {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let count = |line: &str, d: u8| {
        let mut quoted = false;
        line.bytes()
            .filter(|&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                !quoted && b == d
            })
            .count()
    };
    let consistent = |d: u8| {
        lines.first().is_some_and(|first| {
            let n = count(first, d);
            n > 0 && lines.iter().all(|l| count(l, d) == n)
        })
    };
    [b'\t', b';', b'|']
        .into_iter()
        .find(|&d| consistent(d))
        .unwrap_or(b',')
}

/// Reads CSV straight into a table, record by record (no intermediate cell table, so
/// memory stays near the size of the numeric matrix).
fn read_csv(bytes: &[u8], options: &ReadOptions) -> Result<Table, FormatError> {
    let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(bytes));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut record = csv::StringRecord::new();
    let mut builder: Option<TableBuilder> = None;
    let mut line = 0usize;
    loop {
        line += 1;
        let more = reader
            .read_record(&mut record)
            .map_err(|e| FormatError::Csv {
                row: line,
                message: e.to_string(),
            })?;
        if !more {
            break;
        }
        // Skip blank lines.
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        let table = match builder.as_mut() {
            Some(b) => b,
            None => {
                let has_header = options.header.unwrap_or_else(|| {
                    record.iter().any(|f| matches!(text_cell(f), Cell::Text(_)))
                });
                let names = if has_header {
                    record
                        .iter()
                        .enumerate()
                        .map(|(j, f)| {
                            if f.is_empty() {
                                format!("f{j}")
                            } else {
                                f.to_string()
                            }
                        })
                        .collect()
                } else {
                    default_names(record.len())
                };
                let b = builder.insert(TableBuilder::new(names, options)?);
                if has_header {
                    continue;
                }
                b
            }
        };
        if record.len() != table.width() {
            return Err(FormatError::RaggedRow {
                row: table.input_rows + 1,
                expected: table.width(),
                got: record.len(),
            });
        }
        table.push(|j| text_cell(&record[j]))?;
    }
    builder.ok_or(FormatError::NoRows)?.finish()
}

fn json_cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Missing,
        Value::Number(n) => n.as_f64().map_or(Cell::Text(n.to_string()), Cell::Number),
        Value::String(s) => text_cell(s),
        other => Cell::Text(other.to_string()),
    }
}

/// Rows given as JSON values: arrays or objects (not mixed).
fn rows_from_json(items: &[Value], line_numbers: bool) -> Result<RawTable, FormatError> {
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
                    return Err(json_err(
                        i,
                        format!("row {} is not an array like the first row", i + 1),
                    ));
                };
                if values.len() != names.len() {
                    return Err(FormatError::RaggedRow {
                        row: i + 1,
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
                    return Err(json_err(
                        i,
                        format!("row {} is not an object like the first row", i + 1),
                    ));
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

pub(crate) fn read_json(bytes: &[u8]) -> Result<RawTable, FormatError> {
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

pub(crate) fn read_ndjson(bytes: &[u8]) -> Result<RawTable, FormatError> {
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

/// Reads `bytes` into a numeric [`Table`] following `options`.
pub fn read_table(bytes: &[u8], options: &ReadOptions) -> Result<Table, FormatError> {
    let format = options.format.unwrap_or_else(|| Format::sniff(bytes));
    let raw = match format {
        Format::Csv => return read_csv(bytes, options),
        Format::Json => read_json(bytes)?,
        Format::Ndjson => read_ndjson(bytes)?,
        Format::Parquet => crate::parquet_input::read_parquet(bytes)?,
    };
    table_from_raw(raw, options)
}

/// Rows given as JSON values (all arrays, or all objects) into a table, with the same
/// policies as [`read_table`]. For request bodies that are already parsed.
pub fn table_from_json_rows(items: &[Value], options: &ReadOptions) -> Result<Table, FormatError> {
    if let Some(table) = numeric_arrays(items, options) {
        return Ok(table);
    }
    table_from_raw(rows_from_json(items, false)?, options)
}

/// Fast path for the common body: equal-length arrays of finite numbers and no column
/// options. Anything else (and every error) goes through the general path.
fn numeric_arrays(items: &[Value], options: &ReadOptions) -> Option<Table> {
    if options.columns.is_some()
        || options.model_columns.is_some()
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
    })
}

fn table_from_raw(raw: RawTable, options: &ReadOptions) -> Result<Table, FormatError> {
    if raw.rows.is_empty() {
        return Err(FormatError::NoRows);
    }
    let mut builder = TableBuilder::new(raw.names, options)?;
    for row in &raw.rows {
        builder.push(|j| row[j].clone())?;
    }
    builder.finish()
}

pub(crate) fn column_index(names: &[String], wanted: &str) -> Result<usize, FormatError> {
    names
        .iter()
        .position(|n| n == wanted)
        .ok_or_else(|| FormatError::UnknownColumn {
            name: wanted.to_string(),
            available: names.join(", "),
        })
}

/// Checks that no two columns share a name (selecting, ignoring or explaining by name
/// would be ambiguous).
pub(crate) fn check_unique_names(names: &[String]) -> Result<(), FormatError> {
    let mut seen = HashMap::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name.as_str(), j) {
            return Err(FormatError::DuplicateColumn {
                name: name.clone(),
                first: first + 1,
                second: j + 1,
            });
        }
    }
    Ok(())
}

/// The input columns that feed a model's `features`: by name, or by position when the
/// input's columns are unnamed (`f0, f1, ...`: no header, or JSON arrays).
fn model_selection(names: &[String], features: &[String]) -> Result<Vec<usize>, FormatError> {
    if *names == default_names(names.len()) {
        if names.len() != features.len() {
            return Err(FormatError::FeatureCount {
                expected: features.len(),
                got: names.len(),
                names: features.join(", "),
            });
        }
        return Ok((0..names.len()).collect());
    }
    features
        .iter()
        .map(|f| {
            names
                .iter()
                .position(|n| n == f)
                .ok_or_else(|| FormatError::MissingFeature {
                    name: f.clone(),
                    available: names.join(", "),
                })
        })
        .collect()
}

/// Turns rows of cells into a numeric table, applying column selection and the
/// missing-value policy as rows arrive.
struct TableBuilder {
    names: Vec<String>,
    selected: Vec<usize>,
    label_index: Option<usize>,
    missing: MissingPolicy,
    values: Vec<f64>,
    source_rows: Vec<usize>,
    /// (kept row, selected column) of each value to impute.
    missing_cells: Vec<(usize, usize)>,
    labels: Option<Vec<f64>>,
    input_rows: usize,
}

impl TableBuilder {
    fn new(names: Vec<String>, options: &ReadOptions) -> Result<Self, FormatError> {
        check_unique_names(&names)?;
        let label_index = options
            .label_column
            .as_deref()
            .map(|l| column_index(&names, l))
            .transpose()?;
        for name in &options.ignore_columns {
            column_index(&names, name)?;
        }
        let selected: Vec<usize> = match (&options.columns, &options.model_columns) {
            (Some(cols), _) => cols
                .iter()
                .map(|c| column_index(&names, c))
                .collect::<Result<_, _>>()?,
            (None, Some(features)) => model_selection(&names, features)?,
            (None, None) => (0..names.len())
                .filter(|&j| Some(j) != label_index && !options.ignore_columns.contains(&names[j]))
                .collect(),
        };
        if selected.is_empty() {
            return Err(FormatError::NoColumns);
        }
        Ok(Self {
            names,
            selected,
            label_index,
            missing: options.missing,
            values: Vec::new(),
            source_rows: Vec::new(),
            missing_cells: Vec::new(),
            labels: label_index.map(|_| Vec::new()),
            input_rows: 0,
        })
    }

    /// Number of fields each input row must have.
    fn width(&self) -> usize {
        self.names.len()
    }

    /// Adds one input row; `cell(j)` gives its j-th field.
    fn push(&mut self, cell: impl Fn(usize) -> Cell) -> Result<(), FormatError> {
        let i = self.input_rows;
        self.input_rows += 1;
        let start = self.values.len();
        let kept = self.source_rows.len();
        let missing_before = self.missing_cells.len();
        for (out_j, &j) in self.selected.iter().enumerate() {
            match cell(j) {
                Cell::Number(v) if v.is_finite() && v.abs() <= MAX_MAGNITUDE => {
                    self.values.push(v);
                }
                Cell::Number(v) if v.is_finite() => {
                    return Err(FormatError::TooLarge {
                        column: self.names[j].clone(),
                        row: i + 1,
                        value: v.to_string(),
                    });
                }
                Cell::Number(v) => {
                    return Err(FormatError::NonFinite {
                        column: self.names[j].clone(),
                        row: i + 1,
                        value: v.to_string(),
                    });
                }
                Cell::Text(t) => {
                    return Err(FormatError::NonNumeric {
                        column: self.names[j].clone(),
                        row: i + 1,
                        value: t,
                    });
                }
                Cell::Missing => match self.missing {
                    MissingPolicy::Error => {
                        return Err(FormatError::Missing {
                            column: self.names[j].clone(),
                            row: i + 1,
                        });
                    }
                    MissingPolicy::Drop => {
                        self.values.truncate(start);
                        self.missing_cells.truncate(missing_before);
                        return Ok(());
                    }
                    MissingPolicy::Mean | MissingPolicy::Median => {
                        self.values.push(f64::NAN);
                        self.missing_cells.push((kept, out_j));
                    }
                },
            }
        }
        if let (Some(labels), Some(l)) = (self.labels.as_mut(), self.label_index) {
            match cell(l) {
                Cell::Number(v) => labels.push(v),
                other => {
                    return Err(FormatError::NonNumeric {
                        column: self.names[l].clone(),
                        row: i + 1,
                        value: match other {
                            Cell::Text(t) => t,
                            _ => String::new(),
                        },
                    });
                }
            }
        }
        self.source_rows.push(i);
        Ok(())
    }

    fn finish(self) -> Result<Table, FormatError> {
        if self.source_rows.is_empty() {
            return Err(FormatError::NoRows);
        }
        let width = self.selected.len();
        let mut data = Array2::from_shape_vec((self.source_rows.len(), width), self.values)
            .map_err(|e| FormatError::Csv {
                row: 0,
                message: e.to_string(),
            })?;
        if !self.missing_cells.is_empty() {
            impute(
                &mut data,
                &self.missing_cells,
                self.missing,
                &self.selected,
                &self.names,
            )?;
        }
        Ok(Table {
            columns: self
                .selected
                .iter()
                .map(|&j| self.names[j].clone())
                .collect(),
            data,
            source_rows: self.source_rows,
            input_rows: self.input_rows,
            labels: self.labels,
        })
    }
}

fn impute(
    data: &mut Array2<f64>,
    cells: &[(usize, usize)],
    policy: MissingPolicy,
    selected: &[usize],
    names: &[String],
) -> Result<(), FormatError> {
    let mut fill: HashMap<usize, f64> = HashMap::new();
    for &(_, j) in cells {
        if fill.contains_key(&j) {
            continue;
        }
        let mut present: Vec<f64> = data
            .column(j)
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        if present.is_empty() {
            return Err(FormatError::EmptyColumn(names[selected[j]].clone()));
        }
        let value = match policy {
            MissingPolicy::Median => {
                present.sort_unstable_by(f64::total_cmp);
                let n = present.len();
                if n % 2 == 1 {
                    present[n / 2]
                } else {
                    (present[n / 2 - 1] + present[n / 2]) / 2.0
                }
            }
            _ => present.iter().sum::<f64>() / present.len() as f64,
        };
        fill.insert(j, value);
    }
    for &(i, j) in cells {
        data[[i, j]] = fill[&j];
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn separators_are_detected_and_huge_values_refused() {
        for (text, separator) in [
            ("a,b,c\n1,2,3\n4,5,6\n", b','),
            ("a;b;c\n1,5;2;3\n4;5,25;6\n", b';'),
            ("a\tb\n1\t2\n3\t4\n", b'\t'),
            ("a|b\n1|2\n3|4\n", b'|'),
            ("host,msg\nweb,\"a;b\"\ndb,\"c;d\"\n", b','),
        ] {
            assert_eq!(sniff_delimiter(text.as_bytes()), separator, "{text}");
        }
        let table = read_table(b"a;b\n1,5;2\n3;4\n", &ReadOptions::default());
        // `1,5` is not a number in a `;` file with `.` decimals; the error names it.
        assert!(
            matches!(table, Err(FormatError::NonNumeric { .. })),
            "{table:?}"
        );
        let table = read_table(b"a;b\n1.5;2\n3;4\n", &ReadOptions::default()).unwrap();
        assert_eq!(table.columns, vec!["a", "b"]);
        let forced = ReadOptions {
            delimiter: Some(b','),
            ..Default::default()
        };
        let err = read_table(b"a;b\n1;2\n", &forced).unwrap_err();
        assert!(err.to_string().contains("a;b"), "{err}");
        for input in [&b"a,b\n1e300,2\n"[..], &b"[[1, 2], [-1e300, 3]]"[..]] {
            let err = read_table(input, &ReadOptions::default()).unwrap_err();
            assert!(matches!(err, FormatError::TooLarge { .. }), "{err}");
            assert!(err.to_string().contains("rescale the column"), "{err}");
        }
    }

    #[test]
    fn parquet_reads_like_the_same_csv() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/samples/");
        let csv = std::fs::read(format!("{root}wbc.csv")).unwrap();
        let parquet = std::fs::read(format!("{root}wbc.parquet")).unwrap();
        assert_eq!(Format::sniff(&parquet), Format::Parquet);
        assert_eq!(Format::from_path("x/Y.PARQUET"), Some(Format::Parquet));
        let options = ReadOptions {
            ignore_columns: vec!["label".into()],
            ..Default::default()
        };
        let from_csv = read_table(&csv, &options).unwrap();
        let from_parquet = read_table(&parquet, &options).unwrap();
        assert_eq!(from_parquet.columns, from_csv.columns);
        assert_eq!(from_parquet.data, from_csv.data);
        let broken = read_table(
            &parquet[..parquet.len() / 2],
            &ReadOptions {
                format: Some(Format::Parquet),
                ..Default::default()
            },
        );
        assert!(matches!(broken, Err(FormatError::Parquet(_))), "{broken:?}");
    }
    use super::*;

    fn read(text: &str, options: ReadOptions) -> Result<Table, FormatError> {
        read_table(text.as_bytes(), &options)
    }

    #[test]
    fn csv_with_and_without_header() {
        let t = read("a,b\n1,2\n3,4\n", ReadOptions::default()).unwrap();
        assert_eq!(t.columns, vec!["a", "b"]);
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read("1,2\n3,4\n", ReadOptions::default()).unwrap();
        assert_eq!(t.columns, vec!["f0", "f1"]);
        assert_eq!(t.data.nrows(), 2);
    }

    #[test]
    fn non_numeric_column_is_named_unless_ignored() {
        let err = read("id,x\nabc,1\ndef,2\n", ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("column `id` is not numeric"),
            "{err}"
        );
        let t = read(
            "id,x\nabc,1\ndef,2\n",
            ReadOptions {
                ignore_columns: vec!["id".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.columns, vec!["x"]);
    }

    #[test]
    fn column_selection_and_unknown_column() {
        let t = read(
            "a,b,c\n1,2,3\n",
            ReadOptions {
                columns: Some(vec!["c".into(), "a".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data, ndarray::array![[3.0, 1.0]]);
        let err = read(
            "a,b\n1,2\n",
            ReadOptions {
                ignore_columns: vec!["z".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "no column named `z`; columns are: a, b");
    }

    #[test]
    fn missing_value_policies() {
        let text = "a,b\n1,2\n,4\n5,NA\n";
        let err = read(text, ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::Missing {
                column: "a".into(),
                row: 2
            }
        );
        let t = read(
            text,
            ReadOptions {
                missing: MissingPolicy::Drop,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.source_rows, vec![0]);
        assert_eq!(t.input_rows, 3);
        let t = read(
            text,
            ReadOptions {
                missing: MissingPolicy::Mean,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 3.0]]);
        let t = read(
            "a\n1\n\n2\n10\nNaN\n",
            ReadOptions {
                missing: MissingPolicy::Median,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data.column(0).to_vec(), vec![1.0, 2.0, 10.0, 2.0]);
    }

    #[test]
    fn ragged_and_malformed_rows() {
        let err = read("a,b\n1,2\n3\n", ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::RaggedRow {
                row: 2,
                expected: 2,
                got: 1
            }
        );
        let err = read("[[1,2],[3", ReadOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("malformed JSON"), "{err}");
        let err = read("a\ninf\n", ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not a finite number"), "{err}");
    }

    #[test]
    fn a_repeated_column_name_is_an_error() {
        let err = read("a,b,a\n1,2,3\n", ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::DuplicateColumn {
                name: "a".into(),
                first: 1,
                second: 3
            }
        );
        // Even when ignored: which of the two was meant is unknown.
        let options = ReadOptions {
            ignore_columns: vec!["a".into()],
            ..ReadOptions::default()
        };
        assert!(matches!(
            read("a,b,a\n1,2,3\n", options),
            Err(FormatError::DuplicateColumn { .. })
        ));
    }

    #[test]
    fn json_shapes() {
        let t = read("[[1, 2], [3, 4]]", ReadOptions::default()).unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read(
            r#"[{"x": 1, "y": 2}, {"y": 4, "x": 3}]"#,
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.columns, vec!["x", "y"]);
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read(r#"{"x": [1, 3], "y": [2, 4]}"#, ReadOptions::default()).unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let err = read(r#"[{"x": 1}, {"x": "high"}]"#, ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("row 2 has \"high\""), "{err}");
        let err = read(r#"[{"x": 1}, {"y": 2}]"#, ReadOptions::default()).unwrap_err();
        assert!(matches!(err, FormatError::Missing { .. }));
    }

    #[test]
    fn ndjson_lines() {
        let t = read(
            "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": 3}\n",
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.data.column(0).to_vec(), vec![1.0, 2.0, 3.0]);
        let err = read_table(
            b"{\"a\": 1}\n{\"a\": }\n",
            &ReadOptions {
                format: Some(Format::Ndjson),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn label_column_is_taken_out() {
        let t = read(
            "f0,f1,label\n1,2,0\n3,4,1\n",
            ReadOptions {
                label_column: Some("label".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.columns, vec!["f0", "f1"]);
        assert_eq!(t.labels, Some(vec![0.0, 1.0]));
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(
            read("", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
        assert_eq!(
            read("a,b\n", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
        assert_eq!(
            read("[]", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
    }
}
