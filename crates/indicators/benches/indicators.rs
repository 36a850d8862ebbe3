//! Batch throughput of the indicators TA-Lib is usually benchmarked on, at 1M and 10M points.
//!
//! Input: the Binance.US BTCUSDT 1-minute bars from `../shared/data`, tiled to the size
//! (`tools/talib/bench_talib.py` builds the same series for TA-Lib and prints the ratios).
//! Run: `cargo bench -p tessera-indicators --bench indicators`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tessera_indicators::{directional, ma, momentum, volatility};

const DATA: &str =
    "../../../shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv";

/// High, low, close of the real bars tiled to `n` points; missing data fails under `CI=true`.
fn series(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "benchmark data {} missing: {e}",
                path.display()
            );
            eprintln!(
                "WARNING: benchmark data {} missing ({e}); using a synthetic walk",
                path.display()
            );
            let c: Vec<f64> = (0..n)
                .map(|i| 100.0 + ((i as f64) * 0.001).sin() * 10.0 + (i % 7) as f64 * 0.1)
                .collect();
            return (
                c.iter().map(|x| x + 0.5).collect(),
                c.iter().map(|x| x - 0.5).collect(),
                c,
            );
        }
    };
    let rows: Vec<[f64; 3]> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .skip(2)
                .take(3)
                .map(|x| x.parse().expect("number"))
                .collect();
            [f[0], f[1], f[2]]
        })
        .collect();
    let (mut h, mut l, mut c) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in rows.iter().cycle().take(n) {
        h.push(r[0]);
        l.push(r[1]);
        c.push(r[2]);
    }
    (h, l, c)
}

fn bench(crit: &mut Criterion) {
    for n in [1_000_000usize, 10_000_000] {
        let (h, l, c) = series(n);
        let mut g = crit.benchmark_group(format!("batch_{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(if n > 1_000_000 { 4 } else { 2 }));
        g.bench_function(BenchmarkId::from_parameter("sma_30"), |b| {
            b.iter(|| ma::sma(black_box(&c), 30))
        });
        g.bench_function(BenchmarkId::from_parameter("ema_30"), |b| {
            b.iter(|| ma::ema(black_box(&c), 30))
        });
        g.bench_function(BenchmarkId::from_parameter("rsi_14"), |b| {
            b.iter(|| momentum::rsi(black_box(&c), 14))
        });
        g.bench_function(BenchmarkId::from_parameter("atr_14"), |b| {
            b.iter(|| volatility::atr(black_box(&h), black_box(&l), black_box(&c), 14))
        });
        g.bench_function(BenchmarkId::from_parameter("macd_12_26_9"), |b| {
            b.iter(|| momentum::macd(black_box(&c), 12, 26, 9))
        });
        g.bench_function(BenchmarkId::from_parameter("bbands_20_2_2"), |b| {
            b.iter(|| volatility::bbands(black_box(&c), 20, 2.0, 2.0))
        });
        g.bench_function(BenchmarkId::from_parameter("adx_14"), |b| {
            b.iter(|| directional::adx(black_box(&h), black_box(&l), black_box(&c), 14))
        });
        g.finish();

        // The `_into` faces write into buffers the caller reuses, as TA-Lib's C API does; this
        // leaves out the allocator and the kernel's page faults on fresh output memory.
        let mut g = crit.benchmark_group(format!("into_{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(if n > 1_000_000 { 4 } else { 2 }));
        let (mut o1, mut o2, mut o3) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        g.bench_function(BenchmarkId::from_parameter("sma_30"), |b| {
            b.iter(|| ma::sma_into(black_box(&c), 30, &mut o1))
        });
        g.bench_function(BenchmarkId::from_parameter("ema_30"), |b| {
            b.iter(|| ma::ema_into(black_box(&c), 30, &mut o1))
        });
        g.bench_function(BenchmarkId::from_parameter("rsi_14"), |b| {
            b.iter(|| momentum::rsi_into(black_box(&c), 14, &mut o1))
        });
        g.bench_function(BenchmarkId::from_parameter("atr_14"), |b| {
            b.iter(|| {
                volatility::atr_into(black_box(&h), black_box(&l), black_box(&c), 14, &mut o1)
            })
        });
        g.bench_function(BenchmarkId::from_parameter("macd_12_26_9"), |b| {
            b.iter(|| momentum::macd_into(black_box(&c), 12, 26, 9, &mut o1, &mut o2, &mut o3))
        });
        g.bench_function(BenchmarkId::from_parameter("bbands_20_2_2"), |b| {
            b.iter(|| {
                volatility::bbands_into(black_box(&c), 20, 2.0, 2.0, &mut o1, &mut o2, &mut o3)
            })
        });
        g.bench_function(BenchmarkId::from_parameter("adx_14"), |b| {
            b.iter(|| {
                directional::adx_into(black_box(&h), black_box(&l), black_box(&c), 14, &mut o1)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
