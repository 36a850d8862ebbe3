#!/usr/bin/env python3
"""Regenerate the backtesting.py parity fixtures used by `crates/backtest/tests`.

Runs backtesting.py (pip install backtesting==0.6.6) on the shared real data
and stores every statistic (raw, unrounded: durations in seconds) and every
closed trade as JSON under tools/backtest/fixtures/. Run from the repository
root:

    python3 tools/backtest/backtestingpy_fixtures.py
"""
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import backtesting
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import SMA

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "fixtures"


class SmaCross(Strategy):
    """backtesting.py's classic example (README / docs), unchanged."""
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


def num(x):
    """JSON number or null for NaN/inf/None."""
    if x is None:
        return None
    if isinstance(x, pd.Timedelta):
        return None if pd.isna(x) else x.total_seconds()
    x = float(x)
    return None if (math.isnan(x) or math.isinf(x)) else x


def load(name):
    df = pd.read_csv(DATA / name, index_col="timestamp", parse_dates=True)
    df.columns = ["Open", "High", "Low", "Close", "Volume"]
    return df


def run_case(case):
    df = load(case["csv"])
    bt = Backtest(df, SmaCross, cash=case["cash"], commission=case["commission"],
                  exclusive_orders=True, trade_on_close=case["trade_on_close"], finalize_trades=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = bt.run(n1=case["fast"], n2=case["slow"])
    eq = s["_equity_curve"]
    tr = s["_trades"]
    dd_dur = eq["DrawdownDuration"].dropna()
    stats = {
        "start": str(s["Start"]),
        "end": str(s["End"]),
        "duration_s": num(s["Duration"]),
        "exposure_time_pct": num(s["Exposure Time [%]"]),
        "equity_final": num(s["Equity Final [$]"]),
        "equity_peak": num(s["Equity Peak [$]"]),
        "return_pct": num(s["Return [%]"]),
        "buy_hold_return_pct": num(s["Buy & Hold Return [%]"]),
        "return_ann_pct": num(s["Return (Ann.) [%]"]),
        "cagr_pct": num(s.get("CAGR [%]")),
        "volatility_ann_pct": num(s["Volatility (Ann.) [%]"]),
        "sharpe_ratio": num(s["Sharpe Ratio"]),
        "sortino_ratio": num(s["Sortino Ratio"]),
        "calmar_ratio": num(s["Calmar Ratio"]),
        "max_drawdown_pct": num(s["Max. Drawdown [%]"]),
        "avg_drawdown_pct": num(s["Avg. Drawdown [%]"]),
        # Raw (not ceiled to the data resolution as backtesting.py prints them).
        "max_drawdown_duration_s": num(dd_dur.max()) if len(dd_dur) else None,
        "avg_drawdown_duration_s": num(dd_dur.mean()) if len(dd_dur) else None,
        "trades": int(s["# Trades"]),
        "win_rate_pct": num(s["Win Rate [%]"]),
        "best_trade_pct": num(s["Best Trade [%]"]),
        "worst_trade_pct": num(s["Worst Trade [%]"]),
        "avg_trade_pct": num(s["Avg. Trade [%]"]),
        "max_trade_duration_s": num(tr["Duration"].max()) if len(tr) else None,
        "avg_trade_duration_s": num(tr["Duration"].mean()) if len(tr) else None,
        "profit_factor": num(s["Profit Factor"]),
        "expectancy_pct": num(s["Expectancy [%]"]),
        "sqn": num(s["SQN"]),
        "commissions": num(s.get("Commissions [$]", 0.0)),
    }
    trades = [
        {
            "size": int(r.Size),
            "entry_bar": int(r.EntryBar),
            "exit_bar": int(r.ExitBar),
            "entry_price": float(r.EntryPrice),
            "exit_price": float(r.ExitPrice),
            "pnl": float(r.PnL),
            "commission": float(r.Commission),
            "return_pct": float(r.ReturnPct) * 100,
            "entry_time": str(r.EntryTime),
            "exit_time": str(r.ExitTime),
        }
        for r in tr.itertuples()
    ]
    return {
        "tool": f"backtesting.py {backtesting.__version__}",
        "case": case,
        "stats": stats,
        "printed": {k: str(v) for k, v in s.items() if not k.startswith("_")},
        "equity": [float(x) for x in eq["Equity"].values],
        "trades": trades,
    }


CASES = [
    {"name": "goog_sma_cross_10_20", "csv": "goog_daily_2004_2013_backtestingpy.csv", "fast": 10, "slow": 20,
     "cash": 10000, "commission": 0.002, "trade_on_close": False},
    {"name": "eurusd_1h_sma_cross_10_30", "csv": "eurusd_1h_2017_2018_backtestingpy.csv", "fast": 10, "slow": 30,
     "cash": 10000, "commission": 0.0002, "trade_on_close": False},
    {"name": "goog_sma_cross_5_50_close", "csv": "goog_daily_2004_2013_backtestingpy.csv", "fast": 5, "slow": 50,
     "cash": 100000, "commission": 0.001, "trade_on_close": True},
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for case in CASES:
        if only and case["name"] not in only:
            continue
        res = run_case(case)
        path = OUT / f"backtestingpy_{case['name']}.json"
        path.write_text(json.dumps(res, indent=1) + "\n")
        print(f"{path.relative_to(ROOT)}: {res['stats']['trades']} trades, equity {res['stats']['equity_final']:.6f}")


if __name__ == "__main__":
    main()
