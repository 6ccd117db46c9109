//! Ports for storage, and the local adapter. The domain talks to [`ObjectStore`]; the
//! local-filesystem adapter is always built (cloud adapters will sit behind the same trait).

use std::path::{Path, PathBuf};

use async_trait::async_trait;

/// Errors of an object store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No object under that key.
    #[error("no object at `{0}`")]
    NotFound(String),
    /// The key is not acceptable.
    #[error("invalid key `{0}`")]
    InvalidKey(String),
    /// A dependency did not answer within its deadline ([`crate::deadline`]).
    #[error("{dependency} did not answer {action} within {seconds} s")]
    Unavailable {
        /// Which dependency: object storage, the job store, the job queue.
        dependency: &'static str,
        /// What was being done.
        action: &'static str,
        /// The deadline.
        seconds: f64,
    },
    /// The backend failed.
    #[error("storage failed ({action} {key}): {message}")]
    Backend {
        /// What was being done.
        action: &'static str,
        /// The key involved.
        key: String,
        /// The backend's message.
        message: String,
    },
}

impl StoreError {
    /// Whether trying again later may succeed (an outage), as opposed to a missing object
    /// or a bad key.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Backend { .. })
    }
}

/// Writes an object's bytes, for [`ObjectStore::put_with`].
pub type ObjectWriter = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

/// The chunks of an object being received (an upload's body); an `Err` ends it.
pub type ObjectStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// Bytes by key (`a/b/c.json`; `/`-separated, no `..`).
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` at `key`, replacing what was there, atomically.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Stores what `write` writes at `key`. Adapters that can stream (the local files)
    /// override it so a large object (a neighbour model holds its training rows) is not
    /// built in memory first; the default buffers it and calls [`put`](Self::put).
    async fn put_with(&self, key: &str, write: ObjectWriter) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        write(&mut bytes).map_err(|e| StoreError::Backend {
            action: "encode",
            key: key.to_string(),
            message: e.to_string(),
        })?;
        self.put(key, bytes).await
    }
    /// Stores the chunks of `stream` at `key` as they arrive; returns the bytes stored.
    /// Nothing is stored when the stream ends with an error (its message is the
    /// [`StoreError::Backend`]'s). Adapters that can (the local files) write chunk by
    /// chunk in constant memory; the default gathers the chunks and calls
    /// [`put`](Self::put).
    async fn put_stream(&self, key: &str, mut stream: ObjectStream) -> Result<u64, StoreError> {
        use futures::StreamExt;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(backend("receive", key))?);
        }
        let size = bytes.len() as u64;
        self.put(key, bytes).await?;
        Ok(size)
    }
    /// Reads the object at `key`.
    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError>;
    /// Bytes `range` of the object at `key` (the end clamped to the object's size), so a
    /// large object can be read in parts without holding it all.
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, StoreError>;
    /// Keys starting with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes the object at `key`.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Whether the store is reachable (for `/ready`).
    async fn ready(&self) -> Result<(), StoreError>;
    /// A URL a client can `PUT` the object's bytes to directly, valid for `expires`, when
    /// the backend offers one (S3 presigned URLs); `None` sends uploads through the API.
    async fn presign_put(
        &self,
        key: &str,
        expires: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        let _ = (key, expires);
        Ok(None)
    }
}

/// Checks a key named through the API: non-empty segments of at most 200 of
/// `[A-Za-z0-9._=-]` (under a file name's 255 on the local store, with room for the
/// temporary file's suffix), none starting with `.`.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg.len() <= 200
                && !seg.starts_with('.')
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '='))
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_string()))
    }
}

/// Checks a key as stored: `/`-separated non-empty segments, none starting with `.` (so
/// no `..` and no hidden files), no control characters or backslashes. Looser than
/// [`validate_key`] because objects dropped into a bucket by users (`incoming/...`) may
/// have spaces and other characters in their names.
pub fn check_object_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && !seg.chars().any(|c| c.is_control() || c == '\\')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_string()))
    }
}

/// Objects as files under a directory.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_object_key(key)?;
        Ok(self.root.join(key))
    }
}

fn backend(action: &'static str, key: &str) -> impl FnOnce(std::io::Error) -> StoreError {
    let key = key.to_string();
    move |e| {
        // A key the file system cannot name (too long) is the caller's, not an outage.
        if e.kind() == std::io::ErrorKind::InvalidFilename {
            return StoreError::InvalidKey(key);
        }
        StoreError::Backend {
            action,
            key,
            message: e.to_string(),
        }
    }
}

impl LocalObjectStore {
    /// The file of `key` and a temporary file beside it (its directory created): objects
    /// are written to the temporary file and renamed, so a reader never sees half of one.
    async fn paths_for_write(&self, key: &str) -> Result<(PathBuf, PathBuf), StoreError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(backend("create", key))?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        Ok((path, tmp))
    }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let (path, tmp) = self.paths_for_write(key).await?;
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(backend("write", key))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(backend("rename", key))
    }

    async fn put_stream(&self, key: &str, mut stream: ObjectStream) -> Result<u64, StoreError> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let (path, tmp) = self.paths_for_write(key).await?;
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await?;
                size += chunk.len() as u64;
            }
            file.flush().await?;
            Ok::<_, std::io::Error>(size)
        }
        .await;
        match written {
            Ok(size) => {
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(backend("rename", key))?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(backend("write", key)(e))
            }
        }
    }

    async fn put_with(&self, key: &str, write: ObjectWriter) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(backend("create", &key))?;
            }
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
            let written = std::fs::File::create(&tmp).and_then(|file| {
                let mut writer = std::io::BufWriter::new(file);
                write(&mut writer)?;
                std::io::Write::flush(&mut writer)
            });
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(backend("write", &key)(e));
            }
            std::fs::rename(&tmp, &path).map_err(backend("rename", &key))
        })
        .await
        .map_err(|e| StoreError::Backend {
            action: "write",
            key: String::new(),
            message: e.to_string(),
        })?
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound(key.to_string())
            } else {
                backend("read", key)(e)
            }
        })
    }

    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound(key.to_string())
            } else {
                backend("open", key)(e)
            }
        })?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(backend("seek", key))?;
        let mut bytes = Vec::new();
        file.take(range.end.saturating_sub(range.start))
            .read_to_end(&mut bytes)
            .await
            .map_err(backend("read", key))?;
        Ok(bytes)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        // The walk starts at the prefix's directory, so a listing costs what is under it
        // (one tenant's 20,000 uploads slowed another tenant's model list 17-fold when
        // every listing walked the whole store).
        let start = match prefix.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => {
                if check_object_key(dir).is_err() {
                    return Ok(keys);
                }
                self.root.join(dir)
            }
            _ => self.root.clone(),
        };
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(backend("list", prefix)(e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(backend("list", prefix))?
            {
                let path = entry.path();
                let file_type = entry.file_type().await.map_err(backend("list", prefix))?;
                if file_type.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix)
                        && check_object_key(&key).is_ok()
                        && !key.contains(".tmp-")
                    {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        tokio::fs::remove_file(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NotFound(key.to_string())
            } else {
                backend("delete", key)(e)
            }
        })
    }

    async fn ready(&self) -> Result<(), StoreError> {
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(backend("open", ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::object_store_contract(&LocalObjectStore::new(dir.path()), "contract").await;
    }
}
