//! The HTTP API function: `pynomaly serve`'s Router behind API Gateway. `lambda_http`
//! turns HTTP API (v2) and REST API (v1) events into requests (decoding base64 bodies
//! such as CSV uploads) and responses back into events.

use lambda_http::request::RequestContext;
use pynomaly_service::backend::Backend;
use pynomaly_service::http::{AppState, router};
use tower::util::MapRequest;

use pynomaly_service::config::Settings;

use crate::runtime::{emit_metrics, init_tracing, start};

/// The function's Router over the backend named by the environment. Limits default to
/// Lambda's own (6 MB bodies), overridable like `pynomaly serve`'s.
pub async fn app() -> Result<ApiService, lambda_runtime::Error> {
    let (settings, backend) = start().await?;
    tracing::info!(backend = %backend.description, "pynomaly api function ready");
    let streams = pynomaly_service::backend::streams(&backend, &settings).await;
    Ok(router_for(&backend, &settings, streams))
}

/// The function's service: the Router over `backend` (limits from the environment), with
/// REST API stage prefixes removed before routing.
pub type ApiService = MapRequest<axum::Router, fn(lambda_http::Request) -> lambda_http::Request>;

/// The service over `backend`, with the limits and key cache of `settings`.
pub fn router_for(
    backend: &Backend,
    settings: &Settings,
    streams: pynomaly_service::streams::Streams,
) -> ApiService {
    let mut state = AppState::new(backend.store.clone(), settings.limits)
        .with_jobs(backend.metadata.clone(), backend.queue.clone())
        .with_streams(streams);
    state.key_cache_seconds = settings.key_cache_seconds;
    let app = router(state).layer(axum::middleware::from_fn(request_metrics));
    MapRequest::new(app, strip_stage as fn(_) -> _)
}

/// One CloudWatch EMF line per request: duration, and whether it failed on the client's
/// side (4xx) or ours (5xx). Rows and anomalies are in the JSON answer and `/metrics`.
async fn request_metrics(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    emit_metrics(
        "api",
        &[
            ("Requests", 1.0, "Count"),
            (
                "ClientErrors",
                f64::from(u8::from(status.is_client_error())),
                "Count",
            ),
            (
                "ServerErrors",
                f64::from(u8::from(status.is_server_error())),
                "Count",
            ),
            (
                "Duration",
                started.elapsed().as_secs_f64() * 1000.0,
                "Milliseconds",
            ),
        ],
    );
    response
}

/// REST API (v1) events carry the stage in the path (`/prod/api/v1/...`) as
/// `lambda_http` rebuilds it; the routes are stage-independent, so drop it.
fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage {
        let prefix = format!("/{stage}");
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string());
        let rest = path_and_query
            .as_deref()
            .and_then(|p| p.strip_prefix(&prefix));
        if let Some(Ok(uri)) = rest.filter(|r| r.starts_with('/')).map(str::parse) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Runs the function: tracing and clients once, then requests until the container ends.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    lambda_http::run(app().await?).await
}
