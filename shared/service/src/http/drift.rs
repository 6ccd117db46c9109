//! `POST /api/v1/drift` (two datasets in one JSON body) and `POST /api/v1/models/{id}/drift`
//! (new rows against the training distribution the model keeps), feature by feature
//! ([`crate::drift`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::detect::{blocking, body, json_object};
use super::error::Problem;
use super::{AppError, AppState, Tenant};
use crate::drift::{DriftError, DriftOptions, DriftReport, compare_inputs, compare_with_model};
use crate::formats::{Format, ReadOptions};

/// The body of `POST /api/v1/drift`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftRequest {
    /// The reference rows: arrays of numbers, or objects of column: value.
    #[schema(value_type = Vec<Object>)]
    pub reference: Value,
    /// The rows to check, the same shape (columns found by the reference's names).
    #[schema(value_type = Vec<Object>)]
    pub current: Value,
    /// Compare only these columns.
    pub columns: Option<Vec<String>>,
    /// Leave these columns out (ids, labels).
    #[serde(default)]
    pub ignore_columns: Vec<String>,
    /// Family-wise significance level (default 0.05; each feature is held to alpha /
    /// features).
    pub alpha: Option<f64>,
    /// Smallest PSI that counts as a shift (default 0.1).
    pub psi_threshold: Option<f64>,
}

/// The body of `POST /api/v1/models/{id}/drift`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelDriftRequest {
    /// The rows to check: arrays of numbers in the model's column order, or objects with
    /// its columns by name (others are left alone).
    #[schema(value_type = Vec<Object>)]
    pub current: Value,
    /// Family-wise significance level (default 0.05).
    pub alpha: Option<f64>,
    /// Smallest PSI that counts as a shift (default 0.1).
    pub psi_threshold: Option<f64>,
}

fn rows_of(name: &str, data: &Value, limit: usize) -> Result<Vec<u8>, AppError> {
    match data.as_array() {
        Some(a) if a.len() > limit => Err(AppError::too_large(format!(
            "`{name}` has {} rows, over the limit of {limit}",
            a.len()
        ))),
        Some(_) => Ok(serde_json::to_vec(data).unwrap_or_default()),
        None => Err(AppError::bad_request(format!(
            "`{name}` must be an array of rows (arrays of numbers or objects)"
        ))),
    }
}

/// Check new rows against the training distribution a model keeps (each feature's
/// quantiles): per feature the KS test and the PSI, the features that moved, a verdict.
#[utoipa::path(post, path = "/api/v1/models/{id}/drift", tag = "drift", operation_id = "model_drift",
    params(("id" = String, Path, description = "model id or name")),
    request_body = ModelDriftRequest,
    responses((status = 200, body = DriftReport), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn model_drift(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DriftReport>, AppError> {
    let model = super::models::load(&state, &tenant, &id).await?;
    let bytes = body(raw, state.limits)?;
    let request: ModelDriftRequest = json_object(&bytes)?;
    let current = rows_of("current", &request.current, state.limits.rows)?;
    let options = DriftOptions {
        alpha: request.alpha.unwrap_or(crate::drift::DEFAULT_ALPHA),
        psi_threshold: request
            .psi_threshold
            .unwrap_or(crate::drift::DEFAULT_PSI_THRESHOLD),
    };
    let read = ReadOptions {
        format: Some(Format::Json),
        ..Default::default()
    };
    let report = blocking(&state, move || {
        compare_with_model(&model, &current, &read, options).map_err(AppError::from)
    })
    .await?;
    Ok(Json(report))
}

impl From<DriftError> for AppError {
    fn from(e: DriftError) -> Self {
        match e {
            DriftError::Option { .. } => Self::unprocessable(e.to_string()),
            DriftError::Detection(e) => e.into(),
            DriftError::Reference(_) | DriftError::Current(_) => Self::unprocessable(e.to_string()),
        }
    }
}

/// Compare two datasets: per feature the KS statistic and exact p-value and the PSI, the
/// features that moved, and a verdict.
#[utoipa::path(post, path = "/api/v1/drift", tag = "drift", operation_id = "drift",
    request_body = DriftRequest,
    responses((status = 200, body = DriftReport), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn drift(
    State(state): State<AppState>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DriftReport>, AppError> {
    let bytes = body(raw, state.limits)?;
    let request: DriftRequest = json_object(&bytes)?;
    let reference = rows_of("reference", &request.reference, state.limits.rows)?;
    let current = rows_of("current", &request.current, state.limits.rows)?;
    let read = ReadOptions {
        format: Some(Format::Json),
        columns: request.columns.clone(),
        ignore_columns: request.ignore_columns.clone(),
        ..Default::default()
    };
    let options = DriftOptions {
        alpha: request.alpha.unwrap_or(crate::drift::DEFAULT_ALPHA),
        psi_threshold: request
            .psi_threshold
            .unwrap_or(crate::drift::DEFAULT_PSI_THRESHOLD),
    };
    let report = blocking(&state, move || {
        compare_inputs(&reference, &current, &read, options).map_err(AppError::from)
    })
    .await?;
    Ok(Json(report))
}
