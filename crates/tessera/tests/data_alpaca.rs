//! `tessera data add|backfill --venue alpaca` against the local
//! Alpaca-protocol server (in this test process): the bars Alpaca serves
//! reach the store exactly (prices f64 cannot hold), a backfill stopped at
//! `--until` resumes after its last bar, and a repeated backfill stores
//! nothing twice. On SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rust_decimal::Decimal;
use serde_json::Value;
use tessera_alpaca::server::{MarketSettings, ServerBar, ServerSettings, TestServer};
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{InstrumentId, Interval};
use tessera_storage::testing::TestDb;

const MINUTE: i64 = 60_000_000_000;
const BARS: i64 = 250;

fn t(s: &str) -> UnixNanos {
    UnixNanos::parse(s).unwrap()
}

/// 250 minute bars of AAPL from 2024-03-01 14:30, ten decimal places.
fn server_bars() -> Vec<ServerBar> {
    let t0 = t("2024-03-01T14:30:00Z");
    (0..BARS)
        .map(|k| {
            let p = Decimal::new(1_734_567_890_123 + k * 1_000_000_007, 10);
            ServerBar {
                open_time: UnixNanos(t0.0 + k * MINUTE),
                open: p,
                high: p + Decimal::ONE,
                low: p - Decimal::ONE,
                close: p + Decimal::new(1, 10),
                volume: Decimal::from(100 + k),
            }
        })
        .collect()
}

fn tessera(dir: &Path, db_url: &str, server: &TestServer, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir)
        .env("TESSERA_DATA_DIR", dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("TESSERA_BROKERS_ALPACA_BASE_URL", server.base_url())
        .env("TESSERA_BROKERS_ALPACA_DATA_URL", server.base_url())
        .env("TESSERA_BROKERS_ALPACA_FEED", "sip")
        .env("TESSERA_BROKERS_ALPACA_KEY_ID", "test-key")
        .env("TESSERA_BROKERS_ALPACA_SECRET", "test-secret")
        .env("TESSERA_BROKERS_ALPACA_TIMEOUT_MS", "3000")
        .env("TESSERA_LOG_LEVEL", "warn")
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `(inserted, duplicate)` of the one row of a backfill's JSON report.
fn counts(report: &Value) -> (u64, u64) {
    let rows = report.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    assert!(rows[0]["error"].is_null(), "{report}");
    assert_eq!(rows[0]["venue"], "alpaca", "{report}");
    assert_eq!(rows[0]["interval"], "1m", "{report}");
    (
        rows[0]["inserted"].as_u64().unwrap(),
        rows[0]["duplicate"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_data_backfill_venue_alpaca_stores_exact_bars_and_resumes_without_duplicates() {
    let served = server_bars();
    for db in TestDb::all().await {
        let server = TestServer::start(
            ServerSettings {
                market: MarketSettings {
                    bars: BTreeMap::from([("AAPL".to_string(), served.clone())]),
                    ..MarketSettings::default()
                },
                ..ServerSettings::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (d, url) = (dir.path(), db.url().to_string());
        let added = tessera(
            d,
            &url,
            &server,
            &[
                "data",
                "add",
                "AAPL",
                "--venue",
                "alpaca",
                "--start",
                "2024-03-01T14:30:00Z",
                "--json",
            ],
        );
        assert_eq!(added["venue"], "alpaca", "{added}");
        assert_eq!(added["interval"], "1m", "{added}");

        // Up to 16:00 (exclusive): 14:30..15:59, 90 bars.
        let first = tessera(
            d,
            &url,
            &server,
            &[
                "data",
                "backfill",
                "AAPL",
                "--venue",
                "alpaca",
                "--until",
                "2024-03-01T16:00:00Z",
                "--json",
            ],
        );
        assert_eq!(counts(&first), (90, 0), "{first}");
        assert_eq!(first[0]["last"], t("2024-03-01T15:59:00Z").0, "{first}");

        // Resume after 15:59: the other 160, none again.
        let second = tessera(
            d,
            &url,
            &server,
            &["data", "backfill", "AAPL", "--venue", "alpaca", "--json"],
        );
        assert_eq!(counts(&second), (160, 0), "{second}");
        // Caught up: nothing new, nothing stored twice.
        let third = tessera(d, &url, &server, &["data", "backfill", "--json"]);
        assert_eq!(counts(&third), (0, 0), "{third}");

        let store = db.store();
        let id = InstrumentId::parse("AAPL", "alpaca").unwrap();
        assert_eq!(
            store.bar_count(&id, Interval::M1).await.unwrap(),
            BARS as u64,
            "{}",
            db.backend()
        );
        let stored = store
            .bars_range(
                &id,
                Interval::M1,
                TimeRange::new(t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z")).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(stored.len(), served.len());
        for (s, b) in served.iter().zip(&stored) {
            assert_eq!(b.open_time, s.open_time);
            assert_eq!(b.open.as_decimal(), s.open, "{}", b.open_time);
            assert_eq!(b.high.as_decimal(), s.high, "{}", b.open_time);
            assert_eq!(b.low.as_decimal(), s.low, "{}", b.open_time);
            assert_eq!(b.close.as_decimal(), s.close, "{}", b.open_time);
            assert_eq!(b.volume.as_decimal(), s.volume, "{}", b.open_time);
        }
        let status = tessera(d, &url, &server, &["data", "status", "--json"]);
        let row = status
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["venue"] == "alpaca")
            .unwrap_or_else(|| panic!("{status}"));
        assert_eq!(row["state"], "paused", "{status}");
        assert_eq!(row["rows"], BARS, "{status}");
        assert_eq!(row["last"], "2024-03-01T18:39:00Z", "{status}");
    }
}
