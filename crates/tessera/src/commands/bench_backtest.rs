//! `tessera bench backtest`: `sma_cross` 10/20 on a million one-minute bars.
//!
//! Measures, on the same CSV file (by default written here from the real
//! Binance.US BTCUSDT candles of `../shared/data` exactly as
//! `tools/backtest/make_1m_bars.py` writes it):
//!
//! - the whole process: this binary started again as
//!   `tessera backtest --strategy sma_cross … --csv FILE --no-store --json`
//!   (start-up, CSV parse, run, statistics, JSON), best wall time of a few runs;
//! - the same work in a child that reports its own peak RSS (`VmHWM`);
//! - CSV parse alone, engine alone (bars/s: the SMAs computed once, timed with the run,
//!   quiet bars fast-forwarded, as `tessera backtest` runs; and bar by bar with streaming
//!   SMAs) and engine plus statistics, in process;
//! - a sweep of 100 parameter pairs (fast 5..50 × slow 60..240) on all cores,
//!   with the peak RSS of this process after it.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tessera_backtest::{
    BacktestConfig, Constraint, Grid, SweepConfig, load_csv, prepare_strategy, run_backtest,
    run_engine, sweep,
};
use tessera_strategy::Params;

use super::Ctx;
use crate::cli::BenchBacktestArgs;
use crate::output::print_table;

const SEED_CSV: &str =
    "../shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv";

#[derive(Debug, Serialize)]
struct Report {
    csv: String,
    bars: usize,
    trades: usize,
    whole_process_s: f64,
    whole_process_bars_per_s: f64,
    child_peak_rss_mb: f64,
    csv_parse_s: f64,
    engine_s: f64,
    engine_bars_per_s: f64,
    engine_bar_by_bar_bars_per_s: f64,
    engine_and_stats_s: f64,
    sweep_pairs: usize,
    sweep_s: f64,
    sweep_threads: usize,
    peak_rss_mb: f64,
}

/// `VmHWM` of this process in MiB (0 where `/proc` is missing).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Write `n` bars looping the seed candles, every second copy backwards (as `make_1m_bars.py`).
fn write_bars(seed: &Path, n: usize, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(seed).with_context(|| format!("cannot read {}", seed.display()))?;
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    if rows.is_empty() || rows.iter().any(|r| r.len() < 6) {
        bail!("{}: expected rows of at least 6 columns", seed.display());
    }
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    writeln!(w, "timestamp,open,high,low,close,volume")?;
    // 2023-03-01T00:00:00Z
    let t0 = 1_677_628_800_i64;
    let m = rows.len();
    for i in 0..n {
        let (copy, k) = (i / m, i % m);
        let t = tessera_core::UnixNanos((t0 + 60 * i as i64) * 1_000_000_000);
        let stamp = &t.to_rfc3339()[..19];
        let r = if copy % 2 == 0 {
            let r = &rows[k];
            [r[1], r[2], r[3], r[4], r[5]]
        } else {
            let r = &rows[m - 1 - k];
            [r[4], r[2], r[3], r[1], r[5]]
        };
        writeln!(w, "{stamp},{},{},{},{},{}", r[0], r[1], r[2], r[3], r[4])?;
    }
    w.flush()?;
    Ok(())
}

/// The hidden child mode: parse, run, statistics; print timings and peak RSS.
fn child(csv: &Path) -> Result<()> {
    let t = Instant::now();
    let series = load_csv(csv)?;
    let parse_s = t.elapsed().as_secs_f64();
    let r = run_backtest(
        &series,
        &BacktestConfig::benchmark(series.instrument.quote_currency),
    )?;
    println!(
        "{}",
        serde_json::json!({
            "parse_s": parse_s,
            "total_s": t.elapsed().as_secs_f64(),
            "trades": r.stats.trades,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
    Ok(())
}

pub(crate) fn backtest(ctx: &Ctx, a: &BenchBacktestArgs) -> Result<()> {
    if let Some(csv) = &a.child {
        return child(csv);
    }
    let csv = match &a.csv {
        Some(p) => p.clone(),
        None => {
            let p = std::env::temp_dir().join(format!("tessera_bench_1m_{}.csv", a.bars));
            if !p.exists() {
                eprintln!("writing {} bars to {}", a.bars, p.display());
                write_bars(Path::new(SEED_CSV), a.bars, &p)?;
            }
            p
        }
    };
    let exe = std::env::current_exe().context("cannot locate this binary")?;
    let csv_arg = csv.display().to_string();

    // Whole process through the real CLI path.
    let mut whole = f64::INFINITY;
    let repeat = a.repeat.max(1);
    for _ in 0..repeat {
        let t = Instant::now();
        let out = Command::new(&exe)
            .args([
                "backtest",
                "--strategy",
                "sma_cross",
                "--param",
                "fast=10",
                "--param",
                "slow=20",
                "--csv",
                &csv_arg,
                "--cash",
                "1000000",
                "--commission",
                "0.001",
                "--no-store",
                "--json",
            ])
            .output()
            .context("cannot start tessera backtest")?;
        let dt = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "tessera backtest failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        whole = whole.min(dt);
    }
    // Peak RSS of the same work in a fresh process.
    let out = Command::new(&exe)
        .args(["bench", "backtest", "--child", &csv_arg])
        .output()
        .context("cannot start the child run")?;
    if !out.status.success() {
        bail!("child run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let child: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let child_rss = child["peak_rss_mb"].as_f64().unwrap_or(0.0);

    // In process: parse, engine, engine + statistics.
    let t = Instant::now();
    let series = load_csv(&csv)?;
    let parse_s = t.elapsed().as_secs_f64();
    let cfg = BacktestConfig::benchmark(series.instrument.quote_currency);
    let (mut engine, mut bar_by_bar, mut with_stats, mut trades) =
        (f64::INFINITY, f64::INFINITY, f64::INFINITY, 0);
    for _ in 0..repeat {
        // As `tessera backtest` runs it: SMAs computed once (timed too), quiet bars fast-forwarded.
        let t = Instant::now();
        let strategy = prepare_strategy(&series, &cfg.strategy, &cfg.params)?;
        let report = run_engine(&series, strategy, &cfg)?;
        engine = engine.min(t.elapsed().as_secs_f64());
        trades = report.trades.len();
        // Streaming SMAs: every bar through the strategy and the venue.
        let strategy = tessera_strategy::build(&cfg.strategy, &cfg.params)?;
        let t = Instant::now();
        run_engine(&series, strategy, &cfg)?;
        bar_by_bar = bar_by_bar.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        run_backtest(&series, &cfg)?;
        with_stats = with_stats.min(t.elapsed().as_secs_f64());
    }

    // Sweep.
    let sweep_cfg = SweepConfig {
        base: BacktestConfig {
            params: Params::new(),
            ..cfg
        },
        grid: Grid::parse(["fast=5:50:5", "slow=60:240:20"])?,
        constraints: vec![Constraint::parse("fast<slow")?],
        metric: "sharpe_ratio".into(),
        top: Some(5),
        random: None,
    };
    let t = Instant::now();
    let rows = sweep(&series, &sweep_cfg, &|_, _| {})?;
    let sweep_s = t.elapsed().as_secs_f64();
    let n = series.len();
    let report = Report {
        csv: csv_arg,
        bars: n,
        trades,
        whole_process_s: whole,
        whole_process_bars_per_s: n as f64 / whole,
        child_peak_rss_mb: child_rss,
        csv_parse_s: parse_s,
        engine_s: engine,
        engine_bars_per_s: n as f64 / engine,
        engine_bar_by_bar_bars_per_s: n as f64 / bar_by_bar,
        engine_and_stats_s: with_stats,
        sweep_pairs: sweep_cfg.grid.combinations(&Params::new()).len(),
        sweep_s,
        sweep_threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        peak_rss_mb: peak_rss_mb(),
    };
    if ctx.global.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let best = rows
        .first()
        .map(|r| r.params.to_string())
        .unwrap_or_default();
    let f = |x: f64| format!("{x:.3}");
    print_table(
        &["measure", "value"],
        &[
            vec!["bars".into(), n.to_string()],
            vec!["round trips".into(), trades.to_string()],
            vec![
                "whole process (s)".into(),
                format!("{} ({:.0} bars/s)", f(whole), n as f64 / whole),
            ],
            vec![
                "whole process peak RSS (MB)".into(),
                format!("{child_rss:.1}"),
            ],
            vec!["CSV parse (s)".into(), f(parse_s)],
            vec![
                "engine only (s)".into(),
                format!("{} ({:.0} bars/s)", f(engine), n as f64 / engine),
            ],
            vec![
                "engine bar by bar, streaming SMAs (bars/s)".into(),
                format!("{:.0}", report.engine_bar_by_bar_bars_per_s),
            ],
            vec!["engine + statistics (s)".into(), f(with_stats)],
            vec![
                format!(
                    "sweep of {} pairs, {} threads (s)",
                    report.sweep_pairs, report.sweep_threads
                ),
                format!("{} (best {best})", f(sweep_s)),
            ],
            vec![
                "peak RSS after sweep (MB)".into(),
                format!("{:.1}", report.peak_rss_mb),
            ],
        ],
    );
    Ok(())
}
