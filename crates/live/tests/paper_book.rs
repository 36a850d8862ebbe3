//! The paper broker's memory stays bounded however many fills it books:
//! only working orders and the newest fills stay in memory, older fills and
//! finished orders are read back from the store, and a restart answers
//! `fills_since`, `lookup`, positions and the account exactly as before. On
//! SQLite and PostgreSQL.

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_engine::SimConfig;
use tessera_execution::{Broker, BrokerEvent, BrokerOrder, MarketUpdate};
use tessera_live::{PaperBroker, RECENT_FILLS};
use tessera_model::{
    ClientOrderId, Fill, Instrument, InstrumentId, InstrumentKind, Money, Order, OrderRequest,
    OrderType, Price, Quantity, Quote, Side, StrategyId, TimeInForce,
};
use tessera_storage::Store;
use tessera_storage::testing::TestDb;

const T0: i64 = 1_709_290_800_000_000_000; // 2024-03-01T11:00:00Z
const SEC: i64 = 1_000_000_000;
/// Fills kept in memory in this test.
const CAP: usize = 16;
/// Orders filled (one fill each), far more than `CAP`.
const N: usize = 120;

fn instrument() -> Instrument {
    Instrument::with_defaults(
        InstrumentId::parse("BTCUSDT", "sim").unwrap(),
        InstrumentKind::Crypto,
    )
    .unwrap()
}

fn cash() -> Money {
    Money::new(Decimal::from(1_000_000), instrument().quote_currency)
}

async fn open(store: &Store, cap: Option<usize>) -> PaperBroker {
    let b = PaperBroker::open(
        store.clone(),
        "paper",
        SimConfig::new(cash()),
        &[instrument()],
        0,
    )
    .await
    .unwrap();
    match cap {
        Some(c) => b.with_recent_fills(c),
        None => b,
    }
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap()
}

fn order(cid: &str, side: Side, limit: Option<i64>, at: i64) -> Order {
    let request = OrderRequest {
        strategy: StrategyId::new("s").unwrap(),
        instrument: instrument().id,
        side,
        order_type: if limit.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        },
        quantity: Quantity::new(Decimal::ONE).unwrap(),
        limit_price: limit.map(|p| Price::new(Decimal::from(p)).unwrap()),
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
    };
    Order::new(id(cid), request, UnixNanos(at)).unwrap()
}

fn quote(at: i64, k: i64) -> Quote {
    let px = Decimal::from(100 + k % 5);
    Quote {
        instrument: instrument().id,
        ts_event: UnixNanos(at),
        bid_price: Price::new(px).unwrap(),
        bid_size: Quantity::new(Decimal::from(100)).unwrap(),
        ask_price: Price::new(px + Decimal::ONE).unwrap(),
        ask_size: Quantity::new(Decimal::from(100)).unwrap(),
    }
}

fn fills(events: &[BrokerEvent]) -> Vec<Fill> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Fill(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// Everything a restart must keep: fills since several times (inside and
/// before the in-memory window), lookups of old, recent, working, cancelled
/// and unknown orders, open orders, positions and cash.
type Answers = (
    Vec<Vec<Fill>>,
    Vec<Option<BrokerOrder>>,
    Vec<BrokerOrder>,
    Vec<(InstrumentId, Decimal)>,
    String,
);

async fn answers(b: &mut PaperBroker, all: &[Fill]) -> Answers {
    let mut since = Vec::new();
    for k in [0, 1, N / 2, N - CAP - 1, N - CAP, N - 3, N - 1] {
        since.push(b.fills_since(all[k].ts_event).await.unwrap());
    }
    since.push(b.fills_since(UnixNanos(0)).await.unwrap());
    since.push(b.fills_since(UnixNanos(i64::MAX)).await.unwrap());
    let mut lookups = Vec::new();
    for cid in ["m0", "m1", "m60", "m118", "m119", "far", "gone", "nobody"] {
        lookups.push(b.lookup(&id(cid)).await.unwrap());
    }
    let account = b.account().await.unwrap();
    (
        since,
        lookups,
        b.open_orders().await.unwrap(),
        b.positions().await.unwrap(),
        format!("{:?}", account.balances),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_paper_memory_bounded_and_restart_answers_the_same() {
    const { assert!(CAP < RECENT_FILLS) };
    for db in TestDb::all().await {
        let store = db.store();
        let backend = store.backend();
        let mut b = open(store, Some(CAP)).await;
        // A working order that never fills, and one cancelled without a fill.
        assert!(
            fills(
                &b.submit(&order("far", Side::Buy, Some(1), T0), UnixNanos(T0))
                    .await
                    .unwrap()
            )
            .is_empty()
        );
        b.submit(&order("gone", Side::Buy, Some(2), T0), UnixNanos(T0))
            .await
            .unwrap();
        b.cancel(&id("gone"), UnixNanos(T0)).await.unwrap();
        b.on_market(MarketUpdate::Quote(&quote(T0, 0)), UnixNanos(T0))
            .await
            .unwrap();
        let mut all = Vec::new();
        for k in 0..N {
            let at = T0 + (k as i64 + 1) * SEC;
            let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
            let mut ev = b
                .submit(&order(&format!("m{k}"), side, None, at), UnixNanos(at))
                .await
                .unwrap();
            ev.extend(
                b.on_market(MarketUpdate::Quote(&quote(at, k as i64)), UnixNanos(at))
                    .await
                    .unwrap(),
            );
            let f = fills(&ev);
            assert_eq!(f.len(), 1, "{backend}: order m{k}: {ev:?}");
            all.extend(f);
            assert!(
                b.fills_in_memory() <= CAP,
                "{backend}: {} fills in memory after {} fills",
                b.fills_in_memory(),
                k + 1
            );
        }
        assert_eq!(b.fills_in_memory(), CAP, "{backend}");

        let before = answers(&mut b, &all).await;
        // What the answers must be, from the fills the broker reported.
        assert_eq!(before.0[0], all, "{backend}");
        assert_eq!(before.0[2], all[N / 2..].to_vec(), "{backend}");
        assert_eq!(before.0[3], all[N - CAP - 1..].to_vec(), "{backend}");
        assert_eq!(before.0[4], all[N - CAP..].to_vec(), "{backend}");
        assert_eq!(before.0[6], all[N - 1..].to_vec(), "{backend}");
        assert_eq!(before.0[7], all, "{backend}");
        assert!(before.0[8].is_empty(), "{backend}");
        let l = &before.1;
        for (k, cid) in [(0, "m0"), (1, "m1"), (2, "m60"), (3, "m118"), (4, "m119")] {
            let o = l[k].as_ref().unwrap_or_else(|| panic!("{backend}: {cid}"));
            assert_eq!(o.client_order_id, id(cid));
            assert_eq!(o.filled_quantity, Quantity::new(Decimal::ONE).unwrap());
        }
        assert_eq!(
            l[5].as_ref().map(|o| o.client_order_id.clone()),
            Some(id("far"))
        );
        assert!(l[6].is_none() && l[7].is_none(), "{backend}: {l:?}");
        assert_eq!(before.2.len(), 1, "{backend}: only `far` works");

        // A resend of an old (out of memory) or recent filled order is refused.
        for cid in ["m0", "m118"] {
            let again = b
                .submit(&order(cid, Side::Buy, None, T0), UnixNanos(T0 + 500 * SEC))
                .await
                .unwrap();
            assert!(
                matches!(&again[..], [BrokerEvent::Rejected { reason, .. }] if reason.contains("duplicate")),
                "{backend}: {cid}: {again:?}"
            );
        }
        drop(b);

        // Restart, with the small window and with the default one: the same answers.
        for cap in [Some(CAP), None] {
            let mut again = open(store, cap).await;
            assert!(again.fills_in_memory() <= cap.unwrap_or(RECENT_FILLS));
            assert_eq!(answers(&mut again, &all).await, before, "{backend} {cap:?}");
        }
        // Trading goes on: the numbering continues, memory stays bounded.
        let mut again = open(store, Some(CAP)).await;
        let at = T0 + 1_000 * SEC;
        let mut ev = again
            .submit(&order("next", Side::Buy, None, at), UnixNanos(at))
            .await
            .unwrap();
        ev.extend(
            again
                .on_market(MarketUpdate::Quote(&quote(at, 0)), UnixNanos(at))
                .await
                .unwrap(),
        );
        let f = fills(&ev);
        assert_eq!(f.len(), 1, "{backend}");
        assert_eq!(f[0].trade_id.to_string(), format!("paper-{}", N + 1));
        assert_eq!(again.fills_in_memory(), CAP);
        assert_eq!(
            again.fills_since(UnixNanos(0)).await.unwrap().len(),
            N + 1,
            "{backend}"
        );
    }
}
