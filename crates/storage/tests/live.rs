//! Live trading records (order stack, fills, positions, state, account history), on SQLite and on PostgreSQL.

use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, Currency, Fill, InstrumentId, Money, Order, OrderEvent, OrderRequest,
    OrderStatus, OrderType, Position, Price, Quantity, Side, StrategyId, TimeInForce, TradeId,
};
use tessera_storage::testing::TestDb;
use tessera_storage::{AccountSnapshot, Error};

fn order(id: &str) -> Order {
    let request = OrderRequest {
        strategy: StrategyId::new("sma").unwrap(),
        instrument: InstrumentId::parse("BTCUSDT", "sim").unwrap(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        quantity: Quantity::parse("2").unwrap(),
        limit_price: Some(Price::parse("100.5").unwrap()),
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
    };
    Order::new(ClientOrderId::new(id).unwrap(), request, UnixNanos(10)).unwrap()
}

fn fill(o: &Order, trade: &str, qty: &str, px: &str, ts: i64) -> Fill {
    Fill {
        client_order_id: o.client_order_id.clone(),
        trade_id: TradeId::new(trade).unwrap(),
        instrument: o.request.instrument,
        side: o.request.side,
        price: Price::parse(px).unwrap(),
        quantity: Quantity::parse(qty).unwrap(),
        commission: Money::parse("0.1 USD").unwrap(),
        ts_event: UnixNanos(ts),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_live_records_story_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        let usd = Currency::new("USD").unwrap();
        let mut o = order("sma-1");
        store.insert_order("paper", &o).await.unwrap();
        assert!(
            matches!(
                store.insert_order("paper", &o).await,
                Err(Error::AlreadyExists(_))
            ),
            "{}",
            store.backend()
        );
        assert_eq!(store.open_orders().await.unwrap().len(), 1);

        o.apply(&OrderEvent::Submitted, UnixNanos(11)).unwrap();
        store.update_order(&o, Some("sent")).await.unwrap();
        o.apply(
            &OrderEvent::Accepted {
                broker_order_id: Some("B-1".into()),
            },
            UnixNanos(12),
        )
        .unwrap();
        store.update_order(&o, None).await.unwrap();

        let mut pos = Position::flat(o.request.instrument, rust_decimal::Decimal::ONE, usd);
        let f1 = fill(&o, "t1", "0.5", "100.5", 13);
        o.apply_fill(&f1).unwrap();
        pos.apply_fill(&f1).unwrap();
        assert!(store.book_fill("paper", &f1, &o, &pos).await.unwrap());
        assert!(
            !store.book_fill("paper", &f1, &o, &pos).await.unwrap(),
            "a replayed fill is a no-op"
        );
        let f2 = fill(&o, "t2", "1.5", "100", 14);
        o.apply_fill(&f2).unwrap();
        pos.apply_fill(&f2).unwrap();
        assert!(store.book_fill("paper", &f2, &o, &pos).await.unwrap());

        let back = store.order(&o.client_order_id).await.unwrap();
        assert_eq!(back.broker, "paper");
        assert_eq!(back.order, o, "{}", store.backend());
        assert_eq!(back.order.status, OrderStatus::Filled);
        assert!(store.open_orders().await.unwrap().is_empty());
        assert_eq!(
            store.orders(Some(OrderStatus::Filled)).await.unwrap().len(),
            1
        );
        assert!(
            store
                .orders(Some(OrderStatus::Rejected))
                .await
                .unwrap()
                .is_empty()
        );
        let events = store.order_events(&o.client_order_id).await.unwrap();
        let statuses: Vec<OrderStatus> = events.iter().map(|e| e.0).collect();
        assert_eq!(
            statuses,
            [
                OrderStatus::Created,
                OrderStatus::Submitted,
                OrderStatus::Accepted,
                OrderStatus::PartiallyFilled,
                OrderStatus::Filled
            ]
        );
        assert!(matches!(
            store.order(&ClientOrderId::new("nope").unwrap()).await,
            Err(Error::NotFound(_))
        ));

        let fills = store.fills().await.unwrap();
        assert_eq!(fills.len(), 2);
        assert_eq!(fills[0].fill, f1);
        assert_eq!(fills[0].strategy.as_str(), "sma");

        let positions = store.positions().await.unwrap();
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].position, pos);
        assert_eq!(positions[0].last_price, Some(Price::parse("100").unwrap()));
        store
            .mark_positions(&o.request.instrument, Price::parse("101").unwrap())
            .await
            .unwrap();
        assert_eq!(
            store.positions().await.unwrap()[0].last_price,
            Some(Price::parse("101").unwrap())
        );

        assert_eq!(store.state("kill_switch").await.unwrap(), None);
        store.set_state("kill_switch", "on").await.unwrap();
        store.set_state("kill_switch", "off").await.unwrap();
        store.set_state("halt:BTCUSDT.sim", "diff").await.unwrap();
        assert_eq!(
            store.state("kill_switch").await.unwrap().as_deref(),
            Some("off")
        );
        assert_eq!(
            store.state_keys("halt:").await.unwrap(),
            ["halt:BTCUSDT.sim"]
        );
        store.delete_state("halt:BTCUSDT.sim").await.unwrap();
        assert!(store.state_keys("halt:").await.unwrap().is_empty());

        for (ts, eq) in [(1, "1000"), (2, "1010.5")] {
            let m = |v: &str| Money::parse(&format!("{v} USD")).unwrap();
            store
                .insert_account_snapshot(&AccountSnapshot {
                    account: "paper".into(),
                    strategy: String::new(),
                    ts: UnixNanos(ts),
                    equity: m(eq),
                    cash: m("900"),
                    realized_pnl: m("1"),
                    unrealized_pnl: m("2"),
                })
                .await
                .unwrap();
        }
        let h = store.account_history("paper").await.unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[1].equity.to_string(),
            Money::parse("1010.5 USD").unwrap().to_string()
        );
        let latest = store.latest_account_snapshots().await.unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].ts, UnixNanos(2));
    }
}
