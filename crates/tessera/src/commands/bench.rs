//! `tessera bench storage`: bulk insert and range read of a million bars on
//! SQLite and PostgreSQL, against each database's own bulk loader.
//!
//! The rows are real one-minute BTCUSDT candles (from `../shared/data`, or a
//! CSV given with `--csv`) repeated with shifted times until the requested
//! count is reached. The loaders (`sqlite3 .import`, `psql \copy`) load the
//! very same rows into the very same schema, freshly migrated, so the ratio
//! compares like with like: ours also checks every key for duplicates and
//! conflicts, theirs does not.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Bar, Instrument, InstrumentId, InstrumentKind, Interval};
use tessera_storage::{InsertOptions, Store};

use super::Ctx;
use crate::cli::BenchStorageArgs;
use crate::output::{print_json, print_table};

const DEFAULT_CSV: &str =
    "../shared/data/crypto_klines_1m/binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv";

#[derive(Debug, Serialize)]
struct BackendResult {
    backend: String,
    rows: usize,
    insert_s: f64,
    insert_rows_per_s: f64,
    read_s: f64,
    read_rows_per_s: f64,
    loader: String,
    loader_s: Option<f64>,
    loader_rows_per_s: Option<f64>,
    insert_vs_loader: Option<f64>,
}

fn load_seed(path: &Path, id: InstrumentId) -> Result<Vec<Bar>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 6 {
            bail!("{}:{}: expected 6 columns", path.display(), n + 1);
        }
        out.push(Bar {
            instrument: id,
            interval: Interval::M1,
            open_time: UnixNanos::parse(f[0])?,
            open: f[1].parse()?,
            high: f[2].parse()?,
            low: f[3].parse()?,
            close: f[4].parse()?,
            volume: f[5].parse()?,
            trade_count: None,
            quote_volume: None,
        });
    }
    if out.is_empty() {
        bail!("{} holds no bars", path.display());
    }
    Ok(out)
}

/// Repeat the seed, each repetition shifted to start one minute after the previous one ended.
fn make_rows(seed: &[Bar], n: usize) -> Vec<Bar> {
    let span = seed[seed.len() - 1].open_time.0 - seed[0].open_time.0 + 60_000_000_000;
    (0..n)
        .map(|i| {
            let rep = i64::try_from(i / seed.len()).unwrap_or(0);
            let b = seed[i % seed.len()];
            Bar {
                open_time: UnixNanos(b.open_time.0 + rep * span),
                ..b
            }
        })
        .collect()
}

fn write_loader_csv(path: &Path, key: i64, bars: &[Bar]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for b in bars {
        writeln!(
            w,
            "{key},1m,{},{},{},{},{},{},,",
            b.open_time.0, b.open, b.high, b.low, b.close, b.volume
        )?;
    }
    w.flush()?;
    Ok(())
}

fn progress(len: u64, msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} rows ({per_sec})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

async fn run_backend(store: &Store, rows: &[Bar], quiet: bool) -> Result<(f64, f64)> {
    let inst = Instrument::with_defaults(rows[0].instrument, InstrumentKind::Crypto)?;
    store.add_instrument(&inst).await?;
    let pb = progress(
        rows.len() as u64,
        &format!("insert ({})", store.backend()),
        quiet,
    );
    let t = Instant::now();
    for chunk in rows.chunks(100_000) {
        let r = store.insert_bars(chunk, InsertOptions::default()).await?;
        if r.inserted != chunk.len() as u64 {
            bail!(
                "benchmark insert stored {} of {} rows",
                r.inserted,
                chunk.len()
            );
        }
        pb.inc(chunk.len() as u64);
    }
    let insert_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let t = Instant::now();
    let back = store
        .bars_range(&inst.id, Interval::M1, TimeRange::ALL)
        .await?;
    let read_s = t.elapsed().as_secs_f64();
    if back.len() != rows.len() {
        bail!("read back {} of {} rows", back.len(), rows.len());
    }
    Ok((insert_s, read_s))
}

fn time_command(cmd: &mut Command) -> Result<Option<f64>> {
    let t = Instant::now();
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(Some(t.elapsed().as_secs_f64())),
        Ok(out) => bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            tracing::warn!(program = ?cmd.get_program(), error = %e, "bulk loader not available; ratio skipped");
            Ok(None)
        }
    }
}

fn result(
    backend: &str,
    rows: usize,
    (insert_s, read_s): (f64, f64),
    loader: &str,
    loader_s: Option<f64>,
) -> BackendResult {
    let n = rows as f64;
    BackendResult {
        backend: backend.to_string(),
        rows,
        insert_s,
        insert_rows_per_s: n / insert_s,
        read_s,
        read_rows_per_s: n / read_s,
        loader: loader.to_string(),
        loader_s,
        loader_rows_per_s: loader_s.map(|s| n / s),
        insert_vs_loader: loader_s.map(|s| s / insert_s),
    }
}

async fn drop_pg_database(admin_url: &str, name: &str) {
    if let Err(e) = tessera_storage::drop_postgres_database(admin_url, name).await {
        tracing::warn!(database = name, error = %e, "could not drop benchmark database");
    }
}

pub(crate) async fn storage(ctx: &Ctx, args: BenchStorageArgs) -> Result<()> {
    let csv = args
        .csv
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CSV));
    let id = InstrumentId::parse("BTCUSDT", "bench")?;
    let seed = load_seed(&csv, id)?;
    let rows = make_rows(&seed, args.rows);
    let quiet = ctx.global.json;
    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();

    if !args.skip_sqlite {
        let ours = dir.path().join("ours.db");
        let store = Store::open(&format!("sqlite://{}", ours.display())).await?;
        let timings = run_backend(&store, &rows, quiet).await?;
        store.close().await;
        // The loader gets a fresh database with the same schema and instrument row.
        let theirs = dir.path().join("theirs.db");
        let s2 = Store::open(&format!("sqlite://{}", theirs.display())).await?;
        s2.add_instrument(&Instrument::with_defaults(id, InstrumentKind::Crypto)?)
            .await?;
        s2.close().await;
        let file = dir.path().join("bars.csv");
        write_loader_csv(&file, 1, &rows)?;
        let loader_s = time_command(
            Command::new("sqlite3")
                .arg(&theirs)
                .arg("PRAGMA journal_mode=WAL;")
                .arg("PRAGMA synchronous=NORMAL;")
                .arg(format!(".import --csv {} bars", file.display())),
        )?;
        results.push(result(
            "sqlite",
            rows.len(),
            timings,
            "sqlite3 .import",
            loader_s,
        ));
    }

    if !args.skip_postgres {
        let admin = args.postgres_url.clone();
        let ours_name = format!("tessera_bench_{}_ours", std::process::id());
        let theirs_name = format!("tessera_bench_{}_theirs", std::process::id());
        let outcome = async {
            let store = Store::open(&tessera_storage::postgres_url_with_database(
                &admin, &ours_name,
            ))
            .await?;
            let timings = run_backend(&store, &rows, quiet).await?;
            store.close().await;
            let theirs_url = tessera_storage::postgres_url_with_database(&admin, &theirs_name);
            let s2 = Store::open(&theirs_url).await?;
            s2.add_instrument(&Instrument::with_defaults(id, InstrumentKind::Crypto)?)
                .await?;
            let key: i64 = 1;
            s2.close().await;
            let file = dir.path().join("bars_pg.csv");
            write_loader_csv(&file, key, &rows)?;
            let loader_s = time_command(
                Command::new("psql")
                    .arg(&theirs_url)
                    .arg("-q")
                    .arg("-c")
                    .arg(format!(
                        "\\copy bars FROM '{}' WITH (FORMAT csv)",
                        file.display()
                    )),
            )?;
            anyhow::Ok(result(
                "postgres",
                rows.len(),
                timings,
                "psql \\copy",
                loader_s,
            ))
        }
        .await;
        drop_pg_database(&admin, &ours_name).await;
        drop_pg_database(&admin, &theirs_name).await;
        results.push(outcome.with_context(|| {
            format!(
                "PostgreSQL benchmark against {}",
                tessera_storage::redact_url(&admin)
            )
        })?);
    }

    if ctx.global.json {
        print_json(&results)?;
    } else {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.0}"));
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.backend.clone(),
                    r.rows.to_string(),
                    format!("{:.0}", r.insert_rows_per_s),
                    format!("{:.0}", r.read_rows_per_s),
                    r.loader.clone(),
                    f(r.loader_rows_per_s),
                    r.insert_vs_loader
                        .map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
                ]
            })
            .collect();
        print_table(
            &[
                "BACKEND",
                "ROWS",
                "INSERT ROWS/S",
                "READ ROWS/S",
                "LOADER",
                "LOADER ROWS/S",
                "INSERT VS LOADER",
            ],
            &rows,
        );
    }
    Ok(())
}
