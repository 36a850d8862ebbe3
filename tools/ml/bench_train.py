#!/usr/bin/env python3
"""Training-time benchmark: tessera-ml vs scikit-learn and LightGBM on the same data, same run.

    pip install scikit-learn lightgbm numpy
    python3 tools/ml/bench_train.py [ROWS] [COLS]      # default 1,000,000 × 20

Generates seeded synthetic data (linear + non-linear signal + noise), writes it for the Rust
side (`cargo run --release -p tessera-ml --example bench_train`), fits ridge (alpha=1) and
boosted trees (100 trees, learning rate 0.1, depth 6, min 20 rows per leaf, L2 1, 255 bins)
in each library on the first 80 % and scores R² on the rest. Every library runs on one
thread (tessera-ml's GBT is single-threaded), so the ratios compare algorithms, not cores.
Prints a markdown table for docs/benchmarks.md.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    cols = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rng = np.random.default_rng(42)
    x = rng.normal(size=(rows, cols))
    y = (x[:, :5] @ np.array([0.5, -0.3, 0.2, 0.1, -0.1]) + 0.3 * np.sin(x[:, 5]) + 0.2 * (x[:, 6] > 0) * x[:, 7]
         + rng.normal(scale=1.0, size=rows))
    n_train = rows * 4 // 5
    path = os.path.join(tempfile.gettempdir(), f"tessera_bench_{rows}_{cols}.f64")
    np.hstack([x, y[:, None]]).astype("<f8").tofile(path)

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rust = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "tessera-ml", "--example", "bench_train", "--", path, str(rows), str(cols)],
        cwd=root, check=True, capture_output=True, text=True)
    r = json.loads(rust.stdout.strip().splitlines()[-1])

    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    import lightgbm as lgb

    xtr, xte, ytr, yte = x[:n_train], x[n_train:], y[:n_train], y[n_train:]
    t = time.perf_counter()
    m = Ridge(alpha=1.0).fit(xtr, ytr)
    sk_ridge = time.perf_counter() - t
    sk_ridge_r2 = r2_score(yte, m.predict(xte))
    t = time.perf_counter()
    g = lgb.LGBMRegressor(n_estimators=100, learning_rate=0.1, max_depth=6, num_leaves=63, min_child_samples=20,
                          reg_lambda=1.0, max_bin=255, n_jobs=1, verbose=-1).fit(xtr, ytr)
    lgb_s = time.perf_counter() - t
    lgb_r2 = r2_score(yte, g.predict(xte))

    print(f"rows {rows:,} × {cols} features (train {n_train:,}), one thread each\n")
    print("| model | tessera-ml fit (s) | reference fit (s) | ratio tessera/reference | tessera test R² | reference test R² |")
    print("|---|---|---|---|---|---|")
    print(f"| ridge vs scikit-learn Ridge | {r['ridge_fit_s']:.3f} | {sk_ridge:.3f} | {r['ridge_fit_s'] / sk_ridge:.2f} | {r['ridge_test_r2']:.5f} | {sk_ridge_r2:.5f} |")
    print(f"| GBT vs LightGBM | {r['gbt_fit_s']:.2f} | {lgb_s:.2f} | {r['gbt_fit_s'] / lgb_s:.2f} | {r['gbt_test_r2']:.5f} | {lgb_r2:.5f} |")
    print(f"\nprediction latency, one new bar per symbol across 100 symbols ({r['latency_features']} streaming features + 100-tree GBT): "
          f"p50 {r['latency_us_p50']:.1f} µs, p99 {r['latency_us_p99']:.1f} µs per bar")
    os.remove(path)


if __name__ == "__main__":
    main()
