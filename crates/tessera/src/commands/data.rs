//! `tessera data add|backfill|stream|import|export|gaps|status|watch`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use tessera_alpaca::AlpacaCollector;
use tessera_core::{Clock, SystemClock, TimeRange, UnixNanos};
use tessera_data::BackfillReport;
use tessera_data::binance::{BinanceCollector, BinanceSettings};
use tessera_data::collector::{CollectorEngine, EngineOptions, Progress, ProgressFn};
use tessera_data::eod::{HttpCsvCollector, HttpCsvSettings, WatchRequest, scan_folder};
use tessera_data::export::{ExportFormat, export_bars};
use tessera_data::import::{CsvOptions, ImportFormat, ImportRequest, TimeParser, import_files};
use tessera_data::quotes::QuoteMode;
use tessera_data::retry::RetryPolicy;
use tessera_data::sim::{SimCollector, SimSettings};
use tessera_model::{InstrumentId, Interval, Price, Quantity, Symbol, Venue};
use tessera_storage::{IngestCursor, Store};
use tokio::sync::watch;

use super::Ctx;
use crate::cli::{
    DataAddArgs, DataBackfillArgs, DataCommand, DataExportArgs, DataGapsArgs, DataImportArgs,
    DataStreamArgs, DataWatchArgs, ExportFormatArg, ImportFormatArg,
};
use crate::output::{print_json, print_table};

pub(crate) async fn run(ctx: &Ctx, cmd: DataCommand) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        DataCommand::Add(a) => add(ctx, &store, a).await,
        DataCommand::Backfill(a) => backfill(ctx, &store, a).await,
        DataCommand::Stream(a) => stream(ctx, &store, a).await,
        DataCommand::Import(a) => import(ctx, &store, a).await,
        DataCommand::Export(a) => export(ctx, &store, a).await,
        DataCommand::Gaps(a) => gaps(ctx, &store, a).await,
        DataCommand::Status => status(ctx, &store).await,
        DataCommand::Watch(a) => watch_folder(ctx, &store, a).await,
    }
}

fn interval(s: &str) -> Result<Interval> {
    Interval::parse(s).with_context(|| format!("--interval {s:?}"))
}

fn time(flag: &str, s: &str) -> Result<UnixNanos> {
    UnixNanos::parse(s).with_context(|| format!("--{flag} {s:?}"))
}

fn id(symbol: &str, venue: &str) -> Result<InstrumentId> {
    InstrumentId::parse(symbol, venue).context("--symbol/--venue")
}

fn engine_options(ctx: &Ctx) -> Result<EngineOptions> {
    Ok(EngineOptions {
        quote_mode: QuoteMode::parse(&ctx.config.collector.quotes).map_err(|e| anyhow!(e))?,
        backfill_concurrency: ctx.config.collector.backfill_concurrency.max(1) as usize,
        ..EngineOptions::default()
    })
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

pub(crate) fn binance_collector(ctx: &Ctx, venue: &str) -> Result<BinanceCollector> {
    let b = &ctx.config.venues.binance;
    Ok(BinanceCollector::new(
        BinanceSettings {
            venue: venue.to_string(),
            rest_url: b.rest_url.clone(),
            ws_url: b.ws_url.clone(),
            weight_budget: b.weight_budget,
            timeout: Duration::from_secs(b.timeout_secs.max(1)),
            retry: RetryPolicy {
                max_retries: b.max_retries,
                ..RetryPolicy::default()
            },
            ..BinanceSettings::default()
        },
        clock(),
    )?)
}

fn sim_collector(ctx: &Ctx, resume: Option<UnixNanos>) -> Result<SimCollector> {
    let s = &ctx.config.venues.sim;
    Ok(SimCollector::new(
        SimSettings {
            speed: s.speed,
            seed: s.seed,
            history_days: i64::from(s.history_days),
        },
        clock(),
        resume,
    )?)
}

/// Alpaca's Market Data API (`[brokers.alpaca] data_url, feed, key_id,
/// secret`): the same bars `trade --venue alpaca` warms up on, so they can be
/// collected ahead of a run and kept for backtests.
fn alpaca_collector(ctx: &Ctx) -> Result<AlpacaCollector> {
    Ok(AlpacaCollector::new(
        ctx.config.brokers.alpaca.to_alpaca(),
        clock(),
    )?)
}

fn eod_collector(ctx: &Ctx) -> Result<HttpCsvCollector> {
    let e = &ctx.config.venues.eod;
    let venue = Venue::new(&e.venue)?;
    Ok(HttpCsvCollector::new(
        HttpCsvSettings {
            venue: e.venue.clone(),
            url_template: e.url_template.clone(),
            kind: tessera_data::import::default_kind_for_venue(&venue),
            timeout: Duration::from_secs(ctx.config.venues.binance.timeout_secs.max(1)),
            poll: Duration::from_secs(3_600),
        },
        clock(),
    )?)
}

/// Run `$body` with `$c` bound to an `Arc` of the collector for `$venue`.
macro_rules! with_collector {
    ($ctx:expr, $venue:expr, $resume:expr, |$c:ident| $body:expr) => {{
        let venue: &str = $venue;
        if venue == "sim" {
            let $c = Arc::new(sim_collector($ctx, $resume)?);
            $body
        } else if venue == "binance" || venue == "binanceus" {
            let $c = Arc::new(binance_collector($ctx, venue)?);
            $body
        } else if venue == tessera_alpaca::market::VENUE {
            let $c = Arc::new(alpaca_collector($ctx)?);
            $body
        } else if venue == $ctx.config.venues.eod.venue {
            let $c = Arc::new(eod_collector($ctx)?);
            $body
        } else {
            bail!(
                "no collector for venue {venue:?}: use binance, binanceus, alpaca, sim or the [venues.eod] venue ({}); \
                 other data comes in with `tessera data import`",
                $ctx.config.venues.eod.venue
            )
        }
    }};
}

async fn add(ctx: &Ctx, store: &Store, a: DataAddArgs) -> Result<()> {
    let iv = interval(&a.interval)?;
    let symbol = Symbol::new(&a.symbol)?;
    let start = a.start.as_deref().map(|s| time("start", s)).transpose()?;
    let inst = with_collector!(ctx, &a.venue.to_ascii_lowercase(), None, |c| {
        CollectorEngine::new(store.clone(), c, iv, engine_options(ctx)?)
            .add(symbol, start)
            .await?
    });
    let cursor = store.cursor(&inst.id, iv).await?;
    if ctx.global.json {
        print_json(&serde_json::json!({
            "symbol": inst.id.symbol.to_string(),
            "venue": inst.id.venue.to_string(),
            "interval": iv.to_string(),
            "state": cursor.as_ref().map(|c| c.state.to_string()),
            "tick_size": inst.tick_size.to_string(),
            "lot_size": inst.lot_size.to_string(),
        }))
    } else {
        println!(
            "added {} {iv} (tick {}, lot {}); state {}; run `tessera data backfill` or `tessera data stream`",
            inst.id,
            inst.tick_size,
            inst.lot_size,
            cursor.map_or_else(|| "-".into(), |c| c.state.to_string())
        );
        Ok(())
    }
}

/// Registered cursors matching the filters, grouped by venue and interval.
async fn selected(
    store: &Store,
    symbols: &[String],
    venue: Option<&str>,
    iv: Option<&str>,
) -> Result<BTreeMap<(Venue, Interval), Vec<Symbol>>> {
    let wanted: Vec<Symbol> = symbols
        .iter()
        .map(|s| Symbol::new(s))
        .collect::<Result<_, _>>()?;
    let venue = venue.map(Venue::new).transpose()?;
    let iv = iv.map(interval).transpose()?;
    let cursors = store.list_cursors().await?;
    let mut groups: BTreeMap<(Venue, Interval), Vec<Symbol>> = BTreeMap::new();
    for c in &cursors {
        if (wanted.is_empty() || wanted.contains(&c.instrument.symbol))
            && venue.is_none_or(|v| v == c.instrument.venue)
            && iv.is_none_or(|i| i == c.interval)
        {
            groups
                .entry((c.instrument.venue, c.interval))
                .or_default()
                .push(c.instrument.symbol);
        }
    }
    for w in &wanted {
        if !groups.values().any(|v| v.contains(w)) {
            bail!(
                "{w} is not registered for collection; run `tessera data add {w} --venue VENUE` first"
            );
        }
    }
    if groups.is_empty() {
        bail!(
            "nothing registered for collection; run `tessera data add SYMBOL --venue VENUE` first"
        );
    }
    Ok(groups)
}

/// Where an accelerated simulated market must resume: after the newest sim cursor.
fn sim_resume(cursors: &[IngestCursor]) -> Option<UnixNanos> {
    cursors
        .iter()
        .filter(|c| c.instrument.venue.as_str() == "sim")
        .filter_map(|c| c.last_open_time.map(|t| c.interval.next(t)))
        .max()
}

fn progress_bars() -> ProgressFn {
    let multi = MultiProgress::new();
    let bars: Mutex<BTreeMap<InstrumentId, ProgressBar>> = Mutex::new(BTreeMap::new());
    let style = ProgressStyle::with_template("{prefix:>20} [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    Arc::new(move |p: &Progress| {
        let mut bars = bars.lock().unwrap_or_else(PoisonError::into_inner);
        let pb = bars.entry(p.instrument).or_insert_with(|| {
            let pb = multi.add(ProgressBar::new(1));
            pb.set_style(style.clone());
            pb.set_prefix(p.instrument.to_string());
            pb
        });
        let total = (p.target.0 - p.from.0).max(1) as u64;
        pb.set_length(total);
        pb.set_position(((p.next.0 - p.from.0).max(0) as u64).min(total));
        pb.set_message(format!("{} stored, at {}", p.stored, p.next));
        if p.done {
            pb.finish();
        }
    })
}

#[derive(Serialize)]
struct BackfillJson {
    symbol: String,
    venue: String,
    interval: String,
    #[serde(flatten)]
    report: Option<BackfillReport>,
    error: Option<String>,
}

async fn backfill(ctx: &Ctx, store: &Store, a: DataBackfillArgs) -> Result<()> {
    let until = a.until.as_deref().map(|s| time("until", s)).transpose()?;
    let groups = selected(store, &a.symbols, a.venue.as_deref(), a.interval.as_deref()).await?;
    let resume = sim_resume(&store.list_cursors().await?);
    let progress = progress_bars();
    let mut results = Vec::new();
    for ((venue, iv), symbols) in groups {
        let r = with_collector!(ctx, venue.as_str(), resume, |c| {
            CollectorEngine::new(store.clone(), c, iv, engine_options(ctx)?)
                .with_progress(progress.clone())
                .backfill_many(&symbols, until)
                .await
        });
        for (s, res) in r {
            results.push(BackfillJson {
                symbol: s.to_string(),
                venue: venue.to_string(),
                interval: iv.to_string(),
                error: res.as_ref().err().map(ToString::to_string),
                report: res.ok(),
            });
        }
    }
    if ctx.global.json {
        print_json(&results)?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.symbol.clone(),
                    r.venue.clone(),
                    r.interval.clone(),
                    r.report
                        .as_ref()
                        .map_or("-".into(), |x| x.inserted.to_string()),
                    r.report
                        .as_ref()
                        .map_or("-".into(), |x| x.duplicate.to_string()),
                    r.report
                        .as_ref()
                        .and_then(|x| x.last)
                        .map_or("-".into(), |t| t.to_string()),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_table(
            &[
                "SYMBOL",
                "VENUE",
                "INTERVAL",
                "INSERTED",
                "DUPLICATE",
                "LAST",
                "ERROR",
            ],
            &rows,
        );
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} backfill(s) failed; `tessera data status` shows why");
    }
    Ok(())
}

/// Resolve when the process is asked to stop (Ctrl-C or SIGTERM).
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    // Without a SIGTERM handler, Ctrl-C still stops us gracefully.
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        // If the handler cannot be installed the stream runs until killed.
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn stream(ctx: &Ctx, store: &Store, a: DataStreamArgs) -> Result<()> {
    let groups = selected(store, &a.symbols, a.venue.as_deref(), a.interval.as_deref()).await?;
    let resume = sim_resume(&store.list_cursors().await?);
    let (tx, rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for ((venue, iv), symbols) in groups {
        let opts = engine_options(ctx)?;
        let store = store.clone();
        let rx = rx.clone();
        let progress = progress_bars();
        with_collector!(ctx, venue.as_str(), resume, |c| {
            let engine = CollectorEngine::new(store, c, iv, opts).with_progress(progress);
            tasks.spawn(async move { engine.stream(&symbols, rx).await });
        });
    }
    eprintln!("streaming; press Ctrl-C to stop");
    tokio::select! {
        () = stop_signal() => {
            eprintln!("stopping: flushing quotes and recording cursors");
            // Every receiver is held by the tasks below, so sending cannot fail while they run.
            let _ = tx.send(true);
        }
        Some(done) = tasks.join_next() => {
            let _ = tx.send(true);
            done.map_err(|e| anyhow!("stream task failed: {e}"))??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| anyhow!("stream task failed: {e}"))??;
    }
    store.close().await;
    Ok(())
}

async fn import(ctx: &Ctx, store: &Store, a: DataImportArgs) -> Result<()> {
    let req = ImportRequest {
        instrument: id(&a.symbol, &a.venue)?,
        interval: interval(&a.interval)?,
        format: match a.format {
            ImportFormatArg::BinanceKlines => ImportFormat::BinanceKlines,
            ImportFormatArg::OhlcvCsv => ImportFormat::OhlcvCsv,
            ImportFormatArg::PriceCsv => ImportFormat::PriceCsv,
        },
        kind: a.kind.map(Into::into),
        tick_size: a
            .tick_size
            .as_deref()
            .map(Price::parse)
            .transpose()
            .context("--tick-size")?,
        lot_size: a
            .lot_size
            .as_deref()
            .map(Quantity::parse)
            .transpose()
            .context("--lot-size")?,
        strict: a.strict,
        overwrite: a.overwrite,
        csv: CsvOptions {
            time_column: a.time_column,
            time: TimeParser {
                format: a.date_format,
                zone: a.timezone.parse().map_err(|_| {
                    anyhow!(
                        "--timezone {:?}: not an IANA zone like America/New_York",
                        a.timezone
                    )
                })?,
            },
        },
    };
    let report = import_files(store, &a.files, &req).await?;
    for r in report.rejections.iter().take(50) {
        eprintln!("rejected {r}");
    }
    if report.rejections.len() > 50 {
        eprintln!("… and {} more rejected rows", report.rejections.len() - 50);
    }
    if let Some(i) = &report.created_instrument {
        eprintln!(
            "created instrument {} ({}, tick {}, lot {})",
            i.id, i.kind, i.tick_size, i.lot_size
        );
    }
    if ctx.global.json {
        print_json(&report)
    } else {
        println!(
            "{} rows read: {} inserted, {} duplicate, {} conflicting, {} rejected; first {}, last {}",
            report.rows_read,
            report.inserted,
            report.duplicate,
            report.conflicting,
            report.rejected,
            report.first.as_deref().unwrap_or("-"),
            report.last.as_deref().unwrap_or("-"),
        );
        Ok(())
    }
}

async fn export(ctx: &Ctx, store: &Store, a: DataExportArgs) -> Result<()> {
    let instrument = id(&a.symbol, &a.venue)?;
    let iv = interval(&a.interval)?;
    let range = TimeRange::from_bounds(
        a.from.as_deref().map(|s| time("from", s)).transpose()?,
        a.to.as_deref().map(|s| time("to", s)).transpose()?,
    )?;
    store.instrument(&instrument).await?;
    let format = match a.format {
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Parquet => ExportFormat::Parquet,
    };
    let n = export_bars(store, &instrument, iv, range, format, &a.output).await?;
    if ctx.global.json {
        print_json(&serde_json::json!({"rows": n, "output": a.output.display().to_string()}))
    } else {
        eprintln!(
            "exported {n} bars of {instrument} {iv} to {}",
            a.output.display()
        );
        Ok(())
    }
}

#[derive(Serialize)]
struct GapJson {
    start: String,
    end: String,
    missing: u64,
}

async fn gaps(ctx: &Ctx, store: &Store, a: DataGapsArgs) -> Result<()> {
    let instrument = id(&a.symbol, &a.venue)?;
    let iv = interval(&a.interval)?;
    let found = tessera_data::gaps::find_gaps(store, &instrument, iv, TimeRange::ALL).await?;
    let first = store
        .first_bar(&instrument, iv)
        .await?
        .map(|b| b.open_time.to_string());
    let last = store
        .latest_bar(&instrument, iv)
        .await?
        .map(|b| b.open_time.to_string());
    let rows = store.bar_count(&instrument, iv).await?;
    let list: Vec<GapJson> = found
        .iter()
        .map(|g| GapJson {
            start: g.start.to_string(),
            end: g.end.to_string(),
            missing: g.missing,
        })
        .collect();
    let missing: u64 = found.iter().map(|g| g.missing).sum();
    if ctx.global.json {
        print_json(&serde_json::json!({
            "symbol": instrument.symbol.to_string(),
            "venue": instrument.venue.to_string(),
            "interval": iv.to_string(),
            "first": first,
            "last": last,
            "rows": rows,
            "missing": missing,
            "gaps": list,
        }))
    } else {
        if list.is_empty() {
            println!("{instrument} {iv}: no gaps in {rows} bars");
        } else {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|g| vec![g.start.clone(), g.end.clone(), g.missing.to_string()])
                .collect();
            print_table(&["FROM", "TO (EXCLUSIVE)", "MISSING"], &rows);
            println!("{missing} missing bars in {} gaps", list.len());
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct StatusJson {
    symbol: String,
    venue: String,
    interval: String,
    state: Option<String>,
    first: Option<String>,
    last: Option<String>,
    rows: u64,
    lag_seconds: Option<i64>,
    last_error: Option<String>,
}

async fn status(ctx: &Ctx, store: &Store) -> Result<()> {
    let cursors = store.list_cursors().await?;
    let now = SystemClock.now();
    let mut out = Vec::new();
    for inst in store.list_instruments().await? {
        let mut intervals = store.bar_intervals(&inst.id).await?;
        for c in cursors.iter().filter(|c| c.instrument == inst.id) {
            if !intervals.contains(&c.interval) {
                intervals.push(c.interval);
            }
        }
        intervals.sort();
        for iv in intervals {
            let cursor = cursors
                .iter()
                .find(|c| c.instrument == inst.id && c.interval == iv);
            let first = store.first_bar(&inst.id, iv).await?;
            let last = store.latest_bar(&inst.id, iv).await?;
            out.push(StatusJson {
                symbol: inst.id.symbol.to_string(),
                venue: inst.id.venue.to_string(),
                interval: iv.to_string(),
                state: cursor.map(|c| c.state.to_string()),
                first: first.map(|b| b.open_time.to_string()),
                last: last.map(|b| b.open_time.to_string()),
                rows: store.bar_count(&inst.id, iv).await?,
                lag_seconds: last.map(|b| (now.0 - b.close_time().0).max(0) / 1_000_000_000),
                last_error: cursor.and_then(|c| c.last_error.clone()),
            });
        }
    }
    if ctx.global.json {
        print_json(&out)
    } else {
        let rows: Vec<Vec<String>> = out
            .iter()
            .map(|s| {
                vec![
                    s.symbol.clone(),
                    s.venue.clone(),
                    s.interval.clone(),
                    s.state.clone().unwrap_or_else(|| "-".into()),
                    s.first.clone().unwrap_or_else(|| "-".into()),
                    s.last.clone().unwrap_or_else(|| "-".into()),
                    s.rows.to_string(),
                    s.lag_seconds.map_or("-".into(), |l| format!("{l}s")),
                    s.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_table(
            &[
                "SYMBOL",
                "VENUE",
                "INTERVAL",
                "STATE",
                "FIRST",
                "LAST",
                "ROWS",
                "LAG",
                "LAST ERROR",
            ],
            &rows,
        );
        Ok(())
    }
}

async fn watch_folder(ctx: &Ctx, store: &Store, a: DataWatchArgs) -> Result<()> {
    let req = WatchRequest {
        format: match a.format {
            ImportFormatArg::BinanceKlines => ImportFormat::BinanceKlines,
            ImportFormatArg::OhlcvCsv => ImportFormat::OhlcvCsv,
            ImportFormatArg::PriceCsv => ImportFormat::PriceCsv,
        },
        venue: Venue::new(&a.venue)?,
        interval: interval(&a.interval)?,
        kind: a.kind.map(Into::into),
        csv: CsvOptions::default(),
    };
    loop {
        let outcomes = scan_folder(store, &a.folder, &req).await?;
        for o in &outcomes {
            match &o.result {
                Ok(r) => {
                    if ctx.global.json {
                        println!(
                            "{}",
                            serde_json::json!({"file": o.file.display().to_string(), "moved_to": o.moved_to.display().to_string(), "report": r})
                        );
                    } else {
                        println!(
                            "imported {} ({} inserted, {} duplicate) -> {}",
                            o.file.display(),
                            r.inserted,
                            r.duplicate,
                            o.moved_to.display()
                        );
                    }
                }
                Err(reason) => {
                    if ctx.global.json {
                        println!(
                            "{}",
                            serde_json::json!({"file": o.file.display().to_string(), "moved_to": o.moved_to.display().to_string(), "error": reason})
                        );
                    } else {
                        println!(
                            "failed {} -> {}: {reason}",
                            o.file.display(),
                            o.moved_to.display()
                        );
                    }
                }
            }
        }
        if a.once {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(a.poll_secs.max(1))) => {}
            () = stop_signal() => return Ok(()),
        }
    }
}
