//! Collectors, importers and sources end to end, on SQLite and PostgreSQL,
//! against local servers that speak the real wire protocols with real data.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::{SystemClock, TimeRange};
use tessera_data::binance::{BinanceCollector, BinanceSettings};
use tessera_data::collector::{CollectorEngine, EngineOptions};
use tessera_data::eod::{HttpCsvCollector, HttpCsvSettings, WatchRequest, scan_folder};
use tessera_data::import::{CsvOptions, ImportFormat, ImportRequest, import_files};
use tessera_data::retry::RetryPolicy;
use tessera_data::sim::{SimCollector, SimSettings};
use tessera_data::testing::{self, FakeBinance, FakeBinanceConfig, KlineRow};
use tessera_model::{Bar, IngestState, InstrumentId, InstrumentKind, Interval, Symbol};
use tessera_storage::Store;
use tessera_storage::testing::TestDb;
use tokio::sync::watch;

fn settings(fake: &FakeBinance) -> BinanceSettings {
    BinanceSettings {
        rest_url: fake.rest_url(),
        ws_url: fake.ws_url(),
        timeout: Duration::from_secs(1),
        retry: RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
        },
        ws_idle_timeout: Duration::from_secs(5),
        ..BinanceSettings::default()
    }
}

fn same(bar: &Bar, row: &KlineRow) -> bool {
    bar.open_time.as_millis() == row.open_time
        && bar.open.to_string() == row.ohlcv[0]
        && bar.high.to_string() == row.ohlcv[1]
        && bar.low.to_string() == row.ohlcv[2]
        && bar.close.to_string() == row.ohlcv[3]
        && bar.volume.to_string() == row.ohlcv[4]
}

/// Stored bars equal the source rows one for one: no gap, no duplicate, no altered value.
async fn assert_matches_source(store: &Store, id: &InstrumentId, source: &[KlineRow]) {
    let stored = store
        .bars_range(id, Interval::M1, TimeRange::ALL)
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        source.len(),
        "bar count differs from the source"
    );
    for (b, r) in stored.iter().zip(source) {
        assert!(same(b, r), "stored {b:?} differs from source {r:?}");
    }
}

fn btc_rows(n: usize) -> Option<Vec<KlineRow>> {
    let path = testing::shared_file(testing::BTCUSDT_1M)?;
    Some(KlineRow::load_ohlcv(&path, n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_binance_backfill_under_faults_stores_exactly_the_source() {
    let Some(rows) = btc_rows(4_000) else { return };
    // The real ADABTC klines (full 12 columns), moved in time to where the fake's clock is.
    let shift = rows[0].open_time;
    let ada = testing::shared_file(testing::ADABTC_KLINES).map(|p| {
        let mut ada = KlineRow::load_klines(&p);
        let first = ada[0].open_time;
        for r in &mut ada {
            r.open_time = r.open_time - first + shift;
        }
        ada
    });
    let mut symbols = vec![("BTCUSDT".to_string(), rows)];
    symbols.extend(ada.map(|r| ("ADABTC".to_string(), r)));
    for db in TestDb::all().await {
        let fake = FakeBinance::start(FakeBinanceConfig {
            symbols: symbols.clone(),
            // 3,990 closed candles and one open, which must not be stored.
            start_minutes: 3_990,
            speed: 1.0,
            fail_every: 3,
            slow_every: 5,
            slow: Duration::from_millis(1_500),
            ..FakeBinanceConfig::default()
        })
        .await;
        let store = db.store();
        let c = Arc::new(BinanceCollector::new(settings(&fake), Arc::new(SystemClock)).unwrap());
        let engine = CollectorEngine::new(store.clone(), c, Interval::M1, EngineOptions::default());
        let btc = Symbol::new("BTCUSDT").unwrap();
        let inst = engine.add(btc, None).await.unwrap();
        assert_eq!(inst.tick_size.to_string(), "0.01");
        assert_eq!(inst.base_currency.unwrap().as_str(), "BTC");
        let cursor = store.cursor(&inst.id, Interval::M1).await.unwrap().unwrap();
        assert_eq!(cursor.state, IngestState::Created);
        let results = engine
            .backfill_many(&[btc, Symbol::new("ADABTC").unwrap()], None)
            .await;
        for (s, r) in &results {
            assert!(r.is_ok(), "{s}: {r:?}");
        }
        assert_matches_source(store, &inst.id, &fake.closed("BTCUSDT")).await;
        assert_eq!(
            store.bar_count(&inst.id, Interval::M1).await.unwrap(),
            3_990
        );
        let ada_id = InstrumentId::parse("ADABTC", "binance").unwrap();
        let ada_bar = store
            .first_bar(&ada_id, Interval::M1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada_bar.trade_count, Some(79));
        assert_eq!(ada_bar.quote_volume.unwrap().to_string(), "1.03547608");
        let stats = fake.stats();
        assert!(
            stats.errors_injected >= 2 && stats.slow_injected >= 1,
            "{stats:?}"
        );
        assert_eq!(
            stats.retry_after_violations, 0,
            "Retry-After ignored: {stats:?}"
        );
        assert!(stats.max_weight_per_minute <= 3_000, "{stats:?}");
        let cursor = store.cursor(&inst.id, Interval::M1).await.unwrap().unwrap();
        assert_eq!(cursor.state, IngestState::Paused);
        assert_eq!(
            cursor.last_open_time.unwrap().as_millis(),
            fake.closed("BTCUSDT").last().unwrap().open_time
        );
        // A second run finds nothing new and stores nothing twice.
        let again = engine.backfill(btc, None).await.unwrap();
        assert_eq!(again.inserted, 0);
        // An unknown symbol is a clear error.
        let e = engine
            .add(Symbol::new("NOPE").unwrap(), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not list symbol NOPE"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_binance_stream_survives_dropped_websockets() {
    let Some(rows) = btc_rows(1_200) else { return };
    for db in TestDb::all().await {
        let fake = FakeBinance::start(FakeBinanceConfig {
            symbols: vec![("BTCUSDT".to_string(), rows.clone())],
            start_minutes: 600,
            // Ten minutes of market a second.
            speed: 600.0,
            ws_drop_after: 25,
            ..FakeBinanceConfig::default()
        })
        .await;
        let store = db.store();
        let c = Arc::new(BinanceCollector::new(settings(&fake), Arc::new(SystemClock)).unwrap());
        let engine = CollectorEngine::new(store.clone(), c, Interval::M1, EngineOptions::default());
        let btc = Symbol::new("BTCUSDT").unwrap();
        engine.add(btc, None).await.unwrap();
        let (tx, rx) = watch::channel(false);
        let run = tokio::spawn({
            let engine = engine.clone();
            async move { engine.stream(&[btc], rx).await }
        });
        tokio::time::sleep(Duration::from_secs(6)).await;
        tx.send(true).unwrap();
        run.await.unwrap().unwrap();
        let id = InstrumentId::new(btc, "binance".parse().unwrap());
        let stored = store
            .bars_range(&id, Interval::M1, TimeRange::ALL)
            .await
            .unwrap();
        assert!(
            stored.len() > 620,
            "live candles were stored: {}",
            stored.len()
        );
        assert_matches_source(store, &id, &rows[..stored.len()]).await;
        let stats = fake.stats();
        assert!(
            stats.ws_drops >= 2 && stats.ws_connections >= 3,
            "{stats:?}"
        );
        assert!(stats.pongs >= 1, "pings answered: {stats:?}");
        let quotes = store.quote_count(&id).await.unwrap();
        assert!(quotes > 0, "top of book stored");
        let cursor = store.cursor(&id, Interval::M1).await.unwrap().unwrap();
        assert_eq!(cursor.state, IngestState::Paused);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sim_backfill_then_live_is_contiguous() {
    for db in TestDb::all().await {
        let store = db.store();
        let sim = Arc::new(
            SimCollector::new(
                SimSettings {
                    speed: 600.0,
                    seed: 7,
                    history_days: 1,
                },
                Arc::new(SystemClock),
                None,
            )
            .unwrap(),
        );
        let engine =
            CollectorEngine::new(store.clone(), sim, Interval::M1, EngineOptions::default());
        let syms = [Symbol::new("BTCUSDT").unwrap(), Symbol::new("SPY").unwrap()];
        for s in syms {
            engine.add(s, None).await.unwrap();
        }
        let (tx, rx) = watch::channel(false);
        let run = tokio::spawn({
            let engine = engine.clone();
            async move { engine.stream(&syms, rx).await }
        });
        tokio::time::sleep(Duration::from_secs(4)).await;
        tx.send(true).unwrap();
        run.await.unwrap().unwrap();
        for s in syms {
            let id = InstrumentId::new(s, "sim".parse().unwrap());
            let bars = store
                .bars_range(&id, Interval::M1, TimeRange::ALL)
                .await
                .unwrap();
            assert!(bars.len() > 1_440, "{s}: {}", bars.len());
            for w in bars.windows(2) {
                assert_eq!(
                    w[1].open_time,
                    Interval::M1.next(w[0].open_time),
                    "{s}: gap"
                );
                assert_eq!(w[1].open, w[0].close, "{s}: opens at the previous close");
            }
            assert!(store.quote_count(&id).await.unwrap() > 0);
        }
    }
}

const GOOD: &str = "timestamp,open,high,low,close,volume\n\
    2024-01-01T00:00:00Z,100.5,101,100,100.75,10\n\
    2024-01-01T00:01:00Z,100.75,101.25,100.5,101,12.5\n";

fn request(symbol: &str, strict: bool) -> ImportRequest {
    ImportRequest {
        instrument: InstrumentId::parse(symbol, "nasdaq").unwrap(),
        interval: Interval::M1,
        format: ImportFormat::OhlcvCsv,
        kind: Some(InstrumentKind::Equity),
        tick_size: None,
        lot_size: None,
        strict,
        overwrite: false,
        csv: CsvOptions::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_import_malformed_input_reports_and_changes_nothing_it_should_not() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{GOOD}2024-01-01T00:02:00Z,101,101.5\n\
             2024-01-01T00:03:00Z,abc,101.5,100,101,1\n\
             2024-01-01T00:01:00Z,101,101.5,100,101,1\n\
             2024-01-01T00:04:30Z,101,101.5,100,101,1\n\
             2024-01-01T00:05:00Z,101,100.5,100,101,1\n\
             2024-01-01T00:06:00Z,101,99999999,100,101,1\n\
             2024-01-01T00:07:00Z,101,101.5,100,101,-3\n\
             2024-01-01T00:08:00Z,101,101.5,100,101,1\n\
             2024-01-01T00:09"
        ),
    )
    .unwrap();
    for db in TestDb::all().await {
        let store = db.store();
        // Strict: refused as a whole, not even the instrument is created.
        let e = import_files(store, std::slice::from_ref(&bad), &request("AAA", true))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv:4:") && e.contains("--strict stored nothing"),
            "{e}"
        );
        assert!(store.list_instruments().await.unwrap().is_empty());
        // Lenient: valid rows in, each bad row reported with its line and reason.
        let r = import_files(store, std::slice::from_ref(&bad), &request("AAA", false))
            .await
            .unwrap();
        assert_eq!((r.rows_read, r.inserted, r.rejected), (11, 3, 8), "{r:#?}");
        let reasons: Vec<String> = r.rejections.iter().map(ToString::to_string).collect();
        for want in [
            "bad.csv:4: expected 6 columns",
            "bad.csv:5: open:",
            "bad.csv:6: time 2024-01-01T00:01:00Z is not after",
            "bad.csv:7: time 2024-01-01T00:04:30Z is not aligned",
            "bad.csv:8: high 100.5 is below",
            "bad.csv:9: absurd price",
            "bad.csv:10: volume",
            "bad.csv:12: expected 6 columns",
        ] {
            assert!(
                reasons.iter().any(|r| r.contains(want)),
                "{want} not in {reasons:#?}"
            );
        }
        let id = InstrumentId::parse("AAA", "nasdaq").unwrap();
        let inst = store.instrument(&id).await.unwrap();
        assert_eq!(
            inst.tick_size.to_string(),
            "0.01",
            "inferred from the finest decimals"
        );
        assert_eq!(inst.lot_size.to_string(), "0.1");
        // Re-import: all duplicates; a conflicting value is counted and kept as stored.
        let again = dir.path().join("again.csv");
        std::fs::write(&again, GOOD.replace("100.75,10\n", "100.75,11\n")).unwrap();
        let r = import_files(store, &[again], &request("AAA", false))
            .await
            .unwrap();
        assert_eq!((r.inserted, r.duplicate, r.conflicting), (0, 1, 1));
        // Off-tick prices for the existing instrument are refused.
        let off = dir.path().join("off.csv");
        std::fs::write(
            &off,
            "timestamp,open,high,low,close,volume\n2024-01-02,1.005,2,1,1.5,1\n",
        )
        .unwrap();
        let r = import_files(store, &[off], &request("AAA", false))
            .await
            .unwrap();
        assert!(
            r.rejections[0].reason.contains("tick size 0.01"),
            "{:?}",
            r.rejections
        );
        assert_eq!(store.bar_count(&id, Interval::M1).await.unwrap(), 3);
    }
}

async fn serve_csv(body: String) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/q/d/l/",
        get(
            move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let body = body.clone();
                async move {
                    if q.get("s").map(String::as_str) == Some("aapl.us") {
                        (axum::http::StatusCode::OK, body)
                    } else {
                        (axum::http::StatusCode::OK, "No data".to_string())
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Runs until the test process ends.
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/q/d/l/?s={{symbol_lower}}&i=d")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_eod_http_csv_source_and_watched_folder() {
    let Some(aapl) = testing::shared_file("us_equities_daily/AAPL.csv") else {
        return;
    };
    let text = std::fs::read_to_string(&aapl).unwrap();
    let template = serve_csv(text).await;
    for db in TestDb::all().await {
        let store = db.store();
        let src = Arc::new(
            HttpCsvCollector::new(
                HttpCsvSettings {
                    venue: "stooq".into(),
                    url_template: template.clone(),
                    kind: InstrumentKind::Equity,
                    timeout: Duration::from_secs(5),
                    poll: Duration::from_secs(3_600),
                },
                Arc::new(SystemClock),
            )
            .unwrap(),
        );
        let engine =
            CollectorEngine::new(store.clone(), src, Interval::D1, EngineOptions::default());
        let s = Symbol::new("AAPL.US").unwrap();
        engine.add(s, None).await.unwrap();
        let r = engine.backfill(s, None).await.unwrap();
        assert_eq!(r.inserted, 1_259);
        assert!(
            engine
                .add(Symbol::new("MSFT.US").unwrap(), None)
                .await
                .is_err()
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&aapl, dir.path().join("AAPL.csv")).unwrap();
        std::fs::write(dir.path().join("BAD.csv"), "what,is,this\n1,2,3\n").unwrap();
        let req = WatchRequest {
            format: ImportFormat::OhlcvCsv,
            venue: "nyse".parse().unwrap(),
            interval: Interval::D1,
            kind: None,
            csv: CsvOptions::default(),
        };
        let out = scan_folder(store, dir.path(), &req).await.unwrap();
        assert_eq!(out.len(), 2);
        assert!(dir.path().join("processed/AAPL.csv").exists());
        assert!(dir.path().join("failed/BAD.csv").exists());
        let reason = std::fs::read_to_string(dir.path().join("failed/BAD.csv.reason.txt")).unwrap();
        assert!(reason.contains("no time column"), "{reason}");
        // Imported once: a second scan finds nothing.
        assert!(
            scan_folder(store, dir.path(), &req)
                .await
                .unwrap()
                .is_empty()
        );
        let id = InstrumentId::parse("AAPL", "nyse").unwrap();
        assert_eq!(store.bar_count(&id, Interval::D1).await.unwrap(), 1_259);
    }
}

/// Backfill throughput against the fake server: all 30,240 BTCUSDT candles.
/// Run with `cargo test --release -p tessera-data --test collectors -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run on demand"]
async fn bench_backfill_throughput_against_fake_binance() {
    let Some(rows) = btc_rows(30_240) else { return };
    for db in TestDb::all().await {
        let fake = FakeBinance::start(FakeBinanceConfig {
            symbols: vec![("BTCUSDT".to_string(), rows.clone())],
            start_minutes: 30_240,
            ..FakeBinanceConfig::default()
        })
        .await;
        let store = db.store();
        let c = Arc::new(BinanceCollector::new(settings(&fake), Arc::new(SystemClock)).unwrap());
        let engine = CollectorEngine::new(store.clone(), c, Interval::M1, EngineOptions::default());
        let btc = Symbol::new("BTCUSDT").unwrap();
        engine.add(btc, None).await.unwrap();
        let t = std::time::Instant::now();
        let r = engine.backfill(btc, None).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.inserted, 30_240);
        eprintln!(
            "backfill {}: {} candles in {} pages, {secs:.2}s, {:.0} candles/s",
            db.backend(),
            r.inserted,
            r.pages,
            r.inserted as f64 / secs
        );
    }
}
