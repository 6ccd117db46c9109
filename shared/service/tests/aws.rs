#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]
//! The adapter contract and the job lifecycle on S3 + DynamoDB + SQS, through the real
//! aws-sdk-rust clients against moto_server. `scripts/test` starts moto_server and sets
//! `AWS_ENDPOINT_URL`; without it these tests fail (they never pass silently).

use std::sync::Arc;
use std::time::Duration;

use pynomaly_service::aws::{DynamoMetadataStore, S3ObjectStore, SqsQueue};
use pynomaly_service::consumer::{Disposition, consume};
use pynomaly_service::jobs::{
    JobMessage, JobQueue, JobServices, JobState, MetadataStore, QueueMessage, RunOutcome, run_job,
};
use pynomaly_service::queue::ReceivingQueue;
use pynomaly_service::storage::ObjectStore;
use pynomaly_service::testing::{
    AwsResources, create_aws_resources, metadata_contract, object_store_contract, sample_job,
};

type Resources = AwsResources;

async fn resources(name: &str) -> Resources {
    create_aws_resources(&format!("pynomaly-{name}"), 1).await
}

#[tokio::test]
async fn s3_and_dynamodb_meet_the_contract() {
    let r = resources("contract").await;
    object_store_contract(&S3ObjectStore::new(&r.config, &r.bucket), "contract").await;
    metadata_contract(&DynamoMetadataStore::new(&r.config, &r.table)).await;
}

/// Stream states in DynamoDB, the big ones (over 1 KB here) in S3.
#[tokio::test]
async fn dynamodb_and_s3_meet_the_state_contract() {
    let r = resources(&format!(
        "states-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .await;
    let objects: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&r.config, &r.bucket));
    let states = pynomaly_service::aws::DynamoStateStore::new(&r.config, &r.table, objects.clone())
        .with_inline_limit(1000);
    pynomaly_service::testing::state_store_contract(Arc::new(states), objects.clone(), "t1").await;
    // Replaced states leave no objects behind.
    assert!(objects.list("stream-states/").await.unwrap().is_empty());
}

/// Alarms go to the alerts queue, one JSON message each, after the states are stored.
#[tokio::test]
async fn alarms_reach_the_alerts_queue() {
    let r = resources(&format!(
        "alerts-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .await;
    let objects: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&r.config, &r.bucket));
    let states = pynomaly_service::aws::DynamoStateStore::new(&r.config, &r.table, objects.clone());
    let streams = pynomaly_service::streams::Streams::new(objects, Arc::new(states), 16 << 20)
        .with_alerts(Arc::new(pynomaly_service::aws::SqsAlerts::new(
            &r.config,
            &r.queue_url,
        )));
    let spec = streams
        .create(
            "t1",
            serde_json::from_value(serde_json::json!({"method": "rolling-z", "name": "cpu"}))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = String::from("entity,timestamp,value\n");
    for i in 0..60 {
        body.push_str(&format!(
            "web-1,{},{}\n",
            1_700_000_000 + i * 60,
            10 + i % 3
        ));
    }
    body.push_str("web-1,1700009999,90\n");
    let outcome = streams
        .push(
            "t1",
            &spec.id,
            body.as_bytes(),
            pynomaly_service::streams::points::PointsFormat::Csv,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(outcome.anomalies, 1);
    let sqs = aws_sdk_sqs::Client::new(&r.config);
    let received = sqs
        .receive_message()
        .queue_url(&r.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    let alert: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(alert["stream"], spec.id.as_str());
    assert_eq!(alert["stream_name"], "cpu");
    assert_eq!(alert["entity"], "web-1");
    assert_eq!(alert["timestamp"], "1700009999");
    assert_eq!(alert["index"], 60);
    assert!(
        alert["reason"].as_str().unwrap().contains("rolling-z"),
        "{alert}"
    );
}

/// Submit → a worker dies mid-job (message not deleted, job left running) → the message
/// comes back → the next worker finishes the job → results written once; a duplicate
/// delivery changes nothing.
#[tokio::test]
async fn job_survives_a_dead_worker_on_sqs() {
    let r = resources("lifecycle").await;
    let metadata = Arc::new(DynamoMetadataStore::new(&r.config, &r.table));
    let queue = SqsQueue::new(&r.config, &r.queue_url);
    dead_worker_lifecycle(&r, metadata, &queue, &queue).await;
}

/// The third adapter set: S3 and SQS on moto, job records in PostgreSQL (`DATABASE_URL`,
/// which `scripts/test` points at a throwaway cluster), each test in its own schema.
#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use pynomaly_service::postgres::PostgresMetadataStore;

    async fn metadata(schema: &str) -> PostgresMetadataStore {
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must point at PostgreSQL (scripts/test starts one)");
        let store = PostgresMetadataStore::connect(&url, 4, Some(schema))
            .await
            .unwrap();
        // A fresh schema per run: migrations already applied leave nothing to do.
        assert_eq!(store.migrate().await.unwrap(), 0);
        store
    }

    fn unique(name: &str) -> String {
        format!("{name}_{}", uuid::Uuid::new_v4().simple())
    }

    #[tokio::test]
    async fn s3_and_postgres_meet_the_contract() {
        let r = resources("pg-contract").await;
        object_store_contract(&S3ObjectStore::new(&r.config, &r.bucket), "contract").await;
        let store = metadata(&unique("contract")).await;
        store.ready().await.unwrap();
        metadata_contract(&store).await;
    }

    #[tokio::test]
    async fn postgres_meets_the_state_contract() {
        let r = resources(&format!(
            "pg-states-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
        .await;
        let objects: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&r.config, &r.bucket));
        let states = metadata(&unique("states")).await.states();
        pynomaly_service::testing::state_store_contract(Arc::new(states), objects, "t1").await;
    }

    #[tokio::test]
    async fn job_survives_a_dead_worker_on_sqs_with_postgres() {
        let r = resources("pg-lifecycle").await;
        let queue = SqsQueue::new(&r.config, &r.queue_url);
        let metadata = Arc::new(metadata(&unique("lifecycle")).await);
        dead_worker_lifecycle(&r, metadata, &queue, &queue).await;
    }

    /// The stack with no SQS: jobs queued in PostgreSQL beside their records.
    #[tokio::test]
    async fn job_survives_a_dead_worker_on_the_postgres_queue() {
        let r = resources(&format!(
            "pgq-lifecycle-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
        .await;
        let metadata = metadata(&unique("queue_lifecycle")).await;
        // The visibility timeout of the SQS queue the other lifecycles use.
        let queue = metadata.queue(Duration::from_secs(1), 5);
        dead_worker_lifecycle(&r, Arc::new(metadata), &queue, &queue).await;
    }

    /// SQS's contract on the PostgreSQL queue: hidden while received, back after the
    /// visibility timeout with its receive counted, settled only by its latest receipt,
    /// moved aside after the redrive count, and never given to two receivers at once.
    #[tokio::test]
    async fn the_postgres_queue_keeps_the_sqs_contract() {
        let schema = unique("queue_contract");
        let store = metadata(&schema).await;
        let queue = store.queue(Duration::from_secs(1), 3);
        let message = |id: &str| -> QueueMessage {
            JobMessage {
                tenant: "t".into(),
                job_id: id.into(),
            }
            .into()
        };
        let stats = queue.stats().await.unwrap().unwrap();
        assert_eq!((stats.pending, stats.dead), (0, 0));
        assert_eq!(stats.oldest_age_seconds, 0.0);
        for id in ["a", "b"] {
            queue.send(&message(id)).await.unwrap();
        }
        let first = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        let first: Vec<_> = first.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            first
                .iter()
                .map(|d| d.message.job_id().to_string())
                .collect::<Vec<_>>(),
            ["a", "b"],
            "in the order sent"
        );
        assert!(first.iter().all(|d| d.receive_count == 1));
        // Hidden while received: an empty receive waits for its whole wait, then answers.
        let started = std::time::Instant::now();
        assert!(
            queue
                .receive(10, Duration::from_millis(300))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Acknowledged: gone. Put back now: here again, counted.
        queue.acknowledge(&first[1].receipt).await.unwrap();
        queue
            .retry_after(&first[0].receipt, Duration::ZERO)
            .await
            .unwrap();
        let second = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(second.len(), 1);
        let second = second.into_iter().next().unwrap().unwrap();
        assert_eq!((second.message.job_id(), second.receive_count), ("a", 2));
        // The first receipt is stale now: it neither deletes nor brings the message back.
        queue.acknowledge(&first[0].receipt).await.unwrap();
        queue
            .retry_after(&first[0].receipt, Duration::ZERO)
            .await
            .unwrap();
        assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
        let stats = queue.stats().await.unwrap().unwrap();
        assert_eq!((stats.pending, stats.dead), (1, 0));
        assert!(stats.oldest_age_seconds > 0.0, "{stats:?}");
        // Not settled: back after the visibility timeout (1 s), a third time; then dead.
        let third = queue.receive(10, Duration::from_secs(3)).await.unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].as_ref().unwrap().receive_count, 3);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
        let stats = queue.stats().await.unwrap().unwrap();
        assert_eq!(
            (stats.pending, stats.dead),
            (0, 1),
            "moved aside after 3 receives"
        );
        // A body that is no message comes back unreadable (and is left to its redrive).
        let url = std::env::var("DATABASE_URL").unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .execute(
                &format!("INSERT INTO {schema}.job_queue (body) VALUES ('not json')"),
                &[],
            )
            .await
            .unwrap();
        let odd = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(odd[0].as_ref().unwrap_err().reason.contains("not json"));

        // Many receivers at once: every message delivered exactly once.
        let many = store.queue(Duration::from_secs(60), 3);
        let sent: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        for id in &sent {
            many.send(&message(id)).await.unwrap();
        }
        let receivers = (0..4).map(|_| {
            let many = many.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = many.receive(3, Duration::from_millis(200)).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    for delivery in batch.into_iter().flatten() {
                        got.push(delivery.message.job_id().to_string());
                    }
                }
            })
        });
        let mut got: Vec<String> = Vec::new();
        for receiver in receivers {
            got.extend(receiver.await.unwrap());
        }
        got.sort();
        let mut want = sent.clone();
        want.sort();
        assert_eq!(got, want, "each message to exactly one receiver");
    }

    /// TLS as libpq's `sslmode` means it, on the cluster `scripts/test` starts with
    /// `ssl=on` and a certificate for `db.internal` signed by its own CA
    /// (`$PYNOMALY_TEST_PG_TLS_DIR/ca.pem`; `other-ca.pem` signed nothing here).
    #[tokio::test]
    async fn tls_follows_libpq_sslmode() {
        let url = std::env::var("DATABASE_URL").unwrap();
        let dir = std::env::var("PYNOMALY_TEST_PG_TLS_DIR").expect(
            "PYNOMALY_TEST_PG_TLS_DIR: the CA of the test cluster's certificate (scripts/test sets it)",
        );
        let (ca, other) = (format!("{dir}/ca.pem"), format!("{dir}/other-ca.pem"));
        assert!(
            url.contains("@127.0.0.1:"),
            "the TLS test expects scripts/test's cluster: {url}"
        );
        let join = |u: &str, params: &str| {
            format!("{u}{}{params}", if u.contains('?') { '&' } else { '?' })
        };
        let by_name = url.replace("@127.0.0.1:", "@db.internal:");
        let encrypted = |url: String| async move {
            let store = PostgresMetadataStore::connect(&url, 1, None).await?;
            store.encrypted().await
        };
        // verify-full: chain and name (db.internal, reached at 127.0.0.1 by hostaddr).
        let full = join(
            &by_name,
            &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"),
        );
        assert!(encrypted(full).await.unwrap());
        // The same certificate reached as 127.0.0.1: the name does not match.
        let wrong_name = join(&url, &format!("sslmode=verify-full&sslrootcert={ca}"));
        let err = encrypted(wrong_name).await.unwrap_err().to_string();
        assert!(
            err.contains("certificate") && err.contains("not valid for name"),
            "{err}"
        );
        // verify-ca checks the chain only.
        let chain = join(&url, &format!("sslmode=verify-ca&sslrootcert={ca}"));
        assert!(encrypted(chain).await.unwrap());
        // Signed by another CA: refused under every checking mode.
        for mode in ["verify-ca", "verify-full", "require"] {
            let untrusted = join(
                &by_name,
                &format!("hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={other}"),
            );
            let err = encrypted(untrusted).await.unwrap_err().to_string();
            assert!(
                err.contains("UnknownIssuer") || err.contains("unknown issuer"),
                "{mode}: {err}"
            );
        }
        // require without roots encrypts without checking (libpq); disable does not encrypt.
        assert!(encrypted(join(&url, "sslmode=require")).await.unwrap());
        assert!(!encrypted(join(&url, "sslmode=disable")).await.unwrap());
    }

    #[tokio::test]
    async fn bad_schema_names_are_refused() {
        let url = std::env::var("DATABASE_URL").unwrap();
        let err = PostgresMetadataStore::connect(&url, 1, Some("x; drop table jobs"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("schema"), "{err}");
    }
}

/// A moto_server of this test's own, so stopping it disturbs no other test.
struct OwnEmulator {
    child: std::process::Child,
    endpoint: String,
}

impl OwnEmulator {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server on PATH (scripts/test installs it)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGSTOP (`true`: the emulator hangs, as a stalled dependency does) or SIGCONT.
    fn pause(&self, stop: bool) {
        let signal = if stop { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnEmulator {
    fn drop(&mut self) {
        self.pause(false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A job whose storage stops answering mid-way (the emulator stopped, then started
/// again) is handed back and retried, never failed, and succeeds once storage is back,
/// its results written once; a job whose stored model is corrupt fails at once, with the
/// reason, without retries.
#[tokio::test]
async fn a_storage_outage_delays_a_job_and_a_corrupt_model_fails_it_once() {
    use pynomaly_service::deadline::{DeadlineStore, Deadlines};
    use pynomaly_service::jobs::ObjectMetadataStore;
    use pynomaly_service::models::{ModelRepository, OnNameTaken};
    use pynomaly_service::storage::LocalObjectStore;

    let emulator = OwnEmulator::start().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&emulator.endpoint)
        .load()
        .await;
    let r = pynomaly_service::testing::create_aws_resources_with(config, "outage", 30).await;
    let deadlines = Deadlines {
        call: Duration::from_millis(800),
        per_mib: Duration::from_millis(5),
        ready: Duration::from_millis(500),
    };
    let store = DeadlineStore::wrap(
        Arc::new(S3ObjectStore::new(&r.config, &r.bucket)),
        deadlines,
    );
    // Job records on local disk: the outage is the object store's alone.
    let dir = tempfile::tempdir().unwrap();
    let metadata: Arc<dyn MetadataStore> = Arc::new(ObjectMetadataStore::new(Arc::new(
        LocalObjectStore::new(dir.path()),
    )));
    let services = JobServices::new(store.clone(), metadata.clone());

    let csv: String = std::iter::once("a,b\n".to_string())
        .chain((0..120).map(|i| format!("{},{}\n", i % 7, i % 4)))
        .collect();
    store
        .put("tenants/t/uploads/in.csv", csv.clone().into_bytes())
        .await
        .unwrap();
    let table = pynomaly_service::formats::read_table(csv.as_bytes(), &Default::default()).unwrap();
    let params = pynomaly_detection::AlgorithmParams::default_for("knn").unwrap();
    let model =
        pynomaly_service::scoring::fit(&params, &table, 0, pynomaly_service::scoring::JOB_BUDGET)
            .unwrap();
    let saved = ModelRepository::new(store.clone())
        .save("t", Some("web"), model, OnNameTaken::Refuse)
        .await
        .unwrap();
    let mut job = sample_job("t", "job-outage", "uploads/in.csv");
    job.spec.algorithm = None;
    job.spec.contamination = None;
    job.spec.model_id = Some("web".into());
    metadata.insert_job(&job).await.unwrap();
    let message = QueueMessage::Job(JobMessage {
        tenant: "t".into(),
        job_id: "job-outage".into(),
    });

    emulator.pause(true);
    let stopped = std::time::Instant::now();
    let outcome = consume(&services, &message, 1, 5).await;
    assert!(
        matches!(outcome, Disposition::Retry { .. }),
        "an outage must be retried: {outcome:?}"
    );
    let waiting = metadata.get_job("t", "job-outage").await.unwrap().unwrap();
    assert_eq!(waiting.state, JobState::Queued, "{waiting:?}");
    assert!(waiting.error.is_none(), "{waiting:?}");

    emulator.pause(false);
    let mut receives = 1;
    let finished = loop {
        receives += 1;
        match consume(&services, &message, receives, 5).await {
            Disposition::Acknowledge(summary) => break summary,
            Disposition::Retry { .. } if receives < 5 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("not recovered: {other:?}"),
        }
    };
    eprintln!(
        "storage outage: recovered {:.1} s after the stop, on delivery {receives}",
        stopped.elapsed().as_secs_f64()
    );
    assert_eq!(finished.map(|s| s.rows), Some(120));
    let done = metadata.get_job("t", "job-outage").await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    assert_eq!(store.list("tenants/t/results/").await.unwrap().len(), 1);

    // A corrupt model: a permanent rejection on the first delivery, with the reason.
    store
        .put(
            &format!("tenants/t/models/{}.json", saved.id),
            b"{\"format\": \"pynomaly-model\", \"truncated".to_vec(),
        )
        .await
        .unwrap();
    let mut corrupt = job.clone();
    corrupt.id = "job-corrupt".into();
    metadata.insert_job(&corrupt).await.unwrap();
    let message = QueueMessage::Job(JobMessage {
        tenant: "t".into(),
        job_id: "job-corrupt".into(),
    });
    let outcome = consume(&services, &message, 1, 5).await;
    assert!(
        matches!(outcome, Disposition::Acknowledge(None)),
        "{outcome:?}"
    );
    let failed = metadata.get_job("t", "job-corrupt").await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.attempts, 1);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("the stored model cannot be used")),
        "{failed:?}"
    );
}

async fn dead_worker_lifecycle(
    r: &Resources,
    metadata: Arc<dyn MetadataStore>,
    sending: &dyn JobQueue,
    queue: &dyn ReceivingQueue,
) {
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&r.config, &r.bucket));
    let csv: String = std::iter::once("a,b\n".to_string())
        .chain((0..200).map(|i| format!("{},{}\n", i % 11, i % 5)))
        .collect();
    store
        .put("tenants/t/uploads/in.csv", csv.into_bytes())
        .await
        .unwrap();
    let job = sample_job("t", "job-1", "uploads/in.csv");
    metadata.insert_job(&job).await.unwrap();
    let message = JobMessage {
        tenant: "t".into(),
        job_id: "job-1".into(),
    };
    sending.send(&message.clone().into()).await.unwrap();

    // Worker 1 receives, takes the job, and dies: no result, no delete.
    let first = queue.receive(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 1);
    let lease_until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let mut taken = job.clone();
    taken.state = JobState::Running;
    taken.attempts = 1;
    taken.lease_expires_at = Some(lease_until);
    assert!(
        metadata
            .update_job_if(&taken, (JobState::Queued, 0))
            .await
            .unwrap()
    );

    // After the visibility timeout the message is back while worker 1's lease still runs:
    // worker 2 must not run the job, nor delete the message, but bring it back when the
    // lease has run out; then it takes the job over and finishes it.
    let services = JobServices::new(store.clone(), metadata.clone());
    let mut finished = None;
    let mut held = 0;
    for _ in 0..20 {
        for delivery in queue.receive(1, Duration::from_secs(2)).await.unwrap() {
            let delivery = delivery.unwrap();
            assert_eq!(delivery.message, QueueMessage::Job(message.clone()));
            match consume(&services, &delivery.message, delivery.receive_count, 5).await {
                Disposition::Retry { delay, .. } => {
                    held += 1;
                    assert!(delay <= Duration::from_secs(4), "{delay:?}");
                    queue.retry_after(&delivery.receipt, delay).await.unwrap();
                }
                Disposition::Acknowledge(summary) => {
                    finished = metadata.get_job("t", "job-1").await.unwrap();
                    assert_eq!(summary.map(|s| s.rows), Some(200));
                    queue.acknowledge(&delivery.receipt).await.unwrap();
                }
            }
        }
        if finished.is_some() {
            break;
        }
    }
    assert!(
        held >= 1,
        "the redelivery during the lease was not held back"
    );
    let done = finished.expect("the message came back and the job ran");
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.attempts, 2);
    let results = store
        .get(done.results_key.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(String::from_utf8(results).unwrap().lines().count(), 201);
    assert_eq!(store.list("tenants/t/results/").await.unwrap().len(), 1);

    // A duplicate delivery of a finished job does nothing.
    assert_eq!(
        run_job(&services, &message).await.unwrap(),
        RunOutcome::Nothing
    );
    assert_eq!(
        metadata
            .get_job("t", "job-1")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
}
