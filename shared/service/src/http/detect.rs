//! Detection handlers and the request/response shapes they share with the models API.

use std::collections::HashMap;
use std::time::Instant;

use crate::scoring;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use pynomaly_detection::timeseries::{METHODS, SeriesMethod, SeriesSettings};
use pynomaly_detection::{
    ALGORITHMS, AlgorithmParams, Detection, FeatureContribution, Model, ScoreOptions, Threshold,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::doors::RowsDoor;
use super::error::Problem;
use super::{AppError, AppState, Limits};
use crate::formats::{Format, ReadOptions, Table, read_table, table_from_json_rows};

/// A threshold given as `"auto"` or a number.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum ThresholdValue {
    Number(f64),
    Text(String),
}

/// A count or seed: JSON Schema calls `63.0` an integer, and so does this (serde's own
/// integers refuse it).
fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..u64::MAX as f64).contains(f))
                .map(|f| f as u64)
        })
        .and_then(|whole| T::try_from(whole).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number from 0, got {number}")))
}

/// Body of detect / ensemble / explain / predict / model creation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DetectRequest {
    /// Algorithm name or alias (default auto).
    pub algorithm: Option<String>,
    /// Ensemble members by name (ensemble endpoint).
    pub algorithms: Option<Vec<String>>,
    /// Ensemble combination (ensemble endpoint).
    pub combination: Option<String>,
    /// Rows as arrays of numbers.
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub data: Option<Vec<Value>>,
    /// Rows as objects (feature name → number).
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<Value>>,
    /// Algorithm parameters (see /api/v1/algorithms).
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    pub contamination: Option<f64>,
    pub threshold: Option<ThresholdValue>,
    pub explain: Option<bool>,
    #[serde(default, deserialize_with = "whole_number")]
    pub top_features: Option<usize>,
    #[serde(default, deserialize_with = "whole_number")]
    pub seed: Option<u64>,
    pub columns: Option<Vec<String>>,
    pub ignore_columns: Option<Vec<String>>,
    /// Columns carried into each anomaly as text (e.g. a timestamp or host), by name.
    pub keep: Option<Vec<String>>,
    /// Missing values: `error` (default, names row and column), `drop`, `mean` or `median`
    /// (with a model: its training mean or median).
    pub missing: Option<String>,
    /// A name for a stored model (models endpoint); unique per tenant.
    pub name: Option<String>,
    /// With `name` taken: store a new version under it instead of answering 409.
    pub new_version: Option<bool>,
}

impl DetectRequest {
    /// The fields the request sets.
    pub(super) fn given(&self) -> Vec<&'static str> {
        let set = [
            ("algorithm", self.algorithm.is_some()),
            ("algorithms", self.algorithms.is_some()),
            ("combination", self.combination.is_some()),
            ("data", self.data.is_some()),
            ("records", self.records.is_some()),
            ("parameters", self.parameters.is_some()),
            ("contamination", self.contamination.is_some()),
            ("threshold", self.threshold.is_some()),
            ("explain", self.explain.is_some()),
            ("top_features", self.top_features.is_some()),
            ("seed", self.seed.is_some()),
            ("columns", self.columns.is_some()),
            ("ignore_columns", self.ignore_columns.is_some()),
            ("keep", self.keep.is_some()),
            ("missing", self.missing.is_some()),
            ("name", self.name.is_some()),
            ("new_version", self.new_version.is_some()),
        ];
        set.into_iter()
            .filter_map(|(name, given)| given.then_some(name))
            .collect()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct AnomalyOut {
    /// The input row, counted from 0 (as in errors and job results).
    index: usize,
    score: f64,
    grade: f64,
    /// The `keep` columns of the row, by name.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    kept: serde_json::Map<String, Value>,
    /// Top features: `feature`, `index`, `value`, `contribution`, `share`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    explanation: Option<Vec<FeatureContribution>>,
    /// With `auto` (and `max` ensembles): the member detector that scored the row
    /// highest, whose contributions `explanation` lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    detector: Option<String>,
}

/// Response of detect / ensemble / explain / predict.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DetectResponse {
    algorithm: String,
    pub(super) total_samples: usize,
    pub(super) anomalies_detected: usize,
    anomaly_rate: f64,
    threshold: f64,
    /// One per input row, in input order; `null` for a row dropped for missing values.
    scores: Vec<Option<f64>>,
    /// One per input row, like `scores`.
    grades: Vec<Option<f64>>,
    anomalies: Vec<AnomalyOut>,
    /// Input rows left out for missing values (`missing: drop`), counted from 0.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dropped_rows: Vec<usize>,
    processing_time_ms: f64,
}

impl DetectResponse {
    /// The response for `detection` of the rows of `table`: rows numbered as in the
    /// input, `keep` columns carried into the anomalies.
    pub(super) fn new(
        algorithm: &str,
        table: &Table,
        detection: Detection,
        started: Instant,
    ) -> Self {
        let mut explanations: HashMap<usize, (Vec<FeatureContribution>, Option<String>)> =
            detection
                .explanations
                .into_iter()
                .map(|e| (e.row, (e.top_features, e.detector)))
                .collect();
        let anomalies: Vec<AnomalyOut> = (0..detection.scores.len())
            .filter(|&k| detection.anomalies[k])
            .map(|k| {
                let row = table.source_rows[k];
                let (explanation, detector) = explanations.remove(&k).unzip();
                AnomalyOut {
                    index: row,
                    score: detection.scores[k],
                    grade: detection.grades[k],
                    kept: table
                        .kept
                        .iter()
                        .map(|c| (c.name.clone(), Value::String(c.values[row].clone())))
                        .collect(),
                    explanation,
                    detector: detector.flatten(),
                }
            })
            .collect();
        let total = detection.scores.len();
        let mut scores = vec![None; table.input_rows];
        let mut grades = vec![None; table.input_rows];
        for (k, &row) in table.source_rows.iter().enumerate() {
            scores[row] = Some(detection.scores[k]);
            grades[row] = Some(detection.grades[k]);
        }
        let dropped_rows = (0..table.input_rows)
            .filter(|&row| scores[row].is_none())
            .collect();
        Self {
            algorithm: algorithm.to_string(),
            total_samples: total,
            anomalies_detected: anomalies.len(),
            anomaly_rate: anomalies.len() as f64 / total.max(1) as f64,
            threshold: detection.threshold,
            scores,
            grades,
            anomalies,
            dropped_rows,
            processing_time_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

/// A JSON object body as `T`. An array is refused although serde would read a struct
/// from one (fields by position): the API's bodies are objects with named fields.
pub(super) fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(AppError::bad_request(
            "the JSON body is an array; send an object with named fields",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::bad_request(format!("malformed JSON body: {e}")))
}

/// Turns a body-extraction failure into a problem (413 for an oversize body).
pub(super) fn body(body: Result<Bytes, BytesRejection>, limits: Limits) -> Result<Bytes, AppError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::too_large(format!(
                "the request body is over the {} byte limit",
                limits.body_bytes
            ))
        } else {
            AppError::bad_request(format!("cannot read the request body: {rejection}"))
        }
    })
}

pub(super) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a JSON request body, or a CSV body with the options in the query string, into
/// the request and its table: for `model` to score when given (its trained columns, by
/// name), else to fit on.
pub(super) fn parse_request(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    bytes: &[u8],
    limits: Limits,
    model: Option<&Model>,
    door: RowsDoor,
) -> Result<(DetectRequest, Table), AppError> {
    match content_type(headers).as_str() {
        "application/json" | "" => {
            if let Some(name) = sorted_keys(query).first() {
                return Err(AppError::bad_request(format!(
                    "query parameter `{name}` is not read with a JSON body; put it in the body as a field"
                )));
            }
            let request: DetectRequest = json_object(bytes)?;
            door.check(&request)?;
            let table = request_table(&request, limits, model)?;
            Ok((request, table))
        }
        kind @ ("text/csv"
        | "application/csv"
        | "application/x-ndjson"
        | "application/ndjson"
        | "application/vnd.apache.parquet") => {
            let request = request_from_query(query, door)?;
            let format = if kind.ends_with("ndjson") {
                Format::Ndjson
            } else if kind.ends_with("parquet") {
                Format::Parquet
            } else {
                Format::Csv
            };
            let delimiter = match query.get("delimiter").map(String::as_str) {
                None => None,
                Some(",") => Some(b','),
                Some(";") => Some(b';'),
                Some("tab" | "\t") => Some(b'\t'),
                Some("|") => Some(b'|'),
                Some(other) => {
                    return Err(AppError::bad_request(format!(
                        "query parameter `delimiter` must be , ; tab or |, got `{other}`"
                    )));
                }
            };
            let options = ReadOptions {
                format: Some(format),
                delimiter,
                ..read_options(&request)?
            };
            let table = match model {
                Some(model) => scoring::read_for_model(bytes, model, &options)?,
                None => read_table(bytes, &options)?,
            };
            check_rows(table.data.nrows(), limits)?;
            Ok((request, table))
        }
        other => Err(AppError::unsupported_media_type(format!(
            "content type `{other}` is not supported; send application/json, text/csv, application/x-ndjson or application/vnd.apache.parquet"
        ))),
    }
}

fn sorted_keys(query: &HashMap<String, String>) -> Vec<&str> {
    let mut keys: Vec<&str> = query.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn request_from_query(
    query: &HashMap<String, String>,
    door: RowsDoor,
) -> Result<DetectRequest, AppError> {
    let known = door.query_parameters();
    if let Some(unknown) = sorted_keys(query).into_iter().find(|k| !known.contains(k)) {
        return Err(AppError::bad_request(format!(
            "query parameter `{unknown}` is not read by {}; it reads: {}",
            door.path(),
            known.join(", ")
        )));
    }
    let number = |key: &str| -> Result<Option<f64>, AppError> {
        query
            .get(key)
            .map(|v| {
                v.parse::<f64>().map_err(|_| {
                    AppError::bad_request(format!(
                        "query parameter `{key}` must be a number, got `{v}`"
                    ))
                })
            })
            .transpose()
    };
    let list = |key: &str| {
        query
            .get(key)
            .map(|v| v.split(',').map(str::to_string).collect())
    };
    Ok(DetectRequest {
        algorithm: query.get("algorithm").cloned(),
        contamination: number("contamination")?,
        threshold: query.get("threshold").map(|t| match t.parse::<f64>() {
            Ok(v) => ThresholdValue::Number(v),
            Err(_) => ThresholdValue::Text(t.clone()),
        }),
        explain: query
            .get("explain")
            .map(|v| match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(AppError::bad_request(format!(
                    "query parameter `explain` must be true or false, got `{other}`"
                ))),
            })
            .transpose()?,
        top_features: number("top_features")?.map(|v| v as usize),
        seed: number("seed")?.map(|v| v as u64),
        columns: list("columns"),
        ignore_columns: list("ignore_columns"),
        keep: list("keep"),
        missing: query.get("missing").cloned(),
        name: query.get("name").cloned(),
        new_version: query.get("new_version").map(|v| v == "true" || v == "1"),
        parameters: query
            .get("parameters")
            .map(|p| {
                serde_json::from_str(p).map_err(|e| {
                    AppError::bad_request(format!("query parameter `parameters` is not JSON: {e}"))
                })
            })
            .transpose()?,
        ..Default::default()
    })
}

fn check_rows(rows: usize, limits: Limits) -> Result<(), AppError> {
    if rows > limits.rows {
        return Err(AppError::too_large(format!(
            "{rows} rows is over the {} row limit of one request",
            limits.rows
        )));
    }
    Ok(())
}

/// Read options from the request's `columns`, `ignore_columns` and `missing`.
fn read_options(request: &DetectRequest) -> Result<ReadOptions, AppError> {
    let missing =
        scoring::missing_policy(request.missing.as_deref()).map_err(AppError::bad_request)?;
    Ok(ReadOptions {
        columns: request.columns.clone(),
        ignore_columns: request.ignore_columns.clone().unwrap_or_default(),
        keep: request.keep.clone().unwrap_or_default(),
        missing,
        ..Default::default()
    })
}

/// The request's `data` (array of arrays) or `records` (array of objects) as a table:
/// for `model` to score when given, else to fit on.
pub(super) fn request_table(
    request: &DetectRequest,
    limits: Limits,
    model: Option<&Model>,
) -> Result<Table, AppError> {
    let rows = match (&request.data, &request.records) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
                "give either `data` or `records`, not both",
            ));
        }
        (Some(d), None) => d,
        (None, Some(r)) => r,
        (None, None) => {
            return Err(AppError::bad_request(
                "the body needs `data` (array of rows) or `records` (array of objects)",
            ));
        }
    };
    check_rows(rows.len(), limits)?;
    let options = read_options(request)?;
    Ok(match model {
        Some(model) => scoring::json_rows_for_model(rows, model, &options)?,
        None => table_from_json_rows(rows, &options)?,
    })
}

/// Score options from the request.
pub(super) fn score_options(
    request: &DetectRequest,
    explain_default: bool,
) -> Result<ScoreOptions, AppError> {
    let threshold = match &request.threshold {
        None => None,
        Some(ThresholdValue::Number(t)) => Some(Threshold::Score(*t)),
        Some(ThresholdValue::Text(t)) => Some(scoring::parse_threshold(t)?),
    };
    let threshold = scoring::threshold_rule(request.contamination, threshold)?;
    let top = request.top_features.unwrap_or(3);
    if top == 0 {
        return Err(AppError::bad_request("`top_features` must be at least 1"));
    }
    Ok(ScoreOptions {
        threshold,
        explain_top: request.explain.unwrap_or(explain_default).then_some(top),
    })
}

/// Runs CPU-bound work off the async executor, one job per core at a time.
pub(super) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let permit = state
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| AppError::internal(format!("worker pool closed: {e}")))?;
    // The permit moves into the work: a client that disconnects drops this future, but
    // the computation runs on, and keeps its core's slot until it ends (it used to free
    // the slot at once, letting disconnected requests pile onto the cores).
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| AppError::internal(format!("worker failed: {e}")))?
}

async fn run_detect(
    state: AppState,
    headers: HeaderMap,
    query: HashMap<String, String>,
    raw: Result<Bytes, BytesRejection>,
    door: RowsDoor,
) -> Result<Json<DetectResponse>, AppError> {
    let started = Instant::now();
    let bytes = body(raw, state.limits)?;
    let (request, table) = parse_request(&headers, &query, &bytes, state.limits, None, door)?;
    let params = match door {
        RowsDoor::Ensemble => ensemble_params(&request)?,
        _ => scoring::algorithm_params(request.algorithm.as_deref(), request.parameters.clone())?,
    };
    let options = score_options(&request, door == RowsDoor::Explain)?;
    let seed = request.seed.unwrap_or(scoring::DEFAULT_SEED);
    let budget = state.limits.budget;
    let response = blocking(&state, move || {
        let (_, detection) = scoring::detect(&params, &table, seed, options, budget)?;
        Ok(DetectResponse::new(
            params.name(),
            &table,
            detection,
            started,
        ))
    })
    .await?;
    state
        .metrics
        .scored(response.total_samples, response.anomalies_detected);
    Ok(Json(response))
}

fn ensemble_params(request: &DetectRequest) -> Result<AlgorithmParams, AppError> {
    let mut parameters = request
        .parameters
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(names) = &request.algorithms {
        // `algorithms` is the ensemble's `members` by name.
        parameters["members"] = serde_json::json!(names);
    }
    if let Some(c) = &request.combination {
        parameters["combination"] = Value::String(c.clone());
    }
    Ok(AlgorithmParams::from_name("ensemble", Some(parameters))?)
}

/// Fit a detector on the rows and score them.
#[utoipa::path(post, path = "/api/v1/detect", tag = "detection",
    request_body(content = DetectRequest, description = "JSON, or a text/csv, application/x-ndjson or application/vnd.apache.parquet body with options in the query string"),
    responses((status = 200, body = DetectResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn detect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DetectResponse>, AppError> {
    run_detect(state, headers, query, raw, RowsDoor::Detect).await
}

/// Like detect, over several algorithms (`algorithms`, `combination`).
#[utoipa::path(post, path = "/api/v1/ensemble", tag = "detection", request_body = DetectRequest,
    responses((status = 200, body = DetectResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn ensemble(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DetectResponse>, AppError> {
    run_detect(state, headers, query, raw, RowsDoor::Ensemble).await
}

/// Like detect, with explanations on by default.
#[utoipa::path(post, path = "/api/v1/explain", tag = "detection", request_body = DetectRequest,
    responses((status = 200, body = DetectResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DetectResponse>, AppError> {
    run_detect(state, headers, query, raw, RowsDoor::Explain).await
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "alive")))]
pub(super) async fn health() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Storage is reachable.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "ready"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub(super) async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    // The dependency is named; its keys and error chain go to the log.
    let not_ready = |e: crate::storage::StoreError| {
        tracing::warn!(error = %e, "not ready");
        AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Not ready",
            detail: match e {
                crate::storage::StoreError::Unavailable { dependency, .. } => {
                    format!("{dependency} does not answer")
                }
                _ => "storage is not reachable".to_string(),
            },
        }
    };
    state.store.ready().await.map_err(not_ready)?;
    if let Some(jobs) = &state.jobs {
        jobs.metadata.ready().await.map_err(not_ready)?;
    }
    Ok(Json(serde_json::json!({"status": "ready"})))
}

/// Every algorithm and time-series method, with parameters and defaults.
#[utoipa::path(get, path = "/api/v1/algorithms", tag = "detection", responses((status = 200, description = "the catalogue")), security(("api_key" = [])))]
pub(super) async fn algorithms() -> Json<Value> {
    let tabular: Vec<Value> = ALGORITHMS
        .iter()
        .map(|a| {
            serde_json::json!({
                "name": a.name,
                "aliases": a.aliases,
                "description": a.description,
                "parameters": a.parameters.iter().map(|(name, default, range)| {
                    serde_json::json!({"name": name, "default": default, "range": range})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(serde_json::json!({"algorithms": tabular, "timeseries_methods": METHODS}))
}

/// Body of `POST /api/v1/timeseries/detect`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesRequest {
    /// context | forecast | changepoint | esd | rolling-z | rcf (default context).
    method: Option<String>,
    #[schema(value_type = Option<Object>)]
    parameters: Option<Value>,
    /// Values in time order.
    values: Vec<f64>,
    /// Optional timestamps, echoed back.
    #[schema(value_type = Option<Vec<String>>)]
    timestamps: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "whole_number")]
    period: Option<usize>,
    sensitivity: Option<f64>,
    #[serde(default, deserialize_with = "whole_number")]
    cooldown: Option<usize>,
}

/// Score every point of one series (values in time order).
#[utoipa::path(post, path = "/api/v1/timeseries/detect", tag = "timeseries", request_body = SeriesRequest,
    responses((status = 200, description = "points and changepoints"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn timeseries(
    State(state): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let started = Instant::now();
    let bytes = body(raw, state.limits)?;
    let request: SeriesRequest = json_object(&bytes)?;
    check_rows(request.values.len(), state.limits)?;
    if let Some(ts) = &request.timestamps
        && ts.len() != request.values.len()
    {
        return Err(AppError::unprocessable(format!(
            "{} `timestamps` for {} `values`: give one per value",
            ts.len(),
            request.values.len()
        )));
    }
    let method = SeriesMethod::from_name(
        request
            .method
            .as_deref()
            .unwrap_or(pynomaly_detection::timeseries::DEFAULT_METHOD),
        request.parameters.clone(),
    )?;
    let settings = SeriesSettings {
        period: request.period,
        sensitivity: request.sensitivity.unwrap_or(1.0),
        cooldown: request.cooldown,
    };
    let values = request.values;
    let (name, detection, values) = blocking(&state, move || {
        let d = method.detect(&values, settings)?;
        Ok((method.name(), d, values))
    })
    .await?;
    let finite = |v: f64| {
        if v.is_finite() {
            Value::from(v)
        } else {
            Value::Null
        }
    };
    let points: Vec<Value> = (0..values.len())
        .map(|i| {
            serde_json::json!({
                "index": i,
                "timestamp": request.timestamps.as_ref().map_or(Value::Null, |t| t[i].clone()),
                "value": values[i],
                "expected": finite(detection.expected[i]),
                "lower": finite(detection.lower[i]),
                "upper": finite(detection.upper[i]),
                "score": detection.scores[i],
                "grade": detection.grades[i],
                "anomaly": detection.anomalies[i],
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "method": name,
        "total_points": values.len(),
        "anomalies_detected": detection.anomalies.iter().filter(|a| **a).count(),
        "points": points,
        "changepoints": detection.changepoints,
        "processing_time_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}
