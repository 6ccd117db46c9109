//! The OpenAPI 3.1 document, served at `GET /openapi.json`: generated from the handlers'
//! and types' annotations (utoipa), then completed with what annotations cannot say —
//! each rows endpoint's own body (from [`RowsDoor::fields`], the lists the handlers
//! check), value ranges and names from the catalogues, which fields exclude each other,
//! and the statuses every `/api/v1` route can answer (401 without a valid key, 503 when
//! storage does not answer). A request the document calls valid is either served or
//! refused for what a schema cannot express (a 422: a column the rows lack, too few rows
//! for the algorithm, an upload that does not exist).

use std::sync::OnceLock;

use axum::Json;
use pynomaly_detection::ALGORITHMS;
use pynomaly_detection::timeseries::METHODS;
use pynomaly_detection::timeseries::online::ONLINE_METHODS;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::doors::RowsDoor;
use super::{detect, drift, jobs, models, streams};
use crate::streams::spec::MAX_VALUE_FIELDS;

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

/// The API description as annotated; [`document`] serves it completed.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Pynomaly", description = "Anomaly detection as a service: scores, grades, flags and explanations for rows and time series."),
    paths(
        detect::health, detect::ready, detect::algorithms, detect::detect, detect::ensemble,
        detect::explain, detect::timeseries, models::create, models::list, models::show,
        models::delete, models::predict, jobs::create_upload, jobs::put_upload, jobs::create_job,
        jobs::list_jobs, jobs::show_job, jobs::job_results, streams::create, streams::list,
        streams::show, streams::delete, streams::points, streams::entities, streams::entity,
        streams::reset, drift::drift, drift::model_drift,
    ),
    modifiers(&ApiKeyScheme),
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub(super) async fn document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(completed).clone())
}

/// The annotated document, completed.
pub fn completed() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let schemas = &mut doc["components"]["schemas"];
    constrain_rows_request(&mut schemas["DetectRequest"]);
    constrain_series_request(&mut schemas["SeriesRequest"]);
    constrain_stream_request(&mut schemas["CreateStream"]);
    constrain_job_spec(&mut schemas["JobSpec"]);
    let rows_request = schemas["DetectRequest"].clone();
    for door in RowsDoor::ALL {
        if let Some(body) = doc.pointer_mut(&format!(
            "/paths/{}/post/requestBody/content/application~1json",
            pointer_escape(door.path())
        )) {
            body["schema"] = door_request(&rows_request, door);
        }
    }
    if let Some(points) = doc.pointer_mut(
        "/paths/~1api~1v1~1streams~1{id}~1points/post/requestBody/content/application~1json/schema",
    ) {
        *points = points_request();
    }
    if let Some(upload) = doc
        .pointer_mut("/paths/~1api~1v1~1uploads~1{name}/put/requestBody/content/text~1csv/schema")
    {
        *upload = json!({"type": "string", "format": "binary", "minLength": 1});
    }
    if let Some(upload) = doc.pointer_mut("/paths/~1api~1v1~1uploads~1{name}/put/requestBody") {
        upload["required"] = true.into();
    }
    // What a created job or model is called next with (OpenAPI links).
    let links = [
        (
            "/paths/~1api~1v1~1jobs/post/responses/202",
            &["show_job", "job_results"][..],
        ),
        (
            "/paths/~1api~1v1~1models/post/responses/201",
            &["show", "predict", "delete"][..],
        ),
        (
            "/paths/~1api~1v1~1streams/post/responses/201",
            &[
                "show_stream",
                "stream_points",
                "stream_entities",
                "delete_stream",
            ][..],
        ),
    ];
    for (pointer, operations) in links {
        if let Some(response) = doc.pointer_mut(pointer) {
            response["links"] = operations
                .iter()
                .map(|op| {
                    let link =
                        json!({"operationId": op, "parameters": {"id": "$response.body#/id"}});
                    (op.to_string(), link)
                })
                .collect::<serde_json::Map<String, Value>>()
                .into();
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            constrain_parameters(path, item);
            if let Some(item) = item.as_object_mut() {
                for operation in item.values_mut() {
                    complete_responses(path, operation);
                }
            }
        }
    }
    doc
}

/// `path` as one JSON-pointer token.
fn pointer_escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

fn problem() -> Value {
    json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// Every `/api/v1` operation can answer 401 (no valid key: keys are checked before the
/// route), 503 (storage, where keys live, does not answer) and another 4xx.
fn complete_responses(path: &str, operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if path.starts_with("/api/v1/") {
        let mut unauthorized = problem();
        unauthorized["description"] = "no API key, or one that is unknown or revoked".into();
        responses.entry("401").or_insert(unauthorized);
        let mut unavailable = problem();
        unavailable["description"] =
            "a dependency (storage, the job queue) does not answer; try again after `Retry-After`"
                .into();
        responses.entry("503").or_insert(unavailable);
        let mut refused = problem();
        refused["description"] = "the request is refused; `detail` says why".into();
        responses.entry("4XX").or_insert(refused);
    }
    for response in responses.values_mut() {
        if response.get("description").is_none() {
            response["description"] = "".into();
        }
    }
}

/// A nullable string restricted to `names`.
fn one_of_names(names: &[&str]) -> Value {
    let mut values: Vec<Value> = names.iter().map(|n| Value::from(*n)).collect();
    values.push(Value::Null);
    Value::Array(values)
}

fn algorithm_names(with_ensemble: bool) -> Vec<&'static str> {
    ALGORITHMS
        .iter()
        .filter(|a| with_ensemble || a.name != "ensemble")
        .flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied()))
        .collect()
}

const MISSING: &[&str] = &["error", "drop", "mean", "median"];
/// Text the readers accept for a cell: a number, `null` for a missing value, or text
/// (read for `keep` columns; refused as a feature).
const CELL: &str = r#"{"type": ["number", "string", "null"]}"#;

fn cell() -> Value {
    serde_json::from_str(CELL).unwrap_or_default()
}

/// `contamination` and `threshold` exclude each other; so do `data` and `records`, one
/// of which is required.
fn constrain_rows_request(schema: &mut Value) {
    let p = &mut schema["properties"];
    p["algorithm"]["enum"] = one_of_names(&algorithm_names(true));
    p["algorithms"]["items"]["enum"] = algorithm_names(false).into();
    p["algorithms"]["minItems"] = 2.into();
    p["algorithms"]["maxItems"] = 16.into();
    p["combination"]["enum"] = one_of_names(&["mean", "max", "median", "weighted"]);
    p["missing"]["enum"] = one_of_names(MISSING);
    p["contamination"]["exclusiveMinimum"] = 0.into();
    p["contamination"]["maximum"] = 0.5.into();
    p["top_features"]["minimum"] = 1.into();
    p["top_features"]["maximum"] = MAX_SAFE_INTEGER.into();
    p["seed"]["maximum"] = MAX_SAFE_INTEGER.into();
    p["data"]["minItems"] = 1.into();
    p["data"]["items"] = json!({"type": "array", "minItems": 1, "items": cell()});
    p["records"]["minItems"] = 1.into();
    p["records"]["items"] =
        json!({"type": "object", "minProperties": 1, "additionalProperties": cell()});
    p["name"]["pattern"] = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$".into();
    p["threshold"] = json!({"oneOf": [
        {"type": "number"}, {"type": "string", "enum": ["auto"]}, {"type": "null"}
    ]});
    schema["allOf"] = json!([
        {"anyOf": [given("data", "array"), given("records", "array")]},
        {"not": {"allOf": [given("data", "array"), given("records", "array")]}},
        {"not": {"allOf": [given("contamination", "number"), not_null("threshold")]}},
    ]);
}

/// `field` is present and of JSON type `kind` (not `null`).
fn given(field: &str, kind: &str) -> Value {
    json!({"required": [field], "properties": {field: {"type": kind}}})
}

/// `field` is present and not `null`.
fn not_null(field: &str) -> Value {
    json!({"required": [field], "properties": {field: {"not": {"type": "null"}}}})
}

/// The rows request as `door` reads it: the fields it does not read may only be `null`.
fn door_request(rows_request: &Value, door: RowsDoor) -> Value {
    let mut schema = rows_request.clone();
    let read = door.fields();
    if let Some(properties) = schema["properties"].as_object_mut() {
        for (name, property) in properties.iter_mut() {
            if !read.contains(&name.as_str()) {
                *property = json!({"type": "null", "description": "not read by this endpoint"});
            }
        }
    }
    if door == RowsDoor::Ensemble {
        schema["required"] = json!(["algorithms"]);
        schema["properties"]["algorithms"]["type"] = "array".into();
    }
    schema
}

fn constrain_series_request(schema: &mut Value) {
    let p = &mut schema["properties"];
    p["method"]["enum"] = one_of_names(METHODS);
    p["values"]["minItems"] = 1.into();
    p["period"]["minimum"] = 2.into();
    p["period"]["maximum"] = MAX_SAFE_INTEGER.into();
    p["cooldown"]["maximum"] = MAX_SAFE_INTEGER.into();
    p["sensitivity"]["exclusiveMinimum"] = 0.into();
    p["sensitivity"]["maximum"] = 100.into();
    p["timestamps"]["items"] = json!({"type": ["string", "number"]});
}

fn constrain_stream_request(schema: &mut Value) {
    // Every field has a default.
    schema["required"] = json!([]);
    let field_name = json!({"type": "string", "minLength": 1, "maxLength": 200,
                            "pattern": "^[^\\u0000-\\u001f\\u007f]*$"});
    let p = &mut schema["properties"];
    p["method"]["enum"] = one_of_names(ONLINE_METHODS);
    p["parameters"]["type"] = json!(["object", "null"]);
    for field in ["name", "entity_field", "timestamp_field"] {
        p[field]["minLength"] = 1.into();
        p[field]["maxLength"] = 200.into();
        p[field]["pattern"] = field_name["pattern"].clone();
    }
    p["value_fields"]["items"] = field_name;
    p["value_fields"]["minItems"] = 1.into();
    p["value_fields"]["maxItems"] = MAX_VALUE_FIELDS.into();
    p["value_fields"]["uniqueItems"] = true.into();
}

/// The JSON body of `POST /api/v1/streams/{id}/points`.
fn points_request() -> Value {
    json!({
        "type": "object",
        "required": ["points"],
        "additionalProperties": false,
        "properties": {"points": {"type": "array", "items": {"type": "object"}}},
    })
}

fn constrain_job_spec(schema: &mut Value) {
    let p = &mut schema["properties"];
    p["object_key"]["pattern"] = "^uploads/[A-Za-z0-9_=-][A-Za-z0-9._=-]*$".into();
    p["object_key"]["maxLength"] = 512.into();
    p["format"]["enum"] = one_of_names(&["csv", "json", "ndjson", "parquet"]);
    p["algorithm"]["enum"] = one_of_names(&algorithm_names(true));
    p["missing"]["enum"] = one_of_names(MISSING);
    p["contamination"]["exclusiveMinimum"] = 0.into();
    p["contamination"]["maximum"] = 0.5.into();
    // A stored model's job takes no fitting fields (`jobs::check_spec`).
    let mut exclusions: Vec<Value> = ["algorithm", "parameters", "columns", "ignore_columns"]
        .iter()
        .map(|field| json!({"not": {"allOf": [not_null("model_id"), not_null(field)]}}))
        .collect();
    exclusions.push(json!({"not": {"allOf": [not_null("contamination"), not_null("threshold")]}}));
    schema["allOf"] = exclusions.into();
}

/// The largest integer every JSON reader holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Ranges of query and path parameters.
fn constrain_parameters(path: &str, item: &mut Value) {
    let Some(item) = item.as_object_mut() else {
        return;
    };
    for operation in item.values_mut() {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap_or_default().to_string();
            let Some(schema) = parameter.get_mut("schema") else {
                continue;
            };
            match (path, name.as_str()) {
                ("/api/v1/jobs", "limit") => {
                    schema["minimum"] = 1.into();
                    schema["maximum"] = 500.into();
                }
                ("/api/v1/jobs/{id}/results", "offset" | "limit") => {
                    schema["maximum"] = MAX_SAFE_INTEGER.into();
                }
                ("/api/v1/jobs", "after") => {
                    schema["minLength"] = 1.into();
                }
                ("/api/v1/uploads/{name}", "name") => {
                    schema["pattern"] = "^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$".into();
                    schema["maxLength"] = 200.into();
                }
                _ => {}
            }
        }
    }
}
