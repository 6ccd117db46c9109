//! The scoring use cases, the one path every door (CLI, HTTP, jobs, the drop folder and
//! its chunks) takes from a request to results: reading input for a fit or for a model,
//! the threshold policy, the default algorithm and seed, the cost check before any fit,
//! and fitting or scoring. A door translates its transport into these calls and the
//! errors back into its own words (a flag, a JSON field, a job's reason); it adds no
//! policy of its own.

use pynomaly_detection::{
    AlgorithmParams, Budget, Detection, DetectionError, Model, OverBudget, ScoreOptions, Threshold,
};

use crate::formats::{
    FormatError, ReadOptions, Table, TrainingFill, read_table, table_from_json_rows,
};

/// The algorithm used when none is named.
pub const DEFAULT_ALGORITHM: &str = "auto";
pub use pynomaly_detection::DEFAULT_SEED;

/// What one synchronous request may cost: 1 GiB of working memory and about 30 s of one
/// core's work (≈ 3·10¹⁰ operations).
pub const REQUEST_BUDGET: Budget = Budget {
    memory_bytes: Some(1 << 30),
    work: Some(30_000_000_000),
};

/// What one queued job may cost: 4 GiB and about 30 minutes of one core's work.
pub const JOB_BUDGET: Budget = Budget {
    memory_bytes: Some(4 << 30),
    work: Some(2_000_000_000_000),
};

/// What a run on this machine may cost: the memory it has available now (no work limit;
/// the user is waiting at a terminal and can stop it).
pub fn machine_budget() -> Budget {
    Budget {
        memory_bytes: available_memory(),
        work: None,
    }
}

/// `MemAvailable` of `/proc/meminfo`, where there is one.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Why a scoring request cannot be done. Every variant is a rejection of the input, the
/// parameters or the model (permanent: retrying will not help).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScoringError {
    /// The input cannot be read.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The detector refused the parameters or the data.
    #[error(transparent)]
    Detection(#[from] DetectionError),
    /// Both a contamination and a threshold were given.
    #[error("give either a contamination or a threshold, not both")]
    ThresholdConflict,
    /// A request or job spec whose fields do not go together (the message names them).
    #[error("{0}")]
    Spec(String),
    /// A threshold that is neither `auto` nor a number.
    #[error("the threshold must be `auto` or a number, got `{0}`")]
    BadThreshold(String),
    /// The fit would cost more than the door allows.
    #[error("{}", over_budget_message(.algorithm, *.rows, *.columns, .over))]
    OverBudget {
        /// Algorithm.
        algorithm: &'static str,
        /// Rows of the input.
        rows: usize,
        /// Columns of the input.
        columns: usize,
        /// The limit exceeded.
        over: OverBudget,
    },
}

fn over_budget_message(algorithm: &str, rows: usize, columns: usize, over: &OverBudget) -> String {
    let what = match *over {
        OverBudget::Memory(needed, limit) => format!(
            "about {} MiB of memory, over the limit of {} MiB",
            needed / (1 << 20),
            limit / (1 << 20)
        ),
        OverBudget::Work(needed, limit) => format!(
            "about {needed:.1e} operations, over the limit of {limit:.1e}",
            needed = needed as f64,
            limit = limit as f64
        ),
    };
    format!(
        "{algorithm} on {rows} rows x {columns} columns would need {what}; use fewer columns \
         or another algorithm (ecod, copod, hbos and iforest grow linearly with the columns)"
    )
}

/// A threshold as a user writes it: `auto` or a number.
pub fn parse_threshold(text: &str) -> Result<Threshold, ScoringError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Threshold::Auto);
    }
    text.parse::<f64>()
        .map(Threshold::Score)
        .map_err(|_| ScoringError::BadThreshold(text.to_string()))
}

/// The threshold rule from an optional contamination and an optional threshold (the one
/// policy of every door): both given is an error; neither is [`Threshold::Auto`]. The
/// value is validated.
pub fn threshold_rule(
    contamination: Option<f64>,
    threshold: Option<Threshold>,
) -> Result<Threshold, ScoringError> {
    let rule = match (contamination, threshold) {
        (Some(_), Some(_)) => return Err(ScoringError::ThresholdConflict),
        (Some(c), None) => Threshold::Contamination(c),
        (None, Some(t)) => t,
        (None, None) => Threshold::Auto,
    };
    rule.validate()?;
    Ok(rule)
}

/// Parameters for `algorithm` (the default when `None`) with `parameters`, validated.
pub fn algorithm_params(
    algorithm: Option<&str>,
    parameters: Option<serde_json::Value>,
) -> Result<AlgorithmParams, ScoringError> {
    Ok(AlgorithmParams::from_name(
        algorithm.unwrap_or(DEFAULT_ALGORITHM),
        parameters,
    )?)
}

/// Reads input to fit on.
pub fn read_for_fit(bytes: &[u8], options: &ReadOptions) -> Result<Table, ScoringError> {
    Ok(read_table(bytes, options)?)
}

/// The missing-value policy a request field or job spec names (`None`: `error`), or the
/// message naming the `missing` field.
pub fn missing_policy(text: Option<&str>) -> Result<crate::formats::MissingPolicy, String> {
    match text {
        None => Ok(crate::formats::MissingPolicy::Error),
        Some(text) => text
            .parse()
            .map_err(|_| format!("`missing` must be error, drop, mean or median, got `{text}`")),
    }
}

/// Read options for scoring with `model`: its trained columns, by name (or by position
/// for unnamed columns); other columns are left alone; `mean`/`median` fill gaps with
/// the model's training statistics.
pub fn model_read_options(model: &Model, options: &ReadOptions) -> ReadOptions {
    ReadOptions {
        model_columns: Some(model.feature_names.clone()),
        training_fill: Some(TrainingFill {
            means: model.training.feature_means.clone(),
            medians: model.training.feature_medians.clone(),
        }),
        ..options.clone()
    }
}

/// Reads input for `model` to score (see [`model_read_options`]).
pub fn read_for_model(
    bytes: &[u8],
    model: &Model,
    options: &ReadOptions,
) -> Result<Table, ScoringError> {
    Ok(read_table(bytes, &model_read_options(model, options))?)
}

/// Parsed JSON rows for `model` to score (see [`model_read_options`]).
pub fn json_rows_for_model(
    rows: &[serde_json::Value],
    model: &Model,
    options: &ReadOptions,
) -> Result<Table, ScoringError> {
    Ok(table_from_json_rows(
        rows,
        &model_read_options(model, options),
    )?)
}

/// Checks that fitting `params` on `table` stays within `budget`.
pub fn check_cost(
    params: &AlgorithmParams,
    table: &Table,
    budget: Budget,
) -> Result<(), ScoringError> {
    let (rows, columns) = table.data.dim();
    match budget.check(params.cost(rows, columns)) {
        Some(over) => Err(ScoringError::OverBudget {
            algorithm: params.name(),
            rows,
            columns,
            over,
        }),
        None => Ok(()),
    }
}

/// Fits a model on `table` (after the cost check).
pub fn fit(
    params: &AlgorithmParams,
    table: &Table,
    seed: u64,
    budget: Budget,
) -> Result<Model, ScoringError> {
    check_cost(params, table, budget)?;
    let (model, _) = Model::fit(params, table.data.view(), table.columns.clone(), seed)?;
    Ok(model)
}

/// Fits on `table` and scores those same rows (PyOD's unsupervised protocol), after the
/// cost check.
pub fn detect(
    params: &AlgorithmParams,
    table: &Table,
    seed: u64,
    options: ScoreOptions,
    budget: Budget,
) -> Result<(Model, Detection), ScoringError> {
    check_cost(params, table, budget)?;
    Ok(Model::detect(
        params,
        table.data.view(),
        table.columns.clone(),
        seed,
        options,
    )?)
}

/// Scores `table` (read with [`read_for_model`] or [`json_rows_for_model`]) with `model`,
/// without refitting.
pub fn score(
    model: &Model,
    table: &Table,
    options: ScoreOptions,
) -> Result<Detection, ScoringError> {
    Ok(model.evaluate(table.data.view(), options)?)
}

/// Results CSV (`row,score,grade,anomaly`) of a detection, as every door writes it.
pub fn results_csv(table: &Table, detection: &Detection) -> Vec<u8> {
    let mut out = Vec::with_capacity(detection.scores.len() * 32);
    // Writing to memory cannot fail.
    let _ = crate::results::write_results(
        &mut out,
        crate::results::OutputFormat::Csv,
        table,
        detection,
        false,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str, options: &ReadOptions) -> Table {
        read_table(csv.as_bytes(), options).unwrap()
    }

    fn trained() -> Model {
        let csv: String = std::iter::once("a,b\n".to_string())
            .chain((0..60).map(|i| format!("{},{}\n", i % 7, 100 + i % 5)))
            .collect();
        let params = algorithm_params(Some("knn"), None).unwrap();
        fit(
            &params,
            &table(&csv, &ReadOptions::default()),
            DEFAULT_SEED,
            REQUEST_BUDGET,
        )
        .unwrap()
    }

    #[test]
    fn a_model_reads_its_columns_by_name_whatever_the_order_and_extras() {
        let model = trained();
        let options = ScoreOptions::default();
        let straight =
            read_for_model(b"a,b\n3,101\n40,100\n", &model, &ReadOptions::default()).unwrap();
        let shuffled = read_for_model(
            b"host,b,a\nweb1,101,3\nweb2,100,40\n",
            &model,
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(shuffled.columns, vec!["a", "b"]);
        assert_eq!(
            score(&model, &straight, options).unwrap().scores,
            score(&model, &shuffled, options).unwrap().scores
        );
        // Unnamed columns are taken by position, and must be as many as the model's.
        let unnamed = read_for_model(b"3,101\n40,100\n", &model, &ReadOptions::default()).unwrap();
        assert_eq!(unnamed.data, straight.data);
        let err = read_for_model(b"3,101,7\n", &model, &ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("3 unnamed columns"), "{err}");
        // A trained column the input lacks is named.
        let err = read_for_model(b"a,c\n1,2\n", &model, &ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("trained on column `b`, which the input lacks"),
            "{err}"
        );
        // JSON records with an extra text field are fine too.
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"host": "x", "b": 101, "a": 3}, {"b": 100, "a": 40, "host": "y"}]"#,
        )
        .unwrap();
        let records = json_rows_for_model(&rows, &model, &ReadOptions::default()).unwrap();
        assert_eq!(records.data, straight.data);
    }

    #[test]
    fn one_threshold_policy() {
        assert_eq!(threshold_rule(None, None), Ok(Threshold::Auto));
        assert_eq!(
            threshold_rule(Some(0.1), None),
            Ok(Threshold::Contamination(0.1))
        );
        assert_eq!(
            threshold_rule(Some(0.1), Some(Threshold::Score(2.0))),
            Err(ScoringError::ThresholdConflict)
        );
        assert!(matches!(
            threshold_rule(Some(0.9), None),
            Err(ScoringError::Detection(_))
        ));
        assert_eq!(parse_threshold(" AUTO "), Ok(Threshold::Auto));
        assert_eq!(parse_threshold("2.5"), Ok(Threshold::Score(2.5)));
        assert_eq!(
            parse_threshold("high"),
            Err(ScoringError::BadThreshold("high".into()))
        );
    }

    #[test]
    fn a_wide_input_is_refused_before_any_allocation() {
        // Two rows of 100,000 columns: PCA would allocate an 80 GB covariance matrix.
        let mut csv = String::new();
        for row in 0..2 {
            let values: Vec<String> = (0..100_000).map(|j| ((j + row) % 10).to_string()).collect();
            csv.push_str(&values.join(","));
            csv.push('\n');
        }
        let wide = table(&csv, &ReadOptions::default());
        for name in ["pca", "lof", "knn", "ensemble", "rcf"] {
            let params = algorithm_params(Some(name), None).unwrap();
            let err = detect(
                &params,
                &wide,
                DEFAULT_SEED,
                ScoreOptions::default(),
                REQUEST_BUDGET,
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ScoringError::OverBudget {
                        columns: 100_000,
                        ..
                    }
                ),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("use fewer columns"), "{err}");
        }
    }
}
