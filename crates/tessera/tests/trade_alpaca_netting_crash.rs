//! The crash test of the netted order path: `tessera trade --broker alpaca`
//! with three strategies on one account (`--also`), so their market orders
//! of one event are netted into one instrument order per instrument (crosses
//! booked internally), against the Alpaca-protocol test server in this test
//! process (a separate process from the engine, state in a file, partial
//! fills on, duplicates accepted so a double send would show). The engine is
//! SIGKILLed at random moments and inside the two windows of the netted
//! path, made hittable with `TESSERA_FAILPOINT`: an instrument order stored
//! (with its allocations) but not yet posted (`before_send`), and broker
//! fills received but not yet allocated to the strategy orders
//! (`fill_before_book`). At the end: no client order id twice at the server,
//! every order at the server is a stored instrument order, every stored
//! instrument order is known to the server or marked never sent, no order
//! left created/submitted, the strategy fills derived from broker fills add
//! up to the server's executions, and the per-strategy positions sum to the
//! server's position. On SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tessera_alpaca::server::{Faults, ServerSettings, TestServer};
use tessera_alpaca::{AlpacaBroker, AlpacaConfig, Failpoints};
use tessera_core::{Clock, SystemClock};
use tessera_execution::OrderStack;
use tessera_model::{Currency, Instrument, InstrumentId, InstrumentKind, OrderStatus};
use tessera_storage::testing::TestDb;

const KILLS: usize = 12;

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Engine {
    child: Child,
    failpoint: mpsc::Receiver<String>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

fn spawn_engine(dir: &Path, db_url: &str, base_url: &str, failpoint: Option<&str>) -> Engine {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.current_dir(dir)
        .env("TESSERA_DATA_DIR", dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("TESSERA_BROKERS_ALPACA_BASE_URL", base_url)
        .env("TESSERA_BROKERS_ALPACA_KEY_ID", "test-key")
        .env("TESSERA_BROKERS_ALPACA_SECRET", "test-secret")
        .env("TESSERA_BROKERS_ALPACA_TIMEOUT_MS", "3000")
        // One simulated minute every 20 ms: a signal every few bars.
        .env("TESSERA_VENUES_SIM_SPEED", "3000")
        .env("TESSERA_RISK_RECONCILE_SECONDS", "0")
        .env("TESSERA_RISK_HALT_ON_DIFFERENCE", "false")
        .env("TESSERA_LOG_LEVEL", "warn")
        .env_remove("RUST_LOG")
        .args([
            "trade",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=2",
            "--param",
            "slow=3",
            // Fixed units: strategies of one engine see the account's position, so
            // equity-fraction entries that close "their" position would compound.
            "--param",
            "size=1",
            "--name",
            "trend",
            "--also",
            "revert=rsi_reversion,period=2,lower=40,upper=60,exit=50,mode=long_short,size=2@100000",
            "--also",
            "slow=sma_cross,fast=3,slow=5,size=3@100000",
            "--symbol",
            "AAPL",
            "--venue",
            "sim",
            "--broker",
            "alpaca",
            "--capital",
            "100000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match failpoint {
        Some(f) => cmd.env("TESSERA_FAILPOINT", f),
        None => cmd.env_remove("TESSERA_FAILPOINT"),
    };
    let mut child = cmd.spawn().expect("tessera starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(name) = line.strip_prefix("FAILPOINT ") {
                // The test may have stopped listening already.
                let _ = tx.send(name.to_string());
            }
            log2.lock().unwrap().push(line);
        }
    });
    Engine {
        child,
        failpoint: rx,
        log,
    }
}

impl Engine {
    /// SIGKILL (std's `Child::kill` on Unix), then reap.
    fn kill9(mut self) -> Vec<String> {
        let exited = self.child.try_wait().unwrap();
        // An engine that already exited cannot be killed; its log says why.
        let _ = self.child.kill();
        self.child.wait().unwrap();
        let log = self.log.lock().unwrap().clone();
        assert!(
            exited.is_none(),
            "the engine exited by itself before the kill:\n{}",
            log.join("\n")
        );
        log
    }
}

async fn crash_story(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        ServerSettings {
            state_file: Some(dir.path().join("alpaca-state.json")),
            faults: Faults {
                fill_delay_ms: 15,
                partial_fills: true,
                allow_duplicate_client_ids: true,
                ..Faults::default()
            },
            ..ServerSettings::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut rng = Rng(0x0dd_5eed_beef_f00d);
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..KILLS {
        let fp = match i % 3 {
            0 => Some(format!("before_send@{}", 1 + rng.next(3))),
            1 => Some(format!("fill_before_book@{}", 1 + rng.next(3))),
            _ => None,
        };
        let engine = spawn_engine(dir.path(), db.url(), &server.base_url(), fp.as_deref());
        let at = if fp.is_some() {
            match engine.failpoint.recv_timeout(Duration::from_secs(6)) {
                Ok(name) => {
                    *hits.entry(name).or_default() += 1;
                    "failpoint".to_string()
                }
                Err(_) => "failpoint not reached".to_string(),
            }
        } else {
            let ms = 300 + rng.next(1200);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("{ms} ms")
        };
        let log = engine.kill9();
        eprintln!(
            "kill {:2} ({}) at {at}; {} orders at the server",
            i + 1,
            fp.as_deref().unwrap_or("random"),
            server.state().orders.len()
        );
        if at == "failpoint not reached" {
            eprintln!("engine log:\n{}", log.join("\n"));
        }
    }
    eprintln!(
        "{KILLS} kills in {:?}; failpoints hit: {hits:?}",
        started.elapsed()
    );
    assert!(
        hits.get("before_send").copied().unwrap_or(0) >= 2,
        "{hits:?}"
    );
    assert!(
        hits.get("fill_before_book").copied().unwrap_or(0) >= 2,
        "{hits:?}"
    );
    let engine = spawn_engine(dir.path(), db.url(), &server.base_url(), None);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inst = Instrument::with_defaults(
        InstrumentId::parse("AAPL", "sim").unwrap(),
        InstrumentKind::Equity,
    )
    .unwrap();
    let store = db.store();
    let usd = Currency::new("USD").unwrap();
    let mut stack = OrderStack::load(store.clone(), "alpaca", usd, std::slice::from_ref(&inst))
        .await
        .unwrap();
    let cfg = AlpacaConfig {
        base_url: server.base_url(),
        key_id: "test-key".into(),
        secret: "test-secret".into(),
        ..AlpacaConfig::default()
    };
    let mut broker = AlpacaBroker::without_stream(
        cfg,
        std::slice::from_ref(&inst),
        Arc::new(SystemClock),
        Failpoints::default(),
    )
    .unwrap();
    let report = stack.recover(&mut broker, SystemClock.now()).await.unwrap();
    eprintln!("final recovery: {report:?}");

    let st = server.state();
    assert!(
        st.duplicate_client_ids().is_empty(),
        "sent twice: {:?}",
        st.duplicate_client_ids()
    );
    let at_server: BTreeSet<&str> = st
        .orders
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect();
    let instrument_orders = store.instrument_orders("alpaca", false).await.unwrap();
    assert!(
        instrument_orders.len() >= 5,
        "too few instrument orders to mean anything: {}",
        instrument_orders.len()
    );
    let mut never_sent = 0;
    for io in &instrument_orders {
        let id = io.order.client_order_id.as_str();
        assert!(
            !matches!(
                io.order.status,
                OrderStatus::Created | OrderStatus::Submitted
            ),
            "instrument order {id} still {} after recovery",
            io.order.status
        );
        if at_server.contains(id) {
            continue;
        }
        let reason = io.order.reject_reason.clone().unwrap_or_default();
        assert!(
            io.order.status == OrderStatus::Rejected
                && (reason.contains("never sent") || reason.starts_with("risk:")),
            "instrument order {id} is unknown to the server but stored as {} ({reason})",
            io.order.status
        );
        never_sent += 1;
    }
    let ours: BTreeSet<&str> = instrument_orders
        .iter()
        .map(|o| o.order.client_order_id.as_str())
        .collect();
    for id in &at_server {
        assert!(
            ours.contains(id),
            "the server has order {id} that is no stored instrument order"
        );
    }
    // Strategy orders: none left half-way; their allocations never exceed what they asked.
    let stored = store.orders(None).await.unwrap();
    let strategies: BTreeSet<&str> = stored
        .iter()
        .map(|o| o.order.request.strategy.as_str())
        .collect();
    assert!(
        strategies.len() >= 2,
        "several strategies traded: {strategies:?}"
    );
    for o in &stored {
        assert!(
            !matches!(
                o.order.status,
                OrderStatus::Created | OrderStatus::Submitted
            ),
            "strategy order {} still {} after recovery",
            o.order.client_order_id,
            o.order.status
        );
        assert!(
            !at_server.contains(o.order.client_order_id.as_str()),
            "a netted strategy order went to the broker itself"
        );
    }
    // Fills: every execution at the server booked once and shared out exactly.
    let inst_fills = store.instrument_fills().await.unwrap();
    assert_eq!(
        inst_fills.len(),
        st.activities.len(),
        "instrument fills vs executions at the server"
    );
    let fills = store.fills().await.unwrap();
    let trade_ids: BTreeSet<String> = fills.iter().map(|f| f.fill.trade_id.to_string()).collect();
    assert_eq!(trade_ids.len(), fills.len(), "a fill booked twice");
    let shared: Decimal = fills
        .iter()
        .filter(|f| f.fill.trade_id.as_str().contains('#'))
        .map(|f| f.fill.side.sign() * f.fill.quantity.as_decimal())
        .sum();
    let executed: Decimal = inst_fills
        .iter()
        .map(|f| f.fill.side.sign() * f.fill.quantity.as_decimal())
        .sum();
    assert_eq!(shared, executed, "strategy fills add up to the broker's");
    let crosses = fills
        .iter()
        .filter(|f| f.fill.trade_id.as_str().contains("-x"))
        .count();
    let mut per_strategy: BTreeMap<String, Decimal> = BTreeMap::new();
    for p in store.positions().await.unwrap() {
        if p.position.instrument == inst.id {
            *per_strategy.entry(p.strategy.to_string()).or_default() += p.position.quantity;
        }
    }
    let our_pos: Decimal = per_strategy.values().copied().sum();
    let server_pos = st.positions.get("AAPL").map_or(Decimal::ZERO, |p| p.qty);
    assert_eq!(
        our_pos, server_pos,
        "per-strategy positions {per_strategy:?} vs the server's"
    );
    eprintln!(
        "{:?}: {} strategy orders, {} instrument orders ({never_sent} never sent), {} at the server, {} executions, {crosses} internal cross fills, positions {per_strategy:?} = {server_pos}; {:?} in all",
        db.backend(),
        stored.len(),
        instrument_orders.len(),
        st.orders.len(),
        st.activities.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trade_alpaca_netted_survives_kill9_on_sqlite_and_postgres() {
    for db in TestDb::all().await {
        crash_story(&db).await;
    }
}
