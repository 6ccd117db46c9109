//! Streams over HTTP: `POST|GET /api/v1/streams`, `GET|DELETE /api/v1/streams/{id}`,
//! `POST /api/v1/streams/{id}/points` (JSON, NDJSON or CSV by `Content-Type`),
//! `GET /api/v1/streams/{id}/entities[/{entity}]` and
//! `POST /api/v1/streams/{id}/entities/{entity}/reset`. All of it is
//! [`crate::streams::Streams`]; this module only translates HTTP.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use super::detect::{body, content_type, json_object};
use super::error::Problem;
use super::{AppError, AppState, Tenant};
use crate::streams::points::PointsFormat;
use crate::streams::spec::CreateStream;
use crate::streams::{StreamError, Streams};

impl From<StreamError> for AppError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Invalid { .. } => Self::unprocessable(e.to_string()),
            StreamError::Detection(e) => e.into(),
            StreamError::Points(crate::streams::points::PointsError::Malformed { .. }) => {
                Self::bad_request(e.to_string())
            }
            StreamError::Points(crate::streams::points::PointsError::TooMany { .. }) => {
                Self::too_large(e.to_string())
            }
            StreamError::Points(_) => Self::unprocessable(e.to_string()),
            StreamError::NotFound(detail) => Self::not_found(detail),
            StreamError::State(_) => {
                tracing::error!(error = %e, "stream state unreadable");
                Self::internal(
                    "a stored stream state cannot be read; reset the entity (POST .../entities/{entity}/reset)",
                )
            }
            StreamError::Contended { .. } => Self {
                status: StatusCode::CONFLICT,
                title: "Conflict",
                detail: e.to_string(),
            },
            StreamError::Store(e) => e.into(),
        }
    }
}

fn streams(state: &AppState) -> Result<&Streams, AppError> {
    state.streams.as_deref().ok_or_else(|| {
        AppError::unavailable("streams are not configured on this server (no state store)")
    })
}

/// Create a stream; 201 with its id.
#[utoipa::path(post, path = "/api/v1/streams", operation_id = "create_stream", tag = "streams",
    request_body = CreateStream,
    responses((status = 201, description = "created; Location names the stream"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, AppError> {
    let bytes = body(raw, state.limits)?;
    let request: CreateStream = json_object(&bytes)?;
    let spec = streams(&state)?.create(&tenant.0, request).await?;
    let location = format!("/api/v1/streams/{}", spec.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(spec.to_json()),
    ))
}

/// The tenant's streams, newest first.
#[utoipa::path(get, path = "/api/v1/streams", operation_id = "list_streams", tag = "streams",
    responses((status = 200, description = "{\"streams\": [...]}")),
    security(("api_key" = [])))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<Value>, AppError> {
    let specs = streams(&state)?.list(&tenant.0).await?;
    let shown: Vec<Value> = specs.iter().map(|s| s.to_json()).collect();
    Ok(Json(serde_json::json!({ "streams": shown })))
}

/// One stream.
#[utoipa::path(get, path = "/api/v1/streams/{id}", operation_id = "show_stream", tag = "streams",
    params(("id" = String, Path, description = "stream id")),
    responses((status = 200, description = "the stream"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn show(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(streams(&state)?.get(&tenant.0, &id).await?.to_json()))
}

/// Delete a stream and every entity's state.
#[utoipa::path(delete, path = "/api/v1/streams/{id}", operation_id = "delete_stream", tag = "streams",
    params(("id" = String, Path, description = "stream id")),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    streams(&state)?.delete(&tenant.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Score points as they arrive, each against its entity's past, in the order sent.
#[utoipa::path(post, path = "/api/v1/streams/{id}/points", operation_id = "stream_points", tag = "streams",
    params(("id" = String, Path, description = "stream id")),
    request_body(content = Object, description = "{\"points\": [{\"entity\": \"web-1\", \"timestamp\": \"...\", \"value\": 1.2} | {\"entity\": ..., \"values\": {\"cpu\": .., \"lat\": ..}}]} as application/json; or the same objects one per line (application/x-ndjson); or text/csv with a header naming the fields"),
    responses((status = 200, description = "{\"points\": [{entity, timestamp, index, score, grade, anomaly, expected, lower, upper, field, late}], \"anomalies\": n, \"entities\": n}"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn points(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let bytes = body(raw, state.limits)?;
    let format = match content_type(&headers).as_str() {
        "application/json" | "" => PointsFormat::Json,
        "application/x-ndjson" | "application/ndjson" => PointsFormat::Ndjson,
        "text/csv" | "application/csv" => PointsFormat::Csv,
        other => {
            return Err(AppError::unsupported_media_type(format!(
                "Content-Type `{other}` is not read here: send application/json, application/x-ndjson or text/csv"
            )));
        }
    };
    let streams = streams(&state)?;
    let outcome = streams
        .push(&tenant.0, &id, &bytes, format, state.limits.rows)
        .await?;
    state
        .metrics
        .record_stream_points(&id, outcome.results.len(), outcome.anomalies);
    Ok(Json(serde_json::json!({
        "points": outcome.results,
        "anomalies": outcome.anomalies,
        "entities": outcome.entities,
    })))
}

/// Every entity of a stream: points seen, last point, anomalies, state size.
#[utoipa::path(get, path = "/api/v1/streams/{id}/entities", operation_id = "stream_entities", tag = "streams",
    params(("id" = String, Path, description = "stream id")),
    responses((status = 200, description = "{\"entities\": [...]}")),
    security(("api_key" = [])))]
pub(super) async fn entities(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let entities = streams(&state)?.entities(&tenant.0, &id).await?;
    Ok(Json(serde_json::json!({ "entities": entities })))
}

/// One entity of a stream.
#[utoipa::path(get, path = "/api/v1/streams/{id}/entities/{entity}", operation_id = "stream_entity", tag = "streams",
    params(("id" = String, Path, description = "stream id"), ("entity" = String, Path, description = "entity")),
    responses((status = 200, body = crate::streams::entity::EntitySummary), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn entity(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path((id, entity)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let summary = streams(&state)?.entity(&tenant.0, &id, &entity).await?;
    Ok(Json(serde_json::to_value(summary).unwrap_or(Value::Null)))
}

/// Start an entity afresh: its detectors forget what they learnt.
#[utoipa::path(post, path = "/api/v1/streams/{id}/entities/{entity}/reset", operation_id = "reset_stream_entity", tag = "streams",
    params(("id" = String, Path, description = "stream id"), ("entity" = String, Path, description = "entity")),
    responses((status = 200, body = crate::streams::entity::EntitySummary), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub(super) async fn reset(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path((id, entity)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let summary = streams(&state)?.reset(&tenant.0, &id, &entity).await?;
    Ok(Json(serde_json::to_value(summary).unwrap_or(Value::Null)))
}
