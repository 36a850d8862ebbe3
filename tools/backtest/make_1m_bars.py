#!/usr/bin/env python3
"""Write N one-minute bars by looping the real Binance.US BTCUSDT candles.

The 30,240 real candles (../shared/data/crypto_klines_1m) are repeated with
times shifted by whole copies; every second copy runs backwards in time (bars
in reverse order, open and close swapped), so the series joins without a gap
and prices stay at their real levels (19.6k .. 28.4k). Output header:
timestamp,open,high,low,close,volume. Usage (from the repository root):

    python3 tools/backtest/make_1m_bars.py 1000000 /tmp/btcusdt_1m_1M.csv
"""
import csv
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SRC = Path(__file__).resolve().parents[2].parent / "shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/btcusdt_1m_1M.csv")
    rows = list(csv.reader(SRC.open()))[1:]
    t0 = datetime(2023, 3, 1, tzinfo=timezone.utc)
    with out.open("w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        i = 0
        copy = 0
        while i < n:
            seq = rows if copy % 2 == 0 else [[r[0], r[4], r[2], r[3], r[1], r[5]] for r in reversed(rows)]
            for r in seq:
                if i >= n:
                    break
                t = t0 + timedelta(minutes=i)
                f.write(f"{t:%Y-%m-%dT%H:%M:%S},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]}\n")
                i += 1
            copy += 1
    print(f"wrote {n} bars to {out}")


if __name__ == "__main__":
    main()
