#!/usr/bin/env python3
"""Regenerate the backtrader parity fixture used by `crates/backtest/tests` (parity_backtrader.rs).

Runs backtrader (pip install backtrader==1.9.78.123) on GOOG daily with the
conventions Tessera can match exactly and stores every closed trade and the
equity after every bar as JSON under tools/backtest/fixtures/. Run from the
repository root:

    python3 tools/backtest/backtrader_fixtures.py

Matched conventions (see docs/backtest.md, "backtrader"):
- SMA cross 10/20, long/short, on each cross close and reverse (`self.close(); self.buy()/sell()`);
- fixed size of 10 shares (Tessera `--param size=10`): backtrader's `order_target_*` and percent
  sizers size on the signal bar's close, backtesting.py's and Tessera's default on the fill price;
- market orders fill at the next bar's open (backtrader's default; Tessera `--fill next-open`);
- commission a fraction of notional per fill (`setcommission(commission=0.002)`);
- equity = broker value after each bar (`broker.getvalue()` in `next`).
"""
import json
from pathlib import Path

import backtrader as bt
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "fixtures"

CASE = {"csv": "goog_daily_2004_2013_backtestingpy.csv", "fast": 10, "slow": 20, "size": 10,
        "cash": 10000, "commission": 0.002}


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 20), ("size", 10))

    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.equity = []
        self.trades = []
        self.fills = []

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append({"bar": len(self.data) - 1, "price": order.executed.price,
                               "size": order.executed.size, "commission": order.executed.comm})

    def notify_trade(self, trade):
        if trade.isclosed:
            self.trades.append({
                "entry_bar": trade.baropen - 1, "exit_bar": trade.barclose - 1,
                "entry_price": trade.price, "pnl": trade.pnl, "pnl_net": trade.pnlcomm,
                "commission": trade.commission, "long": trade.long,
            })

    def next(self):
        if self.cross > 0:
            self.close()
            self.buy(size=self.p.size)
        elif self.cross < 0:
            self.close()
            self.sell(size=self.p.size)
        self.equity.append(self.broker.getvalue())


def main():
    df = pd.read_csv(DATA / CASE["csv"], index_col="timestamp", parse_dates=True)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df, open="open", high="high", low="low", close="close",
                                        volume="volume", openinterest=None))
    cerebro.addstrategy(SmaCross, fast=CASE["fast"], slow=CASE["slow"], size=CASE["size"])
    cerebro.broker.setcash(CASE["cash"])
    cerebro.broker.setcommission(commission=CASE["commission"])
    s = cerebro.run()[0]
    # `next` starts once the slow SMA is defined; earlier bars hold the starting cash.
    warm = len(df) - len(s.equity)
    equity = [float(CASE["cash"])] * warm + s.equity
    out = {"tool": f"backtrader {bt.__version__}", "case": CASE, "trades": s.trades, "fills": s.fills,
           "equity": equity, "final_value": cerebro.broker.getvalue()}
    OUT.mkdir(exist_ok=True)
    path = OUT / "backtrader_goog_sma_cross_10_20_size10.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}: {len(s.trades)} trades, final value {out['final_value']:.6f}")


if __name__ == "__main__":
    main()
