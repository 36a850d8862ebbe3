//! The ML model registry: training runs and everything recorded about them (issue 6).
//!
//! Storage's own shapes, keyed by a model execution id: the ml crate turns its models and
//! evaluations into them (parameters as text, metrics as JSON text), so this crate knows
//! nothing of models. A run and its parameters, features, performance and importance are
//! written in one transaction. Metric values may be `NaN` (undefined): stored as NULL, read
//! back as `NaN`, identically on both backends.

use sqlx::Row;
use tessera_core::UnixNanos;

use crate::error::{Error, Result};
use crate::store::{Store, on_pool};

/// Stages a model moves through; exactly one version per name is `production` at a time.
pub const ML_STAGES: &[&str] = &["staged", "production", "archived"];

/// One registered model version (`ml_models`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MlModel {
    /// Unique id of the training run.
    pub execution_id: String,
    /// Model name.
    pub name: String,
    /// Version, 1, 2, … per name.
    pub version: i64,
    /// `ridge`, `logistic`, `kmeans`, `gbt`, `onnx`.
    pub kind: String,
    /// `regression`, `classification`, `clustering`.
    pub task: String,
    /// `staged`, `production` or `archived`.
    pub stage: String,
    /// When it was registered.
    pub created_at: UnixNanos,
    /// First training row time.
    pub data_from: UnixNanos,
    /// Last training row time.
    pub data_to: UnixNanos,
    /// Symbols trained on, comma separated.
    pub symbols: String,
    /// Venue of the bars (empty for a CSV file).
    pub venue: String,
    /// Bar interval (`1d`, `1m`; empty when unknown).
    pub interval: String,
    /// The feature set as given (`rsi:14,ret:1`).
    pub feature_set: String,
    /// Target spec (`fwd_ret:5`), empty for imported models without one.
    pub target: String,
    /// How the data was selected: a JSON object (source, symbols, range, split).
    pub data_query: String,
    /// Version of the code that trained it.
    pub code_version: String,
    /// Where the artefact lives (object-store path of `model.json`).
    pub artefact_uri: String,
    /// SHA-256 (hex) of the artefact's `model.json`.
    pub artefact_sha256: String,
    /// Headline metrics, a JSON object.
    pub metrics: String,
}

/// One metric of one evaluation (`ml_model_performance`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MlPerformance {
    /// `train`, `test` or `fold_N`.
    pub evaluation: String,
    /// Fold number for `fold_N`.
    pub fold: Option<i64>,
    /// Rows scored.
    pub rows: i64,
    /// First row time.
    pub data_from: UnixNanos,
    /// Last row time.
    pub data_to: UnixNanos,
    /// Metric name (`r2`, `auc`, …).
    pub metric: String,
    /// Value (`NaN` when undefined).
    pub value: f64,
}

/// One feature-importance value (`ml_feature_importance`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MlImportance {
    /// `native` or `permutation`.
    pub method: String,
    /// Ticker, `*` for all rows.
    pub symbol: String,
    /// Feature name.
    pub feature: String,
    /// Value (`NaN` when undefined).
    pub value: f64,
}

/// A stored prediction (`ml_predictions`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MlPrediction {
    /// Model execution id.
    pub execution_id: String,
    /// Symbol predicted.
    pub symbol: String,
    /// Close time of the bar the prediction was made on.
    pub ts: UnixNanos,
    /// Bars ahead the prediction is for.
    pub horizon: i64,
    /// Predicted value or class label.
    pub value: f64,
    /// Class probabilities, a JSON object `{"-1": 0.4, "1": 0.6}` (`{}` for regressors).
    pub probs: String,
    /// When it was stored.
    pub created_at: UnixNanos,
}

/// Everything recorded for one training run, written atomically by [`Store::insert_ml_model`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MlModelRecord {
    /// The model row.
    pub model: Option<MlModel>,
    /// Parameters `(name, value)`.
    pub params: Vec<(String, String)>,
    /// Feature names in model input order.
    pub features: Vec<String>,
    /// Performance per evaluation and metric.
    pub performance: Vec<MlPerformance>,
    /// Feature importance.
    pub importance: Vec<MlImportance>,
}

/// Rows per statement of [`Store::insert_ml_predictions_bulk`] (7 parameters a row: within
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters).
pub const ML_PREDICTIONS_PER_STATEMENT: usize = 1_000;

fn nan_to_null(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

const MODEL_SELECT: &str = "SELECT execution_id, name, version, kind, task, stage, created_at, data_from, data_to, symbols, venue, \
    bar_interval, feature_set, target, data_query, code_version, artefact_uri, artefact_sha256, metrics FROM ml_models";

macro_rules! model_from_row {
    ($row:expr) => {{
        let r = $row;
        MlModel {
            execution_id: r.try_get(0)?,
            name: r.try_get(1)?,
            version: r.try_get(2)?,
            kind: r.try_get(3)?,
            task: r.try_get(4)?,
            stage: r.try_get(5)?,
            created_at: UnixNanos(r.try_get(6)?),
            data_from: UnixNanos(r.try_get(7)?),
            data_to: UnixNanos(r.try_get(8)?),
            symbols: r.try_get(9)?,
            venue: r.try_get(10)?,
            interval: r.try_get(11)?,
            feature_set: r.try_get(12)?,
            target: r.try_get(13)?,
            data_query: r.try_get(14)?,
            code_version: r.try_get(15)?,
            artefact_uri: r.try_get(16)?,
            artefact_sha256: r.try_get(17)?,
            metrics: r.try_get(18)?,
        }
    }};
}

impl Store {
    /// Registers a training run with its parameters, features, performance and importance,
    /// atomically.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] for a taken execution id or `name@version`; [`Error::Refused`]
    /// for a record without a model or with an unknown stage; [`Error::Database`].
    pub async fn insert_ml_model(&self, rec: &MlModelRecord) -> Result<()> {
        let m = rec
            .model
            .as_ref()
            .ok_or_else(|| Error::Refused("an ML model record needs its model row".to_owned()))?;
        if !ML_STAGES.contains(&m.stage.as_str()) {
            return Err(Error::Refused(format!(
                "stage `{}` is not one of {}",
                m.stage,
                ML_STAGES.join(", ")
            )));
        }
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            async {
            let mut tx = p.begin_with(begin).await?;
            let taken: Option<String> = sqlx::query_scalar("SELECT execution_id FROM ml_models WHERE execution_id = $1 OR (name = $2 AND version = $3)")
                .bind(&m.execution_id)
                .bind(&m.name)
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(Error::AlreadyExists(format!("ml model {}@{} ({})", m.name, m.version, m.execution_id)));
            }
            sqlx::query(
                "INSERT INTO ml_models (execution_id, name, version, kind, task, stage, created_at, data_from, data_to, symbols, venue, \
                 bar_interval, feature_set, target, data_query, code_version, artefact_uri, artefact_sha256, metrics) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            )
            .bind(&m.execution_id)
            .bind(&m.name)
            .bind(m.version)
            .bind(&m.kind)
            .bind(&m.task)
            .bind(&m.stage)
            .bind(m.created_at.0)
            .bind(m.data_from.0)
            .bind(m.data_to.0)
            .bind(&m.symbols)
            .bind(&m.venue)
            .bind(&m.interval)
            .bind(&m.feature_set)
            .bind(&m.target)
            .bind(&m.data_query)
            .bind(&m.code_version)
            .bind(&m.artefact_uri)
            .bind(&m.artefact_sha256)
            .bind(&m.metrics)
            .execute(&mut *tx)
            .await?;
            for (k, v) in &rec.params {
                sqlx::query("INSERT INTO ml_model_params (execution_id, name, value) VALUES ($1, $2, $3)")
                    .bind(&m.execution_id)
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            for (i, f) in rec.features.iter().enumerate() {
                sqlx::query("INSERT INTO ml_model_features (execution_id, position, name) VALUES ($1, $2, $3)")
                    .bind(&m.execution_id)
                    .bind(i as i64)
                    .bind(f)
                    .execute(&mut *tx)
                    .await?;
            }
            for e in &rec.performance {
                sqlx::query(
                    "INSERT INTO ml_model_performance (execution_id, evaluation, fold, rows_scored, data_from, data_to, metric, value) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&m.execution_id)
                .bind(&e.evaluation)
                .bind(e.fold)
                .bind(e.rows)
                .bind(e.data_from.0)
                .bind(e.data_to.0)
                .bind(&e.metric)
                .bind(nan_to_null(e.value))
                .execute(&mut *tx)
                .await?;
            }
            for i in &rec.importance {
                sqlx::query("INSERT INTO ml_feature_importance (execution_id, method, symbol, feature, value) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&m.execution_id)
                    .bind(&i.method)
                    .bind(&i.symbol)
                    .bind(&i.feature)
                    .bind(nan_to_null(i.value))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await
        })
    }

    /// The next free version number for `name` (1 for a new name).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn next_ml_model_version(&self, name: &str) -> Result<i64> {
        let max: Option<i64> = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT MAX(version) FROM ml_models WHERE name = $1"
        )
        .bind(name)
        .fetch_one(p)
        .await)?;
        Ok(max.unwrap_or(0) + 1)
    }

    /// Every registered model version, by name then version.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn list_ml_models(&self) -> Result<Vec<MlModel>> {
        on_pool!(self, |p| async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MODEL_SELECT} ORDER BY name, version"
            )))
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(model_from_row!(r));
            }
            Ok::<_, Error>(out)
        }
        .await)
    }

    /// One model: `version`, or the production version of `name` when `None` (the latest
    /// version when none is in production).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn ml_model(&self, name: &str, version: Option<i64>) -> Result<MlModel> {
        on_pool!(self, |p| {
            async {
            let row = match version {
                Some(v) => sqlx::query(sqlx::AssertSqlSafe(format!("{MODEL_SELECT} WHERE name = $1 AND version = $2"))).bind(name).bind(v).fetch_optional(p).await?,
                None => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{MODEL_SELECT} WHERE name = $1 ORDER BY CASE WHEN stage = 'production' THEN 0 ELSE 1 END, version DESC LIMIT 1"
                    )))
                    .bind(name)
                    .fetch_optional(p)
                    .await?
                }
            };
            let Some(r) = row else {
                return Err(Error::NotFound(match version {
                    Some(v) => format!("ml model {name}@{v}"),
                    None => format!("ml model {name}"),
                }));
            };
            Ok::<_, Error>(model_from_row!(&r))
        }
        .await
        })
    }

    /// A model by execution id.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn ml_model_by_execution(&self, execution_id: &str) -> Result<MlModel> {
        on_pool!(self, |p| async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MODEL_SELECT} WHERE execution_id = $1"
            )))
            .bind(execution_id)
            .fetch_optional(p)
            .await?;
            let Some(r) = row else {
                return Err(Error::NotFound(format!(
                    "ml model execution {execution_id}"
                )));
            };
            Ok::<_, Error>(model_from_row!(&r))
        }
        .await)
    }

    /// Every model version currently in production (one per name).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn production_ml_models(&self) -> Result<Vec<MlModel>> {
        on_pool!(self, |p| async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MODEL_SELECT} WHERE stage = 'production' ORDER BY name"
            )))
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(model_from_row!(r));
            }
            Ok::<_, Error>(out)
        }
        .await)
    }

    /// Puts `name@version` in production and archives the version that was (atomically).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown version; [`Error::Database`].
    pub async fn promote_ml_model(&self, name: &str, version: i64) -> Result<MlModel> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            async {
            let mut tx = p.begin_with(begin).await?;
            let found: Option<String> = sqlx::query_scalar("SELECT execution_id FROM ml_models WHERE name = $1 AND version = $2")
                .bind(name)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(Error::NotFound(format!("ml model {name}@{version}")));
            }
            sqlx::query("UPDATE ml_models SET stage = 'archived' WHERE name = $1 AND stage = 'production' AND version <> $2")
                .bind(name)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE ml_models SET stage = 'production' WHERE name = $1 AND version = $2").bind(name).bind(version).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await
        })?;
        self.ml_model(name, Some(version)).await
    }

    /// Sets a version's stage (`staged`, `production`, `archived`) without touching others.
    ///
    /// # Errors
    /// [`Error::Refused`] for an unknown stage; [`Error::NotFound`]; [`Error::Database`].
    pub async fn set_ml_model_stage(&self, name: &str, version: i64, stage: &str) -> Result<()> {
        if !ML_STAGES.contains(&stage) {
            return Err(Error::Refused(format!(
                "stage `{stage}` is not one of {}",
                ML_STAGES.join(", ")
            )));
        }
        let n = on_pool!(self, |p| sqlx::query(
            "UPDATE ml_models SET stage = $1 WHERE name = $2 AND version = $3"
        )
        .bind(stage)
        .bind(name)
        .bind(version)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(Error::NotFound(format!("ml model {name}@{version}")));
        }
        Ok(())
    }

    /// The parameters, features, performance and importance of a run.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn ml_model_details(&self, execution_id: &str) -> Result<MlModelRecord> {
        on_pool!(self, |p| {
            async {
            let params = sqlx::query("SELECT name, value FROM ml_model_params WHERE execution_id = $1 ORDER BY name")
                .bind(execution_id)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            let features = sqlx::query("SELECT name FROM ml_model_features WHERE execution_id = $1 ORDER BY position")
                .bind(execution_id)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<Vec<String>, sqlx::Error>>()?;
            let mut performance = Vec::new();
            for r in &sqlx::query(
                "SELECT evaluation, fold, rows_scored, data_from, data_to, metric, value FROM ml_model_performance WHERE execution_id = $1 \
                 ORDER BY CASE WHEN evaluation = 'train' THEN 0 WHEN evaluation = 'test' THEN 1 ELSE 2 END, fold, metric",
            )
            .bind(execution_id)
            .fetch_all(p)
            .await?
            {
                performance.push(MlPerformance {
                    evaluation: r.try_get(0)?,
                    fold: r.try_get(1)?,
                    rows: r.try_get(2)?,
                    data_from: UnixNanos(r.try_get(3)?),
                    data_to: UnixNanos(r.try_get(4)?),
                    metric: r.try_get(5)?,
                    value: r.try_get::<Option<f64>, _>(6)?.unwrap_or(f64::NAN),
                });
            }
            let mut importance = Vec::new();
            for r in &sqlx::query("SELECT method, symbol, feature, value FROM ml_feature_importance WHERE execution_id = $1 ORDER BY method, symbol, feature")
                .bind(execution_id)
                .fetch_all(p)
                .await?
            {
                importance.push(MlImportance {
                    method: r.try_get(0)?,
                    symbol: r.try_get(1)?,
                    feature: r.try_get(2)?,
                    value: r.try_get::<Option<f64>, _>(3)?.unwrap_or(f64::NAN),
                });
            }
            Ok::<_, Error>(MlModelRecord { model: None, params, features, performance, importance })
        }
        .await
        })
    }

    /// Links a backtest run to the model it traded (idempotent).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown execution id; [`Error::Database`].
    pub async fn link_ml_backtest(
        &self,
        execution_id: &str,
        backtest_run_id: &str,
        at: UnixNanos,
    ) -> Result<()> {
        self.ml_model_by_execution(execution_id).await?;
        on_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO ml_model_backtests (execution_id, backtest_run_id, linked_at) VALUES ($1, $2, $3) ON CONFLICT (execution_id, backtest_run_id) DO NOTHING"
        )
        .bind(execution_id)
        .bind(backtest_run_id)
        .bind(at.0)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Backtest run ids linked to a model, oldest link first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn ml_model_backtests(&self, execution_id: &str) -> Result<Vec<String>> {
        Ok(on_pool!(self, |p| {
            sqlx::query_scalar("SELECT backtest_run_id FROM ml_model_backtests WHERE execution_id = $1 ORDER BY linked_at, backtest_run_id")
            .bind(execution_id)
            .fetch_all(p)
            .await
        })?)
    }

    /// Stores predictions; one already stored for the same model, symbol and time is kept
    /// (a restarted service re-scoring a bar is not an error). Returns how many were new.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_ml_predictions(&self, preds: &[MlPrediction]) -> Result<u64> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            async {
            let mut tx = p.begin_with(begin).await?;
            let mut n = 0;
            for x in preds {
                n += sqlx::query(
                    "INSERT INTO ml_predictions (execution_id, symbol, ts, horizon, value, probs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (execution_id, symbol, ts) DO NOTHING",
                )
                .bind(&x.execution_id)
                .bind(&x.symbol)
                .bind(x.ts.0)
                .bind(x.horizon)
                .bind(nan_to_null(x.value))
                .bind(&x.probs)
                .bind(x.created_at.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok::<_, Error>(n)
        }
        .await
        })
    }

    /// Like [`Store::insert_ml_predictions`] (same result, same conflict rule) but as
    /// multi-row `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING` statements of up to
    /// [`ML_PREDICTIONS_PER_STATEMENT`] rows in one transaction: one round trip per chunk
    /// instead of one per prediction, for a pass that scores many symbols at once.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_ml_predictions_bulk(&self, preds: &[MlPrediction]) -> Result<u64> {
        if preds.is_empty() {
            return Ok(0);
        }
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            async {
                let mut tx = p.begin_with(begin).await?;
                let mut n = 0;
                for chunk in preds.chunks(ML_PREDICTIONS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO ml_predictions (execution_id, symbol, ts, horizon, value, probs, created_at) ",
                    );
                    qb.push_values(chunk, |mut row, x| {
                        row.push_bind(&x.execution_id)
                            .push_bind(&x.symbol)
                            .push_bind(x.ts.0)
                            .push_bind(x.horizon)
                            .push_bind(nan_to_null(x.value))
                            .push_bind(&x.probs)
                            .push_bind(x.created_at.0);
                    });
                    qb.push(" ON CONFLICT (execution_id, symbol, ts) DO NOTHING");
                    n += qb.build().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok::<_, Error>(n)
            }
            .await
        })
    }

    /// Stored predictions of a model for `symbol` (all symbols when `None`), by time.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn ml_predictions(
        &self,
        execution_id: &str,
        symbol: Option<&str>,
    ) -> Result<Vec<MlPrediction>> {
        on_pool!(self, |p| {
            async {
            let rows = sqlx::query(
                "SELECT execution_id, symbol, ts, horizon, value, probs, created_at FROM ml_predictions \
                 WHERE execution_id = $1 AND ($2 IS NULL OR symbol = $2) ORDER BY ts, symbol",
            )
            .bind(execution_id)
            .bind(symbol)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(MlPrediction {
                    execution_id: r.try_get(0)?,
                    symbol: r.try_get(1)?,
                    ts: UnixNanos(r.try_get(2)?),
                    horizon: r.try_get(3)?,
                    value: r.try_get::<Option<f64>, _>(4)?.unwrap_or(f64::NAN),
                    probs: r.try_get(5)?,
                    created_at: UnixNanos(r.try_get(6)?),
                });
            }
            Ok::<_, Error>(out)
        }
        .await
        })
    }
}
