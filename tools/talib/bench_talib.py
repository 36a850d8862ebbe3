#!/usr/bin/env python3
"""Times TA-Lib (PyPI `ta-lib`, C code) on the series the Rust bench uses and prints ratios.

The series: Binance.US BTCUSDT 1-minute bars from ../shared/data, tiled to 1M and 10M points,
exactly as crates/indicators/benches/indicators.rs builds it. Ratios are TA-Lib time / Rust
time (> 1.0 means Rust is faster), for the allocating functions (`ma::sma`) and for the
`_into` functions writing into reused buffers (`ma::sma_into`, TA-Lib's C calling style); both sides are best-of-N (criterion's fastest sample from
$CARGO_TARGET_DIR or target/, criterion/batch_<n>/<id>/new/sample.json).

Usage (repository root):
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 cargo bench -p tessera-indicators --bench indicators
    python3 tools/talib/bench_talib.py [--markdown]
or  python3 tools/talib/bench_talib.py --run-rust [--markdown]   (runs the bench with that tunable)

GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc >= 2.35) makes malloc madvise large blocks for
transparent huge pages, which numpy already does for its arrays of 4 MB and more; without it the
allocating Rust functions pay one page fault per 4 KiB of fresh output at 10M points.
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np
import talib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "crypto_klines_1m",
                    "binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv")
SIZES = [1_000_000, 10_000_000]
CASES = {
    "sma_30": lambda h, l, c: talib.SMA(c, 30),
    "ema_30": lambda h, l, c: talib.EMA(c, 30),
    "rsi_14": lambda h, l, c: talib.RSI(c, 14),
    "atr_14": lambda h, l, c: talib.ATR(h, l, c, 14),
    "macd_12_26_9": lambda h, l, c: talib.MACD(c, 12, 26, 9),
    "bbands_20_2_2": lambda h, l, c: talib.BBANDS(c, 20, 2.0, 2.0),
    "adx_14": lambda h, l, c: talib.ADX(h, l, c, 14),
}


def series(n):
    if not os.path.exists(DATA):
        if os.environ.get("CI") == "true":
            raise SystemExit(f"benchmark data {DATA} missing")
        print(f"WARNING: {DATA} missing; using a synthetic walk")
        c = 100 + np.sin(np.arange(n) * 0.001) * 10 + (np.arange(n) % 7) * 0.1
        return c + 0.5, c - 0.5, c
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1, usecols=(2, 3, 4))
    reps = -(-n // len(raw))
    tiled = np.tile(raw, (reps, 1))[:n]
    return [np.ascontiguousarray(tiled[:, i]) for i in range(3)]


def best_of(fn, args, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def rust_ns(group, n, case):
    """Fastest criterion sample (ns per run): the same statistic as best_of for TA-Lib, and the
    one least disturbed by other processes on a shared machine."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    path = os.path.join(target, "criterion", f"{group}_{n}", case, "new", "sample.json")
    try:
        with open(path) as f:
            sample = json.load(f)
        return min(t / i for t, i in zip(sample["times"], sample["iters"]))
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-rust", action="store_true", help="run the criterion bench first")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args()
    if args.run_rust:
        # numpy madvises arrays of 4 MB and more for transparent huge pages; this glibc tunable
        # gives Rust's Vec allocations the same treatment, so both sides pay the same page faults.
        env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.hugetlb=1")
        subprocess.run(["cargo", "bench", "-p", "tessera-indicators", "--bench", "indicators"], cwd=ROOT, check=True, env=env)
    rows = []
    for n in SIZES:
        h, l, c = series(n)
        for case, fn in CASES.items():
            fn(h, l, c)  # warm-up
            t = best_of(fn, (h, l, c), 7 if n <= 1_000_000 else 4)
            rows.append((n, case, t * 1e3, rust_ns("batch", n, case), rust_ns("into", n, case)))
    ms = lambda ns: None if ns is None else ns / 1e6
    if args.markdown:
        print("| indicator | points | TA-Lib (ms) | Rust `fn` (ms) | ratio | Rust `fn_into` (ms) | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for n, case, t_ms, alloc, into in rows:
        a, i = ms(alloc), ms(into)
        ra = "n/a" if a is None else f"{t_ms / a:.2f}x"
        ri = "n/a" if i is None else f"{t_ms / i:.2f}x"
        sa = "n/a" if a is None else f"{a:.2f}"
        si = "n/a" if i is None else f"{i:.2f}"
        if args.markdown:
            print(f"| {case} | {n:,} | {t_ms:.2f} | {sa} | {ra} | {si} | {ri} |")
        else:
            print(f"{case:<14} n={n:>10,}  TA-Lib {t_ms:8.2f} ms | Rust fn {sa:>8} ms {ra:>7} | fn_into {si:>8} ms {ri:>7}")


if __name__ == "__main__":
    main()
