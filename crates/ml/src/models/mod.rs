//! The models: one enum over every kind, so training, prediction, importance and artefacts
//! dispatch in one place.

pub mod gbt;
pub mod kmeans;
pub mod logistic;
pub mod ridge;

use serde::{Deserialize, Serialize};

use crate::dataset::Matrix;
use crate::error::{Error, Result};
use crate::onnx::OnnxModel;
use crate::params::Params;

pub use gbt::Gbt;
pub use kmeans::KMeans;
pub use logistic::Logistic;
pub use ridge::Ridge;

/// Which algorithm (the `--kind` of `tessera model train`, or `onnx` for imported models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Ridge / linear regression.
    Ridge,
    /// Logistic regression.
    Logistic,
    /// k-means clustering.
    Kmeans,
    /// Gradient-boosted trees (regression or classification, by the target).
    Gbt,
    /// A model imported from an ONNX file.
    Onnx,
}

impl Kind {
    /// Parses `ridge | linear | logistic | kmeans | gbt | onnx`.
    ///
    /// # Errors
    /// [`Error::Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "ridge" | "linear" => Self::Ridge,
            "logistic" => Self::Logistic,
            "kmeans" | "k-means" => Self::Kmeans,
            "gbt" => Self::Gbt,
            "onnx" => Self::Onnx,
            other => {
                return Err(Error::invalid(
                    "model kind",
                    format!("`{other}`; use ridge, logistic, kmeans or gbt"),
                ));
            }
        })
    }

    /// The lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ridge => "ridge",
            Self::Logistic => "logistic",
            Self::Kmeans => "kmeans",
            Self::Gbt => "gbt",
            Self::Onnx => "onnx",
        }
    }
}

/// What a model outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A number (a forward return).
    Regression,
    /// A class with probabilities (the sign of a forward return).
    Classification,
    /// A cluster index.
    Clustering,
}

impl Task {
    /// The lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regression => "regression",
            Self::Classification => "classification",
            Self::Clustering => "clustering",
        }
    }
}

/// One model output.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Regression value, predicted class label, or cluster index.
    pub value: f64,
    /// Class probabilities in the model's class order (empty unless classifying).
    pub probs: Vec<f64>,
}

/// A fitted model of any kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    /// Ridge regression.
    Ridge(Ridge),
    /// Logistic regression.
    Logistic(Logistic),
    /// k-means.
    Kmeans(KMeans),
    /// Boosted trees.
    Gbt(Gbt),
    /// An imported ONNX graph (its bytes live in the artefact's `model.onnx`, not in JSON).
    #[serde(skip)]
    Onnx(Box<OnnxModel>),
}

impl Model {
    /// Fits a model of `kind` for `task` on `x`, `y` (`y` ignored for clustering).
    ///
    /// # Errors
    /// The model's own errors; [`Error::Invalid`] for a kind that cannot do `task`.
    pub fn fit(kind: Kind, task: Task, x: &Matrix, y: &[f64], params: &Params) -> Result<Self> {
        Ok(match (kind, task) {
            (Kind::Ridge, Task::Regression) => Self::Ridge(Ridge::fit(x, y, params)?),
            (Kind::Logistic, Task::Classification) => Self::Logistic(Logistic::fit(x, y, params)?),
            (Kind::Kmeans, _) => Self::Kmeans(KMeans::fit(x, params)?),
            (Kind::Gbt, Task::Regression | Task::Classification) => {
                Self::Gbt(Gbt::fit(x, y, task == Task::Classification, params)?)
            }
            (Kind::Ridge, _) => {
                return Err(Error::invalid(
                    "target",
                    "ridge needs a regression target (fwd_ret:H)",
                ));
            }
            (Kind::Logistic, _) => {
                return Err(Error::invalid(
                    "target",
                    "logistic needs a class target (fwd_sign:H)",
                ));
            }
            (k, t) => {
                return Err(Error::invalid(
                    "model kind",
                    format!("{} cannot be trained for {}", k.as_str(), t.as_str()),
                ));
            }
        })
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Ridge(_) => Kind::Ridge,
            Self::Logistic(_) => Kind::Logistic,
            Self::Kmeans(_) => Kind::Kmeans,
            Self::Gbt(_) => Kind::Gbt,
            Self::Onnx(_) => Kind::Onnx,
        }
    }

    /// The task.
    #[must_use]
    pub fn task(&self) -> Task {
        match self {
            Self::Ridge(_) => Task::Regression,
            Self::Logistic(_) => Task::Classification,
            Self::Kmeans(_) => Task::Clustering,
            Self::Gbt(g) if g.classes.is_empty() => Task::Regression,
            Self::Gbt(_) => Task::Classification,
            Self::Onnx(m) => m.task,
        }
    }

    /// Class labels (classifiers only).
    #[must_use]
    pub fn classes(&self) -> Vec<f64> {
        match self {
            Self::Logistic(m) => m.classes.clone(),
            Self::Gbt(m) => m.classes.clone(),
            Self::Onnx(m) => m.classes.clone(),
            _ => Vec::new(),
        }
    }

    /// Predicts one row.
    ///
    /// # Errors
    /// [`Error::Onnx`] when an imported graph fails to evaluate; native models do not fail.
    pub fn predict(&self, row: &[f64]) -> Result<Prediction> {
        let classes = self.classes();
        let from_probs = |probs: Vec<f64>| {
            let best = probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            Prediction {
                value: classes.get(best).copied().unwrap_or(f64::NAN),
                probs,
            }
        };
        Ok(match self {
            Self::Ridge(m) => Prediction {
                value: m.predict(row),
                probs: Vec::new(),
            },
            Self::Kmeans(m) => Prediction {
                value: m.predict(row) as f64,
                probs: Vec::new(),
            },
            Self::Logistic(m) => from_probs(m.predict_proba(row)),
            Self::Gbt(m) if m.classes.is_empty() => Prediction {
                value: m.predict(row),
                probs: Vec::new(),
            },
            Self::Gbt(m) => from_probs(m.predict_proba(row)),
            Self::Onnx(m) => {
                let out = m.predict(&Matrix {
                    rows: 1,
                    cols: row.len(),
                    data: row.to_vec(),
                })?;
                out.into_iter()
                    .next()
                    .ok_or_else(|| Error::Onnx("the graph returned no row".to_owned()))?
            }
        })
    }

    /// Predicts every row of `x`.
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_batch(&self, x: &Matrix) -> Result<Vec<Prediction>> {
        if let Self::Onnx(m) = self {
            return m.predict(x);
        }
        (0..x.rows).map(|i| self.predict(x.row(i))).collect()
    }

    /// Model-native feature importance where the model has one: absolute weights (ridge;
    /// logistic: summed over classes), total split gain (GBT). `None` for k-means and ONNX.
    #[must_use]
    pub fn native_importance(&self) -> Option<Vec<f64>> {
        match self {
            Self::Ridge(m) => Some(m.weights.iter().map(|w| w.abs()).collect()),
            Self::Logistic(m) => {
                let k = m.coef.first().map_or(0, |c| c.len() - 1);
                Some(
                    (0..k)
                        .map(|j| m.coef.iter().map(|c| c[j].abs()).sum())
                        .collect(),
                )
            }
            Self::Gbt(m) => Some(m.gain.clone()),
            Self::Kmeans(_) | Self::Onnx(_) => None,
        }
    }
}
