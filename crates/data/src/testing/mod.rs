//! Test support (feature `testing`): a local fake Binance and the shared data files.
//!
//! Used by this crate's integration tests and by the binary's CLI and crash
//! tests, which run the real `tessera` against it.

mod fake_binance;

pub use fake_binance::{FakeBinance, FakeBinanceConfig, FakeStats, KlineRow};

/// Folder of the real market data shared by all projects (`../shared/data` from the repository root).
#[must_use]
pub fn shared_data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A file under the shared data folder, or `None` (after a loud message) when
/// it is missing outside CI.
///
/// # Panics
/// Under `CI=true` when the file is missing.
#[must_use]
pub fn shared_file(rel: &str) -> Option<std::path::PathBuf> {
    let p = shared_data_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "shared data file {} is required under CI=true but missing",
            p.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED: shared data file {} is missing ***\n",
        p.display()
    );
    None
}

/// The Binance.US BTCUSDT one-minute candles (30,240 rows).
pub const BTCUSDT_1M: &str = "crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv";
/// The Binance.US BTCUSD one-minute candles (30,240 rows).
pub const BTCUSD_1M: &str = "crypto_klines_1m/binanceus_BTCUSD_1m_2023-03-01_2023-03-21.csv";
/// The binance.com ADABTC klines in the native 12-column layout (10 rows).
pub const ADABTC_KLINES: &str = "crypto_klines_1m/binance_ADABTC-1m-2021-11-27.csv";
