#![allow(clippy::unwrap_used)]
//! Every `events/*.json` file fed to its handler, on S3 + DynamoDB + SQS in moto_server
//! through the real aws-sdk-rust clients (`scripts/test` starts moto_server and sets
//! `AWS_ENDPOINT_URL`). Each test makes its own bucket, table and queue.

use std::sync::Arc;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use http_body_util::BodyExt;
use pynomaly_detection::{AlgorithmParams, Model, Threshold};
use pynomaly_lambda::batch::BatchFunction;
use pynomaly_lambda::ingest::IngestFunction;
use pynomaly_service::aws::{DynamoMetadataStore, S3ObjectStore, SqsQueue};
use pynomaly_service::backend::Backend;
use pynomaly_service::fanout::{ChunkMessage, IngestConfig, Manifest};
use pynomaly_service::formats::{ReadOptions, read_table};
use pynomaly_service::jobs::{
    JobServices, JobState, MetadataStore, QueueMessage, score_with_model,
};
use pynomaly_service::queue::ReceivingQueue;
use pynomaly_service::storage::ObjectStore;
use pynomaly_service::testing::{create_aws_resources, sample_job};
use tower::ServiceExt;

const KEY: &str = "pyn_0123456789ab_eventsfixturesecret000000000000000";
const STREAM: &str = "00000000-0000-4000-8000-0000000000aa";
const TENANT: &str = "events";
const MODEL: &str = "00000000-0000-4000-8000-000000000001";

fn repo_file(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    std::fs::read(format!("{root}{path}")).unwrap()
}

fn event(name: &str) -> String {
    String::from_utf8(repo_file(&format!("events/{name}.json"))).unwrap()
}

fn wbc() -> Vec<u8> {
    repo_file("data/samples/wbc.csv")
}

struct Aws {
    s3: aws_sdk_s3::Client,
    bucket: String,
    store: Arc<S3ObjectStore>,
    metadata: Arc<DynamoMetadataStore>,
    states: Arc<pynomaly_service::aws::DynamoStateStore>,
    queue: SqsQueue,
}

impl Aws {
    async fn new() -> Self {
        let name = format!("evt-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let r = create_aws_resources(&name, 30).await;
        let (config, queue_url) = (r.config, r.queue_url);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let store = Arc::new(S3ObjectStore::new(&config, &name));
        let aws = Self {
            s3,
            states: Arc::new(pynomaly_service::aws::DynamoStateStore::new(
                &config,
                &name,
                store.clone(),
            )),
            store,
            metadata: Arc::new(DynamoMetadataStore::new(&config, &name)),
            queue: SqsQueue::new(&config, &queue_url),
            bucket: name,
        };
        aws.fixtures().await;
        aws
    }

    /// The key, the model, the stream and the inputs the events name.
    async fn fixtures(&self) {
        let stream = pynomaly_service::streams::spec::StreamSpec::create(
            STREAM.into(),
            serde_json::from_value(serde_json::json!({"method": "rolling-z"})).unwrap(),
        )
        .unwrap();
        self.streams().save_spec(TENANT, &stream).await.unwrap();
        pynomaly_service::auth::import_key(self.store.as_ref(), TENANT, KEY)
            .await
            .unwrap();
        self.store
            .put(
                &format!("tenants/{TENANT}/models/{MODEL}.json"),
                model().to_json().unwrap(),
            )
            .await
            .unwrap();
        for name in ["wbc.csv", "Q3 sales (final).csv", "two-parts.csv"] {
            self.store
                .put(&format!("incoming/{MODEL}/{name}"), wbc())
                .await
                .unwrap();
        }
        self.store
            .put(
                &format!("incoming/{MODEL}/sample.parquet"),
                repo_file("data/samples/wbc.parquet"),
            )
            .await
            .unwrap();
    }

    fn services(&self) -> JobServices {
        JobServices::new(self.store.clone(), self.metadata.clone())
    }

    fn ingest(&self, chunk_bytes: u64) -> IngestFunction {
        IngestFunction::new(
            self.services(),
            Arc::new(self.queue.clone()),
            IngestConfig {
                tenant: TENANT.into(),
                chunk_bytes,
            },
            None,
        )
    }

    fn streams(&self) -> pynomaly_service::streams::Streams {
        pynomaly_service::streams::Streams::new(self.store.clone(), self.states.clone(), 16 << 20)
    }

    fn batch(&self) -> BatchFunction {
        BatchFunction::new(self.services().with_streams(self.streams()), &defaults())
    }

    async fn job(&self, id: &str) -> pynomaly_service::jobs::Job {
        self.metadata.get_job(TENANT, id).await.unwrap().unwrap()
    }

    async fn text(&self, key: &str) -> String {
        String::from_utf8(self.store.get(key).await.unwrap()).unwrap()
    }

    /// Queued jobs over a small CSV, ready for job messages.
    async fn queued_jobs(&self, ids: impl IntoIterator<Item = String>) {
        self.store
            .put(&format!("tenants/{TENANT}/uploads/in.csv"), wbc())
            .await
            .unwrap();
        for id in ids {
            let mut job = sample_job(TENANT, &id, "uploads/in.csv");
            job.spec.ignore_columns = Some(vec!["label".into()]);
            self.metadata.insert_job(&job).await.unwrap();
        }
    }
}

/// ECOD on wbc without its label: the model the events' `MODEL` id stands for.
fn model() -> Model {
    let table = read_table(
        &wbc()[..],
        &ReadOptions {
            ignore_columns: vec!["label".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let params = AlgorithmParams::from_name("ecod", None).unwrap();
    Model::fit(&params, table.data.view(), table.columns, 42)
        .unwrap()
        .0
}

/// Scores of a results CSV (`row,score,grade,anomaly`), in order.
fn scores(csv: &str) -> Vec<f64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn whole_file_scores() -> Vec<f64> {
    let (csv, _) =
        score_with_model(&model(), &wbc(), &Default::default(), Threshold::Auto).unwrap();
    scores(&String::from_utf8(csv).unwrap())
}

async fn call_api(
    router: &pynomaly_lambda::api::ApiService,
    name: &str,
) -> (u16, String, serde_json::Value) {
    let request = lambda_http::request::from_str(&event(name)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The settings of a function with no variables set.
fn defaults() -> pynomaly_service::config::Settings {
    pynomaly_service::config::Settings::from_lookup(|_| None, "local").unwrap()
}

#[tokio::test]
async fn api_events_answer_through_the_router() {
    let aws = Aws::new().await;
    let backend = Backend {
        store: aws.store.clone(),
        metadata: aws.metadata.clone(),
        queue: Arc::new(aws.queue.clone()),
        states: aws.states.clone(),
        consumer: None,
        local_jobs: None,
        description: "test".into(),
    };
    let router = pynomaly_lambda::api::router_for(
        &backend,
        &defaults(),
        pynomaly_service::backend::streams(&backend, &defaults()).await,
    );

    let (status, _, body) = call_api(&router, "api-detect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scores"].as_array().unwrap().len(), 6);
    assert_eq!(body["algorithm"], "iforest");
    assert!(body["anomalies"][0]["explanation"].is_array(), "{body}");

    let (status, _, body) = call_api(&router, "api-detect-csv-base64").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_samples"], 6);
    assert_eq!(body["algorithm"], "ecod");

    let (status, _, body) = call_api(&router, "api-rest-detect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["algorithm"], "hbos");

    let (status, _, body) = call_api(&router, "api-train").await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    assert!(
        aws.store
            .get(&format!("tenants/{TENANT}/models/{id}.json"))
            .await
            .is_ok()
    );

    let (status, _, body) = call_api(&router, "api-predict").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scores"].as_array().unwrap().len(), 3);

    let (status, content_type, body) = call_api(&router, "api-bad-json").await;
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("malformed JSON"),
        "{body}"
    );

    // The web console's page, with no key (the page asks for one; the API calls carry it).
    let request = lambda_http::request::from_str(&event("api-console-page")).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("src=\"console/app.js\""));
}

fn sqs_event(name: &str) -> SqsEvent {
    serde_json::from_str(&event(name)).unwrap()
}

/// Points on a standard queue, then on a FIFO queue where a bad message holds back the
/// rest of its message group (and only its group).
#[tokio::test]
async fn points_messages_are_scored_in_order_per_group() {
    let aws = Aws::new().await;
    let batch = aws.batch();
    let response = batch.handle(sqs_event("sqs-points-batch")).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let streams = aws.streams();
    let entities = streams.entities(TENANT, STREAM).await.unwrap();
    let counted: Vec<(&str, u64, u64)> = entities
        .iter()
        .map(|e| (e.entity.as_str(), e.points, e.anomalies))
        .collect();
    assert_eq!(counted, [("web-1", 40, 1), ("web-2", 40, 0)]);
    // Delivered again (a standard queue delivers at least once): every point before the
    // entity's last timestamp is late; the one at it is taken again, as a repeated
    // timestamp is (the documented policy; a FIFO queue's deduplication avoids even that).
    let response = batch.handle(sqs_event("sqs-points-batch")).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let web1 = streams.entity(TENANT, STREAM, "web-1").await.unwrap();
    assert_eq!((web1.points, web1.late), (41, 39));

    let response = batch.handle(sqs_event("sqs-points-fifo")).await;
    assert_eq!(failures(&response), ["f-2", "f-3"]);
    let db1 = streams.entity(TENANT, STREAM, "db-1").await.unwrap();
    let db2 = streams.entity(TENANT, STREAM, "db-2").await.unwrap();
    assert_eq!((db1.points, db2.points), (25, 25), "f-3 waited behind f-2");
}

fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn sqs_batch_events_run_each_job_once() {
    let aws = Aws::new().await;
    aws.queued_jobs((1..=5).map(|i| format!("evt-job-{i}")))
        .await;
    let batch = aws.batch();

    let response = batch.handle(sqs_event("sqs-batch")).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let response = batch.handle(sqs_event("sqs-batch-poison")).await;
    assert_eq!(failures(&response), ["p-2", "p-3"]);

    for i in 1..=5 {
        let job = aws.job(&format!("evt-job-{i}")).await;
        assert_eq!(job.state, JobState::Succeeded, "evt-job-{i}");
        assert_eq!(job.attempts, 1);
        assert_eq!(job.progress.parts_done, 1);
        let results = aws.text(job.results_key.as_deref().unwrap()).await;
        assert_eq!(results.lines().count(), 224);
    }
}

/// 100 messages, 3 of them poison, delivered twice: exactly the 3 fail both times and the
/// other 97 results are written once (one S3 version each).
#[tokio::test]
async fn a_hundred_messages_with_three_poison_delivered_twice() {
    let aws = Aws::new().await;
    aws.s3
        .put_bucket_versioning()
        .bucket(&aws.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let poison = [13, 50, 87];
    aws.queued_jobs(
        (0..100)
            .filter(|i| !poison.contains(i))
            .map(|i| format!("bulk-{i}")),
    )
    .await;
    let records: Vec<SqsMessage> = (0..100)
        .map(|i| {
            let body = match i {
                13 => "{not json".to_string(),
                50 => serde_json::json!({"tenant": TENANT}).to_string(),
                87 => serde_json::json!({"tenant": TENANT, "job_id": 7, "extra": true}).to_string(),
                _ => {
                    serde_json::json!({"tenant": TENANT, "job_id": format!("bulk-{i}")}).to_string()
                }
            };
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("msg-{i:03}"));
            message.body = Some(body);
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            message
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    let batch = aws.batch();
    for delivery in 0..2 {
        let response = batch.handle(event.clone()).await;
        assert_eq!(
            failures(&response),
            ["msg-013", "msg-050", "msg-087"],
            "delivery {delivery}"
        );
    }
    let versions = aws
        .s3
        .list_object_versions()
        .bucket(&aws.bucket)
        .prefix(format!("tenants/{TENANT}/results/"))
        .send()
        .await
        .unwrap();
    let mut keys: Vec<&str> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys.len(), 97, "one version per result");
    keys.dedup();
    assert_eq!(keys.len(), 97);
}

#[tokio::test]
async fn sqs_chunk_event_completes_a_fanned_out_job() {
    let aws = Aws::new().await;
    let mut job = sample_job(
        TENANT,
        "evt-fan",
        &format!("incoming/{MODEL}/two-parts.csv"),
    );
    job.state = JobState::Running;
    job.attempts = 1;
    job.progress.parts_total = 2;
    aws.metadata.insert_job(&job).await.unwrap();
    let last = sqs_event("sqs-chunk");
    let QueueMessage::Chunk(part_two) =
        serde_json::from_str(last.records[0].body.as_deref().unwrap()).unwrap()
    else {
        panic!("sqs-chunk.json holds a chunk message");
    };
    // Part 1 of 2 first, as the ingest function would have queued it.
    let part_one = ChunkMessage {
        part: 0,
        start: 0,
        end: part_two.start,
        header: None,
        ..part_two.clone()
    };
    let mut first = last.clone();
    first.records[0].body = Some(serde_json::to_string(&QueueMessage::Chunk(part_one)).unwrap());
    let batch = aws.batch();
    assert!(batch.handle(first).await.batch_item_failures.is_empty());
    let running = aws.job("evt-fan").await;
    assert_eq!(running.state, JobState::Running);
    assert_eq!(running.progress.parts_done, 1);

    assert!(
        batch
            .handle(last.clone())
            .await
            .batch_item_failures
            .is_empty()
    );
    // Delivered again: nothing changes.
    assert!(batch.handle(last).await.batch_item_failures.is_empty());
    let done = aws.job("evt-fan").await;
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.error);
    let manifest: Manifest =
        serde_json::from_str(&aws.text(done.results_key.as_deref().unwrap()).await).unwrap();
    assert_eq!(manifest.rows, 223);
    assert_eq!(
        manifest
            .parts
            .iter()
            .map(|p| (p.first_row, p.rows))
            .collect::<Vec<_>>(),
        [(0, 100), (100, 123)]
    );
    let mut joined = Vec::new();
    for part in &manifest.parts {
        joined.extend(scores(&aws.text(&part.key).await));
    }
    assert_eq!(joined, whole_file_scores());
}

fn s3_event(name: &str) -> S3Event {
    serde_json::from_str(&event(name)).unwrap()
}

#[tokio::test]
async fn s3_events_score_fail_or_ignore() {
    let aws = Aws::new().await;
    let ingest = aws.ingest(8 << 20);

    let reports = ingest.handle(s3_event("s3-put-csv")).await.unwrap();
    assert_eq!(reports[0].outcome, "scored", "{reports:?}");
    let results = aws.text(&format!("results/{MODEL}/wbc.scores.csv")).await;
    assert_eq!(scores(&results), whole_file_scores());
    let job = aws.job(reports[0].job_id.as_deref().unwrap()).await;
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.summary.unwrap().rows, 223);
    // The same event again (S3 delivers at least once): recognised, not redone.
    let again = ingest.handle(s3_event("s3-put-csv")).await.unwrap();
    assert_eq!(again[0].outcome, "duplicate");

    let reports = ingest
        .handle(s3_event("s3-put-key-with-spaces"))
        .await
        .unwrap();
    assert_eq!(
        reports[0].key,
        format!("incoming/{MODEL}/Q3 sales (final).csv")
    );
    assert_eq!(reports[0].outcome, "scored", "{reports:?}");
    assert!(
        aws.store
            .get(&format!("results/{MODEL}/Q3 sales (final).scores.csv"))
            .await
            .is_ok()
    );

    let reports = ingest.handle(s3_event("s3-put-parquet")).await.unwrap();
    assert_eq!(reports[0].outcome, "scored", "{reports:?}");
    let results = aws
        .text(&format!("results/{MODEL}/sample.scores.csv"))
        .await;
    assert_eq!(scores(&results), whole_file_scores());

    // A corrupt file: the same event shape, pointing at bytes that are not a table.
    aws.store
        .put(
            &format!("incoming/{MODEL}/corrupt.csv"),
            b"f0,f1,f2,f3,f4,f5,f6,f7,f8,label\n1,2,3\n".to_vec(),
        )
        .await
        .unwrap();
    let mut corrupt = s3_event("s3-put-csv");
    corrupt.records[0].s3.object.key = Some(format!("incoming/{MODEL}/corrupt.csv"));
    for (event, file, reason) in [
        (s3_event("s3-put-unsupported"), "report.xlsx", ".xlsx"),
        (corrupt, "corrupt.csv", "fields"),
    ] {
        let reports = ingest.handle(event).await.unwrap();
        assert_eq!(reports[0].outcome, "failed", "{file}");
        let error: serde_json::Value = serde_json::from_str(
            &aws.text(&format!("incoming/{MODEL}/{file}.error.json"))
                .await,
        )
        .unwrap();
        assert!(error["error"].as_str().unwrap().contains(reason), "{error}");
        let job = aws.job(reports[0].job_id.as_deref().unwrap()).await;
        assert_eq!(job.state, JobState::Failed);
        assert!(job.error.unwrap().contains(reason));
    }

    let reports = ingest
        .handle(s3_event("s3-put-results-prefix"))
        .await
        .unwrap();
    assert_eq!(reports[0].outcome, "ignored");
    assert_eq!(reports[0].job_id, None);
}

/// An object above the chunk size goes out as chunk messages on the real queue; the
/// batch function scores them; every row comes back once, in order.
#[tokio::test]
async fn large_objects_fan_out_through_the_queue() {
    let aws = Aws::new().await;
    let ingest = aws.ingest(1024);
    let reports = ingest.handle(s3_event("s3-put-csv")).await.unwrap();
    assert_eq!(reports[0].outcome, "fanned_out", "{reports:?}");
    let job_id = reports[0].job_id.clone().unwrap();
    let parts = aws.job(&job_id).await.progress.parts_total;
    assert_eq!(parts, 5, "4,522 bytes in parts of about 1 KiB");

    let mut records = Vec::new();
    while records.len() < parts as usize {
        let received = aws
            .queue
            .receive(10, std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!received.is_empty(), "every chunk message is on the queue");
        for delivery in received {
            let delivery = delivery.unwrap();
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("chunk-{}", records.len()));
            message.body = Some(serde_json::to_string(&delivery.message).unwrap());
            records.push(message);
            aws.queue.acknowledge(&delivery.receipt).await.unwrap();
        }
    }
    // Out of order, as parallel consumers would finish them.
    records.reverse();
    let mut event = SqsEvent::default();
    event.records = records;
    assert!(
        aws.batch()
            .handle(event)
            .await
            .batch_item_failures
            .is_empty()
    );

    let job = aws.job(&job_id).await;
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.progress.parts_done, parts);
    let manifest: Manifest = serde_json::from_str(
        &aws.text(&format!("results/{MODEL}/wbc.manifest.json"))
            .await,
    )
    .unwrap();
    assert_eq!(manifest.rows, 223);
    let mut joined = Vec::new();
    for part in &manifest.parts {
        joined.extend(scores(&aws.text(&part.key).await));
    }
    assert_eq!(joined, whole_file_scores());
}

/// A message that keeps failing for storage reasons is retried (reported as a failure);
/// on its last delivery before the dead-letter queue, its job is failed with the reason.
#[tokio::test]
async fn the_last_delivery_of_a_failing_message_fails_its_job() {
    let aws = Aws::new().await;
    let mut job = sample_job(TENANT, "evt-fan", &format!("incoming/{MODEL}/gone.csv"));
    job.state = JobState::Running;
    job.attempts = 1;
    job.progress.parts_total = 2;
    aws.metadata.insert_job(&job).await.unwrap();
    let mut event = sqs_event("sqs-chunk");
    let QueueMessage::Chunk(mut chunk) =
        serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap()
    else {
        panic!("sqs-chunk.json holds a chunk message");
    };
    // The input vanished: reading the part fails, which is not the message's fault.
    chunk.object_key = format!("incoming/{MODEL}/gone.csv");
    event.records[0].body = Some(serde_json::to_string(&QueueMessage::Chunk(chunk)).unwrap());
    let batch = aws.batch();
    for receives in 1..=batch.max_receives {
        event.records[0]
            .attributes
            .insert("ApproximateReceiveCount".into(), receives.to_string());
        let response = batch.handle(event.clone()).await;
        assert_eq!(failures(&response), ["c-1"], "delivery {receives}");
        let state = aws.job("evt-fan").await.state;
        let expected = if receives < batch.max_receives {
            JobState::Running
        } else {
            JobState::Failed
        };
        assert_eq!(state, expected, "after delivery {receives}");
    }
    let error = aws.job("evt-fan").await.error.unwrap();
    let gave_up = format!("gave up after {} deliveries", batch.max_receives);
    assert!(error.contains(&gave_up), "{error}");
    assert!(error.contains("gone.csv"), "{error}");
}
