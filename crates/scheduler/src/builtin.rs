//! The built-in job types: their parameters, and the handlers that need
//! nothing beyond storage (`noop`, `cleaners`, `reports`, `backups`).
//!
//! The binary plugs in the handlers whose work lives in crates above this
//! one (data collection, systems, orders, models, backtests): dependencies
//! point down, so this crate knows their parameters but not their code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_core::time::NANOS_PER_SECOND;
use tessera_storage::{JobFilter, JobStatus};

use crate::registry::{
    BoxFuture, JobContext, JobError, JobHandler, JobType, Registry, StringList, Validate,
};

/// `data_backfill`: fetch history of registered symbols until caught up.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataBackfillParams {
    /// Symbols (default: every registered one); an array or `A,B`.
    #[serde(default)]
    pub symbols: StringList,
    /// Only this venue.
    #[serde(default)]
    pub venue: Option<String>,
    /// Only this interval.
    #[serde(default)]
    pub interval: Option<String>,
}
impl Validate for DataBackfillParams {}

/// `daily_price_update`: bring every registered symbol up to date.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyPriceUpdateParams {
    /// Only this venue.
    #[serde(default)]
    pub venue: Option<String>,
}
impl Validate for DailyPriceUpdateParams {}

/// Check that `s` is a positive decimal number written plainly (`100000`, `0.5`).
fn positive_decimal(key: &str, s: &str) -> std::result::Result<(), String> {
    let t = s.trim();
    let plain = !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.matches('.').count() <= 1;
    match t.parse::<f64>() {
        Ok(v) if plain && v > 0.0 => Ok(()),
        _ => Err(format!("{key} = {s:?}: expected a positive decimal number")),
    }
}

/// Check that `s` is a non-negative decimal number written plainly (`0`, `2.5`).
fn non_negative_decimal(key: &str, s: &str) -> std::result::Result<(), String> {
    if s.trim().parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(());
    }
    positive_decimal(key, s).map_err(|_| format!("{key} = {s:?}: expected a decimal number ≥ 0"))
}

/// Check strategy parameters given as `K=V` items.
fn key_values(key: &str, items: &StringList) -> std::result::Result<(), String> {
    match items
        .0
        .iter()
        .find(|p| p.split_once('=').is_none_or(|(k, _)| k.trim().is_empty()))
    {
        Some(bad) => Err(format!("{key}: {bad:?} is not KEY=VALUE")),
        None => Ok(()),
    }
}

/// Check a name that becomes an id or a file name (letters, digits, `_`, `-`, `.`).
fn plain_name(key: &str, s: &str) -> std::result::Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{key} = {s:?}: expected 1-64 letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(())
}

/// Check an interval such as `1m`, `5m`, `1h`, `1d`.
fn interval(key: &str, s: Option<&str>) -> std::result::Result<(), String> {
    match s {
        None => Ok(()),
        Some(v) => {
            let (n, unit) = v.split_at(v.len().saturating_sub(1));
            if n.parse::<u32>().is_ok_and(|n| n > 0) && matches!(unit, "s" | "m" | "h" | "d" | "w")
            {
                Ok(())
            } else {
                Err(format!(
                    "{key} = {v:?}: expected an interval like 1m, 1h, 1d"
                ))
            }
        }
    }
}

fn default_strategy() -> String {
    "sma_cross".into()
}
fn default_capital() -> String {
    "100000".into()
}
fn default_lookback() -> u32 {
    2_000
}
fn default_zero() -> String {
    "0".into()
}

/// `run_systems`: run a trading system (a built-in strategy over stored
/// bars) for each symbol and store the position it holds at the last bar as
/// the symbol's target (optimal) position.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSystemsParams {
    /// System name; targets and orders carry it as their strategy id (default: `eod_<strategy>`).
    #[serde(default)]
    pub system: Option<String>,
    /// Built-in strategy (`sma_cross`, `ewmac`, `breakout`, `rsi_reversion`, `buy_hold`, …).
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Strategy parameters, `K=V` items (an array or `fast=10,slow=30`).
    #[serde(default)]
    pub params: StringList,
    /// Symbols (default: every registered one with bars).
    #[serde(default)]
    pub symbols: StringList,
    /// Only this venue.
    #[serde(default)]
    pub venue: Option<String>,
    /// Bar interval (default: the interval collected for the symbol, else `1d`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Capital the strategy sizes positions for, per symbol (decimal text).
    #[serde(default = "default_capital")]
    pub capital: String,
    /// Bars of history replayed (the most recent ones), 10 to 1,000,000.
    #[serde(default = "default_lookback")]
    pub lookback_bars: u32,
}
impl Default for RunSystemsParams {
    fn default() -> Self {
        Self {
            system: None,
            strategy: default_strategy(),
            params: StringList::default(),
            symbols: StringList::default(),
            venue: None,
            interval: None,
            capital: default_capital(),
            lookback_bars: default_lookback(),
        }
    }
}
impl Validate for RunSystemsParams {
    fn validate(&self) -> std::result::Result<(), String> {
        plain_name("strategy", &self.strategy)?;
        if let Some(s) = &self.system {
            plain_name("system", s)?;
        }
        key_values("params", &self.params)?;
        interval("interval", self.interval.as_deref())?;
        positive_decimal("capital", &self.capital)?;
        if !(10..=1_000_000).contains(&self.lookback_bars) {
            return Err(format!(
                "lookback_bars = {}: expected 10 to 1000000",
                self.lookback_bars
            ));
        }
        Ok(())
    }
}

/// The order stack account `order_generation` uses by default. It is not
/// `paper` (the account of `tessera trade` and the API's order desk) so the
/// order stack handler of the EOD pipeline and a paper trader never share
/// one paper book.
pub const DEFAULT_ORDER_ACCOUNT: &str = "eod";

/// `order_generation`: turn the stored target positions into orders on the
/// persistent order stack (risk-checked, status `created`); the order stack
/// handler of `tessera up` sends them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderGenerationParams {
    /// Account (broker) whose order stack gets the orders (default [`DEFAULT_ORDER_ACCOUNT`], `eod`).
    #[serde(default)]
    pub account: Option<String>,
    /// Compute and log orders without storing them.
    #[serde(default)]
    pub dry_run: bool,
    /// Only these systems (default: every system with stored targets).
    #[serde(default)]
    pub systems: StringList,
    /// No trade while |target − current| ≤ buffer (units, decimal text).
    #[serde(default = "default_zero")]
    pub buffer: String,
    /// Trades smaller than this are skipped (units, decimal text).
    #[serde(default = "default_zero")]
    pub min_trade: String,
}
impl Default for OrderGenerationParams {
    fn default() -> Self {
        Self {
            account: None,
            dry_run: false,
            systems: StringList::default(),
            buffer: default_zero(),
            min_trade: default_zero(),
        }
    }
}
impl Validate for OrderGenerationParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if let Some(a) = &self.account {
            plain_name("account", a)?;
        }
        non_negative_decimal("buffer", &self.buffer)?;
        non_negative_decimal("min_trade", &self.min_trade)
    }
}

/// `cleaners`: delete finished job runs and their logs older than `keep_days`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanersParams {
    /// Days of job history kept (at least 1).
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}
fn default_keep_days() -> u32 {
    30
}
impl Validate for CleanersParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.keep_days == 0 {
            return Err("keep_days = 0: expected at least 1 day".into());
        }
        Ok(())
    }
}

/// `reports`: a JSON summary of stored data and job runs under `<data_dir>/reports/`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsParams {
    /// File name (default: `report-<time>.json`); no folders.
    #[serde(default)]
    pub name: Option<String>,
}
impl Validate for ReportsParams {
    fn validate(&self) -> std::result::Result<(), String> {
        match &self.name {
            Some(n) if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') => {
                Err(format!("name = {n:?}: expected a plain file name"))
            }
            _ => Ok(()),
        }
    }
}

fn default_model_name() -> String {
    "demo".into()
}
fn default_model_kind() -> String {
    "ridge".into()
}
fn default_features() -> String {
    "ret:1,ret:5,rsi:14".into()
}
fn default_target() -> String {
    "fwd_ret:1".into()
}

/// `model_training`: train a model on stored bars and register it as the
/// next version (optionally promoting it to production).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTrainingParams {
    /// Model name (versions are numbered per name).
    #[serde(default = "default_model_name")]
    pub name: String,
    /// `ridge`, `logistic`, `kmeans` or `gbt`.
    #[serde(default = "default_model_kind")]
    pub kind: String,
    /// Feature specs as `tessera model train --features` takes them.
    #[serde(default = "default_features")]
    pub features: String,
    /// `fwd_ret:H` or `fwd_sign:H`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Symbols (default: every registered one on `venue` with bars).
    #[serde(default)]
    pub symbols: StringList,
    /// Venue of the symbols (default: the venue of the first registered symbol).
    #[serde(default)]
    pub venue: Option<String>,
    /// Bar interval (default: the interval collected for the symbols, else `1d`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Model parameters, `K=V` items.
    #[serde(default)]
    pub params: StringList,
    /// Fraction of the time grid held out for testing, in (0, 1).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// Put the new version in production.
    #[serde(default)]
    pub promote: bool,
}
impl Default for ModelTrainingParams {
    fn default() -> Self {
        Self {
            name: default_model_name(),
            kind: default_model_kind(),
            features: default_features(),
            target: default_target(),
            symbols: StringList::default(),
            venue: None,
            interval: None,
            params: StringList::default(),
            test_fraction: None,
            promote: false,
        }
    }
}
impl Validate for ModelTrainingParams {
    fn validate(&self) -> std::result::Result<(), String> {
        plain_name("name", &self.name)?;
        if !matches!(self.kind.as_str(), "ridge" | "logistic" | "kmeans" | "gbt") {
            return Err(format!(
                "kind = {:?}: expected ridge, logistic, kmeans or gbt",
                self.kind
            ));
        }
        if self.features.trim().is_empty() {
            return Err("features is empty".into());
        }
        key_values("params", &self.params)?;
        interval("interval", self.interval.as_deref())?;
        if let Some(f) = self.test_fraction
            && !(f > 0.0 && f < 1.0)
        {
            return Err(format!("test_fraction = {f}: expected between 0 and 1"));
        }
        Ok(())
    }
}

fn default_prediction_bars() -> u32 {
    100
}

/// `predictions`: one prediction pass: every production model (or `model`)
/// scores the most recent `bars` bars of its symbols; predictions are stored
/// (idempotent per model, symbol and time).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionsParams {
    /// Only this model (its production version).
    #[serde(default)]
    pub model: Option<String>,
    /// Most recent bars scored per symbol, 1 to 100,000.
    #[serde(default = "default_prediction_bars")]
    pub bars: u32,
}
impl Default for PredictionsParams {
    fn default() -> Self {
        Self {
            model: None,
            bars: default_prediction_bars(),
        }
    }
}
impl Validate for PredictionsParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if let Some(m) = &self.model {
            plain_name("model", m)?;
        }
        if !(1..=100_000).contains(&self.bars) {
            return Err(format!("bars = {}: expected 1 to 100000", self.bars));
        }
        Ok(())
    }
}

/// `backtest`: one backtest of a built-in strategy, stored as a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestParams {
    /// Strategy name.
    pub strategy: String,
    /// Strategy parameters, `K=V` items.
    #[serde(default)]
    pub params: StringList,
    /// Stored symbol (with `venue` and `interval`); or `csv`.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Venue of `symbol`.
    #[serde(default)]
    pub venue: Option<String>,
    /// Interval of `symbol` (default `1d`).
    #[serde(default)]
    pub interval: Option<String>,
    /// First bar time (RFC 3339 or date).
    #[serde(default)]
    pub from: Option<String>,
    /// End time, excluded.
    #[serde(default)]
    pub to: Option<String>,
    /// An OHLCV CSV file instead of stored bars.
    #[serde(default)]
    pub csv: Option<String>,
    /// Starting cash (decimal text, default 10000).
    #[serde(default)]
    pub cash: Option<String>,
    /// Commission rate per fill (decimal text, default 0).
    #[serde(default)]
    pub commission: Option<String>,
}
impl Validate for BacktestParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.strategy.trim().is_empty() {
            return Err("strategy is empty".into());
        }
        plain_name("strategy", &self.strategy)?;
        key_values("params", &self.params)?;
        match (&self.symbol, &self.csv) {
            (Some(_), Some(_)) => return Err("give symbol or csv, not both".into()),
            (None, None) => return Err("give the data: symbol (with venue) or csv".into()),
            _ => {}
        }
        interval("interval", self.interval.as_deref())?;
        if let Some(c) = &self.cash {
            positive_decimal("cash", c)?;
        }
        if let Some(c) = &self.commission {
            non_negative_decimal("commission", c)?;
        }
        Ok(())
    }
}

fn default_metric() -> String {
    "sharpe_ratio".into()
}

/// `sweep`: a parameter sweep; the best row is run again and stored as a backtest run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepParams {
    /// Strategy name.
    pub strategy: String,
    /// Fixed strategy parameters, `K=V` items.
    #[serde(default)]
    pub params: StringList,
    /// Stored symbol (with `venue` and `interval`); or `csv`.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Venue of `symbol`.
    #[serde(default)]
    pub venue: Option<String>,
    /// Interval of `symbol` (default `1d`).
    #[serde(default)]
    pub interval: Option<String>,
    /// First bar time.
    #[serde(default)]
    pub from: Option<String>,
    /// End time, excluded.
    #[serde(default)]
    pub to: Option<String>,
    /// An OHLCV CSV file instead of stored bars.
    #[serde(default)]
    pub csv: Option<String>,
    /// Starting cash (decimal text).
    #[serde(default)]
    pub cash: Option<String>,
    /// Commission rate per fill (decimal text).
    #[serde(default)]
    pub commission: Option<String>,
    /// Grid axes `K=START:END:STEP` (at least one).
    pub grid: StringList,
    /// Statistic ranked on (default `sharpe_ratio`).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Constraints such as `fast<slow`.
    #[serde(default)]
    pub constraint: StringList,
}
impl SweepParams {
    /// The backtest every grid point varies.
    #[must_use]
    pub fn backtest(&self) -> BacktestParams {
        BacktestParams {
            strategy: self.strategy.clone(),
            params: self.params.clone(),
            symbol: self.symbol.clone(),
            venue: self.venue.clone(),
            interval: self.interval.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            csv: self.csv.clone(),
            cash: self.cash.clone(),
            commission: self.commission.clone(),
        }
    }
}
impl Validate for SweepParams {
    fn validate(&self) -> std::result::Result<(), String> {
        self.backtest().validate()?;
        if self.grid.0.is_empty() {
            return Err("grid: give at least one K=START:END:STEP".into());
        }
        if let Some(bad) = self.grid.0.iter().find(|g| {
            g.split_once('=')
                .is_none_or(|(_, r)| r.split(':').count() != 3)
        }) {
            return Err(format!("grid: {bad:?} is not K=START:END:STEP"));
        }
        plain_name("metric", &self.metric)
    }
}

/// `backups`: a consistent copy of the database plus the artefacts folder
/// in a timestamped folder.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsParams {
    /// Destination folder (default: `<data_dir>/backups`).
    #[serde(default)]
    pub destination: Option<String>,
    /// Keep only the newest this-many backups in the destination (default: all).
    #[serde(default)]
    pub keep: Option<u32>,
}
impl Validate for BackupsParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.keep == Some(0) {
            return Err("keep = 0: expected at least 1".into());
        }
        if self
            .destination
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            return Err("destination is empty".into());
        }
        Ok(())
    }
}

/// `noop`: does nothing (optionally slowly, optionally failing); checks that
/// workers run, and drives the queue tests and benchmark.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoopParams {
    /// Milliseconds to sleep (at most one hour).
    #[serde(default)]
    pub sleep_ms: u64,
    /// Fail (retryably) the first this-many attempts.
    #[serde(default)]
    pub fail_attempts: u32,
}
impl Validate for NoopParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.sleep_ms > 3_600_000 {
            return Err(format!("sleep_ms = {}: at most 3600000", self.sleep_ms));
        }
        Ok(())
    }
}

fn params<T: serde::de::DeserializeOwned>(v: &Value) -> std::result::Result<T, JobError> {
    serde_json::from_value(v.clone()).map_err(|e| JobError::permanent(format!("parameters: {e}")))
}

/// Handler of `noop`.
#[derive(Debug)]
pub struct NoopHandler;

impl JobHandler for NoopHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, std::result::Result<Value, JobError>> {
        Box::pin(async move {
            let p: NoopParams = params(v)?;
            if p.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
            }
            if ctx.attempt() <= p.fail_attempts {
                return Err(JobError::retryable(format!(
                    "failing attempt {} of the first {} as asked",
                    ctx.attempt(),
                    p.fail_attempts
                )));
            }
            ctx.info("noop done").await;
            Ok(json!({"slept_ms": p.sleep_ms}))
        })
    }
}

/// Handler of `cleaners`: prunes job history.
#[derive(Debug)]
pub struct CleanersHandler;

impl JobHandler for CleanersHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, std::result::Result<Value, JobError>> {
        Box::pin(async move {
            let p: CleanersParams = params(v)?;
            let keep = i64::from(p.keep_days) * 86_400 * NANOS_PER_SECOND;
            let before = tessera_core::UnixNanos(ctx.now().0.saturating_sub(keep));
            let pruned = ctx.store().prune_jobs(before).await?;
            ctx.info(&format!(
                "deleted {pruned} finished jobs (and their log lines) older than {} days",
                p.keep_days
            ))
            .await;
            Ok(json!({"jobs_deleted": pruned, "keep_days": p.keep_days}))
        })
    }
}

/// Handler of `reports`: writes a JSON summary of stored data and job runs.
#[derive(Debug)]
pub struct ReportsHandler;

impl JobHandler for ReportsHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, std::result::Result<Value, JobError>> {
        Box::pin(async move {
            let p: ReportsParams = params(v)?;
            let store = ctx.store();
            let instruments = store.list_instruments().await?;
            let cursors = store.list_cursors().await?;
            let counts: BTreeMap<String, i64> = store
                .job_counts()
                .await?
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect();
            let failed: Vec<Value> = store
                .list_jobs(&JobFilter {
                    status: Some(JobStatus::Failed),
                    job_type: None,
                    limit: 20,
                })
                .await?
                .into_iter()
                .map(|j| json!({"id": j.id, "job": j.job_type, "error": j.error}))
                .collect();
            let runs: Vec<Value> = store
                .schedule_runs(None, 20)
                .await?
                .into_iter()
                .map(|r| json!({"schedule": r.schedule, "slot": r.slot.to_rfc3339(), "status": r.status}))
                .collect();
            let now = ctx.now();
            let report = json!({
                "generated_at": now.to_rfc3339(),
                "instruments": instruments.len(),
                "collectors": cursors.iter().map(|c| json!({
                    "instrument": c.instrument.to_string(),
                    "interval": c.interval.to_string(),
                    "state": c.state.as_str(),
                    "last_open_time": c.last_open_time.map(|t| t.to_rfc3339()),
                })).collect::<Vec<_>>(),
                "jobs_by_status": counts,
                "recent_failed_jobs": failed,
                "recent_schedule_runs": runs,
            });
            let dir = ctx.data_dir().join("reports");
            let name = p
                .name
                .unwrap_or_else(|| format!("report-{}.json", now.to_rfc3339().replace(':', "")));
            let path = dir.join(name);
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| JobError::permanent(e.to_string()))?;
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| JobError::retryable(format!("{}: {e}", dir.display())))?;
            tokio::fs::write(&path, text)
                .await
                .map_err(|e| JobError::retryable(format!("{}: {e}", path.display())))?;
            ctx.info(&format!("report written to {}", path.display()))
                .await;
            Ok(json!({"path": path.display().to_string(), "instruments": instruments.len()}))
        })
    }
}

impl Registry {
    /// Every built-in job type; `noop`, `cleaners`, `reports` and `backups` with their handlers.
    #[must_use]
    pub fn builtin() -> Self {
        let mut r = Self::new();
        r.register(JobType::new::<DataBackfillParams>(
            "data_backfill",
            "fetch history of registered symbols until caught up (symbols, venue, interval)",
        ));
        r.register(JobType::new::<DailyPriceUpdateParams>(
            "daily_price_update",
            "bring every registered symbol's bars up to date (venue)",
        ));
        r.register(JobType::new::<RunSystemsParams>(
            "run_systems",
            "run a strategy over stored bars and store each symbol's target position (system, strategy, params, symbols, venue, interval, capital, lookback_bars)",
        ));
        r.register(JobType::new::<OrderGenerationParams>(
            "order_generation",
            "turn stored target positions into risk-checked orders on the order stack (account, dry_run, systems, buffer, min_trade)",
        ));
        r.register(
            JobType::new::<CleanersParams>(
                "cleaners",
                "delete finished jobs and logs older than keep_days (default 30)",
            )
            .with_handler(Arc::new(CleanersHandler)),
        );
        r.register(
            JobType::new::<ReportsParams>(
                "reports",
                "write a JSON summary of data and job runs to <data_dir>/reports (name)",
            )
            .with_handler(Arc::new(ReportsHandler)),
        );
        r.register(JobType::new::<ModelTrainingParams>(
            "model_training",
            "train and register a model on stored bars (name, kind, features, target, symbols, venue, interval, params, test_fraction, promote)",
        ));
        r.register(JobType::new::<PredictionsParams>(
            "predictions",
            "one prediction pass of the production models over recent bars (model, bars)",
        ));
        r.register(JobType::new::<BacktestParams>(
            "backtest",
            "run and store one backtest (strategy, params, symbol, venue, interval, from, to, csv, cash, commission)",
        ));
        r.register(JobType::new::<SweepParams>(
            "sweep",
            "run a parameter sweep and store the best run (backtest keys, grid, metric, constraint)",
        ));
        r.register(
            JobType::new::<BackupsParams>(
                "backups",
                "copy the database and artefacts into <destination>/<time>/ (destination, keep)",
            )
            .with_handler(Arc::new(crate::backup::BackupsHandler::default())),
        );
        r.register(
            JobType::new::<NoopParams>(
                "noop",
                "do nothing, optionally slowly or failing (sleep_ms, fail_attempts)",
            )
            .with_handler(Arc::new(NoopHandler)),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_registry_validates_typed_params() {
        let r = Registry::builtin();
        let v = r
            .params_from_pairs("cleaners", &["keep_days=7".into()])
            .unwrap();
        assert_eq!(v, json!({"keep_days": 7}));
        assert_eq!(
            r.validate("cleaners", &Value::Null).unwrap(),
            json!({"keep_days": 30})
        );
        let e = r
            .params_from_pairs("cleaners", &["keep_days=0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("keep_days") && e.contains("cleaners"), "{e}");
        let e = r
            .params_from_pairs("cleaners", &["keep=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("keep"), "{e}");
        let e = r.params_from_pairs("nope", &[]).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        // Numbers reach text fields; lists come as arrays or comma-separated text.
        let v = r
            .params_from_pairs(
                "order_generation",
                &["account=123".into(), "dry_run=true".into()],
            )
            .unwrap();
        assert_eq!(v["account"], "123");
        assert_eq!(v["dry_run"], true);
        let v = r
            .params_from_pairs("data_backfill", &["symbols=BTCUSDT,ETHUSDT".into()])
            .unwrap();
        assert_eq!(v["symbols"], json!(["BTCUSDT", "ETHUSDT"]));
        assert!(
            r.params_from_pairs("backtest", &[]).is_err(),
            "strategy is required"
        );
        assert!(r.get("reports").unwrap().has_handler());
        assert!(r.get("backups").unwrap().has_handler());
        assert!(!r.get("run_systems").unwrap().has_handler());
    }

    #[rstest::rstest]
    #[case::lookback("run_systems", &["lookback_bars=5"], "lookback_bars")]
    #[case::capital("run_systems", &["capital=-5"], "capital")]
    #[case::interval("run_systems", &["interval=fortnight"], "interval")]
    #[case::strategy_params("run_systems", &["params=fast"], "params")]
    #[case::buffer("order_generation", &["buffer=abc"], "buffer")]
    #[case::kind("model_training", &["kind=forest"], "kind")]
    #[case::fraction("model_training", &["test_fraction=1.5"], "test_fraction")]
    #[case::name("model_training", &["name=a b"], "name")]
    #[case::bars("predictions", &["bars=0"], "bars")]
    #[case::data("backtest", &["strategy=sma_cross"], "symbol")]
    #[case::both("backtest", &["strategy=x", "symbol=A", "csv=a.csv"], "not both")]
    #[case::grid("sweep", &["strategy=x", "symbol=A"], "grid")]
    #[case::grid_form("sweep", &["strategy=x", "symbol=A", "grid=fast=1:2"], "grid")]
    #[case::unknown("sweep", &["strategy=x", "symbol=A", "grid=a=1:2:1", "nope=1"], "nope")]
    #[case::keep("backups", &["keep=0"], "keep")]
    fn test_bad_params_are_refused_with_the_key(
        #[case] job: &str,
        #[case] pairs: &[&str],
        #[case] needle: &str,
    ) {
        let r = Registry::builtin();
        let pairs: Vec<String> = pairs.iter().map(ToString::to_string).collect();
        let e = r.params_from_pairs(job, &pairs).unwrap_err().to_string();
        assert!(e.contains(needle), "{job} {pairs:?}: {e}");
    }

    #[test]
    fn test_good_params_are_normalised() {
        let r = Registry::builtin();
        let v = r.validate("run_systems", &Value::Null).unwrap();
        assert_eq!(v["strategy"], "sma_cross");
        assert_eq!(v["lookback_bars"], 2000);
        let v = r
            .params_from_pairs(
                "sweep",
                &[
                    "strategy=sma_cross".into(),
                    "symbol=BTCUSDT".into(),
                    "grid=fast=5:10:5,slow=20:30:10".into(),
                ],
            )
            .unwrap();
        assert_eq!(v["grid"], json!(["fast=5:10:5", "slow=20:30:10"]));
        assert_eq!(v["metric"], "sharpe_ratio");
        let v = r
            .params_from_pairs("order_generation", &["buffer=0.5".into()])
            .unwrap();
        assert_eq!(v["buffer"], "0.5");
        let v = r
            .params_from_pairs("model_training", &["promote=true".into()])
            .unwrap();
        assert_eq!(v["promote"], true);
        assert_eq!(v["features"], "ret:1,ret:5,rsi:14");
    }
}
