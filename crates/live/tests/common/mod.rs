//! Fixtures shared by the live engine tests (each file under `tests/` is
//! its own crate, so not every helper is used by every file).
#![allow(dead_code)]

use rust_decimal::Decimal;
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{BarSeries, Commission, Engine, SimConfig, Venue};
use tessera_execution::OrderStack;
use tessera_live::{PaperBroker, TradingVenue, VenueSettings};
use tessera_model::{Instrument, InstrumentId, InstrumentKind, Interval, Money};
use tessera_risk::{RiskEngine, RiskLimits};
use tessera_storage::Store;

pub(crate) const T0: i64 = 1_709_290_800_000_000_000; // 2024-03-01T11:00:00Z
pub(crate) const MIN: i64 = 60_000_000_000;

/// BTCUSDT on the sim venue, with its defaults.
pub(crate) fn instrument() -> Instrument {
    Instrument::with_defaults(
        InstrumentId::parse("BTCUSDT", "sim").unwrap(),
        InstrumentKind::Crypto,
    )
    .unwrap()
}

/// The account's starting cash: 1,000,000 in the quote currency.
pub(crate) fn cash() -> Money {
    Money::new(Decimal::from(1_000_000), instrument().quote_currency)
}

/// The simulated fills of the paper broker and the backtest: [`cash`], 0.1 % commission.
pub(crate) fn sim_config() -> SimConfig {
    let mut c = SimConfig::new(cash());
    c.commission = Commission::rate(Decimal::new(1, 3));
    c
}

/// Minute bars of [`instrument`] in cents (price scale 2, volume scale 0),
/// with no bars yet: each test fills in its own market.
pub(crate) fn empty_series() -> BarSeries {
    BarSeries {
        instrument: instrument(),
        interval: Interval::M1,
        price_scale: 2,
        volume_scale: 0,
        open_time: Vec::new(),
        open: Vec::new(),
        high: Vec::new(),
        low: Vec::new(),
        close: Vec::new(),
        volume: Vec::new(),
    }
}

/// The paper broker (account `paper`, [`sim_config`], [`instrument`]) as
/// stored in `store`.
pub(crate) async fn paper_broker(store: &Store) -> PaperBroker {
    PaperBroker::open(store.clone(), "paper", sim_config(), &[instrument()], 0)
        .await
        .unwrap()
}

/// [`paper_broker`] and the order stack of [`instrument`], as stored in `store`.
pub(crate) async fn open_paper(store: &Store) -> (PaperBroker, OrderStack) {
    let inst = instrument();
    let broker = paper_broker(store).await;
    let stack = OrderStack::load(
        store.clone(),
        "paper",
        inst.quote_currency,
        std::slice::from_ref(&inst),
    )
    .await
    .unwrap();
    (broker, stack)
}

/// The live venue over [`open_paper`], default risk limits, starting at `T0`;
/// to be called from a blocking thread (it waits on `handle`).
pub(crate) fn paper_venue(
    handle: &tokio::runtime::Handle,
    store: &Store,
    settings: VenueSettings,
) -> TradingVenue<PaperBroker> {
    let (broker, stack) = handle.block_on(open_paper(store));
    TradingVenue::new(
        handle.clone(),
        broker,
        stack,
        RiskEngine::new(RiskLimits::default()).unwrap(),
        settings,
        UnixNanos(T0),
    )
    .unwrap()
}

/// An engine over `venue` trading [`instrument`] with [`cash`], its
/// simulated clock starting at `T0`.
pub(crate) fn sim_engine<V: Venue>(venue: V) -> Engine<SimClock, V> {
    Engine::new(
        SimClock::new(UnixNanos(T0)),
        venue,
        vec![instrument()],
        cash(),
        Decimal::ONE,
    )
    .unwrap()
}

/// The stored positions' quantities summed over all strategies: what the
/// account holds by our books.
pub(crate) async fn stored_position(store: &Store) -> Decimal {
    store
        .positions()
        .await
        .unwrap()
        .iter()
        .map(|p| p.position.quantity)
        .sum()
}
