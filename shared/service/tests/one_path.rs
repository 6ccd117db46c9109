#![allow(clippy::unwrap_used)]
//! One scoring path: the same rows scored with the same model give the same scores and
//! flags through every door of the service — HTTP predict (JSON records, CSV, NDJSON), an
//! API job and the S3 drop folder — whatever the column order and extra text columns.
//! Also the contract points each door shares: unknown query parameters, the cost check.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pynomaly_service::consumer::run_worker;
use pynomaly_service::deadline::{DeadlineStore, Deadlines};
use pynomaly_service::fanout::{IngestConfig, IngestOutcome, ingest_object};
use pynomaly_service::http::{AppState, Limits, router};
use pynomaly_service::jobs::{InProcessQueue, JobServices, ObjectMetadataStore};
use pynomaly_service::storage::{LocalObjectStore, ObjectStore, StoreError};
use pynomaly_service::testing::HungStore;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Service {
    app: axum::Router,
    store: Arc<dyn ObjectStore>,
    services: JobServices,
    queue: InProcessQueue,
}

fn service(dir: &std::path::Path) -> Service {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir));
    let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
    let (queue, receiver) = InProcessQueue::new();
    let services = JobServices::new(store.clone(), metadata.clone());
    tokio::spawn(run_worker(services.clone(), queue.clone(), receiver));
    let state = AppState::new(store.clone(), Limits::default())
        .with_jobs(metadata, Arc::new(queue.clone()))
        .with_counters(services.counters.clone())
        .without_keys();
    Service {
        app: router(state),
        store,
        services,
        queue,
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    kind: &str,
    body: String,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, kind)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Training rows `a,b,c` and rows to score with an outlier.
fn training_csv() -> String {
    let mut csv = String::from("a,b,c\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "{},{},{}\n",
            i % 7,
            10 + i % 5,
            (i % 3) as f64 * 0.5
        ));
    }
    csv
}

const PROBE: [[f64; 3]; 4] = [
    [3.0, 12.0, 0.5],
    [6.0, 80.0, 1.0],
    [1.0, 11.0, 0.0],
    [40.0, 10.0, 0.5],
];

/// The probe rows with columns shuffled (`c,host,a,b`) and a text column.
fn shuffled_csv() -> String {
    let mut csv = String::from("c,host,a,b\n");
    for (i, [a, b, c]) in PROBE.iter().enumerate() {
        csv.push_str(&format!("{c},web-{i},{a},{b}\n"));
    }
    csv
}

fn scores_of_csv(text: &str) -> (Vec<f64>, Vec<bool>) {
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[1].parse::<f64>().unwrap(), fields[3] == "true")
        })
        .unzip()
}

fn scores_of_response(body: &Value) -> (Vec<f64>, Vec<bool>) {
    let scores: Vec<f64> = body["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let flagged: Vec<usize> = body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["index"].as_u64().unwrap() as usize)
        .collect();
    let flags = (0..scores.len()).map(|i| flagged.contains(&i)).collect();
    (scores, flags)
}

async fn wait_for_job(app: &axum::Router, id: &str) -> Value {
    for _ in 0..300 {
        let (_, record) = call(app, "GET", &format!("/api/v1/jobs/{id}"), "", String::new()).await;
        if record["state"] == "succeeded" || record["state"] == "failed" {
            return record;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} did not finish");
}

/// A knn model fitted on [`training_csv`] through `POST /api/v1/models`; its id.
async fn knn_model(svc: &Service) -> String {
    let (status, created) = call(
        &svc.app,
        "POST",
        "/api/v1/models?algorithm=knn",
        "text/csv",
        training_csv(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["features"], json!(["a", "b", "c"]));
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_door_scores_shuffled_columns_and_extra_text_alike() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let id = knn_model(&svc).await;
    let predict = format!("/api/v1/models/{id}/predict");

    // The reference: rows in the trained order, as JSON arrays.
    let (status, reference) = call(
        &svc.app,
        "POST",
        &predict,
        "application/json",
        json!({"data": PROBE}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reference}");
    let expected = scores_of_response(&reference);
    assert_eq!(expected.1, vec![false, true, false, true], "{reference}");

    // JSON records in another key order, with a text field.
    let records: Vec<Value> = PROBE
        .iter()
        .map(|[a, b, c]| json!({"host": "web", "c": c, "b": b, "a": a}))
        .collect();
    let (status, body) = call(
        &svc.app,
        "POST",
        &predict,
        "application/json",
        json!({"records": records}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of_response(&body), expected, "records");

    // CSV with shuffled columns and a text column.
    let (status, body) = call(&svc.app, "POST", &predict, "text/csv", shuffled_csv()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of_response(&body), expected, "csv");

    // NDJSON likewise.
    let ndjson: String = records.iter().map(|r| format!("{r}\n")).collect();
    let (status, body) = call(&svc.app, "POST", &predict, "application/x-ndjson", ndjson).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of_response(&body), expected, "ndjson");

    // An API job over the shuffled file.
    svc.store
        .put(
            "tenants/local/uploads/probe.csv",
            shuffled_csv().into_bytes(),
        )
        .await
        .unwrap();
    let (status, job) = call(
        &svc.app,
        "POST",
        "/api/v1/jobs",
        "application/json",
        json!({"object_key": "uploads/probe.csv", "model_id": id}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let record = wait_for_job(&svc.app, job["id"].as_str().unwrap()).await;
    assert_eq!(record["state"], "succeeded", "{record}");
    let results = svc
        .store
        .get(record["results_key"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        scores_of_csv(&String::from_utf8(results).unwrap()),
        expected,
        "job"
    );

    // The drop folder (tenant `local`, the tenant of key-less requests).
    let key = format!("incoming/{id}/probe.csv");
    let body = shuffled_csv().into_bytes();
    let size = body.len() as u64;
    svc.store.put(&key, body).await.unwrap();
    let config = IngestConfig {
        tenant: "local".into(),
        ..IngestConfig::default()
    };
    let outcome = ingest_object(&svc.services, &svc.queue, &config, &key, size, "v1")
        .await
        .unwrap();
    let IngestOutcome::Scored { results_key, .. } = outcome else {
        panic!("not scored: {outcome:?}");
    };
    let results = svc.store.get(&results_key).await.unwrap();
    assert_eq!(
        scores_of_csv(&String::from_utf8(results).unwrap()),
        expected,
        "drop folder"
    );

    // A trained column missing from the input is named.
    let (status, problem) = call(&svc.app, "POST", &predict, "text/csv", "a,b\n1,2\n".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("column `c`, which the input lacks"),
        "{problem}"
    );
}

#[tokio::test]
async fn query_parameters_are_checked_and_costly_fits_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    // A misspelt parameter is named, not ignored.
    for (uri, named) in [
        ("/api/v1/detect?contamnation=0.3", "contamnation"),
        ("/api/v1/detect?ignore_column=label", "ignore_column"),
        ("/api/v1/models?algoritm=knn", "algoritm"),
    ] {
        let (status, problem) = call(&svc.app, "POST", uri, "text/csv", training_csv()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(named),
            "{problem}"
        );
    }
    // Query parameters are not read with a JSON body: that is said, not ignored.
    let (status, problem) = call(
        &svc.app,
        "POST",
        "/api/v1/detect?contamination=0.3",
        "application/json",
        json!({"data": PROBE}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("put it in the body")
    );
    // Missing values: the HTTP API has the CLI's policy, in its own words.
    let gappy = "a,b\n1,2\n,3\n2,2\n1,3\n2,3\n1,2\n3,3\n";
    let (status, problem) = call(
        &svc.app,
        "POST",
        "/api/v1/detect?algorithm=ecod",
        "text/csv",
        gappy.into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("set `missing`"),
        "{problem}"
    );
    assert!(
        !problem["detail"].as_str().unwrap().contains("--missing"),
        "{problem}"
    );
    let (status, body) = call(
        &svc.app,
        "POST",
        "/api/v1/detect?algorithm=ecod&missing=median",
        "text/csv",
        gappy.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_samples"], 7);

    // Semicolon-separated CSV is read as such (it was one column named `a;b`).
    let semicolons = "a;b\n1;2\n2;2\n1;3\n2;3\n1;2\n9;9\n";
    let (status, body) = call(
        &svc.app,
        "POST",
        "/api/v1/detect?algorithm=ecod",
        "text/csv",
        semicolons.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_samples"], 6);
    let (status, _) = call(
        &svc.app,
        "POST",
        "/api/v1/detect?delimiter=%3B",
        "text/csv",
        semicolons.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The ensemble's members by name, as documented.
    let (status, body) = call(
        &svc.app,
        "POST",
        "/api/v1/detect",
        "application/json",
        json!({"algorithm": "ensemble", "parameters": {"members": ["ecod", "isolation_forest"]}, "data": PROBE.repeat(3)}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A value that would overflow the detectors' arithmetic is refused, not scored 0.
    let (status, problem) = call(
        &svc.app,
        "POST",
        "/api/v1/detect",
        "application/json",
        json!({"algorithm": "knn", "data": [[1.0, 2.0], [1e300, 2.0], [1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [1.0, 1.0], [3.0, 3.0]]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("rescale"),
        "{problem}"
    );

    // 2 rows x 100,000 columns (under the body limit) would ask PCA, LOF and the
    // ensemble for tens of GB: refused before any allocation, and the server lives on.
    let row =
        |shift: usize| -> Vec<f64> { (0..100_000).map(|j| ((j + shift) % 10) as f64).collect() };
    let wide = json!({"data": [row(0), row(1)]}).to_string();
    assert!(wide.len() < Limits::default().body_bytes);
    for algorithm in ["pca", "lof", "ensemble", "rcf"] {
        let body = wide.replacen('{', &format!("{{\"algorithm\": \"{algorithm}\", "), 1);
        for uri in ["/api/v1/detect", "/api/v1/models"] {
            let (status, problem) =
                call(&svc.app, "POST", uri, "application/json", body.clone()).await;
            assert_eq!(
                status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{algorithm} {uri}: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("100000 columns") && detail.contains("use fewer columns"),
                "{detail}"
            );
        }
    }
    let (status, _) = call(
        &svc.app,
        "POST",
        "/api/v1/detect",
        "application/json",
        json!({"data": PROBE, "algorithm": "ecod"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// An object store that is down: every call fails with the backend's error chain.
#[derive(Debug)]
struct Down;

#[async_trait::async_trait]
impl ObjectStore for Down {
    async fn put(&self, key: &str, _: Vec<u8>) -> Result<(), StoreError> {
        Err(down("put", key))
    }
    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        Err(down("get", key))
    }
    async fn get_range(&self, key: &str, _: std::ops::Range<u64>) -> Result<Vec<u8>, StoreError> {
        Err(down("get", key))
    }
    async fn list(&self, key: &str) -> Result<Vec<String>, StoreError> {
        Err(down("list", key))
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Err(down("delete", key))
    }
    async fn ready(&self) -> Result<(), StoreError> {
        Err(down("ready", ""))
    }
}

fn down(action: &'static str, key: &str) -> StoreError {
    StoreError::Backend {
        action,
        key: key.into(),
        message: "dispatch failure: io error: Connection refused (os error 111)".into(),
    }
}

/// Hung or down, the object store costs a request a bounded wait and a 503 with
/// `Retry-After`, whose detail names the dependency — not its keys or error chain.
#[tokio::test]
async fn a_storage_outage_is_a_fast_503() {
    let deadlines = Deadlines {
        call: std::time::Duration::from_millis(200),
        per_mib: std::time::Duration::from_millis(1),
        ready: std::time::Duration::from_millis(100),
    };
    for (name, inner) in [
        ("hung", Arc::new(HungStore) as Arc<dyn ObjectStore>),
        ("down", Arc::new(Down) as Arc<dyn ObjectStore>),
    ] {
        let store = DeadlineStore::wrap(inner, deadlines);
        let state = AppState::new(store, Limits::default());
        let keyed = router(state.clone());
        let open = router(state.without_keys());
        let started = std::time::Instant::now();
        for (app, uri) in [
            (&open, "/ready"),
            (&open, "/api/v1/models"),
            (&keyed, "/api/v1/models"),
        ] {
            let request = Request::builder()
                .uri(uri)
                .header("x-api-key", "pyn_0123456789ab_secret")
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{name} {uri}"
            );
            assert_eq!(response.headers()[header::RETRY_AFTER], "5", "{name} {uri}");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let problem: Value = serde_json::from_slice(&bytes).unwrap();
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                !detail.contains("tenants/") && !detail.contains("refused"),
                "{name} {uri}: {detail}"
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{name}"
        );
    }
}

/// Model names are stored, unique per tenant (409 unless a new version is asked for),
/// and address the model like its id.
#[tokio::test]
async fn model_names_are_stored_unique_and_addressable() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let body = |extra: Value| {
        let mut b = json!({"algorithm": "ecod", "name": "web-latency", "data": PROBE.repeat(5)});
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        b.to_string()
    };
    let (status, first) = call(
        &svc.app,
        "POST",
        "/api/v1/models",
        "application/json",
        body(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["name"], "web-latency");
    assert!(first["created_at"].as_u64().unwrap() > 1_700_000_000);
    let (status, problem) = call(
        &svc.app,
        "POST",
        "/api/v1/models",
        "application/json",
        body(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("new_version"));
    let (status, second) = call(
        &svc.app,
        "POST",
        "/api/v1/models",
        "application/json",
        body(json!({"new_version": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (status, listed) = call(&svc.app, "GET", "/api/v1/models", "", String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["models"].as_array().unwrap().len(), 2, "{listed}");
    // The name points to the newest version; the first stays addressable by id.
    let (_, shown) = call(
        &svc.app,
        "GET",
        "/api/v1/models/web-latency",
        "",
        String::new(),
    )
    .await;
    assert_eq!(shown["id"], second["id"], "{shown}");
    let (status, _) = call(
        &svc.app,
        "GET",
        &format!("/api/v1/models/{}", first["id"].as_str().unwrap()),
        "",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, scored) = call(
        &svc.app,
        "POST",
        "/api/v1/models/web-latency/predict",
        "application/json",
        json!({"data": PROBE}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scored}");
    assert_eq!(scored["total_samples"], 4);
    let (status, problem) = call(
        &svc.app,
        "POST",
        "/api/v1/models",
        "application/json",
        body(json!({"name": "../x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
}

/// HTTP hygiene: an over-long job id is a 404 (it was a 500 with a file path), a body
/// declared over the limit is refused before it is read, and a client that goes away
/// does not free its core's admission slot while its computation still runs.
#[tokio::test]
async fn ids_declared_lengths_and_abandoned_work() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let long = "a".repeat(300);
    let (status, problem) = call(
        &svc.app,
        "GET",
        &format!("/api/v1/jobs/{long}"),
        "",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, _) = call(
        &svc.app,
        "GET",
        &format!("/api/v1/models/{long}"),
        "",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/detect")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "999999999")
        .body(Body::from("{}"))
        .unwrap();
    let response = svc.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // One admission slot; a heavy LOF fit whose client disconnects.
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
    let mut state = AppState::new(store, Limits::default()).without_keys();
    state.cpu = Arc::new(tokio::sync::Semaphore::new(1));
    let app = router(state.clone());
    let rows: Vec<Vec<f64>> = (0..6000)
        .map(|i| (0..20).map(|j| ((i * (j + 3)) % 97) as f64).collect())
        .collect();
    let body = json!({"algorithm": "lof", "data": rows}).to_string();
    let client = tokio::spawn(async move {
        call(&app, "POST", "/api/v1/detect", "application/json", body).await
    });
    let mut admitted = false;
    for _ in 0..500 {
        if state.cpu.available_permits() == 0 {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(admitted, "the request was never admitted");
    client.abort();
    let _ = client.await;
    assert_eq!(
        state.cpu.available_permits(),
        0,
        "the slot was freed while the fit still runs"
    );
    let mut freed = false;
    for _ in 0..3000 {
        if state.cpu.available_permits() == 1 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(freed, "the slot was never given back");
}

/// Jobs are listed newest first a page at a time, with their times; results can be
/// paged and filtered to the anomalies.
#[tokio::test]
async fn jobs_are_listed_and_results_paged() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let mut csv = String::from("a,b\n");
    for i in 0..300 {
        csv.push_str(&format!("{},{}\n", i % 7, i % 5));
    }
    csv.push_str("90,90\n80,-70\n");
    svc.store
        .put("tenants/local/uploads/in.csv", csv.into_bytes())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, job) = call(
            &svc.app,
            "POST",
            "/api/v1/jobs",
            "application/json",
            json!({"object_key": "uploads/in.csv", "algorithm": "ecod"}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let record = wait_for_job(&svc.app, id).await;
        assert_eq!(record["state"], "succeeded", "{record}");
        let (created, started, finished) = (
            record["created_at"].as_u64().unwrap(),
            record["started_at"].as_u64().unwrap(),
            record["finished_at"].as_u64().unwrap(),
        );
        assert!(created <= started && started <= finished, "{record}");
    }
    // The process's metrics count the rows its jobs scored.
    let (_, metrics) = call(&svc.app, "GET", "/metrics", "", String::new()).await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("pynomaly_rows_scored_total{door=\"job\"} 906"),
        "{metrics}"
    );
    let (status, page) = call(&svc.app, "GET", "/api/v1/jobs?limit=2", "", String::new()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_string();
    let (_, rest) = call(
        &svc.app,
        "GET",
        &format!("/api/v1/jobs?limit=2&after={next}"),
        "",
        String::new(),
    )
    .await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next"].is_null());
    let mut seen: Vec<String> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["jobs"].as_array().unwrap())
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    let (_, failed) = call(
        &svc.app,
        "GET",
        "/api/v1/jobs?state=failed",
        "",
        String::new(),
    )
    .await;
    assert_eq!(failed["jobs"].as_array().unwrap().len(), 0, "{failed}");
    let (status, problem) = call(&svc.app, "GET", "/api/v1/jobs?limt=2", "", String::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

    let results = format!("/api/v1/jobs/{}/results", ids[0]);
    let (status, all) = call(&svc.app, "GET", &results, "", String::new()).await;
    assert_eq!(status, StatusCode::OK);
    let all = all.as_str().unwrap().to_string();
    assert_eq!(all.lines().count(), 303);
    let (_, flagged) = call(
        &svc.app,
        "GET",
        &format!("{results}?anomalies_only=true"),
        "",
        String::new(),
    )
    .await;
    let flagged = flagged.as_str().unwrap().to_string();
    let expected_flagged = all.lines().filter(|l| l.ends_with(",true")).count();
    assert!(expected_flagged >= 2);
    assert_eq!(flagged.lines().count(), expected_flagged + 1, "{flagged}");
    assert!(flagged.lines().skip(1).all(|l| l.ends_with(",true")));
    let (_, page) = call(
        &svc.app,
        "GET",
        &format!("{results}?offset=10&limit=5"),
        "",
        String::new(),
    )
    .await;
    let page = page.as_str().unwrap().to_string();
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("10,"), "{page}");
}

/// A door's answer, in one shape: each input row's score (`None`: dropped), the kept
/// `host` of each flagged row, or the problem's text.
type Outcome = Result<(Vec<Option<f64>>, Vec<(usize, String)>), String>;

fn outcome_of_response(status: StatusCode, body: &Value) -> Outcome {
    if status != StatusCode::OK {
        return Err(body["detail"].as_str().unwrap_or_default().to_string());
    }
    let scores = body["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::as_f64)
        .collect();
    let hosts = body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let host = a["kept"]["host"].as_str().unwrap_or_default().to_string();
            (a["index"].as_u64().unwrap() as usize, host)
        })
        .collect();
    Ok((scores, hosts))
}

fn outcome_of_results(csv: &[u8]) -> Outcome {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (score, anomaly, host) = (
        column("score").unwrap(),
        column("anomaly").unwrap(),
        column("host"),
    );
    let mut scores = Vec::new();
    let mut hosts = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        assert_eq!(
            record[0].parse::<usize>().unwrap(),
            i,
            "rows counted from 0"
        );
        scores.push(record[score].parse::<f64>().ok());
        if &record[anomaly] == "true" {
            hosts.push((i, host.map(|h| record[h].to_string()).unwrap_or_default()));
        }
    }
    Ok((scores, hosts))
}

/// The doors that take a table: HTTP (CSV body, options in the query), and an API job
/// over the same file (options in the spec). With a model they score; without, they fit.
async fn through_doors(
    svc: &Service,
    model: Option<&str>,
    csv: &str,
    options: &[(&str, &str)],
) -> Vec<(&'static str, Outcome)> {
    let query: Vec<String> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let uri = match model {
        Some(id) => format!("/api/v1/models/{id}/predict?{}", query.join("&")),
        None => format!("/api/v1/detect?algorithm=knn&{}", query.join("&")),
    };
    let (status, body) = call(&svc.app, "POST", &uri, "text/csv", csv.to_string()).await;
    let http = outcome_of_response(status, &body);

    let key = format!("uploads/{}.csv", uuid::Uuid::new_v4());
    svc.store
        .put(&format!("tenants/local/{key}"), csv.as_bytes().to_vec())
        .await
        .unwrap();
    let mut spec = json!({"object_key": key});
    match model {
        Some(id) => spec["model_id"] = json!(id),
        None => spec["algorithm"] = json!("knn"),
    }
    for (k, v) in options {
        spec[*k] = match *k {
            "keep" => json!(v.split(',').collect::<Vec<_>>()),
            _ => json!(v),
        };
    }
    let (status, job) = call(
        &svc.app,
        "POST",
        "/api/v1/jobs",
        "application/json",
        spec.to_string(),
    )
    .await;
    let job_outcome = if status == StatusCode::ACCEPTED {
        let record = wait_for_job(&svc.app, job["id"].as_str().unwrap()).await;
        match record["results_key"].as_str() {
            Some(results) => outcome_of_results(&svc.store.get(results).await.unwrap()),
            None => Err(record["error"].as_str().unwrap_or_default().to_string()),
        }
    } else {
        Err(job["detail"].as_str().unwrap_or_default().to_string())
    };
    vec![("http", http), ("job", job_outcome)]
}

#[tokio::test]
async fn the_contract_holds_on_every_door() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path());
    let id = knn_model(&svc).await;
    // Semicolons, shuffled columns, a text column, a gap in row 1, an outlier in row 3.
    let gappy = "c;host;a;b\n0.5;web-0;3;12\n1;web-1;;80\n0;web-2;1;11\n0.5;web-3;40;10\n";
    let filled_median = "c;host;a;b\n0.5;web-0;3;12\n1;web-1;3;80\n0;web-2;1;11\n0.5;web-3;40;10\n";
    // A gap in `c`, whose training mean (99.5 / 200) lies off the training grid, so the
    // fill changes the score.
    let gappy_c = "c;host;a;b\n;web-0;3;12\n1;web-1;6;80\n0;web-2;1;11\n0.5;web-3;40;10\n";
    let filled_mean =
        "c;host;a;b\n0.4975;web-0;3;12\n1;web-1;6;80\n0;web-2;1;11\n0.5;web-3;40;10\n";

    // Each row: model?, input, options, what every door must answer.
    type Expect = fn(&Outcome, &Outcome) -> Result<(), String>;
    let same_as_reference: Expect = |got, reference| {
        (got == reference)
            .then_some(())
            .ok_or_else(|| format!("{got:?} != {reference:?}"))
    };
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
        Expect,
    );
    let cases: Vec<Case<'_>> = vec![
        // A gap with the default policy: an error naming the row as results count it.
        (
            Some(&id),
            gappy,
            vec![],
            "missing value in column `a` at row 1",
            |got, _| match got {
                Err(text) if text.contains("missing value in column `a` at row 1") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        ),
        // `median` with a model fills from the training data (median of `a` is 3).
        (
            Some(&id),
            gappy,
            vec![("missing", "median"), ("keep", "host")],
            filled_median,
            same_as_reference,
        ),
        (
            Some(&id),
            gappy_c,
            vec![("missing", "mean"), ("keep", "host")],
            filled_mean,
            same_as_reference,
        ),
        // `drop` leaves row 1 out but in its place; the kept host follows each flagged row.
        (
            Some(&id),
            gappy,
            vec![("missing", "drop"), ("keep", "host")],
            "",
            |got, _| {
                let Ok((scores, hosts)) = got else {
                    return Err(format!("{got:?}"));
                };
                let dropped = scores.len() == 4 && scores[1].is_none() && scores[3].is_some();
                let flagged_outlier = hosts.contains(&(3, "web-3".to_string()));
                (dropped && flagged_outlier)
                    .then_some(())
                    .ok_or(format!("{got:?}"))
            },
        ),
        // Fitting: a kept column named like a result field is refused.
        (
            None,
            gappy,
            vec![("missing", "drop"), ("keep", "score")],
            "",
            |got, _| match got {
                Err(text) if text.contains("column `score` cannot be kept") => Ok(()),
                other => Err(format!("{other:?}")),
            },
        ),
        // An unknown policy is refused in the door's words.
        (
            None,
            gappy,
            vec![("missing", "guess")],
            "",
            |got, _| match got {
                Err(text) if text.contains("`missing` must be error, drop, mean or median") => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            },
        ),
    ];
    for (model, input, options, reference_input, expect) in cases {
        let reference = if reference_input.contains('\n') {
            let doors = through_doors(&svc, model, reference_input, &[("keep", "host")]).await;
            Some(doors[0].1.clone())
        } else {
            None
        };
        for (door, got) in through_doors(&svc, model, input, &options).await {
            let reference = reference.clone().unwrap_or(Err(String::new()));
            if let Err(why) = expect(&got, &reference) {
                panic!("{door} with {options:?}: {why}");
            }
        }
    }
}
