//! Fast-forwarding over quiet bars and precomputed signals change nothing: the same runs
//! replayed bar by bar with streaming indicators give bit-identical reports.

use rust_decimal::Decimal;
use tessera_backtest::prepare_strategy;
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{
    BarSeries, Commission, Engine, EngineReport, FillModel, SeriesSource, SimConfig, SimVenue,
    Slippage,
};
use tessera_model::{Money, StrategyId};
use tessera_strategy::{Params, Strategy, build};

use crate::common::btc_and_goog;

fn replay(
    series: &BarSeries,
    strategy: Box<dyn Strategy>,
    sim: &SimConfig,
    fast_forward: bool,
) -> EngineReport {
    let mut engine = Engine::new(
        SimClock::new(UnixNanos(series.open_time[0])),
        SimVenue::new(sim.clone()),
        vec![series.instrument.clone()],
        sim.cash,
        sim.leverage,
    )
    .unwrap();
    engine.set_fast_forward(fast_forward);
    engine.add_strategy(StrategyId::new("s").unwrap(), strategy);
    engine
        .run(&mut SeriesSource::new(std::slice::from_ref(series)).unwrap())
        .unwrap()
}

/// Equity compared bit for bit (`f64` equality would let `-0.0 == 0.0` pass).
fn assert_same(a: &EngineReport, b: &EngineReport, what: &str) {
    assert_eq!(a.fills, b.fills, "{what}: fills");
    assert_eq!(a.trades, b.trades, "{what}: trades");
    assert_eq!(a.timestamps, b.timestamps, "{what}: labels");
    assert_eq!(a.refused_orders, b.refused_orders, "{what}: refused");
    assert_eq!(a.final_equity, b.final_equity, "{what}: final equity");
    assert_eq!(a.final_positions, b.final_positions, "{what}: positions");
    assert_eq!(a.equity.len(), b.equity.len(), "{what}: equity points");
    if let Some(k) = (0..a.equity.len()).find(|&k| a.equity[k].to_bits() != b.equity[k].to_bits()) {
        panic!(
            "{what}: equity point {k} differs: {} vs {}",
            a.equity[k], b.equity[k]
        );
    }
}

#[test]
fn test_fast_forward_and_precomputed_smas_equal_the_bar_by_bar_replay() {
    let Some((btc, goog)) = btc_and_goog() else {
        return;
    };
    let mut checked = 0;
    for series in [&btc, &goog] {
        let ccy = series.instrument.quote_currency;
        for (fill, slippage, cash) in [
            (FillModel::NextOpen, Slippage::None, 100_000),
            (FillModel::Close, Slippage::Bps(Decimal::from(5)), 1_000_000),
            (FillModel::OpenOnly, Slippage::None, 300_000),
        ] {
            let mut sim = SimConfig::new(Money::new(Decimal::from(cash), ccy));
            sim.commission = Commission::rate(Decimal::new(2, 3));
            sim.fill_model = fill;
            sim.slippage = slippage;
            for params in [
                Params::new(),
                Params::new().with("fast", 3).with("slow", 7),
                Params::new()
                    .with("fast", 5)
                    .with("slow", 30)
                    .with("mode", "long_only"),
                Params::new()
                    .with("fast", 12)
                    .with("slow", 26)
                    .with("size", 1),
                // Vol-target sizing reads every close: precomputed crosses, no fast-forward.
                Params::new()
                    .with("vol_target", "20")
                    .with("periods_per_year", 98_280),
            ] {
                let what = format!("{} {fill:?} {params}", series.instrument.id);
                let streaming = replay(series, build("sma_cross", &params).unwrap(), &sim, true);
                let precomputed = prepare_strategy(series, "sma_cross", &params).unwrap();
                let slow = replay(
                    series,
                    prepare_strategy(series, "sma_cross", &params).unwrap(),
                    &sim,
                    false,
                );
                let fast = replay(series, precomputed, &sim, true);
                assert!(!fast.fills.is_empty(), "{what}: no fills, nothing compared");
                assert_same(
                    &streaming,
                    &slow,
                    &format!("{what} streaming vs precomputed"),
                );
                assert_same(&slow, &fast, &format!("{what} bar by bar vs fast-forward"));
                checked += 1;
            }
            let what = format!("{} {fill:?} buy_hold", series.instrument.id);
            let hold = |ff| replay(series, build("buy_hold", &Params::new()).unwrap(), &sim, ff);
            let (slow, fast) = (hold(false), hold(true));
            assert_eq!(fast.fills.len(), 1, "{what}");
            assert_same(&slow, &fast, &what);
        }
    }
    assert_eq!(checked, 30);
}
