//! Sweeps and walk-forward on real data.

use std::sync::atomic::{AtomicUsize, Ordering};

use rust_decimal::Decimal;
use tessera_backtest::{
    BacktestConfig, Constraint, Grid, SweepConfig, WalkForwardConfig, load_csv, run_backtest,
    sweep, walk_forward,
};
use tessera_engine::{Commission, SimConfig};
use tessera_model::Money;
use tessera_strategy::Params;

use crate::common::data;

fn base() -> BacktestConfig {
    let mut sim = SimConfig::new(Money::parse("10000 USD").unwrap());
    sim.commission = Commission::rate(Decimal::new(2, 3));
    BacktestConfig::new("sma_cross", Params::new(), sim)
}

#[test]
fn test_sweep_matches_single_runs_and_sorts() {
    let Some(path) = data("goog_daily_2004_2013_backtestingpy.csv") else {
        return;
    };
    let series = load_csv(&path).unwrap();
    let cfg = SweepConfig {
        base: base(),
        grid: Grid::parse(["fast=5:20:5", "slow=10:40:10"]).unwrap(),
        constraints: vec![Constraint::parse("fast<slow").unwrap()],
        metric: "sharpe_ratio".into(),
        top: Some(5),
        random: None,
    };
    let calls = AtomicUsize::new(0);
    let rows = sweep(&series, &cfg, &|_, _| {
        calls.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    // 4 × 4 combinations, minus fast ≥ slow: (10,10), (15,10), (20,10), (20,20).
    assert_eq!(calls.load(Ordering::Relaxed), 12);
    assert_eq!(rows.len(), 5);
    for w in rows.windows(2) {
        assert!(w[0].stats.sharpe_ratio.unwrap() >= w[1].stats.sharpe_ratio.unwrap());
    }
    // Crosses from the sweep's shared SMAs give exactly the single-run result (crosses
    // streamed over the series), for every row.
    for row in &rows {
        let single = run_backtest(
            &series,
            &BacktestConfig {
                params: row.params.clone(),
                ..base()
            },
        )
        .unwrap();
        assert_eq!(single.stats, row.stats, "{}", row.params);
    }
    // The classic 10/20 is in the grid; its statistics are the parity-tested ones.
    let all = sweep(&series, &SweepConfig { top: None, ..cfg }, &|_, _| {}).unwrap();
    let classic = all
        .iter()
        .find(|r| r.params.to_string() == "fast=10,slow=20")
        .unwrap();
    assert_eq!(classic.stats.trades, 93);
}

#[test]
fn test_sweep_of_a_strategy_without_shared_indicators_matches_single_runs() {
    let Some(path) = data("eurusd_1h_2017_2018_backtestingpy.csv") else {
        return;
    };
    let series = load_csv(&path).unwrap();
    let mut sim = SimConfig::new(Money::parse("10000 USD").unwrap());
    sim.commission = Commission::rate(Decimal::new(2, 4));
    let base = BacktestConfig::new("rsi_reversion", Params::new(), sim);
    let cfg = SweepConfig {
        base: base.clone(),
        grid: Grid::parse(["period=7:21:7", "lower=20,30", "upper=70,80"]).unwrap(),
        constraints: vec![],
        metric: "return_pct".into(),
        top: None,
        random: None,
    };
    let rows = sweep(&series, &cfg, &|_, _| {}).unwrap();
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().any(|r| r.stats.trades > 0));
    for row in &rows {
        let single = run_backtest(
            &series,
            &BacktestConfig {
                params: row.params.clone(),
                ..base.clone()
            },
        )
        .unwrap();
        assert_eq!(single.stats, row.stats, "{}", row.params);
    }
}

#[test]
fn test_walk_forward_rolling_and_anchored() {
    let Some(path) = data("goog_daily_2004_2013_backtestingpy.csv") else {
        return;
    };
    let series = load_csv(&path).unwrap();
    let sweep_cfg = SweepConfig {
        base: base(),
        grid: Grid::parse(["fast=5:15:5", "slow=20:40:10"]).unwrap(),
        constraints: vec![Constraint::parse("fast<slow").unwrap()],
        metric: "return_pct".into(),
        top: None,
        random: None,
    };
    for anchored in [false, true] {
        let cfg = WalkForwardConfig {
            sweep: sweep_cfg.clone(),
            train: 500,
            test: 250,
            anchored,
        };
        let r = walk_forward(&series, &cfg, &|_, _| {}).unwrap();
        // 2148 bars: test windows start at 500, 750, …, 2000 → 7 windows.
        assert_eq!(r.windows.len(), 7, "anchored={anchored}");
        assert_eq!(r.windows[0].test_from, 500);
        assert_eq!(r.windows[6].test_to, 2148);
        assert_eq!(r.windows[1].train_from, if anchored { 0 } else { 250 });
        assert_eq!(r.oos_equity.len(), 2148 - 500);
        assert_eq!(r.oos_stats.trades as usize, r.oos_trades.len());
        assert!(r.oos_trades.iter().all(|t| t.entry_bar >= 500));
        let per_window: u64 = r.windows.iter().map(|w| w.test_stats.trades).sum();
        assert_eq!(per_window, r.oos_stats.trades);
    }
    let bad = WalkForwardConfig {
        sweep: sweep_cfg,
        train: 5000,
        test: 10,
        anchored: false,
    };
    assert!(walk_forward(&series, &bad, &|_, _| {}).is_err());
}
