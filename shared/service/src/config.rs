//! Settings: every environment variable a process reads, parsed once at its edge into a
//! typed value, with one set of defaults for the container (`serve`, `worker`) and the
//! Lambda functions alike. A value that does not parse is an error naming the variable
//! (never a silent default), and a combination that would keep shared state on one
//! pod's disk while several replicas run is refused.

use std::str::FromStr;

use crate::http::{KEY_CACHE_SECONDS, Limits};

/// Where objects, job records and job messages live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// Files under the data dir, jobs on an in-process worker.
    Local,
    /// S3, DynamoDB and SQS.
    Aws {
        /// `PYNOMALY_BUCKET`.
        bucket: String,
        /// `PYNOMALY_TABLE`.
        table: String,
        /// `PYNOMALY_QUEUE_URL`.
        queue_url: String,
    },
    /// Job records in PostgreSQL; objects in S3 when a bucket is set, else under the data
    /// dir; jobs on the queue `PYNOMALY_QUEUE` names.
    Postgres {
        /// `DATABASE_URL`.
        url: String,
        /// `PYNOMALY_DB_SCHEMA`.
        schema: Option<String>,
        /// `PYNOMALY_BUCKET`.
        bucket: Option<String>,
        /// `PYNOMALY_QUEUE` (and `PYNOMALY_QUEUE_URL`).
        queue: QueueChoice,
    },
}

/// Where the jobs of a PostgreSQL job store are queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueChoice {
    /// In the process that accepted them (`pynomaly serve` runs them itself): the default
    /// with neither variable set.
    InProcess,
    /// On SQS at `PYNOMALY_QUEUE_URL` (`PYNOMALY_QUEUE=sqs`, implied by the URL).
    Sqs(String),
    /// In the job database itself (`PYNOMALY_QUEUE=postgres`): `pynomaly worker`s consume
    /// it; the stack needs no SQS.
    Postgres,
}

impl QueueChoice {
    fn parse(named: Option<String>, url: Option<String>, store: &str) -> Result<Self, ConfigError> {
        let invalid = |value: String, expected| ConfigError::Invalid {
            name: "PYNOMALY_QUEUE",
            value,
            expected,
        };
        match (named.as_deref(), url) {
            (None | Some("sqs"), Some(url)) => Ok(Self::Sqs(url)),
            (Some("sqs"), None) => Err(ConfigError::Missing {
                name: "PYNOMALY_QUEUE_URL",
                store: "postgres and PYNOMALY_QUEUE=sqs",
            }),
            (None | Some("in-process"), None) => Ok(Self::InProcess),
            (Some("postgres"), None) if store == "postgres" => Ok(Self::Postgres),
            (Some("postgres"), None) => Err(invalid(
                "postgres".into(),
                "sqs or in-process: a queue in PostgreSQL needs PYNOMALY_STORE=postgres",
            )),
            (Some(v @ ("postgres" | "in-process")), Some(_)) => Err(invalid(
                v.to_string(),
                "sqs, since PYNOMALY_QUEUE_URL names an SQS queue (unset one of the two)",
            )),
            (Some(other), _) => Err(invalid(other.to_string(), "postgres, sqs or in-process")),
        }
    }
}

/// Every setting of a process.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `PYNOMALY_STORE` and the variables of that backend.
    pub store: StoreSettings,
    /// `PYNOMALY_REPLICAS`: how many processes serve this deployment at most (the
    /// autoscaler's maximum); above 1, no state may live on one process's disk.
    pub replicas: u32,
    /// `PYNOMALY_MAX_BODY_BYTES`, `PYNOMALY_MAX_ROWS`, `PYNOMALY_MAX_UPLOAD_BYTES`.
    pub limits: Limits,
    /// `PYNOMALY_KEY_CACHE_SECONDS`: the longest a revoked key keeps working elsewhere.
    pub key_cache_seconds: u64,
    /// `PYNOMALY_MAX_RECEIVES`: deliveries of a job message before its job fails.
    pub max_receives: u32,
    /// `PYNOMALY_QUEUE_VISIBILITY_SECONDS`: how long a message received from the
    /// PostgreSQL queue stays hidden before it comes back (SQS has its own setting).
    pub queue_visibility_seconds: u64,
    /// `PYNOMALY_BATCH_CONCURRENCY`: messages a batch function scores at once (default:
    /// one per core).
    pub batch_concurrency: usize,
    /// `PYNOMALY_INGEST_TENANT`: the tenant whose models score dropped objects.
    pub ingest_tenant: String,
    /// `PYNOMALY_CHUNK_BYTES`: size of the parts a large dropped object is scored in (at
    /// least 1 KiB).
    pub chunk_bytes: u64,
    /// `PYNOMALY_LEASE_SECONDS`: how long a running job is held by its attempt without a
    /// renewal (renewed every third of it): how soon a dead worker's job is taken over.
    /// Keep it under the queue's visibility timeout.
    pub lease_seconds: u64,
    /// `PYNOMALY_STREAM_CACHE_MB`: MiB of entity states of streams kept in memory
    /// (default 256; 0 reads every state from the store).
    pub stream_cache_bytes: usize,
    /// `PYNOMALY_ALERT_QUEUE_URL`: an SQS queue that receives one message per stream alarm.
    pub alert_queue_url: Option<String>,
    /// `PYNOMALY_POINTS_QUEUE_URL`: the (FIFO) SQS queue of points messages that
    /// `pynomaly worker` also consumes.
    pub points_queue_url: Option<String>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse.
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A variable the chosen backend needs is unset.
    #[error("{name} must be set when PYNOMALY_STORE={store}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// The backend.
        store: &'static str,
    },
    /// State that every replica must share would live on one replica's disk.
    #[error(
        "{reason}, but {what} would live on this process's own disk, out of the others' sight; {fix}"
    )]
    LocalState {
        /// Why several processes share the state.
        reason: String,
        /// What would be local.
        what: &'static str,
        /// The variable to set.
        fix: &'static str,
    },
}

/// The process's memory budget default for batch concurrency: one message per core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Settings {
    /// Settings from the process environment; `default_store` when `PYNOMALY_STORE` is
    /// unset (`local` for the binary, `aws` for the Lambda functions).
    pub fn from_env(default_store: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), default_store)
    }

    /// Settings from `lookup` (a variable's value, if set).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_store: &str,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str, store: &'static str| {
            get(name).ok_or(ConfigError::Missing { name, store })
        };
        let store_name = get("PYNOMALY_STORE").unwrap_or_else(|| default_store.to_string());
        // The queue each store keeps its jobs on by itself; only PostgreSQL has a choice.
        let own_queue = match store_name.as_str() {
            "local" => Some("in-process"),
            "aws" => Some("sqs"),
            _ => None,
        };
        if let (Some(own), Some(named)) = (own_queue, get("PYNOMALY_QUEUE"))
            && named != own
        {
            return Err(ConfigError::Invalid {
                name: "PYNOMALY_QUEUE",
                value: named,
                expected: "the store's own queue: in-process for PYNOMALY_STORE=local, sqs for aws (a choice only with postgres)",
            });
        }
        let store = match store_name.as_str() {
            "local" => StoreSettings::Local,
            "aws" => StoreSettings::Aws {
                bucket: required("PYNOMALY_BUCKET", "aws")?,
                table: required("PYNOMALY_TABLE", "aws")?,
                queue_url: required("PYNOMALY_QUEUE_URL", "aws")?,
            },
            "postgres" => StoreSettings::Postgres {
                url: required("DATABASE_URL", "postgres")?,
                schema: get("PYNOMALY_DB_SCHEMA"),
                bucket: get("PYNOMALY_BUCKET"),
                queue: QueueChoice::parse(
                    get("PYNOMALY_QUEUE"),
                    get("PYNOMALY_QUEUE_URL"),
                    "postgres",
                )?,
            },
            other => {
                return Err(ConfigError::Invalid {
                    name: "PYNOMALY_STORE",
                    value: other.to_string(),
                    expected: "local, aws or postgres",
                });
            }
        };
        let defaults = Limits::default();
        let ingest = crate::fanout::IngestConfig::default();
        let settings = Self {
            store,
            replicas: number(
                &get,
                "PYNOMALY_REPLICAS",
                1,
                "a whole number of replicas, at least 1",
            )?,
            limits: Limits {
                body_bytes: number(
                    &get,
                    "PYNOMALY_MAX_BODY_BYTES",
                    defaults.body_bytes,
                    "a byte count",
                )?,
                rows: number(&get, "PYNOMALY_MAX_ROWS", defaults.rows, "a row count")?,
                upload_bytes: number(
                    &get,
                    "PYNOMALY_MAX_UPLOAD_BYTES",
                    defaults.upload_bytes,
                    "a byte count",
                )?,
                ..defaults
            },
            key_cache_seconds: number(
                &get,
                "PYNOMALY_KEY_CACHE_SECONDS",
                KEY_CACHE_SECONDS,
                "seconds",
            )?,
            max_receives: number(
                &get,
                "PYNOMALY_MAX_RECEIVES",
                5,
                "a count of deliveries, at least 1",
            )?,
            queue_visibility_seconds: number(
                &get,
                "PYNOMALY_QUEUE_VISIBILITY_SECONDS",
                300,
                "seconds, at least 1",
            )?,
            batch_concurrency: number(
                &get,
                "PYNOMALY_BATCH_CONCURRENCY",
                cores(),
                "a count of messages, at least 1",
            )?,
            ingest_tenant: get("PYNOMALY_INGEST_TENANT").unwrap_or(ingest.tenant),
            chunk_bytes: number(
                &get,
                "PYNOMALY_CHUNK_BYTES",
                8 << 20,
                "a byte count of at least 1024",
            )?,
            lease_seconds: number(
                &get,
                "PYNOMALY_LEASE_SECONDS",
                crate::jobs::LEASE_SECONDS,
                "seconds, at least 3",
            )?,
            stream_cache_bytes: number::<usize>(
                &get,
                "PYNOMALY_STREAM_CACHE_MB",
                crate::streams::DEFAULT_CACHE_BYTES >> 20,
                "a whole number of MiB",
            )?
            .saturating_mul(1 << 20),
            alert_queue_url: get("PYNOMALY_ALERT_QUEUE_URL"),
            points_queue_url: get("PYNOMALY_POINTS_QUEUE_URL"),
        };
        settings.check()?;
        Ok(settings)
    }

    /// Refuses values out of range and local state shared by several replicas.
    fn check(&self) -> Result<(), ConfigError> {
        let at_least = |name: &'static str, value: u64, min: u64, expected: &'static str| {
            if value < min {
                Err(ConfigError::Invalid {
                    name,
                    value: value.to_string(),
                    expected,
                })
            } else {
                Ok(())
            }
        };
        at_least(
            "PYNOMALY_REPLICAS",
            self.replicas.into(),
            1,
            "a whole number of replicas, at least 1",
        )?;
        at_least(
            "PYNOMALY_MAX_RECEIVES",
            self.max_receives.into(),
            1,
            "a count of deliveries, at least 1",
        )?;
        at_least(
            "PYNOMALY_QUEUE_VISIBILITY_SECONDS",
            self.queue_visibility_seconds,
            1,
            "seconds, at least 1",
        )?;
        at_least(
            "PYNOMALY_BATCH_CONCURRENCY",
            self.batch_concurrency as u64,
            1,
            "a count of messages, at least 1",
        )?;
        at_least(
            "PYNOMALY_CHUNK_BYTES",
            self.chunk_bytes,
            1024,
            "a byte count of at least 1024",
        )?;
        at_least(
            "PYNOMALY_LEASE_SECONDS",
            self.lease_seconds,
            3,
            "seconds, at least 3",
        )?;
        if self.replicas <= 1 {
            return Ok(());
        }
        self.require_shared(&format!(
            "PYNOMALY_REPLICAS={} (run one replica, or share the state)",
            self.replicas
        ))
    }

    /// Refuses any state on one process's disk: for processes that never run alone (a
    /// Lambda function's containers, several replicas); `reason` says why.
    pub fn require_shared(&self, reason: &str) -> Result<(), ConfigError> {
        let local = |what, fix| {
            Err(ConfigError::LocalState {
                reason: reason.to_string(),
                what,
                fix,
            })
        };
        match &self.store {
            StoreSettings::Local => local(
                "models, uploads, results and job records",
                "set PYNOMALY_STORE=aws or postgres",
            ),
            StoreSettings::Postgres { bucket: None, .. } => {
                local("models, uploads and results", "set PYNOMALY_BUCKET")
            }
            StoreSettings::Postgres {
                queue: QueueChoice::InProcess,
                ..
            } => local(
                "the job queue",
                "set PYNOMALY_QUEUE=postgres, or PYNOMALY_QUEUE_URL to an SQS queue",
            ),
            _ => Ok(()),
        }
    }

    /// The backend's name, as `PYNOMALY_STORE` spells it.
    pub fn store_name(&self) -> &'static str {
        match self.store {
            StoreSettings::Local => "local",
            StoreSettings::Aws { .. } => "aws",
            StoreSettings::Postgres { .. } => "postgres",
        }
    }
}

/// A number from `get(name)`, or `default` when unset.
fn number<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            value,
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)], default_store: &str) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            default_store,
        )
    }

    #[test]
    fn defaults_are_one_set_for_every_process() {
        let local = settings(&[], "local").unwrap();
        assert_eq!(local.store, StoreSettings::Local);
        assert_eq!(local.limits, Limits::default());
        assert_eq!(local.key_cache_seconds, KEY_CACHE_SECONDS);
        assert_eq!((local.max_receives, local.chunk_bytes), (5, 8 << 20));
        assert_eq!(local.ingest_tenant, "default");
        let err = settings(&[], "aws").unwrap_err();
        assert_eq!(
            err.to_string(),
            "PYNOMALY_BUCKET must be set when PYNOMALY_STORE=aws"
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_named_not_replaced() {
        let err = settings(&[("PYNOMALY_MAX_ROWS", "200k")], "local").unwrap_err();
        assert_eq!(
            err.to_string(),
            "PYNOMALY_MAX_ROWS=\"200k\" is not valid: expected a row count"
        );
        let err = settings(&[("PYNOMALY_CHUNK_BYTES", "10")], "local").unwrap_err();
        assert!(
            err.to_string().starts_with("PYNOMALY_CHUNK_BYTES=\"10\""),
            "{err}"
        );
        let err = settings(&[("PYNOMALY_STORE", "s3")], "local").unwrap_err();
        assert!(err.to_string().contains("local, aws or postgres"), "{err}");
        let ok = settings(&[("PYNOMALY_MAX_ROWS", " 500 ")], "local").unwrap();
        assert_eq!(ok.limits.rows, 500);
    }

    #[test]
    fn replicas_refuse_state_on_one_disk() {
        let err = settings(&[("PYNOMALY_REPLICAS", "3")], "local").unwrap_err();
        assert!(
            err.to_string()
                .contains("set PYNOMALY_STORE=aws or postgres"),
            "{err}"
        );
        let pg = [
            ("PYNOMALY_STORE", "postgres"),
            ("DATABASE_URL", "postgres://db"),
            ("PYNOMALY_REPLICAS", "2"),
        ];
        let err = settings(&pg, "local").unwrap_err();
        assert!(err.to_string().contains("set PYNOMALY_BUCKET"), "{err}");
        let with_bucket = [pg.as_slice(), &[("PYNOMALY_BUCKET", "b")]].concat();
        let err = settings(&with_bucket, "local").unwrap_err();
        assert!(
            err.to_string().contains("set PYNOMALY_QUEUE=postgres"),
            "{err}"
        );
        let shared = [
            with_bucket.as_slice(),
            &[("PYNOMALY_QUEUE_URL", "https://q")],
        ]
        .concat();
        assert_eq!(settings(&shared, "local").unwrap().replicas, 2);
        let in_database = [with_bucket.as_slice(), &[("PYNOMALY_QUEUE", "postgres")]].concat();
        assert_eq!(settings(&in_database, "local").unwrap().replicas, 2);
        // A Lambda function never runs alone.
        let err = settings(&[("PYNOMALY_STORE", "local")], "aws")
            .unwrap()
            .require_shared("a function runs in many containers")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a function runs in many containers, but models"),
            "{err}"
        );
        // One replica may keep everything local.
        let single = [
            ("PYNOMALY_STORE", "postgres"),
            ("DATABASE_URL", "postgres://db"),
        ];
        assert!(settings(&single, "local").is_ok());
    }

    #[test]
    fn the_job_queue_of_a_postgres_store_is_chosen_once_and_checked() {
        let pg = [
            ("PYNOMALY_STORE", "postgres"),
            ("DATABASE_URL", "postgres://db"),
        ];
        let queue = |extra: &[(&str, &str)]| {
            settings(&[pg.as_slice(), extra].concat(), "local").map(|s| match s.store {
                StoreSettings::Postgres { queue, .. } => queue,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(queue(&[]).unwrap(), QueueChoice::InProcess);
        assert_eq!(
            queue(&[("PYNOMALY_QUEUE", "postgres")]).unwrap(),
            QueueChoice::Postgres
        );
        assert_eq!(
            queue(&[("PYNOMALY_QUEUE_URL", "https://q")]).unwrap(),
            QueueChoice::Sqs("https://q".into())
        );
        let both = queue(&[
            ("PYNOMALY_QUEUE", "postgres"),
            ("PYNOMALY_QUEUE_URL", "https://q"),
        ]);
        assert!(
            both.unwrap_err()
                .to_string()
                .contains("unset one of the two"),
            "a queue named twice is refused"
        );
        let unknown = queue(&[("PYNOMALY_QUEUE", "kafka")]).unwrap_err();
        assert!(
            unknown.to_string().contains("postgres, sqs or in-process"),
            "{unknown}"
        );
        let sqs_without_url = queue(&[("PYNOMALY_QUEUE", "sqs")]).unwrap_err();
        assert!(
            sqs_without_url
                .to_string()
                .starts_with("PYNOMALY_QUEUE_URL must be set")
        );
        let elsewhere = settings(&[("PYNOMALY_QUEUE", "postgres")], "local").unwrap_err();
        assert!(
            elsewhere
                .to_string()
                .contains("a choice only with postgres"),
            "{elsewhere}"
        );
        let visibility = settings(&[("PYNOMALY_QUEUE_VISIBILITY_SECONDS", "0")], "local");
        assert!(visibility.is_err());
    }
}
