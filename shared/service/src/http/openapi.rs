//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations
//! (utoipa), served at `GET /openapi.json`.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{detect, jobs, models};

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
            );
        }
    }
}

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Pynomaly", description = "Anomaly detection as a service: scores, grades, flags and explanations for rows and time series."),
    paths(
        detect::health, detect::ready, detect::algorithms, detect::detect, detect::ensemble,
        detect::explain, detect::timeseries, models::create, models::list, models::show,
        models::delete, models::predict, jobs::create_upload, jobs::put_upload, jobs::create_job,
        jobs::list_jobs, jobs::show_job, jobs::job_results,
    ),
    modifiers(&ApiKeyScheme),
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
