#!/usr/bin/env python3
"""Training-time benchmark: tessera-ml vs scikit-learn and LightGBM on the same data, same run.

    pip install scikit-learn lightgbm numpy
    python3 tools/ml/bench_train.py [ROWS] [COLS] [--perpetual]   # default 1,000,000 × 20

Use a separate target folder for the release builds (CARGO_TARGET_DIR=/work/target-ml) so they
do not invalidate the shared debug build.

Generates seeded synthetic data (linear + non-linear signal + noise), writes it for the Rust
side (`cargo run --release -p tessera-ml --example bench_train`), fits ridge (alpha=1) and
boosted trees (100 trees, learning rate 0.1, depth 6, min 20 rows per leaf, L2 1, 255 bins)
in each library on the first 80 % and scores R² on the rest. Every library runs on one
thread (tessera-ml's GBT is single-threaded; BLAS is limited to one thread with threadpoolctl),
so the ratios compare algorithms, not cores.

`--perpetual` also builds and runs `tools/ml/perpetual_cmp` (the `perpetual` crate, outside the
workspace) on the same file, at budgets 0.5 and 1.0, one thread. Then it runs the prediction-
service latency example (`bench_predict`). Prints markdown for docs/benchmarks.md.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    perpetual = "--perpetual" in sys.argv
    rows = int(args[0]) if len(args) > 0 else 1_000_000
    cols = int(args[1]) if len(args) > 1 else 20
    rng = np.random.default_rng(42)
    x = rng.normal(size=(rows, cols))
    y = (x[:, :5] @ np.array([0.5, -0.3, 0.2, 0.1, -0.1]) + 0.3 * np.sin(x[:, 5]) + 0.2 * (x[:, 6] > 0) * x[:, 7]
         + rng.normal(scale=1.0, size=rows))
    n_train = rows * 4 // 5
    path = os.path.join(tempfile.gettempdir(), f"tessera_bench_{rows}_{cols}.f64")
    np.hstack([x, y[:, None]]).astype("<f8").tofile(path)

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "tessera-ml", "--example", "bench_train",
                    "--example", "bench_predict"], cwd=root, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    rust = subprocess.run([os.path.join(target, "release", "examples", "bench_train"), path, str(rows), str(cols)],
                          check=True, capture_output=True, text=True)
    r = json.loads(rust.stdout.strip().splitlines()[-1])

    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from threadpoolctl import threadpool_limits
    import lightgbm as lgb

    xtr, xte, ytr, yte = x[:n_train], x[n_train:], y[:n_train], y[n_train:]
    t = time.perf_counter()
    with threadpool_limits(limits=1):
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
    if perpetual:
        manifest = os.path.join(root, "tools", "ml", "perpetual_cmp", "Cargo.toml")
        subprocess.run(["cargo", "build", "-q", "--release", "--manifest-path", manifest], check=True)
        out = subprocess.run([os.path.join(target, "release", "perpetual-cmp"), path, str(rows), str(cols), "1", "0.5", "1.0"],
                             check=True, capture_output=True, text=True).stdout
        for line in out.strip().splitlines():
            p = json.loads(line)
            print(f"| perpetual 3.0.0-rc.2 budget {p['budget']} ({p['trees']} trees) vs LightGBM | {p['fit_s']:.2f} | {lgb_s:.2f} | "
                  f"{p['fit_s'] / lgb_s:.2f} | {p['test_r2']:.5f} | {lgb_r2:.5f} |")
    print(f"\nfeatures + model only, one new bar per symbol across 100 symbols ({r['latency_features']} streaming features, "
          f"one 100-tree GBT over the cross-section): p50 {r['latency_us_p50']:.1f} µs, p99 {r['latency_us_p99']:.1f} µs per bar")
    os.remove(path)

    svc = subprocess.run([os.path.join(target, "release", "examples", "bench_predict")],
                         check=True, capture_output=True, text=True).stdout
    print("\nprediction service (`PredictionService::on_bar`: streaming features, GBT, prediction stored), "
          "one new bar per symbol across 100 symbols, 200 minutes after a 1,200-bar warm-up:\n")
    print("| layout | database | models | per bar p50 (µs) | per bar p99 (µs) | per minute p50 (ms) | per minute p99 (ms) |")
    print("|---|---|---|---|---|---|---|")
    for line in svc.strip().splitlines():
        b = json.loads(line)
        print(f"| {b['layout']} | {b['database']} | {b['models']} | {b['bar_us_p50']:.0f} | {b['bar_us_p99']:.0f} | "
              f"{b['minute_ms_p50']:.1f} | {b['minute_ms_p99']:.1f} |")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
