//! Model artefacts in an object store, checked by SHA-256.
//!
//! Layout: `{namespace}/models/{name}/{version}/` holds `model.json` (metadata, and the
//! fitted parameters of native models), `model.onnx` for imported ONNX models, and
//! `manifest.json` mapping each file to its SHA-256. Loading reads the manifest, checks every
//! file against it and, when the registry gave one, checks `model.json` against the registry's
//! hash too, so a model loads from its artefact alone and a corrupted or swapped file is
//! refused. The store is a local folder by default (`<data_dir>/artefacts`) or any
//! S3-compatible service (AWS, GCS's S3 API, MinIO) through `object_store`.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::models::{Kind, Model, Task};
use crate::onnx::OnnxModel;

/// Where artefacts go: the `[artefacts]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtefactConfig {
    /// A local folder path (or `file:///path`), or `s3://bucket[/prefix]`.
    pub url: String,
    /// First path segment under the store root (separates environments or teams).
    pub namespace: String,
    /// S3 endpoint for non-AWS services (`http://127.0.0.1:9000`); empty for AWS.
    pub s3_endpoint: String,
    /// S3 region (`us-east-1` when empty).
    pub s3_region: String,
    /// S3 access key id (empty: from the environment / instance profile).
    pub s3_access_key_id: String,
    /// S3 secret access key.
    pub s3_secret_access_key: String,
}

/// Hex SHA-256 of bytes.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The metadata and model inside `model.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    /// Layout version of this file.
    pub format: u32,
    /// Model name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Kind.
    pub kind: Kind,
    /// Task.
    pub task: Task,
    /// Feature names in input order.
    pub features: Vec<String>,
    /// The feature set spec that computes them from bars (empty for imported models fed
    /// ready-made features).
    pub feature_set: String,
    /// Target spec (`fwd_ret:5`), empty when unknown.
    pub target: String,
    /// Bars ahead the model predicts.
    pub horizon: usize,
    /// Class labels (classifiers).
    pub classes: Vec<f64>,
    /// Fitted native model; `None` for ONNX (see `onnx_file`).
    pub model: Option<Model>,
    /// File name of the ONNX graph, for imported models.
    pub onnx_file: Option<String>,
}

/// A model as loaded from its artefact.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Metadata from `model.json`.
    pub meta: ModelFile,
    /// The model, ready to predict.
    pub model: Model,
}

/// What [`ArtefactStore::save`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedArtefact {
    /// Object path of `model.json`.
    pub uri: String,
    /// Its SHA-256.
    pub sha256: String,
}

/// An object store holding model artefacts.
#[derive(Debug, Clone)]
pub struct ArtefactStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    namespace: String,
    display: String,
}

impl ArtefactStore {
    /// Opens the store `cfg` describes (creating a local folder if needed).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unusable URL; [`Error::Io`] when the folder cannot be created;
    /// [`Error::ObjectStore`] when the S3 client cannot be built.
    pub fn open(cfg: &ArtefactConfig) -> Result<Self> {
        let namespace = if cfg.namespace.trim().is_empty() {
            "default".to_owned()
        } else {
            cfg.namespace.trim().to_owned()
        };
        if namespace.contains('/') || namespace.contains("..") {
            return Err(Error::invalid(
                "artefact namespace",
                format!("`{namespace}` must be one path segment"),
            ));
        }
        if let Some(rest) = cfg.url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid(
                    "artefact url",
                    "s3://BUCKET[/PREFIX] needs a bucket",
                ));
            }
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_region(if cfg.s3_region.is_empty() {
                    "us-east-1"
                } else {
                    &cfg.s3_region
                });
            if !cfg.s3_endpoint.is_empty() {
                b = b
                    .with_endpoint(&cfg.s3_endpoint)
                    .with_allow_http(cfg.s3_endpoint.starts_with("http://"));
            }
            if !cfg.s3_access_key_id.is_empty() {
                b = b
                    .with_access_key_id(&cfg.s3_access_key_id)
                    .with_secret_access_key(&cfg.s3_secret_access_key);
            }
            return Ok(Self {
                store: Arc::new(b.build()?),
                prefix: prefix.trim_matches('/').to_owned(),
                namespace,
                display: cfg.url.clone(),
            });
        }
        let dir = cfg.url.strip_prefix("file://").unwrap_or(&cfg.url);
        if dir.is_empty() {
            return Err(Error::invalid(
                "artefact url",
                "empty; give a folder or s3://bucket",
            ));
        }
        if dir.contains("://") {
            return Err(Error::invalid(
                "artefact url",
                format!("`{dir}`: use a folder path, file:// or s3://"),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            prefix: String::new(),
            namespace,
            display: dir.to_owned(),
        })
    }

    /// Where the store is (folder or URL), for messages.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.display
    }

    fn dir(&self, name: &str, version: i64) -> Result<String> {
        if name.is_empty() || name.contains('/') || name.contains("..") || name.contains('@') {
            return Err(Error::invalid(
                "model name",
                format!("`{name}` must be one path segment without `@`"),
            ));
        }
        let base = format!("{}/models/{name}/{version}", self.namespace);
        Ok(if self.prefix.is_empty() {
            base
        } else {
            format!("{}/{base}", self.prefix)
        })
    }

    /// Writes `files` (`model.json` first) and their manifest under the model's folder.
    ///
    /// # Errors
    /// [`Error::ObjectStore`] when a write fails.
    pub async fn save(
        &self,
        name: &str,
        version: i64,
        files: &[(&str, Vec<u8>)],
    ) -> Result<SavedArtefact> {
        let dir = self.dir(name, version)?;
        let mut manifest = BTreeMap::new();
        for (file, bytes) in files {
            manifest.insert((*file).to_owned(), sha256_hex(bytes));
            self.store
                .put(
                    &ObjectPath::from(format!("{dir}/{file}")),
                    bytes.clone().into(),
                )
                .await?;
        }
        let m = serde_json::to_vec_pretty(&serde_json::json!({ "files": manifest }))?;
        self.store
            .put(&ObjectPath::from(format!("{dir}/manifest.json")), m.into())
            .await?;
        Ok(SavedArtefact {
            uri: format!("{dir}/model.json"),
            sha256: manifest.get("model.json").cloned().unwrap_or_default(),
        })
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self
            .store
            .get(&ObjectPath::from(path))
            .await?
            .bytes()
            .await?
            .to_vec())
    }

    /// Saves a model: its `model.json` (and `model.onnx` for ONNX bytes).
    ///
    /// # Errors
    /// As [`ArtefactStore::save`]; [`Error::Json`].
    pub async fn save_model(&self, meta: &ModelFile, onnx: Option<&[u8]>) -> Result<SavedArtefact> {
        let json = serde_json::to_vec_pretty(meta)?;
        let mut files = vec![("model.json", json)];
        if let (Some(b), Some(f)) = (onnx, meta.onnx_file.as_deref()) {
            files.push((f, b.to_vec()));
        }
        self.save(&meta.name, meta.version, &files).await
    }

    /// Loads `name@version`, checking every file against the manifest and `model.json`
    /// against `expected_sha256` when given (the registry's record).
    ///
    /// # Errors
    /// [`Error::HashMismatch`] for a changed file; [`Error::ObjectStore`] for a missing one;
    /// [`Error::Json`] / [`Error::Onnx`] for unreadable contents.
    pub async fn load_model(
        &self,
        name: &str,
        version: i64,
        expected_sha256: Option<&str>,
    ) -> Result<LoadedModel> {
        let dir = self.dir(name, version)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&self.read(&format!("{dir}/manifest.json")).await?)?;
        let recorded = |file: &str| manifest["files"][file].as_str().map(str::to_owned);
        let check = |file: &str, bytes: &[u8], expected: Option<String>| -> Result<()> {
            let actual = sha256_hex(bytes);
            match expected {
                Some(e) if e != actual => Err(Error::HashMismatch {
                    path: format!("{dir}/{file}"),
                    expected: e,
                    actual,
                }),
                None => Err(Error::HashMismatch {
                    path: format!("{dir}/{file}"),
                    expected: "(missing from manifest)".to_owned(),
                    actual,
                }),
                Some(_) => Ok(()),
            }
        };
        let json = self.read(&format!("{dir}/model.json")).await?;
        check("model.json", &json, recorded("model.json"))?;
        if let Some(e) = expected_sha256 {
            check("model.json", &json, Some(e.to_owned()))?;
        }
        let meta: ModelFile = serde_json::from_slice(&json)?;
        let model = match (&meta.model, &meta.onnx_file) {
            (Some(m), _) => m.clone(),
            (None, Some(f)) => {
                let bytes = self.read(&format!("{dir}/{f}")).await?;
                check(f, &bytes, recorded(f))?;
                let mut onnx = OnnxModel::from_bytes(&bytes)?;
                if meta.task != Task::Regression {
                    onnx.task = meta.task;
                }
                Model::Onnx(Box::new(onnx))
            }
            (None, None) => {
                return Err(Error::invalid(
                    "artefact",
                    format!("{dir}/model.json has neither a model nor an ONNX file"),
                ));
            }
        };
        Ok(LoadedModel { meta, model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Ridge;

    fn meta() -> ModelFile {
        ModelFile {
            format: 1,
            name: "m".into(),
            version: 3,
            kind: Kind::Ridge,
            task: Task::Regression,
            features: vec!["a".into()],
            feature_set: "ret:1".into(),
            target: "fwd_ret:1".into(),
            horizon: 1,
            classes: Vec::new(),
            model: Some(Model::Ridge(Ridge {
                alpha: 1.0,
                weights: vec![2.0],
                intercept: 0.5,
            })),
            onnx_file: None,
        }
    }

    #[tokio::test]
    async fn test_local_artefact_round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtefactStore::open(&ArtefactConfig {
            url: dir.path().display().to_string(),
            namespace: "ns".into(),
            ..Default::default()
        })
        .unwrap();
        let saved = store.save_model(&meta(), None).await.unwrap();
        assert_eq!(saved.uri, "ns/models/m/3/model.json");
        let back = store.load_model("m", 3, Some(&saved.sha256)).await.unwrap();
        assert_eq!(back.model.predict(&[1.0]).unwrap().value, 2.5);
        assert!(matches!(
            store.load_model("m", 3, Some("00")).await,
            Err(Error::HashMismatch { .. })
        ));
        let path = dir.path().join("ns/models/m/3/model.json");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("2.0", "3.0");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            store.load_model("m", 3, None).await,
            Err(Error::HashMismatch { .. })
        ));
    }
}
