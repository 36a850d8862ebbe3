//! Live engine tests: backtest/paper parity, restart continuity and crash recovery of the order stack.

mod common;

use std::sync::mpsc::sync_channel;

use common::{
    MIN, T0, cash, empty_series, instrument, open_paper, paper_broker, paper_venue, sim_config,
    sim_engine, stored_position,
};

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_engine::{BarSeries, Engine, EngineReport, MarketEvent, SeriesSource, SimVenue};
use tessera_execution::{Broker, OrderStack};
use tessera_live::{LiveSource, VenueSettings};
use tessera_model::{
    ClientOrderId, Money, OrderRequest, OrderStatus, OrderType, Quantity, Side, StrategyId,
    TimeInForce,
};
use tessera_risk::{RiskEngine, RiskLimits};
use tessera_storage::Store;
use tessera_storage::testing::TestDb;
use tessera_strategy::Params;

/// A deterministic zig-zag market with drift, in cents.
fn series(n: usize) -> BarSeries {
    let mut s = empty_series();
    let mut px: i64 = 1_000_000;
    for i in 0..n {
        let wave = ((i as f64) / 7.0).sin() * 900.0 + ((i as f64) / 23.0).cos() * 1500.0;
        let next = 1_000_000 + wave as i64 + (i as i64) * 3;
        let (o, c) = (px, next);
        s.open_time.push(T0 + i as i64 * MIN);
        s.open.push(o);
        s.close.push(c);
        s.high.push(o.max(c) + 150);
        s.low.push(o.min(c) - 150);
        s.volume.push(1_000);
        px = c;
    }
    s
}

fn strategy() -> Box<dyn tessera_strategy::Strategy> {
    tessera_strategy::build(
        "sma_cross",
        &Params::parse(["fast=5", "slow=12", "size=2"]).unwrap(),
    )
    .unwrap()
}

fn backtest(s: &BarSeries) -> EngineReport {
    let mut e = sim_engine(SimVenue::new(sim_config()));
    e.add_strategy(StrategyId::new("sma_cross").unwrap(), strategy());
    let series = [s.clone()];
    e.run(&mut SeriesSource::new(&series).unwrap()).unwrap()
}

/// Run the live engine (paper broker, accelerated clock = event time) over bars `[from, to)` of `s`.
async fn live(store: &Store, s: &BarSeries, from: usize, to: usize, run: &str) -> EngineReport {
    let inst = instrument();
    let store = store.clone();
    let s = s.clone();
    let run = run.to_string();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let settings = VenueSettings {
            capital: cash(),
            run_prefix: run,
            live_from: UnixNanos(0),
            halt_on_difference: true,
            reconcile_every: 10 * MIN,
        };
        let venue = paper_venue(&handle, &store, settings);
        let mut e = sim_engine(venue);
        e.add_strategy(StrategyId::new("sma_cross").unwrap(), strategy());
        let (tx, rx) = sync_channel(16);
        let feeder = std::thread::spawn(move || {
            for i in from..to {
                tx.send(MarketEvent::Bar {
                    instrument: 0,
                    bar: s.bar(i),
                    values: s.values(i),
                })
                .unwrap();
            }
        });
        let report = e.run(&mut LiveSource::new(vec![inst], rx, 100)).unwrap();
        feeder.join().unwrap();
        report
    })
    .await
    .unwrap()
}

fn key(r: &EngineReport) -> Vec<(String, Side, String, String, String, UnixNanos)> {
    r.fills
        .iter()
        .map(|f| {
            (
                f.client_order_id.to_string(),
                f.side,
                f.price.to_string(),
                f.quantity.to_string(),
                f.commission.amount.normalize().to_string(),
                f.ts_event,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_parity_backtest_and_paper_trading_same_orders_and_fills() {
    let s = series(400);
    let bt = backtest(&s);
    assert!(
        bt.fills.len() >= 10,
        "the strategy trades: {} fills",
        bt.fills.len()
    );
    for db in TestDb::all().await {
        let store = db.store();
        let lv = live(store, &s, 0, s.len(), "r1").await;
        assert_eq!(
            key(&lv),
            key(&bt),
            "{}: same fills, same order ids, same times",
            store.backend()
        );
        assert_eq!(lv.final_equity, bt.final_equity);
        assert_eq!(lv.final_positions, bt.final_positions);
        // Every order is stored under the run-prefixed id the broker saw, and filled.
        let orders = store.orders(None).await.unwrap();
        let mut bt_ids: Vec<String> = bt
            .fills
            .iter()
            .map(|f| format!("r1-{}", f.client_order_id))
            .collect();
        bt_ids.dedup();
        let stored: Vec<String> = orders
            .iter()
            .map(|o| o.order.client_order_id.to_string())
            .collect();
        for id in &bt_ids {
            assert!(stored.contains(id), "{id} stored");
        }
        assert!(orders.iter().all(|o| o.order.status == OrderStatus::Filled));
        assert_eq!(store.fills().await.unwrap().len(), bt.fills.len());
        assert!(
            !store.account_history("paper").await.unwrap().is_empty(),
            "account value history recorded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_restart_continues_without_duplicates() {
    let s = series(400);
    let bt = backtest(&s);
    for db in TestDb::all().await {
        let store = db.store();
        live(store, &s, 0, 200, "r1").await;
        let second = live(store, &s, 200, 400, "r2").await;
        // The second run starts from the stored book: its final position is the backtest's.
        assert_eq!(
            second.final_positions,
            bt.final_positions,
            "{}",
            store.backend()
        );
        let fills = store.fills().await.unwrap();
        let mut ids: Vec<_> = fills
            .iter()
            .map(|f| (f.broker.clone(), f.fill.trade_id.to_string()))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), fills.len(), "no trade booked twice");
        let stored_pos = stored_position(store).await;
        assert_eq!(stored_pos, bt.final_positions[0].1);
        // The paper broker's own book agrees.
        let mut broker = paper_broker(store).await;
        assert_eq!(broker.positions().await.unwrap()[0].1, stored_pos);
    }
}

fn request(qty: &str) -> OrderRequest {
    OrderRequest {
        strategy: StrategyId::new("s").unwrap(),
        instrument: instrument().id,
        side: Side::Buy,
        order_type: OrderType::Market,
        quantity: Quantity::parse(qty).unwrap(),
        limit_price: None,
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_recovery_after_crash_between_store_and_send_and_between_fill_and_booking() {
    let s = series(5);
    for db in TestDb::all().await {
        let store = db.store();
        let inst = instrument();
        let risk = RiskEngine::new(RiskLimits::default()).unwrap();
        let (mut broker, mut stack) = open_paper(store).await;
        let now = UnixNanos(T0);
        let approve = |stack: &OrderStack, q: &str| {
            risk.check(
                request(q),
                &stack.risk_state(
                    &StrategyId::new("s").unwrap(),
                    &inst.id,
                    Some(s.bar(0).close),
                    now,
                ),
            )
            .unwrap()
        };
        // Crash 1: stored as created, never sent.
        let a = approve(&stack, "1");
        stack
            .create(ClientOrderId::new("a").unwrap(), a, now)
            .await
            .unwrap();
        // Crash 2: sent and filled at the broker, the fill never booked here.
        let b = approve(&stack, "2");
        let order = stack
            .create(ClientOrderId::new("b").unwrap(), b, now)
            .await
            .unwrap();
        stack
            .mark_submitted(&order.client_order_id, now)
            .await
            .unwrap();
        let mut sent = order.clone();
        sent.status = OrderStatus::Submitted;
        broker.submit(&sent, now).await.unwrap();
        broker
            .on_market(
                tessera_execution::MarketUpdate::BarProcessed(&s.bar(0)),
                now,
            )
            .await
            .unwrap();
        let filled = broker
            .on_market(
                tessera_execution::MarketUpdate::Bar(&s.bar(1)),
                UnixNanos(T0 + 2 * MIN),
            )
            .await
            .unwrap();
        assert!(
            filled
                .iter()
                .any(|e| matches!(e, tessera_execution::BrokerEvent::Fill(_))),
            "the broker filled b"
        );
        drop(stack);
        drop(broker);
        // Restart.
        let (mut broker, mut stack) = open_paper(store).await;
        let report = stack
            .recover(&mut broker, UnixNanos(T0 + 3 * MIN))
            .await
            .unwrap();
        assert_eq!(
            report.never_sent,
            [ClientOrderId::new("a").unwrap()],
            "{}",
            store.backend()
        );
        assert_eq!(report.fills_booked, 1);
        let a = store
            .order(&ClientOrderId::new("a").unwrap())
            .await
            .unwrap()
            .order;
        assert_eq!(a.status, OrderStatus::Rejected);
        assert!(a.reject_reason.unwrap().starts_with("never sent"));
        assert_eq!(
            store
                .order(&ClientOrderId::new("b").unwrap())
                .await
                .unwrap()
                .order
                .status,
            OrderStatus::Filled
        );
        assert_eq!(stack.instrument_position(&inst.id), Decimal::from(2));
        // A resend of a known id is refused by the broker, not executed twice.
        let again = broker.submit(&sent, now).await.unwrap();
        assert!(
            matches!(&again[0], tessera_execution::BrokerEvent::Rejected { reason, .. } if reason.contains("duplicate"))
        );
        // Recovery is idempotent.
        assert_eq!(
            stack
                .recover(&mut broker, UnixNanos(T0 + 4 * MIN))
                .await
                .unwrap(),
            Default::default()
        );
        // Kill switch: persisted, blocks new orders.
        stack.set_kill_switch(true).await.unwrap();
        let st = stack.risk_state(
            &StrategyId::new("s").unwrap(),
            &inst.id,
            Some(s.bar(0).close),
            now,
        );
        assert!(risk.check(request("1"), &st).is_err());
        let reloaded = OrderStack::load(store.clone(), "paper", inst.quote_currency, &[inst])
            .await
            .unwrap();
        assert!(reloaded.kill_switch());
    }
}

/// A paper book stored the old way (one JSON value under `paper:<account>`)
/// is moved into the per-row tables on open, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_paper_book_legacy_json_moves_into_rows() {
    for db in TestDb::all().await {
        let store = db.store();
        let inst = instrument();
        let fill = tessera_model::Fill {
            client_order_id: ClientOrderId::new("r1-old-1").unwrap(),
            trade_id: tessera_model::TradeId::new("paper-1").unwrap(),
            instrument: inst.id,
            side: Side::Buy,
            price: tessera_model::Price::new(Decimal::from(100)).unwrap(),
            quantity: Quantity::new(Decimal::ONE).unwrap(),
            commission: Money::new(Decimal::ZERO, inst.quote_currency),
            ts_event: UnixNanos(T0),
        };
        let legacy = serde_json::json!({"next_trade": 1, "fills": [fill], "open": []});
        store
            .set_state("paper:paper", &legacy.to_string())
            .await
            .unwrap();
        let mut broker = paper_broker(store).await;
        assert_eq!(
            broker.fills_since(UnixNanos(0)).await.unwrap(),
            vec![fill.clone()]
        );
        assert_eq!(store.state("paper:paper").await.unwrap(), None);
        let (rows, open) = store.paper_book("paper").await.unwrap();
        assert_eq!((rows.len(), rows[0].seq, open.len()), (1, 1, 0));
        // Reopened from the rows: the same book, and the next fill continues the numbering.
        let mut again = paper_broker(store).await;
        assert_eq!(again.fills_since(UnixNanos(0)).await.unwrap(), vec![fill]);
    }
}

/// Sets a timer 50 ms ahead at start and again each time it fires; counts firings.
#[derive(Debug)]
struct Ticker {
    fired: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tessera_strategy::Strategy for Ticker {
    fn name(&self) -> &str {
        "ticker"
    }
    fn on_start(
        &mut self,
        ctx: &mut tessera_strategy::Context<'_>,
    ) -> tessera_strategy::Result<()> {
        ctx.set_timer(UnixNanos(ctx.now().0 + 50_000_000), "tick");
        Ok(())
    }
    fn on_bar(
        &mut self,
        _ctx: &mut tessera_strategy::Context<'_>,
        _bar: &tessera_model::Bar,
    ) -> tessera_strategy::Result<()> {
        Ok(())
    }
    fn on_timer(
        &mut self,
        ctx: &mut tessera_strategy::Context<'_>,
        timer: &tessera_strategy::TimerEvent,
    ) -> tessera_strategy::Result<()> {
        assert_eq!(timer.name, "tick");
        self.fired.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ctx.set_timer(UnixNanos(ctx.now().0 + 50_000_000), "tick");
        Ok(())
    }
}

#[test]
fn test_live_timers_fire_on_the_wall_clock_without_market_events() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tessera_core::{Clock, SystemClock};

    let fired = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = sync_channel::<MarketEvent>(16);
    let source_instruments = vec![instrument()];
    let mut engine = Engine::new(
        SystemClock,
        SimVenue::new(sim_config()),
        source_instruments.clone(),
        cash(),
        Decimal::ONE,
    )
    .unwrap();
    engine.add_strategy(
        StrategyId::new("ticker").unwrap(),
        Box::new(Ticker {
            fired: fired.clone(),
        }),
    );
    let started = SystemClock.now();
    let feed = std::thread::spawn(move || {
        // No market data at all for 400 ms, then shutdown.
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(tx);
    });
    let report = engine
        .run(&mut LiveSource::new(source_instruments, rx, 10))
        .unwrap();
    feed.join().unwrap();
    let elapsed_ms = (SystemClock.now().0 - started.0) / 1_000_000;
    let n = fired.load(Ordering::SeqCst);
    // Every 50 ms over ~400 ms: about 7; at least a few even on a loaded machine, and never
    // more than the wall clock allows.
    assert!(n >= 3, "timer fired {n} times in {elapsed_ms} ms");
    assert!(
        n as i64 <= elapsed_ms / 50 + 1,
        "timer fired {n} times in {elapsed_ms} ms"
    );
    assert!(report.fills.is_empty());
}
