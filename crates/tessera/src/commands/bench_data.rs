//! `tessera bench data`: `tessera data import` of a 1,000,000-row Binance
//! kline CSV into SQLite and PostgreSQL, against each database's own loader.
//!
//! The file is built from real one-minute BTCUSDT candles (`../shared/data`,
//! or `--csv`) repeated with times shifted by the length of the seed, written
//! in the native 12-column kline layout into a temporary folder. Our import
//! parses, validates (OHLC, grid, order, tick) and stores idempotently;
//! `sqlite3 .import` and `psql \copy` load the same rows, already converted to
//! the table's layout, into a freshly migrated database with no checks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tessera_core::UnixNanos;
use tessera_data::import::{CsvOptions, ImportFormat, ImportRequest, import_files};
use tessera_model::{Instrument, InstrumentId, InstrumentKind, Interval};
use tessera_storage::Store;

use super::Ctx;
use crate::cli::BenchDataArgs;
use crate::output::{print_json, print_table};

const DEFAULT_CSV: &str =
    "../shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv";
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Serialize)]
struct ImportResult {
    backend: String,
    rows: usize,
    import_s: f64,
    import_rows_per_s: f64,
    loader: String,
    loader_s: f64,
    loader_rows_per_s: f64,
    import_vs_loader: f64,
}

/// Seed candles: (open time ms, [open, high, low, close, volume]).
fn load_seed(path: &Path) -> Result<Vec<(i64, [String; 5])>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read seed candles {}", path.display()))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(n, l)| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 6 {
                bail!("{}:{}: expected 6 columns", path.display(), n + 2);
            }
            Ok((
                UnixNanos::parse(f[0])?.as_millis(),
                [f[1], f[2], f[3], f[4], f[5]].map(str::to_string),
            ))
        })
        .collect()
}

/// Write `rows` klines (native layout) and the same rows in the `bars` table layout.
fn write_files(
    seed: &[(i64, [String; 5])],
    rows: usize,
    klines: &Path,
    table: &Path,
) -> Result<()> {
    let span = seed.len() as i64 * MINUTE_MS;
    let mut k = String::with_capacity(rows * 110);
    let mut t = String::with_capacity(rows * 90);
    for i in 0..rows {
        let (open, v) = &seed[i % seed.len()];
        let open = open + (i / seed.len()) as i64 * span;
        let [o, h, l, c, vol] = v;
        let _ = writeln!(
            k,
            "{open},{o},{h},{l},{c},{vol},{},0,0,0,0,0",
            open + MINUTE_MS - 1
        );
        let _ = writeln!(t, "1,1m,{},{o},{h},{l},{c},{vol},0,0", open * 1_000_000);
    }
    std::fs::write(klines, k).with_context(|| format!("cannot write {}", klines.display()))?;
    std::fs::write(table, t).with_context(|| format!("cannot write {}", table.display()))?;
    Ok(())
}

fn time_command(cmd: &mut Command) -> Result<f64> {
    let started = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn drop_pg_database(admin_url: &str, name: &str) {
    if let Err(e) = tessera_storage::drop_postgres_database(admin_url, name).await {
        tracing::warn!(database = name, error = %e, "could not drop benchmark database");
    }
}

/// Import `file` into a fresh store at `url`; seconds taken.
async fn time_import(url: &str, file: &Path, rows: usize) -> Result<f64> {
    let store = Store::open(url).await?;
    let req = ImportRequest {
        instrument: InstrumentId::parse("BTCUSDT", "bench")?,
        interval: Interval::M1,
        format: ImportFormat::BinanceKlines,
        kind: Some(InstrumentKind::Crypto),
        tick_size: None,
        lot_size: None,
        strict: true,
        overwrite: false,
        csv: CsvOptions::default(),
    };
    let started = Instant::now();
    let report = import_files(&store, &[file.to_path_buf()], &req).await?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    if report.inserted as usize != rows {
        bail!("imported {} of {rows} rows", report.inserted);
    }
    Ok(secs)
}

/// A fresh, migrated database with the bench instrument (id 1) for the loader.
async fn prepare_loader_db(url: &str) -> Result<()> {
    let store = Store::open(url).await?;
    let id = InstrumentId::parse("BTCUSDT", "bench")?;
    store
        .add_instrument(&Instrument::with_defaults(id, InstrumentKind::Crypto)?)
        .await?;
    store.close().await;
    Ok(())
}

fn result(backend: &str, rows: usize, import_s: f64, loader: &str, loader_s: f64) -> ImportResult {
    let n = rows as f64;
    ImportResult {
        backend: backend.into(),
        rows,
        import_s,
        import_rows_per_s: n / import_s,
        loader: loader.into(),
        loader_s,
        loader_rows_per_s: n / loader_s,
        import_vs_loader: loader_s / import_s,
    }
}

pub(crate) async fn data(ctx: &Ctx, args: BenchDataArgs) -> Result<()> {
    let seed = load_seed(
        &args
            .csv
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CSV)),
    )?;
    let dir = tempfile::tempdir()?;
    let klines = dir.path().join("BTCUSDT-1m-klines.csv");
    let table = dir.path().join("bars-table.csv");
    write_files(&seed, args.rows, &klines, &table)?;
    let mut results = Vec::new();
    if !args.skip_sqlite {
        let ours = dir.path().join("ours.db");
        let import_s =
            time_import(&format!("sqlite://{}", ours.display()), &klines, args.rows).await?;
        let theirs = dir.path().join("theirs.db");
        prepare_loader_db(&format!("sqlite://{}", theirs.display())).await?;
        let loader_s = time_command(
            Command::new("sqlite3")
                .arg(&theirs)
                .arg("PRAGMA journal_mode=WAL;")
                .arg("PRAGMA synchronous=NORMAL;")
                .arg(format!(".import --csv {} bars", table.display())),
        )?;
        results.push(result(
            "sqlite",
            args.rows,
            import_s,
            "sqlite3 .import",
            loader_s,
        ));
    }
    if !args.skip_postgres {
        let admin = args.postgres_url.clone();
        let ours = format!("tessera_bench_data_{}_ours", std::process::id());
        let theirs = format!("tessera_bench_data_{}_theirs", std::process::id());
        let outcome = async {
            let import_s = time_import(
                &tessera_storage::postgres_url_with_database(&admin, &ours),
                &klines,
                args.rows,
            )
            .await?;
            let theirs_url = tessera_storage::postgres_url_with_database(&admin, &theirs);
            prepare_loader_db(&theirs_url).await?;
            let loader_s = time_command(
                Command::new("psql")
                    .arg(&theirs_url)
                    .arg("-q")
                    .arg("-c")
                    .arg(format!(
                        "\\copy bars FROM '{}' WITH (FORMAT csv)",
                        table.display()
                    )),
            )?;
            anyhow::Ok(result(
                "postgres",
                args.rows,
                import_s,
                "psql \\copy",
                loader_s,
            ))
        }
        .await;
        drop_pg_database(&admin, &ours).await;
        drop_pg_database(&admin, &theirs).await;
        results.push(outcome.with_context(|| {
            format!(
                "PostgreSQL benchmark against {}",
                tessera_storage::redact_url(&admin)
            )
        })?);
    }
    if ctx.global.json {
        print_json(&results)
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.backend.clone(),
                    r.rows.to_string(),
                    format!("{:.1}", r.import_s),
                    format!("{:.0}", r.import_rows_per_s),
                    r.loader.clone(),
                    format!("{:.0}", r.loader_rows_per_s),
                    format!("{:.2}", r.import_vs_loader),
                ]
            })
            .collect();
        print_table(
            &[
                "BACKEND",
                "ROWS",
                "IMPORT S",
                "IMPORT ROWS/S",
                "LOADER",
                "LOADER ROWS/S",
                "IMPORT/LOADER SPEED",
            ],
            &rows,
        );
        Ok(())
    }
}
