//! Several strategies in one engine: shared account book versus their own books.

use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{BarSeries, DataSource, Engine, SeriesSource, SimConfig, SimVenue};
use tessera_model::{
    Bar, Instrument, InstrumentId, InstrumentKind, Interval, Money, Quantity, StrategyId,
};
use tessera_strategy::{Context, OrderQty, Strategy};

const T0: i64 = 1_700_000_000_000_000_000;
const MIN: i64 = 60_000_000_000;

fn instrument() -> Instrument {
    Instrument::with_defaults(
        InstrumentId::parse("ABC", "sim").unwrap(),
        InstrumentKind::Equity,
    )
    .unwrap()
}

fn series(n: usize) -> BarSeries {
    let mut s = BarSeries {
        instrument: instrument(),
        interval: Interval::M1,
        price_scale: 0,
        volume_scale: 0,
        open_time: Vec::new(),
        open: Vec::new(),
        high: Vec::new(),
        low: Vec::new(),
        close: Vec::new(),
        volume: Vec::new(),
    };
    for i in 0..n {
        s.open_time.push(T0 + i as i64 * MIN);
        s.open.push(100);
        s.high.push(100);
        s.low.push(100);
        s.close.push(100);
        s.volume.push(1_000_000);
    }
    s
}

/// `(bar index, position, cash)` as a strategy saw them.
type Seen = Arc<Mutex<Vec<(usize, Decimal, Decimal)>>>;

/// Buys `qty` on bar `buy_at`, flattens "its" position on bar `close_at`, and records the
/// position and cash it sees on every bar.
#[derive(Debug)]
struct Script {
    buy_at: usize,
    close_at: usize,
    qty: i64,
    seen: Seen,
}

impl Strategy for Script {
    fn name(&self) -> &str {
        "script"
    }
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> tessera_strategy::Result<()> {
        let k = ctx.bar_index();
        let pos = ctx.position(&bar.instrument);
        self.seen.lock().unwrap().push((k, pos, ctx.cash().amount));
        if k == self.buy_at {
            ctx.buy(
                bar.instrument,
                OrderQty::Units(Quantity::new(Decimal::from(self.qty)).unwrap()),
            )?;
        }
        if k == self.close_at {
            ctx.close_position(bar.instrument)?;
        }
        Ok(())
    }
}

fn script(buy_at: usize, close_at: usize, qty: i64) -> (Script, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (
        Script {
            buy_at,
            close_at,
            qty,
            seen: seen.clone(),
        },
        seen,
    )
}

fn engine() -> Engine<SimClock, SimVenue> {
    let cash = Money::parse("10000 USD").unwrap();
    Engine::new(
        SimClock::new(UnixNanos(T0)),
        SimVenue::new(SimConfig::new(cash)),
        vec![instrument()],
        cash,
        Decimal::ONE,
    )
    .unwrap()
}

fn position_on(seen: &Mutex<Vec<(usize, Decimal, Decimal)>>, bar: usize) -> Decimal {
    seen.lock().unwrap().iter().find(|s| s.0 == bar).unwrap().1
}

#[test]
fn test_strategies_with_own_capital_see_only_their_own_positions() {
    let data = [series(8)];
    let mut e = engine();
    // A buys 3 on bar 1 (fills at bar 2's open); B buys 1 on bar 3 and flattens "its" position on bar 5.
    let (a, seen_a) = script(1, usize::MAX, 3);
    let (b, seen_b) = script(3, 5, 1);
    e.add_strategy_with_capital(
        StrategyId::new("a").unwrap(),
        Box::new(a),
        Money::parse("6000 USD").unwrap(),
    )
    .unwrap();
    e.add_strategy_with_capital(
        StrategyId::new("b").unwrap(),
        Box::new(b),
        Money::parse("4000 USD").unwrap(),
    )
    .unwrap();
    let mut src = SeriesSource::new(&data).unwrap();
    e.begin(&src).unwrap();
    while let Some(k) = src.advance() {
        e.step(&src, k).unwrap();
    }
    let a_book = e.strategy_book(&StrategyId::new("a").unwrap()).unwrap();
    assert_eq!(a_book.quantity(0), Decimal::from(3));
    assert_eq!(a_book.cash().amount, Decimal::from(6000 - 300));
    let b_book = e.strategy_book(&StrategyId::new("b").unwrap()).unwrap();
    // B closed its own 1 unit, not A's 3.
    assert_eq!(b_book.quantity(0), Decimal::ZERO);
    assert_eq!(b_book.cash().amount, Decimal::from(4000));
    assert_eq!(e.ledger().quantity(0), Decimal::from(3));
    assert_eq!(position_on(&seen_a, 6), Decimal::from(3));
    assert_eq!(position_on(&seen_b, 4), Decimal::ONE);
    assert_eq!(position_on(&seen_b, 6), Decimal::ZERO);
    let report = e.finish().unwrap();
    assert_eq!(report.fills.len(), 3);
    assert_eq!(report.final_positions[0].1, Decimal::from(3));
}

#[test]
fn test_strategies_without_own_capital_share_the_account_book() {
    let data = [series(8)];
    let mut e = engine();
    let (a, _) = script(1, usize::MAX, 3);
    let (b, seen_b) = script(3, 5, 1);
    e.add_strategy(StrategyId::new("a").unwrap(), Box::new(a));
    e.add_strategy(StrategyId::new("b").unwrap(), Box::new(b));
    let report = e.run(&mut SeriesSource::new(&data).unwrap()).unwrap();
    // B sees the account (3 + 1) and its flatten closes everything.
    assert_eq!(position_on(&seen_b, 4), Decimal::from(4));
    assert_eq!(report.final_positions[0].1, Decimal::ZERO);
}
