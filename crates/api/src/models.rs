//! The model registry over HTTP: models (list, show, metrics per
//! evaluation, feature importance per ticker, promote) and stored
//! predictions with their realised outcomes, read from the registry tables
//! `tessera model` writes.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Interval, Symbol, Venue};
use tessera_storage::{MlModel, MlPrediction};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{AdminAccess, ReadAccess};
use crate::error::{Error, Result};
use crate::jobs::json_text;
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/models", get(list))
        .route("/models/{name}", get(show))
        .route("/models/{name}/metrics", get(metrics))
        .route("/models/{name}/importance", get(importance))
        .route("/models/{name}/promote", post(promote))
        .route("/predictions", get(predictions))
}

/// One registered model version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelJson {
    /// Training run id.
    execution_id: String,
    /// Model name.
    name: String,
    /// Version (1, 2, … per name).
    version: i64,
    /// `ridge`, `logistic`, `kmeans`, `gbt`, `onnx`.
    kind: String,
    /// `regression`, `classification`, `clustering`.
    task: String,
    /// `staged`, `production` or `archived`.
    stage: String,
    /// Registered at, RFC 3339.
    created_at: String,
    /// First training row, RFC 3339.
    data_from: String,
    /// Last training row, RFC 3339.
    data_to: String,
    /// Symbols trained on.
    symbols: Vec<String>,
    /// Venue of the bars.
    venue: String,
    /// Bar interval.
    interval: String,
    /// Feature set spec.
    feature_set: String,
    /// Target spec (`fwd_ret:5`).
    target: String,
    /// Headline metrics.
    #[schema(value_type = Object)]
    metrics: serde_json::Value,
}

impl From<&MlModel> for ModelJson {
    fn from(m: &MlModel) -> Self {
        Self {
            execution_id: m.execution_id.clone(),
            name: m.name.clone(),
            version: m.version,
            kind: m.kind.clone(),
            task: m.task.clone(),
            stage: m.stage.clone(),
            created_at: m.created_at.to_rfc3339(),
            data_from: m.data_from.to_rfc3339(),
            data_to: m.data_to.to_rfc3339(),
            symbols: m
                .symbols
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            venue: m.venue.clone(),
            interval: m.interval.clone(),
            feature_set: m.feature_set.clone(),
            target: m.target.clone(),
            metrics: json_text(&m.metrics),
        }
    }
}

/// Registered models.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelList {
    /// By name, then version.
    models: Vec<ModelJson>,
}

/// Filters of the model list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModelsQuery {
    /// Only this stage (`staged`, `production`, `archived`).
    stage: Option<String>,
    /// Only this name.
    name: Option<String>,
}

/// Every registered model version with its stage.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", params(ModelsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Models", body = ModelList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<ModelsQuery>,
) -> Result<Json<ModelList>> {
    let stage = q.stage.filter(|s| !s.trim().is_empty());
    if let Some(s) = &stage
        && !tessera_storage::ML_STAGES.contains(&s.as_str())
    {
        return Err(Error::param(
            "stage",
            format!(
                "{s:?} is not one of {}",
                tessera_storage::ML_STAGES.join(", ")
            ),
        ));
    }
    let name = q.name.filter(|s| !s.trim().is_empty());
    let models = state
        .store()
        .list_ml_models()
        .await?
        .iter()
        .filter(|m| stage.as_ref().is_none_or(|s| &m.stage == s))
        .filter(|m| name.as_ref().is_none_or(|n| &m.name == n))
        .map(ModelJson::from)
        .collect();
    Ok(Json(ModelList { models }))
}

/// Which version of a model.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// Version; default the production version, else the newest.
    version: Option<String>,
}

async fn resolve(state: &ApiState, name: &str, version: Option<&str>) -> Result<MlModel> {
    let version =
        match version.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::param("version", format!("{v:?} is not a version (1, 2, …)"))
            })?),
        };
    let store = state.store();
    if version.is_none()
        && let Some(p) = store
            .production_ml_models()
            .await?
            .into_iter()
            .find(|m| m.name == name)
    {
        return Ok(p);
    }
    match store.ml_model(name, version).await {
        Err(tessera_storage::Error::NotFound(_)) => Err(Error::NotFound(match version {
            Some(v) => format!("model {name} has no version {v}"),
            None => format!("no model named {name}"),
        })),
        other => Ok(other?),
    }
}

/// A model with its parameters, features and linked backtests.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelDetail {
    /// The model.
    model: ModelJson,
    /// Training parameters.
    #[schema(value_type = Object)]
    params: serde_json::Map<String, serde_json::Value>,
    /// Feature names in input order.
    features: Vec<String>,
    /// Backtest runs made with it.
    backtests: Vec<String>,
}

/// One model version (default: production, else newest).
#[utoipa::path(get, path = "/api/v1/models/{name}", tag = "models",
    params(("name" = String, Path, description = "Model name"), VersionQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The model", body = ModelDetail),
        (status = 400, description = "Bad version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<ModelDetail>> {
    let m = resolve(&state, &name, q.version.as_deref()).await?;
    let d = state.store().ml_model_details(&m.execution_id).await?;
    let backtests = state.store().ml_model_backtests(&m.execution_id).await?;
    Ok(Json(ModelDetail {
        model: ModelJson::from(&m),
        params: d
            .params
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
        features: d.features,
        backtests,
    }))
}

/// One metric of one evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MetricJson {
    /// `train`, `test` or `fold_N`.
    evaluation: String,
    /// Fold number for `fold_N`.
    fold: Option<i64>,
    /// Rows scored.
    rows: i64,
    /// First row, RFC 3339.
    data_from: String,
    /// Last row, RFC 3339.
    data_to: String,
    /// Metric (`r2`, `auc`, …).
    metric: String,
    /// Value; null when undefined.
    value: Option<f64>,
}

/// A model's metrics per evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelMetrics {
    /// Model name.
    name: String,
    /// Version.
    version: i64,
    /// Every evaluation and metric.
    metrics: Vec<MetricJson>,
}

/// Metrics per evaluation (train, test, walk-forward folds).
#[utoipa::path(get, path = "/api/v1/models/{name}/metrics", tag = "models",
    params(("name" = String, Path, description = "Model name"), VersionQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Metrics", body = ModelMetrics),
        (status = 400, description = "Bad version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn metrics(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<ModelMetrics>> {
    let m = resolve(&state, &name, q.version.as_deref()).await?;
    let d = state.store().ml_model_details(&m.execution_id).await?;
    Ok(Json(ModelMetrics {
        name: m.name,
        version: m.version,
        metrics: d
            .performance
            .into_iter()
            .map(|p| MetricJson {
                evaluation: p.evaluation,
                fold: p.fold,
                rows: p.rows,
                data_from: p.data_from.to_rfc3339(),
                data_to: p.data_to.to_rfc3339(),
                metric: p.metric,
                value: p.value.is_finite().then_some(p.value),
            })
            .collect(),
    }))
}

/// Filters of feature importance.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportanceQuery {
    /// Version; default the production version, else the newest.
    version: Option<String>,
    /// Only this ticker (`*` is every row together).
    symbol: Option<String>,
    /// Only this method (`native`, `permutation`).
    method: Option<String>,
}

/// One feature's importance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportanceJson {
    /// `native` or `permutation`.
    method: String,
    /// Ticker, `*` for all rows.
    symbol: String,
    /// Feature.
    feature: String,
    /// Value; null when undefined.
    value: Option<f64>,
}

/// A model's feature importance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelImportance {
    /// Model name.
    name: String,
    /// Version.
    version: i64,
    /// Tickers with importance values (`*` first when present).
    symbols: Vec<String>,
    /// Values, largest first within each ticker and method.
    importance: Vec<ImportanceJson>,
}

/// Feature importance per ticker.
#[utoipa::path(get, path = "/api/v1/models/{name}/importance", tag = "models",
    params(("name" = String, Path, description = "Model name"), ImportanceQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Importance", body = ModelImportance),
        (status = 400, description = "Bad version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn importance(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(name): Path<String>,
    Query(q): Query<ImportanceQuery>,
) -> Result<Json<ModelImportance>> {
    let m = resolve(&state, &name, q.version.as_deref()).await?;
    let d = state.store().ml_model_details(&m.execution_id).await?;
    let mut symbols: Vec<String> = d.importance.iter().map(|i| i.symbol.clone()).collect();
    symbols.sort_by(|a, b| (a != "*", a).cmp(&(b != "*", b)));
    symbols.dedup();
    let want = |f: &Option<String>, v: &str| {
        f.as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| s.eq_ignore_ascii_case(v))
    };
    let mut rows: Vec<ImportanceJson> = d
        .importance
        .into_iter()
        .filter(|i| want(&q.symbol, &i.symbol) && want(&q.method, &i.method))
        .map(|i| ImportanceJson {
            method: i.method,
            symbol: i.symbol,
            feature: i.feature,
            value: i.value.is_finite().then_some(i.value),
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.symbol, &a.method).cmp(&(&b.symbol, &b.method)).then(
            b.value
                .unwrap_or(f64::MIN)
                .total_cmp(&a.value.unwrap_or(f64::MIN)),
        )
    });
    Ok(Json(ModelImportance {
        name: m.name,
        version: m.version,
        symbols,
        importance: rows,
    }))
}

/// Which version to promote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Promote {
    /// Version to put in production (the current production version is archived).
    version: i64,
}

/// Put a version in production, archiving the one that was (admin).
#[utoipa::path(post, path = "/api/v1/models/{name}/promote", tag = "models",
    params(("name" = String, Path, description = "Model name")), request_body = Promote,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The promoted model", body = ModelJson),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope is not admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn promote(
    State(state): State<ApiState>,
    _auth: AdminAccess,
    Path(name): Path<String>,
    params::Json(b): params::Json<Promote>,
) -> Result<Json<ModelJson>> {
    if b.version < 1 {
        return Err(Error::param(
            "body.version",
            format!("{} is not a version (1, 2, …)", b.version),
        ));
    }
    let m = match state.store().promote_ml_model(&name, b.version).await {
        Err(tessera_storage::Error::NotFound(_)) => {
            return Err(Error::NotFound(format!(
                "model {name} has no version {}",
                b.version
            )));
        }
        other => other?,
    };
    tracing::info!(model = %name, version = b.version, "model promoted over the API");
    Ok(Json(ModelJson::from(&m)))
}

/// Filters of the prediction list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PredictionsQuery {
    /// Model name; default the production model trained on `symbol` (the first production model without `symbol`).
    model: Option<String>,
    /// Version; default production, else newest.
    version: Option<String>,
    /// Ticker.
    symbol: Option<String>,
    /// Bar close at or after.
    from: Option<String>,
    /// Bar close before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A prediction and, once known, what happened.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PredictionJson {
    /// Ticker.
    symbol: String,
    /// Close time of the bar it was made on, RFC 3339.
    timestamp: String,
    /// Bars ahead.
    horizon: i64,
    /// Predicted value or class.
    value: Option<f64>,
    /// Class probabilities (empty for regressors).
    #[schema(value_type = Object)]
    probs: serde_json::Value,
    /// The realised target (forward return for `fwd_ret`, its sign for `fwd_sign`) from stored bars; null until known or when the target is not computable.
    outcome: Option<f64>,
}

/// A page of predictions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PredictionList {
    /// The model they came from (null when none is registered).
    model: Option<ModelJson>,
    /// Oldest first.
    predictions: Vec<PredictionJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Stored predictions versus realised outcomes (default: the production model).
#[utoipa::path(get, path = "/api/v1/predictions", tag = "models", params(PredictionsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of predictions (`model` null and no rows when no production model exists)", body = PredictionList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such model or version", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn predictions(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<PredictionsQuery>,
) -> Result<Json<PredictionList>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    let symbol = q
        .symbol
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Symbol::new(s)
                .map(|x| x.to_string())
                .map_err(|e| Error::param("symbol", e.to_string()))
        })
        .transpose()?;
    let model = match q.model.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => Some(resolve(&state, name, q.version.as_deref()).await?),
        None => {
            let prod = state.store().production_ml_models().await?;
            let on_symbol = prod.iter().find(|m| {
                symbol
                    .as_ref()
                    .is_some_and(|s| m.symbols.split(',').any(|x| x.trim() == s))
            });
            on_symbol.or(prod.first()).cloned()
        }
    };
    let Some(model) = model else {
        return Ok(Json(PredictionList {
            model: None,
            predictions: Vec::new(),
            next_cursor: None,
        }));
    };
    let preds = state
        .store()
        .ml_predictions(&model.execution_id, symbol.as_deref())
        .await?;
    let (page, next_cursor) = params::page_by_time(preds, |p| p.ts, range, cursor, limit);
    let outcomes = outcomes(&state, &model, &page).await;
    Ok(Json(PredictionList {
        model: Some(ModelJson::from(&model)),
        predictions: page
            .iter()
            .zip(outcomes)
            .map(|(p, outcome)| PredictionJson {
                symbol: p.symbol.clone(),
                timestamp: p.ts.to_rfc3339(),
                horizon: p.horizon,
                value: p.value.is_finite().then_some(p.value),
                probs: json_text(&p.probs),
                outcome,
            })
            .collect(),
        next_cursor,
    }))
}

/// The realised target of each prediction, from the model's stored bars
/// (`None` where the bars are missing or the target is not a forward return).
async fn outcomes(state: &ApiState, model: &MlModel, page: &[MlPrediction]) -> Vec<Option<f64>> {
    let none = || vec![None; page.len()];
    let sign = if model.target.starts_with("fwd_ret:") {
        false
    } else if model.target.starts_with("fwd_sign:") {
        true
    } else {
        return none();
    };
    let (Ok(venue), Ok(interval)) = (Venue::new(&model.venue), Interval::parse(&model.interval))
    else {
        return none();
    };
    let Some(step) = interval.duration_nanos() else {
        return none();
    };
    let mut out = Vec::with_capacity(page.len());
    let mut cache: std::collections::BTreeMap<String, Vec<(UnixNanos, rust_decimal::Decimal)>> =
        std::collections::BTreeMap::new();
    for p in page {
        if !cache.contains_key(&p.symbol) {
            let times: Vec<i64> = page
                .iter()
                .filter(|x| x.symbol == p.symbol)
                .map(|x| x.ts.0)
                .collect();
            let lo = times.iter().min().copied().unwrap_or(0);
            let hi = times.iter().max().copied().unwrap_or(0);
            let horizon = page.iter().map(|x| x.horizon).max().unwrap_or(1).max(1);
            let range = TimeRange {
                start: UnixNanos(lo.saturating_sub(step)),
                end: UnixNanos(hi.saturating_add(step.saturating_mul(horizon + 1))),
            };
            let closes = match Symbol::new(&p.symbol) {
                Ok(sym) => {
                    let id = tessera_model::InstrumentId::new(sym, venue);
                    state
                        .store()
                        .bars_range(&id, interval, range)
                        .await
                        .map(|bars| {
                            bars.iter()
                                .map(|b| (b.close_time(), b.close.as_decimal()))
                                .collect()
                        })
                        .unwrap_or_default()
                }
                Err(_) => Vec::new(),
            };
            cache.insert(p.symbol.clone(), closes);
        }
        let closes = &cache[&p.symbol];
        let outcome = closes
            .binary_search_by_key(&p.ts, |c| c.0)
            .ok()
            .and_then(|i| {
                let h = usize::try_from(p.horizon).ok()?;
                let now = closes.get(i)?.1;
                let later = closes.get(i.checked_add(h)?)?.1;
                if now.is_zero() {
                    return None;
                }
                let r: f64 = ((later - now) / now).try_into().ok()?;
                Some(if sign {
                    if r > 0.0 {
                        1.0
                    } else if r < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                } else {
                    r
                })
            });
        out.push(outcome);
    }
    out
}
