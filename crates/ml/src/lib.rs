//! Tessera's machine learning: datasets, models, evaluation, ONNX inference, the model
//! registry, artefacts and live predictions.
//!
//! - [`dataset`]: features and targets from the indicator crate's feature pipelines, rows in
//!   time order; [`split`]: holdout and walk-forward splits with purging and an embargo.
//! - [`models`]: ridge, logistic regression, k-means and histogram gradient-boosted trees,
//!   behind one [`Model`] enum; [`onnx`]: a pure-Rust ONNX runtime for models trained in
//!   Python (tree ensembles, linear models, small MLPs).
//! - [`metrics`] and [`train`]: scores per evaluation (train, test, each fold) and feature
//!   importance (native and permutation, per ticker).
//! - [`artefact`]: model files in an object store (local folder or S3) under
//!   `{namespace}/models/{name}/{version}/`, checked by SHA-256 on load; [`registry`]:
//!   training runs recorded in the database through `tessera-storage`.
//! - [`service`]: the prediction service that scores each closing bar with the production
//!   model; [`strategy`]: the `model` strategy that trades those predictions in backtests.
//!
//! Everything is deterministic given its `seed` parameters; nothing reads the wall clock
//! except through an injected `tessera_core::Clock`.

pub mod artefact;
pub mod dataset;
pub mod error;
pub mod linalg;
pub mod metrics;
pub mod models;
pub mod onnx;
pub mod params;
pub mod registry;
pub mod rng;
pub mod service;
pub mod split;
pub mod strategy;
pub mod stream;
#[cfg(test)]
mod stubs;
pub mod train;

pub use dataset::{Dataset, Matrix};
pub use error::{Error, Result};
pub use models::{Kind, Model, Prediction, Task};
pub use params::Params;
pub use split::SplitSpec;
