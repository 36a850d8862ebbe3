#!/usr/bin/env python3
"""Print demo 1-minute bars as CSV (timestamp,open,high,low,close,volume): a seeded
random walk from 2024-01-01T00:00:00Z, for API fuzzing, benchmarks and screenshots."""
import argparse
import random

ap = argparse.ArgumentParser()
ap.add_argument("--days", type=int, default=1)
ap.add_argument("--seed", type=int, default=7)
a = ap.parse_args()
rnd = random.Random(a.seed)
p = 42000.0
t0 = 1704067200
print("timestamp,open,high,low,close,volume")
for i in range(a.days * 1440):
    o = p
    c = max(1.0, p + rnd.gauss(0, 8))
    h = max(o, c) + abs(rnd.gauss(0, 3))
    l = min(o, c) - abs(rnd.gauss(0, 3))
    p = c
    print(f"{t0 + i * 60},{o:.2f},{h:.2f},{l:.2f},{c:.2f},{rnd.uniform(0.1, 50):.4f}")
