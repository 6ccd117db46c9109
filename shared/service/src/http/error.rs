//! Errors as `application/problem+json` (RFC 9457): a status, a short title and a detail
//! that names the problem (field, row, column, limit).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pynomaly_detection::DetectionError;
use serde::Serialize;

use crate::formats::FormatError;
use crate::scoring::ScoringError;
use crate::storage::StoreError;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short, fixed summary of the problem type.
    pub title: &'static str,
    /// What exactly is wrong.
    pub detail: String,
}

/// An RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    status: u16,
    detail: String,
}

impl AppError {
    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            detail: detail.into(),
        }
    }

    /// 401 Unauthorized.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            title: "Unauthorized",
            detail: detail.into(),
        }
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            detail: detail.into(),
        }
    }

    /// 413 Payload Too Large, pointing to the jobs API.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            title: "Payload too large",
            detail: format!(
                "{}; send large inputs through object storage and the jobs API",
                detail.into()
            ),
        }
    }

    /// 415 Unsupported Media Type.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            title: "Unsupported media type",
            detail: detail.into(),
        }
    }

    /// 422 Unprocessable Content: well-formed but unusable input.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Unprocessable input",
            detail: detail.into(),
        }
    }

    /// 503 Service Unavailable: a dependency is down; answered with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Service unavailable",
            detail: detail.into(),
        }
    }

    /// 500: our fault, never the user's.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal error",
            detail: detail.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<DetectionError> for AppError {
    fn from(e: DetectionError) -> Self {
        match e {
            // The algorithm's name is one of a list (the OpenAPI document's enum) ...
            DetectionError::UnknownAlgorithm { .. } => Self::bad_request(e.to_string()),
            // ... but which parameters exist, and their ranges, depend on the algorithm: a
            // well-formed request with the wrong ones is unprocessable, not malformed.
            DetectionError::InvalidParameter { .. } => Self::unprocessable(e.to_string()),
            DetectionError::Internal { .. } => Self::internal(e.to_string()),
            _ => Self::unprocessable(e.to_string()),
        }
    }
}

impl From<FormatError> for AppError {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::Csv { .. } | FormatError::Json { .. } | FormatError::Encoding(_) => {
                Self::bad_request(e.to_string())
            }
            FormatError::NonNumeric { ref column, .. } => Self::unprocessable(format!(
                "{e} (leave the column out with `ignore_columns`: [\"{column}\"])"
            )),
            FormatError::Missing { .. } => Self::unprocessable(format!(
                "{e} (set `missing` to drop, mean or median to handle missing values)"
            )),
            _ => Self::unprocessable(e.to_string()),
        }
    }
}

impl From<crate::models::ModelStoreError> for AppError {
    fn from(e: crate::models::ModelStoreError) -> Self {
        use crate::models::ModelStoreError;
        match e {
            ModelStoreError::NotFound(_) => Self::not_found(e.to_string()),
            ModelStoreError::InvalidName(_) => Self::bad_request(format!("`name`: {e}")),
            ModelStoreError::Exists(_) => Self {
                status: StatusCode::CONFLICT,
                title: "Conflict",
                detail: format!(
                    "{e}; choose another `name`, or set `new_version`: true to store a new version under it"
                ),
            },
            ModelStoreError::Format { .. } => Self::unprocessable(e.to_string()),
            ModelStoreError::Store(e) => e.into(),
        }
    }
}

/// A use case's rejection in the HTTP API's words (its fields and query parameters).
impl From<ScoringError> for AppError {
    fn from(e: ScoringError) -> Self {
        match e {
            ScoringError::Format(e) => e.into(),
            ScoringError::Detection(e) => e.into(),
            ScoringError::ThresholdConflict => {
                Self::bad_request("give either `contamination` or `threshold`, not both")
            }
            ScoringError::BadThreshold(t) => Self::bad_request(format!(
                "`threshold` must be \"auto\" or a number, got \"{t}\""
            )),
            ScoringError::OverBudget { .. } => Self::too_large(e.to_string()),
            ScoringError::Spec(detail) => Self::bad_request(detail),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::not_found("no such object"),
            StoreError::InvalidKey(_) => Self::bad_request(e.to_string()),
            // The key and the backend's error chain go to the log, not to the client.
            StoreError::Unavailable { dependency, .. } => {
                tracing::error!(error = %e, "dependency unavailable");
                Self::unavailable(format!("{dependency} is unavailable; try again shortly"))
            }
            StoreError::Backend { action, .. } => {
                tracing::error!(error = %e, "storage failed");
                Self::unavailable(format!("storage failed to {action}; try again shortly"))
            }
        }
    }
}
