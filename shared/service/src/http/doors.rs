//! Which fields each rows endpoint reads. One request shape ([`DetectRequest`]) serves five
//! endpoints; a field an endpoint does not read is refused, naming it, instead of being
//! ignored (an `algorithms` list sent to `/detect` used to score with iforest). The OpenAPI
//! document describes each endpoint's body from the same lists.

use super::AppError;
use super::detect::DetectRequest;

/// An endpoint that takes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowsDoor {
    /// `POST /api/v1/detect` (and `/api/v1/detection/detect`).
    Detect,
    /// `POST /api/v1/ensemble`.
    Ensemble,
    /// `POST /api/v1/explain`.
    Explain,
    /// `POST /api/v1/models`.
    CreateModel,
    /// `POST /api/v1/models/{id}/predict`.
    Predict,
}

/// The rows and how they are read: every endpoint takes these.
const ROWS: &[&str] = &["data", "records", "missing"];
/// Picking columns to fit on (a stored model picks its own).
const COLUMNS: &[&str] = &["columns", "ignore_columns"];
/// Flagging and explaining scored rows.
const FLAGS: &[&str] = &[
    "contamination",
    "threshold",
    "explain",
    "top_features",
    "keep",
];

impl RowsDoor {
    /// Every door, for the OpenAPI document.
    pub(super) const ALL: [RowsDoor; 5] = [
        Self::Detect,
        Self::Ensemble,
        Self::Explain,
        Self::CreateModel,
        Self::Predict,
    ];

    /// The path the OpenAPI document lists it under.
    pub(super) fn path(self) -> &'static str {
        match self {
            Self::Detect => "/api/v1/detect",
            Self::Ensemble => "/api/v1/ensemble",
            Self::Explain => "/api/v1/explain",
            Self::CreateModel => "/api/v1/models",
            Self::Predict => "/api/v1/models/{id}/predict",
        }
    }

    /// The JSON fields (and, with a CSV or NDJSON body, query parameters) it reads.
    pub(super) fn fields(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            Self::Detect | Self::Explain => &["algorithm", "parameters", "seed"],
            Self::Ensemble => &["algorithms", "combination", "parameters", "seed"],
            Self::CreateModel => &["algorithm", "parameters", "seed", "name", "new_version"],
            Self::Predict => &[],
        };
        let mut fields = ROWS.to_vec();
        if self != Self::Predict {
            fields.extend_from_slice(COLUMNS);
        }
        if self != Self::CreateModel {
            fields.extend_from_slice(FLAGS);
        }
        fields.extend_from_slice(own);
        fields
    }

    /// The query parameters it reads with a CSV or NDJSON body: its fields but the rows,
    /// and the separator.
    pub(super) fn query_parameters(self) -> Vec<&'static str> {
        let mut read: Vec<&str> = self
            .fields()
            .into_iter()
            .filter(|f| !matches!(*f, "data" | "records"))
            .collect();
        read.push("delimiter");
        read
    }

    /// Refuses a JSON body that sets a field this endpoint does not read (query parameters
    /// are checked as they are read).
    pub(super) fn check(self, request: &DetectRequest) -> Result<(), AppError> {
        let read = self.fields();
        match request.given().into_iter().find(|f| !read.contains(f)) {
            None => Ok(()),
            Some(field) => Err(AppError::bad_request(format!(
                "field `{field}` is not read by {}; it reads: {}",
                self.path(),
                read.join(", ")
            ))),
        }
    }
}
