//! Netting several strategies' orders on one account: strategy orders →
//! instrument orders → broker orders, fills rolled back up, and crash
//! recovery of the netted path. On SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use common::{
    MIN, T0, cash, empty_series, instrument, open_paper, paper_broker, paper_venue, sim_engine,
    stored_position,
};

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_engine::{BarSeries, EngineReport, MarketEvent};
use tessera_execution::{Broker, BrokerEvent, MarketUpdate, NetRequest, OrderStack};
use tessera_live::{LiveSource, PaperBroker, VenueSettings};
use tessera_model::{
    Bar, ClientOrderId, Fill, InstrumentId, Money, Order, OrderRequest, OrderStatus, OrderType,
    Price, Quantity, Side, StrategyId, TimeInForce,
};
use tessera_risk::{RiskEngine, RiskLimits, RiskState};
use tessera_storage::Store;
use tessera_storage::testing::TestDb;
use tessera_strategy::{Context, OrderQty, Strategy};

fn series(n: usize) -> BarSeries {
    let mut s = empty_series();
    for i in 0..n {
        let o = 1_000_000 + (i as i64 % 7) * 250;
        let c = 1_000_000 + ((i as i64 + 3) % 5) * 300;
        s.open_time.push(T0 + i as i64 * MIN);
        s.open.push(o);
        s.close.push(c);
        s.high.push(o.max(c) + 100);
        s.low.push(o.min(c) - 100);
        s.volume.push(1_000);
    }
    s
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

/// Trades a fixed schedule: on bar k, a market order of `qty` (signed) units.
#[derive(Debug)]
struct Scripted {
    name: String,
    plan: BTreeMap<usize, i64>,
    bar: usize,
    /// Act on quotes (counted like bars) instead of bars.
    on_quotes: bool,
    /// Fills this strategy's engine slot received: (order id, side, quantity).
    seen: Arc<Mutex<Vec<(String, Side, Decimal)>>>,
}

impl Strategy for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn on_bar(&mut self, ctx: &mut Context<'_>, _bar: &Bar) -> tessera_strategy::Result<()> {
        if self.on_quotes {
            return Ok(());
        }
        self.step(ctx)
    }
    fn on_quote(
        &mut self,
        ctx: &mut Context<'_>,
        _quote: &tessera_model::Quote,
    ) -> tessera_strategy::Result<()> {
        if !self.on_quotes {
            return Ok(());
        }
        self.step(ctx)
    }
    fn on_fill(&mut self, _ctx: &mut Context<'_>, fill: &Fill) -> tessera_strategy::Result<()> {
        self.seen.lock().unwrap().push((
            fill.client_order_id.to_string(),
            fill.side,
            fill.quantity.as_decimal(),
        ));
        Ok(())
    }
}

impl Scripted {
    fn step(&mut self, ctx: &mut Context<'_>) -> tessera_strategy::Result<()> {
        if let Some(&q) = self.plan.get(&self.bar) {
            let units = OrderQty::Units(Quantity::new(Decimal::from(q.abs())).unwrap());
            if q > 0 {
                ctx.buy(instrument().id, units)?;
            } else {
                ctx.sell(instrument().id, units)?;
            }
        }
        self.bar += 1;
        Ok(())
    }
}

type Seen = Arc<Mutex<Vec<(String, Side, Decimal)>>>;

/// Two scripted strategies `a` and `b` in one engine on one paper account, bars `[0, n)`.
async fn run_two(
    store: &Store,
    plans: [BTreeMap<usize, i64>; 2],
    n: usize,
) -> (EngineReport, [Seen; 2]) {
    let s = series(n);
    let feed = (0..n)
        .map(|i| MarketEvent::Bar {
            instrument: 0,
            bar: s.bar(i),
            values: s.values(i),
        })
        .collect();
    run_two_on(store, plans, feed, false).await
}

/// Two scripted strategies on `feed`, acting on bars or on quotes.
async fn run_two_on(
    store: &Store,
    plans: [BTreeMap<usize, i64>; 2],
    feed: Vec<MarketEvent>,
    on_quotes: bool,
) -> (EngineReport, [Seen; 2]) {
    let inst = instrument();
    let store = store.clone();
    let handle = tokio::runtime::Handle::current();
    let seen: [Seen; 2] = [Arc::default(), Arc::default()];
    let seen2 = seen.clone();
    let report = tokio::task::spawn_blocking(move || {
        let settings = VenueSettings {
            capital: cash(),
            run_prefix: "r1".into(),
            live_from: UnixNanos(0),
            halt_on_difference: true,
            reconcile_every: 10 * MIN,
        };
        let half = Money::new(Decimal::from(500_000), inst.quote_currency);
        let caps = ["a", "b"]
            .iter()
            .map(|x| (StrategyId::new(x).unwrap(), half))
            .collect();
        let venue = paper_venue(&handle, &store, settings).with_strategies(caps);
        assert!(venue.netting());
        let mut e = sim_engine(venue);
        for (k, (name, plan)) in ["a", "b"].iter().zip(plans).enumerate() {
            e.add_strategy(
                StrategyId::new(name).unwrap(),
                Box::new(Scripted {
                    name: (*name).into(),
                    plan,
                    bar: 0,
                    on_quotes,
                    seen: seen2[k].clone(),
                }),
            );
        }
        let (tx, rx) = sync_channel(16);
        let feeder = std::thread::spawn(move || {
            for ev in feed {
                tx.send(ev).unwrap();
            }
        });
        let report = e.run(&mut LiveSource::new(vec![inst], rx, 100)).unwrap();
        feeder.join().unwrap();
        report
    })
    .await
    .unwrap();
    (report, seen)
}

fn plan(p: &[(usize, i64)]) -> BTreeMap<usize, i64> {
    p.iter().copied().collect()
}

async fn strategy_position(store: &Store, s: &str) -> Decimal {
    store
        .positions()
        .await
        .unwrap()
        .iter()
        .filter(|p| p.strategy.as_str() == s)
        .map(|p| p.position.quantity)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_strategies_opposite_orders_crossed_internally_net_sent_to_broker() {
    // Bar 2: a buys 5, b sells 3 → 3 crossed, 2 to the broker.
    // Bar 4: a sells 4, b buys 4 → fully crossed, nothing to the broker.
    // Bar 6: a buys 1, b buys 2 → one instrument order of 3, allocated 1 + 2.
    // Bar 8: only b sells 6 → one instrument order of 6.
    let a = plan(&[(2, 5), (4, -4), (6, 1)]);
    let b = plan(&[(2, -3), (4, 4), (6, 2), (8, -6)]);
    for db in TestDb::all().await {
        let store = db.store();
        let be = store.backend();
        let (report, seen) = run_two(store, [a.clone(), b.clone()], 12).await;
        // Each strategy's position is what it asked for.
        assert_eq!(strategy_position(store, "a").await, d(2), "{be}");
        assert_eq!(strategy_position(store, "b").await, d(-3), "{be}");
        // The broker got only the nets: buy 2, buy 3, sell 6 (three orders).
        let mut broker = paper_broker(store).await;
        let broker_fills = broker.fills_since(UnixNanos(0)).await.unwrap();
        let mut at_broker: BTreeMap<String, Decimal> = BTreeMap::new();
        for f in &broker_fills {
            *at_broker.entry(f.client_order_id.to_string()).or_default() +=
                f.side.sign() * f.quantity.as_decimal();
        }
        assert_eq!(
            at_broker.values().copied().collect::<Vec<_>>(),
            vec![d(2), d(3), d(-6)],
            "{be}: the broker saw only net instrument orders"
        );
        let ios = store.instrument_orders("paper", false).await.unwrap();
        assert_eq!(ios.len(), 3, "{be}");
        assert!(ios.iter().all(|io| io.order.status == OrderStatus::Filled));
        assert_eq!(
            ios.iter()
                .map(|io| io.order.client_order_id.to_string())
                .collect::<Vec<_>>(),
            at_broker.keys().cloned().collect::<Vec<_>>(),
            "{be}: the broker-visible ids are the instrument orders'"
        );
        assert_eq!(
            ios[1]
                .allocations
                .iter()
                .map(|x| (x.quantity.as_decimal(), x.filled_quantity.as_decimal()))
                .collect::<Vec<_>>(),
            vec![(d(1), d(1)), (d(2), d(2))]
        );
        let broker_pos: Decimal = broker.positions().await.unwrap().iter().map(|p| p.1).sum();
        assert_eq!(broker_pos, d(-1), "{be}");
        assert_eq!(
            strategy_position(store, "a").await + strategy_position(store, "b").await,
            broker_pos,
            "{be}: per-strategy positions sum to the broker's"
        );
        // Strategy fills from the broker add up to the broker's fills (quantity and commission).
        let fills = store.fills().await.unwrap();
        let from_broker: Vec<_> = fills
            .iter()
            .filter(|f| f.fill.trade_id.as_str().contains('#'))
            .collect();
        let q: Decimal = from_broker
            .iter()
            .map(|f| f.fill.quantity.as_decimal())
            .sum();
        let c: Decimal = from_broker.iter().map(|f| f.fill.commission.amount).sum();
        assert_eq!(
            q,
            broker_fills
                .iter()
                .map(|f| f.quantity.as_decimal())
                .sum::<Decimal>()
        );
        assert_eq!(
            c,
            broker_fills
                .iter()
                .map(|f| f.commission.amount)
                .sum::<Decimal>()
        );
        let inst_fills = store.instrument_fills().await.unwrap();
        assert_eq!(inst_fills.len(), broker_fills.len(), "{be}");
        // Crossed pairs: booked for both sides at the last price, no commission, no broker.
        let crossed: Vec<_> = fills
            .iter()
            .filter(|f| f.fill.trade_id.as_str().contains("-x"))
            .collect();
        assert_eq!(crossed.len(), 4, "{be}: two crosses, a fill on each side");
        assert!(crossed.iter().all(|f| f.fill.commission.amount.is_zero()));
        // Every strategy order is filled; every fill is its own strategy's.
        let orders = store.orders(None).await.unwrap();
        assert_eq!(orders.len(), 7, "{be}");
        assert!(
            orders.iter().all(|o| o.order.status == OrderStatus::Filled),
            "{be}"
        );
        for (k, name) in ["a", "b"].iter().enumerate() {
            let got = seen[k].lock().unwrap().clone();
            assert!(!got.is_empty());
            assert!(
                got.iter()
                    .all(|(id, _, _)| id.starts_with(&format!("{name}-"))),
                "{got:?}"
            );
            let net: Decimal = got.iter().map(|(_, s, q)| s.sign() * q).sum();
            assert_eq!(
                net,
                strategy_position(store, name).await,
                "{be}: {name} saw its own fills"
            );
        }
        // The engine's book (both strategies) holds the broker's position.
        assert_eq!(report.final_positions[0].1, broker_pos);
    }
}

fn request(strategy: &str, side: Side, qty: i64) -> OrderRequest {
    OrderRequest {
        strategy: StrategyId::new(strategy).unwrap(),
        instrument: instrument().id,
        side,
        order_type: OrderType::Market,
        quantity: Quantity::new(d(qty)).unwrap(),
        limit_price: None,
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
    }
}

/// A broker whose hand-off fails (the process died between storing and sending).
#[derive(Debug)]
struct DiesOnSubmit(PaperBroker);

impl Broker for DiesOnSubmit {
    fn name(&self) -> &str {
        "paper"
    }
    async fn submit(
        &mut self,
        _o: &Order,
        _now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        Err(tessera_execution::Error::Broker {
            broker: "paper".into(),
            message: "killed before the POST".into(),
            retryable: true,
        })
    }
    async fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.0.cancel(id, now).await
    }
    async fn modify(
        &mut self,
        id: &ClientOrderId,
        c: tessera_execution::broker::OrderChange,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.0.modify(id, c, now).await
    }
    async fn open_orders(
        &mut self,
    ) -> tessera_execution::Result<Vec<tessera_execution::BrokerOrder>> {
        self.0.open_orders().await
    }
    async fn lookup(
        &mut self,
        id: &ClientOrderId,
    ) -> tessera_execution::Result<Option<tessera_execution::BrokerOrder>> {
        self.0.lookup(id).await
    }
    async fn fills_since(&mut self, since: UnixNanos) -> tessera_execution::Result<Vec<Fill>> {
        self.0.fills_since(since).await
    }
    async fn positions(&mut self) -> tessera_execution::Result<Vec<(InstrumentId, Decimal)>> {
        self.0.positions().await
    }
    async fn account(&mut self) -> tessera_execution::Result<tessera_model::Account> {
        self.0.account().await
    }
    async fn on_market(
        &mut self,
        u: MarketUpdate<'_>,
        now: UnixNanos,
    ) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.0.on_market(u, now).await
    }
    async fn poll_events(&mut self) -> tessera_execution::Result<Vec<BrokerEvent>> {
        self.0.poll_events().await
    }
}

/// Store one strategy order per `(strategy, side, qty)` as created (approved by risk).
async fn create_batch(
    stack: &mut OrderStack,
    batch: &[(&str, &str, Side, i64)],
    now: UnixNanos,
) -> Vec<ClientOrderId> {
    let risk = RiskEngine::new(RiskLimits::default()).unwrap();
    let px = series(1).bar(0).close;
    let mut ids = Vec::new();
    for (id, s, side, q) in batch {
        let st = stack.risk_state(
            &StrategyId::new(s).unwrap(),
            &instrument().id,
            Some(px),
            now,
        );
        let ok = risk.check(request(s, *side, *q), &st).unwrap();
        let id = ClientOrderId::new(id).unwrap();
        stack.create(id.clone(), ok, now).await.unwrap();
        ids.push(id);
    }
    ids
}

async fn net<B: Broker>(
    stack: &mut OrderStack,
    broker: &mut B,
    ids: &[ClientOrderId],
    tag: &str,
    now: UnixNanos,
) -> tessera_execution::Result<Vec<tessera_execution::stack::Applied>> {
    let px: Price = series(1).bar(0).close;
    let reference = move |_: &InstrumentId| Some(px);
    let check = |_: &OrderRequest, _: &RiskState| Ok(());
    let tag2 = tag.to_string();
    let mut next = move |_: &InstrumentId| Ok(ClientOrderId::new(&format!("{tag2}-n1")).unwrap());
    stack
        .net_and_send(
            broker,
            ids,
            NetRequest {
                instrument_order_id: &mut next,
                cross_prefix: format!("{tag}-b1"),
                reference_price: &reference,
                check: &check,
            },
            now,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_netted_recovery_after_crash_between_store_and_send_and_between_fill_and_allocation() {
    let s = series(6);
    let now = UnixNanos(T0 + MIN);
    for db in TestDb::all().await {
        let store = db.store();
        let be = store.backend();
        // Crash 0: a batch stored (created), the process died before netting it.
        let (mut broker, mut stack) = open_paper(store).await;
        let lost = create_batch(&mut stack, &[("c0-a", "a", Side::Buy, 1)], now).await;
        drop((broker, stack));
        // Crash 1: netted, the instrument order stored as submitted, killed before the broker call.
        let (paper, mut stack) = open_paper(store).await;
        let mut dying = DiesOnSubmit(paper);
        let ids = create_batch(
            &mut stack,
            &[("c1-a", "a", Side::Buy, 5), ("c1-b", "b", Side::Sell, 2)],
            now,
        )
        .await;
        let applied = net(&mut stack, &mut dying, &ids, "c1", now).await.unwrap();
        assert_eq!(
            applied.iter().filter(|a| a.fill.is_some()).count(),
            2,
            "{be}: the cross is booked and reported though the hand-off failed"
        );
        assert_eq!(
            stack.instrument_orders().count(),
            1,
            "{be}: stored before sending"
        );
        drop((dying, stack));
        // Restart: the unsent instrument order is marked never sent; the cross stays booked.
        (broker, stack) = open_paper(store).await;
        let report = stack.recover(&mut broker, now).await.unwrap();
        assert_eq!(
            report.never_sent,
            vec![ClientOrderId::new("c1-n1").unwrap(), lost[0].clone()],
            "{be}"
        );
        let o = |id: &str| {
            let store = store.clone();
            let id = ClientOrderId::new(id).unwrap();
            async move { store.order(&id).await.unwrap().order }
        };
        let c0 = o(&lost[0].to_string()).await;
        assert_eq!(c0.status, OrderStatus::Rejected);
        assert!(c0.reject_reason.unwrap().starts_with("never sent"));
        let c1a = o("c1-a").await;
        assert_eq!(
            (c1a.status, c1a.filled_quantity.as_decimal()),
            (OrderStatus::Cancelled, d(2)),
            "{be}: crossed part kept, rest never sent"
        );
        assert_eq!(o("c1-b").await.status, OrderStatus::Filled);
        assert_eq!(
            strategy_position(store, "a").await + strategy_position(store, "b").await,
            d(0)
        );
        assert!(
            broker.fills_since(UnixNanos(0)).await.unwrap().is_empty(),
            "{be}: nothing reached the broker"
        );

        // Crash 2: sent and filled at the broker, the process died before the fill was allocated.
        let ids = create_batch(
            &mut stack,
            &[
                ("c2-a", "a", Side::Buy, 4),
                ("c2-b", "b", Side::Buy, 3),
                ("c2-c", "c", Side::Sell, 1),
            ],
            now,
        )
        .await;
        net(&mut stack, &mut broker, &ids, "c2", now).await.unwrap();
        broker
            .on_market(MarketUpdate::BarProcessed(&s.bar(1)), now)
            .await
            .unwrap();
        let filled = broker
            .on_market(MarketUpdate::Bar(&s.bar(2)), UnixNanos(T0 + 3 * MIN))
            .await
            .unwrap();
        assert!(
            filled.iter().any(|e| matches!(e, BrokerEvent::Fill(_))),
            "{be}: the broker filled it"
        );
        // The fill events are lost with the process.
        drop((broker, stack));
        (broker, stack) = open_paper(store).await;
        let report = stack
            .recover(&mut broker, UnixNanos(T0 + 4 * MIN))
            .await
            .unwrap();
        assert_eq!(report.fills_booked, 1, "{be}");
        assert!(report.never_sent.is_empty());
        for (id, q) in [("c2-a", 4), ("c2-b", 3), ("c2-c", 1)] {
            let x = o(id).await;
            assert_eq!(
                (x.status, x.filled_quantity.as_decimal()),
                (OrderStatus::Filled, d(q)),
                "{be} {id}"
            );
        }
        assert_eq!(strategy_position(store, "a").await, d(2 + 4), "{be}");
        assert_eq!(strategy_position(store, "b").await, d(-2 + 3));
        assert_eq!(strategy_position(store, "c").await, d(-1));
        let broker_pos: Decimal = broker.positions().await.unwrap().iter().map(|p| p.1).sum();
        assert_eq!(broker_pos, d(6));
        let ours = stored_position(store).await;
        assert_eq!(
            ours, broker_pos,
            "{be}: per-strategy positions sum to the broker's"
        );
        // No duplicate: the broker holds one order per instrument order id, one fill booked once.
        let broker_fills = broker.fills_since(UnixNanos(0)).await.unwrap();
        assert_eq!(broker_fills.len(), 1);
        assert_eq!(store.instrument_fills().await.unwrap().len(), 1);
        let io = store.instrument_orders("paper", false).await.unwrap();
        let sent = io
            .iter()
            .find(|x| x.order.client_order_id.as_str() == "c2-n1")
            .unwrap();
        assert_eq!(sent.order.status, OrderStatus::Filled);
        let again = broker.submit(&sent.order, now).await.unwrap();
        assert!(
            matches!(&again[0], BrokerEvent::Rejected { reason, .. } if reason.contains("duplicate")),
            "{be}: a resend is refused"
        );
        // Recovery is idempotent, and a replayed broker fill changes nothing.
        assert_eq!(
            stack
                .recover(&mut broker, UnixNanos(T0 + 5 * MIN))
                .await
                .unwrap(),
            Default::default()
        );
        let replay: Vec<BrokerEvent> = broker_fills.into_iter().map(BrokerEvent::Fill).collect();
        assert!(
            stack
                .apply_all(&replay, UnixNanos(T0 + 5 * MIN))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.fills().await.unwrap().len(),
            2 + 2 + 2,
            "{be}: two crosses of two fills, two allocations"
        );
    }
}

/// The net instrument order is checked at account level: a refusal rejects
/// (or, when a cross filled part of it, cancels) the strategy orders it
/// carried and keeps the cross; cancelling one netted strategy order cancels
/// its whole instrument order at the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_net_order_refused_by_account_limit_and_cancelled_as_a_whole() {
    let now = UnixNanos(T0 + MIN);
    let px: Price = series(1).bar(0).close;
    for db in TestDb::all().await {
        let store = db.store();
        let be = store.backend();
        let (mut broker, mut stack) = open_paper(store).await;
        let limit = RiskEngine::new(RiskLimits {
            max_order_quantity: Some(d(3)),
            ..RiskLimits::default()
        })
        .unwrap();
        let reference = move |_: &InstrumentId| Some(px);
        let check = |r: &OrderRequest, st: &RiskState| {
            limit
                .check(r.clone(), st)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let mut n = 0;
        let mut next = |_: &InstrumentId| {
            n += 1;
            Ok(ClientOrderId::new(&format!("r1-n{n}")).unwrap())
        };
        // a buys 5, b sells 1: 1 crossed, the net buy of 4 is over the account's order limit.
        let ids = create_batch(
            &mut stack,
            &[
                ("r1-a-1", "a", Side::Buy, 5),
                ("r1-b-1", "b", Side::Sell, 1),
            ],
            now,
        )
        .await;
        let req = NetRequest {
            instrument_order_id: &mut next,
            cross_prefix: "r1-b1".into(),
            reference_price: &reference,
            check: &check,
        };
        stack
            .net_and_send(&mut broker, &ids, req, now)
            .await
            .unwrap();
        let a = store.order(&ids[0]).await.unwrap().order;
        assert_eq!(
            (a.status, a.filled_quantity.as_decimal()),
            (OrderStatus::Cancelled, d(1)),
            "{be}"
        );
        let events = store.order_events(&ids[0]).await.unwrap();
        assert!(
            events.iter().any(|e| e
                .1
                .as_deref()
                .is_some_and(|d| d.contains("risk: net instrument order"))),
            "{events:?}"
        );
        assert_eq!(
            store.order(&ids[1]).await.unwrap().order.status,
            OrderStatus::Filled
        );
        assert!(
            store
                .instrument_orders("paper", false)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(broker.open_orders().await.unwrap().is_empty());
        // a buys 2, b buys 1: one instrument order of 3, working at the broker.
        let ids = create_batch(
            &mut stack,
            &[("r1-a-2", "a", Side::Buy, 2), ("r1-b-2", "b", Side::Buy, 1)],
            now,
        )
        .await;
        let req = NetRequest {
            instrument_order_id: &mut next,
            cross_prefix: "r1-b2".into(),
            reference_price: &reference,
            check: &check,
        };
        stack
            .net_and_send(&mut broker, &ids, req, now)
            .await
            .unwrap();
        let io = stack.instrument_order_of(&ids[1]).cloned().unwrap();
        assert_eq!(
            io.as_str(),
            "r1-n1",
            "{be}: ids are used only for orders that are sent"
        );
        assert_eq!(broker.open_orders().await.unwrap().len(), 1);
        assert_eq!(
            store.order(&ids[0]).await.unwrap().order.status,
            OrderStatus::Accepted
        );
        stack.cancel(&mut broker, &ids[1], now).await.unwrap();
        assert!(broker.open_orders().await.unwrap().is_empty(), "{be}");
        for id in &ids {
            assert_eq!(
                store.order(id).await.unwrap().order.status,
                OrderStatus::Cancelled,
                "{be}: {id}"
            );
        }
        let stored = store.instrument_orders("paper", false).await.unwrap();
        assert_eq!(stored[0].order.status, OrderStatus::Cancelled);
        assert_eq!(stack.instrument_orders().count(), 0);
        assert_eq!(stack.open_orders().count(), 0);
    }
}

/// Orders asked for on a quote are netted before the next market event is
/// shown to the broker (the engine has no "quote processed" step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_orders_on_quotes_are_netted_at_the_next_event() {
    let inst = instrument();
    let q = |k: i64| {
        let bid = Price::new(Decimal::new(1_000_000 + k * 10, 2)).unwrap();
        let ask = Price::new(Decimal::new(1_000_050 + k * 10, 2)).unwrap();
        MarketEvent::Quote {
            instrument: 0,
            quote: tessera_model::Quote {
                instrument: inst.id,
                ts_event: UnixNanos(T0 + k * 1_000_000_000),
                bid_price: bid,
                bid_size: Quantity::new(d(100)).unwrap(),
                ask_price: ask,
                ask_size: Quantity::new(d(100)).unwrap(),
            },
        }
    };
    // Quote 1: a buys 4, b sells 1 → 1 crossed, 3 to the broker. Quote 3: a sells 2, b sells 2.
    let a = plan(&[(1, 4), (3, -2)]);
    let b = plan(&[(1, -1), (3, -2)]);
    for db in TestDb::all().await {
        let store = db.store();
        let be = store.backend();
        let (report, seen) =
            run_two_on(store, [a.clone(), b.clone()], (0..8).map(q).collect(), true).await;
        assert_eq!(strategy_position(store, "a").await, d(2), "{be}");
        assert_eq!(strategy_position(store, "b").await, d(-3), "{be}");
        let ios = store.instrument_orders("paper", false).await.unwrap();
        assert_eq!(
            ios.iter()
                .map(|io| (
                    io.order.request.side,
                    io.order.request.quantity.as_decimal(),
                    io.order.status
                ))
                .collect::<Vec<_>>(),
            vec![
                (Side::Buy, d(3), OrderStatus::Filled),
                (Side::Sell, d(4), OrderStatus::Filled)
            ],
            "{be}"
        );
        // Sent when the next quote arrived, stamped with the time they were asked for.
        assert_eq!(ios[0].order.created_at, UnixNanos(T0 + 1_000_000_000));
        let mut broker = paper_broker(store).await;
        let broker_pos: Decimal = broker.positions().await.unwrap().iter().map(|p| p.1).sum();
        assert_eq!(broker_pos, d(-1), "{be}");
        assert_eq!(report.final_positions[0].1, broker_pos);
        assert_eq!(
            seen[0].lock().unwrap().len(),
            3,
            "{be}: a: cross, broker fill, broker fill"
        );
    }
}

/// `Venue::on_event_processed` (after a quote's or a timer's strategies
/// acted) nets and sends the batch at once; a limit order is never netted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_on_event_processed_sends_the_batch_and_limit_orders_go_one_to_one() {
    use tessera_engine::{Venue, VenueEvent};
    use tessera_strategy::OrderIntent;
    let inst = instrument();
    for db in TestDb::all().await {
        let store = db.store().clone();
        let be = store.backend();
        let handle = tokio::runtime::Handle::current();
        let inst2 = inst.clone();
        let (events, limit_events, ios, orders) = tokio::task::spawn_blocking(move || {
            let settings = VenueSettings {
                capital: cash(),
                run_prefix: "r1".into(),
                live_from: UnixNanos(0),
                halt_on_difference: false,
                reconcile_every: 0,
            };
            let caps = ["a", "b"]
                .iter()
                .map(|x| (StrategyId::new(x).unwrap(), cash()))
                .collect();
            let mut v = paper_venue(&handle, &store, settings).with_strategies(caps);
            v.register(std::slice::from_ref(&inst2)).unwrap();
            let mut out = Vec::new();
            let s = series(2);
            v.on_bar(0, &s.bar(0), &mut out).unwrap();
            let now = UnixNanos(T0 + MIN);
            let units = |n: i64| OrderQty::Units(Quantity::new(d(n)).unwrap());
            v.submit(
                ClientOrderId::new("a-1").unwrap(),
                &OrderIntent::market(inst2.id, Side::Buy, units(3)),
                now,
                &mut out,
            )
            .unwrap();
            v.submit(
                ClientOrderId::new("b-1").unwrap(),
                &OrderIntent::market(inst2.id, Side::Sell, units(1)),
                now,
                &mut out,
            )
            .unwrap();
            assert!(
                out.is_empty(),
                "nothing sent while the strategies act: {out:?}"
            );
            v.on_event_processed(now, &mut out).unwrap();
            let events = std::mem::take(&mut out);
            let limit = Price::new(Decimal::from(5_000)).unwrap();
            v.submit(
                ClientOrderId::new("b-2").unwrap(),
                &OrderIntent::limit(inst2.id, Side::Buy, units(1), limit),
                now,
                &mut out,
            )
            .unwrap();
            let limit_events = std::mem::take(&mut out);
            let ios = handle
                .block_on(store.instrument_orders("paper", false))
                .unwrap();
            let orders = handle.block_on(store.orders(None)).unwrap();
            (events, limit_events, ios, orders)
        })
        .await
        .unwrap();
        // The engine hears of the cross under its own ids, then of the acknowledgements.
        let fills: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                VenueEvent::Fill { fill, .. } => Some(fill.client_order_id.to_string()),
                VenueEvent::Update(_) | VenueEvent::Restored { .. } => None,
            })
            .collect();
        assert_eq!(fills, vec!["a-1", "b-1"], "{be}: {events:?}");
        assert_eq!(ios.len(), 1, "{be}");
        assert_eq!(ios[0].order.request.quantity.as_decimal(), d(2));
        assert_eq!(ios[0].order.status, OrderStatus::Accepted);
        // The limit order went to the broker itself, at once, under its own id.
        assert!(
            limit_events.iter().any(|e| matches!(e, VenueEvent::Update(u) if u.client_order_id.as_str() == "b-2" && u.status == OrderStatus::Accepted)),
            "{be}: {limit_events:?}"
        );
        let b2 = orders
            .iter()
            .find(|o| o.order.client_order_id.as_str() == "r1-b-2")
            .unwrap();
        assert_eq!(b2.order.status, OrderStatus::Accepted);
    }
}
