//! One backtest: a strategy over a bar series on the simulated venue.

use serde::{Deserialize, Serialize};
use tessera_analysis::{Annualisation, StatsInput, compute_stats, drawdown_curve};
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{BarSeries, Engine, EngineReport, SeriesSource, SimConfig, SimVenue};
use tessera_model::StrategyId;
use tessera_strategy::{Params, Strategy, build};

use crate::error::{Error, Result};
use crate::result::{BacktestResult, RunMetadata};

/// Settings of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    /// Built-in strategy name.
    pub strategy: String,
    /// Its parameters.
    pub params: Params,
    /// Venue settings.
    pub sim: SimConfig,
    /// How statistics annualise.
    pub annualisation: Annualisation,
    /// Where the data came from, for the metadata.
    pub data_source: String,
    /// Record equity before strategies act on each bar (backtesting.py's sampling with
    /// `trade_on_close=True`); see [`tessera_engine::Engine::set_equity_before_strategies`].
    #[serde(default)]
    pub equity_before_strategies: bool,
}

impl BacktestConfig {
    /// A run of `strategy` with `params` on `sim`, default annualisation.
    #[must_use]
    pub fn new(strategy: &str, params: Params, sim: SimConfig) -> Self {
        Self {
            strategy: strategy.to_string(),
            params,
            sim,
            annualisation: Annualisation::Auto,
            data_source: String::new(),
            equity_before_strategies: false,
        }
    }
}

/// Build the named strategy and run it.
///
/// # Errors
/// Unknown strategy or parameters, engine errors, empty data.
pub fn run_backtest(series: &BarSeries, config: &BacktestConfig) -> Result<BacktestResult> {
    let strategy = build(&config.strategy, &config.params)?;
    run_strategy(series, strategy, config)
}

/// Replay `series` through the engine and the simulated venue: the event loop alone, no statistics.
///
/// # Errors
/// Engine errors, empty data.
pub fn run_engine(
    series: &BarSeries,
    strategy: Box<dyn Strategy>,
    config: &BacktestConfig,
) -> Result<EngineReport> {
    if series.is_empty() {
        return Err(Error::Config("no bars to replay".into()));
    }
    let clock = SimClock::new(UnixNanos(series.open_time[0]));
    let venue = SimVenue::new(config.sim.clone());
    let mut engine = Engine::new(
        clock,
        venue,
        vec![series.instrument.clone()],
        config.sim.cash,
        config.sim.leverage,
    )?;
    engine.set_equity_before_strategies(config.equity_before_strategies);
    engine.add_strategy(StrategyId::new(strategy.name())?, strategy);
    let mut source = SeriesSource::new(std::slice::from_ref(series))?;
    Ok(engine.run(&mut source)?)
}

/// Run an already built strategy (sweeps pass ones sharing precomputed indicators).
///
/// # Errors
/// Engine errors, empty data.
pub fn run_strategy(
    series: &BarSeries,
    strategy: Box<dyn Strategy>,
    config: &BacktestConfig,
) -> Result<BacktestResult> {
    let warmup = strategy.warmup_bars();
    let report = run_engine(series, strategy, config)?;
    let mut equity = report.equity;
    if let Some(last) = equity.last_mut() {
        // The exact final equity, so the last point carries no f64 accumulation.
        *last = report
            .final_equity
            .amount
            .to_string()
            .parse()
            .unwrap_or(*last);
    }
    // The closes live only while statistics are computed, so they and the drawdown curve
    // (built below) are never held at once: 8 bytes a bar less at the peak.
    let stats = {
        let closes = series.closes_f64();
        compute_stats(&StatsInput {
            timestamps: &report.timestamps,
            equity: &equity,
            closes: &closes,
            trades: &report.trades,
            first_trading_bar: warmup,
            annualisation: config.annualisation,
        })?
    };
    Ok(BacktestResult {
        metadata: RunMetadata {
            strategy: config.strategy.clone(),
            params: config.params.clone(),
            instruments: vec![series.instrument.id.to_string()],
            interval: series.interval.to_string(),
            data_from: UnixNanos(series.open_time[0]),
            data_to: UnixNanos(series.open_time[series.len() - 1]),
            bars: series.len(),
            data_source: config.data_source.clone(),
            sim: config.sim.clone(),
            code_version: env!("CARGO_PKG_VERSION").to_string(),
        },
        drawdown: drawdown_curve(&equity),
        stats,
        trades: report.trades,
        timestamps: report.timestamps,
        equity,
        final_equity: report.final_equity.to_string(),
        commissions_paid: report.commissions_paid.to_string(),
    })
}
