//! The web console: a page and its scripts, embedded in the binary so that every place
//! the Router runs (`pynomaly serve`, the container, the Lambda function) serves it. The
//! page calls only the public API (`api/v1/...`, relative to the page), with the key the
//! user types kept in `sessionStorage`. Sources: `shared/service/console/`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppError;

/// No inline script or style, nothing from another origin, no framing: the page's own
/// files and the API only. `blob:` images are the chart downloads.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: u64,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../console/", $name)),
            etag: fnv1a(include_bytes!(concat!("../../console/", $name))),
        }
    };
}

/// FNV-1a over the file, at compile time: an ETag that changes with the file, so a
/// browser revalidates cheaply (304) and never runs a stale script after an upgrade.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("algorithms.js", JS),
    asset!("picker.js", JS),
    asset!("dom.js", JS),
    asset!("files.js", JS),
    asset!("charts.js", JS),
    asset!("detect.js", JS),
    asset!("series.js", JS),
    asset!("models.js", JS),
    asset!("jobs.js", JS),
    asset!("streams.js", JS),
    asset!("console.css", CSS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
];

/// The names and sizes of the console's files (the page weight).
pub fn files() -> impl Iterator<Item = (&'static str, usize)> {
    std::iter::once(&INDEX)
        .chain(ASSETS)
        .map(|a| (a.name, a.body.len()))
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let out = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// `GET /`: the console.
pub(super) async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /console/{*file}`: its scripts and styles.
pub(super) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => serve(asset, &headers),
        None => AppError::not_found(format!(
            "the console has no file `{file}`; open / for the console"
        ))
        .into_response(),
    }
}
