//! Why data could not be read. Messages say what is wrong; each door adds its own hint
//! (the CLI names its flags, HTTP its fields and query parameters).

/// Why data could not be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum FormatError {
    /// The CSV is malformed.
    #[error("malformed CSV at line {line}: {message}")]
    Csv {
        /// 1-based line of the file (as an editor counts, header included).
        line: usize,
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
        /// Data row, counted from 0 as in results (the header is not a row).
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
        /// Data row, counted from 0 as in results (the header is not a row).
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A value is infinite.
    #[error("column `{column}`, row {row}: value {value} is not a finite number")]
    NonFinite {
        /// Column name.
        column: String,
        /// Data row, counted from 0 as in results (the header is not a row).
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
        /// Data row, counted from 0 as in results (the header is not a row).
        row: usize,
        /// The value as text.
        value: String,
    },
    /// Rows repeat timestamps that a column separates: several series in one file.
    #[error(
        "{repeated} rows repeat another row's timestamp, and column `{column}` separates them into series that do not: the file looks like one series per `{column}`; name it as the entity column"
    )]
    MergedSeries {
        /// Rows whose timestamp repeats.
        repeated: usize,
        /// The column that separates them.
        column: String,
    },
    /// A value so large that the detectors' arithmetic (squared distances, covariances)
    /// would overflow and score it silently wrong.
    #[error(
        "column `{column}`, row {row}: value {value} is beyond ±1e100, where the detectors' arithmetic would overflow; rescale the column (e.g. divide it by a power of ten)"
    )]
    TooLarge {
        /// Column name.
        column: String,
        /// Data row, counted from 0 as in results (the header is not a row).
        row: usize,
        /// The value as text.
        value: String,
    },
    /// A value is missing and the policy is `error`.
    #[error("missing value in column `{column}` at row {row}")]
    Missing {
        /// Column name.
        column: String,
        /// Data row, counted from 0 as in results (the header is not a row).
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
    /// A `keep` column named like a field of the results.
    #[error(
        "column `{0}` cannot be kept: the results have a field of that name (row, score, grade, anomaly, explanation); rename the column"
    )]
    KeptResultField(String),
    /// Nothing to score.
    #[error("the input has no data rows")]
    NoRows,
    /// Every column was ignored.
    #[error("no feature columns are left to use")]
    NoColumns,
    /// A column has only missing values, so mean/median imputation cannot fill it.
    #[error("column `{0}` has no values to impute from")]
    EmptyColumn(String),
    /// The scoring model was saved before models recorded their training means and
    /// medians, so a gap cannot be filled from the training data.
    #[error(
        "the model holds no training mean or median for column `{0}` (it was saved by an older version); retrain it to fill missing values, or drop the rows with missing values"
    )]
    NoTrainingStatistics(String),
    /// The input is not UTF-8 text.
    #[error("the input is not UTF-8 text: {0}")]
    Encoding(String),
    /// The Parquet file cannot be read.
    #[error("unreadable Parquet: {0}")]
    Parquet(String),
}
