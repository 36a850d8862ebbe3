//! Job handlers whose work lives in crates above `tessera-scheduler`
//! (dependencies point down, so the binary wires them into the registry):
//!
//! * `backtest`, `sweep`, `model_training`: run the matching `tessera`
//!   command in a child process (`tessera --json backtest …`, `sweep`,
//!   `model train`/`promote`), so each job uses exactly the code and the
//!   storage of the command a user runs; its output is the job's log;
//! * `predictions`: one pass of the production models over the most recent
//!   bars, stored like the prediction service stores them (idempotent);
//! * `run_systems`: a built-in strategy replayed over the most recent stored
//!   bars in the one engine; the position it holds after the last bar is the
//!   symbol's target, stored under the state key `systems:target:<system>:<instrument>`;
//! * `order_generation`: targets versus the order stack's positions and
//!   working orders, through [`tessera_execution::generate_orders`], risk
//!   checks, and onto the persistent order stack as `created` orders.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tessera_core::{SimClock, TimeRange, UnixNanos};
use tessera_engine::{BarSeries, Engine, SeriesSource, SimConfig, SimVenue};
use tessera_execution::{GeneratorConfig, OrderStack, Target, generate_orders};
use tessera_indicators::features::FeatureSet;
use tessera_ml::artefact::{ArtefactConfig, ArtefactStore};
use tessera_ml::dataset::Dataset;
use tessera_ml::registry::{Registry as ModelRegistry, panel_from_store};
use tessera_ml::{Prediction, Task};
use tessera_model::{ClientOrderId, Instrument, InstrumentId, Interval, Money, Price, StrategyId};
use tessera_risk::{RiskEngine, RiskLimits};
use tessera_scheduler::builtin::{
    BacktestParams, ModelTrainingParams, OrderGenerationParams, PredictionsParams,
    RunSystemsParams, SweepParams,
};
use tessera_scheduler::registry::BoxFuture;
use tessera_scheduler::{JobContext, JobError, JobHandler, SystemTarget, TARGET_PREFIX};
use tessera_storage::{MlPrediction, Store};
use tokio::io::{AsyncBufReadExt, BufReader};

fn params<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, JobError> {
    serde_json::from_value(v.clone()).map_err(|e| JobError::permanent(format!("parameters: {e}")))
}

fn bad(what: impl std::fmt::Display) -> JobError {
    JobError::permanent(what.to_string())
}

/// Run `tessera ARGS…` as a child process; every output line goes to the
/// job's log (stdout at `info`, stderr at `warn`); returns stdout.
///
/// # Errors
/// Retryable when the command cannot start or exits unsuccessfully.
pub(crate) async fn run_tessera(
    ctx: &JobContext,
    config: Option<&PathBuf>,
    mut args: Vec<String>,
) -> Result<String, JobError> {
    let exe = std::env::current_exe()
        .map_err(|e| JobError::permanent(format!("cannot find the tessera executable: {e}")))?;
    if let Some(c) = config {
        args.splice(0..0, ["--config".to_string(), c.display().to_string()]);
    }
    ctx.info(&format!("running tessera {}", args.join(" ")))
        .await;
    let mut child = tokio::process::Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Cancelling the job (dropping this future) stops the command.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            JobError::retryable(format!("cannot start tessera {}: {e}", args.join(" ")))
        })?;
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let (mut stdout, mut last_err) = (String::new(), String::new());
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        tokio::select! {
            l = out.next_line(), if !out_done => match l {
                Ok(Some(l)) => {
                    ctx.log("info", &l).await;
                    stdout.push_str(&l);
                    stdout.push('\n');
                }
                _ => out_done = true,
            },
            l = err.next_line(), if !err_done => match l {
                Ok(Some(l)) => { ctx.log("warn", &l).await; last_err = l; }
                _ => err_done = true,
            },
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| JobError::retryable(format!("waiting for the command: {e}")))?;
    if status.success() {
        Ok(stdout)
    } else {
        Err(JobError::retryable(format!(
            "tessera {} failed ({status}): {last_err}",
            args.join(" ")
        )))
    }
}

fn parse_json(out: &str, what: &str) -> Result<Value, JobError> {
    serde_json::from_str(out.trim())
        .map_err(|e| JobError::permanent(format!("{what}: output is not JSON: {e}")))
}

/// `tessera backtest` flags of typed backtest parameters.
fn backtest_args(p: &BacktestParams, params: &[String]) -> Vec<String> {
    let mut a = vec!["--strategy".to_string(), p.strategy.clone()];
    for kv in params {
        a.extend(["--param".to_string(), kv.clone()]);
    }
    let opts = [
        ("--csv", &p.csv),
        ("--symbol", &p.symbol),
        ("--venue", &p.venue),
        ("--interval", &p.interval),
        ("--from", &p.from),
        ("--to", &p.to),
        ("--cash", &p.cash),
        ("--commission", &p.commission),
    ];
    for (flag, v) in opts {
        if let Some(v) = v {
            a.extend([flag.to_string(), v.clone()]);
        }
    }
    a
}

/// Handler of `backtest`: `tessera --json backtest …`, stored as a run.
#[derive(Debug)]
pub(crate) struct BacktestHandler {
    pub(crate) config: Option<PathBuf>,
}

impl JobHandler for BacktestHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: BacktestParams = params(v)?;
            let mut args = vec!["--json".to_string(), "backtest".to_string()];
            args.extend(backtest_args(&p, &p.params.0));
            let out = run_tessera(ctx, self.config.as_ref(), args).await?;
            let stats = parse_json(&out, "tessera backtest")?;
            ctx.info(&format!(
                "backtest run {} stored: return {}%, {} trades",
                stats["run_id"], stats["return_pct"], stats["trades"]
            ))
            .await;
            Ok(stats)
        })
    }
}

/// A sweep row's parameter value as `tessera --param` text.
fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Handler of `sweep`: `tessera --json sweep … --top 1`, then the best
/// parameters run again with `tessera backtest`, which stores the run.
#[derive(Debug)]
pub(crate) struct SweepHandler {
    pub(crate) config: Option<PathBuf>,
}

impl JobHandler for SweepHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: SweepParams = params(v)?;
            let mut args = vec!["--json".to_string(), "sweep".to_string()];
            let base = p.backtest();
            args.extend(backtest_args(&base, &base.params.0));
            for g in &p.grid.0 {
                args.extend(["--grid".to_string(), g.clone()]);
            }
            for c in &p.constraint.0 {
                args.extend(["--constraint".to_string(), c.clone()]);
            }
            args.extend(["--metric".to_string(), p.metric.clone()]);
            let out = run_tessera(ctx, self.config.as_ref(), args).await?;
            let rows = parse_json(&out, "tessera sweep")?;
            let Some(best) = rows.as_array().and_then(|r| r.first()).cloned() else {
                return Err(bad(
                    "the sweep returned no rows (every grid point refused?)",
                ));
            };
            let mut merged: BTreeMap<String, String> = base
                .params
                .0
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            for (k, v) in best["params"].as_object().into_iter().flatten() {
                merged.insert(k.clone(), param_text(v));
            }
            let kvs: Vec<String> = merged.iter().map(|(k, v)| format!("{k}={v}")).collect();
            ctx.info(&format!(
                "{} grid points; best by {}: {}",
                rows.as_array().map_or(0, Vec::len),
                p.metric,
                kvs.join(" ")
            ))
            .await;
            let mut args = vec!["--json".to_string(), "backtest".to_string()];
            args.extend(backtest_args(&base, &kvs));
            let out = run_tessera(ctx, self.config.as_ref(), args).await?;
            let stats = parse_json(&out, "tessera backtest")?;
            ctx.info(&format!("best run stored as {}", stats["run_id"]))
                .await;
            Ok(json!({
                "grid_points": rows.as_array().map_or(0, Vec::len),
                "metric": p.metric,
                "best_params": merged,
                "run_id": stats["run_id"],
                "best": stats,
            }))
        })
    }
}

/// Symbols, venue and interval of a job that defaults to "what is collected".
async fn resolve_data(
    store: &Store,
    symbols: &[String],
    venue: Option<&str>,
    interval: Option<&str>,
) -> Result<(Vec<String>, String, String), JobError> {
    let cursors = store.list_cursors().await?;
    let venue = match venue {
        Some(v) => v.to_string(),
        None => match (symbols.first(), cursors.first()) {
            (Some(s), _) => {
                let inst = store
                    .find_instrument(tessera_model::Symbol::new(s).map_err(bad)?, None)
                    .await?;
                inst.id.venue.to_string()
            }
            (None, Some(c)) => c.instrument.venue.to_string(),
            (None, None) => {
                return Err(bad(
                    "no symbols given and none collected: give symbols and venue",
                ));
            }
        },
    };
    let symbols: Vec<String> = if symbols.is_empty() {
        let mut s: Vec<String> = Vec::new();
        for c in cursors
            .iter()
            .filter(|c| c.instrument.venue.to_string() == venue)
            .filter(|c| interval.is_none_or(|i| c.interval.to_string() == i))
        {
            let sym = c.instrument.symbol.to_string();
            if !s.contains(&sym) {
                s.push(sym);
            }
        }
        s
    } else {
        symbols.to_vec()
    };
    if symbols.is_empty() {
        return Err(bad(format!("no symbols collected on venue {venue}")));
    }
    let interval = match interval {
        Some(i) => i.to_string(),
        None => cursors
            .iter()
            .find(|c| {
                c.instrument.venue.to_string() == venue
                    && c.instrument.symbol.to_string() == symbols[0]
            })
            .map_or_else(|| "1d".to_string(), |c| c.interval.to_string()),
    };
    Ok((symbols, venue, interval))
}

/// Handler of `model_training`: `tessera --json model train …` (tessera-ml's
/// train and registry), then `model promote` when asked.
#[derive(Debug)]
pub(crate) struct ModelTrainingHandler {
    pub(crate) config: Option<PathBuf>,
}

impl JobHandler for ModelTrainingHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: ModelTrainingParams = params(v)?;
            let (symbols, venue, interval) = resolve_data(
                ctx.store(),
                &p.symbols.0,
                p.venue.as_deref(),
                p.interval.as_deref(),
            )
            .await?;
            let mut args: Vec<String> = [
                "--json",
                "model",
                "train",
                "--name",
                &p.name,
                "--kind",
                &p.kind,
                "--features",
                &p.features,
                "--target",
                &p.target,
                "--venue",
                &venue,
                "--interval",
                &interval,
            ]
            .iter()
            .map(ToString::to_string)
            .collect();
            args.extend(["--symbol".to_string(), symbols.join(",")]);
            for kv in &p.params.0 {
                args.extend(["--param".to_string(), kv.clone()]);
            }
            if let Some(f) = p.test_fraction {
                args.extend(["--test-fraction".to_string(), f.to_string()]);
            }
            let out = run_tessera(ctx, self.config.as_ref(), args).await?;
            let mut trained = parse_json(&out, "tessera model train")?;
            let reference = format!(
                "{}@{}",
                trained["name"].as_str().unwrap_or(&p.name),
                trained["version"]
            );
            ctx.info(&format!(
                "registered {reference} (metrics {})",
                trained["metrics"]
            ))
            .await;
            if p.promote {
                let args = vec![
                    "--json".to_string(),
                    "model".to_string(),
                    "promote".to_string(),
                    reference.clone(),
                ];
                run_tessera(ctx, self.config.as_ref(), args).await?;
                ctx.info(&format!("{reference} promoted to production"))
                    .await;
                trained["stage"] = json!("production");
            }
            Ok(trained)
        })
    }
}

/// Handler of `predictions`: the production models score the most recent
/// bars of their symbols; predictions are stored (idempotent per model,
/// symbol and bar close time, like the prediction service's).
#[derive(Debug)]
pub(crate) struct PredictionsHandler {
    pub(crate) artefacts: ArtefactConfig,
}

impl PredictionsHandler {
    async fn pass(&self, ctx: &JobContext, p: PredictionsParams) -> Result<Value, JobError> {
        let store = ctx.store();
        let artefacts = ArtefactStore::open(&self.artefacts).map_err(bad)?;
        let reg = ModelRegistry::new(store.clone(), artefacts, ctx.clock());
        let mut served = Vec::new();
        let mut total = 0_u64;
        for row in store.production_ml_models().await? {
            if p.model.as_ref().is_some_and(|m| *m != row.name) {
                continue;
            }
            if row.feature_set.is_empty() || row.symbols.is_empty() || row.kind == "onnx" {
                ctx.info(&format!(
                    "{}@{}: not trained on bars, skipped",
                    row.name, row.version
                ))
                .await;
                continue;
            }
            let reference = format!("{}@{}", row.name, row.version);
            let (_, loaded) = reg.load(&reference).await.map_err(bad)?;
            let fs = FeatureSet::parse(&loaded.meta.feature_set).map_err(bad)?;
            let symbols: Vec<String> = row.symbols.split(',').map(str::to_owned).collect();
            let panel = panel_from_store(
                store,
                &symbols,
                &row.venue,
                &row.interval,
                TimeRange::from_bounds(None, None).map_err(bad)?,
            )
            .await
            .map_err(|e| JobError::retryable(format!("{reference}: {e}")))?;
            // Score the last `bars` bar close times of the panel (features warm up on all).
            let mut times: Vec<UnixNanos> = panel
                .iter()
                .flat_map(|s| s.timestamps.iter().copied())
                .collect();
            times.sort_unstable();
            times.dedup();
            let cutoff = times[times.len().saturating_sub(p.bars as usize)];
            let range = TimeRange::from_bounds(Some(cutoff), None).map_err(bad)?;
            let ds = Dataset::build(&panel, &fs, None, Some(range)).map_err(bad)?;
            let preds: Vec<Prediction> = loaded.model.predict_batch(&ds.x).map_err(bad)?;
            let classes = if loaded.model.task() == Task::Classification {
                loaded.model.classes()
            } else {
                Vec::new()
            };
            let now = ctx.now();
            let rows: Vec<MlPrediction> = preds
                .iter()
                .enumerate()
                .map(|(i, pr)| MlPrediction {
                    execution_id: row.execution_id.clone(),
                    symbol: ds.symbols[ds.symbol_idx[i]].clone(),
                    ts: ds.timestamps[i],
                    horizon: loaded.meta.horizon as i64,
                    value: pr.value,
                    probs: if classes.is_empty() {
                        "{}".to_owned()
                    } else {
                        Value::Object(
                            classes
                                .iter()
                                .zip(&pr.probs)
                                .map(|(c, v)| (format!("{}", *c as i64), json!(v)))
                                .collect(),
                        )
                        .to_string()
                    },
                    created_at: now,
                })
                .collect();
            let stored = store.insert_ml_predictions(&rows).await?;
            total += stored;
            ctx.info(&format!(
                "{reference}: {} rows scored ({} symbols, {} {} bars from {}), {stored} new predictions stored",
                rows.len(),
                symbols.len(),
                row.venue,
                row.interval,
                cutoff.to_rfc3339()
            ))
            .await;
            served.push(json!({"model": reference, "scored": rows.len(), "stored": stored}));
        }
        if served.is_empty() {
            ctx.info("no production model trained on bars: nothing to predict (train one with the model_training job, promote=true)")
                .await;
        }
        Ok(json!({"models": served, "stored": total}))
    }
}

impl JobHandler for PredictionsHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: PredictionsParams = params(v)?;
            self.pass(ctx, p).await
        })
    }
}

/// Handler of `run_systems`.
#[derive(Debug)]
pub(crate) struct RunSystemsHandler;

impl RunSystemsHandler {
    async fn systems(&self, ctx: &JobContext, p: RunSystemsParams) -> Result<Value, JobError> {
        let store = ctx.store();
        let (symbols, venue, default_interval) = resolve_data(
            store,
            &p.symbols.0,
            p.venue.as_deref(),
            p.interval.as_deref(),
        )
        .await?;
        // `eod_<strategy>` by default: a strategy id of its own, apart from a live trader running the same strategy.
        let system = p
            .system
            .clone()
            .unwrap_or_else(|| format!("eod_{}", p.strategy));
        let strategy_params =
            tessera_strategy::Params::parse(p.params.0.iter().map(String::as_str)).map_err(bad)?;
        // Build once up front so an unknown strategy or bad parameter is a clear, permanent error.
        tessera_strategy::build(&p.strategy, &strategy_params).map_err(bad)?;
        let capital: Decimal = p
            .capital
            .trim()
            .parse()
            .map_err(|e| bad(format!("capital: {e}")))?;
        let cursors = store.list_cursors().await?;
        let mut out = Vec::new();
        for sym in &symbols {
            let id = InstrumentId::parse(sym, &venue).map_err(bad)?;
            let inst = store.instrument(&id).await?;
            let interval = match &p.interval {
                Some(i) => i.clone(),
                None => cursors
                    .iter()
                    .find(|c| c.instrument == id)
                    .map_or_else(|| default_interval.clone(), |c| c.interval.to_string()),
            };
            let iv = Interval::parse(&interval).map_err(bad)?;
            let span = iv
                .duration_nanos()
                .unwrap_or(31 * 86_400_000_000_000)
                .saturating_mul(i64::from(p.lookback_bars));
            let from = UnixNanos(ctx.now().0.saturating_sub(span));
            let bars = store
                .bars_range(
                    &id,
                    iv,
                    TimeRange::from_bounds(Some(from), None).map_err(bad)?,
                )
                .await?;
            let Some(last) = bars.last().copied() else {
                ctx.log(
                    "warn",
                    &format!(
                        "{id}: no {interval} bars in the last {} bars' time; skipped",
                        p.lookback_bars
                    ),
                )
                .await;
                continue;
            };
            let (strategy, sp, sys) = (p.strategy.clone(), strategy_params.clone(), system.clone());
            let n = bars.len();
            let inst2 = inst.clone();
            let target = tokio::task::spawn_blocking(move || -> Result<Decimal, String> {
                let series =
                    BarSeries::from_bars(inst2.clone(), &bars).map_err(|e| e.to_string())?;
                let s = tessera_strategy::build(&strategy, &sp).map_err(|e| e.to_string())?;
                let cash = Money::new(capital, inst2.quote_currency);
                let venue = SimVenue::new(SimConfig::new(cash));
                let clock = SimClock::new(UnixNanos(series.open_time[0]));
                let mut engine = Engine::new(clock, venue, vec![inst2.clone()], cash, Decimal::ONE)
                    .map_err(|e| e.to_string())?;
                engine.add_strategy(StrategyId::new(&sys).map_err(|e| e.to_string())?, s);
                let mut source =
                    SeriesSource::new(std::slice::from_ref(&series)).map_err(|e| e.to_string())?;
                let report = engine.run(&mut source).map_err(|e| e.to_string())?;
                Ok(report
                    .final_positions
                    .iter()
                    .find(|(i, _)| *i == inst2.id)
                    .map_or(Decimal::ZERO, |(_, q)| *q))
            })
            .await
            .map_err(|e| JobError::retryable(format!("system task: {e}")))?
            .map_err(|e| bad(format!("{system} on {id}: {e}")))?;
            let record = SystemTarget {
                system: system.clone(),
                strategy: p.strategy.clone(),
                instrument: id.to_string(),
                target: target.normalize().to_string(),
                price: last.close.to_string(),
                bar_time: last.open_time.to_rfc3339(),
                computed_at: ctx.now().to_rfc3339(),
            };
            let text = serde_json::to_string(&record).map_err(bad)?;
            store.set_state(&record.key(), &text).await?;
            ctx.info(&format!(
                "{system} ({} {}) on {id}: {n} {interval} bars to {}, target position {} at {}",
                p.strategy,
                p.params.0.join(" "),
                record.bar_time,
                record.target,
                record.price
            ))
            .await;
            out.push(serde_json::to_value(&record).map_err(bad)?);
        }
        if out.is_empty() {
            return Err(JobError::retryable(format!(
                "{system}: no symbol had bars; nothing computed"
            )));
        }
        Ok(json!({"system": system, "targets": out}))
    }
}

impl JobHandler for RunSystemsHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: RunSystemsParams = params(v)?;
            self.systems(ctx, p).await
        })
    }
}

/// Handler of `order_generation`.
#[derive(Debug)]
pub(crate) struct OrderGenerationHandler {
    /// The configured risk limits (or why they are invalid).
    pub(crate) limits: Result<RiskLimits, String>,
}

impl OrderGenerationHandler {
    async fn generate(
        &self,
        ctx: &JobContext,
        p: OrderGenerationParams,
    ) -> Result<Value, JobError> {
        let store = ctx.store();
        let account = p
            .account
            .clone()
            .unwrap_or_else(|| tessera_scheduler::builtin::DEFAULT_ORDER_ACCOUNT.into());
        let buffer: Decimal = p
            .buffer
            .trim()
            .parse()
            .map_err(|e| bad(format!("buffer: {e}")))?;
        let min_trade: Decimal = p
            .min_trade
            .trim()
            .parse()
            .map_err(|e| bad(format!("min_trade: {e}")))?;
        let risk = RiskEngine::new(self.limits.clone().map_err(bad)?).map_err(bad)?;
        let mut stored = Vec::new();
        for key in store.state_keys(TARGET_PREFIX).await? {
            let Some(text) = store.state(&key).await? else {
                continue;
            };
            let t: SystemTarget = serde_json::from_str(&text)
                .map_err(|e| bad(format!("stored target {key}: {e}")))?;
            if p.systems.0.is_empty() || p.systems.0.contains(&t.system) {
                stored.push(t);
            }
        }
        if stored.is_empty() {
            ctx.info("no stored target positions (run the run_systems job first): no orders")
                .await;
            return Ok(json!({"account": account, "orders": [], "targets": 0}));
        }
        let mut instruments: Vec<Instrument> = Vec::new();
        for t in &stored {
            let (sym, venue) = t
                .instrument
                .rsplit_once('.')
                .ok_or_else(|| bad(format!("stored target instrument {:?}", t.instrument)))?;
            let id = InstrumentId::parse(sym, venue).map_err(bad)?;
            if !instruments.iter().any(|i| i.id == id) {
                instruments.push(store.instrument(&id).await?);
            }
        }
        let ccy = instruments[0].quote_currency;
        let mut stack = OrderStack::load(store.clone(), &account, ccy, &instruments)
            .await
            .map_err(|e| JobError::retryable(e.to_string()))?;
        let mut targets = Vec::new();
        let mut prices = BTreeMap::new();
        for t in &stored {
            let inst = instruments
                .iter()
                .find(|i| i.id.to_string() == t.instrument)
                .expect("loaded above");
            let strategy = StrategyId::new(&t.system).map_err(bad)?;
            let held = stack
                .positions()
                .get(&(strategy.clone(), inst.id))
                .map_or(Decimal::ZERO, |p| p.quantity);
            // Working orders count as held, so a second run does not order the same gap again.
            let working: Decimal = stack
                .open_orders()
                .filter(|o| o.request.strategy == strategy && o.request.instrument == inst.id)
                .map(|o| {
                    let q = o.leaves_quantity().as_decimal();
                    if o.request.side == tessera_model::Side::Buy {
                        q
                    } else {
                        -q
                    }
                })
                .sum();
            let target: Decimal = t
                .target
                .parse()
                .map_err(|e| bad(format!("target {}: {e}", t.target)))?;
            let price: Price = t.price.parse().map_err(bad)?;
            prices.insert(inst.id, price);
            ctx.info(&format!(
                "{} {}: target {target}, held {held}, working {working}",
                t.system, inst.id
            ))
            .await;
            targets.push(Target {
                strategy,
                instrument: inst.id,
                target,
                current: held + working,
                lot: inst.lot_size,
            });
        }
        let requests =
            generate_orders(&targets, GeneratorConfig { buffer, min_trade }).map_err(bad)?;
        let now = ctx.now();
        let mut orders = Vec::new();
        for (n, req) in requests.into_iter().enumerate() {
            let line = format!(
                "{} {} {} {}",
                req.strategy, req.side, req.quantity, req.instrument
            );
            if p.dry_run {
                ctx.info(&format!("dry run: would order {line}")).await;
                orders.push(json!({"order": line, "status": "dry_run"}));
                continue;
            }
            let id = ClientOrderId::new(&format!("og{}a{}n{n}", ctx.job_id(), ctx.attempt()))
                .map_err(bad)?;
            let state = stack.risk_state(
                &req.strategy,
                &req.instrument,
                prices.get(&req.instrument).copied(),
                now,
            );
            let order = match risk.check(req.clone(), &state) {
                Ok(approved) => stack.create(id.clone(), approved, now).await,
                Err(refused) => {
                    ctx.log("warn", &format!("risk refused {line}: {refused}"))
                        .await;
                    stack
                        .store_refused(id.clone(), req, &refused.to_string(), now)
                        .await
                }
            }
            .map_err(|e| JobError::retryable(e.to_string()))?;
            ctx.info(&format!(
                "order {id} on the {account} stack: {line} ({})",
                order.status
            ))
            .await;
            orders.push(
                json!({"id": id.to_string(), "order": line, "status": order.status.to_string()}),
            );
        }
        if orders.is_empty() {
            ctx.info("every position is at its target (within the buffer): no orders")
                .await;
        }
        Ok(json!({"account": account, "targets": targets.len(), "orders": orders}))
    }
}

impl JobHandler for OrderGenerationHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let p: OrderGenerationParams = params(v)?;
            self.generate(ctx, p).await
        })
    }
}

/// The artefact store settings of the configuration (as `tessera model` opens them).
pub(crate) fn artefact_config(c: &crate::config::Config) -> ArtefactConfig {
    let a = &c.artefacts;
    let url = if a.url.is_empty() {
        c.data_dir.join("artefacts").display().to_string()
    } else {
        a.url.clone()
    };
    ArtefactConfig {
        url,
        namespace: a.namespace.clone(),
        s3_endpoint: a.s3_endpoint.clone(),
        s3_region: a.s3_region.clone(),
        s3_access_key_id: a.s3_access_key_id.clone(),
        s3_secret_access_key: a.s3_secret_access_key.clone(),
    }
}

/// Register this module's handlers.
pub(crate) fn wire(r: &mut tessera_scheduler::Registry, ctx: &super::Ctx) {
    let config = ctx.global.config.clone();
    let set = |r: &mut tessera_scheduler::Registry, name: &str, h: Arc<dyn JobHandler>| {
        r.set_handler(name, h).expect("built-in job type");
    };
    set(
        r,
        "backtest",
        Arc::new(BacktestHandler {
            config: config.clone(),
        }),
    );
    set(
        r,
        "sweep",
        Arc::new(SweepHandler {
            config: config.clone(),
        }),
    );
    set(
        r,
        "model_training",
        Arc::new(ModelTrainingHandler { config }),
    );
    set(
        r,
        "predictions",
        Arc::new(PredictionsHandler {
            artefacts: artefact_config(&ctx.config),
        }),
    );
    set(r, "run_systems", Arc::new(RunSystemsHandler));
    set(
        r,
        "order_generation",
        Arc::new(OrderGenerationHandler {
            limits: ctx.config.risk.limits().map_err(|e| format!("{e:#}")),
        }),
    );
    set(
        r,
        "backups",
        Arc::new(tessera_scheduler::backup::BackupsHandler {
            database_url: Some(ctx.config.database_url()),
        }),
    );
}
