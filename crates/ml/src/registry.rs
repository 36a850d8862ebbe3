//! The model registry: training runs recorded in the database, models in the artefact store.
//!
//! [`Registry::register`] gives a trained model the next version of its name, a fresh
//! execution id, writes its artefact, and records metadata, parameters, features, every
//! evaluation (train, test, each walk-forward fold) and feature importance per ticker in one
//! transaction. [`Registry::load`] resolves `NAME[@VERSION]` (production first) and loads the
//! artefact checked against the hash the registry recorded.

use std::sync::Arc;

use tessera_core::{Clock, TimeRange, UnixNanos};
use tessera_indicators::features::SymbolBars;
use tessera_model::{InstrumentId, Interval};
use tessera_storage::{MlImportance, MlModel, MlModelRecord, MlPerformance, Store};

use crate::artefact::{ArtefactStore, LoadedModel, ModelFile, sha256_hex};
use crate::error::{Error, Result};
use crate::models::{Kind, Model, Task};
use crate::onnx::OnnxModel;
use crate::params::Params;
use crate::train::Trained;

/// What a training run was given, recorded next to the model.
#[derive(Debug, Clone, Default)]
pub struct TrainMeta {
    /// Model name.
    pub name: String,
    /// Feature set spec as given.
    pub feature_set: String,
    /// Feature names in input order.
    pub features: Vec<String>,
    /// Target spec (`fwd_ret:5`).
    pub target: String,
    /// Target horizon in bars.
    pub horizon: usize,
    /// Symbols trained on.
    pub symbols: Vec<String>,
    /// Venue (empty for a CSV file).
    pub venue: String,
    /// Bar interval (empty when unknown).
    pub interval: String,
    /// First and last row time of the dataset.
    pub data_from: UnixNanos,
    /// Last row time.
    pub data_to: UnixNanos,
    /// How the data was selected (JSON object).
    pub data_query: serde_json::Value,
    /// Model parameters.
    pub params: Params,
}

/// `NAME` or `NAME@VERSION`.
///
/// # Errors
/// [`Error::Invalid`] for an empty name or a version that is not a whole number.
pub fn parse_ref(r: &str) -> Result<(String, Option<i64>)> {
    let (name, version) = match r.split_once('@') {
        Some((n, v)) => (
            n,
            Some(v.trim().parse::<i64>().map_err(|_| {
                Error::invalid(
                    "model reference",
                    format!("`{r}`: VERSION must be a number"),
                )
            })?),
        ),
        None => (r, None),
    };
    if name.trim().is_empty() {
        return Err(Error::invalid("model reference", "empty name"));
    }
    Ok((name.trim().to_owned(), version))
}

/// The registry over a database and an artefact store.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The database.
    pub store: Store,
    /// The artefact store.
    pub artefacts: ArtefactStore,
    clock: Arc<dyn Clock>,
}

fn execution_id(name: &str, version: i64, now: UnixNanos, salt: &str) -> String {
    let h = sha256_hex(format!("{name}\u{0}{version}\u{0}{}\u{0}{salt}", now.0).as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Registry {
    /// A registry reading time from `clock`.
    #[must_use]
    pub fn new(store: Store, artefacts: ArtefactStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            artefacts,
            clock,
        }
    }

    /// Registers a trained model as the next version of `meta.name` (stage `staged`).
    ///
    /// # Errors
    /// Artefact and database errors.
    pub async fn register(&self, trained: &Trained, meta: &TrainMeta) -> Result<MlModel> {
        let version = self.store.next_ml_model_version(&meta.name).await?;
        let now = self.clock.now();
        let file = ModelFile {
            format: 1,
            name: meta.name.clone(),
            version,
            kind: trained.model.kind(),
            task: trained.model.task(),
            features: meta.features.clone(),
            feature_set: meta.feature_set.clone(),
            target: meta.target.clone(),
            horizon: meta.horizon,
            classes: trained.model.classes(),
            model: Some(trained.model.clone()),
            onnx_file: None,
        };
        let saved = self.artefacts.save_model(&file, None).await?;
        let row = MlModel {
            execution_id: execution_id(&meta.name, version, now, &saved.sha256),
            name: meta.name.clone(),
            version,
            kind: file.kind.as_str().to_owned(),
            task: file.task.as_str().to_owned(),
            stage: "staged".to_owned(),
            created_at: now,
            data_from: meta.data_from,
            data_to: meta.data_to,
            symbols: meta.symbols.join(","),
            venue: meta.venue.clone(),
            interval: meta.interval.clone(),
            feature_set: meta.feature_set.clone(),
            target: meta.target.clone(),
            data_query: meta.data_query.to_string(),
            code_version: env!("CARGO_PKG_VERSION").to_owned(),
            artefact_uri: saved.uri,
            artefact_sha256: saved.sha256,
            metrics: serde_json::to_string(&metrics_json(&trained.headline()))?,
        };
        let mut performance = Vec::new();
        for e in &trained.evaluations {
            for (k, v) in &e.metrics {
                performance.push(MlPerformance {
                    evaluation: e.name.clone(),
                    fold: e.fold.map(|f| f as i64),
                    rows: e.rows as i64,
                    data_from: e.from,
                    data_to: e.to,
                    metric: k.clone(),
                    value: *v,
                });
            }
        }
        let rec = MlModelRecord {
            model: Some(row.clone()),
            params: meta
                .params
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            features: meta.features.clone(),
            performance,
            importance: trained
                .importance
                .iter()
                .map(|i| MlImportance {
                    method: i.method.clone(),
                    symbol: i.symbol.clone(),
                    feature: i.feature.clone(),
                    value: i.value,
                })
                .collect(),
        };
        self.store.insert_ml_model(&rec).await?;
        Ok(row)
    }

    /// Registers an ONNX model (stage `staged`); `features` name its inputs in order.
    ///
    /// # Errors
    /// [`Error::Onnx`] for a file this runtime cannot run; artefact and database errors.
    pub async fn import_onnx(
        &self,
        name: &str,
        bytes: &[u8],
        features: &[String],
        task: Option<Task>,
        file_name: &str,
    ) -> Result<MlModel> {
        let onnx = OnnxModel::from_bytes(bytes)?;
        let task = task.unwrap_or(onnx.task);
        if task == Task::Classification && onnx.task != Task::Classification {
            return Err(Error::invalid(
                "--kind",
                "classification needs a classifier graph (label and probabilities outputs)",
            ));
        }
        let version = self.store.next_ml_model_version(name).await?;
        let now = self.clock.now();
        let file = ModelFile {
            format: 1,
            name: name.to_owned(),
            version,
            kind: Kind::Onnx,
            task,
            features: features.to_vec(),
            feature_set: String::new(),
            target: String::new(),
            horizon: 0,
            classes: onnx.classes.clone(),
            model: None,
            onnx_file: Some("model.onnx".to_owned()),
        };
        let saved = self.artefacts.save_model(&file, Some(bytes)).await?;
        let row = MlModel {
            execution_id: execution_id(name, version, now, &saved.sha256),
            name: name.to_owned(),
            version,
            kind: "onnx".to_owned(),
            task: task.as_str().to_owned(),
            stage: "staged".to_owned(),
            created_at: now,
            data_from: UnixNanos(0),
            data_to: UnixNanos(0),
            symbols: String::new(),
            venue: String::new(),
            interval: String::new(),
            feature_set: features.join(","),
            target: String::new(),
            data_query: serde_json::json!({ "source": "onnx", "file": file_name, "sha256": sha256_hex(bytes) }).to_string(),
            code_version: env!("CARGO_PKG_VERSION").to_owned(),
            artefact_uri: saved.uri,
            artefact_sha256: saved.sha256,
            metrics: "{}".to_owned(),
        };
        self.store
            .insert_ml_model(&MlModelRecord {
                model: Some(row.clone()),
                features: features.to_vec(),
                ..Default::default()
            })
            .await?;
        Ok(row)
    }

    /// Resolves `NAME[@VERSION]` and loads its artefact, checked by the recorded hash.
    ///
    /// # Errors
    /// [`Error::Storage`] (not found), artefact errors.
    pub async fn load(&self, reference: &str) -> Result<(MlModel, LoadedModel)> {
        let (name, version) = parse_ref(reference)?;
        let row = self.store.ml_model(&name, version).await?;
        let loaded = self
            .artefacts
            .load_model(&row.name, row.version, Some(&row.artefact_sha256))
            .await?;
        Ok((row, loaded))
    }
}

/// Metrics as a JSON object, with undefined values as `null`.
#[must_use]
pub fn metrics_json(m: &crate::metrics::Metrics) -> serde_json::Value {
    serde_json::Value::Object(
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if v.is_finite() {
                        serde_json::json!(v)
                    } else {
                        serde_json::Value::Null
                    },
                )
            })
            .collect(),
    )
}

/// Reads bars of `symbols` on `venue` at `interval` from the database into a panel.
///
/// # Errors
/// [`Error::Invalid`] for a bad symbol, venue or interval; [`Error::NotEnoughData`] when a
/// symbol has no bars in `range`; database errors.
pub async fn panel_from_store(
    store: &Store,
    symbols: &[String],
    venue: &str,
    interval: &str,
    range: TimeRange,
) -> Result<Vec<SymbolBars>> {
    let iv = Interval::parse(interval).map_err(|e| Error::invalid("interval", e.to_string()))?;
    let mut panel = Vec::with_capacity(symbols.len());
    for s in symbols {
        let id =
            InstrumentId::parse(s, venue).map_err(|e| Error::invalid("symbol", e.to_string()))?;
        let bars = store.bars_range(&id, iv, range).await?;
        if bars.is_empty() {
            return Err(Error::not_enough(
                "dataset",
                format!("no {interval} bars of {s} on {venue} in the range"),
            ));
        }
        let mut sb = SymbolBars {
            symbol: s.clone(),
            ..SymbolBars::default()
        };
        for b in &bars {
            sb.timestamps.push(b.close_time());
            sb.open.push(b.open.to_f64());
            sb.high.push(b.high.to_f64());
            sb.low.push(b.low.to_f64());
            sb.close.push(b.close.to_f64());
            sb.volume.push(b.volume.to_f64());
        }
        panel.push(sb);
    }
    Ok(panel)
}

/// Whether the model's loaded artefact is native (has fitted parameters) or ONNX.
#[must_use]
pub fn is_onnx(m: &Model) -> bool {
    matches!(m, Model::Onnx(_))
}
