//! The model repository: fitted models of a tenant, by id or by name, over any
//! [`ObjectStore`] — the one store the CLI, `pynomaly serve`, jobs and the drop folder
//! share, so a model trained with `pynomaly train --model web` is listed and scored by
//! the API (tenant `default`) and the other way round.
//!
//! Layout under `tenants/{tenant}/`:
//! - `models/{id}.json` — the model's versioned envelope (ids are UUIDs);
//! - `models/{id}.meta.json` — what listings show (name, algorithm, features, created);
//! - `model-names/{name}.json` — the id the name points to (names are unique per tenant;
//!   a new version of a name points it to a new id, the old model stays addressable by id).
//!
//! Models written by earlier versions of the CLI (`<data dir>/models/<name>.json`) are
//! moved into tenant `default` by [`migrate_legacy`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pynomaly_detection::{DetectionError, Model};
use serde::{Deserialize, Serialize};

use crate::storage::{ObjectStore, StoreError};

/// The tenant of the CLI and of the drop folder unless told otherwise.
pub const DEFAULT_TENANT: &str = "default";

/// Errors of the model repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelStoreError {
    /// The name is not a valid model name.
    #[error(
        "invalid model name `{0}`: use 1-64 letters, digits, `.`, `_` or `-`, not starting with `.` and not shaped like a model id"
    )]
    InvalidName(String),
    /// No model by that id or name.
    #[error("no model `{0}`")]
    NotFound(String),
    /// The name is taken.
    #[error("a model named `{0}` exists already")]
    Exists(String),
    /// The stored model is not one this build can read.
    #[error("model `{name}`: {source}")]
    Format {
        /// The model's id or name.
        name: String,
        /// What is wrong.
        #[source]
        source: DetectionError,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a listing shows of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Id (a UUID).
    pub id: String,
    /// Name, when it has one.
    pub name: Option<String>,
    /// Algorithm.
    pub algorithm: String,
    /// Training rows.
    pub training_rows: usize,
    /// Feature names.
    pub features: Vec<String>,
    /// When it was stored (epoch seconds).
    pub created_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct NameRecord {
    id: String,
}

/// The data directory: `PYNOMALY_DATA_DIR`, else `./.pynomaly`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("PYNOMALY_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(".pynomaly"), PathBuf::from)
}

/// Whether `text` has the shape of a model id (a UUID).
pub fn is_model_id(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Checks a model name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`, not id-shaped.
pub fn validate_name(name: &str) -> Result<(), ModelStoreError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && !is_model_id(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ModelStoreError::InvalidName(name.to_string()))
    }
}

/// How a save treats a name that is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNameTaken {
    /// Refuse ([`ModelStoreError::Exists`]).
    Refuse,
    /// Store a new version: the name points to the new model; the old one keeps its id.
    NewVersion,
    /// Replace: the name points to the new model and the old one is deleted.
    Replace,
}

/// Models of every tenant in an object store.
#[derive(Debug, Clone)]
pub struct ModelRepository {
    store: Arc<dyn ObjectStore>,
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ModelRepository {
    /// A repository over `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    fn model_key(tenant: &str, id: &str) -> String {
        format!("tenants/{tenant}/models/{id}.json")
    }

    fn meta_key(tenant: &str, id: &str) -> String {
        format!("tenants/{tenant}/models/{id}.meta.json")
    }

    fn name_key(tenant: &str, name: &str) -> String {
        format!("tenants/{tenant}/model-names/{name}.json")
    }

    /// The id that `id_or_name` stands for in `tenant`.
    pub async fn resolve(&self, tenant: &str, id_or_name: &str) -> Result<String, ModelStoreError> {
        if is_model_id(id_or_name) {
            return Ok(id_or_name.to_string());
        }
        if validate_name(id_or_name).is_err() {
            return Err(ModelStoreError::NotFound(id_or_name.to_string()));
        }
        match self.store.get(&Self::name_key(tenant, id_or_name)).await {
            Ok(bytes) => serde_json::from_slice::<NameRecord>(&bytes)
                .map(|r| r.id)
                .map_err(|_| ModelStoreError::NotFound(id_or_name.to_string())),
            Err(StoreError::NotFound(_)) => Err(ModelStoreError::NotFound(id_or_name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `model` for `tenant`, named `name` if given; returns its summary.
    pub async fn save(
        &self,
        tenant: &str,
        name: Option<&str>,
        model: Model,
        taken: OnNameTaken,
    ) -> Result<ModelSummary, ModelStoreError> {
        let previous = match name {
            Some(name) => {
                validate_name(name)?;
                match self.resolve(tenant, name).await {
                    Ok(_) if taken == OnNameTaken::Refuse => {
                        return Err(ModelStoreError::Exists(name.to_string()));
                    }
                    Ok(id) => Some(id),
                    Err(ModelStoreError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let id = uuid::Uuid::new_v4().to_string();
        let summary = ModelSummary {
            id: id.clone(),
            name: name.map(str::to_string),
            algorithm: model.algorithm().to_string(),
            training_rows: model.training.rows,
            features: model.feature_names.clone(),
            created_at: now_seconds(),
        };
        self.store
            .put_with(
                &Self::model_key(tenant, &id),
                Box::new(move |writer| model.write_json(writer)),
            )
            .await?;
        self.put_json(&Self::meta_key(tenant, &id), &summary)
            .await?;
        if let Some(name) = name {
            self.put_json(
                &Self::name_key(tenant, name),
                &NameRecord { id: id.clone() },
            )
            .await?;
        }
        if let (Some(old), OnNameTaken::Replace) = (previous, taken) {
            self.delete_id(tenant, &old).await?;
        }
        Ok(summary)
    }

    async fn put_json(&self, key: &str, value: &impl Serialize) -> Result<(), ModelStoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Backend {
            action: "encode",
            key: key.to_string(),
            message: e.to_string(),
        })?;
        Ok(self.store.put(key, bytes).await?)
    }

    /// A model's stored envelope by id or name, to parse off the async executor.
    pub async fn envelope(
        &self,
        tenant: &str,
        id_or_name: &str,
    ) -> Result<Vec<u8>, ModelStoreError> {
        let id = self.resolve(tenant, id_or_name).await?;
        match self.store.get(&Self::model_key(tenant, &id)).await {
            Ok(bytes) => Ok(bytes),
            Err(StoreError::NotFound(_) | StoreError::InvalidKey(_)) => {
                Err(ModelStoreError::NotFound(id_or_name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a model by id or name.
    pub async fn load(&self, tenant: &str, id_or_name: &str) -> Result<Model, ModelStoreError> {
        let bytes = self.envelope(tenant, id_or_name).await?;
        Model::from_json(&bytes).map_err(|source| ModelStoreError::Format {
            name: id_or_name.to_string(),
            source,
        })
    }

    /// The summary of a model by id or name.
    pub async fn summary(
        &self,
        tenant: &str,
        id_or_name: &str,
    ) -> Result<ModelSummary, ModelStoreError> {
        let id = self.resolve(tenant, id_or_name).await?;
        match self.store.get(&Self::meta_key(tenant, &id)).await {
            Ok(bytes) => {
                if let Ok(summary) = serde_json::from_slice(&bytes) {
                    return Ok(summary);
                }
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        // A model stored before summaries were kept: read it whole.
        let model = self.load(tenant, &id).await?;
        Ok(ModelSummary {
            id,
            name: None,
            algorithm: model.algorithm().to_string(),
            training_rows: model.training.rows,
            features: model.feature_names,
            created_at: 0,
        })
    }

    /// The tenant's models, newest first; reads only this tenant's summaries.
    pub async fn list(&self, tenant: &str) -> Result<Vec<ModelSummary>, ModelStoreError> {
        let prefix = format!("tenants/{tenant}/models/");
        let mut out = Vec::new();
        for key in self.store.list(&prefix).await? {
            let Some(id) = key
                .strip_prefix(prefix.as_str())
                .and_then(|k| k.strip_suffix(".json"))
                .filter(|id| is_model_id(id))
            else {
                continue;
            };
            match self.summary(tenant, id).await {
                Ok(summary) => out.push(summary),
                // Unreadable models are left out of listings; loading one says why.
                Err(ModelStoreError::Format { .. } | ModelStoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Deletes a model by id or name (and its name, when it points to it).
    pub async fn delete(&self, tenant: &str, id_or_name: &str) -> Result<(), ModelStoreError> {
        let id = self.resolve(tenant, id_or_name).await?;
        let summary = self.summary(tenant, &id).await?;
        self.delete_id(tenant, &id).await?;
        if let Some(name) = summary.name
            && self.resolve(tenant, &name).await.ok().as_deref() == Some(id.as_str())
        {
            match self.store.delete(&Self::name_key(tenant, &name)).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn delete_id(&self, tenant: &str, id: &str) -> Result<(), ModelStoreError> {
        match self.store.delete(&Self::model_key(tenant, id)).await {
            Ok(()) => {}
            Err(StoreError::NotFound(_)) => return Err(ModelStoreError::NotFound(id.into())),
            Err(e) => return Err(e.into()),
        }
        match self.store.delete(&Self::meta_key(tenant, id)).await {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Moves models of the CLI's earlier layout (`<data_dir>/models/<name>.json`) into
/// `tenant` under their names, and removes the old files. A name already taken there is
/// left in place and reported. Returns the names moved.
pub async fn migrate_legacy(
    data_dir: &Path,
    repository: &ModelRepository,
    tenant: &str,
) -> Result<Vec<String>, ModelStoreError> {
    let dir = data_dir.join("models");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut moved = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if validate_name(name).is_err() {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let Ok(model) = Model::from_json(&bytes) else {
            tracing::warn!(file = %entry.path().display(), "not moved: not a model this build can read");
            continue;
        };
        match repository
            .save(tenant, Some(name), model, OnNameTaken::Refuse)
            .await
        {
            Ok(_) => {
                let _ = std::fs::remove_file(entry.path());
                moved.push(name.to_string());
            }
            Err(ModelStoreError::Exists(_)) => {
                tracing::warn!(name, "not moved: the name is taken in tenant {tenant}");
            }
            Err(e) => return Err(e),
        }
    }
    let _ = std::fs::remove_dir(&dir);
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalObjectStore;
    use pynomaly_detection::AlgorithmParams;

    fn model() -> Model {
        let data = ndarray::Array2::from_shape_fn((30, 2), |(i, j)| (i * (j + 1)) as f64);
        let params = AlgorithmParams::default_for("hbos").unwrap();
        Model::fit(&params, data.view(), vec!["a".into(), "b".into()], 0)
            .unwrap()
            .0
    }

    fn repository(dir: &Path) -> ModelRepository {
        ModelRepository::new(Arc::new(LocalObjectStore::new(dir)))
    }

    #[tokio::test]
    async fn names_are_unique_per_tenant_and_versions_keep_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repository(dir.path());
        let first = repo
            .save("t", Some("web"), model(), OnNameTaken::Refuse)
            .await
            .unwrap();
        assert!(matches!(
            repo.save("t", Some("web"), model(), OnNameTaken::Refuse)
                .await,
            Err(ModelStoreError::Exists(_))
        ));
        // Another tenant may use the name.
        repo.save("u", Some("web"), model(), OnNameTaken::Refuse)
            .await
            .unwrap();
        let second = repo
            .save("t", Some("web"), model(), OnNameTaken::NewVersion)
            .await
            .unwrap();
        assert_eq!(repo.resolve("t", "web").await.unwrap(), second.id);
        assert!(repo.load("t", &first.id).await.is_ok());
        let list = repo.list("t").await.unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|m| m.name.as_deref() == Some("web")));
        // Replacing deletes the version the name pointed to.
        let third = repo
            .save("t", Some("web"), model(), OnNameTaken::Replace)
            .await
            .unwrap();
        assert!(matches!(
            repo.load("t", &second.id).await,
            Err(ModelStoreError::NotFound(_))
        ));
        repo.delete("t", "web").await.unwrap();
        assert!(matches!(
            repo.load("t", &third.id).await,
            Err(ModelStoreError::NotFound(_))
        ));
        assert!(matches!(
            repo.resolve("t", "web").await,
            Err(ModelStoreError::NotFound(_))
        ));
        assert_eq!(repo.list("t").await.unwrap().len(), 1);
        assert_eq!(repo.list("u").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn legacy_models_move_into_the_default_tenant() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(
            dir.path().join("models/old.json"),
            model().to_json().unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("models/bad.json"), b"{}").unwrap();
        let repo = repository(dir.path());
        let moved = migrate_legacy(dir.path(), &repo, DEFAULT_TENANT)
            .await
            .unwrap();
        assert_eq!(moved, vec!["old"]);
        assert!(!dir.path().join("models/old.json").exists());
        let loaded = repo.load(DEFAULT_TENANT, "old").await.unwrap();
        assert_eq!(loaded.feature_names, vec!["a", "b"]);
    }

    #[test]
    fn names_cannot_escape_or_pose_as_ids() {
        for bad in [
            "../etc",
            "a/b",
            "",
            ".hidden",
            &"x".repeat(65),
            "0123abcd-0123-0123-0123-0123456789ab",
        ] {
            assert!(
                matches!(validate_name(bad), Err(ModelStoreError::InvalidName(_))),
                "{bad}"
            );
        }
        assert!(validate_name("web-latency.v2").is_ok());
    }

    #[tokio::test]
    async fn corrupt_models_are_reported_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repository(dir.path());
        let store = LocalObjectStore::new(dir.path());
        let id = "0123abcd-0123-0123-0123-0123456789ab";
        store
            .put(
                &format!("tenants/t/models/{id}.json"),
                b"{\"format\":\"other\"}".to_vec(),
            )
            .await
            .unwrap();
        let err = repo.load("t", id).await.unwrap_err().to_string();
        assert!(err.contains("not a Pynomaly model"), "{err}");
        assert!(repo.list("t").await.unwrap().is_empty());
    }
}
