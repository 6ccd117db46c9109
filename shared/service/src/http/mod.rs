//! The HTTP API: one axum [`Router`] that `pynomaly serve` and the Lambda function both
//! serve. Pynomaly's nouns: `/api/v1/detect` (alias `/api/v1/detection/detect`),
//! `/api/v1/ensemble`, `/api/v1/explain`, `/api/v1/models` (+ `/{id}`, `/{id}/predict`),
//! `/api/v1/timeseries/detect`, `/api/v1/streams` (+ `/{id}`, `/{id}/points`,
//! `/{id}/entities[/{entity}[/reset]]`), `/api/v1/algorithms`, `/health`, `/ready`; and
//! the web console at `/` (files under `/console/`), which calls that API.
//! Every error is `application/problem+json` with a detail naming the problem; bad input
//! is 4xx, never 500. `/api/v1` needs an API key (`x-api-key` or `Authorization: Bearer`);
//! models are scoped to the key's tenant, so another tenant's id is a 404.

mod console;
mod detect;
mod doors;
mod drift;
mod error;
mod jobs;
mod metrics;
mod models;
mod openapi;
mod streams;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};

pub use console::files as console_files;
pub use error::AppError;
pub use metrics::{Metrics, render_worker};
pub use openapi::ApiDoc;

use tower_http::set_header::SetResponseHeaderLayer;

use crate::storage::ObjectStore;

/// Request limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest request body in bytes (default 6 MB, like Lambda's payload limit).
    pub body_bytes: usize,
    /// Most rows (or points) in one request (default 200,000).
    pub rows: usize,
    /// Largest upload in bytes (default 1 GiB).
    pub upload_bytes: usize,
    /// What one fit in a request may cost, checked before it starts (default
    /// [`REQUEST_BUDGET`](crate::scoring::REQUEST_BUDGET)).
    pub budget: pynomaly_detection::Budget,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 6 * 1024 * 1024,
            rows: 200_000,
            upload_bytes: 1 << 30,
            budget: crate::scoring::REQUEST_BUDGET,
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where models live.
    pub store: Arc<dyn ObjectStore>,
    /// Request limits.
    pub limits: Limits,
    /// Admits CPU-bound work (one permit per core), so concurrent requests queue fairly
    /// instead of all competing for the detection thread pool at once.
    pub cpu: Arc<tokio::sync::Semaphore>,
    /// Whether `/api/v1` requires an API key (on unless explicitly turned off).
    pub require_keys: bool,
    /// How long a verified key is trusted without another look at storage: the longest a
    /// revoked key keeps working on a running server ([`KEY_CACHE_SECONDS`] by default;
    /// 0 checks storage on every request). `PYNOMALY_KEY_CACHE_SECONDS` sets it.
    pub key_cache_seconds: u64,
    /// Keys verified recently (by key, for `key_cache_seconds`), so a busy client does
    /// not cost a storage read per request; a revocation takes effect within that time.
    key_cache: Arc<std::sync::Mutex<HashMap<String, (String, Instant)>>>,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// Job records and queue, when this server takes jobs.
    pub jobs: Option<JobsConfig>,
    /// Streams, when this server has a state store.
    pub streams: Option<Arc<crate::streams::Streams>>,
}

/// Where jobs are recorded and sent.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Job records.
    pub metadata: Arc<dyn crate::jobs::MetadataStore>,
    /// Job messages.
    pub queue: Arc<dyn crate::jobs::JobQueue>,
}

/// How long a verified key is trusted without another look at storage, by default.
pub const KEY_CACHE_SECONDS: u64 = 30;

/// The tenant a request acts for (from its API key; `local` when keys are off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub String);

impl AppState {
    /// State over `store` with `limits`, admitting one detection per available core.
    pub fn new(store: Arc<dyn ObjectStore>, limits: Limits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            store,
            limits,
            cpu: Arc::new(tokio::sync::Semaphore::new(cores)),
            require_keys: true,
            key_cache_seconds: KEY_CACHE_SECONDS,
            key_cache: Arc::default(),
            metrics: Arc::default(),
            jobs: None,
            streams: None,
        }
    }

    /// Takes streams ([`crate::streams::Streams`], over this state's object store).
    pub fn with_streams(mut self, streams: crate::streams::Streams) -> Self {
        self.streams = Some(Arc::new(streams));
        self
    }

    /// Reports in `/metrics` the rows `counters` counted (share the process's job
    /// runner's, [`JobServices::counters`](crate::jobs::JobServices::counters), so jobs
    /// count too).
    pub fn with_counters(mut self, counters: Arc<crate::counters::ScoreCounters>) -> Self {
        self.metrics = Arc::new(Metrics::with_counters(counters));
        self
    }

    /// Takes jobs, recording them in `metadata` and sending them to `queue`.
    pub fn with_jobs(
        mut self,
        metadata: Arc<dyn crate::jobs::MetadataStore>,
        queue: Arc<dyn crate::jobs::JobQueue>,
    ) -> Self {
        self.jobs = Some(JobsConfig { metadata, queue });
        self
    }

    /// Turns API keys off: every request acts for tenant `local`. For experiments on one
    /// machine only.
    pub fn without_keys(mut self) -> Self {
        self.require_keys = false;
        self
    }
}

/// Resolves the request's tenant from `x-api-key` or `Authorization: Bearer`, or answers
/// 401.
async fn require_key(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, AppError> {
    let tenant = if state.require_keys {
        let headers = request.headers();
        let presented = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|v| v.trim().to_string())
            })
            .ok_or_else(|| {
                AppError::unauthorized(
                    "missing API key: send it as `x-api-key` or `Authorization: Bearer <key>`",
                )
            })?;
        let cached = state
            .key_cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(&presented).cloned())
            .filter(|(_, at)| at.elapsed().as_secs() < state.key_cache_seconds)
            .map(|(tenant, _)| tenant);
        match cached {
            Some(tenant) => tenant,
            None => {
                let tenant = crate::auth::authenticate(state.store.as_ref(), &presented)
                    .await
                    .map_err(|e| match e {
                        crate::auth::AuthError::Store(e) => AppError::from(e),
                        other => AppError::internal(other.to_string()),
                    })?
                    .ok_or_else(|| AppError::unauthorized("invalid or revoked API key"))?;
                if let Ok(mut cache) = state.key_cache.lock() {
                    if cache.len() > 10_000 {
                        cache.clear();
                    }
                    cache.insert(presented, (tenant.clone(), Instant::now()));
                }
                tenant
            }
        }
    } else {
        "local".to_string()
    };
    request.extensions_mut().insert(Tenant(tenant));
    Ok(next.run(request).await)
}

/// Refuses a body by its headers, before reading it: 413 when its declared
/// `Content-Length` is over the limit of its route (uploads have their own), 415 when it
/// is compressed (a `Content-Encoding` other than `identity`), which used to be read as
/// garbage and answered "malformed".
async fn body_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, AppError> {
    if let Some(encoding) = request
        .headers()
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
    {
        return Err(AppError::unsupported_media_type(format!(
            "Content-Encoding `{encoding}` is not accepted: send the body uncompressed (large inputs through POST /api/v1/uploads and the jobs API)"
        )));
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared {
        let upload = request.uri().path().starts_with("/api/v1/uploads/");
        let limit = if upload {
            state.limits.upload_bytes
        } else {
            state.limits.body_bytes
        };
        if declared > limit as u64 {
            return Err(AppError::too_large(format!(
                "the declared body of {declared} bytes is over the {limit} byte limit"
            )));
        }
    }
    Ok(next.run(request).await)
}

/// The API router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.body_bytes;
    let api = Router::new()
        .route("/api/v1/algorithms", get(detect::algorithms))
        .route("/api/v1/detect", post(detect::detect))
        .route("/api/v1/detection/detect", post(detect::detect))
        .route("/api/v1/ensemble", post(detect::ensemble))
        .route("/api/v1/explain", post(detect::explain))
        .route("/api/v1/timeseries/detect", post(detect::timeseries))
        .route("/api/v1/models", post(models::create).get(models::list))
        .route(
            "/api/v1/models/{id}",
            get(models::show).delete(models::delete),
        )
        .route("/api/v1/models/{id}/predict", post(models::predict))
        .route("/api/v1/models/{id}/drift", post(drift::model_drift))
        .route("/api/v1/uploads", post(jobs::create_upload))
        .route(
            "/api/v1/uploads/{name}",
            axum::routing::put(jobs::put_upload)
                .layer(DefaultBodyLimit::max(state.limits.upload_bytes)),
        )
        .route("/api/v1/jobs", post(jobs::create_job).get(jobs::list_jobs))
        .route("/api/v1/jobs/{id}", get(jobs::show_job))
        .route("/api/v1/jobs/{id}/results", get(jobs::job_results))
        .route("/api/v1/drift", post(drift::drift))
        .route("/api/v1/streams", post(streams::create).get(streams::list))
        .route(
            "/api/v1/streams/{id}",
            get(streams::show).delete(streams::delete),
        )
        .route("/api/v1/streams/{id}/points", post(streams::points))
        .route("/api/v1/streams/{id}/entities", get(streams::entities))
        .route(
            "/api/v1/streams/{id}/entities/{entity}",
            get(streams::entity),
        )
        .route(
            "/api/v1/streams/{id}/entities/{entity}/reset",
            post(streams::reset),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key,
        ))
        // Answers carry tenant data and are fetched with a key: no cache may keep them.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    // The console's files are sent gzipped to browsers that take it (115 KB → 41 KB).
    let console = Router::new()
        .route("/", get(console::index))
        .route("/console/{*file}", get(console::asset))
        .layer(tower_http::compression::CompressionLayer::new());
    Router::new()
        .merge(console)
        .route("/health", get(detect::health))
        .route("/ready", get(detect::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::document))
        .merge(api)
        .fallback(|| async { AppError::not_found("no such endpoint; see /api/v1/algorithms") })
        .method_not_allowed_fallback(|| async {
            AppError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                title: "Method not allowed",
                detail: "this endpoint does not accept that method".into(),
            }
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_headers,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            AppError::internal("the server hit an unexpected error").into_response()
        }))
        // Every answer, the console's and the API's: no content sniffing (a CSV is never
        // run as a script), no referrer leaving with a page address.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}
