//! `tessera trade --venue binance` against the local Binance-protocol server
//! (real BTCUSDT candles, a virtual clock running 300× real time, WebSocket
//! connections dropped every few messages): trade starts its own market data
//! (REST warm-up, then the live stream with REST catch-up after each
//! reconnect), the strategy gets warm-up and live bars once each and in
//! order, and its orders reach the paper broker and fill. On SQLite and
//! PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tessera_core::UnixNanos;
use tessera_data::testing::{self, FakeBinance, FakeBinanceConfig, KlineRow};
use tessera_storage::testing::TestDb;

fn tessera(dir: &Path, db_url: &str, fake: &FakeBinance) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(dir)
        .env("TESSERA_DATA_DIR", dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("TESSERA_VENUES_BINANCE_REST_URL", fake.rest_url())
        .env("TESSERA_VENUES_BINANCE_WS_URL", fake.ws_url())
        .env("TESSERA_RISK_RECONCILE_SECONDS", "0")
        .env("TESSERA_LOG_LEVEL", "warn")
        .env_remove("RUST_LOG");
    c
}

fn list(dir: &Path, db_url: &str, fake: &FakeBinance, args: &[&str]) -> Vec<Value> {
    let out = tessera(dir, db_url, fake).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

/// The numbers of trade's closing `market data:` line.
fn market_line(log: &str) -> (Vec<u64>, UnixNanos, UnixNanos) {
    let line = log
        .lines()
        .find(|l| l.starts_with("market data:"))
        .unwrap_or_else(|| panic!("no market data line in:\n{log}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.parse().unwrap())
        .collect();
    let words: Vec<&str> = line.split_whitespace().collect();
    let to = UnixNanos::parse(words[words.len() - 1]).unwrap();
    let from = UnixNanos::parse(words[words.len() - 3]).unwrap();
    (nums, from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trade_on_binance_warms_up_streams_and_reaches_the_paper_broker() {
    let Some(path) = testing::shared_file(testing::BTCUSDT_1M) else {
        return;
    };
    let rows = KlineRow::load_ohlcv(&path, 3_000);
    for db in TestDb::all().await {
        let fake = FakeBinance::start(FakeBinanceConfig {
            symbols: vec![("BTCUSDT".to_string(), rows.clone())],
            start_minutes: 500,
            // Five market minutes a second.
            speed: 300.0,
            ws_drop_after: 12,
            ..FakeBinanceConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let url = db.url().to_string();
        let mut child = tessera(d, &url, &fake)
            .args([
                "trade",
                "--strategy",
                "sma_cross",
                "--param",
                "fast=2",
                "--param",
                "slow=3",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "binance",
                "--broker",
                "paper",
                "--capital",
                "1000000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
                .join("\n")
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        let status = Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        let log = reader.join().unwrap();
        assert!(exit.success(), "trade failed:\n{log}");
        let (n, from, to) = market_line(&log);
        let (warmup, live, filled, holes, quotes) = (n[0], n[1], n[2], n[4], n[5]);
        // sma_cross slow=3: its warm-up and one more.
        assert!(warmup >= 3, "{log}");
        // The dropped connections left candles out; REST brought them.
        assert!(filled > 0, "{log}");
        // Ten seconds at five minutes a second, minus start-up.
        assert!(live >= 20, "{log}");
        assert_eq!(holes, 0, "{log}");
        assert!(quotes > 0, "{log}");
        // Every bar once and in order: as many bars as minutes from the first to the last.
        let minutes = (to.0 - from.0) / 60_000_000_000 + 1;
        assert_eq!(warmup + live, minutes as u64, "{log}");
        // They are the venue's own candles: the first warm-up bar is one it had closed.
        let closed = fake.closed("BTCUSDT");
        assert!(closed.iter().any(|r| r.open_time == from.as_millis()));
        assert!(closed.iter().any(|r| r.open_time == to.as_millis()));
        assert!(fake.stats().ws_drops >= 1, "{:?}", fake.stats());
        let orders = list(d, &url, &fake, &["orders", "list", "--json"]);
        assert!(!orders.is_empty(), "no orders:\n{log}");
        assert!(
            orders.iter().all(|o| o["symbol"] == "BTCUSDT"),
            "{orders:?}"
        );
        let fills = list(d, &url, &fake, &["fills", "list", "--json"]);
        assert!(!fills.is_empty(), "no fills: {orders:?}\n{log}");
    }
}
