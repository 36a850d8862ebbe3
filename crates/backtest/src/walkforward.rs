//! Walk-forward analysis: optimise on a train window, trade the next test window.
//!
//! Windows are counted in bars. Rolling: train `[k·test, k·test + train)`,
//! test the `test` bars after it. Anchored: train always starts at bar 0 and
//! grows by `test` each step. Each test run starts flat with the configured
//! cash; it is replayed from up to `warmup` bars before the window (so
//! indicators are warm at its first bar) but only the test bars count. The
//! out-of-sample equity curve chains the test windows (each window's curve
//! scaled to where the previous one ended); its statistics are reported
//! separately from the in-sample (train) ones.

use serde::{Deserialize, Serialize};
use tessera_analysis::{Stats, StatsInput, TradeRecord, compute_stats};
use tessera_core::UnixNanos;
use tessera_engine::BarSeries;
use tessera_strategy::{Params, build};

use crate::error::{Error, Result};
use crate::run::{BacktestConfig, run_backtest};
use crate::sweep::{SweepConfig, sweep};

/// Walk-forward settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardConfig {
    /// The sweep run on every train window (its `top` is ignored).
    pub sweep: SweepConfig,
    /// Train window length in bars.
    pub train: usize,
    /// Test window length in bars.
    pub test: usize,
    /// Anchored (growing) rather than rolling train windows.
    pub anchored: bool,
}

/// One train/test step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardWindow {
    /// First train bar (index into the input).
    pub train_from: usize,
    /// One past the last train bar.
    pub train_to: usize,
    /// First test bar.
    pub test_from: usize,
    /// One past the last test bar.
    pub test_to: usize,
    /// Label of the first test bar.
    pub test_start: UnixNanos,
    /// Label of the last test bar.
    pub test_end: UnixNanos,
    /// Parameters chosen on the train window.
    pub best_params: Params,
    /// Their in-sample value of the metric.
    pub train_metric: Option<f64>,
    /// Out-of-sample statistics of the window.
    pub test_stats: Stats,
}

/// All windows and the chained out-of-sample result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardResult {
    /// The steps.
    pub windows: Vec<WalkForwardWindow>,
    /// Statistics of the chained out-of-sample equity curve and trades.
    pub oos_stats: Stats,
    /// Out-of-sample trades (bar indices into the input).
    pub oos_trades: Vec<TradeRecord>,
    /// Labels of the out-of-sample curve.
    pub oos_timestamps: Vec<UnixNanos>,
    /// Chained out-of-sample equity.
    pub oos_equity: Vec<f64>,
}

/// Run the walk-forward; `progress` gets `(window, windows)` after each window.
///
/// # Errors
/// [`Error::Config`] for zero lengths or data shorter than one train plus one test window;
/// sweep and run errors.
pub fn walk_forward(
    series: &BarSeries,
    config: &WalkForwardConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<WalkForwardResult> {
    let n = series.len();
    if config.train == 0 || config.test == 0 {
        return Err(Error::Config(
            "train and test windows must be at least one bar".into(),
        ));
    }
    if config.train + 1 > n {
        return Err(Error::Config(format!(
            "{n} bars cannot hold a {}-bar train window and a test window",
            config.train
        )));
    }
    let mut bounds = Vec::new();
    let mut k = 0;
    loop {
        let (a, b) = if config.anchored {
            (0, config.train + k * config.test)
        } else {
            (k * config.test, k * config.test + config.train)
        };
        if b >= n {
            break;
        }
        bounds.push((a, b, (b + config.test).min(n)));
        k += 1;
    }
    let total = bounds.len();
    let cash: f64 = config
        .sweep
        .base
        .sim
        .cash
        .amount
        .to_string()
        .parse()
        .unwrap_or(1.0);
    let mut windows = Vec::with_capacity(total);
    let (mut oos_ts, mut oos_eq, mut oos_trades) = (Vec::new(), Vec::new(), Vec::new());
    let mut scale = 1.0;
    let first_test = bounds.first().map_or(0, |b| b.1);
    for (w, &(a, b, c)) in bounds.iter().enumerate() {
        let train = series.slice(a, b);
        let cfg = SweepConfig {
            top: Some(1),
            ..config.sweep.clone()
        };
        let rows = sweep(&train, &cfg, &|_, _| {})?;
        let best = rows
            .into_iter()
            .next()
            .ok_or_else(|| Error::Config(format!("window {w}: the sweep produced no run")))?;
        let warm = build(&config.sweep.base.strategy, &best.params)?
            .warmup_bars()
            .min(b);
        let test_series = series.slice(b - warm, c);
        let run = run_backtest(
            &test_series,
            &BacktestConfig {
                params: best.params.clone(),
                ..config.sweep.base.clone()
            },
        )?;
        let ts = &run.timestamps[warm..];
        let eq = &run.equity[warm..];
        let closes: Vec<f64> = test_series.closes_f64()[warm..].to_vec();
        let trades: Vec<TradeRecord> = run
            .trades
            .iter()
            .filter(|t| t.entry_bar >= warm)
            .map(|t| TradeRecord {
                entry_bar: t.entry_bar - warm,
                exit_bar: t.exit_bar - warm,
                ..t.clone()
            })
            .collect();
        let test_stats = compute_stats(&StatsInput {
            timestamps: ts,
            equity: eq,
            closes: &closes,
            trades: &trades,
            first_trading_bar: 0,
            annualisation: config.sweep.base.annualisation,
        })?;
        oos_ts.extend_from_slice(ts);
        oos_eq.extend(eq.iter().map(|e| e * scale));
        let offset = b - first_test;
        oos_trades.extend(trades.into_iter().map(|t| TradeRecord {
            entry_bar: t.entry_bar + offset,
            exit_bar: t.exit_bar + offset,
            ..t
        }));
        if let Some(last) = eq.last() {
            scale *= last / cash;
        }
        windows.push(WalkForwardWindow {
            train_from: a,
            train_to: b,
            test_from: b,
            test_to: c,
            test_start: UnixNanos(series.open_time[b]),
            test_end: UnixNanos(series.open_time[c - 1]),
            train_metric: best.stats.metric(&config.sweep.metric),
            best_params: best.params,
            test_stats,
        });
        progress(w + 1, total);
    }
    let closes = series.closes_f64()[first_test..].to_vec();
    let oos_stats = compute_stats(&StatsInput {
        timestamps: &oos_ts,
        equity: &oos_eq,
        closes: &closes[..oos_eq.len().min(closes.len())],
        trades: &oos_trades,
        first_trading_bar: 0,
        annualisation: config.sweep.base.annualisation,
    })?;
    // Trades keep input bar indices in the result.
    for t in &mut oos_trades {
        t.entry_bar += first_test;
        t.exit_bar += first_test;
    }
    Ok(WalkForwardResult {
        windows,
        oos_stats,
        oos_trades,
        oos_timestamps: oos_ts,
        oos_equity: oos_eq,
    })
}
