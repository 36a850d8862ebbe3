//! Tick-to-order latency of live trading: a quote arrives → the strategy
//! decides → risk approves → the order is stored (created, submitted) → it is
//! handed to the paper broker. One order per quote, on a SQLite file.
//!
//! With `--strategies N` (N ≥ 2) the account is shared by N strategies
//! (`TradingVenue::with_strategies`, the netted path): each asks for one unit
//! on every quote, the N strategy orders are stored, netted into one
//! instrument order of N units (stored with its allocations) and that one is
//! handed to the broker; the latency runs to the instrument order's arrival.
//!
//! `cargo run --release -p tessera-live --example tick_to_order [-- [--strategies N] QUOTES [DB_URL]]`

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rust_decimal::Decimal;
use tessera_core::{SimClock, UnixNanos};
use tessera_engine::{Engine, MarketEvent, SimConfig};
use tessera_execution::broker::OrderChange;
use tessera_execution::{Broker, BrokerEvent, BrokerOrder, MarketUpdate, OrderStack};
use tessera_live::{LiveSource, PaperBroker, TradingVenue, VenueSettings};
use tessera_model::{
    Account, Bar, ClientOrderId, Fill, Instrument, InstrumentId, InstrumentKind, Money, Order,
    Price, Quantity, Quote, StrategyId,
};
use tessera_risk::{RiskEngine, RiskLimits};
use tessera_storage::Store;
use tessera_strategy::{Context, OrderQty, Strategy};

/// Buys on even quotes, sells on odd ones: one order per quote, position stays within ±1.
#[derive(Debug, Default)]
struct PingPong {
    n: u64,
}

impl Strategy for PingPong {
    fn name(&self) -> &str {
        "pingpong"
    }
    fn on_bar(&mut self, _ctx: &mut Context<'_>, _bar: &Bar) -> tessera_strategy::Result<()> {
        Ok(())
    }
    fn on_quote(&mut self, ctx: &mut Context<'_>, q: &Quote) -> tessera_strategy::Result<()> {
        self.n += 1;
        let one = OrderQty::Units(Quantity::new(Decimal::ONE)?);
        if self.n % 2 == 1 {
            ctx.buy(q.instrument, one)?
        } else {
            ctx.sell(q.instrument, one)?
        };
        Ok(())
    }
}

/// The paper broker, recording when each order reaches it.
#[derive(Debug)]
struct Timed {
    inner: PaperBroker,
    /// The market time the order was sent at (its quote's) and when it arrived.
    handed: Arc<Mutex<Vec<(UnixNanos, Instant)>>>,
}

impl Broker for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn submit(
        &mut self,
        order: &Order,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.handed
            .lock()
            .expect("not poisoned")
            .push((now, Instant::now()));
        self.inner.submit(order, now).await
    }
    async fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.inner.cancel(id, now).await
    }
    async fn modify(
        &mut self,
        id: &ClientOrderId,
        c: OrderChange,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.inner.modify(id, c, now).await
    }
    async fn open_orders(&mut self) -> tessera_execution::Result<Vec<BrokerOrder>> {
        self.inner.open_orders().await
    }
    async fn lookup(
        &mut self,
        id: &ClientOrderId,
    ) -> tessera_execution::Result<Option<BrokerOrder>> {
        self.inner.lookup(id).await
    }
    async fn fills_since(&mut self, since: UnixNanos) -> tessera_execution::Result<Vec<Fill>> {
        self.inner.fills_since(since).await
    }
    async fn positions(&mut self) -> tessera_execution::Result<Vec<(InstrumentId, Decimal)>> {
        self.inner.positions().await
    }
    async fn account(&mut self) -> tessera_execution::Result<Account> {
        self.inner.account().await
    }
    async fn on_market(
        &mut self,
        u: MarketUpdate<'_>,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.inner.on_market(u, now).await
    }
    async fn poll_events(&mut self) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.inner.poll_events().await
    }
}

/// Records when the engine takes each event.
struct Stamped {
    inner: LiveSource,
    taken: Arc<Mutex<Vec<Instant>>>,
}

impl tessera_engine::DataSource for Stamped {
    fn instruments(&self) -> &[Instrument] {
        self.inner.instruments()
    }
    fn advance(&mut self) -> Option<tessera_engine::EventKind> {
        let e = self.inner.advance();
        self.taken
            .lock()
            .expect("not poisoned")
            .push(Instant::now());
        e
    }
    fn bar(&self, i: usize) -> Option<&tessera_model::Bar> {
        self.inner.bar(i)
    }
    fn values(&self, i: usize) -> tessera_strategy::BarValues {
        self.inner.values(i)
    }
    fn quote(&self, i: usize) -> Option<&tessera_model::Quote> {
        self.inner.quote(i)
    }
    fn history(&self, i: usize) -> &dyn tessera_strategy::BarHistory {
        self.inner.history(i)
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let strategies: usize = match args.iter().position(|a| a == "--strategies") {
        Some(k) => {
            let n = args
                .get(k + 1)
                .and_then(|s| s.parse().ok())
                .filter(|n| *n >= 1)
                .expect("--strategies N (N >= 1)");
            args.drain(k..=k + 1);
            n
        }
        None => 1,
    };
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = rt.block_on(Store::open(&url)).expect("store");
    let inst = Instrument::with_defaults(
        InstrumentId::parse("BTCUSDT", "sim").unwrap(),
        InstrumentKind::Crypto,
    )
    .unwrap();
    let cash = Money::new(Decimal::from(10_000_000), inst.quote_currency);
    let handed = Arc::new(Mutex::new(Vec::new()));
    let taken = Arc::new(Mutex::new(Vec::new()));
    let h = rt.handle().clone();
    let paper = rt
        .block_on(PaperBroker::open(
            store.clone(),
            "paper",
            SimConfig::new(cash),
            std::slice::from_ref(&inst),
            0,
        ))
        .unwrap();
    let stack = rt
        .block_on(OrderStack::load(
            store.clone(),
            "paper",
            inst.quote_currency,
            std::slice::from_ref(&inst),
        ))
        .unwrap();
    let limits = RiskLimits {
        max_order_quantity: Some(Decimal::from(10)),
        max_order_notional: Some(Decimal::from(1_000_000)),
        max_position_per_instrument: Some(Decimal::from(5)),
        max_position_per_strategy: Some(Decimal::from(5)),
        max_open_orders: Some(10),
        price_collar_pct: Some(Decimal::from(5)),
        ..RiskLimits::default()
    };
    let settings = VenueSettings {
        capital: cash,
        run_prefix: "b1".into(),
        live_from: UnixNanos(0),
        halt_on_difference: false,
        reconcile_every: 0,
    };
    let t0 = UnixNanos(1_709_290_800_000_000_000);
    let ids: Vec<StrategyId> = (0..strategies)
        .map(|k| {
            let name = if strategies == 1 {
                "pingpong".to_string()
            } else {
                format!("pingpong{k}")
            };
            StrategyId::new(&name).unwrap()
        })
        .collect();
    let mut venue = TradingVenue::new(
        h,
        Timed {
            inner: paper,
            handed: handed.clone(),
        },
        stack,
        RiskEngine::new(limits).unwrap(),
        settings,
        t0,
    )
    .unwrap();
    if strategies > 1 {
        // The account's capital shared equally: the netted path.
        let share = Money::new(cash.amount / Decimal::from(strategies), cash.currency);
        venue = venue.with_strategies(ids.iter().map(|s| (s.clone(), share)).collect());
        assert!(venue.netting());
    }
    let mut engine = Engine::new(
        SimClock::new(t0),
        venue,
        vec![inst.clone()],
        cash,
        Decimal::ONE,
    )
    .unwrap();
    for id in &ids {
        engine.add_strategy(id.clone(), Box::new(PingPong::default()));
    }
    let (tx, rx) = sync_channel(n + 1);
    for i in 0..n {
        let px = Decimal::new(100_000 + (i as i64 % 7), 2);
        tx.send(MarketEvent::Quote {
            instrument: 0,
            quote: Quote {
                instrument: inst.id,
                ts_event: UnixNanos(t0.0 + i as i64 * 1_000_000),
                bid_price: Price::new(px).unwrap(),
                bid_size: Quantity::new(Decimal::from(100)).unwrap(),
                ask_price: Price::new(px + Decimal::new(1, 2)).unwrap(),
                ask_size: Quantity::new(Decimal::from(100)).unwrap(),
            },
        })
        .unwrap();
    }
    drop(tx);
    let mut source = Stamped {
        inner: LiveSource::new(vec![inst], rx, 10),
        taken: taken.clone(),
    };
    let start = Instant::now();
    let report = std::thread::scope(|s| {
        s.spawn(|| engine.run(&mut source))
            .join()
            .expect("engine thread")
    })
    .expect("run");
    let wall = start.elapsed().as_secs_f64();
    let taken = taken.lock().unwrap();
    let handed = handed.lock().unwrap();
    // Quote i carries market time t0 + i ms and orders are sent at their quote's time,
    // so each order is matched with the moment the engine took its quote.
    let mut lat: Vec<f64> = handed
        .iter()
        .filter_map(|(now, h)| {
            let i = usize::try_from((now.0 - t0.0) / 1_000_000).ok()?;
            taken
                .get(i)
                .map(|t| h.duration_since(*t).as_secs_f64() * 1e6)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let orders = rt.block_on(store.orders(None)).expect("orders");
    let per_strategy: BTreeMap<String, usize> = orders.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o.order.request.strategy.to_string()).or_default() += 1;
        m
    });
    println!(
        "backend {}  strategies {strategies} (netted: {})  quotes {n}  broker orders {} (timed {})  strategy orders {}  fills {}",
        store.backend(),
        strategies > 1,
        handed.len(),
        lat.len(),
        orders.len(),
        report.fills.len()
    );
    println!("strategy orders per strategy: {per_strategy:?}");
    println!(
        "tick-to-order µs: p50 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat.last().copied().unwrap_or(0.0)
    );
    println!(
        "sustained: {:.0} broker orders/s, {:.0} strategy orders/s (each also books the previous order's fill)",
        handed.len() as f64 / wall,
        orders.len() as f64 / wall
    );
}
