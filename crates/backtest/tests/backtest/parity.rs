//! Parity with backtesting.py: every statistic and every trade.
//!
//! Fixtures come from `tools/backtest/backtestingpy_fixtures.py`. Prices,
//! sizes and bar indices must be identical; money and statistics agree to a
//! relative 1e-9 (backtesting.py accumulates cash in `f64`, Tessera exactly).

use rust_decimal::Decimal;
use serde_json::Value;
use tessera_analysis::Annualisation;
use tessera_backtest::{BacktestConfig, load_csv, run_backtest};
use tessera_core::UnixNanos;
use tessera_engine::{Commission, FillModel, SimConfig};
use tessera_model::Money;
use tessera_strategy::Params;

use crate::common::{data, fixture};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check_case(fixture_name: &str) {
    let fx = fixture(fixture_name);
    let case = &fx["case"];
    let Some(path) = data(case["csv"].as_str().unwrap()) else {
        return;
    };
    let series = load_csv(&path).unwrap();
    let commission = Decimal::from_str_exact(&case["commission"].to_string()).unwrap();
    let mut sim = SimConfig::new(Money::new(
        Decimal::from(case["cash"].as_i64().unwrap()),
        series.instrument.quote_currency,
    ));
    sim.commission = Commission::rate(commission);
    sim.fill_model = if case["trade_on_close"].as_bool().unwrap() {
        FillModel::Close
    } else {
        FillModel::NextOpen
    };
    let config = BacktestConfig {
        strategy: "sma_cross".into(),
        params: Params::new()
            .with("fast", case["fast"].as_u64().unwrap())
            .with("slow", case["slow"].as_u64().unwrap()),
        sim,
        annualisation: Annualisation::Auto,
        data_source: path.display().to_string(),
        // backtesting.py samples equity before a same-bar close fill pays its commission.
        equity_before_strategies: case["trade_on_close"].as_bool().unwrap(),
    };
    let r = run_backtest(&series, &config).unwrap();

    let want = fx["trades"].as_array().unwrap();
    assert_eq!(
        r.trades.len(),
        want.len(),
        "{fixture_name}: number of trades"
    );
    for (k, (got, w)) in r.trades.iter().zip(want).enumerate() {
        let size: f64 = got.size.to_f64() * if got.is_long() { 1.0 } else { -1.0 };
        assert_eq!(
            size,
            w["size"].as_f64().unwrap(),
            "{fixture_name} trade {k}: size"
        );
        assert_eq!(
            got.entry_bar as u64,
            w["entry_bar"].as_u64().unwrap(),
            "{fixture_name} trade {k}: entry bar"
        );
        assert_eq!(
            got.exit_bar as u64,
            w["exit_bar"].as_u64().unwrap(),
            "{fixture_name} trade {k}: exit bar"
        );
        assert_eq!(
            got.entry_price.to_f64(),
            w["entry_price"].as_f64().unwrap(),
            "{fixture_name} trade {k}: entry price"
        );
        assert_eq!(
            got.exit_price.to_f64(),
            w["exit_price"].as_f64().unwrap(),
            "{fixture_name} trade {k}: exit price"
        );
        let pnl: f64 = got.pnl.to_string().parse().unwrap();
        assert!(
            close(pnl, w["pnl"].as_f64().unwrap()),
            "{fixture_name} trade {k}: pnl {pnl} vs {}",
            w["pnl"]
        );
        let comm: f64 = got.commission.to_string().parse().unwrap();
        assert!(
            close(comm, w["commission"].as_f64().unwrap()),
            "{fixture_name} trade {k}: commission {comm} vs {}",
            w["commission"]
        );
        assert!(
            close(got.return_pct, w["return_pct"].as_f64().unwrap()),
            "{fixture_name} trade {k}: return"
        );
        if !case["trade_on_close"].as_bool().unwrap() {
            assert_eq!(
                got.entry_time,
                UnixNanos::parse(w["entry_time"].as_str().unwrap()).unwrap(),
                "{fixture_name} trade {k}: entry time"
            );
            assert_eq!(
                got.exit_time,
                UnixNanos::parse(w["exit_time"].as_str().unwrap()).unwrap(),
                "{fixture_name} trade {k}: exit time"
            );
        }
    }

    let eq = fx["equity"].as_array().unwrap();
    assert_eq!(r.equity.len(), eq.len());
    for (i, (a, b)) in r.equity.iter().zip(eq).enumerate() {
        assert!(
            close(*a, b.as_f64().unwrap()),
            "{fixture_name}: equity at bar {i}: {a} vs {b}"
        );
    }

    let got = serde_json::to_value(&r.stats).unwrap();
    for (key, w) in fx["stats"].as_object().unwrap() {
        let g = &got[key];
        match (key.as_str(), w) {
            ("start" | "end", Value::String(s)) => {
                assert_eq!(
                    UnixNanos::parse(g.as_str().unwrap()).unwrap(),
                    UnixNanos::parse(s.as_str()).unwrap(),
                    "{fixture_name}: {key}"
                );
            }
            (_, Value::Null) => {
                assert!(g.is_null(), "{fixture_name}: {key} should be null, is {g}")
            }
            (_, Value::Number(n)) => {
                let (a, b) = (g.as_f64().unwrap_or(f64::NAN), n.as_f64().unwrap());
                assert!(
                    close(a, b),
                    "{fixture_name}: {key}: tessera {a} vs backtesting.py {b}"
                );
            }
            _ => panic!("{fixture_name}: unexpected fixture value for {key}: {w}"),
        }
    }
}

#[test]
fn test_parity_backtestingpy_goog_sma_cross_10_20() {
    check_case("backtestingpy_goog_sma_cross_10_20.json");
}

#[test]
fn test_parity_backtestingpy_eurusd_1h_sma_cross_10_30() {
    check_case("backtestingpy_eurusd_1h_sma_cross_10_30.json");
}

#[test]
fn test_parity_backtestingpy_goog_sma_cross_5_50_trade_on_close() {
    check_case("backtestingpy_goog_sma_cross_5_50_close.json");
}
