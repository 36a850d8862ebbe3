//! The Alpaca adapter against the local Alpaca-protocol server: recorded
//! payload shapes, orders, fills, rejections, partial fills, timeouts,
//! dropped stream connections, duplicate sends, recovery of the order stack,
//! and the server as a separate process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tessera_alpaca::server::{Faults, ServerSettings, TestServer};
use tessera_alpaca::wire::{self, StreamMessage, TradeUpdate};
use tessera_alpaca::{AlpacaBroker, AlpacaConfig, Failpoints};
use tessera_core::{SystemClock, UnixNanos};
use tessera_execution::{Broker, BrokerEvent, OrderStack};
use tessera_model::{
    ClientOrderId, Currency, Instrument, InstrumentId, InstrumentKind, Order, OrderRequest,
    OrderStatus, OrderType, Quantity, Side, StrategyId, TimeInForce,
};
use tessera_risk::{RiskEngine, RiskLimits, RiskState};
use tessera_storage::testing::TestDb;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn aapl() -> Instrument {
    Instrument::with_defaults(
        InstrumentId::parse("AAPL", "alpaca").unwrap(),
        InstrumentKind::Equity,
    )
    .unwrap()
}

fn config(server: &TestServer) -> AlpacaConfig {
    AlpacaConfig {
        base_url: server.base_url(),
        key_id: "test-key".into(),
        secret: "test-secret".into(),
        timeout: Duration::from_millis(500),
        ..AlpacaConfig::default()
    }
}

async fn server(faults: Faults) -> TestServer {
    TestServer::start(
        ServerSettings {
            faults,
            ..ServerSettings::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn broker(server: &TestServer) -> AlpacaBroker {
    AlpacaBroker::connect(
        config(server),
        &[aapl()],
        Arc::new(SystemClock),
        Failpoints::default(),
    )
    .await
    .unwrap()
}

fn request(side: Side, qty: i64) -> OrderRequest {
    OrderRequest {
        strategy: StrategyId::new("s1").unwrap(),
        instrument: aapl().id,
        side,
        order_type: OrderType::Market,
        quantity: Quantity::new(Decimal::from(qty)).unwrap(),
        limit_price: None,
        stop_price: None,
        time_in_force: TimeInForce::Day,
    }
}

fn order(id: &str, side: Side, qty: i64) -> Order {
    Order::new(
        ClientOrderId::new(id).unwrap(),
        request(side, qty),
        UnixNanos(1),
    )
    .unwrap()
}

/// Poll until `n` fills arrived (or 5 s passed); returns every event seen.
async fn poll_fills(b: &mut AlpacaBroker, n: usize) -> Vec<BrokerEvent> {
    let start = Instant::now();
    let mut all = Vec::new();
    while start.elapsed() < Duration::from_secs(5) {
        all.extend(b.poll_events().await.unwrap());
        if all
            .iter()
            .filter(|e| matches!(e, BrokerEvent::Fill(_)))
            .count()
            >= n
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all
}

fn fills(events: &[BrokerEvent]) -> Vec<&tessera_model::Fill> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Fill(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn test_fixtures_parse_with_wire_types() {
    let o: wire::Order = serde_json::from_str(&fixture("order.json")).unwrap();
    assert_eq!(o.qty, Some(Decimal::TWO));
    assert_eq!(o.kind, "market");
    let p: wire::Position = serde_json::from_str(&fixture("position.json")).unwrap();
    assert_eq!(p.qty, Decimal::from(5));
    assert_eq!(p.avg_entry_price.to_string(), "100.0");
    let a: wire::Account = serde_json::from_str(&fixture("account.json")).unwrap();
    assert_eq!(a.cash.to_string(), "-23140.2");
    let acts: Vec<wire::FillActivity> =
        serde_json::from_str(&fixture("activities_fill.json")).unwrap();
    assert_eq!(acts[0].price.to_string(), "1.63");
    let m: StreamMessage = serde_json::from_str(&fixture("trade_update_fill.json")).unwrap();
    let u: TradeUpdate = serde_json::from_value(m.data).unwrap();
    assert_eq!(u.event, "fill");
    assert_eq!(u.price.unwrap().to_string(), "124.05");
    let e: wire::ErrorBody =
        serde_json::from_str(&fixture("error_insufficient_buying_power.json")).unwrap();
    assert_eq!(e.code, 40_310_000);
}

#[tokio::test]
async fn test_server_answers_in_the_recorded_shapes() {
    let s = server(Faults {
        fill_delay_ms: 10,
        ..Faults::default()
    })
    .await;
    let mut b = broker(&s).await;
    b.submit(&order("shape-1", Side::Buy, 3), UnixNanos(1))
        .await
        .unwrap();
    poll_fills(&mut b, 1).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", s.base_url()))
            .header("APCA-API-KEY-ID", "test-key")
            .header("APCA-API-SECRET-KEY", "test-secret")
            .send()
    };
    let order: serde_json::Value = get("/v2/orders:by_client_order_id?client_order_id=shape-1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(order.is_object(), "order lookup: {order}");
    let recorded: serde_json::Value = serde_json::from_str(&fixture("order.json")).unwrap();
    assert_eq!(keys(&order), keys(&recorded));
    for (path, file) in [
        ("/v2/positions", "position.json"),
        ("/v2/account", "account.json"),
        ("/v2/account/activities/FILL", "activities_fill.json"),
    ] {
        let mut got: serde_json::Value = get(path).await.unwrap().json().await.unwrap();
        let mut rec: serde_json::Value = serde_json::from_str(&fixture(file)).unwrap();
        if got.is_array() {
            assert!(!got[0].is_null(), "{path}: empty {got}");
            got = got[0].clone();
        }
        if rec.is_array() {
            rec = rec[0].clone();
        }
        let rec_keys = keys(&rec);
        for k in keys(&got) {
            assert!(rec_keys.contains(&k), "{path}: key {k} not in {file}");
        }
    }
    // Without the key headers: 401 with Alpaca's error shape.
    let r = http
        .get(format!("{}/v2/account", s.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: wire::ErrorBody = r.json().await.unwrap();
    assert!(e.code > 0 && !e.message.is_empty());
}

#[tokio::test]
async fn test_broker_order_fill_positions_and_account() {
    let s = server(Faults {
        fill_delay_ms: 10,
        ..Faults::default()
    })
    .await;
    let mut b = broker(&s).await;
    let ev = b
        .submit(&order("o-1", Side::Buy, 7), UnixNanos(1))
        .await
        .unwrap();
    assert!(
        matches!(
            &ev[..],
            [BrokerEvent::Accepted {
                broker_order_id: Some(_),
                ..
            }]
        ),
        "{ev:?}"
    );
    let ev = poll_fills(&mut b, 1).await;
    let f = fills(&ev);
    assert_eq!(f.len(), 1, "{ev:?}");
    assert_eq!(f[0].quantity.as_decimal(), Decimal::from(7));
    assert_eq!(f[0].price.as_decimal(), Decimal::ONE_HUNDRED);
    assert_eq!(f[0].commission.currency, Currency::new("USD").unwrap());
    assert_eq!(
        b.positions().await.unwrap(),
        vec![(aapl().id, Decimal::from(7))]
    );
    let acct = b.account().await.unwrap();
    assert_eq!(
        acct.balance(Currency::new("USD").unwrap()).total,
        Decimal::from(1_000_000 - 700)
    );
    // The same fill through the activities has the same trade id: booked once.
    let again = b.fills_since(UnixNanos(0)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].trade_id, f[0].trade_id);
    assert_eq!(again[0].client_order_id.as_str(), "o-1");
}

#[tokio::test]
async fn test_broker_rejection_partial_fills_and_cancel() {
    let s = server(Faults {
        fill_delay_ms: 10,
        reject_next: 1,
        partial_fills: true,
        ..Faults::default()
    })
    .await;
    let mut b = broker(&s).await;
    let ev = b
        .submit(&order("rej-1", Side::Buy, 4), UnixNanos(1))
        .await
        .unwrap();
    assert!(
        matches!(&ev[..], [BrokerEvent::Rejected { reason, .. }] if reason.contains("buying power")),
        "{ev:?}"
    );
    b.submit(&order("part-1", Side::Sell, 5), UnixNanos(1))
        .await
        .unwrap();
    let ev = poll_fills(&mut b, 2).await;
    let f = fills(&ev);
    assert_eq!(f.len(), 2, "{ev:?}");
    assert_eq!(f[0].quantity.as_decimal(), Decimal::TWO);
    assert_eq!(f[1].quantity.as_decimal(), Decimal::from(3));
    assert_ne!(f[0].trade_id, f[1].trade_id);
    assert_eq!(
        b.positions().await.unwrap(),
        vec![(aapl().id, Decimal::from(-5))]
    );
    // A working order is cancelled; the confirmation comes on the stream.
    s.set_faults(Faults {
        no_fill: true,
        ..Faults::default()
    });
    let id = ClientOrderId::new("c-1").unwrap();
    b.submit(&order("c-1", Side::Buy, 1), UnixNanos(1))
        .await
        .unwrap();
    assert_eq!(b.open_orders().await.unwrap().len(), 1);
    assert!(b.cancel(&id, UnixNanos(2)).await.unwrap().is_empty());
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(5)
        && !seen
            .iter()
            .any(|e| matches!(e, BrokerEvent::Cancelled { .. }))
    {
        seen.extend(b.poll_events().await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, BrokerEvent::Cancelled { id: x, .. } if *x == id)),
        "{seen:?}"
    );
    assert!(b.open_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn test_broker_timeout_is_resolved_by_client_order_id_never_resent() {
    let s = server(Faults {
        fill_delay_ms: 10,
        slow_posts: 1,
        post_delay_ms: 1_500,
        allow_duplicate_client_ids: true,
        ..Faults::default()
    })
    .await;
    let mut b = broker(&s).await;
    let ev = b
        .submit(&order("slow-1", Side::Buy, 2), UnixNanos(1))
        .await
        .unwrap();
    assert!(matches!(&ev[..], [BrokerEvent::Accepted { .. }]), "{ev:?}");
    let st = s.state();
    // The server would have taken a duplicate (allow_duplicate_client_ids): none came.
    assert_eq!(st.posts, 1, "the order was posted again");
    assert!(st.duplicate_client_ids().is_empty());
    // A deliberate resend of an order Alpaca has is refused there and resolved here.
    s.set_faults(Faults::default());
    let ev = b
        .submit(&order("slow-1", Side::Buy, 2), UnixNanos(2))
        .await
        .unwrap();
    assert!(matches!(&ev[..], [BrokerEvent::Accepted { .. }]), "{ev:?}");
    let st = s.state();
    assert_eq!(st.duplicate_posts, 1);
    assert_eq!(st.orders.len(), 1);
}

#[tokio::test]
async fn test_broker_catches_up_after_a_dropped_stream() {
    let s = server(Faults {
        fill_delay_ms: 50,
        ..Faults::default()
    })
    .await;
    let mut b = broker(&s).await;
    b.submit(&order("drop-1", Side::Buy, 3), UnixNanos(1))
        .await
        .unwrap();
    // The connection drops just before the fill is published: the fill is
    // missed by the stream and must come from the activities.
    s.set_faults(Faults {
        fill_delay_ms: 50,
        drop_stream_before_next: 1,
        ..Faults::default()
    });
    let ev = poll_fills(&mut b, 1).await;
    let f = fills(&ev);
    assert_eq!(f.len(), 1, "{ev:?}");
    assert_eq!(f[0].client_order_id.as_str(), "drop-1");
    assert_eq!(f[0].quantity.as_decimal(), Decimal::from(3));
}

#[tokio::test]
async fn test_stack_recovery_against_the_server() {
    for db in TestDb::all().await {
        let s = server(Faults {
            fill_delay_ms: 10,
            ..Faults::default()
        })
        .await;
        let inst = aapl();
        let usd = Currency::new("USD").unwrap();
        let risk = RiskEngine::new(RiskLimits::default()).unwrap();
        let mut stack = OrderStack::load(
            db.store().clone(),
            "alpaca",
            usd,
            std::slice::from_ref(&inst),
        )
        .await
        .unwrap();
        let approve = |r: OrderRequest| {
            risk.check(
                r,
                &RiskState {
                    now: UnixNanos(1),
                    ..RiskState::default()
                },
            )
            .unwrap()
        };
        // 1: stored and marked submitted, then "crashed" before the POST.
        let never = ClientOrderId::new("rec-never").unwrap();
        stack
            .create(never.clone(), approve(request(Side::Buy, 1)), UnixNanos(1))
            .await
            .unwrap();
        stack.mark_submitted(&never, UnixNanos(1)).await.unwrap();
        // 2: posted, but the answer and the fills never booked here.
        let sent = ClientOrderId::new("rec-sent").unwrap();
        stack
            .create(sent.clone(), approve(request(Side::Buy, 4)), UnixNanos(1))
            .await
            .unwrap();
        let o = stack.mark_submitted(&sent, UnixNanos(1)).await.unwrap();
        let mut raw = AlpacaBroker::without_stream(
            config(&s),
            std::slice::from_ref(&inst),
            Arc::new(SystemClock),
            Failpoints::default(),
        )
        .unwrap();
        raw.submit(&o, UnixNanos(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Restart: a fresh stack and broker settle everything.
        drop(stack);
        let mut stack = OrderStack::load(
            db.store().clone(),
            "alpaca",
            usd,
            std::slice::from_ref(&inst),
        )
        .await
        .unwrap();
        let mut b = broker(&s).await;
        let report = stack.recover(&mut b, UnixNanos(2)).await.unwrap();
        assert_eq!(report.never_sent, vec![never.clone()]);
        assert_eq!(report.fills_booked, 1);
        assert_eq!(stack.instrument_position(&inst.id), Decimal::from(4));
        let stored = db.store().orders(None).await.unwrap();
        let st = |id: &ClientOrderId| {
            stored
                .iter()
                .find(|o| &o.order.client_order_id == id)
                .unwrap()
                .order
                .status
        };
        assert_eq!(st(&never), OrderStatus::Rejected);
        assert_eq!(st(&sent), OrderStatus::Filled);
        assert_eq!(
            b.positions().await.unwrap(),
            vec![(inst.id, Decimal::from(4))]
        );
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(state: &std::path::Path) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-alpaca-server"))
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (Proc(child), url)
}

#[tokio::test]
async fn test_server_as_a_process_keeps_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alpaca.json");
    let (p, url) = spawn_server(&state);
    let cfg = AlpacaConfig {
        base_url: url,
        key_id: "test-key".into(),
        secret: "test-secret".into(),
        timeout: Duration::from_millis(500),
        ..AlpacaConfig::default()
    };
    let mut b = AlpacaBroker::connect(
        cfg.clone(),
        &[aapl()],
        Arc::new(SystemClock),
        Failpoints::default(),
    )
    .await
    .unwrap();
    b.submit(&order("proc-1", Side::Buy, 6), UnixNanos(1))
        .await
        .unwrap();
    let ev = poll_fills(&mut b, 1).await;
    assert_eq!(fills(&ev).len(), 1, "{ev:?}");
    drop(b);
    drop(p); // killed
    let (_p, url) = spawn_server(&state);
    let mut b = AlpacaBroker::without_stream(
        AlpacaConfig {
            base_url: url,
            ..cfg
        },
        &[aapl()],
        Arc::new(SystemClock),
        Failpoints::default(),
    )
    .unwrap();
    assert_eq!(
        b.positions().await.unwrap(),
        vec![(aapl().id, Decimal::from(6))]
    );
    let f = b.fills_since(UnixNanos(0)).await.unwrap();
    assert_eq!(f.len(), 1);
    let found = b
        .lookup(&ClientOrderId::new("proc-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, OrderStatus::Filled);
    // A resend after the restart is refused by the server and resolved to the known order.
    let ev = b
        .submit(&order("proc-1", Side::Buy, 6), UnixNanos(2))
        .await
        .unwrap();
    assert!(matches!(&ev[..], [BrokerEvent::Accepted { .. }]), "{ev:?}");
}
