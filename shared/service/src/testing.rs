//! The contract every adapter set must meet, as reusable async checks: the local adapters'
//! unit tests and the AWS (moto) integration tests run the same functions.

use crate::jobs::{Job, JobProgress, JobSpec, JobState, MetadataStore};
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
    Job {
        id: id.into(),
        tenant: tenant.into(),
        state: JobState::Queued,
        spec: JobSpec {
            object_key: object_key.into(),
            format: None,
            model_id: None,
            algorithm: Some("ecod".into()),
            parameters: None,
            contamination: Some(0.1),
            threshold: None,
            ignore_columns: None,
        },
        results_key: None,
        summary: None,
        error: None,
        attempts: 0,
        lease_expires_at: None,
        progress: JobProgress::default(),
    }
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
