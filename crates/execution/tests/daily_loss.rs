//! The daily-loss limits measure from midnight UTC, not from the start of trading.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_execution::{BrokerEvent, OrderStack};
use tessera_model::{
    ClientOrderId, Currency, Fill, Instrument, InstrumentId, InstrumentKind, Money, OrderRequest,
    OrderType, Price, Quantity, Side, StrategyId, TimeInForce, TradeId,
};
use tessera_risk::{RiskEngine, RiskLimits, RiskState};
use tessera_storage::testing::TestDb;

const DAY: i64 = 86_400_000_000_000;
const T0: i64 = 1_709_251_200_000_000_000; // 2024-03-01T00:00:00Z

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

async fn trade(stack: &mut OrderStack, id: &str, side: Side, qty: i64, px: i64, at: i64) {
    let inst = InstrumentId::parse("AAPL", "alpaca").unwrap();
    let s = StrategyId::new("s1").unwrap();
    let req = OrderRequest {
        strategy: s,
        instrument: inst,
        side,
        order_type: OrderType::Market,
        quantity: Quantity::new(d(qty)).unwrap(),
        limit_price: None,
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
    };
    let risk = RiskEngine::new(RiskLimits::default()).unwrap();
    let ok = risk
        .check(
            req,
            &RiskState {
                now: UnixNanos(at),
                ..RiskState::default()
            },
        )
        .unwrap();
    let cid = ClientOrderId::new(id).unwrap();
    let now = UnixNanos(at);
    stack.create(cid.clone(), ok, now).await.unwrap();
    stack.mark_submitted(&cid, now).await.unwrap();
    stack
        .apply(
            &BrokerEvent::Fill(Fill {
                client_order_id: cid.clone(),
                trade_id: TradeId::new(&format!("t-{id}")).unwrap(),
                instrument: inst,
                side,
                price: Price::new(d(px)).unwrap(),
                quantity: Quantity::new(d(qty)).unwrap(),
                commission: Money::new(Decimal::ZERO, Currency::new("USD").unwrap()),
                ts_event: now,
            }),
            now,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn test_daily_loss_counts_from_midnight_utc() {
    for db in TestDb::all().await {
        let inst = Instrument::with_defaults(
            InstrumentId::parse("AAPL", "alpaca").unwrap(),
            InstrumentKind::Equity,
        )
        .unwrap();
        let usd = Currency::new("USD").unwrap();
        let s = StrategyId::new("s1").unwrap();
        let mut stack = OrderStack::load(db.store().clone(), "t", usd, std::slice::from_ref(&inst))
            .await
            .unwrap();
        let no_mark = |_: &InstrumentId| None;
        assert!(
            stack
                .roll_day(UnixNanos(T0 + 3600), &no_mark)
                .await
                .unwrap()
        );
        // Day 1: lose 100.
        trade(&mut stack, "a", Side::Buy, 10, 100, T0 + 7200).await;
        trade(&mut stack, "b", Side::Sell, 10, 90, T0 + 7300).await;
        let st = stack.risk_state(&s, &inst.id, None, UnixNanos(T0 + 7400));
        assert_eq!(st.strategy_daily_pnl, d(-100));
        assert_eq!(st.account_daily_pnl, d(-100));
        // Day 2 (after a restart): yesterday's loss no longer counts.
        let mut stack = OrderStack::load(db.store().clone(), "t", usd, std::slice::from_ref(&inst))
            .await
            .unwrap();
        assert!(
            !stack
                .roll_day(UnixNanos(T0 + 7500), &no_mark)
                .await
                .unwrap()
        );
        assert!(
            stack
                .roll_day(UnixNanos(T0 + DAY + 60), &no_mark)
                .await
                .unwrap()
        );
        let st = stack.risk_state(&s, &inst.id, None, UnixNanos(T0 + DAY + 60));
        assert_eq!(st.strategy_daily_pnl, Decimal::ZERO);
        // Today's open loss counts.
        trade(&mut stack, "c", Side::Buy, 10, 100, T0 + DAY + 120).await;
        let px = Price::new(d(95)).unwrap();
        let st = stack.risk_state(&s, &inst.id, Some(px), UnixNanos(T0 + DAY + 180));
        assert_eq!(st.strategy_daily_pnl, d(-50));
        // A position open over midnight counts only its move since the mark at midnight.
        let mark = |_: &InstrumentId| Some(Price::new(d(95)).unwrap());
        assert!(
            stack
                .roll_day(UnixNanos(T0 + 2 * DAY), &mark)
                .await
                .unwrap()
        );
        let px = Price::new(d(97)).unwrap();
        let st = stack.risk_state(&s, &inst.id, Some(px), UnixNanos(T0 + 2 * DAY + 60));
        assert_eq!(st.strategy_daily_pnl, d(20));
    }
}
