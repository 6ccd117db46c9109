//! Stored models: train once (`POST /api/v1/models`), score many times
//! (`POST /api/v1/models/{id}/predict`). `{id}` is a model's id or its name; models live
//! in the [`ModelRepository`] the CLI shares.

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use pynomaly_detection::{Model, Threshold};
use serde_json::Value;

use super::detect::DetectRequest;
use super::detect::{DetectResponse, blocking, body, parse_request, score_options};
use super::doors::RowsDoor;
use super::error::Problem;
use super::{AppError, AppState, Tenant};
use crate::models::{ModelRepository, ModelSummary, OnNameTaken};
use crate::scoring;

fn repository(state: &AppState) -> ModelRepository {
    ModelRepository::new(state.store.clone())
}

pub(super) async fn load(state: &AppState, tenant: &Tenant, id: &str) -> Result<Model, AppError> {
    Ok(repository(state).load(&tenant.0, id).await?)
}

/// What the API shows of a model: its stored identity and what it learnt.
fn summary(stored: &ModelSummary, details: Value) -> Value {
    let mut body = details;
    body["id"] = stored.id.clone().into();
    body["name"] = stored.name.clone().into();
    body["created_at"] = stored.created_at.into();
    body
}

fn details(model: &Model) -> Value {
    serde_json::json!({
        "algorithm": model.algorithm(),
        "parameters": model.params,
        "features": model.feature_names,
        "training_rows": model.training.rows,
        "auto_threshold": model.threshold(Threshold::Auto).ok(),
        "format_version": pynomaly_detection::model::FORMAT_VERSION,
    })
}

/// Fit a model on the rows and store it; 201 with the new id. Takes every body that
/// `POST /api/v1/detect` takes (JSON, or CSV with the options in the query string).
#[utoipa::path(post, path = "/api/v1/models", tag = "models",
    request_body(content = DetectRequest, description = "JSON, or a text/csv, application/x-ndjson or application/vnd.apache.parquet body with options in the query string"),
    responses((status = 201, description = "created; Location names the model"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, AppError> {
    let bytes = body(raw, state.limits)?;
    let (request, table) = parse_request(
        &headers,
        &query,
        &bytes,
        state.limits,
        None,
        RowsDoor::CreateModel,
    )?;
    let params =
        scoring::algorithm_params(request.algorithm.as_deref(), request.parameters.clone())?;
    let seed = request.seed.unwrap_or(scoring::DEFAULT_SEED);
    let budget = state.limits.budget;
    if let Some(name) = &request.name {
        crate::models::validate_name(name)?;
    }
    let model = blocking(&state, move || {
        Ok(scoring::fit(&params, &table, seed, budget)?)
    })
    .await?;
    let taken = if request.new_version.unwrap_or(false) {
        OnNameTaken::NewVersion
    } else {
        OnNameTaken::Refuse
    };
    // Described before it moves into the store: a neighbour model holds its training
    // rows, and a clone of it only to answer would double what the request costs.
    let described = details(&model);
    let stored = repository(&state)
        .save(&tenant.0, request.name.as_deref(), model, taken)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/models/{}", stored.id))],
        Json(summary(&stored, described)),
    ))
}

/// The tenant's models.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", responses((status = 200, description = "ok"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<Value>, AppError> {
    let models = repository(&state).list(&tenant.0).await?;
    Ok(Json(serde_json::json!({"models": models})))
}

/// One model.
#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "models", params(("id" = String, Path)), responses((status = 200, description = "ok"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn show(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let stored = repository(&state).summary(&tenant.0, &id).await?;
    let model = load(&state, &tenant, &stored.id).await?;
    Ok(Json(summary(&stored, details(&model))))
}

/// Delete a model.
#[utoipa::path(delete, path = "/api/v1/models/{id}", tag = "models", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    repository(&state).delete(&tenant.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Score rows with a stored model (no refit).
#[utoipa::path(post, path = "/api/v1/models/{id}/predict", tag = "models", params(("id" = String, Path)), request_body = DetectRequest,
    responses((status = 200, body = DetectResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn predict(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DetectResponse>, AppError> {
    let started = Instant::now();
    let model = load(&state, &tenant, &id).await?;
    let bytes = body(raw, state.limits)?;
    // The model's trained columns, by name in any order; other columns are left alone.
    let (request, table) = parse_request(
        &headers,
        &query,
        &bytes,
        state.limits,
        Some(&model),
        RowsDoor::Predict,
    )?;
    let options = score_options(&request, false)?;
    let response = blocking(&state, move || {
        let detection = scoring::score(&model, &table, options)?;
        Ok(DetectResponse::new(
            model.algorithm(),
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
