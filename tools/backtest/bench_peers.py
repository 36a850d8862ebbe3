#!/usr/bin/env python3
"""Run sma_cross(10, 20) on the same 1M one-minute bars in peer tools and print timings as JSON.

    python3 tools/backtest/make_1m_bars.py 1000000 /tmp/btcusdt_1m_1M.csv
    /usr/bin/time -v python3 tools/backtest/bench_peers.py backtestingpy /tmp/btcusdt_1m_1M.csv
    /usr/bin/time -v python3 tools/backtest/bench_peers.py backtrader /tmp/btcusdt_1m_1M.csv
    python3 tools/backtest/bench_peers.py vectorbt-sweep /tmp/btcusdt_1m_1M.csv
    /usr/bin/time -v python3 tools/backtest/bench_peers.py vectorbt /tmp/btcusdt_1m_1M.csv
    /usr/bin/time -v python3 tools/backtest/bench_peers.py nautilus /tmp/btcusdt_1m_1M.csv [MAX_BARS]

Same settings as `cargo bench -p tessera-backtest`: cash 1,000,000, commission 0.1 %, close-and-reverse at the
next open, whole units. `load_s` is CSV parsing into the tool's structure, `run_s` the backtest itself.
"""
import json
import os
import sys
import time
import warnings

import pandas as pd


def load(path):
    t = time.perf_counter()
    df = pd.read_csv(path, index_col="timestamp", parse_dates=True)
    df.columns = ["Open", "High", "Low", "Close", "Volume"]
    return df, time.perf_counter() - t


def backtestingpy(path):
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        def init(self):
            self.a = self.I(SMA, self.data.Close, 10)
            self.b = self.I(SMA, self.data.Close, 20)

        def next(self):
            if crossover(self.a, self.b):
                self.position.close()
                self.buy()
            elif crossover(self.b, self.a):
                self.position.close()
                self.sell()

    df, load_s = load(path)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Backtest(df, SmaCross, cash=1_000_000, commission=0.001, exclusive_orders=True).run()
    return {"tool": "backtesting.py", "bars": len(df), "load_s": load_s, "run_s": time.perf_counter() - t, "trades": int(s["# Trades"])}


def backtrader(path):
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self):
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=10), bt.ind.SMA(period=20))

        def next(self):
            if self.cross > 0:
                self.order_target_size(target=int(self.broker.getvalue() * 0.99 / self.data.close[0]))
            elif self.cross < 0:
                self.order_target_size(target=-int(self.broker.getvalue() * 0.99 / self.data.close[0]))

    df, load_s = load(path)
    t = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df, timeframe=bt.TimeFrame.Minutes))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(1_000_000)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="t")
    r = cerebro.run()[0]
    closed = r.analyzers.t.get_analysis().get("total", {}).get("closed", 0)
    return {"tool": "backtrader", "bars": len(df), "load_s": load_s, "run_s": time.perf_counter() - t, "trades": closed}


def vectorbt_sweep(path):
    import numpy as np
    import vectorbt as vbt

    df, load_s = load(path)
    close = df["Close"]
    fast = np.arange(5, 55, 5)
    slow = np.arange(60, 260, 20)
    out = {"tool": "vectorbt", "bars": len(df), "load_s": load_s}
    for label in ("sweep_cold_s", "sweep_warm_s"):
        t = time.perf_counter()
        f = vbt.MA.run(close, fast, short_name="f")
        s = vbt.MA.run(close, slow, short_name="s")
        fe, se = f.ma.vbt.tile(len(slow), axis=1), s.ma.vbt.repeat(len(fast), axis=1)
        fe.columns = se.columns = range(len(fast) * len(slow))
        entries = fe.vbt.crossed_above(se)
        exits = fe.vbt.crossed_below(se)
        pf = vbt.Portfolio.from_signals(close, entries, exits, short_entries=exits, short_exits=entries, fees=0.001, init_cash=1_000_000)
        pf.sharpe_ratio()
        out[label] = time.perf_counter() - t
    out["pairs"] = len(fast) * len(slow)
    return out


def vectorbt_single(path):
    """One sma_cross(10, 20) run; vectorbt fills signals at the same bar's close (its default)."""
    import vectorbt as vbt

    df, load_s = load(path)
    close = df["Close"]
    out = {"tool": "vectorbt", "bars": len(df), "load_s": load_s}
    for label in ("run_cold_s", "run_s"):
        t = time.perf_counter()
        f = vbt.MA.run(close, 10)
        s = vbt.MA.run(close, 20)
        entries = f.ma_crossed_above(s)
        exits = f.ma_crossed_below(s)
        pf = vbt.Portfolio.from_signals(close, entries, exits, short_entries=exits, short_exits=entries, fees=0.001, init_cash=1_000_000)
        out["trades"] = int(pf.trades.count())
        pf.stats()
        out[label] = time.perf_counter() - t
    return out


def nautilus(path, max_bars=None):
    """sma_cross(10, 20) with a Python strategy in nautilus-trader's BacktestEngine (bars of BTCUSDT, cash account)."""
    from decimal import Decimal

    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.indicators import SimpleMovingAverage
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money, Quantity
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    class Cfg(StrategyConfig, frozen=True):
        bar_type: str = ""

    class SmaCross(Strategy):
        def __init__(self, config):
            super().__init__(config)
            self.bar_type = BarType.from_str(config.bar_type)
            self.fast = SimpleMovingAverage(10)
            self.slow = SimpleMovingAverage(20)
            self.prev = None

        def on_start(self):
            self.instrument = self.cache.instrument(self.bar_type.instrument_id)
            self.register_indicator_for_bars(self.bar_type, self.fast)
            self.register_indicator_for_bars(self.bar_type, self.slow)
            self.subscribe_bars(self.bar_type)

        def on_bar(self, bar):
            if not self.slow.initialized:
                return
            f, s = self.fast.value, self.slow.value
            if self.prev is not None:
                pf, ps = self.prev
                side = OrderSide.BUY if (pf < ps and f > s) else OrderSide.SELL if (ps < pf and s > f) else None
                if side is not None:
                    self.close_all_positions(self.bar_type.instrument_id)
                    qty = float(self.portfolio.account(self.instrument.id.venue).balance_total(USDT)) * 0.9999 / float(bar.close) / 1.001
                    if int(qty) < 1:  # too poor for one unit (Tessera cancels such orders)
                        self.prev = (f, s)
                        return
                    self.submit_order(self.order_factory.market(self.instrument.id, side, self.instrument.make_qty(int(qty))))
            self.prev = (f, s)

    t = time.perf_counter()
    df = pd.read_csv(path, index_col="timestamp", parse_dates=True, nrows=max_bars)
    inst = TestInstrumentProvider.btcusdt_binance()
    bar_type = BarType.from_str(f"{inst.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, inst).process(df)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level=os.environ.get("NT_LOG", "ERROR"))))
    engine.add_venue(Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USDT, starting_balances=[Money(1_000_000, USDT)], default_leverage=Decimal(1))
    engine.add_instrument(inst)
    engine.add_data(bars)
    engine.add_strategy(SmaCross(Cfg(bar_type=str(bar_type))))
    engine.run()
    run_s = time.perf_counter() - t
    fills = len(engine.trader.generate_order_fills_report())
    return {"tool": "nautilus-trader", "bars": len(df), "load_s": load_s, "run_s": run_s, "fills": fills}


if __name__ == "__main__":
    tool, path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    tools = {"backtestingpy": backtestingpy, "backtrader": backtrader, "vectorbt-sweep": vectorbt_sweep,
             "vectorbt": vectorbt_single, "nautilus": nautilus}
    if tool == "nautilus" and len(sys.argv) > 3:
        res = nautilus(path, int(sys.argv[3]))
    else:
        res = tools[tool](path)
    res["total_s"] = time.perf_counter() - t0
    print(json.dumps(res))
