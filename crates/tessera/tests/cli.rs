//! The `tessera` binary through its command-line contract, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tessera_storage::testing::TestDb;

fn tessera(dir: &Path, db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env_remove("RUST_LOG")
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

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "unexpected success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

async fn instruments_story(db_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status: Value =
        serde_json::from_str(&ok(&tessera(d, db_url, &["db", "status", "--json"]))).unwrap();
    assert!(
        status["pending"].as_array().unwrap().is_empty(),
        "TestDb already migrated: {status}"
    );

    ok(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "BTCUSDT",
            "--venue",
            "binance",
            "--kind",
            "crypto",
        ],
    ));
    ok(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "ES",
            "--venue",
            "cme",
            "--kind",
            "future",
            "--tick-size",
            "0.25",
            "--multiplier",
            "50",
        ],
    ));
    ok(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "AAPL",
            "--venue",
            "nasdaq",
            "--kind",
            "equity",
            "--currency",
            "USD",
        ],
    ));
    let e = err(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "AAPL",
            "--venue",
            "nasdaq",
            "--kind",
            "equity",
        ],
    ));
    assert!(e.contains("already exists"), "{e}");
    let e = err(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "X",
            "--venue",
            "v",
            "--kind",
            "equity",
            "--tick-size",
            "abc",
        ],
    ));
    assert!(e.contains("--tick-size") && e.contains("abc"), "{e}");
    let e = err(&tessera(
        d,
        db_url,
        &[
            "instruments",
            "add",
            "X",
            "--venue",
            "v",
            "--kind",
            "equity",
            "--multiplier",
            "5",
        ],
    ));
    assert!(e.contains("futures only"), "{e}");

    let list: Value =
        serde_json::from_str(&ok(&tessera(d, db_url, &["instruments", "list", "--json"]))).unwrap();
    let arr = list.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    for key in [
        "symbol",
        "venue",
        "kind",
        "tick_size",
        "lot_size",
        "multiplier",
        "currency",
    ] {
        assert!(
            arr.iter().all(|o| o.get(key).is_some()),
            "key {key} missing: {list}"
        );
    }
    let es = arr.iter().find(|o| o["symbol"] == "ES").unwrap();
    assert_eq!(
        (
            es["kind"].as_str(),
            es["tick_size"].as_str(),
            es["multiplier"].as_str()
        ),
        (Some("future"), Some("0.25"), Some("50"))
    );
    let btc = arr.iter().find(|o| o["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["currency"], "USDT");

    let show: Value = serde_json::from_str(&ok(&tessera(
        d,
        db_url,
        &["instruments", "show", "btcusdt", "--json"],
    )))
    .unwrap();
    assert_eq!(show["venue"], "binance");
    let text = ok(&tessera(d, db_url, &["instruments", "list"]));
    assert!(text.contains("SYMBOL") && text.contains("ES"), "{text}");
    let e = err(&tessera(d, db_url, &["instruments", "show", "NOPE"]));
    assert!(e.contains("not found"), "{e}");

    ok(&tessera(
        d,
        db_url,
        &["instruments", "remove", "ES", "--venue", "cme"],
    ));
    let list: Value =
        serde_json::from_str(&ok(&tessera(d, db_url, &["instruments", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_instruments_commands_on_every_backend() {
    for db in TestDb::all().await {
        eprintln!("cli story on {}", db.backend());
        instruments_story(db.url()).await;
    }
}

#[test]
fn test_remove_refuses_while_data_exists() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for db in rt.block_on(TestDb::all()) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(&tessera(
            d,
            db.url(),
            &[
                "instruments",
                "add",
                "BTCUSDT",
                "--venue",
                "sim",
                "--kind",
                "crypto",
            ],
        ));
        rt.block_on(async {
            let id = tessera_model::InstrumentId::parse("BTCUSDT", "sim").unwrap();
            let bar = tessera_model::Bar {
                instrument: id,
                interval: tessera_model::Interval::M1,
                open_time: tessera_model::UnixNanos(0),
                open: "1".parse().unwrap(),
                high: "1".parse().unwrap(),
                low: "1".parse().unwrap(),
                close: "1".parse().unwrap(),
                volume: "1".parse().unwrap(),
                trade_count: None,
                quote_volume: None,
            };
            db.store()
                .insert_bars(&[bar], Default::default())
                .await
                .unwrap();
        });
        let e = err(&tessera(d, db.url(), &["instruments", "remove", "BTCUSDT"]));
        assert!(e.contains("--force") && e.contains("1 bars"), "{e}");
        let out = ok(&tessera(
            d,
            db.url(),
            &["instruments", "remove", "BTCUSDT", "--force", "--json"],
        ));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["bars"], 1);
    }
}

#[test]
fn test_fresh_folder_defaults_to_sqlite_in_tessera_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["db", "status", "--json"])
        .current_dir(dir.path())
        .env_remove("TESSERA_DATABASE_URL")
        .env_remove("TESSERA_DATA_DIR")
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["backend"], "sqlite");
    assert!(
        v["applied"].as_array().unwrap().is_empty() && !v["pending"].as_array().unwrap().is_empty(),
        "status does not migrate: {v}"
    );
    assert!(dir.path().join("tessera-data/tessera.db").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["db", "migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(ok(&out).contains("migration(s) applied"));
    // Any command migrates on first use.
    let dir2 = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["instruments", "list", "--json"])
        .current_dir(dir2.path())
        .output()
        .unwrap();
    assert_eq!(ok(&out).trim(), "[]");
}

#[test]
fn test_bad_config_names_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "[venues.sim]\nseed = \"many\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["db", "status"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let e = err(&out);
    assert!(
        e.contains("tessera.toml") && e.contains("seed") && e.contains("many"),
        "{e}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["db", "status"])
        .current_dir(dir.path())
        .env("TESSERA_CONFIG", "/nonexistent/t.toml")
        .output()
        .unwrap();
    assert!(err(&out).contains("/nonexistent/t.toml"));
}

#[test]
fn test_help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["db", "--help"],
        vec!["db", "migrate", "--help"],
        vec!["db", "status", "--help"],
        vec!["instruments", "--help"],
        vec!["instruments", "add", "--help"],
        vec!["instruments", "list", "--help"],
        vec!["instruments", "show", "--help"],
        vec!["instruments", "remove", "--help"],
        vec!["restore", "--help"],
        vec!["orders", "handle", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .output()
            .unwrap();
        let s = ok(&out);
        assert!(s.contains("Usage"), "{args:?}: {s}");
    }
}
