//! Paths to the shared data and fixtures.

use std::path::PathBuf;

/// Repository root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the shared data set, or `None` (with a loud note) when absent outside CI.
///
/// # Panics
/// When the file is missing and `CI=true`.
pub(crate) fn data(name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/data").join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "shared data file {} is missing (CI=true): these tests need ../shared/data",
            p.display()
        );
    }
    eprintln!("SKIPPED: shared data file {} is missing", p.display());
    None
}

/// A parity fixture written by `tools/backtest/*.py`.
pub(crate) fn fixture(name: &str) -> serde_json::Value {
    let p = root().join("tools/backtest/fixtures").join(name);
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// The real series most tests replay: BTCUSDT one-minute bars (30,240) and GOOG daily bars,
/// or `None` (with a loud note) when the shared data is absent outside CI.
pub(crate) fn btc_and_goog() -> Option<(tessera_engine::BarSeries, tessera_engine::BarSeries)> {
    let btc = data("crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv")?;
    let goog = data("goog_daily_2004_2013_backtestingpy.csv")?;
    Some((
        tessera_backtest::load_csv(&btc).unwrap(),
        tessera_backtest::load_csv(&goog).unwrap(),
    ))
}
