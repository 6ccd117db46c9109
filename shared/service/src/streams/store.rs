//! The port for entity states, and the local-files adapter. Every write names the version
//! it replaces (optimistic concurrency): a writer whose version is stale is told so,
//! reloads and applies its points again, so two writers of one entity never lose or
//! double a point. Versions only grow (a reset writes a fresh state at the next version),
//! so a stale copy can never match a newer state by accident.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::entity::EntitySummary;
use crate::storage::StoreError;

/// Which state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey {
    /// Tenant.
    pub tenant: String,
    /// Stream id.
    pub stream: String,
    /// Entity.
    pub entity: String,
}

/// A stored state: its version, summary and encoded detectors.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord {
    /// Version (1 for the first write).
    pub version: u64,
    /// The summary.
    pub summary: EntitySummary,
    /// The encoded state.
    pub state: Vec<u8>,
}

/// Entity states of streams.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// The state of `key`, if any.
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError>;
    /// Writes `state` as version `expected + 1` (1 when `expected` is None, meaning no state
    /// yet) if the stored version is still `expected`; false (nothing written) if not.
    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError>;
    /// Summaries of every entity of a stream, sorted by entity.
    async fn summaries(&self, tenant: &str, stream: &str)
    -> Result<Vec<EntitySummary>, StoreError>;
    /// Deletes every state of a stream.
    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError>;
    /// Whether the store is reachable.
    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Everything in an entity name but letters, digits, `-` and `_` is percent-encoded in file
/// names and keys (so `.`, `/` and spaces cannot make a path).
const ENTITY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// An entity's name as one path segment or key part.
pub fn encode_entity(entity: &str) -> String {
    utf8_percent_encode(entity, ENTITY_ESCAPES).to_string()
}

/// The entity of [`encode_entity`]'s segment.
pub fn decode_entity(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// States as files under a directory: `<root>/<tenant>/<stream>/<entity>.state`, each a
/// JSON header line (version, summary) and the state. Writes go to a temporary file that
/// is renamed over the old one, under a lock per file: versions are checked within this
/// process, so one process should own a directory (the local mode; several servers share
/// PostgreSQL or DynamoDB instead).
#[derive(Debug)]
pub struct LocalStateStore {
    root: PathBuf,
    locks: Arc<Vec<Mutex<()>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    version: u64,
    summary: EntitySummary,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let key = path.display().to_string();
    move |e| StoreError::Backend {
        action,
        key,
        message: e.to_string(),
    }
}

fn corrupt(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        action: "decode",
        key: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Lock stripes: files hash to one of them.
const STRIPES: usize = 64;

impl LocalStateStore {
    /// States under `root`.
    pub fn new(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_path_buf(),
            locks: Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()),
        }
    }

    fn stream_dir(&self, tenant: &str, stream: &str) -> Result<PathBuf, StoreError> {
        for part in [tenant, stream] {
            crate::storage::validate_key(part)?;
        }
        Ok(self.root.join(tenant).join(stream))
    }

    fn path(&self, key: &StateKey) -> Result<PathBuf, StoreError> {
        Ok(self
            .stream_dir(&key.tenant, &key.stream)?
            .join(format!("{}.state", encode_entity(&key.entity))))
    }

    /// The lock stripe of a file.
    fn stripe(path: &Path) -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        path.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }

    fn read(path: &Path, header_only: bool) -> Result<Option<StateRecord>, StoreError> {
        use std::io::BufRead;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", path)(e)),
        };
        let mut reader = std::io::BufReader::new(file);
        let mut line = Vec::new();
        reader
            .read_until(b'\n', &mut line)
            .map_err(io_error("read", path))?;
        let header: Header = serde_json::from_slice(&line).map_err(|e| corrupt(path, e))?;
        let mut state = Vec::new();
        if !header_only {
            std::io::Read::read_to_end(&mut reader, &mut state).map_err(io_error("read", path))?;
        }
        Ok(Some(StateRecord {
            version: header.version,
            summary: header.summary,
            state,
        }))
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend {
            action: "run",
            key: "stream state".into(),
            message: e.to_string(),
        })?
}

#[async_trait]
impl StateStore for LocalStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError> {
        let path = self.path(key)?;
        blocking(move || Self::read(&path, false)).await
    }

    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let mut bytes = serde_json::to_vec(&Header {
            version: expected.map_or(1, |v| v + 1),
            summary: summary.clone(),
        })
        .map_err(|e| corrupt(&path, e))?;
        bytes.push(b'\n');
        bytes.extend_from_slice(state);
        let locks = self.locks.clone();
        blocking(move || {
            // Held across the version check and the rename.
            let _guard = locks[Self::stripe(&path)]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if Self::read(&path, true)?.map(|r| r.version) != expected {
                return Ok(false);
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
            }
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
            std::fs::write(&tmp, &bytes).map_err(io_error("write", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_error("rename", &path))?;
            Ok(true)
        })
        .await
    }

    async fn summaries(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Vec<EntitySummary>, StoreError> {
        let dir = self.stream_dir(tenant, stream)?;
        blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_error("list", &dir)(e)),
            };
            let mut summaries = Vec::new();
            for entry in entries {
                let path = entry.map_err(io_error("list", &dir))?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("state") {
                    continue;
                }
                if let Some(record) = Self::read(&path, true)? {
                    summaries.push(record.summary);
                }
            }
            summaries.sort_by(|a, b| a.entity.cmp(&b.entity));
            Ok(summaries)
        })
        .await
    }

    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError> {
        let dir = self.stream_dir(tenant, stream)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", &dir)(e)),
        }
    }
}

/// States in memory, for a stream that need not outlive its process (`pynomaly stream`
/// without `--state`). Versions are checked as in the stored adapters.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    states: Mutex<std::collections::HashMap<StateKey, StateRecord>>,
}

impl MemoryStateStore {
    fn states(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<StateKey, StateRecord>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<StateRecord>, StoreError> {
        Ok(self.states().get(key).cloned())
    }

    async fn save(
        &self,
        key: &StateKey,
        expected: Option<u64>,
        summary: &EntitySummary,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let mut states = self.states();
        if states.get(key).map(|r| r.version) != expected {
            return Ok(false);
        }
        let record = StateRecord {
            version: expected.map_or(1, |v| v + 1),
            summary: summary.clone(),
            state: state.to_vec(),
        };
        states.insert(key.clone(), record);
        Ok(true)
    }

    async fn summaries(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Vec<EntitySummary>, StoreError> {
        let mut summaries: Vec<EntitySummary> = self
            .states()
            .iter()
            .filter(|(k, _)| k.tenant == tenant && k.stream == stream)
            .map(|(_, r)| r.summary.clone())
            .collect();
        summaries.sort_by(|a, b| a.entity.cmp(&b.entity));
        Ok(summaries)
    }

    async fn delete_stream(&self, tenant: &str, stream: &str) -> Result<(), StoreError> {
        self.states()
            .retain(|k, _| !(k.tenant == tenant && k.stream == stream));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names_make_safe_segments() {
        for entity in ["web-1", "../etc", "a/b c", ".hidden", "ünï"] {
            let segment = encode_entity(entity);
            assert!(
                !segment.contains('/') && !segment.contains('.'),
                "{segment}"
            );
            assert_eq!(decode_entity(&segment).as_deref(), Some(entity));
        }
    }

    #[tokio::test]
    async fn local_files_meet_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::state_store_contract(
            Arc::new(LocalStateStore::new(dir.path().join("states"))),
            Arc::new(crate::storage::LocalObjectStore::new(dir.path())),
            "t1",
        )
        .await;
    }

    #[tokio::test]
    async fn memory_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::state_store_contract(
            Arc::new(MemoryStateStore::default()),
            Arc::new(crate::storage::LocalObjectStore::new(dir.path())),
            "t1",
        )
        .await;
    }

    #[tokio::test]
    async fn versions_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path());
        let key = StateKey {
            tenant: "t".into(),
            stream: "s".into(),
            entity: "a/b".into(),
        };
        let summary = EntitySummary {
            entity: "a/b".into(),
            ..Default::default()
        };
        assert!(store.load(&key).await.unwrap().is_none());
        assert!(store.save(&key, None, &summary, b"one").await.unwrap());
        assert!(!store.save(&key, None, &summary, b"two").await.unwrap());
        assert!(!store.save(&key, Some(7), &summary, b"two").await.unwrap());
        assert!(store.save(&key, Some(1), &summary, b"two").await.unwrap());
        let record = store.load(&key).await.unwrap().unwrap();
        assert_eq!((record.version, record.state.as_slice()), (2, &b"two"[..]));
        assert_eq!(store.summaries("t", "s").await.unwrap(), vec![summary]);
        store.delete_stream("t", "s").await.unwrap();
        assert!(store.load(&key).await.unwrap().is_none());
    }
}
