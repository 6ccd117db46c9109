#![allow(clippy::unwrap_used)]
//! The web console as the Router serves it: the page, its files, the headers that keep
//! it safe, and the Parquet body its Detect page sends. The page itself runs in a real
//! browser in scripts/e2e-browser.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use pynomaly_service::http::{AppState, Limits, console_files, router};
use pynomaly_service::storage::LocalObjectStore;
use tower::ServiceExt;

fn app(dir: &std::path::Path) -> axum::Router {
    let store = Arc::new(LocalObjectStore::new(dir));
    router(AppState::new(store, Limits::default()).without_keys())
}

async fn fetch(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_page_has_a_strict_policy_and_every_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (status, headers, body) = fetch(&app, "GET", "/", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header_of(&headers, header::CONTENT_TYPE).starts_with("text/html"));
    let csp = header_of(&headers, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(
        header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    assert_eq!(header_of(&headers, header::REFERRER_POLICY), "no-referrer");
    let html = String::from_utf8(body).unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style="), "no inline style");

    // Every file the page or a script names is served (a module missing from the
    // embedded list would break the page only in a browser).
    let mut named: Vec<String> = Vec::new();
    for (attribute, prefix) in [("src=\"", "console/"), ("href=\"", "console/")] {
        for part in html.split(attribute).skip(1) {
            let target = part.split('"').next().unwrap();
            if let Some(file) = target.strip_prefix(prefix) {
                named.push(file.to_string());
            }
        }
    }
    for (file, _) in console_files().filter(|(f, _)| f.ends_with(".js")) {
        let uri = format!("/console/{file}");
        let (_, _, body) = fetch(&app, "GET", &uri, &[], vec![]).await;
        let text = String::from_utf8(body).unwrap();
        for part in text.split("from './").skip(1) {
            named.push(part.split('\'').next().unwrap().to_string());
        }
    }
    assert!(named.len() > 10, "{named:?}");
    for file in &named {
        let (status, headers, _) =
            fetch(&app, "GET", &format!("/console/{file}"), &[], vec![]).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        let kind = header_of(&headers, header::CONTENT_TYPE);
        if file.ends_with(".js") {
            assert_eq!(kind, "text/javascript; charset=utf-8", "{file}");
        } else {
            assert_eq!(kind, "text/css; charset=utf-8", "{file}");
        }
        assert_eq!(
            header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
    }
    // And nothing embedded is unused.
    for (file, _) in console_files().filter(|(f, _)| *f != "index.html") {
        assert!(
            named.iter().any(|n| n == file),
            "{file} is embedded but never loaded"
        );
    }
}

#[tokio::test]
async fn files_revalidate_by_etag_and_unknown_ones_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (status, headers, body) = fetch(&app, "GET", "/console/app.js", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
    assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");
    let etag = header_of(&headers, header::ETAG).to_string();
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let (status, _, body) = fetch(
        &app,
        "GET",
        "/console/app.js",
        &[(header::IF_NONE_MATCH, &etag)],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (_, other, _) = fetch(&app, "GET", "/console/dom.js", &[], vec![]).await;
    assert_ne!(header_of(&other, header::ETAG), etag);

    // Gzipped for a browser that takes it: uPlot goes from 51 KB to about a third.
    let uplot = "/console/vendor/uPlot.iife.min.js";
    let (_, plain_headers, plain) = fetch(&app, "GET", uplot, &[], vec![]).await;
    assert_eq!(header_of(&plain_headers, header::CONTENT_ENCODING), "");
    let (status, headers, gzipped) = fetch(
        &app,
        "GET",
        uplot,
        &[(header::ACCEPT_ENCODING, "gzip")],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_ENCODING), "gzip");
    assert!(
        gzipped.len() * 2 < plain.len(),
        "{} of {}",
        gzipped.len(),
        plain.len()
    );
    assert_eq!(&gzipped[..2], &[0x1f, 0x8b]);

    for uri in [
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/vendor",
    ] {
        let (status, headers, body) = fetch(&app, "GET", uri, &[], vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            header_of(&headers, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("open /"),
            "{problem}"
        );
    }
    let (status, _, _) = fetch(&app, "POST", "/", &[], vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn api_answers_are_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    for uri in [
        "/api/v1/models",
        "/api/v1/algorithms",
        "/api/v1/models/nope",
    ] {
        let (_, headers, _) = fetch(&app, "GET", uri, &[], vec![]).await;
        assert_eq!(
            header_of(&headers, header::CACHE_CONTROL),
            "no-store",
            "{uri}"
        );
        assert_eq!(
            header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
    }
}

#[tokio::test]
async fn detect_reads_a_parquet_body_as_it_reads_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/samples");
    let mut answers = Vec::new();
    for (file, kind) in [
        ("wbc.csv", "text/csv"),
        ("wbc.parquet", "application/vnd.apache.parquet"),
    ] {
        let bytes = std::fs::read(samples.join(file)).unwrap();
        let (status, _, body) = fetch(
            &app,
            "POST",
            "/api/v1/detect?algorithm=ecod&ignore_columns=label",
            &[(header::CONTENT_TYPE, kind)],
            bytes,
        )
        .await;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::OK, "{file}: {answer}");
        answers.push(answer);
    }
    assert_eq!(answers[0]["scores"], answers[1]["scores"]);
    assert_eq!(
        answers[0]["anomalies_detected"],
        answers[1]["anomalies_detected"]
    );
    assert_eq!(answers[0]["total_samples"], 223);

    let (status, _, body) = fetch(
        &app,
        "POST",
        "/api/v1/detect",
        &[(header::CONTENT_TYPE, "application/vnd.apache.parquet")],
        b"a,b\n1,2\n".to_vec(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
}
