//! `tessera data …` through its command-line contract, on SQLite and PostgreSQL,
//! including the crash test: the real binary killed with SIGKILL at random
//! moments while collecting from a local fake Binance, restarted each time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_data::testing::{self, FakeBinance, FakeBinanceConfig, KlineRow};
use tessera_storage::testing::TestDb;

fn tessera_cmd(dir: &Path, db_url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.args(args)
        .current_dir(dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("RUST_LOG", "warn");
    c
}

fn tessera(dir: &Path, db_url: &str, args: &[&str]) -> Output {
    tessera_cmd(dir, db_url, args)
        .output()
        .expect("run tessera")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_data_import_export_gaps_status_contract() {
    let Some(btc) = testing::shared_file(testing::BTCUSDT_1M) else {
        return;
    };
    let btc = btc.to_str().unwrap().to_string();
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let url = db.url();
        let imp = [
            "data",
            "import",
            &btc,
            "--format",
            "ohlcv-csv",
            "--symbol",
            "BTCUSDT",
            "--venue",
            "binanceus",
            "--interval",
            "1m",
            "--json",
        ];
        let r = json(&tessera(d, url, &imp));
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "conflicting",
                "duplicate",
                "first",
                "inserted",
                "last",
                "rejected",
                "rows_read"
            ]
        );
        assert_eq!(r["rows_read"], 30_240);
        assert_eq!(r["inserted"], 30_240);
        assert_eq!(r["first"], "2023-03-01T00:00:00Z");
        assert_eq!(r["last"], "2023-03-21T23:59:00Z");
        let again = json(&tessera(d, url, &imp));
        assert_eq!(
            (again["inserted"].as_u64(), again["duplicate"].as_u64()),
            (Some(0), Some(30_240))
        );

        let csv = d.join("out.csv");
        ok(&tessera(
            d,
            url,
            &[
                "data",
                "export",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "binanceus",
                "--interval",
                "1m",
                "--from",
                "2023-03-01",
                "--to",
                "2023-03-01T00:02:00Z",
                "--format",
                "csv",
                "--output",
                csv.to_str().unwrap(),
            ],
        ));
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "timestamp,open,high,low,close,volume\n\
             2023-03-01T00:00:00Z,23140.48,23150.77,23128.52,23142.31,2.131777\n\
             2023-03-01T00:01:00Z,23143.89,23148.8,23137.61,23137.77,0.881378\n"
        );
        let pq = d.join("out.parquet");
        ok(&tessera(
            d,
            url,
            &[
                "data",
                "export",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "binanceus",
                "--interval",
                "1m",
                "--format",
                "parquet",
                "--output",
                pq.to_str().unwrap(),
            ],
        ));
        assert!(std::fs::read(&pq).unwrap().starts_with(b"PAR1"));

        let g = json(&tessera(
            d,
            url,
            &[
                "data",
                "gaps",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "binanceus",
                "--interval",
                "1m",
                "--json",
            ],
        ));
        assert_eq!(g["gaps"].as_array().unwrap().len(), 0, "{g}");
        assert_eq!(g["rows"], 30_240);

        // A strict import of a malformed file fails clearly and stores nothing.
        let bad = d.join("bad.csv");
        std::fs::write(&bad, "timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,1\n2024-01-01T00:01:00Z,1,0.9,0.5,1,1\n").unwrap();
        let out = tessera(
            d,
            url,
            &[
                "data",
                "import",
                bad.to_str().unwrap(),
                "--format",
                "ohlcv-csv",
                "--symbol",
                "XYZ",
                "--venue",
                "nasdaq",
                "--interval",
                "1m",
                "--strict",
            ],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.csv:3: high 0.9 is below"), "{err}");
        let s = json(&tessera(d, url, &["data", "status", "--json"]));
        let rows = s.as_array().unwrap();
        assert_eq!(rows.len(), 1, "nothing of XYZ stored: {s}");
        assert_eq!(rows[0]["symbol"], "BTCUSDT");
        assert_eq!(rows[0]["rows"], 30_240);
        assert_eq!(rows[0]["last"], "2023-03-21T23:59:00Z");

        // The simulated venue works offline: add, backfill, status.
        ok(&tessera(
            d,
            url,
            &["data", "add", "ETHUSDT", "--venue", "sim"],
        ));
        let b = json(
            &tessera_cmd(d, url, &["data", "backfill", "ETHUSDT", "--json"])
                .env("TESSERA_VENUES_SIM_HISTORY_DAYS", "1")
                .output()
                .unwrap(),
        );
        assert!(b[0]["inserted"].as_u64().unwrap() >= 1_440, "{b}");
        for args in [
            vec!["data", "--help"],
            vec!["data", "import", "--help"],
            vec!["data", "stream", "--help"],
        ] {
            ok(&tessera(d, url, &args));
        }
    }
}

/// A small deterministic generator for kill delays (no RNG crate needed here).
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_kill_9_at_random_moments_loses_and_doubles_nothing() {
    let Some(path) = testing::shared_file(testing::BTCUSDT_1M) else {
        return;
    };
    let rows = KlineRow::load_ohlcv(&path, 3_000);
    for db in TestDb::all().await {
        let started = Instant::now();
        let fake = FakeBinance::start(FakeBinanceConfig {
            symbols: vec![("BTCUSDT".to_string(), rows.clone())],
            start_minutes: 2_500,
            // Twenty-five minutes of market a second: candles close while we kill.
            speed: 1_500.0,
            fail_every: 7,
            ws_drop_after: 40,
            ..FakeBinanceConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let url = db.url().to_string();
        let cmd = |args: &[&str]| {
            let mut c = tessera_cmd(d, &url, args);
            c.env("TESSERA_VENUES_BINANCE_REST_URL", fake.rest_url())
                .env("TESSERA_VENUES_BINANCE_WS_URL", fake.ws_url())
                .env("TESSERA_COLLECTOR_QUOTES", "every");
            c
        };
        ok(&cmd(&["data", "add", "BTCUSDT", "--venue", "binance"])
            .output()
            .unwrap());
        let mut rng = Lcg(0x07E5_5E7A);
        let mut kills = 0;
        let mut i = 0;
        while kills < 20 && i < 40 {
            i += 1;
            let backfill = i % 3 == 2;
            let args: &[&str] = if backfill {
                &["data", "backfill", "BTCUSDT"]
            } else {
                &["data", "stream", "BTCUSDT"]
            };
            let mut child = cmd(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let delay = if backfill {
                rng.next_ms(20, 300)
            } else {
                rng.next_ms(150, 1_500)
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
        }
        assert!(kills >= 20, "only {kills} kills landed");
        // Let the stream run to the end of the data, then stop it gracefully.
        let child = cmd(&["data", "stream", "BTCUSDT"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while fake.closed("BTCUSDT").len() < rows.len() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        // SIGTERM: graceful stop (flush quotes, record cursors).
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "graceful stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ok(&cmd(&["data", "backfill", "BTCUSDT"]).output().unwrap());

        let g = json(
            &cmd(&[
                "data",
                "gaps",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "binance",
                "--interval",
                "1m",
                "--json",
            ])
            .output()
            .unwrap(),
        );
        assert_eq!(
            g["gaps"].as_array().unwrap().len(),
            0,
            "gaps after crashes: {g}"
        );
        assert_eq!(g["rows"].as_u64().unwrap() as usize, rows.len(), "{g}");
        let csv = d.join("all.csv");
        ok(&cmd(&[
            "data",
            "export",
            "--symbol",
            "BTCUSDT",
            "--venue",
            "binance",
            "--interval",
            "1m",
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
        ])
        .output()
        .unwrap());
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines.len(), rows.len());
        for (line, r) in lines.iter().zip(&rows) {
            let t = tessera_core::UnixNanos::from_millis(r.open_time)
                .unwrap()
                .to_rfc3339();
            assert_eq!(
                *line,
                format!("{t},{}", r.ohlcv.join(",")),
                "stored candle differs from the source"
            );
        }
        let s = json(&cmd(&["data", "status", "--json"]).output().unwrap());
        assert_eq!(s[0]["state"], "paused", "{s}");
        eprintln!(
            "crash test on {}: {kills} kills, {:.1}s",
            db.backend(),
            started.elapsed().as_secs_f64()
        );
    }
}
