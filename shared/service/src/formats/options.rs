//! What to read and how: the input format, the missing-value policy and the read options.

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
                let first_closes = serde_json::from_str::<serde_json::Value>(first).is_ok();
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
    /// Replace with the column mean: the training mean when a model scores the rows,
    /// else the mean of the present values.
    Mean,
    /// Replace with the column median: the training median when a model scores the
    /// rows, else the median of the present values.
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
    /// What the model learnt of its features, one value per `model_columns` entry: the
    /// `mean` and `median` policies fill a gap with these instead of statistics of the
    /// batch being scored (a one-row batch has none).
    pub training_fill: Option<TrainingFill>,
    /// Columns carried into the results as text (a timestamp, a host), whatever they
    /// hold; they may also be features.
    pub keep: Vec<String>,
}

/// The fields of a result row, which a `keep` column cannot be named (the results
/// would have two fields of one name).
pub const RESULT_FIELDS: &[&str] = &["row", "score", "grade", "anomaly", "explanation"];

/// A model's per-feature training statistics, for filling missing values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingFill {
    /// Training mean of each feature.
    pub means: Vec<f64>,
    /// Training median of each feature.
    pub medians: Vec<f64>,
}
