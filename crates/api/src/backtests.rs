//! `/api/v1/backtests`: stored backtest runs (list, show, trades, equity).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tessera_storage::{BacktestRun, BacktestTrade};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::Result;
use crate::jobs::json_text;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/backtests", get(list).post(crate::schedules::run_backtest))
        .route("/backtests/{run_id}", get(show))
        .route("/backtests/{run_id}/trades", get(trades))
        .route("/backtests/{run_id}/equity", get(equity))
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Summary of one run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunSummary {
    /// Run id.
    run_id: String,
    /// Strategy name.
    strategy: String,
    /// Instruments traded, comma separated `SYMBOL.venue`.
    instruments: String,
    /// Bar interval.
    interval: String,
    /// First bar.
    data_from: String,
    /// Last bar.
    data_to: String,
    /// Bars replayed.
    bars: i64,
    /// When it finished.
    finished_at: String,
    /// Final equity.
    equity_final: Option<f64>,
    /// Final equity, exact with currency.
    final_equity_exact: String,
    /// Total return, %.
    return_pct: Option<f64>,
    /// Sharpe ratio.
    sharpe_ratio: Option<f64>,
    /// Maximum drawdown, % (negative).
    max_drawdown_pct: Option<f64>,
    /// Closed trades.
    trades: i64,
}

impl From<&BacktestRun> for RunSummary {
    fn from(r: &BacktestRun) -> Self {
        Self {
            run_id: r.run_id.clone(),
            strategy: r.strategy.clone(),
            instruments: r.instruments.clone(),
            interval: r.interval.clone(),
            data_from: r.data_from.to_rfc3339(),
            data_to: r.data_to.to_rfc3339(),
            bars: r.bars,
            finished_at: r.finished_at.to_rfc3339(),
            equity_final: finite(r.equity_final),
            final_equity_exact: r.final_equity_exact.clone(),
            return_pct: finite(r.return_pct),
            sharpe_ratio: r.sharpe_ratio.and_then(finite),
            max_drawdown_pct: finite(r.max_drawdown_pct),
            trades: r.trades,
        }
    }
}

/// Stored runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunList {
    /// As the store lists them.
    backtests: Vec<RunSummary>,
}

/// List stored backtest runs.
#[utoipa::path(get, path = "/api/v1/backtests", tag = "backtests", security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Runs", body = RunList),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
) -> Result<Json<RunList>> {
    let runs = state.store().list_backtests().await?;
    Ok(Json(RunList {
        backtests: runs.iter().map(RunSummary::from).collect(),
    }))
}

/// One run in full.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDetail {
    /// The summary.
    #[serde(flatten)]
    summary: RunSummary,
    /// Strategy parameters (JSON).
    #[schema(value_type = Object)]
    params: serde_json::Value,
    /// Fill, cost and account settings (JSON).
    #[schema(value_type = Object)]
    settings: serde_json::Value,
    /// Every statistic (JSON).
    #[schema(value_type = Object)]
    stats: serde_json::Value,
    /// Where the bars came from.
    data_source: String,
    /// Code version that ran it.
    code_version: String,
    /// When it started.
    started_at: String,
}

/// Show one run with its parameters and statistics.
#[utoipa::path(get, path = "/api/v1/backtests/{run_id}", tag = "backtests",
    params(("run_id" = String, Path, description = "Run id")), security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(run_id): Path<String>,
) -> Result<Json<RunDetail>> {
    let r = state.store().backtest(&run_id).await?;
    Ok(Json(RunDetail {
        summary: RunSummary::from(&r),
        params: json_text(&r.params),
        settings: json_text(&r.settings),
        stats: json_text(&r.stats),
        data_source: r.data_source.clone(),
        code_version: r.code_version.clone(),
        started_at: r.started_at.to_rfc3339(),
    }))
}

/// One round trip.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TradeJson {
    /// `SYMBOL.venue`.
    instrument: String,
    /// `long` or `short`.
    side: String,
    /// Units (exact).
    size: String,
    /// Entry time.
    entry_time: String,
    /// Exit time.
    exit_time: String,
    /// Entry price (exact).
    entry_price: String,
    /// Exit price (exact).
    exit_price: String,
    /// Net P&L (exact).
    pnl: String,
    /// Commissions (exact).
    commission: String,
    /// Net return, %.
    return_pct: Option<f64>,
}

impl From<&BacktestTrade> for TradeJson {
    fn from(t: &BacktestTrade) -> Self {
        Self {
            instrument: t.instrument.clone(),
            side: t.side.clone(),
            size: t.size.clone(),
            entry_time: t.entry_time.to_rfc3339(),
            exit_time: t.exit_time.to_rfc3339(),
            entry_price: t.entry_price.clone(),
            exit_price: t.exit_price.clone(),
            pnl: t.pnl.clone(),
            commission: t.commission.clone(),
            return_pct: finite(t.return_pct),
        }
    }
}

/// Trades of a run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TradeList {
    /// Run id.
    run_id: String,
    /// In entry order.
    trades: Vec<TradeJson>,
}

/// The round trips of a run.
#[utoipa::path(get, path = "/api/v1/backtests/{run_id}/trades", tag = "backtests",
    params(("run_id" = String, Path, description = "Run id")), security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Trades", body = TradeList),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn trades(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(run_id): Path<String>,
) -> Result<Json<TradeList>> {
    state.store().backtest(&run_id).await?;
    let trades = state.store().backtest_trades(&run_id).await?;
    Ok(Json(TradeList {
        run_id,
        trades: trades.iter().map(TradeJson::from).collect(),
    }))
}

/// One point of an equity curve.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EquityPoint {
    /// Bar time.
    timestamp: String,
    /// Account equity.
    equity: Option<f64>,
}

/// Equity curve of a run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EquityCurve {
    /// Run id.
    run_id: String,
    /// Points in time order.
    equity: Vec<EquityPoint>,
}

/// The equity curve of a run.
#[utoipa::path(get, path = "/api/v1/backtests/{run_id}/equity", tag = "backtests",
    params(("run_id" = String, Path, description = "Run id")), security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Equity", body = EquityCurve),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn equity(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(run_id): Path<String>,
) -> Result<Json<EquityCurve>> {
    state.store().backtest(&run_id).await?;
    let points = state.store().backtest_equity(&run_id).await?;
    Ok(Json(EquityCurve {
        run_id,
        equity: points
            .into_iter()
            .map(|(t, e)| EquityPoint {
                timestamp: t.to_rfc3339(),
                equity: finite(e),
            })
            .collect(),
    }))
}
