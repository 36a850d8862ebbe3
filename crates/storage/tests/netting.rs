//! The netting layer's records (instrument orders, allocations, instrument
//! fills) written by `write_stack` in one transaction, on SQLite and PostgreSQL.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, Currency, Fill, InstrumentId, Money, Order, OrderEvent, OrderRequest,
    OrderStatus, OrderType, Position, Price, Quantity, Side, StrategyId, TimeInForce, TradeId,
};
use tessera_storage::testing::TestDb;
use tessera_storage::{
    Error, NETTED_STRATEGY, StackWrite, StoredAllocation, StoredInstrumentOrder,
};

fn order(id: &str, strategy: &str, qty: &str) -> Order {
    let request = OrderRequest {
        strategy: StrategyId::new(strategy).unwrap(),
        instrument: InstrumentId::parse("AAPL", "alpaca").unwrap(),
        side: Side::Buy,
        order_type: OrderType::Market,
        quantity: Quantity::parse(qty).unwrap(),
        limit_price: None,
        stop_price: None,
        time_in_force: TimeInForce::Day,
    };
    Order::new(ClientOrderId::new(id).unwrap(), request, UnixNanos(10)).unwrap()
}

fn fill(o: &Order, trade: &str, qty: &str, commission: &str) -> Fill {
    Fill {
        client_order_id: o.client_order_id.clone(),
        trade_id: TradeId::new(trade).unwrap(),
        instrument: o.request.instrument,
        side: o.request.side,
        price: Price::parse("190.5").unwrap(),
        quantity: Quantity::parse(qty).unwrap(),
        commission: Money::parse(&format!("{commission} USD")).unwrap(),
        ts_event: UnixNanos(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_write_stack_instrument_orders_allocations_and_fills_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        let be = store.backend();
        let usd = Currency::new("USD").unwrap();
        // Two strategy orders, stored before netting.
        let mut a = order("r1-a-1", "a", "2");
        let mut b = order("r1-b-1", "b", "1");
        store.insert_order("alpaca", &a).await.unwrap();
        store.insert_order("alpaca", &b).await.unwrap();
        a.apply(&OrderEvent::Submitted, UnixNanos(11)).unwrap();
        b.apply(&OrderEvent::Submitted, UnixNanos(11)).unwrap();
        let mut io = order("r1-n1", NETTED_STRATEGY, "3");
        io.apply(&OrderEvent::Submitted, UnixNanos(11)).unwrap();
        let mut stored = StoredInstrumentOrder {
            broker: "alpaca".into(),
            order: io.clone(),
            allocations: vec![
                StoredAllocation {
                    strategy_order: a.client_order_id.clone(),
                    quantity: Quantity::parse("2").unwrap(),
                    filled_quantity: Quantity::ZERO,
                },
                StoredAllocation {
                    strategy_order: b.client_order_id.clone(),
                    quantity: Quantity::parse("1").unwrap(),
                    filled_quantity: Quantity::ZERO,
                },
            ],
        };
        let w = StackWrite {
            new_instrument_orders: vec![stored.clone()],
            order_updates: vec![
                (a.clone(), Some("netted into r1-n1".into())),
                (b.clone(), Some("netted into r1-n1".into())),
            ],
            ..StackWrite::default()
        };
        assert!(store.write_stack("alpaca", &w).await.unwrap(), "{be}");
        assert!(
            matches!(
                store.write_stack("alpaca", &w).await,
                Err(Error::AlreadyExists(_))
            ),
            "{be}: an instrument order id is taken once"
        );
        let open = store.instrument_orders("alpaca", true).await.unwrap();
        assert_eq!(open, vec![stored.clone()], "{be}: read back as written");
        assert_eq!(open[0].order.request.strategy.as_str(), NETTED_STRATEGY);
        assert_eq!(
            store.order(&a.client_order_id).await.unwrap().order.status,
            OrderStatus::Submitted
        );
        // The broker fills all 3: shared out 2 + 1, commission pro rata.
        let broker_fill = fill(&io, "T1", "3", "0.3");
        io.apply_fill(&broker_fill).unwrap();
        stored.order = io.clone();
        stored.allocations[0].filled_quantity = Quantity::parse("2").unwrap();
        stored.allocations[1].filled_quantity = Quantity::parse("1").unwrap();
        let fa = fill(&a, "T1#0", "2", "0.2");
        let fb = fill(&b, "T1#1", "1", "0.1");
        a.apply_fill(&fa).unwrap();
        b.apply_fill(&fb).unwrap();
        let mut pa = Position::flat(a.request.instrument, Decimal::ONE, usd);
        pa.apply_fill(&fa).unwrap();
        let mut pb = Position::flat(b.request.instrument, Decimal::ONE, usd);
        pb.apply_fill(&fb).unwrap();
        let w = StackWrite {
            instrument_fill: Some(broker_fill.clone()),
            instrument_updates: vec![stored.clone()],
            order_updates: vec![(a.clone(), None), (b.clone(), None)],
            fills: vec![
                (StrategyId::new("a").unwrap(), fa.clone()),
                (StrategyId::new("b").unwrap(), fb.clone()),
            ],
            positions: vec![
                (StrategyId::new("a").unwrap(), pa, Some(broker_fill.price)),
                (StrategyId::new("b").unwrap(), pb, Some(broker_fill.price)),
            ],
            ..StackWrite::default()
        };
        assert!(store.write_stack("alpaca", &w).await.unwrap(), "{be}");
        assert!(
            !store.write_stack("alpaca", &w).await.unwrap(),
            "{be}: a replayed broker fill is a no-op"
        );
        assert_eq!(store.fills().await.unwrap().len(), 2, "{be}");
        let inst = store.instrument_fills().await.unwrap();
        assert_eq!(inst.len(), 1);
        assert_eq!(inst[0].fill, broker_fill);
        assert!(
            store
                .instrument_orders("alpaca", true)
                .await
                .unwrap()
                .is_empty(),
            "{be}: filled"
        );
        let all = store.instrument_orders("alpaca", false).await.unwrap();
        assert_eq!(all, vec![stored], "{be}");
        let pos = store.positions().await.unwrap();
        assert_eq!(
            pos.iter().map(|p| p.position.quantity).sum::<Decimal>(),
            Decimal::from(3)
        );
        assert_eq!(
            store.order(&b.client_order_id).await.unwrap().order.status,
            OrderStatus::Filled
        );
        let events = store.order_events(&a.client_order_id).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![
                OrderStatus::Created,
                OrderStatus::Submitted,
                OrderStatus::Filled
            ]
        );
        // Another broker's instrument orders are not this one's.
        assert!(
            store
                .instrument_orders("paper", false)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
