//! Whole-process benchmark path: parse a CSV, run `sma_cross` 10/20, print the statistics as JSON.
//!
//! `cargo run --release -p tessera-backtest --example backtest_csv -- FILE.csv` does what
//! `tessera backtest --strategy sma_cross --csv FILE.csv --no-store --json` does, without the
//! binary's configuration and runtime start-up, so `/usr/bin/time` on it measures the library alone.

use rust_decimal::Decimal;
use tessera_backtest::{BacktestConfig, load_csv, run_backtest};
use tessera_engine::{Commission, SimConfig};
use tessera_model::Money;
use tessera_strategy::Params;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: backtest_csv FILE.csv");
        std::process::exit(2);
    };
    let series = match load_csv(std::path::Path::new(&path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let mut sim = SimConfig::new(Money::new(
        Decimal::from(1_000_000),
        series.instrument.quote_currency,
    ));
    sim.commission = Commission::rate(Decimal::new(1, 3));
    let cfg = BacktestConfig::new(
        "sma_cross",
        Params::new().with("fast", 10).with("slow", 20),
        sim,
    );
    match run_backtest(&series, &cfg) {
        Ok(r) => println!("{}", serde_json::to_string(&r.stats).unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
