//! Uploads and jobs: large inputs go to object storage (`POST /api/v1/uploads`, then `PUT`
//! the bytes), then `POST /api/v1/jobs` queues the scoring; poll `GET /api/v1/jobs/{id}`
//! and fetch `GET /api/v1/jobs/{id}/results`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::detect::json_object;
use super::error::Problem;
use super::{AppError, AppState, Tenant};
use crate::jobs::{Job, JobMessage, JobSpec, JobState, QueueMessage};
use crate::storage::validate_key;

fn jobs(state: &AppState) -> Result<&super::JobsConfig, AppError> {
    state.jobs.as_ref().ok_or_else(|| AppError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Jobs unavailable",
        detail: "this server runs no job queue".into(),
    })
}

/// How long a presigned upload URL stays valid.
const UPLOAD_URL_SECONDS: u64 = 3600;

/// Body of `POST /api/v1/uploads`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadRequest {
    filename: Option<String>,
}

/// Where to `PUT` an input too large for one request.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "jobs", request_body(content = Option<UploadRequest>, description = "optional"), responses((status = 201, description = "object_key and upload_url")), security(("api_key" = [])))]
pub(super) async fn create_upload(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, AppError> {
    let bytes =
        raw.map_err(|e| AppError::bad_request(format!("cannot read the request body: {e}")))?;
    // The body is optional: none, `null` or `{}` all ask for a CSV upload.
    let request: UploadRequest = if bytes.is_empty() {
        UploadRequest::default()
    } else {
        json_object::<Option<UploadRequest>>(&bytes)?.unwrap_or_default()
    };
    let extension = request
        .filename
        .as_deref()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| matches!(ext.as_str(), "csv" | "json" | "ndjson" | "jsonl"))
        .unwrap_or_else(|| "csv".into());
    let name = format!("{}.{extension}", uuid::Uuid::new_v4());
    let api_url = format!("/api/v1/uploads/{name}");
    // Straight to the bucket when it can sign a URL: no request-size limit, no API hop.
    let presigned = state
        .store
        .presign_put(
            &format!("tenants/{}/uploads/{name}", tenant.0),
            std::time::Duration::from_secs(UPLOAD_URL_SECONDS),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "object_key": format!("uploads/{name}"),
            "upload_url": presigned.as_deref().unwrap_or(&api_url),
            "api_upload_url": api_url,
            "method": "PUT",
            "expires_in": presigned.is_some().then_some(UPLOAD_URL_SECONDS),
        })),
    ))
}

/// Store the bytes of an upload.
#[utoipa::path(put, path = "/api/v1/uploads/{name}", tag = "jobs", params(("name" = String, Path)), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, description = "stored"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn put_upload(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<impl IntoResponse, AppError> {
    use futures::StreamExt;
    validate_key(&name).map_err(|_| {
        AppError::bad_request(format!(
            "invalid upload name `{name}`: use the `api_upload_url` POST /api/v1/uploads returned"
        ))
    })?;
    let object_key = format!("uploads/{name}");
    // Streamed to the store as it arrives (the local store writes it chunk by chunk: a
    // 512 MiB upload held 1.15 GB when it was gathered first), counted against the limit.
    let limit = state.limits.upload_bytes as u64;
    let failure = Arc::new(std::sync::Mutex::new(None::<AppError>));
    let failed = failure.clone();
    let mut received = 0u64;
    let chunks = body.into_data_stream().map(move |chunk| {
        let refuse = |error: AppError| {
            let message = error.detail.clone();
            if let Ok(mut slot) = failed.lock() {
                *slot = Some(error);
            }
            Err(std::io::Error::other(message))
        };
        match chunk {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if received > limit {
                    return refuse(AppError::too_large(format!(
                        "uploads are limited to {limit} bytes"
                    )));
                }
                Ok(chunk)
            }
            Err(e) => refuse(AppError::bad_request(format!(
                "cannot read the upload: {e}"
            ))),
        }
    });
    let key = format!("tenants/{}/{object_key}", tenant.0);
    let stored = state.store.put_stream(&key, Box::pin(chunks)).await;
    let refused = failure.lock().ok().and_then(|mut slot| slot.take());
    let size = match (stored, refused) {
        (_, Some(refused)) => return Err(refused),
        (Err(e), None) => return Err(e.into()),
        (Ok(size), None) => size,
    };
    if size == 0 {
        let _ = state.store.delete(&key).await;
        return Err(AppError::unprocessable(
            "the upload is empty: PUT the file's bytes as the body",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"object_key": object_key, "bytes": size})),
    ))
}

/// Queue a scoring job over an uploaded object; 202 with `Location`.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = JobSpec,
    responses((status = 202, body = Job), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn create_job(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, AppError> {
    let config = jobs(&state)?;
    let bytes = super::detect::body(raw, state.limits)?;
    let spec: JobSpec = json_object(&bytes)?;
    if !spec.object_key.starts_with("uploads/") || validate_key(&spec.object_key).is_err() {
        return Err(AppError::bad_request(format!(
            "`object_key` must be a key returned by POST /api/v1/uploads, got `{}`",
            spec.object_key
        )));
    }
    crate::jobs::check_spec(&spec)?;
    // Its first byte tells it exists (the whole object may be gigabytes); an outage is
    // a 503, not "no such upload".
    let input = format!("tenants/{}/{}", tenant.0, spec.object_key);
    match state.store.get_range(&input, 0..1).await {
        Ok(_) => {}
        Err(crate::storage::StoreError::NotFound(_)) => {
            return Err(AppError::unprocessable(format!(
                "no uploaded object `{}`: PUT it to the `api_upload_url` POST /api/v1/uploads returned",
                spec.object_key
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let job = Job::queued(&tenant.0, &uuid::Uuid::new_v4().to_string(), spec);
    config.metadata.insert_job(&job).await?;
    config
        .queue
        .send(&QueueMessage::Job(JobMessage {
            tenant: job.tenant.clone(),
            job_id: job.id.clone(),
        }))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/jobs/{}", job.id))],
        Json(job),
    ))
}

async fn load_job(state: &AppState, tenant: &Tenant, id: &str) -> Result<Job, AppError> {
    // Job ids are ours (UUIDs, `ingest-` + hex): anything else names no job, and must not
    // reach a store that would choke on it (an over-long file name was a 500).
    let plausible =
        (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !plausible {
        return Err(AppError::not_found(format!(
            "no job `{}`",
            id.chars().take(64).collect::<String>()
        )));
    }
    jobs(state)?
        .metadata
        .get_job(&tenant.0, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no job `{id}`")))
}

/// Paging of `GET /api/v1/jobs`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct JobListQuery {
    /// Most jobs in one page (1-500, default 50).
    limit: Option<usize>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// Only jobs in this state (queued, running, succeeded, failed).
    state: Option<JobState>,
}

/// The tenant's jobs, newest first, a page at a time (`next` names the following page).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListQuery),
    responses((status = 200, description = "`jobs` and `next`"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn list_jobs(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    query: Result<Query<JobListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(query) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "query parameter `limit` must be 1 to 500, got {limit}"
        )));
    }
    let mut all = jobs(&state)?.metadata.list_jobs(&tenant.0).await?;
    if let Some(wanted) = query.state {
        all.retain(|j| j.state == wanted);
    }
    all.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    let start = match &query.after {
        Some(after) => match all.iter().position(|j| &j.id == after) {
            Some(at) => at + 1,
            None => {
                return Err(AppError::unprocessable(format!(
                    "query parameter `after`: no job `{after}` (use the `next` of the previous page)"
                )));
            }
        },
        None => 0,
    };
    let page: Vec<&Job> = all.iter().skip(start).take(limit).collect();
    let next = (start + page.len() < all.len())
        .then(|| page.last().map(|j| j.id.clone()))
        .flatten();
    Ok(Json(serde_json::json!({"jobs": page, "next": next})))
}

/// A job's state, summary or error.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn show_job(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let job = load_job(&state, &tenant, &id).await?;
    Ok(Json(serde_json::to_value(job).unwrap_or_default()))
}

/// Paging of a job's results.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultsQuery {
    /// Result rows to skip.
    offset: Option<usize>,
    /// Most result rows to return.
    limit: Option<usize>,
    /// Only the rows flagged as anomalies.
    anomalies_only: Option<bool>,
}

/// The results CSV (`row,score,grade,anomaly`) once the job succeeded (409 before);
/// `offset`, `limit` and `anomalies_only` page and filter its rows.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/results", tag = "jobs", params(("id" = String, Path), ResultsQuery),
    responses((status = 200, content_type = "text/csv", description = "results"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("api_key" = [])))]
pub(super) async fn job_results(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(query) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
    let job = load_job(&state, &tenant, &id).await?;
    let key = match (job.state, job.results_key) {
        (JobState::Succeeded, Some(key)) => key,
        (state, _) => {
            return Err(AppError {
                status: StatusCode::CONFLICT,
                title: "No results",
                detail: format!("job `{id}` is {state:?}; results exist once it has succeeded")
                    .to_lowercase(),
            });
        }
    };
    let bytes = state.store.get(&key).await?;
    if query.offset.is_none() && query.limit.is_none() && !query.anomalies_only.unwrap_or(false) {
        return Ok(([(header::CONTENT_TYPE, "text/csv")], bytes));
    }
    // A page of the result rows (after the header), optionally only the flagged ones;
    // read as CSV records, since kept columns may hold quoted separators and newlines.
    let broken = |e: csv::Error| AppError::internal(format!("results of job `{id}`: {e}"));
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let header_record = reader.headers().map_err(broken)?.clone();
    let anomaly = header_record.iter().position(|c| c == "anomaly");
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(4096));
    writer.write_record(&header_record).map_err(broken)?;
    let anomalies_only = query.anomalies_only.unwrap_or(false);
    let mut skipped = 0;
    let mut taken = 0;
    let limit = query.limit.unwrap_or(usize::MAX);
    for record in reader.records() {
        if taken == limit {
            break;
        }
        let record = record.map_err(broken)?;
        if anomalies_only && anomaly.is_none_or(|a| record.get(a) != Some("true")) {
            continue;
        }
        if skipped < query.offset.unwrap_or(0) {
            skipped += 1;
            continue;
        }
        writer.write_record(&record).map_err(broken)?;
        taken += 1;
    }
    let out = writer
        .into_inner()
        .map_err(|e| AppError::internal(format!("results of job `{id}`: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/csv")], out))
}
