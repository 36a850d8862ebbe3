//! `tessera backtest`, `tessera backtest list|show`, `tessera sweep`, `tessera walkforward`.
//!
//! The JSON printed with `--json` is a contract: `backtest` prints exactly the
//! keys of [`tessera_analysis::Stats`] (with `run_id`), `backtest show` the
//! same object from the database.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tessera_analysis::{PlotOptions, Stats, equity_svg};
use tessera_backtest::{
    BacktestConfig, BacktestResult, Constraint, Grid, SweepConfig, WalkForwardConfig, load_csv,
    run_backtest, run_strategy,
};
use tessera_core::{Clock, SystemClock, TimeRange, UnixNanos};
use tessera_engine::{BarSeries, Commission, FillModel, SimConfig, Slippage};
use tessera_model::{Currency, Interval, Money, Symbol, Venue};
use tessera_storage::{BacktestRun, BacktestTrade};
use tessera_strategy::Params;

use super::Ctx;
use crate::cli::{
    BacktestAction, BacktestArgs, BacktestRunArgs, CostArgs, DataArgs, SweepArgs, WalkforwardArgs,
};
use crate::output::{print_json, print_table};

/// Load the bars the data flags name: a CSV file or stored bars.
async fn load_series(ctx: &Ctx, d: &DataArgs) -> Result<(BarSeries, String)> {
    if let Some(path) = &d.csv {
        let s =
            load_csv(path).with_context(|| format!("cannot load bars from {}", path.display()))?;
        return Ok((s, path.display().to_string()));
    }
    let Some(symbol) = &d.symbol else {
        bail!("give the data: --csv FILE, or --symbol S --venue V --interval I")
    };
    let interval = Interval::parse(d.interval.as_deref().unwrap_or("1d")).context("--interval")?;
    let store = ctx.store().await?;
    let inst = store
        .find_instrument(
            Symbol::new(symbol)?,
            d.venue.as_deref().map(Venue::new).transpose()?,
        )
        .await?;
    let from = d
        .from
        .as_deref()
        .map(UnixNanos::parse)
        .transpose()
        .context("--from")?;
    let to =
        d.to.as_deref()
            .map(UnixNanos::parse)
            .transpose()
            .context("--to")?;
    let range = TimeRange::from_bounds(from, to)?;
    let bars = store.bars_range(&inst.id, interval, range).await?;
    if bars.is_empty() {
        bail!(
            "no {interval} bars stored for {} in that range; collect or import them first",
            inst.id
        );
    }
    let source = format!("db:{}:{interval}", inst.id);
    Ok((BarSeries::from_bars(inst, &bars)?, source))
}

fn sim_config(c: &CostArgs, currency: Currency) -> Result<SimConfig> {
    let dec = |s: &str, flag: &str| {
        Decimal::from_str_exact(s.trim())
            .with_context(|| format!("{flag} {s:?} is not a decimal number"))
    };
    let mut sim = SimConfig::new(Money::new(dec(&c.cash, "--cash")?, currency));
    sim.commission = Commission::rate(dec(&c.commission, "--commission")?);
    if let Some(b) = &c.slippage_bps {
        sim.slippage = Slippage::Bps(dec(b, "--slippage-bps")?);
    }
    sim.fill_model = c.fill.parse::<FillModel>().map_err(anyhow::Error::msg)?;
    if let Some(l) = &c.leverage {
        sim.leverage = dec(l, "--leverage")?;
    }
    sim.allow_short = !c.no_short;
    Ok(sim)
}

fn new_run_id(strategy: &str, params: &Params, source: &str) -> String {
    let now = SystemClock.now();
    let mut h = DefaultHasher::new();
    (strategy, params.to_string(), source, now.0).hash(&mut h);
    let stamp: String = now
        .to_rfc3339()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    format!("bt-{stamp}-{:06x}", h.finish() & 0xff_ffff)
}

/// Stats as the contract's JSON object.
fn stats_json(stats: &Stats) -> Result<Value> {
    Ok(serde_json::to_value(stats)?)
}

/// At most `n` points of a curve (evenly spaced, last kept), for storage.
fn decimate(ts: &[UnixNanos], eq: &[f64], n: usize) -> Vec<(UnixNanos, f64)> {
    let step = ts.len().div_ceil(n.max(1)).max(1);
    let mut out: Vec<(UnixNanos, f64)> = ts
        .iter()
        .zip(eq)
        .step_by(step)
        .map(|(t, e)| (*t, *e))
        .collect();
    if let (Some(t), Some(e)) = (ts.last(), eq.last())
        && out.last().map(|p| p.0) != Some(*t)
    {
        out.push((*t, *e));
    }
    out
}

async fn store_result(
    ctx: &Ctx,
    r: &BacktestResult,
    run_id: &str,
    started: UnixNanos,
) -> Result<()> {
    let store = ctx.store().await?;
    let run = BacktestRun {
        run_id: run_id.to_string(),
        strategy: r.metadata.strategy.clone(),
        params: serde_json::to_string(&r.metadata.params.0)?,
        instruments: r.metadata.instruments.join(","),
        interval: r.metadata.interval.clone(),
        data_from: r.metadata.data_from,
        data_to: r.metadata.data_to,
        bars: i64::try_from(r.metadata.bars).unwrap_or(i64::MAX),
        data_source: r.metadata.data_source.clone(),
        settings: serde_json::to_string(&r.metadata.sim)?,
        code_version: r.metadata.code_version.clone(),
        started_at: started,
        finished_at: SystemClock.now(),
        equity_final: r.stats.equity_final,
        return_pct: r.stats.return_pct,
        sharpe_ratio: r.stats.sharpe_ratio,
        max_drawdown_pct: r.stats.max_drawdown_pct,
        trades: i64::try_from(r.stats.trades).unwrap_or(i64::MAX),
        final_equity_exact: r.final_equity.clone(),
        stats: serde_json::to_string(&r.stats)?,
    };
    let trades: Vec<BacktestTrade> = r
        .trades
        .iter()
        .map(|t| BacktestTrade {
            instrument: t.instrument.to_string(),
            side: if t.is_long() {
                "long".into()
            } else {
                "short".into()
            },
            size: t.size.to_string(),
            entry_time: t.entry_time,
            exit_time: t.exit_time,
            entry_price: t.entry_price.to_string(),
            exit_price: t.exit_price.to_string(),
            pnl: t.pnl.normalize().to_string(),
            commission: t.commission.normalize().to_string(),
            return_pct: t.return_pct,
            entry_bar: i64::try_from(t.entry_bar).unwrap_or(i64::MAX),
            exit_bar: i64::try_from(t.exit_bar).unwrap_or(i64::MAX),
        })
        .collect();
    // The equity curve is stored decimated to 10,000 points: enough for charts, small for a million bars.
    store
        .insert_backtest(&run, &trades, &decimate(&r.timestamps, &r.equity, 10_000))
        .await?;
    Ok(())
}

fn print_stats_table(stats: &Value) {
    let rows: Vec<Vec<String>> = stats
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    vec![
                        k.clone(),
                        if v.is_null() {
                            "-".into()
                        } else {
                            v.to_string().trim_matches('"').to_string()
                        },
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    print_table(&["statistic", "value"], &rows);
}

/// `tessera backtest …`
pub(crate) async fn run(ctx: &Ctx, a: BacktestArgs) -> Result<()> {
    match a.action {
        Some(BacktestAction::List) => list(ctx).await,
        Some(BacktestAction::Show { run_id }) => show(ctx, &run_id).await,
        None => backtest(ctx, a.run).await,
    }
}

async fn backtest(ctx: &Ctx, a: BacktestRunArgs) -> Result<()> {
    let Some(strategy) = a.strategy.as_deref() else {
        bail!(
            "--strategy NAME is required (built-in: {}, or model with --param model=NAME[@VERSION])",
            tessera_strategy::BUILTIN_NAMES.join(", ")
        )
    };
    let started = SystemClock.now();
    let params = Params::parse(a.params.iter().map(String::as_str))?;
    let (series, source) = load_series(ctx, &a.data).await?;
    let sim = sim_config(&a.costs, series.instrument.quote_currency)?;
    let mut config = BacktestConfig::new(strategy, params.clone(), sim);
    config.data_source.clone_from(&source);
    // The `model` strategy needs the ML registry, so the binary builds it (tessera-ml).
    let mut model = None;
    let mut result = if strategy == tessera_ml::strategy::NAME {
        let (s, row, pinned) = super::model::backtest_strategy(ctx, &params, &series).await?;
        config.params = pinned;
        model = Some(row);
        run_strategy(&series, s, &config)?
    } else {
        run_backtest(&series, &config)?
    };
    if let Some(path) = &a.trades {
        std::fs::write(path, result.trades_csv())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.plot {
        write_plot(path, &result, &format!("{strategy} {params} on {source}"))?;
    }
    if !a.no_store {
        let id = new_run_id(strategy, &params, &source);
        store_result(ctx, &result, &id, started)
            .await
            .context("cannot store the run (use --no-store to skip)")?;
        if let Some(m) = &model {
            ctx.store()
                .await?
                .link_ml_backtest(&m.execution_id, &id, SystemClock.now())
                .await
                .context("cannot link the run to its model")?;
            if !ctx.global.json {
                // stdout stays the contract's JSON object under --json.
                println!(
                    "run {id} linked to model {}@{} (execution {})",
                    m.name, m.version, m.execution_id
                );
            }
        }
        result.stats.run_id = Some(id);
    }
    let json = stats_json(&result.stats)?;
    if ctx.global.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print_stats_table(&json);
    }
    Ok(())
}

fn write_plot(path: &Path, r: &BacktestResult, title: &str) -> Result<()> {
    let svg = equity_svg(
        &r.timestamps,
        &r.equity,
        &PlotOptions {
            title: title.to_string(),
            ..PlotOptions::default()
        },
    )?;
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

async fn list(ctx: &Ctx) -> Result<()> {
    let runs = ctx.store().await?.list_backtests().await?;
    if ctx.global.json {
        let out: Vec<Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run_id": r.run_id, "strategy": r.strategy,
                    "params": serde_json::from_str::<Value>(&r.params).unwrap_or(Value::Null),
                    "instruments": r.instruments, "interval": r.interval,
                    "data_from": r.data_from.to_rfc3339(), "data_to": r.data_to.to_rfc3339(), "bars": r.bars,
                    "started_at": r.started_at.to_rfc3339(), "return_pct": r.return_pct, "sharpe_ratio": r.sharpe_ratio,
                    "max_drawdown_pct": r.max_drawdown_pct, "trades": r.trades,
                })
            })
            .collect();
        return print_json(&out);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.run_id.clone(),
                r.strategy.clone(),
                r.params.clone(),
                r.instruments.clone(),
                format!(
                    "{}..{}",
                    &r.data_from.to_rfc3339()[..10],
                    &r.data_to.to_rfc3339()[..10]
                ),
                format!("{:.2}", r.return_pct),
                r.sharpe_ratio.map_or("-".into(), |s| format!("{s:.3}")),
                r.trades.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "run_id",
            "strategy",
            "params",
            "instruments",
            "data",
            "return_%",
            "sharpe",
            "trades",
        ],
        &rows,
    );
    Ok(())
}

async fn show(ctx: &Ctx, run_id: &str) -> Result<()> {
    let store = ctx.store().await?;
    let r = store.backtest(run_id).await?;
    let mut stats: Map<String, Value> =
        serde_json::from_str(&r.stats).context("stored statistics are not a JSON object")?;
    stats.insert("run_id".into(), Value::String(r.run_id.clone()));
    if ctx.global.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!(
        "run {}: {} {} on {} ({} bars, {}), code {}",
        r.run_id, r.strategy, r.params, r.instruments, r.bars, r.data_source, r.code_version
    );
    println!("settings: {}", r.settings);
    print_stats_table(&Value::Object(stats));
    let trades = store.backtest_trades(run_id).await?;
    println!("{} trades stored", trades.len());
    Ok(())
}

fn progress(total_hint: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total_hint);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

fn sweep_config(a: &SweepArgs, series: &BarSeries, source: &str) -> Result<SweepConfig> {
    let params = Params::parse(a.params.iter().map(String::as_str))?;
    let mut base = BacktestConfig::new(
        &a.strategy,
        params,
        sim_config(&a.costs, series.instrument.quote_currency)?,
    );
    base.data_source = source.to_string();
    if a.grid.is_empty() {
        bail!("give at least one --grid K=START:END:STEP");
    }
    Ok(SweepConfig {
        base,
        grid: Grid::parse(a.grid.iter().map(String::as_str))?,
        constraints: a
            .constraint
            .iter()
            .map(|c| Constraint::parse(c))
            .collect::<tessera_backtest::Result<_>>()?,
        metric: a.metric.clone(),
        top: a.top,
        random: a.random.map(|n| (n, a.seed)),
    })
}

fn params_json(p: &Params) -> Value {
    Value::Object(
        p.0.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.parse::<f64>()
                        .ok()
                        .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
                        .map_or_else(
                            || Value::String(v.clone()),
                            |n| {
                                if v.contains('.') {
                                    n
                                } else {
                                    v.parse::<i64>().map_or(n, |i| Value::Number(i.into()))
                                }
                            },
                        ),
                )
            })
            .collect(),
    )
}

/// `tessera sweep …`
pub(crate) async fn sweep(ctx: &Ctx, a: SweepArgs) -> Result<()> {
    super::model::refuse_in_sweep(&a.strategy, "sweep")?;
    let (series, source) = load_series(ctx, &a.data).await?;
    let cfg = sweep_config(&a, &series, &source)?;
    let planned = tessera_backtest::plan(&cfg)?.len();
    let pb = progress(planned as u64, "sweep");
    let rows = tessera_backtest::sweep(&series, &cfg, &|done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    if ctx.global.json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut o = stats_json(&r.stats).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut o {
                    m.insert("params".into(), params_json(&r.params));
                }
                o
            })
            .collect();
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let f = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.4}"));
            vec![
                r.params.to_string(),
                f(r.stats.metric(&cfg.metric)),
                format!("{:.2}", r.stats.return_pct),
                f(r.stats.sharpe_ratio),
                format!("{:.2}", r.stats.max_drawdown_pct),
                r.stats.trades.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "params",
            &cfg.metric,
            "return_%",
            "sharpe",
            "max_dd_%",
            "trades",
        ],
        &rows,
    );
    Ok(())
}

/// `tessera walkforward …`
pub(crate) async fn walkforward(ctx: &Ctx, a: WalkforwardArgs) -> Result<()> {
    super::model::refuse_in_sweep(&a.sweep.strategy, "walkforward")?;
    let (series, source) = load_series(ctx, &a.sweep.data).await?;
    let cfg = WalkForwardConfig {
        sweep: sweep_config(&a.sweep, &series, &source)?,
        train: a.train,
        test: a.test,
        anchored: a.anchored,
    };
    let pb = progress(0, "walk-forward windows");
    let r = tessera_backtest::walk_forward(&series, &cfg, &|done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    if ctx.global.json {
        let windows: Vec<Value> = r
            .windows
            .iter()
            .map(|w| {
                serde_json::json!({
                    "train_from": w.train_from, "train_to": w.train_to, "test_from": w.test_from, "test_to": w.test_to,
                    "test_start": w.test_start.to_rfc3339(), "test_end": w.test_end.to_rfc3339(),
                    "params": params_json(&w.best_params), "train_metric": w.train_metric,
                    "stats": stats_json(&w.test_stats).unwrap_or(Value::Null),
                })
            })
            .collect();
        let out = serde_json::json!({ "metric": cfg.sweep.metric, "anchored": a.anchored, "windows": windows, "oos": stats_json(&r.oos_stats)? });
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = r
        .windows
        .iter()
        .map(|w| {
            vec![
                format!("{}..{}", w.train_from, w.train_to),
                format!("{}..{}", w.test_from, w.test_to),
                w.best_params.to_string(),
                w.train_metric.map_or("-".into(), |v| format!("{v:.4}")),
                format!("{:.2}", w.test_stats.return_pct),
                w.test_stats.trades.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "train",
            "test",
            "best params",
            "train metric",
            "test return_%",
            "trades",
        ],
        &rows,
    );
    println!("out of sample:");
    print_stats_table(&stats_json(&r.oos_stats)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_decimate_keeps_last_point() {
        let ts: Vec<UnixNanos> = (0..25).map(UnixNanos).collect();
        let eq: Vec<f64> = (0..25).map(f64::from).collect();
        let d = decimate(&ts, &eq, 10);
        assert!(d.len() <= 11);
        assert_eq!(d.last(), Some(&(UnixNanos(24), 24.0)));
        assert_eq!(decimate(&ts, &eq, 100).len(), 25);
    }

    #[test]
    fn test_params_json_numbers() {
        let p = Params::new()
            .with("fast", 10)
            .with("x", "0.5")
            .with("mode", "long_only");
        assert_eq!(
            params_json(&p).to_string(),
            r#"{"fast":10,"mode":"long_only","x":0.5}"#
        );
    }
}
