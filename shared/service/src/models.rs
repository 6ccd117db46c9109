//! A local model registry: fitted models stored as versioned envelopes under
//! `<data dir>/models/<name>.json`. The data dir is `PYNOMALY_DATA_DIR` or `./.pynomaly`.

use std::io::Write;
use std::path::{Path, PathBuf};

use pynomaly_detection::{DetectionError, Model};

/// Errors of the model registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelStoreError {
    /// The name is not a valid model name.
    #[error(
        "invalid model name `{0}`: use 1-64 letters, digits, `.`, `_` or `-`, not starting with `.`"
    )]
    InvalidName(String),
    /// No model of that name.
    #[error("no model named `{name}` in {dir} (see `pynomaly models list`)")]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where models are stored.
        dir: String,
    },
    /// A model of that name exists already.
    #[error("a model named `{0}` exists already (delete it first, or pass --force)")]
    Exists(String),
    /// The file exists but is not a model this build can read.
    #[error("model `{name}`: {source}")]
    Format {
        /// The model's name.
        name: String,
        /// What is wrong.
        #[source]
        source: DetectionError,
    },
    /// A filesystem error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Summary of a stored model, for listings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    /// Model name.
    pub name: String,
    /// Algorithm.
    pub algorithm: String,
    /// Training rows.
    pub rows: usize,
    /// Feature names.
    pub features: Vec<String>,
    /// File size in bytes.
    pub bytes: u64,
}

/// Models stored as files in a directory.
#[derive(Debug, Clone)]
pub struct LocalModelStore {
    dir: PathBuf,
}

/// The data directory: `PYNOMALY_DATA_DIR`, else `./.pynomaly`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("PYNOMALY_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(".pynomaly"), PathBuf::from)
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ModelStoreError {
    let path = path.display().to_string();
    move |source| ModelStoreError::Io {
        action,
        path,
        source,
    }
}

/// Checks a model name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`.
pub fn validate_name(name: &str) -> Result<(), ModelStoreError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ModelStoreError::InvalidName(name.to_string()))
    }
}

impl LocalModelStore {
    /// A store under `data_dir/models`.
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        Self {
            dir: data_dir.as_ref().join("models"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, ModelStoreError> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Saves a model; refuses to overwrite unless `overwrite`. The write goes to a
    /// temporary file renamed into place, so a crash never leaves half a model.
    pub fn save(
        &self,
        name: &str,
        model: &Model,
        overwrite: bool,
    ) -> Result<PathBuf, ModelStoreError> {
        let path = self.path(name)?;
        if path.exists() && !overwrite {
            return Err(ModelStoreError::Exists(name.to_string()));
        }
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let tmp = self
            .dir
            .join(format!(".{name}.json.tmp-{}", std::process::id()));
        // Streamed into the file: a neighbour model's envelope holds its training rows, and
        // building it in memory first doubled what saving one cost.
        let written = std::fs::File::create(&tmp).and_then(|file| {
            let mut writer = std::io::BufWriter::new(file);
            model.write_json(&mut writer)?;
            writer.flush()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write", &tmp)(e));
        }
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        Ok(path)
    }

    /// Loads a model by name.
    pub fn load(&self, name: &str) -> Result<Model, ModelStoreError> {
        let path = self.path(name)?;
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelStoreError::NotFound {
                    name: name.to_string(),
                    dir: self.dir.display().to_string(),
                }
            } else {
                io("read", &path)(e)
            }
        })?;
        Model::from_json(&bytes).map_err(|source| ModelStoreError::Format {
            name: name.to_string(),
            source,
        })
    }

    /// Deletes a model by name.
    pub fn delete(&self, name: &str) -> Result<(), ModelStoreError> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelStoreError::NotFound {
                    name: name.to_string(),
                    dir: self.dir.display().to_string(),
                }
            } else {
                io("delete", &path)(e)
            }
        })
    }

    /// Lists stored models by name. Files that are not readable models are listed with
    /// algorithm `unreadable: <reason>` rather than hidden.
    pub fn list(&self) -> Result<Vec<ModelSummary>, ModelStoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("list", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("list", &self.dir))?;
            let file_name = entry.file_name().to_string_lossy().to_string();
            let Some(name) = file_name.strip_suffix(".json") else {
                continue;
            };
            if validate_name(name).is_err() {
                continue;
            }
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(match self.load(name) {
                Ok(model) => ModelSummary {
                    name: name.to_string(),
                    algorithm: model.algorithm().to_string(),
                    rows: model.training.rows,
                    features: model.feature_names.clone(),
                    bytes,
                },
                Err(e) => ModelSummary {
                    name: name.to_string(),
                    algorithm: format!("unreadable: {e}"),
                    rows: 0,
                    features: Vec::new(),
                    bytes,
                },
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pynomaly_detection::AlgorithmParams;

    fn model() -> Model {
        let data = ndarray::Array2::from_shape_fn((30, 2), |(i, j)| (i * (j + 1)) as f64);
        let params = AlgorithmParams::default_for("hbos").unwrap();
        Model::fit(&params, data.view(), vec!["a".into(), "b".into()], 0)
            .unwrap()
            .0
    }

    #[test]
    fn save_load_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalModelStore::new(dir.path());
        assert!(store.list().unwrap().is_empty());
        store.save("m1", &model(), false).unwrap();
        assert!(matches!(
            store.save("m1", &model(), false),
            Err(ModelStoreError::Exists(_))
        ));
        store.save("m1", &model(), true).unwrap();
        let loaded = store.load("m1").unwrap();
        assert_eq!(loaded.feature_names, vec!["a", "b"]);
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].algorithm, "hbos");
        store.delete("m1").unwrap();
        assert!(matches!(
            store.load("m1"),
            Err(ModelStoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.delete("m1"),
            Err(ModelStoreError::NotFound { .. })
        ));
    }

    #[test]
    fn a_failed_save_reports_the_file_and_leaves_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalModelStore::new(dir.path());
        // A directory where the temporary file would go: creating the file fails.
        let tmp = dir
            .path()
            .join(format!("models/.m1.json.tmp-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let err = store.save("m1", &model(), false).unwrap_err();
        assert!(
            matches!(
                &err,
                ModelStoreError::Io {
                    action: "write",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(".m1.json.tmp"), "{err}");
        assert!(matches!(
            store.load("m1"),
            Err(ModelStoreError::NotFound { .. })
        ));
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let store = LocalModelStore::new("/tmp/x");
        for bad in ["../etc", "a/b", "", ".hidden", &"x".repeat(65)] {
            assert!(
                matches!(store.load(bad), Err(ModelStoreError::InvalidName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn corrupt_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalModelStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(
            dir.path().join("models/bad.json"),
            b"{\"format\":\"other\"}",
        )
        .unwrap();
        let err = store.load("bad").unwrap_err().to_string();
        assert!(err.contains("not a Pynomaly model"), "{err}");
        assert!(store.list().unwrap()[0].algorithm.starts_with("unreadable"));
    }
}
