//! Built-in strategies and the simulated venue on real data.

use rust_decimal::Decimal;
use tessera_backtest::{BacktestConfig, load_csv, run_backtest, run_strategy};
use tessera_engine::{Commission, FillModel, SimConfig, Slippage};
use tessera_model::{Bar, Money, Price, Side};
use tessera_strategy::{Context, OrderIntent, OrderQty, Params, Strategy};

use crate::common::{btc_and_goog, data};

fn sim(cash: i64) -> SimConfig {
    let mut s = SimConfig::new(Money::new(
        Decimal::from(cash),
        tessera_model::Currency::new("USD").unwrap(),
    ));
    s.commission = Commission::rate(Decimal::new(1, 3));
    s
}

#[test]
fn test_every_builtin_runs_on_real_minute_and_daily_data() {
    let Some((btc, goog)) = btc_and_goog() else {
        return;
    };
    assert_eq!(btc.len(), 30_240);
    for (name, params) in [
        ("sma_cross", Params::new()),
        (
            "sma_cross",
            Params::new().with("mode", "long_only").with("size", "0.5"),
        ),
        ("ewmac", Params::new()),
        ("rsi_reversion", Params::new()),
        (
            "rsi_reversion",
            Params::new()
                .with("mode", "long_short")
                .with("vol_target", "20")
                .with("periods_per_year", 98_280),
        ),
        ("breakout", Params::new().with("mode", "long_short")),
        ("buy_hold", Params::new().with("size", "3")),
    ] {
        for series in [&btc, &goog] {
            let mut s = sim(1_000_000);
            if series.instrument.id == btc.instrument.id {
                // BTC in USDT: the account must be in the quote currency.
                s.cash = Money::new(Decimal::from(1_000_000), series.instrument.quote_currency);
            }
            let r = run_backtest(series, &BacktestConfig::new(name, params.clone(), s))
                .unwrap_or_else(|e| panic!("{name} {params}: {e}"));
            assert_eq!(r.equity.len(), series.len());
            let exact: f64 = r.final_equity.split(' ').next().unwrap().parse().unwrap();
            assert!(
                (r.stats.equity_final - exact).abs() < 1e-6,
                "{name}: {} vs {exact}",
                r.stats.equity_final
            );
            if name != "buy_hold" {
                assert!(
                    r.stats.trades > 0,
                    "{name} {params} made no trades on {}",
                    series.instrument.id
                );
            }
            for t in &r.trades {
                assert!(t.exit_bar >= t.entry_bar && t.exit_time >= t.entry_time);
            }
        }
    }
}

/// Buys with a limit 2 % under the close once, then sells with a stop 2 % under the entry.
#[derive(Debug, Default)]
struct LimitThenStop {
    placed: bool,
    stop_placed: bool,
}

impl Strategy for LimitThenStop {
    fn name(&self) -> &str {
        "limit_then_stop"
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> tessera_strategy::Result<()> {
        let q = OrderQty::Units(tessera_model::Quantity::parse("10").unwrap());
        // Start in 2008 (bar 1000), when GOOG fell: a limit 2 % under the close soon fills.
        if ctx.bar_index() < 1000 {
            return Ok(());
        }
        if !self.placed {
            let limit =
                Price::new((bar.close.as_decimal() * Decimal::new(98, 2)).round_dp(2)).unwrap();
            ctx.submit(OrderIntent::limit(bar.instrument, Side::Buy, q, limit))?;
            self.placed = true;
        } else if !self.stop_placed && !ctx.position(&bar.instrument).is_zero() {
            let stop =
                Price::new((bar.close.as_decimal() * Decimal::new(98, 2)).round_dp(2)).unwrap();
            ctx.submit(OrderIntent::stop(bar.instrument, Side::Sell, q, stop))?;
            self.stop_placed = true;
        }
        Ok(())
    }
}

#[test]
fn test_limit_and_stop_fill_along_the_bar_path() {
    let Some(goog) = data("goog_daily_2004_2013_backtestingpy.csv") else {
        return;
    };
    let series = load_csv(&goog).unwrap();
    for fill in [FillModel::NextOpen, FillModel::OpenOnly] {
        let mut s = sim(100_000);
        s.fill_model = fill;
        s.slippage = Slippage::Bps(Decimal::from(10));
        let r = run_strategy(
            &series,
            Box::new(LimitThenStop::default()),
            &BacktestConfig::new("limit_then_stop", Params::new(), s),
        )
        .unwrap();
        let t = &r.trades[0];
        let entry_bar = series.bar(t.entry_bar);
        let limit = (series.bar(1000).close.as_decimal() * Decimal::new(98, 2)).round_dp(2);
        // A buy limit fills at the limit when crossed inside the bar, at the open when the bar gaps below it.
        let expect = if entry_bar.open.as_decimal() <= limit {
            entry_bar.open.as_decimal()
        } else {
            limit
        };
        if fill == FillModel::OpenOnly {
            assert!(entry_bar.open.as_decimal() <= limit);
        }
        assert_eq!(
            t.entry_price.as_decimal(),
            expect,
            "{fill:?}: limit fills never slip"
        );
        // The stop sells at (or, gapping, below) its level, minus 10 bp slippage.
        let exit_bar = series.bar(t.exit_bar);
        assert!(
            t.exit_price.as_decimal() <= exit_bar.open.as_decimal().max(exit_bar.high.as_decimal())
        );
        assert!(t.exit_price.as_decimal() >= exit_bar.low.as_decimal() * Decimal::new(999, 3));
    }
}
