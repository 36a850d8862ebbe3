//! Helpers shared by the `tessera trade` integration tests (each file under
//! `tests/` is its own crate, so not every helper is used by every file).
#![allow(dead_code)]

pub(crate) mod alpaca;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tessera_core::UnixNanos;

/// `tessera` run in `dir` (also its data directory) on the database at
/// `db_url`, quiet (warnings only, `RUST_LOG` unset) and with no periodic
/// reconciliation, so a short test run does only what the test drives.
pub(crate) fn tessera(dir: &Path, db_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(dir)
        .env("TESSERA_DATA_DIR", dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env("TESSERA_RISK_RECONCILE_SECONDS", "0")
        .env("TESSERA_LOG_LEVEL", "warn")
        .env_remove("RUST_LOG");
    c
}

/// [`tessera`] with `[brokers.alpaca]` pointed at the test server at
/// `base_url` (its test credentials, a 3 s timeout) and a difference from
/// the broker not halting trading.
pub(crate) fn tessera_alpaca(dir: &Path, db_url: &str, base_url: &str) -> Command {
    let mut c = tessera(dir, db_url);
    c.env("TESSERA_BROKERS_ALPACA_BASE_URL", base_url)
        .env("TESSERA_BROKERS_ALPACA_KEY_ID", "test-key")
        .env("TESSERA_BROKERS_ALPACA_SECRET", "test-secret")
        .env("TESSERA_BROKERS_ALPACA_TIMEOUT_MS", "3000")
        .env("TESSERA_RISK_HALT_ON_DIFFERENCE", "false");
    c
}

/// `trade --strategy sma_cross --param fast=2 --param slow=3` on one symbol:
/// a signal every few bars, so a short run places orders.
pub(crate) fn sma_cross_trade(
    symbol: &str,
    venue: &str,
    broker: &str,
    capital: &str,
) -> Vec<String> {
    [
        "trade",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=2",
        "--param",
        "slow=3",
        "--symbol",
        symbol,
        "--venue",
        venue,
        "--broker",
        broker,
        "--capital",
        capital,
    ]
    .map(String::from)
    .to_vec()
}

/// Runs a `... list --json` command and returns its array; fails the test
/// with the command's stderr when it fails.
pub(crate) fn json_list(mut cmd: Command, args: &[&str]) -> Vec<Value> {
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

/// Runs `cmd` with `args` for `secs` seconds, stops it with SIGINT (as a user
/// would with Ctrl-C), asserts it exited cleanly and returns its stderr.
pub(crate) async fn run_then_interrupt(mut cmd: Command, args: &[String], secs: u64) -> String {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let status = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(exit.success(), "trade failed:\n{log}");
    log
}

/// The numbers of trade's closing `market data:` line.
pub(crate) fn market_line(log: &str) -> (Vec<u64>, UnixNanos, UnixNanos) {
    let line = log
        .lines()
        .find(|l| l.starts_with("market data:"))
        .unwrap_or_else(|| panic!("no market data line in:\n{log}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.parse().unwrap())
        .collect();
    let words: Vec<&str> = line.split_whitespace().collect();
    let to = UnixNanos::parse(words[words.len() - 1]).unwrap();
    let from = UnixNanos::parse(words[words.len() - 3]).unwrap();
    (nums, from, to)
}

/// The checks every `market data:` line must pass: warm-up bars enough for
/// sma_cross slow=3, at least 20 live bars (ten seconds at five market
/// minutes a second, minus start-up), REST filled in what the
/// dropped connections left out, no holes, quotes seen, and every bar once
/// and in order (as many bars as minutes from the first to the last).
/// Returns the first and last bar times.
pub(crate) fn check_market_line(log: &str) -> (UnixNanos, UnixNanos) {
    let (n, from, to) = market_line(log);
    let (warmup, live, filled, holes, quotes) = (n[0], n[1], n[2], n[4], n[5]);
    assert!(warmup >= 3, "{log}");
    assert!(live >= 20, "{log}");
    assert!(filled > 0, "{log}");
    assert_eq!(holes, 0, "{log}");
    assert!(quotes > 0, "{log}");
    let minutes = (to.0 - from.0) / 60_000_000_000 + 1;
    assert_eq!(warmup + live, minutes as u64, "{log}");
    (from, to)
}
