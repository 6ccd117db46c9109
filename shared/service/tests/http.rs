#![allow(clippy::unwrap_used)]
//! Router tests: every endpoint and error path through `oneshot`, on the local store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pynomaly_service::consumer::run_worker;
use pynomaly_service::http::{AppState, Limits, router};
use pynomaly_service::jobs::{InProcessQueue, JobServices, ObjectMetadataStore};
use pynomaly_service::storage::LocalObjectStore;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(dir: &std::path::Path) -> axum::Router {
    router(state(dir).without_keys())
}

fn state(dir: &std::path::Path) -> AppState {
    let store: Arc<dyn pynomaly_service::storage::ObjectStore> =
        Arc::new(LocalObjectStore::new(dir));
    let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
    let (queue, receiver) = InProcessQueue::new();
    tokio::spawn(run_worker(
        JobServices::new(store.clone(), metadata.clone()),
        queue.clone(),
        receiver,
    ));
    AppState::new(
        store,
        Limits {
            body_bytes: 64 * 1024,
            rows: 1000,
            upload_bytes: 1024 * 1024,
            ..Limits::default()
        },
    )
    .with_jobs(metadata, Arc::new(queue))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::builder().method(method).uri(uri);
    if !content_type.is_empty() {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value, content)
}

/// GET `uri` and return the status and the body as text.
async fn get_text(app: &axum::Router, uri: impl AsRef<str>) -> (StatusCode, String) {
    let request = Request::builder()
        .uri(uri.as_ref())
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn post_json(
    app: &axum::Router,
    uri: &str,
    body: Value,
) -> (StatusCode, Value, Option<String>) {
    call(app, "POST", uri, "application/json", body.to_string()).await
}

fn rows_with_outlier() -> Vec<Value> {
    let mut rows: Vec<Value> = (0..60)
        .map(|i| json!([(i % 7) as f64, (i % 5) as f64 * 2.0]))
        .collect();
    rows.push(json!([3.0, 80.0]));
    rows
}

#[tokio::test]
async fn detect_json_csv_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (status, body, _) = post_json(&app, "/api/v1/detect", json!({"algorithm": "isolation_forest", "data": rows_with_outlier(), "contamination": 0.05, "explain": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["algorithm"], "iforest");
    assert_eq!(body["total_samples"], 61);
    assert_eq!(body["scores"].as_array().unwrap().len(), 61);
    let anomalies = body["anomalies"].as_array().unwrap();
    assert!(anomalies.iter().any(|a| a["index"] == 60));
    let top = &anomalies.iter().find(|a| a["index"] == 60).unwrap()["explanation"][0];
    assert_eq!(top["feature"], "f1");

    let records = json!([{"cpu": 1, "mem": 2}, {"cpu": 1.1, "mem": 2}, {"cpu": 0.9, "mem": 2.1}, {"cpu": 1, "mem": 1.9}, {"cpu": 9, "mem": 2}]);
    let (status, body, _) = post_json(
        &app,
        "/api/v1/detection/detect",
        json!({"algorithm": "mad", "records": records, "threshold": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["anomalies"][0]["index"], 4);

    let csv = "a,b\n1,2\n2,3\n3,4\n2,2\n1,3\n50,60\n";
    let (status, body, _) = call(
        &app,
        "POST",
        "/api/v1/detect?algorithm=ecod&contamination=0.2",
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_samples"], 6);
    assert!(
        body["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["index"] == 5)
    );
}

#[tokio::test]
async fn ensemble_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (status, body, _) = post_json(&app, "/api/v1/ensemble", json!({"algorithms": ["iforest", "ecod", "local_outlier_factor"], "combination": "max", "data": rows_with_outlier()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["algorithm"], "ensemble");
    let (status, body, _) = post_json(
        &app,
        "/api/v1/explain",
        json!({"algorithm": "hbos", "data": rows_with_outlier(), "contamination": 0.02}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["anomalies"][0]["explanation"].is_array());
    // No algorithm named: `auto`, whose explanations name the member that fired; a
    // single detector's have no such field.
    assert!(body["anomalies"][0].get("detector").is_none(), "{body}");
    let (status, body, _) = post_json(
        &app,
        "/api/v1/explain",
        json!({"data": rows_with_outlier()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["algorithm"], "auto");
    let outlier = body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["index"] == 60)
        .unwrap_or_else(|| panic!("row 60 not flagged: {body}"));
    assert!(
        ["iforest", "hbos", "pca", "knn"].contains(&outlier["detector"].as_str().unwrap_or("")),
        "{outlier}"
    );
    assert_eq!(outlier["explanation"][0]["feature"], "f1", "{outlier}");
}

#[tokio::test]
async fn models_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let training: Vec<Value> = (0..80)
        .map(|i| json!({"x": (i % 9) as f64, "y": (i % 4) as f64}))
        .collect();
    let (status, body, _) = post_json(
        &app,
        "/api/v1/models",
        json!({"algorithm": "knn", "records": training, "name": "demo"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["features"], json!(["x", "y"]));
    let (status, body, _) = call(&app, "GET", "/api/v1/models", "", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["models"].as_array().unwrap().len(), 1);
    let (status, body, _) = call(
        &app,
        "GET",
        &format!("/api/v1/models/{id}"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(
        (status, body["algorithm"].as_str()),
        (StatusCode::OK, Some("knn"))
    );
    // Records are matched by name, whatever their key order.
    let probe = json!({"records": [{"y": 1, "x": 3}, {"y": 40, "x": 3}], "threshold": 5});
    let (status, body, _) = post_json(&app, &format!("/api/v1/models/{id}/predict"), probe).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["anomalies"].as_array().unwrap().len(), 1);
    assert_eq!(body["anomalies"][0]["index"], 1);
    let (status, _, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/models/{id}"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, content) = call(
        &app,
        "GET",
        &format!("/api/v1/models/{id}"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content.as_deref(), Some("application/problem+json"));
    assert!(body["detail"].as_str().unwrap().contains(&id));
}

#[tokio::test]
async fn timeseries_health_ready_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let mut values: Vec<f64> = (0..400)
        .map(|i| 10.0 + ((i * 7) % 5) as f64 * 0.1)
        .collect();
    values[300] = 40.0;
    let (status, body, _) = post_json(
        &app,
        "/api/v1/timeseries/detect",
        json!({"method": "rolling-z", "values": values}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"][300]["anomaly"], true);
    assert_eq!(body["anomalies_detected"], 1);
    let (status, body, _) = call(&app, "GET", "/health", "", Body::empty()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _, _) = call(&app, "GET", "/ready", "", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = call(&app, "GET", "/api/v1/algorithms", "", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["algorithms"].as_array().unwrap().len(), 11);
    // The OpenAPI document is open and lists the endpoints.
    let (status, doc, _) = call(&app, "GET", "/openapi.json", "", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/detect",
        "/api/v1/models/{id}/predict",
        "/api/v1/jobs",
        "/api/v1/timeseries/detect",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["DetectRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // Metrics count what happened above, as Prometheus text.
    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(
            "pynomaly_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pynomaly_http_request_duration_seconds_count{route=\"/api/v1/timeseries/detect\"} 1"
        ),
        "{text}"
    );
}

/// Every bad input: a 4xx problem+json whose detail names the problem.
#[tokio::test]
async fn error_paths() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let big = format!("{{\"data\": [{}]}}", vec!["[1.0, 2.0]"; 20_000].join(","));
    let cases: Vec<(&str, &str, &str, String, StatusCode, &str)> = vec![
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            "{\"data\": [[1, 2], ".into(),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        // A field another endpoint reads is refused, not ignored (an ensemble's members
        // sent to /detect scored with iforest).
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1], [2], [3]], "algorithms": ["lof", "knn"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "field `algorithms` is not read by /api/v1/detect",
        ),
        (
            "POST",
            "/api/v1/models",
            "application/json",
            json!({"data": [[1], [2], [3]], "contamination": 0.1}).to_string(),
            StatusCode::BAD_REQUEST,
            "field `contamination` is not read by /api/v1/models",
        ),
        (
            "POST",
            "/api/v1/detect?name=web",
            "text/csv",
            "a\n1\n2\n3\n".into(),
            StatusCode::BAD_REQUEST,
            "query parameter `name` is not read by /api/v1/detect",
        ),
        // serde reads a struct from an array by position; the API's bodies are objects.
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            "[null, null, null, [[1], [2], [3]]]".into(),
            StatusCode::BAD_REQUEST,
            "the JSON body is an array",
        ),
        // JSON Schema's integers include 63.0.
        (
            "POST",
            "/api/v1/timeseries/detect",
            "application/json",
            json!({"method": "rolling-z", "values": [1.0, 2.0], "cooldown": 63.5}).to_string(),
            StatusCode::BAD_REQUEST,
            "expected a whole number from 0, got 63.5",
        ),
        // Changepoint's posterior panicked on values whose squares overflow (a 500).
        (
            "POST",
            "/api/v1/timeseries/detect",
            "application/json",
            json!({"method": "changepoint", "cooldown": 927568.0, "values": [1.0, -1.68e293, 2.0, 3.0]})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "row 1, column 0: value -1.68e293 is beyond ±1e100",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/xml",
            "<rows/>".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/xml",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1, 2], [3]]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "row 1 has 1 fields, expected 2",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1, 2], ["x", 3]]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "column `f0` is not numeric",
        ),
        (
            "POST",
            "/api/v1/detect",
            "text/csv",
            "cpu,cpu\n1,2\n3,4\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "column name `cpu` is used twice",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1, 2], ["NaN", 3]]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing value in column `f0` at row 1",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": []}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no data rows",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({}).to_string(),
            StatusCode::BAD_REQUEST,
            "needs `data`",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"algorithm": "svm", "data": [[1]]}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown algorithm `svm`",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"algorithm": "knn", "parameters": {"n_neighbors": 0}, "data": [[1]]})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "n_neighbors",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"algorithm": "knn", "data": [[1], [2]]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "knn needs at least 6 rows",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1]], "contamination": 0.9}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "contamination",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            json!({"data": [[1]], "colour": "red"}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
        (
            "POST",
            "/api/v1/detect",
            "application/json",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "jobs API",
        ),
        (
            "GET",
            "/api/v1/models/00000000-0000-0000-0000-000000000000",
            "",
            String::new(),
            StatusCode::NOT_FOUND,
            "no model",
        ),
        (
            "POST",
            "/api/v1/models/nope/predict",
            "application/json",
            json!({"data": [[1]]}).to_string(),
            StatusCode::NOT_FOUND,
            "no model `nope`",
        ),
        (
            "POST",
            "/api/v1/timeseries/detect",
            "application/json",
            json!({"method": "rolling-z", "values": [1, 2, 3]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs at least 21 rows",
        ),
        (
            "GET",
            "/api/v1/nothing",
            "",
            String::new(),
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
        (
            "GET",
            "/api/v1/detect",
            "",
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
        ),
    ];
    // A compressed body is refused by its header (it was read as garbage: "malformed").
    let gzip = Request::builder()
        .method("POST")
        .uri("/api/v1/detect")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Body::from(vec![0x1f, 0x8b, 0x08, 0x00]))
        .unwrap();
    let response = app.clone().oneshot(gzip).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("Content-Encoding `gzip` is not accepted"));
    for (method, uri, content_type, body, expected_status, expected_detail) in cases {
        let (status, problem, content) = call(&app, method, uri, content_type, body).await;
        assert_eq!(status, expected_status, "{method} {uri}: {problem}");
        assert_eq!(
            content.as_deref(),
            Some("application/problem+json"),
            "{uri}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(expected_detail),
            "{uri}: `{detail}` lacks `{expected_detail}`"
        );
        assert_eq!(problem["status"], expected_status.as_u16());
    }
}

/// API keys: required, hashed, tenant-scoped.
#[tokio::test]
async fn keys_and_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let (_, acme) = pynomaly_service::auth::create_key(state.store.as_ref(), "acme")
        .await
        .unwrap();
    let (_, globex) = pynomaly_service::auth::create_key(state.store.as_ref(), "globex")
        .await
        .unwrap();
    let app = router(state);
    let send = |key: Option<String>, method: &'static str, uri: String, body: Value| {
        let app = app.clone();
        async move {
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(k) = key {
                request = request.header("x-api-key", k);
            }
            let body = if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            };
            let response = app.oneshot(request.body(body).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    // Open endpoints need no key.
    assert_eq!(
        send(None, "GET", "/health".into(), Value::Null).await.0,
        StatusCode::OK
    );
    let (status, problem) = send(None, "GET", "/api/v1/models".into(), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("missing API key")
    );
    let (status, problem) = send(
        Some("pyn_000000000000_nope".into()),
        "GET",
        "/api/v1/models".into(),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(problem["detail"].as_str().unwrap().contains("invalid"));
    // Bearer works too.
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/api/v1/models")
                .header(header::AUTHORIZATION, format!("Bearer {acme}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A model of acme's is invisible to globex.
    let training: Vec<Value> = (0..30).map(|i| json!([i as f64, (i % 3) as f64])).collect();
    let (status, created) = send(
        Some(acme.clone()),
        "POST",
        "/api/v1/models".into(),
        json!({"algorithm": "hbos", "data": training}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        send(
            Some(acme.clone()),
            "GET",
            format!("/api/v1/models/{id}"),
            Value::Null
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            Some(globex.clone()),
            "GET",
            format!("/api/v1/models/{id}"),
            Value::Null
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = send(
        Some(globex.clone()),
        "POST",
        format!("/api/v1/models/{id}/predict"),
        json!({"data": [[1, 1]]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = send(Some(globex), "GET", "/api/v1/models".into(), Value::Null).await;
    assert_eq!(listed["models"].as_array().unwrap().len(), 0);
}

/// Large inputs: upload, queue a job, poll it, fetch the results.
#[tokio::test]
async fn upload_job_results() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (status, upload, _) =
        post_json(&app, "/api/v1/uploads", json!({"filename": "metrics.csv"})).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let url = upload["upload_url"].as_str().unwrap().to_string();
    let key = upload["object_key"].as_str().unwrap().to_string();
    // Bigger than the 64 KiB request limit, within the upload limit.
    let mut csv = String::from("host,cpu,mem\n");
    for i in 0..5000 {
        csv.push_str(&format!(
            "host-{:04},{:.4},{:.4}\n",
            i % 9,
            (i % 13) as f64 * 0.5,
            (i % 7) as f64
        ));
    }
    assert!(csv.len() > 64 * 1024);
    let (status, stored, _) = call(&app, "PUT", &url, "text/csv", csv).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let (status, job, _) = post_json(&app, "/api/v1/jobs", json!({"object_key": key, "algorithm": "ecod", "ignore_columns": ["host"], "contamination": 0.01})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let mut state = Value::Null;
    for _ in 0..200 {
        let (_, record, _) = call(
            &app,
            "GET",
            &format!("/api/v1/jobs/{id}"),
            "",
            Body::empty(),
        )
        .await;
        state = record.clone();
        if record["state"] == "succeeded" || record["state"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(state["state"], "succeeded", "{state}");
    assert_eq!(state["summary"]["rows"], 5000);
    let (status, text) = get_text(&app, format!("/api/v1/jobs/{id}/results")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text.lines().count(), 5001);
    assert!(text.starts_with("row,score,grade,anomaly"));

    // A job on a missing object, an unknown job, a bad key.
    let (status, problem, _) = post_json(
        &app,
        "/api/v1/jobs",
        json!({"object_key": "uploads/none.csv", "algorithm": "ecod"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _, _) = call(&app, "GET", "/api/v1/jobs/nope", "", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem, _) = post_json(
        &app,
        "/api/v1/jobs",
        json!({"object_key": "../secrets", "algorithm": "ecod"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
}

/// Uploads stream to the store as they arrive: a body with no declared length over the
/// limit is refused once it passes it, nothing stored; an empty one is refused too.
#[tokio::test]
async fn uploads_stream_within_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 256 * 1024;
    let app = router(
        AppState::new(
            Arc::new(LocalObjectStore::new(dir.path())),
            Limits {
                upload_bytes: limit,
                ..Limits::default()
            },
        )
        .without_keys(),
    );
    // A chunked body (no Content-Length): refused by counting, not by the header.
    let chunked = |chunks: usize| {
        let stream = futures::stream::iter(
            (0..chunks).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'1'; 64 * 1024]))),
        );
        Body::from_stream(stream)
    };
    let (status, stored, _) =
        call(&app, "PUT", "/api/v1/uploads/a.csv", "text/csv", chunked(3)).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["bytes"], 3 * 64 * 1024);
    assert_eq!(
        std::fs::metadata(dir.path().join("tenants/local/uploads/a.csv"))
            .unwrap()
            .len(),
        3 * 64 * 1024
    );
    let (status, problem, _) =
        call(&app, "PUT", "/api/v1/uploads/b.csv", "text/csv", chunked(5)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("uploads are limited to 262144 bytes")
    );
    let (status, problem, _) = call(
        &app,
        "PUT",
        "/api/v1/uploads/c.csv",
        "text/csv",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("tenants/local/uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, vec!["a.csv"], "a refused upload left a file");
}
