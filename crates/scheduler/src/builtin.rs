//! The built-in job types: their parameters, and the handlers that need
//! nothing beyond storage (`noop`, `cleaners`, `reports`).
//!
//! The binary plugs in the handlers whose work lives in other crates
//! (`data_backfill` and `daily_price_update` from `tessera-data`, …); the
//! rest fail with "handler not available in this build" until their crates
//! provide one.

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

/// `run_systems`: run trading systems to get their optimal positions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSystemsParams {
    /// Systems to run (default: all).
    #[serde(default)]
    pub systems: StringList,
}
impl Validate for RunSystemsParams {}

/// `order_generation`: turn optimal positions into orders.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderGenerationParams {
    /// Account (default: the configured one).
    #[serde(default)]
    pub account: Option<String>,
    /// Compute and log orders without submitting them.
    #[serde(default)]
    pub dry_run: bool,
}
impl Validate for OrderGenerationParams {}

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

/// `model_training`: train a model on stored data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTrainingParams {
    /// Model name (default: every configured model).
    #[serde(default)]
    pub model: Option<String>,
}
impl Validate for ModelTrainingParams {}

/// `predictions`: produce predictions from the production model.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionsParams {
    /// Model name (default: the production one).
    #[serde(default)]
    pub model: Option<String>,
}
impl Validate for PredictionsParams {}

/// `backtest` and `sweep`: a strategy and its settings, passed on to the backtester.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BacktestParams {
    /// Strategy name.
    pub strategy: String,
    /// Everything else the backtester reads (symbol, interval, ranges, grids).
    #[serde(flatten)]
    pub settings: BTreeMap<String, Value>,
}
impl Validate for BacktestParams {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.strategy.trim().is_empty() {
            return Err("strategy is empty".into());
        }
        Ok(())
    }
}

/// `backups`: copy the database and artefacts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsParams {
    /// Destination folder (default: `<data_dir>/backups`).
    #[serde(default)]
    pub destination: Option<String>,
}
impl Validate for BackupsParams {}

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
    /// Every built-in job type; `noop`, `cleaners` and `reports` with their handlers.
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
            "run trading systems to compute optimal positions (systems)",
        ));
        r.register(JobType::new::<OrderGenerationParams>(
            "order_generation",
            "turn optimal positions into orders (account, dry_run)",
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
            "train a model (model)",
        ));
        r.register(JobType::new::<PredictionsParams>(
            "predictions",
            "produce predictions (model)",
        ));
        r.register(JobType::new::<BacktestParams>(
            "backtest",
            "run one backtest (strategy, settings)",
        ));
        r.register(JobType::new::<BacktestParams>(
            "sweep",
            "run a parameter sweep (strategy, grid)",
        ));
        r.register(JobType::new::<BackupsParams>(
            "backups",
            "back up the database and artefacts (destination)",
        ));
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
        assert_eq!(v, json!({"account": "123", "dry_run": true}));
        let v = r
            .params_from_pairs("data_backfill", &["symbols=BTCUSDT,ETHUSDT".into()])
            .unwrap();
        assert_eq!(v["symbols"], json!(["BTCUSDT", "ETHUSDT"]));
        assert!(
            r.params_from_pairs("backtest", &[]).is_err(),
            "strategy is required"
        );
        assert!(r.get("reports").unwrap().has_handler());
        assert!(!r.get("run_systems").unwrap().has_handler());
    }
}
