//! Parity with backtrader where its conventions can be matched: every fill, every trade, every equity point.
//!
//! The fixture comes from `tools/backtest/backtrader_fixtures.py`: SMA cross 10/20
//! long/short on GOOG daily, a fixed 10 shares per entry (backtrader sizes
//! percent orders on the signal bar's close, Tessera's default on the fill
//! price, so fixed sizes are the matching convention), market orders at the
//! next open, commission 0.2 % of notional. Prices and bar indices must be
//! identical; money agrees to a relative 1e-9 (backtrader accumulates in `f64`).

use rust_decimal::Decimal;
use tessera_backtest::{BacktestConfig, load_csv, run_engine};
use tessera_engine::{Commission, FillModel, SimConfig};
use tessera_model::{Money, Side};
use tessera_strategy::{Params, build};

use crate::common::{data, fixture};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn dec(d: Decimal) -> f64 {
    d.to_string().parse().unwrap()
}

#[test]
fn test_parity_backtrader_goog_sma_cross_10_20_size_10() {
    let name = "backtrader_goog_sma_cross_10_20_size10.json";
    let fx = fixture(name);
    let case = &fx["case"];
    let Some(path) = data(case["csv"].as_str().unwrap()) else {
        return;
    };
    let series = load_csv(&path).unwrap();
    let mut sim = SimConfig::new(Money::new(
        Decimal::from(case["cash"].as_i64().unwrap()),
        series.instrument.quote_currency,
    ));
    sim.commission =
        Commission::rate(Decimal::from_str_exact(&case["commission"].to_string()).unwrap());
    sim.fill_model = FillModel::NextOpen;
    let params = Params::new()
        .with("fast", case["fast"].as_u64().unwrap())
        .with("slow", case["slow"].as_u64().unwrap())
        .with("size", case["size"].as_u64().unwrap());
    let config = BacktestConfig::new("sma_cross", params.clone(), sim);
    let report = run_engine(&series, build("sma_cross", &params).unwrap(), &config).unwrap();

    let fills = fx["fills"].as_array().unwrap();
    assert_eq!(report.fills.len(), fills.len(), "{name}: number of fills");
    for (k, (got, w)) in report.fills.iter().zip(fills).enumerate() {
        let bar = series.open_time.binary_search(&got.ts_event.0).unwrap();
        assert_eq!(
            bar as u64,
            w["bar"].as_u64().unwrap(),
            "{name} fill {k}: bar"
        );
        // backtrader keeps prices as f64 and sometimes carries a last-bit artefact (417.0400000000001).
        assert!(
            close(got.price.to_f64(), w["price"].as_f64().unwrap()),
            "{name} fill {k}: price {} vs {}",
            got.price,
            w["price"]
        );
        let size = got.quantity.to_f64() * if got.side == Side::Buy { 1.0 } else { -1.0 };
        assert_eq!(size, w["size"].as_f64().unwrap(), "{name} fill {k}: size");
        let comm = dec(got.commission.amount);
        assert!(
            close(comm, w["commission"].as_f64().unwrap()),
            "{name} fill {k}: commission {comm}"
        );
    }

    let trades = fx["trades"].as_array().unwrap();
    assert_eq!(
        report.trades.len(),
        trades.len(),
        "{name}: number of trades"
    );
    for (k, (got, w)) in report.trades.iter().zip(trades).enumerate() {
        assert_eq!(
            got.entry_bar as u64,
            w["entry_bar"].as_u64().unwrap(),
            "{name} trade {k}: entry bar"
        );
        assert_eq!(
            got.exit_bar as u64,
            w["exit_bar"].as_u64().unwrap(),
            "{name} trade {k}: exit bar"
        );
        assert_eq!(
            got.is_long(),
            w["long"].as_bool().unwrap(),
            "{name} trade {k}: side"
        );
        assert!(
            close(got.entry_price.to_f64(), w["entry_price"].as_f64().unwrap()),
            "{name} trade {k}: entry price"
        );
        let (pnl, comm) = (dec(got.pnl), dec(got.commission));
        assert!(
            close(pnl, w["pnl_net"].as_f64().unwrap()),
            "{name} trade {k}: pnl {pnl} vs {}",
            w["pnl_net"]
        );
        assert!(
            close(comm, w["commission"].as_f64().unwrap()),
            "{name} trade {k}: commission {comm}"
        );
    }

    let eq = fx["equity"].as_array().unwrap();
    assert_eq!(report.equity.len(), eq.len(), "{name}: equity points");
    for (i, (a, b)) in report.equity.iter().zip(eq).enumerate() {
        assert!(
            close(*a, b.as_f64().unwrap()),
            "{name}: equity at bar {i}: {a} vs {b}"
        );
    }
    let final_value: f64 = dec(report.final_equity.amount);
    assert!(
        close(final_value, fx["final_value"].as_f64().unwrap()),
        "{name}: final value {final_value}"
    );
}
