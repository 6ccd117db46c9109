//! PostgreSQL job records (feature `postgres`): tokio-postgres behind a deadpool pool.
//! The schema is created by versioned migrations applied at start, under an advisory lock
//! so that several processes starting together apply each migration once. Driver types
//! stay in this module.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::jobs::{Job, JobState, MetadataStore};
use crate::storage::StoreError;
use crate::streams::entity::EntitySummary;
use crate::streams::store::{StateKey, StateRecord, StateStore};

/// Schema migrations, applied in order; each runs once (recorded in
/// `pynomaly_migrations`). Append, never edit: a deployed database has run the old ones.
/// A list of SQL strings is all this needs, so no migration framework is pulled in.
const MIGRATIONS: &[&str] = &[
    // 1: job records. The state and attempt number are columns so a conditional update is
    // one `UPDATE ... WHERE`; the whole record is kept as JSON.
    "CREATE TABLE jobs (
         tenant     TEXT NOT NULL,
         id         TEXT NOT NULL,
         state      TEXT NOT NULL,
         attempts   INTEGER NOT NULL,
         body       JSONB NOT NULL,
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         PRIMARY KEY (tenant, id)
     )",
    // 2: parts of fanned-out jobs; the primary key makes recording a part idempotent.
    "CREATE TABLE job_parts (
         tenant      TEXT NOT NULL,
         id          TEXT NOT NULL,
         part        INTEGER NOT NULL,
         recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         PRIMARY KEY (tenant, id, part)
     )",
    // 3: entity states of streams; `version` makes a write conditional on the version read.
    "CREATE TABLE stream_states (
         tenant     TEXT NOT NULL,
         stream     TEXT NOT NULL,
         entity     TEXT NOT NULL,
         version    BIGINT NOT NULL,
         summary    JSONB NOT NULL,
         state      BYTEA NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         PRIMARY KEY (tenant, stream, entity)
     )",
    // 4: the job queue, for a stack with no SQS (postgres_queue.rs). A row is ready when
    // `visible_at` has passed and it is not dead; receiving pushes `visible_at` out by the
    // visibility timeout and counts the receive.
    "CREATE TABLE job_queue (
         id            BIGSERIAL PRIMARY KEY,
         body          TEXT NOT NULL,
         sent_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
         visible_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
         receive_count INTEGER NOT NULL DEFAULT 0,
         dead_at       TIMESTAMPTZ
     );
     CREATE INDEX job_queue_ready ON job_queue (visible_at, id) WHERE dead_at IS NULL",
];

/// Arbitrary key for `pg_advisory_xact_lock` around migrations.
const MIGRATION_LOCK: i64 = 0x7079_6e6f_6d61_6c79; // "pynomaly"

pub(crate) fn backend(action: &'static str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        action,
        key: key.to_string(),
        message: e.to_string(),
    }
}

/// An error with its causes (`error performing TLS handshake: invalid peer certificate:
/// …`): the driver's own message names only the outermost step.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = c.source();
    }
    message
}

/// Job records in PostgreSQL.
#[derive(Clone)]
pub struct PostgresMetadataStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresMetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's config holds the password; show only its size.
        f.debug_struct("PostgresMetadataStore")
            .field("pool_size", &self.pool.status().max_size)
            .finish()
    }
}

impl PostgresMetadataStore {
    /// Connects to `database_url` (`postgres://user:pass@host:port/db` or the key=value
    /// form; TLS per its `sslmode` and `sslrootcert`, see [`crate::postgres_tls`]) with up
    /// to `pool_size` connections, optionally inside `schema` (created if
    /// missing; lets several deployments or test runs share a database), and applies
    /// pending migrations.
    pub async fn connect(
        database_url: &str,
        pool_size: usize,
        schema: Option<&str>,
    ) -> Result<Self, StoreError> {
        let (mut config, tls) = crate::postgres_tls::connect_config(database_url)?;
        if let Some(schema) = schema {
            if schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(StoreError::InvalidKey(format!(
                    "schema `{schema}`: use lowercase letters, digits and _"
                )));
            }
            let (client, connection) = config
                .connect(tls.clone())
                .await
                .map_err(|e| backend("connect", "postgres", with_causes(&e)))?;
            let connection = tokio::spawn(connection);
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(|e| backend("create schema", schema, e))?;
            drop(client);
            let _ = connection.await;
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| backend("connect", "DATABASE_URL", e))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| backend("connect", "postgres", with_causes(&e)))
    }

    /// Whether this store's connections are encrypted (PostgreSQL's own `pg_stat_ssl`),
    /// for the startup log and tests.
    pub async fn encrypted(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .map_err(|e| backend("query", "pg_stat_ssl", e))?;
        Ok(row.get(0))
    }

    /// Applies the migrations this database has not run yet; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| backend("migrate", "begin", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| backend("migrate", "lock", e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS pynomaly_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|e| backend("migrate", "pynomaly_migrations", e))?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM pynomaly_migrations",
                &[],
            )
            .await
            .map_err(|e| backend("migrate", "pynomaly_migrations", e))?
            .get(0);
        let mut ran = 0;
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            if version <= applied {
                continue;
            }
            tx.batch_execute(sql)
                .await
                .map_err(|e| backend("migrate", &format!("migration {version}"), e))?;
            tx.execute(
                "INSERT INTO pynomaly_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(|e| backend("migrate", &format!("migration {version}"), e))?;
            ran += 1;
        }
        tx.commit()
            .await
            .map_err(|e| backend("migrate", "commit", e))?;
        Ok(ran)
    }
}

fn encode(job: &Job) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(job).map_err(|e| backend("encode", &job.id, e))
}

/// A job's record and the count of its recorded parts; `WHERE` clauses follow.
const SELECT_JOB: &str = "SELECT body, (SELECT count(*) FROM job_parts p
                                        WHERE p.tenant = jobs.tenant AND p.id = jobs.id)
                          FROM jobs";

fn job_from_row(row: &tokio_postgres::Row, key: &str) -> Result<Job, StoreError> {
    let mut job: Job = serde_json::from_value(row.get::<_, serde_json::Value>(0))
        .map_err(|e| backend("decode", key, e))?;
    let parts = u32::try_from(row.get::<_, i64>(1)).unwrap_or(u32::MAX);
    job.progress.parts_done = job.progress.parts_done.max(parts);
    Ok(job)
}

#[async_trait]
impl MetadataStore for PostgresMetadataStore {
    async fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        let attempts = i32::try_from(job.attempts).unwrap_or(i32::MAX);
        self.client()
            .await?
            .execute(
                "INSERT INTO jobs (tenant, id, state, attempts, body) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, id) DO UPDATE
                 SET state = EXCLUDED.state, attempts = EXCLUDED.attempts,
                     body = EXCLUDED.body, updated_at = now()",
                &[
                    &job.tenant,
                    &job.id,
                    &job.state.as_str(),
                    &attempts,
                    &encode(job)?,
                ],
            )
            .await
            .map_err(|e| backend("insert", &job.id, e))?;
        Ok(())
    }

    async fn list_jobs(&self, tenant: &str) -> Result<Vec<Job>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(&format!("{SELECT_JOB} WHERE tenant = $1"), &[&tenant])
            .await
            .map_err(|e| backend("list jobs", tenant, e))?;
        rows.iter().map(|row| job_from_row(row, tenant)).collect()
    }

    async fn get_job(&self, tenant: &str, id: &str) -> Result<Option<Job>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("{SELECT_JOB} WHERE tenant = $1 AND id = $2"),
                &[&tenant, &id],
            )
            .await
            .map_err(|e| backend("select", id, e))?;
        row.map(|row| job_from_row(&row, id)).transpose()
    }

    async fn record_part(&self, tenant: &str, id: &str, part: u32) -> Result<Vec<u32>, StoreError> {
        let part = i32::try_from(part).map_err(|e| backend("record part", id, e))?;
        self.client()
            .await?
            .execute(
                "INSERT INTO job_parts (tenant, id, part) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&tenant, &id, &part],
            )
            .await
            .map_err(|e| backend("record part", id, e))?;
        self.parts_done(tenant, id).await
    }

    async fn parts_done(&self, tenant: &str, id: &str) -> Result<Vec<u32>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT part FROM job_parts WHERE tenant = $1 AND id = $2 ORDER BY part",
                &[&tenant, &id],
            )
            .await
            .map_err(|e| backend("parts", id, e))?;
        Ok(rows
            .iter()
            .filter_map(|r| u32::try_from(r.get::<_, i32>(0)).ok())
            .collect())
    }

    async fn update_job_if(
        &self,
        job: &Job,
        expected: (JobState, u32),
    ) -> Result<bool, StoreError> {
        let attempts = i32::try_from(job.attempts).unwrap_or(i32::MAX);
        let expected_attempts = i32::try_from(expected.1).unwrap_or(i32::MAX);
        let updated = self
            .client()
            .await?
            .execute(
                "UPDATE jobs SET state = $3, attempts = $4, body = $5, updated_at = now()
                 WHERE tenant = $1 AND id = $2 AND state = $6 AND attempts = $7",
                &[
                    &job.tenant,
                    &job.id,
                    &job.state.as_str(),
                    &attempts,
                    &encode(job)?,
                    &expected.0.as_str(),
                    &expected_attempts,
                ],
            )
            .await
            .map_err(|e| backend("update", &job.id, e))?;
        Ok(updated == 1)
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute("SELECT 1", &[])
            .await
            .map_err(|e| backend("ping", "postgres", e))?;
        Ok(())
    }
}

/// Entity states of streams in PostgreSQL, on the job store's pool: a write is an
/// `INSERT ... ON CONFLICT DO NOTHING` (first version) or an `UPDATE ... WHERE version =`
/// the version read, so a stale writer changes no row and is told so.
#[derive(Debug, Clone)]
pub struct PostgresStateStore(PostgresMetadataStore);

impl PostgresMetadataStore {
    /// The stream state store on this pool.
    pub fn states(&self) -> PostgresStateStore {
        PostgresStateStore(self.clone())
    }

    /// The job queue in this database; a received message comes back after `visibility`
    /// unless acknowledged, and is moved aside once received `max_receives` times.
    pub fn queue(
        &self,
        visibility: std::time::Duration,
        max_receives: u32,
    ) -> crate::postgres_queue::PostgresQueue {
        crate::postgres_queue::PostgresQueue::new(self.clone(), visibility, max_receives)
    }
}

fn summary_json(summary: &EntitySummary, key: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(summary).map_err(|e| backend("encode", key, e))
}

#[async_trait]
impl StateStore for PostgresStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError> {
        let row = self
            .0
            .client()
            .await?
            .query_opt(
                "SELECT version, summary, state FROM stream_states
                 WHERE tenant = $1 AND stream = $2 AND entity = $3",
                &[&key.tenant, &key.stream, &key.entity],
            )
            .await
            .map_err(|e| backend("load state", &key.entity, e))?;
        row.map(|row| {
            Ok(StateRecord {
                version: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                summary: serde_json::from_value(row.get(1))
                    .map_err(|e| backend("decode", &key.entity, e))?,
                state: row.get(2),
            })
        })
        .transpose()
    }

    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let summary = summary_json(summary, &key.entity)?;
        let client = self.0.client().await?;
        let changed = match expected {
            None => client
                .execute(
                    "INSERT INTO stream_states (tenant, stream, entity, version, summary, state)
                     VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT DO NOTHING",
                    &[&key.tenant, &key.stream, &key.entity, &summary, &state],
                )
                .await,
            Some(version) => {
                let version = i64::try_from(version).unwrap_or(i64::MAX);
                client
                    .execute(
                        "UPDATE stream_states
                         SET version = version + 1, summary = $5, state = $6, updated_at = now()
                         WHERE tenant = $1 AND stream = $2 AND entity = $3 AND version = $4",
                        &[
                            &key.tenant,
                            &key.stream,
                            &key.entity,
                            &version,
                            &summary,
                            &state,
                        ],
                    )
                    .await
            }
        }
        .map_err(|e| backend("save state", &key.entity, e))?;
        Ok(changed == 1)
    }

    async fn summaries(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Vec<EntitySummary>, StoreError> {
        let rows = self
            .0
            .client()
            .await?
            .query(
                "SELECT summary FROM stream_states WHERE tenant = $1 AND stream = $2
                 ORDER BY entity",
                &[&tenant, &stream],
            )
            .await
            .map_err(|e| backend("list states", stream, e))?;
        rows.iter()
            .map(|row| serde_json::from_value(row.get(0)).map_err(|e| backend("decode", stream, e)))
            .collect()
    }

    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError> {
        self.0
            .client()
            .await?
            .execute(
                "DELETE FROM stream_states WHERE tenant = $1 AND stream = $2",
                &[&tenant, &stream],
            )
            .await
            .map_err(|e| backend("delete states", stream, e))?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        MetadataStore::ready(&self.0).await
    }
}
