//! Engine-only profile path: parse a CSV once, then replay it `R` times through `run_engine`
//! (`sma_cross` 10/20, commission 0.1 %), printing bars/s per repeat.
//!
//! `cargo run --release -p tessera-backtest --example engine_only -- FILE.csv [R]`; with
//! `SWEEP_GRID="fast=5:50:5 slow=60:240:20"` runs that sweep instead. With
//! `perf stat -e instructions:u` at R = 0 and R = 5 the difference is the engine's cost per bar,
//! independent of machine load.

use std::time::Instant;

use tessera_backtest::{
    BacktestConfig, Constraint, Grid, SweepConfig, load_csv, prepare_strategy, run_engine, sweep,
};
use tessera_strategy::Params;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: engine_only FILE.csv [REPEATS]");
        std::process::exit(2);
    };
    let repeats: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let series = load_csv(std::path::Path::new(&path)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let cfg = BacktestConfig::benchmark(series.instrument.quote_currency);
    if let Ok(grid) = std::env::var("SWEEP_GRID") {
        // e.g. SWEEP_GRID="fast=5:50:5 slow=60:240:20" (the benchmark's 100 pairs)
        let t = Instant::now();
        let rows = sweep(
            &series,
            &SweepConfig {
                base: BacktestConfig {
                    params: Params::new(),
                    ..cfg
                },
                grid: Grid::parse(grid.split_whitespace()).expect("grid"),
                constraints: vec![Constraint::parse("fast<slow").expect("constraint")],
                metric: "sharpe_ratio".into(),
                top: None,
                random: None,
            },
            &|_, _| {},
        )
        .expect("sweep");
        println!(
            "sweep_runs={} sweep_s={:.3}",
            rows.len(),
            t.elapsed().as_secs_f64()
        );
        return;
    }
    for _ in 0..repeats {
        let t = Instant::now();
        let strategy = prepare_strategy(&series, &cfg.strategy, &cfg.params).expect("strategy");
        let report = run_engine(&series, strategy, &cfg).expect("run");
        let s = t.elapsed().as_secs_f64();
        println!(
            "engine_s={s:.4} bars_per_s={:.0} trades={} fills={} refused={}",
            series.len() as f64 / s,
            report.trades.len(),
            report.fills.len(),
            report.refused_orders.len()
        );
    }
}
