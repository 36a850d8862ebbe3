//! Training-time and prediction-latency benchmark, driven by `tools/ml/bench_train.py`.
//!
//! `cargo run --release -p tessera-ml --example bench_train -- DATA.f64 ROWS COLS` reads
//! `ROWS × (COLS + 1)` little-endian f64 values (features then target per row, as the Python
//! script writes them), fits ridge and GBT with the same settings the script gives
//! scikit-learn and LightGBM, and prints one JSON object of timings and test scores. It then
//! measures one-new-bar prediction latency for 100 symbols (streaming features + GBT).

use std::time::Instant;

use tessera_core::UnixNanos;
use tessera_indicators::Ohlcv;
use tessera_ml::models::{Gbt, Ridge};
use tessera_ml::stream::StreamingFeatures;
use tessera_ml::{Matrix, Params, metrics};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, rows, cols) = (
        &args[1],
        args[2].parse::<usize>().unwrap(),
        args[3].parse::<usize>().unwrap(),
    );
    let bytes = std::fs::read(path).unwrap();
    let vals: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let n_train = rows * 4 / 5;
    let mut x = Vec::with_capacity(rows * cols);
    let mut y = Vec::with_capacity(rows);
    for r in 0..rows {
        x.extend_from_slice(&vals[r * (cols + 1)..r * (cols + 1) + cols]);
        y.push(vals[r * (cols + 1) + cols]);
    }
    let train = Matrix::new(n_train, cols, x[..n_train * cols].to_vec()).unwrap();
    let test = Matrix::new(rows - n_train, cols, x[n_train * cols..].to_vec()).unwrap();
    let (ytr, yte) = (&y[..n_train], &y[n_train..]);

    let t = Instant::now();
    let ridge = Ridge::fit(&train, ytr, &Params::parse(&["alpha=1"]).unwrap()).unwrap();
    let ridge_s = t.elapsed().as_secs_f64();
    let p: Vec<f64> = (0..test.rows).map(|i| ridge.predict(test.row(i))).collect();
    let ridge_r2 = metrics::r2(yte, &p);

    let t = Instant::now();
    let gbt = Gbt::fit(
        &train,
        ytr,
        false,
        &Params::parse(&[
            "n_trees=100",
            "learning_rate=0.1",
            "max_depth=6",
            "min_samples_leaf=20",
            "lambda=1",
            "max_bins=255",
        ])
        .unwrap(),
    )
    .unwrap();
    let gbt_s = t.elapsed().as_secs_f64();
    let p: Vec<f64> = (0..test.rows).map(|i| gbt.predict(test.row(i))).collect();
    let gbt_r2 = metrics::r2(yte, &p);

    // Latency: 100 symbols, warm streaming features, then one new bar per symbol.
    let fs = "rsi:14,macd:12,26,9,ret:1,ret:5,atr:14,bbands:20,2,2,sma:10,sma:50,ema:20,roc:10,willr:14,cci:20,adx:14,mfi:14,obv,stddev:20";
    let symbols: Vec<String> = (0..100).map(|s| format!("S{s}")).collect();
    let mut sf = StreamingFeatures::new(fs, &symbols).unwrap();
    let k = sf.names().len();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut price = vec![100.0f64; 100];
    let mut state = 1u64;
    let mut rnd = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let bar = |p: &mut f64, r: f64| {
        let o = *p;
        *p *= 1.0 + r * 0.01;
        Ohlcv {
            open: o,
            high: o.max(*p) * 1.001,
            low: o.min(*p) * 0.999,
            close: *p,
            volume: 1000.0,
        }
    };
    for i in 0..600 {
        for (s, px) in price.iter_mut().enumerate() {
            let b = bar(px, rnd());
            for (_, row) in sf.push(s, UnixNanos(i * 60_000_000_000), b) {
                for r in row.into_iter().filter(|r| r.iter().all(|v| v.is_finite())) {
                    xs.extend(r);
                    ys.push(rnd());
                }
            }
        }
    }
    let live = Gbt::fit(
        &Matrix::new(ys.len(), k, xs).unwrap(),
        &ys,
        false,
        &Params::parse(&["n_trees=100"]).unwrap(),
    )
    .unwrap();
    let mut lat = Vec::new();
    for i in 600..1100 {
        for (s, px) in price.iter_mut().enumerate() {
            let b = bar(px, rnd());
            let t = Instant::now();
            for (_, row) in sf.push(s, UnixNanos(i * 60_000_000_000), b) {
                for r in row {
                    std::hint::black_box(live.predict(&r));
                }
            }
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    lat.sort_by(f64::total_cmp);
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize];
    println!(
        "{}",
        serde_json::json!({
            "rows": rows, "cols": cols,
            "ridge_fit_s": ridge_s, "ridge_test_r2": ridge_r2,
            "gbt_fit_s": gbt_s, "gbt_test_r2": gbt_r2,
            "latency_us_p50": q(0.5), "latency_us_p99": q(0.99), "latency_features": k,
        })
    );
}
