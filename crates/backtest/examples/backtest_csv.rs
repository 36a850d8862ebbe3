//! Whole-process benchmark path: parse a CSV, run `sma_cross` 10/20, print the statistics as JSON.
//!
//! `cargo run --release -p tessera-backtest --example backtest_csv -- FILE.csv` does what
//! `tessera backtest --strategy sma_cross --csv FILE.csv --no-store --json` does, without the
//! binary's configuration and runtime start-up, so `/usr/bin/time` on it measures the library alone.

use tessera_backtest::{BacktestConfig, load_csv, run_backtest};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: backtest_csv FILE.csv");
        std::process::exit(2);
    };
    let t0 = std::time::Instant::now();
    let series = match load_csv(std::path::Path::new(&path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let cfg = BacktestConfig::benchmark(series.instrument.quote_currency);
    let t1 = std::time::Instant::now();
    match run_backtest(&series, &cfg) {
        Ok(r) => {
            let t2 = std::time::Instant::now();
            println!("{}", serde_json::to_string(&r.stats).unwrap_or_default());
            // Phase timings on stderr, so stdout stays the statistics alone.
            eprintln!(
                "parse_s={:.4} run_s={:.4}",
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
