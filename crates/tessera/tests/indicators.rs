//! `tessera indicators list|compute` through the binary, on a CSV of real GOOG daily bars.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env(
            "TESSERA_DATABASE_URL",
            format!("sqlite://{}", dir.join("unused.db").display()),
        )
        .env_remove("RUST_LOG")
        .output()
        .expect("run tessera")
}

/// The TA-Lib fixture of tessera-indicators: real GOOG bars plus TA-Lib's outputs.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../indicators/tests/fixtures/goog_daily.csv")
}

/// Writes the first `rows` bars of the fixture as a `timestamp,open,high,low,close,volume` CSV.
fn bars_csv(dir: &Path, rows: usize) -> (PathBuf, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let table: Vec<Vec<String>> = text
        .lines()
        .take(rows + 1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let csv: Vec<String> = table.iter().map(|r| r[..6].join(",")).collect();
    let path = dir.join("goog.csv");
    std::fs::write(&path, csv.join("\n") + "\n").unwrap();
    (path, table)
}

#[test]
fn test_indicators_list_names_params_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path(), &["indicators", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("macd") && text.contains("fastperiod=12,slowperiod=26,signalperiod=9"));
    assert!(text.contains("macdsignal"));
    let out = tessera(dir.path(), &["--json", "indicators", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 40);
}

#[test]
fn test_indicators_compute_csv_matches_talib() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, table) = bars_csv(dir.path(), 300);
    let out_path = dir.path().join("out.csv");
    let out = tessera(
        dir.path(),
        &[
            "indicators",
            "compute",
            "sma:20",
            "macd:12,26,9",
            "bbands:20,2,2",
            "obv",
            "--csv",
            csv.to_str().unwrap(),
            "--output",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_path).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "timestamp",
            "sma_20",
            "macd_12_26_9_macd",
            "macd_12_26_9_macdsignal",
            "macd_12_26_9_macdhist",
            "bbands_20_2_2_upperband",
            "bbands_20_2_2_middleband",
            "bbands_20_2_2_lowerband",
            "obv"
        ]
    );
    assert_eq!(rows.len(), 301);
    assert_eq!(rows[1][0], "2004-08-19T00:00:00Z");
    assert_eq!(rows[1][1], "", "warm-up cells are empty");
    // Compare with TA-Lib's values in the fixture (same data, same column names).
    let header = &table[0];
    let pairs = [
        ("sma_20", "sma_20"),
        ("macd_12_26_9_macdsignal", "macd_macdsignal"),
        ("bbands_20_2_2_lowerband", "bbands_20_2_2_lowerband"),
        ("obv", "obv"),
    ];
    for (name, talib_name) in pairs {
        let j = rows[0].iter().position(|h| *h == name).unwrap();
        let k = header.iter().position(|h| h == talib_name).unwrap();
        for i in 1..rows.len() {
            let (ours, theirs) = (rows[i][j], table[i][k].as_str());
            assert_eq!(ours.is_empty(), theirs.is_empty(), "{name} row {i}");
            if !ours.is_empty() {
                let (a, b): (f64, f64) = (ours.parse().unwrap(), theirs.parse().unwrap());
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{name} row {i}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn test_indicators_compute_bad_spec_lists_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = bars_csv(dir.path(), 10);
    let out = tessera(
        dir.path(),
        &[
            "indicators",
            "compute",
            "smaa:20",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown indicator `smaa`") && err.contains("bbands:timeperiod=20"),
        "{err}"
    );
}
