//! Streams: points scored as they arrive, one live state per (tenant, stream, entity).
//! Every door — HTTP, the SQS worker and batch function, `pynomaly stream` — calls
//! [`Streams`]; the detection is [`pynomaly_detection::timeseries::online`].
//!
//! - [`spec`]: a stream's definition (method, parameters, fields), stored as an object.
//! - [`points`]: reading a batch of points (JSON, NDJSON, CSV).
//! - [`entity`]: an entity's state and how points are applied to it.
//! - [`store`]: the state port (versioned writes) and the local-files adapter; the
//!   PostgreSQL and DynamoDB + S3 adapters live beside the other adapters of their kind.
//!
//! A bounded cache keeps hot states in memory (container and warm Lambda alike) with the
//! version they were read at; a write names that version, so a state another process
//! changed since is detected at write time, reloaded and the points applied again.

pub mod alerts;
mod cache;
pub mod entity;
pub mod points;
pub mod spec;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use pynomaly_detection::DetectionError;

use crate::storage::{ObjectStore, StoreError};
use entity::{EntityState, EntitySummary, PointResult};
use points::{PointIn, PointsError, PointsFormat, read_points};
use spec::{CreateStream, StreamSpec};
use store::{StateKey, StateStore};

/// Why a stream call failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A field of the request is wrong.
    #[error("`{field}` {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The method or its parameters are wrong.
    #[error(transparent)]
    Detection(#[from] DetectionError),
    /// The points cannot be read.
    #[error(transparent)]
    Points(#[from] PointsError),
    /// No such stream or entity for this tenant.
    #[error("{0}")]
    NotFound(String),
    /// A stored state cannot be read.
    #[error("corrupt stream state: {0}")]
    State(String),
    /// Other writers kept changing the entity's state.
    #[error("entity `{entity}` changed under {attempts} attempts in a row; try again")]
    Contended {
        /// The entity.
        entity: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StreamError {
    pub(crate) fn invalid(field: impl Into<String>, reason: String) -> Self {
        Self::Invalid {
            field: field.into(),
            reason,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Contended { .. } => true,
            Self::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Bytes of hot states kept in memory by default (256 MiB).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// Attempts at writing one entity's points before giving up as contended.
const MAX_ATTEMPTS: u32 = 50;

/// Stream definitions read, by (tenant, id).
type SpecCache = HashMap<(String, String), Arc<StreamSpec>>;

/// The streams use cases over an object store (definitions) and a state store.
#[derive(Debug, Clone)]
pub struct Streams {
    objects: Arc<dyn ObjectStore>,
    states: Arc<dyn StateStore>,
    cache: Arc<Mutex<cache::StateCache>>,
    /// One permit per core: how many entities are scored at once, so memory holds a
    /// bounded number of states in flight.
    cpu: Arc<tokio::sync::Semaphore>,
    alerts: Option<Arc<dyn alerts::AlertSink>>,
    specs: Arc<Mutex<SpecCache>>,
}

/// What a batch of points gave.
#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome {
    /// One result per point, in the order sent.
    pub results: Vec<PointResult>,
    /// Alarms raised.
    pub anomalies: usize,
    /// Entities touched.
    pub entities: usize,
}

fn spec_key(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/streams/{id}.json")
}

impl Streams {
    /// Streams defined in `objects`, states in `states`, with up to `cache_bytes` of hot
    /// states kept in memory (0: none).
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        states: Arc<dyn StateStore>,
        cache_bytes: usize,
    ) -> Self {
        Self {
            objects,
            states,
            cache: Arc::new(Mutex::new(cache::StateCache::new(cache_bytes))),
            cpu: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
            alerts: None,
            specs: Arc::default(),
        }
    }

    /// Also sends every alarm to `sink`.
    pub fn with_alerts(mut self, sink: Arc<dyn alerts::AlertSink>) -> Self {
        self.alerts = Some(sink);
        self
    }

    /// The state store.
    pub fn states(&self) -> &Arc<dyn StateStore> {
        &self.states
    }

    /// Creates a stream.
    pub async fn create(
        &self,
        tenant: &str,
        request: CreateStream,
    ) -> Result<StreamSpec, StreamError> {
        let spec = StreamSpec::create(uuid::Uuid::new_v4().to_string(), request)?;
        self.save_spec(tenant, &spec).await?;
        Ok(spec)
    }

    /// Stores `spec` (creating or replacing the stream of its id).
    pub async fn save_spec(&self, tenant: &str, spec: &StreamSpec) -> Result<(), StreamError> {
        crate::storage::validate_key(&spec.id)?;
        let bytes = serde_json::to_vec(spec).map_err(|e| StreamError::State(e.to_string()))?;
        self.objects.put(&spec_key(tenant, &spec.id), bytes).await?;
        self.specs_cache().insert(
            (tenant.to_string(), spec.id.clone()),
            Arc::new(spec.clone()),
        );
        Ok(())
    }

    fn specs_cache(&self) -> std::sync::MutexGuard<'_, SpecCache> {
        self.specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stream `id` of `tenant`.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Arc<StreamSpec>, StreamError> {
        if let Some(spec) = self
            .specs_cache()
            .get(&(tenant.to_string(), id.to_string()))
        {
            return Ok(spec.clone());
        }
        let missing =
            || StreamError::NotFound(format!("no stream `{id}`; see GET /api/v1/streams"));
        if crate::storage::validate_key(id).is_err() {
            return Err(missing());
        }
        let bytes = match self.objects.get(&spec_key(tenant, id)).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let spec: StreamSpec =
            serde_json::from_slice(&bytes).map_err(|e| StreamError::State(e.to_string()))?;
        let spec = Arc::new(spec);
        let mut cache = self.specs_cache();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert((tenant.to_string(), id.to_string()), spec.clone());
        Ok(spec)
    }

    /// The streams of `tenant`, newest first.
    pub async fn list(&self, tenant: &str) -> Result<Vec<StreamSpec>, StreamError> {
        let keys = self
            .objects
            .list(&format!("tenants/{tenant}/streams/"))
            .await?;
        let mut specs = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            let id = key
                .rsplit('/')
                .next()
                .and_then(|name| name.strip_suffix(".json"))
                .unwrap_or_default();
            match self.get(tenant, id).await {
                Ok(spec) => specs.push((*spec).clone()),
                Err(StreamError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        specs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(specs)
    }

    /// Deletes a stream and its states.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), StreamError> {
        self.get(tenant, id).await?;
        self.states.delete_stream(tenant, id).await?;
        self.objects.delete(&spec_key(tenant, id)).await?;
        self.specs_cache()
            .remove(&(tenant.to_string(), id.to_string()));
        self.lock_cache().forget_stream(tenant, id);
        Ok(())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, cache::StateCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads `body` as points of stream `id` (at most `limit`), scores them and stores
    /// the states.
    pub async fn push(
        &self,
        tenant: &str,
        id: &str,
        body: &[u8],
        format: PointsFormat,
        limit: usize,
    ) -> Result<PushOutcome, StreamError> {
        let spec = self.get(tenant, id).await?;
        let points = read_points(body, format, &spec, limit)?;
        self.push_points(tenant, &spec, points).await
    }

    /// Scores checked `points` of `spec`: grouped by entity (each entity's points in
    /// order), each group applied to its state and written with a version check.
    pub async fn push_points(
        &self,
        tenant: &str,
        spec: &Arc<StreamSpec>,
        points: Vec<PointIn>,
    ) -> Result<PushOutcome, StreamError> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            let g = *group_of.entry(p.entity.as_str()).or_insert_with(|| {
                groups.push((p.entity.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        let entities = groups.len();
        let points = Arc::new(points);
        // Entities are scored a few at a time (each holds its state in memory meanwhile).
        let in_flight = 2 * self.cpu.available_permits().max(1);
        let applied: Vec<(Vec<usize>, Vec<PointResult>)> =
            futures::stream::iter(groups.into_iter().map(|(entity, indices)| {
                let key = StateKey {
                    tenant: tenant.to_string(),
                    stream: spec.id.clone(),
                    entity,
                };
                let points = points.clone();
                async move {
                    let results = self.apply(key, spec, &points, &indices).await?;
                    Ok::<_, StreamError>((indices, results))
                }
            }))
            .buffer_unordered(in_flight)
            .try_collect()
            .await?;
        let mut ordered: Vec<Option<PointResult>> = vec![None; points.len()];
        for (indices, results) in applied {
            for (i, r) in indices.into_iter().zip(results) {
                ordered[i] = Some(r);
            }
        }
        let results: Vec<PointResult> = ordered.into_iter().flatten().collect();
        let anomalies = results.iter().filter(|r| r.anomaly).count();
        if let (Some(sink), true) = (&self.alerts, anomalies > 0) {
            let alerts: Vec<alerts::Alert> = results
                .iter()
                .filter(|r| r.anomaly)
                .map(|r| alerts::Alert::of(tenant, spec, r))
                .collect();
            if let Err(e) = sink.send(&alerts).await {
                tracing::error!(stream = %spec.id, alerts = alerts.len(), error = %e, "cannot send alerts");
            }
        }
        Ok(PushOutcome {
            results,
            anomalies,
            entities,
        })
    }

    /// One entity's points: the cached state (or the stored one), the points applied on a
    /// copy, written if nobody wrote in between; else reloaded and applied again.
    async fn apply(
        &self,
        key: StateKey,
        spec: &Arc<StreamSpec>,
        points: &Arc<Vec<PointIn>>,
        indices: &[usize],
    ) -> Result<Vec<PointResult>, StreamError> {
        let mut cached = self.lock_cache().take(&key);
        for _ in 0..MAX_ATTEMPTS {
            let (version, state) = match cached.take() {
                Some((version, state)) => (Some(version), state),
                None => match self.states.load(&key).await? {
                    Some(record) => (
                        Some(record.version),
                        EntityState::decode(&record.state, record.summary, spec)?,
                    ),
                    None => (None, EntityState::new(spec, &key.entity)?),
                },
            };
            let (spec_c, points_c, indices_c) = (spec.clone(), points.clone(), indices.to_vec());
            let permit = self
                .cpu
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| StreamError::State(format!("scoring stopped: {e}")))?;
            let (state, results, bytes) = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let mut state = state;
                let mine: Vec<&PointIn> = indices_c.iter().map(|&i| &points_c[i]).collect();
                let results = state.apply(&spec_c, &mine)?;
                let bytes = state.encode()?;
                Ok::<_, StreamError>((state, results, bytes))
            })
            .await
            .map_err(|e| StreamError::State(format!("scoring stopped: {e}")))??;
            let mut state = state;
            state.summary.state_bytes = bytes.len() as u64;
            if self
                .states
                .save(&key, version, &state.summary, &bytes)
                .await?
            {
                let next = version.map_or(1, |v| v + 1);
                self.lock_cache().put(key, next, state, bytes.len());
                return Ok(results);
            }
            // Someone else wrote since: read theirs and apply again.
        }
        Err(StreamError::Contended {
            entity: key.entity,
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Every entity of stream `id`.
    pub async fn entities(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<EntitySummary>, StreamError> {
        self.get(tenant, id).await?;
        Ok(self.states.summaries(tenant, id).await?)
    }

    /// One entity of stream `id`, from the store (never the cache alone).
    pub async fn entity(
        &self,
        tenant: &str,
        id: &str,
        entity: &str,
    ) -> Result<EntitySummary, StreamError> {
        self.get(tenant, id).await?;
        let key = StateKey {
            tenant: tenant.into(),
            stream: id.into(),
            entity: entity.into(),
        };
        match self.states.load(&key).await? {
            Some(record) => Ok(record.summary),
            None => Err(StreamError::NotFound(format!(
                "stream `{id}` has no entity `{entity}`"
            ))),
        }
    }

    /// Starts entity `entity` afresh: a new state written over the old one's version.
    pub async fn reset(
        &self,
        tenant: &str,
        id: &str,
        entity: &str,
    ) -> Result<EntitySummary, StreamError> {
        let spec = self.get(tenant, id).await?;
        let key = StateKey {
            tenant: tenant.into(),
            stream: id.into(),
            entity: entity.into(),
        };
        self.lock_cache().take(&key);
        for _ in 0..MAX_ATTEMPTS {
            let Some(record) = self.states.load(&key).await? else {
                return Err(StreamError::NotFound(format!(
                    "stream `{id}` has no entity `{entity}`"
                )));
            };
            let mut state = EntityState::new(&spec, entity)?;
            let bytes = state.encode()?;
            state.summary.state_bytes = bytes.len() as u64;
            if self
                .states
                .save(&key, Some(record.version), &state.summary, &bytes)
                .await?
            {
                return Ok(state.summary);
            }
        }
        Err(StreamError::Contended {
            entity: entity.into(),
            attempts: MAX_ATTEMPTS,
        })
    }
}
