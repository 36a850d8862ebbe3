//! `tessera model …` through the binary: train every kind, list, show, promote, importance,
//! predict (bars and features CSV) and import ONNX, on SQLite and PostgreSQL.
//!
//! Uses the real GOOG daily bars in `../shared/data`; when they are missing the test fails
//! under `CI=true` and is skipped loudly otherwise.

use std::path::{Path, PathBuf};
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

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn goog() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/goog_daily_2004_2013_backtestingpy.csv");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "shared data missing under CI: {}",
        p.display()
    );
    eprintln!("SKIPPED: {} not found (shared data missing)", p.display());
    None
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx")
        .join(name)
}

fn story(db_url: &str, csv: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = csv.to_str().unwrap();
    let t = |args: &[&str]| tessera(d, db_url, args);

    let r = json(&t(&[
        "model",
        "train",
        "--name",
        "goog_ridge",
        "--kind",
        "ridge",
        "--features",
        "rsi:14,macd:12,26,9,ret:1",
        "--target",
        "fwd_ret:5",
        "--csv",
        csv,
        "--json",
    ]));
    for k in ["name", "version", "execution_id", "kind", "metrics"] {
        assert!(r.get(k).is_some(), "train output lacks {k}: {r}");
    }
    assert_eq!(r["name"], "goog_ridge");
    assert_eq!(r["version"], 1);
    assert_eq!(r["kind"], "ridge");
    assert_eq!(
        r["features"].as_array().unwrap().len(),
        5,
        "macd expands to 3 outputs"
    );
    assert!(
        r["metrics"]["r2"].is_number() && r["metrics"]["ic"].is_number(),
        "{r}"
    );

    let r2 = json(&t(&[
        "model",
        "train",
        "--name",
        "goog_ridge",
        "--kind",
        "ridge",
        "--features",
        "rsi:14",
        "--features",
        "ret:1",
        "--target",
        "fwd_ret:5",
        "--csv",
        csv,
        "--param",
        "alpha=10",
        "--walk-forward",
        "500,250",
        "--json",
    ]));
    assert_eq!(r2["version"], 2);
    let folds: Vec<&Value> = r2["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with("fold_"))
        .collect();
    assert!(folds.len() >= 3, "{r2}");

    let g = json(&t(&[
        "model",
        "train",
        "--name",
        "goog_gbt",
        "--kind",
        "gbt",
        "--features",
        "rsi:14,ret:1,lag(ret:1,1),atr:14",
        "--target",
        "fwd_sign:1",
        "--csv",
        csv,
        "--param",
        "n_trees=20",
        "--test-fraction",
        "0.3",
        "--json",
    ]));
    assert_eq!(g["task"], "classification");
    assert!(
        g["metrics"]["auc"].is_number() && g["metrics"]["log_loss"].is_number(),
        "{g}"
    );
    let l = json(&t(&[
        "model",
        "train",
        "--name",
        "goog_logit",
        "--kind",
        "logistic",
        "--features",
        "rsi:14,ret:1",
        "--target",
        "fwd_sign:3",
        "--csv",
        csv,
        "--json",
    ]));
    assert!(l["metrics"]["accuracy"].is_number());
    let k = json(&t(&[
        "model",
        "train",
        "--name",
        "goog_km",
        "--kind",
        "kmeans",
        "--features",
        "rsi:14,ret:1",
        "--csv",
        csv,
        "--param",
        "k=4",
        "--json",
    ]));
    assert!(
        k["metrics"]["inertia"].is_number() && k["metrics"]["silhouette"].is_number(),
        "{k}"
    );

    let list = json(&t(&["model", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 5);
    let show = json(&t(&["model", "show", "goog_ridge@2", "--json"]));
    assert_eq!(show["params"]["alpha"], "10");
    assert_eq!(show["features"], serde_json::json!(["rsi_14", "ret_1"]));
    assert!(show["evaluations"].as_array().unwrap().len() >= 5);
    assert!(
        show["importance"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["method"] == "permutation")
    );
    assert_eq!(show["stage"], "staged");

    ok(&t(&["model", "promote", "goog_ridge@1"]));
    assert_eq!(
        json(&t(&["model", "show", "goog_ridge", "--json"]))["version"],
        1,
        "production wins"
    );
    assert!(
        !t(&["model", "promote", "goog_ridge"]).status.success(),
        "promote needs a version"
    );
    let imp = ok(&t(&["model", "importance", "goog_ridge"]));
    assert!(
        imp.contains("permutation") && imp.contains("native"),
        "{imp}"
    );

    // Predict from bars: every complete row, timestamps as in the file.
    let out = d.join("pred.csv");
    ok(&t(&[
        "model",
        "predict",
        "goog_ridge",
        "--csv",
        csv,
        "--output",
        out.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "timestamp,prediction");
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("2004-") && first.split(',').count() == 2,
        "{first}"
    );
    assert!(text.lines().count() > 2000);

    let out = d.join("cls.csv");
    ok(&t(&[
        "model",
        "predict",
        "goog_gbt@1",
        "--csv",
        csv,
        "--output",
        out.to_str().unwrap(),
    ]));
    let header = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(
        header.starts_with("timestamp,prediction,prob_-1,") && header.ends_with(",prob_1"),
        "{header}"
    );

    // Predict from a features CSV.
    let feats = d.join("features.csv");
    std::fs::write(
        &feats,
        "timestamp,ret_1,rsi_14\n2020-01-01,0.01,55\n2020-01-02,-0.02,40\n",
    )
    .unwrap();
    let out = d.join("f.csv");
    ok(&t(&[
        "model",
        "predict",
        "goog_ridge@2",
        "--features-csv",
        feats.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().nth(1).unwrap().starts_with("2020-01-01,"));

    // Import an ONNX classifier and predict with it: same numbers as onnxruntime.
    let onnx = fixture("lgbm_binary.onnx");
    let imp = json(&t(&[
        "model",
        "import-onnx",
        onnx.to_str().unwrap(),
        "--name",
        "lgbm",
        "--features",
        "f0,f1,f2,f3,f4,f5",
        "--kind",
        "classification",
        "--json",
    ]));
    assert_eq!(imp["version"], 1);
    assert_eq!(imp["kind"], "onnx");
    let expected = std::fs::read_to_string(fixture("lgbm_binary.expected.csv")).unwrap();
    let mut with_ts = String::from("timestamp,");
    for (i, l) in expected.lines().enumerate() {
        with_ts.push_str(&if i == 0 {
            format!("{l}\n")
        } else {
            format!("{i},{l}\n")
        });
    }
    let feats = d.join("onnx_in.csv");
    std::fs::write(&feats, with_ts).unwrap();
    let out = d.join("onnx_out.csv");
    ok(&t(&[
        "model",
        "predict",
        "lgbm",
        "--features-csv",
        feats.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]));
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        got.lines().next().unwrap(),
        "timestamp,prediction,prob_0,prob_1"
    );
    for (g, e) in got.lines().skip(1).zip(expected.lines().skip(1)) {
        let g: Vec<f64> = g.split(',').skip(1).map(|v| v.parse().unwrap()).collect();
        let e: Vec<f64> = e.split(',').skip(6).map(|v| v.parse().unwrap()).collect();
        for (a, b) in g.iter().zip(&e) {
            assert!((a - b).abs() < 1e-5, "{g:?} vs {e:?}");
        }
    }

    // Bad input is explained.
    let bad = t(&[
        "model",
        "train",
        "--name",
        "x",
        "--kind",
        "ridge",
        "--features",
        "rsi:14",
        "--target",
        "fwd_sign:1",
        "--csv",
        csv,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("regression target"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_model_cli_on_both_backends() {
    let Some(csv) = goog() else { return };
    for db in TestDb::all().await {
        story(db.url(), &csv);
    }
}

fn btc(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/crypto_klines_1m")
        .join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "shared data missing under CI: {}",
        p.display()
    );
    eprintln!("SKIPPED: {} not found (shared data missing)", p.display());
    None
}

/// Bars imported into the database, a model trained from them with `--symbol --venue
/// --interval --from --to`, then traded by the `model` backtest strategy; the run is linked to
/// the model and shown by `model show`.
fn store_story(db_url: &str, files: &[(&str, PathBuf)]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = |args: &[&str]| tessera(d, db_url, args);
    for (symbol, path) in files {
        let r = json(&t(&[
            "data",
            "import",
            path.to_str().unwrap(),
            "--format",
            "ohlcv-csv",
            "--symbol",
            symbol,
            "--venue",
            "binanceus",
            "--interval",
            "1m",
            "--json",
        ]));
        assert_eq!(r["inserted"], 30_240, "{r}");
    }

    let train = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "model",
            "train",
            "--name",
            name,
            "--symbol",
            "BTCUSDT,BTCUSD",
            "--venue",
            "binanceus",
            "--interval",
            "1m",
            "--from",
            "2023-03-02",
            "--to",
            "2023-03-12",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&t(&args))
    };
    let r = train(
        "btc_ridge",
        &[
            "--kind",
            "ridge",
            "--features",
            "rsi:14,ret:1,lag(ret:1,1),ratio(sma:5,sma:30)",
            "--target",
            "fwd_ret:5",
        ],
    );
    assert_eq!(
        (r["name"].as_str(), r["version"].as_i64()),
        (Some("btc_ridge"), Some(1))
    );
    // Ten days of minutes for two symbols on their common grid (rows are stamped at bar close,
    // bars loaded by open time before --to), less the last 4 rows: their 5-bar target would
    // need bars opening at or after --to.
    let rows = r["rows"].as_u64().unwrap();
    assert_eq!(rows, 2 * (10 * 1440 - 4), "{r}");
    assert!(r["metrics"]["ic"].is_number(), "{r}");
    let show = json(&t(&["model", "show", "btc_ridge", "--json"]));
    assert_eq!(show["symbols"], "BTCUSDT,BTCUSD");
    assert_eq!(show["venue"], "binanceus");
    assert_eq!(show["interval"], "1m");
    assert_eq!(show["data_query"]["source"], "store");
    // Rows start at --from although indicators warmed up on earlier bars.
    assert!(
        show["data_from"]
            .as_str()
            .unwrap()
            .starts_with("2023-03-02T00:0"),
        "{show}"
    );
    assert!(show["data_to"].as_str().unwrap() < "2023-03-12", "{show}");
    assert!(
        show["importance"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["symbol"] == "BTCUSD"),
        "importance per ticker"
    );
    let cls = train(
        "btc_gbt",
        &[
            "--kind",
            "gbt",
            "--features",
            "rsi:14,ret:1,atr:14",
            "--target",
            "fwd_sign:3",
            "--param",
            "n_trees=10",
            "--param",
            "max_depth=3",
        ],
    );
    assert_eq!(cls["task"], "classification");

    // Unknown symbols are explained.
    let bad = t(&[
        "model",
        "train",
        "--name",
        "x",
        "--kind",
        "ridge",
        "--features",
        "rsi:14",
        "--target",
        "fwd_ret:1",
        "--symbol",
        "ETHUSDT",
        "--venue",
        "binanceus",
        "--interval",
        "1m",
    ]);
    assert!(!bad.status.success());

    // Trade both models out of sample, after their training range.
    let mut runs = Vec::new();
    for (model, threshold) in [("btc_ridge", "0.00005"), ("btc_gbt@1", "0.1")] {
        let bt = json(&t(&[
            "backtest",
            "--strategy",
            "model",
            "--param",
            &format!("model={model}"),
            "--param",
            &format!("long_threshold={threshold}"),
            "--param",
            "size=0.5",
            "--symbol",
            "BTCUSDT",
            "--venue",
            "binanceus",
            "--interval",
            "1m",
            "--from",
            "2023-03-13",
            "--json",
        ]));
        assert!(bt["trades"].as_u64().unwrap() > 0, "{model}: {bt}");
        runs.push(bt["run_id"].as_str().unwrap().to_owned());
    }
    let text = ok(&t(&[
        "backtest",
        "--strategy",
        "model",
        "--param",
        "model=btc_ridge@1",
        "--symbol",
        "BTCUSDT",
        "--venue",
        "binanceus",
        "--interval",
        "1m",
        "--from",
        "2023-03-20",
    ]));
    assert!(text.contains("linked to model btc_ridge@1"), "{text}");
    runs.insert(1, text.split_whitespace().nth(1).unwrap().to_owned());
    let show = json(&t(&["model", "show", "btc_ridge@1", "--json"]));
    assert_eq!(show["backtests"].as_array().unwrap().len(), 2, "{show}");
    assert!(
        show["backtests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == runs[0].as_str())
    );
    assert!(
        show["backtests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == runs[1].as_str())
    );
    let show = json(&t(&["model", "show", "btc_gbt", "--json"]));
    assert_eq!(show["backtests"], serde_json::json!([runs[2]]));
    let text = ok(&t(&["model", "show", "btc_gbt"]));
    assert!(text.contains(&runs[2]), "{text}");
    // The stored run names the exact version that traded.
    let list = json(&t(&["backtest", "list", "--json"]));
    let run = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == runs[0].as_str())
        .unwrap();
    assert_eq!(run["strategy"], "model");
    assert_eq!(run["params"]["model"], "btc_ridge@1");

    // Refusals are explained: clustering has no direction; sweeps cannot load models.
    json(&t(&[
        "model",
        "train",
        "--name",
        "btc_km",
        "--kind",
        "kmeans",
        "--features",
        "rsi:14,ret:1",
        "--symbol",
        "BTCUSDT",
        "--venue",
        "binanceus",
        "--interval",
        "1m",
        "--from",
        "2023-03-10",
        "--to",
        "2023-03-11",
        "--json",
    ]));
    let data = [
        "--symbol",
        "BTCUSDT",
        "--venue",
        "binanceus",
        "--interval",
        "1m",
        "--from",
        "2023-03-20",
    ];
    let km = t(&[
        &["backtest", "--strategy", "model", "--param", "model=btc_km"][..],
        &data[..],
    ]
    .concat());
    assert!(!km.status.success());
    assert!(String::from_utf8_lossy(&km.stderr).contains("clustering"));
    let missing = t(&[&["backtest", "--strategy", "model"][..], &data[..]].concat());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--param model=NAME"));
    let sw = t(&[
        &[
            "sweep",
            "--strategy",
            "model",
            "--param",
            "model=btc_ridge",
            "--grid",
            "long_threshold=0:0.001:0.0005",
        ][..],
        &data[..],
    ]
    .concat());
    assert!(!sw.status.success());
    assert!(
        String::from_utf8_lossy(&sw.stderr).contains("does not support the model strategy"),
        "{}",
        String::from_utf8_lossy(&sw.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_model_train_from_store_and_model_backtest_on_both_backends() {
    let (Some(usdt), Some(usd)) = (
        btc("binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv"),
        btc("binanceus_BTCUSD_1m_2023-03-01_2023-03-21.csv"),
    ) else {
        return;
    };
    for db in TestDb::all().await {
        store_story(
            db.url(),
            &[("BTCUSDT", usdt.clone()), ("BTCUSD", usd.clone())],
        );
    }
}
