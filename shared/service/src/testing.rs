//! The contract every adapter set must meet, as reusable async checks: the local adapters'
//! unit tests and the AWS (moto) integration tests run the same functions.

use crate::jobs::{Job, JobSpec, JobState, MetadataStore};
use crate::storage::{ObjectStore, StoreError};

/// Object store contract: put/get/list/delete, missing keys, key validation.
pub async fn object_store_contract(store: &dyn ObjectStore, prefix: &str) {
    store.ready().await.expect("ready");
    let a = format!("{prefix}/models/a.json");
    let b = format!("{prefix}/models/b.json");
    store.put(&a, b"1".to_vec()).await.expect("put a");
    store.put(&b, b"2".to_vec()).await.expect("put b");
    store
        .put(&format!("{prefix}/other/c"), b"3".to_vec())
        .await
        .expect("put c");
    store.put(&a, b"11".to_vec()).await.expect("overwrite a");
    assert_eq!(store.get(&a).await.expect("get a"), b"11");
    let spaced = format!("{prefix}/incoming/m 1/Q3 sales (final).csv");
    store
        .put(&spaced, b"0123456789".to_vec())
        .await
        .expect("put a key with spaces");
    assert_eq!(store.get_range(&spaced, 2..5).await.expect("range"), b"234");
    assert_eq!(store.get_range(&spaced, 8..100).await.expect("tail"), b"89");
    assert!(matches!(
        store.get_range(&format!("{prefix}/missing"), 0..1).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete(&spaced).await.expect("delete spaced");
    assert_eq!(
        store
            .list(&format!("{prefix}/models/"))
            .await
            .expect("list"),
        vec![a.clone(), b.clone()]
    );
    // A prefix that ends mid-segment; one that matches nothing.
    assert_eq!(
        store.list(&format!("{prefix}/mod")).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert!(
        store
            .list(&format!("{prefix}/models/zz"))
            .await
            .expect("list")
            .is_empty()
    );
    // A range of an empty object is empty (S3 answers 416 there).
    let empty = format!("{prefix}/empty.csv");
    store.put(&empty, Vec::new()).await.expect("put empty");
    assert!(
        store
            .get_range(&empty, 0..1)
            .await
            .expect("range")
            .is_empty()
    );
    store.delete(&empty).await.expect("delete empty");
    store.delete(&a).await.expect("delete a");
    assert!(matches!(store.get(&a).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.delete(&a).await,
        Err(StoreError::NotFound(_))
    ));
    for bad in ["../x", "a//b", "", ".hidden"] {
        assert!(
            matches!(store.get(bad).await, Err(StoreError::InvalidKey(_))),
            "{bad}"
        );
    }
}

/// A queued job for tests.
pub fn sample_job(tenant: &str, id: &str, object_key: &str) -> Job {
    Job::queued(
        tenant,
        id,
        JobSpec {
            object_key: object_key.into(),
            format: None,
            model_id: None,
            algorithm: Some("ecod".into()),
            parameters: None,
            contamination: Some(0.1),
            threshold: None,
            ignore_columns: None,
            ..Default::default()
        },
    )
}

/// Metadata store contract: insert/get, tenant scoping, conditional updates.
pub async fn metadata_contract(store: &dyn MetadataStore) {
    let job = sample_job("t1", "job-1", "uploads/x.csv");
    store.insert_job(&job).await.expect("insert");
    assert_eq!(
        store.get_job("t1", "job-1").await.expect("get"),
        Some(job.clone())
    );
    assert_eq!(
        store.get_job("t2", "job-1").await.expect("other tenant"),
        None
    );
    assert_eq!(store.get_job("t1", "nope").await.expect("missing"), None);
    // Listing: this tenant's jobs only (tenant `t1x` shares the prefix `t1`).
    store
        .insert_job(&sample_job("t1", "job-2", "uploads/y.csv"))
        .await
        .expect("insert");
    store
        .insert_job(&sample_job("t1x", "job-3", "uploads/y.csv"))
        .await
        .expect("insert");
    let mut listed: Vec<String> = store
        .list_jobs("t1")
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["job-1", "job-2"]);
    assert!(store.list_jobs("t9").await.expect("list empty").is_empty());
    let mut running = job.clone();
    running.state = JobState::Running;
    running.attempts = 1;
    assert!(
        store
            .update_job_if(&running, (JobState::Queued, 0))
            .await
            .expect("cas")
    );
    // A second taker with the same expectation loses.
    assert!(
        !store
            .update_job_if(&running, (JobState::Queued, 0))
            .await
            .expect("cas again")
    );
    let mut done = running.clone();
    done.state = JobState::Succeeded;
    assert!(
        !store
            .update_job_if(&done, (JobState::Running, 0))
            .await
            .expect("wrong attempt")
    );
    assert!(
        store
            .update_job_if(&done, (JobState::Running, 1))
            .await
            .expect("finish")
    );
    assert_eq!(
        store
            .get_job("t1", "job-1")
            .await
            .expect("get")
            .map(|j| j.state),
        Some(JobState::Succeeded)
    );

    // Parts of a fanned-out job: idempotent, sorted, counted in the job's progress.
    let mut fanned = sample_job("t1", "job-2", "incoming/m/x.csv");
    fanned.state = JobState::Running;
    fanned.progress.parts_total = 3;
    store.insert_job(&fanned).await.expect("insert fanned");
    assert_eq!(
        store.parts_done("t1", "job-2").await.expect("none"),
        Vec::<u32>::new()
    );
    assert_eq!(
        store.record_part("t1", "job-2", 2).await.expect("part 2"),
        vec![2]
    );
    assert_eq!(
        store.record_part("t1", "job-2", 0).await.expect("part 0"),
        vec![0, 2]
    );
    assert_eq!(
        store.record_part("t1", "job-2", 2).await.expect("again"),
        vec![0, 2]
    );
    assert_eq!(
        store.parts_done("t1", "job-2").await.expect("read"),
        vec![0, 2]
    );
    let progress = store
        .get_job("t1", "job-2")
        .await
        .expect("get")
        .map(|j| j.progress);
    assert_eq!(
        progress.map(|p| (p.parts_done, p.parts_total)),
        Some((2, 3))
    );
    assert_eq!(
        store.parts_done("t2", "job-2").await.expect("other tenant"),
        Vec::<u32>::new()
    );
}

/// State store contract: versioned writes (a stale or absent version changes nothing),
/// summaries, deletion; then through [`Streams`](crate::streams::Streams): 8 writers,
/// each with its own cache (as 8 processes), post interleaved batches for the same
/// entities, and every point is counted exactly once; a fresh process carries on from the
/// stored states exactly as the first would have.
pub async fn state_store_contract(
    states: std::sync::Arc<dyn crate::streams::store::StateStore>,
    objects: std::sync::Arc<dyn ObjectStore>,
    tenant: &str,
) {
    use crate::streams::Streams;
    use crate::streams::entity::EntitySummary;
    use crate::streams::points::PointsFormat;
    use crate::streams::spec::CreateStream;
    use crate::streams::store::StateKey;

    states.ready().await.expect("ready");
    let key = StateKey {
        tenant: tenant.into(),
        stream: "contract".into(),
        entity: "host/1 é".into(),
    };
    let summary = EntitySummary {
        entity: key.entity.clone(),
        points: 3,
        ..Default::default()
    };
    assert!(states.load(&key).await.expect("load").is_none());
    assert!(
        states
            .save(&key, None, &summary, b"one")
            .await
            .expect("save")
    );
    assert!(
        !states
            .save(&key, None, &summary, b"two")
            .await
            .expect("save"),
        "a second first write"
    );
    assert!(
        !states
            .save(&key, Some(5), &summary, b"two")
            .await
            .expect("save"),
        "a wrong version"
    );
    let big = vec![7u8; 3000];
    assert!(
        states
            .save(&key, Some(1), &summary, &big)
            .await
            .expect("save")
    );
    let record = states.load(&key).await.expect("load").expect("a state");
    assert_eq!((record.version, record.state.len()), (2, 3000));
    assert_eq!(record.state, big);
    assert_eq!(record.summary, summary);
    assert!(
        states
            .save(&key, Some(2), &summary, b"small")
            .await
            .expect("save")
    );
    assert_eq!(
        states
            .load(&key)
            .await
            .expect("load")
            .expect("a state")
            .state,
        b"small"
    );
    assert_eq!(
        states.summaries(tenant, "contract").await.expect("list"),
        vec![summary]
    );
    assert!(
        states
            .summaries(tenant, "other")
            .await
            .expect("list")
            .is_empty()
    );
    states
        .delete_stream(tenant, "contract")
        .await
        .expect("delete");
    assert!(states.load(&key).await.expect("load").is_none());

    // Eight writers, eight caches.
    let writers: Vec<Streams> = (0..8)
        .map(|_| Streams::new(objects.clone(), states.clone(), 16 << 20))
        .collect();
    let spec = writers[0]
        .create(
            tenant,
            CreateStream {
                method: Some("rolling-z".into()),
                entity_field: Some("host".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let hosts = ["a", "b", "c"];
    let tasks = writers.iter().enumerate().map(|(w, streams)| {
        let id = spec.id.clone();
        async move {
            for batch in 0..6 {
                let lines: Vec<String> = (0..6)
                    .map(|i| {
                        let host = hosts[(w + batch + i) % 3];
                        format!("{{\"host\": \"{host}\", \"value\": {}}}", (w * 7 + i) % 5)
                    })
                    .collect();
                streams
                    .push(
                        tenant,
                        &id,
                        lines.join("\n").as_bytes(),
                        PointsFormat::Ndjson,
                        100,
                    )
                    .await
                    .expect("push");
            }
        }
    });
    futures::future::join_all(tasks).await;
    let entities = writers[3]
        .entities(tenant, &spec.id)
        .await
        .expect("entities");
    let counted: Vec<(String, u64)> = entities
        .iter()
        .map(|e| (e.entity.clone(), e.points))
        .collect();
    // 8 writers × 6 batches × 6 points, spread evenly over three hosts.
    assert_eq!(
        counted,
        vec![("a".into(), 96), ("b".into(), 96), ("c".into(), 96)],
        "every point counted once"
    );

    // A fresh process (empty cache) carries on exactly where a warm one would.
    let warm = &writers[0];
    let fresh = Streams::new(objects.clone(), states.clone(), 0);
    let body = b"host,value\na,3\nb,40\na,2\n";
    let from_fresh = fresh
        .push(tenant, &spec.id, body, PointsFormat::Csv, 100)
        .await
        .expect("push");
    // Undo by replaying on a copy: the warm writer's cache is stale, and must notice.
    let entity = fresh.entity(tenant, &spec.id, "b").await.expect("entity");
    assert_eq!(entity.points, 97);
    let later = warm
        .push(
            tenant,
            &spec.id,
            b"host,value\nb,1\n",
            PointsFormat::Csv,
            100,
        )
        .await
        .expect("push");
    assert_eq!(
        later.results[0].index,
        Some(97),
        "the warm cache was not trusted over the store"
    );
    assert!(from_fresh.results[1].anomaly, "{:?}", from_fresh.results[1]);
    let reset = warm.reset(tenant, &spec.id, "b").await.expect("reset");
    assert_eq!(reset.points, 0);
    let after = fresh
        .push(
            tenant,
            &spec.id,
            b"host,value\nb,1\n",
            PointsFormat::Csv,
            100,
        )
        .await
        .expect("push");
    assert_eq!(after.results[0].index, Some(0), "the reset was seen");
    warm.delete(tenant, &spec.id).await.expect("delete stream");
    assert!(
        states
            .summaries(tenant, &spec.id)
            .await
            .expect("list")
            .is_empty()
    );
}

/// Fresh S3 bucket, DynamoDB table (string key `pk`) and SQS queue, all named `name`, on
/// the emulator `AWS_ENDPOINT_URL` points at (moto_server in `scripts/test`).
#[cfg(feature = "aws")]
#[derive(Debug)]
pub struct AwsResources {
    /// The SDK configuration.
    pub config: aws_config::SdkConfig,
    /// Bucket name.
    pub bucket: String,
    /// Table name.
    pub table: String,
    /// Queue URL.
    pub queue_url: String,
}

/// Creates [`AwsResources`] named `name`, the queue with `visibility_timeout` seconds.
#[cfg(feature = "aws")]
pub async fn create_aws_resources(name: &str, visibility_timeout: u32) -> AwsResources {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at moto_server (scripts/test starts one)"
    );
    create_aws_resources_with(crate::aws::load_config().await, name, visibility_timeout).await
}

/// Creates [`AwsResources`] named `name` with the SDK `config` (e.g. another emulator's
/// endpoint).
#[cfg(feature = "aws")]
pub async fn create_aws_resources_with(
    config: aws_config::SdkConfig,
    name: &str,
    visibility_timeout: u32,
) -> AwsResources {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
    aws_sdk_dynamodb::Client::new(&config)
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    let queue_url = aws_sdk_sqs::Client::new(&config)
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    AwsResources {
        config,
        bucket: name.into(),
        table: name.into(),
        queue_url,
    }
}

/// An object store that never answers (as one stopped with SIGSTOP), for deadline tests.
#[derive(Debug)]
pub struct HungStore;

#[async_trait::async_trait]
impl ObjectStore for HungStore {
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), StoreError> {
        std::future::pending().await
    }
    async fn get(&self, _: &str) -> Result<Vec<u8>, StoreError> {
        std::future::pending().await
    }
    async fn get_range(&self, _: &str, _: std::ops::Range<u64>) -> Result<Vec<u8>, StoreError> {
        std::future::pending().await
    }
    async fn list(&self, _: &str) -> Result<Vec<String>, StoreError> {
        std::future::pending().await
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        std::future::pending().await
    }
    async fn ready(&self) -> Result<(), StoreError> {
        std::future::pending().await
    }
}
