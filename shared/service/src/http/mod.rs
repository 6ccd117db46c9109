//! The HTTP API: one axum [`Router`] that `pynomaly serve` and the Lambda function both
//! serve. Pynomaly's nouns: `/api/v1/detect` (alias `/api/v1/detection/detect`),
//! `/api/v1/ensemble`, `/api/v1/explain`, `/api/v1/models` (+ `/{id}`, `/{id}/predict`),
//! `/api/v1/timeseries/detect`, `/api/v1/algorithms`, `/health`, `/ready`.
//! Every error is `application/problem+json` with a detail naming the problem; bad input
//! is 4xx, never 500.

mod detect;
mod error;
mod models;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::AppError;

use crate::storage::ObjectStore;

/// Request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes (default 6 MB, like Lambda's payload limit).
    pub body_bytes: usize,
    /// Most rows (or points) in one request (default 200,000).
    pub rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 6 * 1024 * 1024,
            rows: 200_000,
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
}

impl AppState {
    /// State over `store` with `limits`, admitting one detection per available core.
    pub fn new(store: Arc<dyn ObjectStore>, limits: Limits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            store,
            limits,
            cpu: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }
}

/// The API router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.body_bytes;
    Router::new()
        .route("/health", get(detect::health))
        .route("/ready", get(detect::ready))
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
        .fallback(|| async { AppError::not_found("no such endpoint; see /api/v1/algorithms") })
        .method_not_allowed_fallback(|| async {
            AppError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                title: "Method not allowed",
                detail: "this endpoint does not accept that method".into(),
            }
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            AppError::internal("the server hit an unexpected error").into_response()
        }))
        .with_state(state)
}
