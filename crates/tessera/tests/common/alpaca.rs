//! The kill -9 harness of the Alpaca crash tests: the Alpaca-protocol test
//! server (in the test process, state in a file), `tessera trade --broker
//! alpaca` started and SIGKILLed in a loop, and the final recovery the checks
//! start from.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera_alpaca::server::{Faults, ServerSettings, ServerState, TestServer};
use tessera_alpaca::{AlpacaBroker, AlpacaConfig, Failpoints};
use tessera_core::{Clock, SystemClock};
use tessera_execution::OrderStack;
use tessera_model::{Currency, Instrument, InstrumentId, InstrumentKind, Order, OrderStatus};
use tessera_storage::testing::TestDb;

/// A small deterministic generator (xorshift), so a failure can be replayed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

pub(crate) struct Engine {
    child: Child,
    failpoint: mpsc::Receiver<String>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `tessera` with `args` against the server at `base_url`, with
/// `TESSERA_FAILPOINT` set to `failpoint` (or unset); its stderr is kept, and
/// each `FAILPOINT name` line it prints is passed on.
pub(crate) fn spawn_engine(
    dir: &Path,
    db_url: &str,
    base_url: &str,
    failpoint: Option<&str>,
    args: &[String],
) -> Engine {
    let mut cmd = super::tessera_alpaca(dir, db_url, base_url);
    // One simulated minute every 20 ms: a signal every few bars.
    cmd.env("TESSERA_VENUES_SIM_SPEED", "3000")
        .args(args)
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
    pub(crate) fn kill9(mut self) -> Vec<String> {
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

/// The test server as the crash tests want it: state in a file under `dir`
/// (so it outlives nothing but is shared by all engine runs), fills after
/// 15 ms and partial, and duplicate client order ids accepted so that a
/// double send shows instead of being refused.
pub(crate) async fn crash_server(dir: &Path) -> TestServer {
    TestServer::start(
        ServerSettings {
            state_file: Some(dir.join("alpaca-state.json")),
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
    .unwrap()
}

/// Starts and SIGKILLs the engine `kills` times: every third run killed
/// inside the `before_send` window, every third inside `fill_before_book`
/// (at the 1st to 3rd time it is reached, or anyway after 6 s), the rest at
/// a random 300 to 1500 ms. Asserts each window was hit at least
/// `min_hits` times, then starts once more to recover and trade a little,
/// kills that, and lets the server finish the fills of what was working.
/// Returns when the loop started, for the timings the tests print.
pub(crate) async fn kill_loop(
    db: &TestDb,
    dir: &Path,
    server: &TestServer,
    args: &[String],
    seed: u64,
    kills: usize,
    min_hits: usize,
) -> Instant {
    let mut rng = Rng(seed);
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..kills {
        let fp = match i % 3 {
            0 => Some(format!("before_send@{}", 1 + rng.next(3))),
            1 => Some(format!("fill_before_book@{}", 1 + rng.next(3))),
            _ => None,
        };
        let engine = spawn_engine(dir, db.url(), &server.base_url(), fp.as_deref(), args);
        let at = if fp.is_some() {
            // Kill inside the window once it is reached (or give up waiting and kill anyway).
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
        "{kills} kills in {:?}; failpoints hit: {hits:?}",
        started.elapsed()
    );
    assert!(
        hits.get("before_send").copied().unwrap_or(0) >= min_hits,
        "{hits:?}"
    );
    assert!(
        hits.get("fill_before_book").copied().unwrap_or(0) >= min_hits,
        "{hits:?}"
    );
    // One last start that recovers and trades a little, then a last kill.
    let engine = spawn_engine(dir, db.url(), &server.base_url(), None, args);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.kill9();
    // Let the server finish the fills of what was working.
    tokio::time::sleep(Duration::from_millis(300)).await;
    started
}

/// Settles once more (as a restart would): loads the order stack of AAPL on
/// the sim venue and recovers it against the server. Returns the instrument
/// and the server's state afterwards, asserted to hold no client order id
/// twice.
pub(crate) async fn final_recovery(db: &TestDb, server: &TestServer) -> (Instrument, ServerState) {
    let inst = Instrument::with_defaults(
        InstrumentId::parse("AAPL", "sim").unwrap(),
        InstrumentKind::Equity,
    )
    .unwrap();
    let usd = Currency::new("USD").unwrap();
    let mut stack = OrderStack::load(
        db.store().clone(),
        "alpaca",
        usd,
        std::slice::from_ref(&inst),
    )
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
    (inst, st)
}

/// The client order ids the server knows.
pub(crate) fn at_server(st: &ServerState) -> BTreeSet<&str> {
    st.orders
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect()
}

/// Checks stored orders against the server after recovery: none is left
/// created or submitted, and each one the server does not know was rejected
/// as never sent (or by risk), which is how recovery marks an order stored
/// but killed before it was posted. Then checks the server knows no order
/// outside `orders` (`unknown` ends that message). `what` names the orders
/// in messages. Returns how many were never sent.
pub(crate) fn check_orders_against_server(
    what: &str,
    orders: &[&Order],
    at_server: &BTreeSet<&str>,
    unknown: &str,
) -> usize {
    let mut never_sent = 0;
    for o in orders {
        let id = o.client_order_id.as_str();
        assert!(
            !matches!(o.status, OrderStatus::Created | OrderStatus::Submitted),
            "{what} {id} still {} after recovery",
            o.status
        );
        if at_server.contains(id) {
            continue;
        }
        let reason = o.reject_reason.clone().unwrap_or_default();
        assert!(
            o.status == OrderStatus::Rejected
                && (reason.contains("never sent") || reason.starts_with("risk:")),
            "{what} {id} is unknown to the server but stored as {} ({reason})",
            o.status
        );
        never_sent += 1;
    }
    let ours: BTreeSet<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
    for id in at_server {
        assert!(ours.contains(id), "the server has order {id} {unknown}");
    }
    never_sent
}
