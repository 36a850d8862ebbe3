//! `tessera trade --venue alpaca --broker alpaca` against the local
//! Alpaca-protocol server (in this test process; generated AAPL minute bars
//! on a market clock running 300× real time; market data stream connections
//! dropped every 12 messages): trade takes its market data from Alpaca's
//! Market Data API (REST warm-up, then the stream, with REST catch-up after
//! each reconnect), every bar reaches the strategy once and in order, and
//! its orders go to the same server and fill at the prices of the bars it
//! served. On SQLite and PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use tessera_alpaca::server::{Faults, MarketSettings, ServerSettings, TestServer};
use tessera_alpaca::{AlpacaCollector, AlpacaConfig};
use tessera_core::{SystemClock, UnixNanos};
use tessera_data::Collector;
use tessera_model::{Interval, Symbol};
use tessera_storage::testing::TestDb;

fn tessera(dir: &Path, db_url: &str, server: &TestServer) -> Command {
    let mut c = common::tessera_alpaca(dir, db_url, &server.base_url());
    c.env("TESSERA_BROKERS_ALPACA_DATA_URL", server.base_url())
        .env("TESSERA_BROKERS_ALPACA_FEED", "sip")
        .env_remove("TESSERA_FAILPOINT");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trade_on_alpaca_market_data_warms_up_streams_and_fills_at_alpaca() {
    for db in TestDb::all().await {
        let server = TestServer::start(
            ServerSettings {
                market: MarketSettings {
                    synthetic: true,
                    start: Some(UnixNanos::parse("2024-05-01T14:00:20Z").unwrap()),
                    // Five market minutes a second.
                    speed: 300,
                    ..MarketSettings::default()
                },
                faults: Faults {
                    drop_data_stream_after: 12,
                    ..Faults::default()
                },
                ..ServerSettings::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let url = db.url().to_string();
        let args = common::sma_cross_trade("AAPL", "alpaca", "alpaca", "100000");
        let log = common::run_then_interrupt(tessera(d, &url, &server), &args, 10).await;
        for l in log
            .lines()
            .filter(|l| l.starts_with("market data:") || l.starts_with("stopped:"))
        {
            eprintln!("{}: {l}", db.url().split(':').next().unwrap_or_default());
        }
        let (from, _) = common::check_market_line(&log);

        // Orders went to Alpaca (the same server) under our client order ids.
        let orders = common::json_list(tessera(d, &url, &server), &["orders", "list", "--json"]);
        assert!(!orders.is_empty(), "no orders:\n{log}");
        assert!(orders.iter().all(|o| o["symbol"] == "AAPL"), "{orders:?}");
        let st = server.state();
        assert!(st.duplicate_client_ids().is_empty());
        let at_server: BTreeSet<&str> = st
            .orders
            .iter()
            .map(|o| o.client_order_id.as_str())
            .collect();
        let sent: Vec<&Value> = orders
            .iter()
            .filter(|o| o["broker_order_id"].is_string())
            .collect();
        assert!(!sent.is_empty(), "{orders:?}");
        for o in &sent {
            assert!(
                at_server.contains(o["client_order_id"].as_str().unwrap()),
                "{o}"
            );
        }
        // They filled at the prices of the bars the strategy traded on.
        let fills = common::json_list(tessera(d, &url, &server), &["fills", "list", "--json"]);
        assert!(!fills.is_empty(), "no fills: {orders:?}\n{log}");
        let md = AlpacaCollector::new(
            AlpacaConfig {
                base_url: server.base_url(),
                data_url: server.base_url(),
                key_id: "test-key".into(),
                secret: "test-secret".into(),
                ..AlpacaConfig::default()
            },
            Arc::new(SystemClock),
        )
        .unwrap();
        let bars = md
            .closed_bars(
                Symbol::new("AAPL").unwrap(),
                Interval::M1,
                from,
                UnixNanos::MAX,
                10_000,
            )
            .await
            .unwrap();
        let closes: BTreeSet<String> = bars.iter().map(|b| b.close.to_string()).collect();
        assert!(!st.activities.is_empty());
        for a in &st.activities {
            assert!(
                closes.contains(&a.price.normalize().to_string()),
                "fill at {} is no bar close",
                a.price
            );
        }
    }
}
