//! `tessera backtest | sweep | walkforward` through the command-line contract, on real
//! data from `../shared/data` (missing data fails under `CI=true`, skips loudly otherwise),
//! storing runs on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tessera_storage::testing::TestDb;

const KEYS: [&str; 30] = [
    "start",
    "end",
    "duration_s",
    "exposure_time_pct",
    "equity_final",
    "equity_peak",
    "return_pct",
    "buy_hold_return_pct",
    "return_ann_pct",
    "cagr_pct",
    "volatility_ann_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "avg_drawdown_pct",
    "max_drawdown_duration_s",
    "avg_drawdown_duration_s",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "max_trade_duration_s",
    "avg_trade_duration_s",
    "profit_factor",
    "expectancy_pct",
    "sqn",
    "commissions",
    "run_id",
];

fn data(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "shared data {} is missing (CI=true)",
        p.display()
    );
    eprintln!("SKIPPED: shared data {} is missing", p.display());
    None
}

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

fn check_keys(v: &Value) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let mut got: Vec<&str> = o.keys().map(String::as_str).collect();
    let mut want = KEYS.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
}

async fn story(db_url: &str, goog: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = goog.to_str().unwrap();
    let trades = d.join("trades.csv");
    let plot = d.join("eq.svg");
    let out = ok(&tessera(
        d,
        db_url,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=10",
            "--param",
            "slow=20",
            "--csv",
            csv,
            "--cash",
            "10000",
            "--commission",
            "0.002",
            "--json",
            "--trades",
            trades.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ],
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    check_keys(&v);
    // backtesting.py's numbers for the classic SmaCross (see docs/backtest.md).
    assert_eq!(v["trades"], 93);
    assert!(
        (v["equity_final"].as_f64().unwrap() - 56_263.519_34).abs() < 1e-6,
        "{v}"
    );
    assert!((v["sharpe_ratio"].as_f64().unwrap() - 0.600_739_972_986_189_9).abs() < 1e-9);
    let run_id = v["run_id"].as_str().unwrap().to_string();

    let t = std::fs::read_to_string(&trades).unwrap();
    let mut lines = t.lines();
    assert_eq!(
        lines.next(),
        Some(
            "entry_time,exit_time,side,size,entry_price,exit_price,pnl,return_pct,commission,entry_bar,exit_bar"
        )
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&first[2..6], ["short", "59", "169.02", "179.13"]);
    assert_eq!(&first[9..], ["63", "75"]);
    assert_eq!(t.lines().count(), 94);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));

    let shown: Value = serde_json::from_str(
        ok(&tessera(
            d,
            db_url,
            &["backtest", "show", &run_id, "--json"],
        ))
        .trim(),
    )
    .unwrap();
    check_keys(&shown);
    assert_eq!(shown, v);
    let list: Value =
        serde_json::from_str(&ok(&tessera(d, db_url, &["backtest", "list", "--json"]))).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["run_id"] == run_id.as_str())
    );
    assert!(ok(&tessera(d, db_url, &["backtest", "list"])).contains(&run_id));
    let missing = tessera(d, db_url, &["backtest", "show", "nope"]);
    assert!(!missing.status.success());

    // --no-store: run_id is null.
    let out = ok(&tessera(
        d,
        db_url,
        &[
            "backtest",
            "--strategy",
            "buy_hold",
            "--csv",
            csv,
            "--no-store",
            "--json",
        ],
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    check_keys(&v);
    assert!(v["run_id"].is_null());
    assert_eq!(v["trades"], 0);
    assert!(v["win_rate_pct"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_backtest_cli_story_on_every_backend() {
    let Some(goog) = data("goog_daily_2004_2013_backtestingpy.csv") else {
        return;
    };
    for db in TestDb::all().await {
        story(db.url(), &goog).await;
    }
}

#[test]
fn test_sweep_and_walkforward_cli() {
    let Some(goog) = data("goog_daily_2004_2013_backtestingpy.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite://{}", d.join("t.db").display());
    let csv = goog.to_str().unwrap();
    let out = ok(&tessera(
        d,
        &db,
        &[
            "sweep",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5:20:5",
            "--grid",
            "slow=10:40:10",
            "--constraint",
            "fast<slow",
            "--metric",
            "sharpe_ratio",
            "--top",
            "3",
            "--csv",
            csv,
            "--commission",
            "0.002",
            "--json",
        ],
    ));
    let rows: Value = serde_json::from_str(out.trim()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0]["sharpe_ratio"].as_f64() >= rows[1]["sharpe_ratio"].as_f64());
    assert!(
        rows[0]["params"]["fast"].as_i64().unwrap() < rows[0]["params"]["slow"].as_i64().unwrap()
    );

    let out = ok(&tessera(
        d,
        &db,
        &[
            "walkforward",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5:15:5",
            "--grid",
            "slow=20:40:10",
            "--constraint",
            "fast<slow",
            "--csv",
            csv,
            "--train",
            "500",
            "--test",
            "250",
            "--json",
        ],
    ));
    let wf: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(wf["windows"].as_array().unwrap().len(), 7);
    let mut oos = wf["oos"].clone();
    oos.as_object_mut().unwrap().remove("run_id");
    assert_eq!(oos.as_object().unwrap().len(), 29);
    let anchored: Value = serde_json::from_str(
        ok(&tessera(
            d,
            &db,
            &[
                "walkforward",
                "--strategy",
                "sma_cross",
                "--grid",
                "fast=5:15:5",
                "--grid",
                "slow=20:40:10",
                "--csv",
                csv,
                "--train",
                "500",
                "--test",
                "250",
                "--anchored",
                "--json",
            ],
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(anchored["windows"][1]["train_from"], 0);
    // Human output works too.
    assert!(
        ok(&tessera(
            d,
            &db,
            &[
                "sweep",
                "--strategy",
                "sma_cross",
                "--grid",
                "fast=5,10",
                "--grid",
                "slow=20",
                "--csv",
                csv
            ]
        ))
        .contains("fast=10,slow=20")
    );
}
