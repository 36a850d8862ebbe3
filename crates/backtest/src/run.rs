//! One backtest: a strategy over a bar series on the simulated venue.

use serde::{Deserialize, Serialize};
use tessera_analysis::{Annualisation, StatsInput, compute_stats};
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{BarSeries, Engine, EngineReport, SeriesSource, SimConfig, SimVenue};
use tessera_model::StrategyId;
use tessera_strategy::{Params, Strategy};

use crate::error::{Error, Result};
use crate::precompute::Precomputed;
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

impl BacktestConfig {
    /// The reference benchmark run (docs/benchmarks.md, `tessera bench backtest` and the
    /// examples): `sma_cross` 10/20, cash 1,000,000 in `currency`, commission 0.1 %.
    #[must_use]
    pub fn benchmark(currency: tessera_model::Currency) -> Self {
        let mut sim = SimConfig::new(tessera_model::Money::new(
            rust_decimal::Decimal::from(1_000_000),
            currency,
        ));
        sim.commission = tessera_engine::Commission::rate(rust_decimal::Decimal::new(1, 3));
        Self::new(
            "sma_cross",
            Params::new().with("fast", 10).with("slow", 20),
            sim,
        )
    }
}

/// Build the named strategy and run it.
///
/// # Errors
/// Unknown strategy or parameters, engine errors, empty data.
pub fn run_backtest(series: &BarSeries, config: &BacktestConfig) -> Result<BacktestResult> {
    let strategy = prepare_strategy(series, &config.strategy, &config.params)?;
    run_strategy(series, strategy, config)
}

/// Build the named strategy for a replay of `series`: with its indicators computed once over
/// the series where it can read them so (see [`Precomputed`]), which lets the engine
/// fast-forward between its signals.
///
/// # Errors
/// Unknown strategy or parameters.
pub fn prepare_strategy(
    series: &BarSeries,
    strategy: &str,
    params: &Params,
) -> Result<Box<dyn Strategy>> {
    Precomputed::new(series, strategy, std::slice::from_ref(params)).build(params)
}

fn engine(
    series: &BarSeries,
    strategy: Box<dyn Strategy>,
    config: &BacktestConfig,
) -> Result<Engine<SimClock, SimVenue>> {
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
    Ok(engine)
}

/// Replay `series` through the engine and the simulated venue: the event loop alone, no
/// statistics. The report's `timestamps` are left empty: the equity points are one per bar of
/// `series`, labelled by `series.open_time` (callers that need them make them once, sweeps
/// never keep a copy per run).
///
/// # Errors
/// Engine errors, empty data.
pub fn run_engine(
    series: &BarSeries,
    strategy: Box<dyn Strategy>,
    config: &BacktestConfig,
) -> Result<EngineReport> {
    let mut engine = engine(series, strategy, config)?;
    engine.set_record_labels(false);
    let mut source = SeriesSource::new(std::slice::from_ref(series))?;
    Ok(engine.run(&mut source)?)
}

/// Statistics of one replay of `series` (labels and closes passed in, so sweeps share them).
///
/// # Errors
/// Statistics errors (e.g. mismatched lengths).
pub(crate) fn stats_of(
    report: &mut EngineReport,
    labels: &[UnixNanos],
    closes: &[f64],
    warmup: usize,
    annualisation: Annualisation,
) -> Result<tessera_analysis::Stats> {
    if let Some(last) = report.equity.last_mut() {
        // The exact final equity, so the last point carries no f64 accumulation.
        *last = report
            .final_equity
            .amount
            .to_string()
            .parse()
            .unwrap_or(*last);
    }
    Ok(compute_stats(&StatsInput {
        timestamps: labels,
        equity: &report.equity,
        closes,
        trades: &report.trades,
        first_trading_bar: warmup,
        annualisation,
    })?)
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
    // The labels are the series' own (one equity point per bar): made after the run, when the
    // strategy's precomputed indicators are gone, and the closes only while statistics are
    // computed — 8 bytes a bar less at the peak each. (The drawdown curve is not kept:
    // `tessera_analysis::drawdown_curve` derives it from the equity curve where a chart needs it.)
    let mut report = run_engine(series, strategy, config)?;
    report.timestamps = series.timestamps();
    let stats = {
        let closes = series.closes_f64();
        let timestamps = std::mem::take(&mut report.timestamps);
        let stats = stats_of(
            &mut report,
            &timestamps,
            &closes,
            warmup,
            config.annualisation,
        )?;
        report.timestamps = timestamps;
        stats
    };
    let equity = report.equity;
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
        stats,
        trades: report.trades,
        timestamps: report.timestamps,
        equity,
        final_equity: report.final_equity.to_string(),
        commissions_paid: report.commissions_paid.to_string(),
    })
}
