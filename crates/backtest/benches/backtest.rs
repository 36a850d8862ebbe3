//! Backtest throughput on a million one-minute bars (run with `cargo bench -p tessera-backtest`).
//!
//! Bars: `TESSERA_BENCH_CSV` (made by `tools/backtest/make_1m_bars.py`), or
//! else the real Binance.US BTCUSDT minutes of `../shared/data` looped
//! forwards and backwards in memory to 1,000,000 bars. Prints one JSON
//! object: CSV parse time, engine-only bars/s for `sma_cross` 10/20, a
//! 100-pair sweep, and the peak RSS of this process.

use std::path::PathBuf;
use std::time::Instant;

use rust_decimal::Decimal;
use tessera_backtest::{
    BacktestConfig, Constraint, Grid, SweepConfig, load_csv, run_backtest, sweep,
};
use tessera_engine::{BarSeries, Commission, SimConfig};
use tessera_model::Money;
use tessera_strategy::Params;

fn looped(seed: &BarSeries, n: usize) -> BarSeries {
    let mut s = seed.slice(0, 0);
    let step = seed.open_time[1] - seed.open_time[0];
    let t0 = seed.open_time[0];
    let m = seed.len();
    for i in 0..n {
        let (copy, k) = (i / m, i % m);
        let (j, rev) = if copy % 2 == 0 {
            (k, false)
        } else {
            (m - 1 - k, true)
        };
        s.open_time.push(t0 + i as i64 * step);
        let (o, c) = if rev {
            (seed.close[j], seed.open[j])
        } else {
            (seed.open[j], seed.close[j])
        };
        s.open.push(o);
        s.high.push(seed.high[j]);
        s.low.push(seed.low[j]);
        s.close.push(c);
        s.volume.push(seed.volume[j]);
    }
    s
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (series, parse_s, source) = if let Ok(p) = std::env::var("TESSERA_BENCH_CSV") {
        let t = Instant::now();
        let s = load_csv(std::path::Path::new(&p)).expect("bench CSV");
        (s, Some(t.elapsed().as_secs_f64()), p)
    } else {
        let p = root
            .join("../shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv");
        let seed = load_csv(&p).unwrap_or_else(|e| panic!("bench needs {} ({e})", p.display()));
        (
            looped(&seed, 1_000_000),
            None,
            format!("{} looped", p.display()),
        )
    };
    let n = series.len();
    let mut sim = SimConfig::new(Money::new(
        Decimal::from(1_000_000),
        series.instrument.quote_currency,
    ));
    sim.commission = Commission::rate(Decimal::new(1, 3));
    let cfg = BacktestConfig::new(
        "sma_cross",
        Params::new().with("fast", 10).with("slow", 20),
        sim.clone(),
    );
    let mut best = f64::INFINITY;
    let mut trades = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let r = run_backtest(&series, &cfg).expect("run");
        best = best.min(t.elapsed().as_secs_f64());
        trades = r.stats.trades;
    }
    let sweep_cfg = SweepConfig {
        base: BacktestConfig::new("sma_cross", Params::new(), sim),
        grid: Grid::parse(["fast=5:50:5", "slow=60:240:20"]).expect("grid"),
        constraints: vec![Constraint::parse("fast<slow").expect("constraint")],
        metric: "sharpe_ratio".into(),
        top: Some(5),
        random: None,
    };
    let t = Instant::now();
    let rows = sweep(&series, &sweep_cfg, &|_, _| {}).expect("sweep");
    let sweep_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "source": source, "bars": n, "csv_parse_s": parse_s,
            "engine_s": best, "engine_bars_per_s": n as f64 / best, "trades": trades,
            "sweep_pairs": 100, "sweep_s": sweep_s, "sweep_best": rows[0].params.to_string(),
            "threads": rayon::current_num_threads(), "peak_rss_mb": peak_rss_kb() as f64 / 1024.0,
        })
    );
}
