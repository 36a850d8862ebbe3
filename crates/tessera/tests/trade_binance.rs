//! `tessera trade --venue binance` against the local Binance-protocol server
//! (real BTCUSDT candles, a virtual clock running 300× real time, WebSocket
//! connections dropped every few messages): trade starts its own market data
//! (REST warm-up, then the live stream with REST catch-up after each
//! reconnect), the strategy gets warm-up and live bars once each and in
//! order, and its orders reach the paper broker and fill. On SQLite and
//! PostgreSQL.

mod common;

use std::path::Path;
use std::process::Command;

use tessera_data::testing::{self, FakeBinance, FakeBinanceConfig, KlineRow};
use tessera_storage::testing::TestDb;

fn tessera(dir: &Path, db_url: &str, fake: &FakeBinance) -> Command {
    let mut c = common::tessera(dir, db_url);
    c.env("TESSERA_VENUES_BINANCE_REST_URL", fake.rest_url())
        .env("TESSERA_VENUES_BINANCE_WS_URL", fake.ws_url());
    c
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
        let args = common::sma_cross_trade("BTCUSDT", "binance", "paper", "1000000");
        let log = common::run_then_interrupt(tessera(d, &url, &fake), &args, 10).await;
        let (from, to) = common::check_market_line(&log);
        // They are the venue's own candles: the first warm-up bar is one it had closed.
        let closed = fake.closed("BTCUSDT");
        assert!(closed.iter().any(|r| r.open_time == from.as_millis()));
        assert!(closed.iter().any(|r| r.open_time == to.as_millis()));
        assert!(fake.stats().ws_drops >= 1, "{:?}", fake.stats());
        let orders = common::json_list(tessera(d, &url, &fake), &["orders", "list", "--json"]);
        assert!(!orders.is_empty(), "no orders:\n{log}");
        assert!(
            orders.iter().all(|o| o["symbol"] == "BTCUSDT"),
            "{orders:?}"
        );
        let fills = common::json_list(tessera(d, &url, &fake), &["fills", "list", "--json"]);
        assert!(!fills.is_empty(), "no fills: {orders:?}\n{log}");
    }
}
