//! `tessera up` with a config file runs what the config says: the
//! prediction service when `[predictions] enabled = true` and one supervised
//! `tessera trade` child per `[[traders]]` entry; a bad trader entry stops
//! `up` before it starts anything.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera_storage::Store;

fn tessera(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            c.env_remove(k);
        }
    }
    c
}

fn config(dir: &Path, trader: &str) -> std::path::PathBuf {
    let path = dir.join("tessera.toml");
    let text = format!(
        "data_dir = {data:?}\n\
         [venues.sim]\nspeed = 120.0\nhistory_days = 1\n\
         [predictions]\nenabled = true\npoll_ms = 500\n\
         {trader}",
        data = dir.join("data").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

const TRADER: &str = "[[traders]]\nname = \"btc_trend\"\nstrategy = \"sma_cross\"\n\
    params = { fast = 5, slow = 20 }\nsymbols = [\"BTCUSDT\"]\nvenue = \"sim\"\n\
    broker = \"paper\"\ncapital = 100000\n\n[[traders.strategies]]\nname = \"btc_hold\"\n\
    strategy = \"buy_hold\"\ncapital = 5000\n";

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!(
        "no {needle:?} within {timeout:?}; saw:\n{}",
        seen.join("\n")
    );
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "did not exit within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_up_with_a_config_runs_its_trader_and_predictions_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), TRADER);
    // A small simulated market: one symbol, one day of minute history.
    let out = tessera(dir.path())
        .args(["--config", cfg.to_str().unwrap()])
        .args(["data", "add", "BTCUSDT", "--venue", "sim"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = tessera(dir.path())
        .args(["--config", cfg.to_str().unwrap(), "up", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_for(&rx, "tessera up: ready", Duration::from_secs(20));
    let db = dir.path().join("data/tessera.db");
    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    // Both run, and keep running (a trader that exits would be in backoff with restarts).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut running_since: Option<Instant> = None;
    loop {
        let procs = store.list_processes().await.unwrap();
        let up = |name: &str| {
            procs
                .iter()
                .any(|p| p.name == name && p.state == "running" && p.restarts == 0)
        };
        if up("trader:btc_trend") && up("service:predictions") {
            let since = *running_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(4) {
                let t = procs.iter().find(|p| p.name == "trader:btc_trend").unwrap();
                assert_eq!(t.kind, "trader");
                break;
            }
        } else {
            running_since = None;
        }
        assert!(Instant::now() < deadline, "not both running: {procs:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The service serves a model promoted while it runs: train one on the
    // streamed history through `up`'s worker, then predictions are stored.
    let id = tessera_model::InstrumentId::parse("BTCUSDT", "sim").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store
        .bars_range(
            &id,
            tessera_model::Interval::M1,
            tessera_core::TimeRange::ALL,
        )
        .await
        .unwrap()
        .len()
        < 300
    {
        assert!(Instant::now() < deadline, "no history backfilled");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = tessera(dir.path())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "jobs",
            "run",
            "model_training",
        ])
        .args([
            "--param",
            "name=cfg",
            "--param",
            "symbols=BTCUSDT",
            "--param",
            "venue=sim",
        ])
        .args([
            "--param",
            "interval=1m",
            "--param",
            "promote=true",
            "--wait",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = store.production_ml_models().await.unwrap().pop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store
        .ml_predictions(&model.execution_id, None)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no predictions stored");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The trader's second strategy ([[traders.strategies]] → `trade --also`)
    // trades on the same account in the same process, under its own name.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let orders = store.orders(None).await.unwrap();
        if orders
            .iter()
            .any(|o| o.order.request.strategy.as_str() == "btc_hold")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no order of btc_hold: {orders:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The demo's own trader and market are not started with a config.
    let procs = store.list_processes().await.unwrap();
    assert!(!procs.iter().any(|p| p.name == "trader:model"), "{procs:?}");
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status}");
    wait_for(&rx, "tessera up: stopped", Duration::from_secs(1));
    let procs = store.list_processes().await.unwrap();
    for name in [
        "trader:btc_trend",
        "service:predictions",
        "service:order_stack",
    ] {
        assert!(
            procs.iter().any(|p| p.name == name && p.state == "stopped"),
            "{name}: {procs:?}"
        );
    }
    store.close().await;
}

#[test]
fn test_up_refuses_a_bad_trader_entry_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &TRADER.replace("sma_cross", "sma_crossing"));
    let out = tessera(dir.path())
        .args(["--config", cfg.to_str().unwrap(), "up", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("traders[0].strategy") && err.contains("sma_crossing"),
        "{err}"
    );
    // Nothing was started: no database was created.
    assert!(!dir.path().join("data/tessera.db").exists(), "{err}");
}
