#![allow(clippy::unwrap_used)]
//! Streams through the Router (`oneshot`), on the local stores: every route, the three
//! body formats, the errors in the API's words, tenant scoping, a restart from the stored
//! states, and the metrics.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pynomaly_service::http::{AppState, Limits, router};
use pynomaly_service::storage::{LocalObjectStore, ObjectStore};
use pynomaly_service::streams::store::LocalStateStore;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY_ACME: &str = "pyn_0123456789ab_streamstestsecretacme000000000000";
const KEY_OTHER: &str = "pyn_ba9876543210_streamstestsecretother00000000000";

fn app(dir: &std::path::Path, cache: usize) -> axum::Router {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir));
    let streams = pynomaly_service::streams::Streams::new(
        store.clone(),
        Arc::new(LocalStateStore::new(dir.join("states"))),
        cache,
    );
    let state = AppState::new(
        store,
        Limits {
            body_bytes: 256 * 1024,
            rows: 1000,
            ..Limits::default()
        },
    )
    .with_streams(streams);
    router(state)
}

async fn import_keys(dir: &std::path::Path) {
    let store = LocalObjectStore::new(dir);
    for (tenant, key) in [("acme", KEY_ACME), ("other", KEY_OTHER)] {
        pynomaly_service::auth::import_key(&store, tenant, key)
            .await
            .unwrap();
    }
}

async fn call(
    app: &axum::Router,
    key: &str,
    method: &str,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key);
    if !content_type.is_empty() {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn wave(i: usize) -> f64 {
    10.0 + (i as f64 * 0.3).sin() + ((i * 7) % 5) as f64 * 0.05
}

#[tokio::test]
async fn a_stream_from_creation_to_deletion() {
    let dir = tempfile::tempdir().unwrap();
    import_keys(dir.path()).await;
    let app = app(dir.path(), 16 << 20);
    let (status, created) = call(
        &app,
        KEY_ACME,
        "POST",
        "/api/v1/streams",
        "application/json",
        json!({"name": "cpu", "method": "rolling-z", "parameters": {"window": 50, "cooldown": 3},
               "entity_field": "host"})
        .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["parameters"]["window"], 50);
    assert_eq!(created["parameters"]["cooldown"], 3);
    let points = format!("/api/v1/streams/{id}/points");

    // JSON: 60 normal points per host, then a spike on web-2.
    let mut batch: Vec<Value> = (0..60)
        .flat_map(|i| {
            ["web-1", "web-2"].map(|h| {
                json!({"host": h, "timestamp": format!("2026-01-01T00:{:02}:00Z", i), "value": wave(i)})
            })
        })
        .collect();
    batch.push(json!({"host": "web-2", "timestamp": "2026-01-01T01:00:00Z", "value": 90.0}));
    let (status, scored) = call(
        &app,
        KEY_ACME,
        "POST",
        &points,
        "application/json",
        json!({ "points": batch }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scored}");
    let results = scored["points"].as_array().unwrap();
    assert_eq!(results.len(), 121);
    assert_eq!(scored["entities"], 2);
    assert_eq!(scored["anomalies"], 1);
    let spike = &results[120];
    assert_eq!(spike["entity"], "web-2");
    assert_eq!(spike["anomaly"], true);
    assert_eq!(spike["index"], 60);
    assert!(spike["score"].as_f64().unwrap() > 1.0);
    assert!(spike["grade"].as_f64().unwrap() > 0.95);
    assert!(spike["expected"].as_f64().unwrap() < spike["upper"].as_f64().unwrap());
    assert_eq!(spike["timestamp"], "2026-01-01T01:00:00Z");

    // NDJSON and CSV carry on the same entities; a late point is skipped, not scored.
    let (status, body) = call(
        &app,
        KEY_ACME,
        "POST",
        &points,
        "application/x-ndjson",
        "{\"host\": \"web-1\", \"timestamp\": \"2026-01-01T01:00:00Z\", \"value\": 10.1}\n{\"host\": \"web-1\", \"timestamp\": \"2026-01-01T00:30:00Z\", \"value\": 10.1}\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"][0]["index"], 60);
    assert_eq!(body["points"][1]["late"], true);
    let (status, body) = call(
        &app,
        KEY_ACME,
        "POST",
        &points,
        "text/csv",
        "host,timestamp,value\nweb-3,2026-01-01T00:00:00Z,4\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"][0]["entity"], "web-3");

    // Entities, one entity, reset.
    let (status, body) = call(
        &app,
        KEY_ACME,
        "GET",
        &format!("/api/v1/streams/{id}/entities"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entities = body["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 3);
    assert_eq!(entities[0]["entity"], "web-1");
    assert_eq!(entities[0]["points"], 61);
    assert_eq!(entities[0]["late"], 1);
    assert_eq!(entities[1]["anomalies"], 1);
    assert_eq!(entities[1]["last_anomaly"]["index"], 60);
    assert!(entities[1]["state_bytes"].as_u64().unwrap() > 100);
    let (status, body) = call(
        &app,
        KEY_ACME,
        "GET",
        &format!("/api/v1/streams/{id}/entities/web-2"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["points"], 61);
    assert_eq!(body["last_point"]["values"]["value"], 90.0);
    let (status, body) = call(
        &app,
        KEY_ACME,
        "POST",
        &format!("/api/v1/streams/{id}/entities/web-2/reset"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"], 0);
    let (status, _) = call(
        &app,
        KEY_ACME,
        "GET",
        &format!("/api/v1/streams/{id}/entities/nobody"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another tenant sees nothing of it.
    let (status, body) = call(&app, KEY_OTHER, "GET", "/api/v1/streams", "", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["streams"].as_array().unwrap().len(), 0);
    let (status, _) = call(
        &app,
        KEY_OTHER,
        "POST",
        &points,
        "application/json",
        r#"{"points": [{"host": "x", "value": 1}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&app, KEY_ACME, "GET", "/api/v1/streams", "", Body::empty()).await;
    assert_eq!(body["streams"][0]["id"], id.as_str(), "{status} {body}");

    // Metrics count the stream's points.
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(&format!(
            "pynomaly_stream_points_total{{stream=\"{id}\"}} 124"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "pynomaly_stream_anomalies_total{{stream=\"{id}\"}} 1"
    )));

    // Delete: the stream and its states are gone.
    let (status, _) = call(
        &app,
        KEY_ACME,
        "DELETE",
        &format!("/api/v1/streams/{id}"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        KEY_ACME,
        "GET",
        &format!("/api/v1/streams/{id}"),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!dir.path().join("states/acme").join(&id).exists());
}

#[tokio::test]
async fn bad_requests_are_named_in_the_apis_words() {
    let dir = tempfile::tempdir().unwrap();
    import_keys(dir.path()).await;
    let app = app(dir.path(), 16 << 20);
    let create = |body: Value| {
        let app = app.clone();
        async move {
            call(
                &app,
                KEY_ACME,
                "POST",
                "/api/v1/streams",
                "application/json",
                body.to_string(),
            )
            .await
        }
    };
    let (status, body) = create(json!({"method": "forecast"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("rcf, rolling-z, context")
    );
    let (status, body) = create(json!({"method": "rcf", "parameters": {"trees": 3}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("trees"), "{body}");
    let (status, body) = create(json!({"methd": "rcf"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("methd"), "{body}");
    let (status, body) = create(json!({"method": "arima"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (_, created) = create(json!({"method": "rcf", "value_fields": ["cpu", "lat"]})).await;
    let points = format!("/api/v1/streams/{}/points", created["id"].as_str().unwrap());
    let post = |content_type: &'static str, body: String| {
        let (app, points) = (app.clone(), points.clone());
        async move { call(&app, KEY_ACME, "POST", &points, content_type, body).await }
    };
    let (status, body) = post(
        "application/json",
        json!({"points": [{"entity": "a", "cpu": 1, "lat": 2}, {"entity": "a", "cpu": 1}]})
            .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("point 1") && detail.contains("`lat`"),
        "{detail}"
    );
    let (status, body) = post(
        "application/json",
        json!({"points": [{"entity": "a", "cpu": 1e300, "lat": 2}]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = post("application/json", "{\"points\": [".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post("application/xml", "<points/>".into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"entity": "a", "cpu": i, "lat": 1}))
        .collect();
    let (status, body) = post("application/json", json!({ "points": many }).to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Nothing of the refused batches was learned.
    let (status, body) = call(
        &app,
        KEY_ACME,
        "GET",
        &format!(
            "/api/v1/streams/{}/entities",
            created["id"].as_str().unwrap()
        ),
        "",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["entities"].as_array().unwrap().len(), 0);
    // Multi-field points name their top field.
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"entity": "a", "values": {"cpu": wave(i), "lat": 100.0 + wave(i)}}))
        .chain([json!({"entity": "a", "values": {"cpu": 10.0, "lat": 5000.0}})])
        .collect();
    let (status, body) = post("application/json", json!({ "points": batch }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"][50]["field"], "lat");
}

/// A server restarted (a new Router, empty cache) carries on from the stored states: the
/// second half of a series scores exactly as it would have without the restart.
#[tokio::test]
async fn a_restart_carries_on_from_the_stored_state() {
    let dir = tempfile::tempdir().unwrap();
    import_keys(dir.path()).await;
    let values: Vec<f64> = (0..400)
        .map(|i| wave(i) + if i == 333 { 30.0 } else { 0.0 })
        .collect();
    let body = |range: std::ops::Range<usize>| {
        let points: Vec<Value> = range
            .map(|i| json!({"entity": "h", "value": values[i]}))
            .collect();
        json!({ "points": points }).to_string()
    };
    let create = json!({"method": "rcf", "parameters": {"warmup": 100, "cooldown": 5}}).to_string();
    let run = |restart: bool| {
        let dir = dir
            .path()
            .join(if restart { "restart" } else { "straight" });
        let body = &body;
        let create = create.clone();
        async move {
            std::fs::create_dir_all(&dir).unwrap();
            import_keys(&dir).await;
            let first = app(&dir, 16 << 20);
            let (_, created) = call(
                &first,
                KEY_ACME,
                "POST",
                "/api/v1/streams",
                "application/json",
                create,
            )
            .await;
            let points = format!("/api/v1/streams/{}/points", created["id"].as_str().unwrap());
            let (_, a) = call(
                &first,
                KEY_ACME,
                "POST",
                &points,
                "application/json",
                body(0..200),
            )
            .await;
            let second = if restart { app(&dir, 16 << 20) } else { first };
            let (_, b) = call(
                &second,
                KEY_ACME,
                "POST",
                &points,
                "application/json",
                body(200..400),
            )
            .await;
            let mut all = a["points"].as_array().unwrap().clone();
            all.extend(b["points"].as_array().unwrap().iter().cloned());
            all
        }
    };
    let straight = run(false).await;
    let restarted = run(true).await;
    assert_eq!(straight.len(), 400);
    assert_eq!(straight, restarted);
    assert_eq!(straight[333]["anomaly"], true, "{}", straight[333]);
}

#[tokio::test]
async fn the_openapi_document_lists_every_stream_route() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), 16 << 20);
    let request = Request::builder()
        .uri("/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let doc: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    for (path, method) in [
        ("/api/v1/streams", "post"),
        ("/api/v1/streams", "get"),
        ("/api/v1/streams/{id}", "get"),
        ("/api/v1/streams/{id}", "delete"),
        ("/api/v1/streams/{id}/points", "post"),
        ("/api/v1/streams/{id}/entities", "get"),
        ("/api/v1/streams/{id}/entities/{entity}", "get"),
        ("/api/v1/streams/{id}/entities/{entity}/reset", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
}
