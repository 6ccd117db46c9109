#![allow(clippy::unwrap_used)]
//! `POST /api/v1/drift` through the Router (`oneshot`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pynomaly_service::http::{AppState, Limits, router};
use pynomaly_service::storage::LocalObjectStore;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The Router on local storage under `dir`, keys off.
fn app(dir: &std::path::Path) -> axum::Router {
    router(AppState::new(Arc::new(LocalObjectStore::new(dir)), Limits::default()).without_keys())
}

async fn post(body: Value) -> (StatusCode, Value) {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/drift")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn rows(n: usize, shift: f64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "host": format!("h{i}"),
                "cpu": ((i * 7919) % 1000) as f64 / 10.0,
                "latency": ((i * 104_729) % 997) as f64 + shift,
            })
        })
        .collect()
}

#[tokio::test]
async fn names_the_feature_that_moved() {
    let (status, body) = post(json!({
        "reference": rows(600, 0.0), "current": rows(500, 400.0), "ignore_columns": ["host"],
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"], "drift");
    assert_eq!(body["drifted"], json!(["latency"]));
    let cpu = &body["features"][0];
    assert_eq!(cpu["feature"], "cpu");
    assert_eq!(cpu["drifted"], false);
    assert!(body["features"][1]["p_value"].as_f64().unwrap() < 1e-10);
    let (_, body) = post(json!({
        "reference": rows(600, 0.0), "current": rows(300, 0.0), "ignore_columns": ["host"],
    }))
    .await;
    assert_eq!(body["verdict"], "stable", "{body}");
}

#[tokio::test]
async fn bad_requests_are_named() {
    let (status, body) = post(json!({"reference": rows(50, 0.0), "current": rows(50, 0.0),
        "ignore_columns": ["host"], "alpha": 1.5}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("alpha"), "{body}");
    let current: Vec<Value> = (0..20).map(|i| json!({"cpu": i})).collect();
    let (status, body) = post(json!({"reference": rows(50, 0.0), "current": current,
        "ignore_columns": ["host"]}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("current:") && detail.contains("latency"),
        "{detail}"
    );
    let (status, _) = post(json!({"reference": {"a": 1}, "current": rows(5, 0.0)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = post(json!({"reference": rows(5, 0.0), "current": rows(5, 0.0),
        "alfa": 0.1}))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("alfa"), "{body}");
}

/// A model keeps its training distribution; new rows are checked against it by name.
#[tokio::test]
async fn rows_are_checked_against_a_models_training_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let call = |uri: &str, body: Value| {
        let app = app.clone();
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, model) = call(
        "/api/v1/models",
        json!({"algorithm": "ecod", "records": rows(600, 0.0), "ignore_columns": ["host"], "name": "m"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{model}");
    let (status, body) = call(
        "/api/v1/models/m/drift",
        json!({"current": rows(400, 400.0)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["drifted"], json!(["latency"]), "{body}");
    assert_eq!(body["reference_rows"], 600);
    let (_, body) = call("/api/v1/models/m/drift", json!({"current": rows(400, 0.0)})).await;
    assert_eq!(body["verdict"], "stable", "{body}");
    let (status, _) = call(
        "/api/v1/models/nope/drift",
        json!({"current": rows(5, 0.0)}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
