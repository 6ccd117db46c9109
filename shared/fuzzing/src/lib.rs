//! # pynomaly-fuzzing
//!
//! What each fuzz target runs, one function per parser of outside input, with the
//! invariants the parser must keep beyond "no panic". `fuzz/fuzz_targets/*.rs` (cargo
//! fuzz, nightly) call these; `tests/corpus.rs` replays the committed corpus
//! (`fuzz/corpus/<target>/`) through the same functions on stable, so every input that
//! once found a bug stays a regression test.
//!
//! | target | input | runs |
//! |---|---|---|
//! | `csv`, `json`, `ndjson`, `parquet` | a file | [`formats::read_table`] with options picked by the first byte, then a small detection on what it read |
//! | `timestamps` | a series file | [`series::parse_timestamp`] on its text and [`series::read_series`] on its bytes |
//! | `model_envelope` | a stored model | [`Model::from_json`], then scoring a few rows with what it loaded |
//! | `sqs_event` | a Lambda SQS event | the batch function over a local store |
//! | `s3_event` | a Lambda S3 event | the ingest function over a local store |
//! | `query_string` | a query string | the HTTP router's routes that read query parameters: no 5xx |
//!
//! [`formats::read_table`]: pynomaly_service::formats::read_table
//! [`series::parse_timestamp`]: pynomaly_service::series::parse_timestamp
//! [`series::read_series`]: pynomaly_service::series::read_series
//! [`Model::from_json`]: pynomaly_detection::Model::from_json

use std::sync::{Arc, OnceLock};

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use axum::body::Body;
use axum::http::Request;
use pynomaly_detection::{AlgorithmParams, MAX_MAGNITUDE, Model, ScoreOptions, Threshold};
use pynomaly_service::formats::{Format, MissingPolicy, ReadOptions, Table, read_table};
use pynomaly_service::jobs::{InProcessQueue, JobServices, ObjectMetadataStore};
use pynomaly_service::storage::{LocalObjectStore, ObjectStore};
use pynomaly_service::{config, fanout, http, scoring, series};
use tower::ServiceExt;

/// A fuzz target's body: one input, checked.
pub type Target = fn(&[u8]);

/// Every target, by name (the folder of its corpus under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("csv", csv),
    ("json", json),
    ("ndjson", ndjson),
    ("parquet", parquet),
    ("timestamps", timestamps),
    ("model_envelope", model_envelope),
    ("sqs_event", sqs_event),
    ("s3_event", s3_event),
    ("query_string", query_string),
];

/// Read options from the input's first byte (so the fuzzer explores them too), and the
/// rest of the input.
fn options(data: &[u8], format: Format) -> (ReadOptions, &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return (ReadOptions::default(), data);
    };
    let missing = match pick & 3 {
        0 => MissingPolicy::Error,
        1 => MissingPolicy::Drop,
        2 => MissingPolicy::Mean,
        _ => MissingPolicy::Median,
    };
    let options = ReadOptions {
        format: (pick & 4 == 0).then_some(format),
        header: match pick & 24 {
            0 => None,
            8 => Some(true),
            _ => Some(false),
        },
        missing,
        keep: if pick & 32 == 0 {
            Vec::new()
        } else {
            vec!["f0".into()]
        },
        ..Default::default()
    };
    (options, rest)
}

/// A table read keeps its shape promises and holds only values the detectors can take;
/// a small one is then detected on, which must not fail for a reason other than the data.
fn check_table(table: &Table) {
    let (rows, columns) = table.data.dim();
    assert_eq!(
        rows,
        table.source_rows.len(),
        "a row without its source row"
    );
    assert_eq!(columns, table.columns.len(), "a column without a name");
    assert!(table.source_rows.iter().all(|&r| r < table.input_rows));
    assert!(table.source_rows.windows(2).all(|w| w[0] < w[1]));
    for kept in &table.kept {
        assert_eq!(
            kept.values.len(),
            table.input_rows,
            "kept column `{}`",
            kept.name
        );
    }
    assert!(
        table
            .data
            .iter()
            .all(|v| v.is_finite() && v.abs() <= MAX_MAGNITUDE),
        "a value the detectors cannot take"
    );
    if rows * columns <= 4_096 {
        let options = ScoreOptions {
            threshold: Threshold::Auto,
            explain_top: Some(2),
        };
        for algorithm in ["ecod", "iforest"] {
            let Ok(params) = AlgorithmParams::from_name(algorithm, None) else {
                continue;
            };
            if let Ok((_, detection)) = scoring::detect(
                &params,
                table,
                scoring::DEFAULT_SEED,
                options,
                scoring::REQUEST_BUDGET,
            ) {
                assert_eq!(detection.scores.len(), rows);
                assert!(detection.grades.iter().all(|g| (0.0..=1.0).contains(g)));
            }
        }
    }
}

fn read(data: &[u8], format: Format) {
    let (options, bytes) = options(data, format);
    if let Ok(table) = read_table(bytes, &options) {
        check_table(&table);
    }
}

/// A CSV file (separator sniffed unless the first byte says otherwise).
pub fn csv(data: &[u8]) {
    read(data, Format::Csv);
}

/// A JSON file (an array of rows or of objects).
pub fn json(data: &[u8]) {
    read(data, Format::Json);
}

/// An NDJSON file.
pub fn ndjson(data: &[u8]) {
    read(data, Format::Ndjson);
}

/// A Parquet file (read under the default panic hook: the reader catches the `parquet`
/// crate's asserts on corrupt files on purpose).
pub fn parquet(data: &[u8]) {
    under_default_panic_hook(|| read(data, Format::Parquet));
}

/// Timestamps as text, and a series file.
pub fn timestamps(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().take(64) {
            let _ = series::parse_timestamp(line);
        }
    }
    if let Ok(input) = series::read_series(data, &series::SeriesOptions::default()) {
        assert_eq!(input.timestamp_text.len(), input.input_rows);
    }
}

/// Runs `f` under Rust's default panic hook. libFuzzer's hook aborts on every panic,
/// caught or not; `Model::from_json` catches a panic of its probe on purpose (rcf3's
/// forest is opaque state), which is handled, not a crash. A panic that escapes `f`
/// still reaches libFuzzer (the hook is back by then) and fails the target.
fn under_default_panic_hook<T>(f: impl FnOnce() -> T) -> T {
    type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;
    struct Restore(Option<Hook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(hook) = self.0.take() {
                std::panic::set_hook(hook);
            }
        }
    }
    let previous = std::panic::take_hook();
    let _restore = Restore(Some(previous));
    f()
}

/// A stored model: loading parses data only, and what loads can score.
pub fn model_envelope(data: &[u8]) {
    let Ok(model) = under_default_panic_hook(|| Model::from_json(data)) else {
        return;
    };
    let features = model.training.features;
    if (1..=64).contains(&features) {
        let rows = ndarray_rows(features);
        if let Ok(scores) = model.score(rows.view()) {
            assert_eq!(scores.len(), 3);
        }
    }
}

fn ndarray_rows(features: usize) -> ndarray::Array2<f64> {
    ndarray::Array2::from_shape_fn((3, features), |(r, c)| (r as f64 - 1.0) * (c as f64 + 1.0))
}

/// What the event targets share: a runtime and services over a local store that lives as
/// long as the process.
struct Local {
    runtime: tokio::runtime::Runtime,
    services: JobServices,
    queue: Arc<InProcessQueue>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn local() -> Option<&'static Local> {
    static LOCAL: OnceLock<Option<Local>> = OnceLock::new();
    LOCAL
        .get_or_init(|| {
            let dir = tempfile::tempdir().ok()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
            let metadata = Arc::new(ObjectMetadataStore::new(store.clone()));
            let (queue, _deliveries) = InProcessQueue::new();
            let queue = Arc::new(queue);
            let state = http::AppState::new(store.clone(), http::Limits::default())
                .without_keys()
                .with_jobs(metadata.clone(), queue.clone());
            Some(Local {
                runtime,
                services: JobServices::new(store, metadata),
                queue,
                router: http::router(state),
                _dir: dir,
            })
        })
        .as_ref()
}

/// A Lambda SQS event: every record is answered (done, or named for a retry).
pub fn sqs_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<SqsEvent>(data) else {
        return;
    };
    let Some(local) = local() else { return };
    let Ok(settings) = config::Settings::from_lookup(|_| None, "local") else {
        return;
    };
    // A record without an id is retried as "" (Lambda then retries the whole batch).
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let function = pynomaly_lambda::batch::BatchFunction::new(local.services.clone(), &settings);
    let response = local.runtime.block_on(function.handle(event));
    for failure in &response.batch_item_failures {
        assert!(
            ids.contains(&failure.item_identifier),
            "a retry for a message the event did not hold"
        );
    }
}

/// A Lambda S3 event: objects that are not there or not ours are reported, never a panic.
pub fn s3_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<S3Event>(data) else {
        return;
    };
    let Some(local) = local() else { return };
    let records = event.records.len();
    let function = pynomaly_lambda::ingest::IngestFunction::new(
        local.services.clone(),
        local.queue.clone(),
        fanout::IngestConfig::default(),
        None,
    );
    if let Ok(reports) = local.runtime.block_on(function.handle(event)) {
        assert_eq!(reports.len(), records, "a record without a report");
    }
}

/// A query string on every route that reads one: refused with a 4xx or served, never a
/// 5xx.
pub fn query_string(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Some(local) = local() else { return };
    let csv_body = "a,b\n1,2\n2,3\n3,4\n4,5\n5,6\n6,7\n7,8\n100,-100\n";
    let routes = [
        ("POST", "/api/v1/detect", csv_body),
        ("POST", "/api/v1/models", csv_body),
        ("GET", "/api/v1/jobs", ""),
        (
            "GET",
            "/api/v1/jobs/00000000-0000-0000-0000-000000000000/results",
            "",
        ),
    ];
    for (method, path, body) in routes {
        let Ok(request) = Request::builder()
            .method(method)
            .uri(format!("{path}?{query}"))
            .header("content-type", "text/csv")
            .body(Body::from(body))
        else {
            return;
        };
        let Ok(response) = local
            .runtime
            .block_on(local.router.clone().oneshot(request));
        assert!(
            !response.status().is_server_error(),
            "{method} {path}?{query}: {}",
            response.status()
        );
    }
}
