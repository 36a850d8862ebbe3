//! Importing bar files: parse, validate, infer the instrument, store atomically.
//!
//! Three formats ([`ImportFormat`]): Binance public-data klines, generic OHLCV
//! CSV with a header, and pysystemtrade price CSV. Parsing turns text into
//! [`RawRow`]s; [`validate`] then applies the rules that need the instrument
//! (tick grid) and the row order. Every refused row is reported with its file,
//! line and reason. With `strict`, one refused row refuses the whole import and
//! nothing (not even a new instrument) is written; otherwise the valid rows
//! go in in one transaction.

mod binance_klines;
mod ohlcv_csv;
mod price_csv;
mod time;
pub mod validate;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tessera_core::UnixNanos;
use tessera_model::{
    Bar, Instrument, InstrumentId, InstrumentKind, Interval, IntervalUnit, Price, Quantity, Venue,
};
use tessera_storage::{InsertOptions, Store};

use crate::error::{Error, Result};
pub use time::TimeParser;
pub use validate::validate;

/// A file layout the importer understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// `data.binance.vision` klines: no header, 12 columns, open time in ms or µs.
    BinanceKlines,
    /// OHLCV with a header row; columns found by name.
    OhlcvCsv,
    /// pysystemtrade `DATETIME,price` (one price per period: open = high = low = close, volume 0).
    PriceCsv,
}

impl ImportFormat {
    /// Parse the CLI name (`binance-klines`, `ohlcv-csv`, `price-csv`).
    ///
    /// # Errors
    /// [`Error::Format`] listing the accepted names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "binance-klines" => Ok(Self::BinanceKlines),
            "ohlcv-csv" => Ok(Self::OhlcvCsv),
            "price-csv" => Ok(Self::PriceCsv),
            other => Err(Error::Format {
                file: "--format".into(),
                reason: format!(
                    "unknown format {other:?}; expected binance-klines, ohlcv-csv or price-csv"
                ),
            }),
        }
    }
}

/// How CSV times are read (generic OHLCV and price CSV).
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// Column holding the time, when auto-detection would pick the wrong one.
    pub time_column: Option<String>,
    /// How times are read (format and zone).
    pub time: TimeParser,
}

/// A parsed row before validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRow {
    /// Line number in the file (1-based).
    pub line: u64,
    /// Open time of the bar.
    pub open_time: UnixNanos,
    /// Open price.
    pub open: Price,
    /// High price.
    pub high: Price,
    /// Low price.
    pub low: Price,
    /// Close price.
    pub close: Price,
    /// Base volume.
    pub volume: Quantity,
    /// Trades, when the file has them.
    pub trade_count: Option<u64>,
    /// Quote volume, when the file has it.
    pub quote_volume: Option<Quantity>,
}

/// A row that was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// The file.
    pub file: String,
    /// Line number (1-based, a header counts).
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// One file after parsing.
#[derive(Clone, Debug, Default)]
pub struct ParsedFile {
    /// The file.
    pub file: String,
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Rows that parsed.
    pub rows: Vec<RawRow>,
    /// Rows that did not.
    pub rejected: Vec<RejectedRow>,
}

impl ParsedFile {
    pub(crate) fn reject(&mut self, line: u64, reason: impl Into<String>) {
        self.rejected.push(RejectedRow {
            file: self.file.clone(),
            line,
            reason: reason.into(),
        });
    }
}

/// Parse one file of `format` (no validation beyond what parsing needs).
///
/// # Errors
/// [`Error::Io`] when unreadable, [`Error::Format`] when the layout is unusable as a whole.
pub fn parse_file(path: &Path, format: ImportFormat, opts: &CsvOptions) -> Result<ParsedFile> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    parse_reader(
        BufReader::with_capacity(1 << 20, file),
        &path.display().to_string(),
        format,
        opts,
    )
}

/// Parse CSV text from any reader; `name` is used in messages.
///
/// # Errors
/// As [`parse_file`].
pub fn parse_reader(
    reader: impl std::io::Read,
    name: &str,
    format: ImportFormat,
    opts: &CsvOptions,
) -> Result<ParsedFile> {
    let mut out = ParsedFile {
        file: name.to_string(),
        ..ParsedFile::default()
    };
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    match format {
        ImportFormat::BinanceKlines => binance_klines::parse(csv, &mut out)?,
        ImportFormat::OhlcvCsv => ohlcv_csv::parse(csv, opts, &mut out)?,
        ImportFormat::PriceCsv => price_csv::parse(csv, opts, &mut out)?,
    }
    Ok(out)
}

/// What `data import` is asked to do.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// Instrument the bars belong to.
    pub instrument: InstrumentId,
    /// Bar interval of the files.
    pub interval: Interval,
    /// File format.
    pub format: ImportFormat,
    /// Asset class when the instrument must be created (default: from the venue).
    pub kind: Option<InstrumentKind>,
    /// Tick size when the instrument must be created (default: finest price decimals in the data).
    pub tick_size: Option<Price>,
    /// Lot size when the instrument must be created (default: finest volume decimals in the data).
    pub lot_size: Option<Quantity>,
    /// Refuse everything when any row is invalid.
    pub strict: bool,
    /// Replace stored bars whose values differ.
    pub overwrite: bool,
    /// Time parsing for CSV formats.
    pub csv: CsvOptions,
}

/// The outcome of an import (its JSON keys are a CLI contract).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows read over all files.
    pub rows_read: u64,
    /// New bars stored.
    pub inserted: u64,
    /// Bars already stored with the same values.
    pub duplicate: u64,
    /// Bars stored with other values (kept unless overwriting).
    pub conflicting: u64,
    /// Rows refused by parsing or validation.
    pub rejected: u64,
    /// Open time of the first valid bar, RFC 3339.
    pub first: Option<String>,
    /// Open time of the last valid bar, RFC 3339.
    pub last: Option<String>,
    /// Every refused row (not part of the JSON contract).
    #[serde(skip)]
    pub rejections: Vec<RejectedRow>,
    /// Whether the instrument was created by this import.
    #[serde(skip)]
    pub created_instrument: Option<Instrument>,
}

/// The asset class a venue's instruments usually have, for instruments created on import.
#[must_use]
pub fn default_kind_for_venue(venue: &Venue) -> InstrumentKind {
    match venue.as_str() {
        "binance" | "binanceus" | "coinbase" | "kraken" | "bybit" | "okx" | "bitstamp" | "sim" => {
            InstrumentKind::Crypto
        }
        "cme" | "cbot" | "nymex" | "comex" | "ice" | "eurex" | "moex" | "ose" | "sgx" => {
            InstrumentKind::Future
        }
        "oanda" | "fx" | "forex" | "fxcm" | "dukascopy" => InstrumentKind::Fx,
        _ => InstrumentKind::Equity,
    }
}

/// The instrument an import creates: the kind's defaults, tick and lot from
/// the request or from the finest decimals seen in `rows`.
///
/// # Errors
/// [`Error::Model`] when the kind's defaults cannot be built (an unsplittable crypto pair).
pub fn infer_instrument(
    id: InstrumentId,
    kind: InstrumentKind,
    rows: &[RawRow],
    tick_size: Option<Price>,
    lot_size: Option<Quantity>,
) -> Result<Instrument> {
    let mut inst = match Instrument::with_defaults(id, kind) {
        Ok(i) => i,
        // A crypto or fx symbol that cannot be split still imports; its currency is a guess.
        Err(_) if kind.has_base_currency() => {
            let mut i = Instrument::with_defaults(id, InstrumentKind::Equity)?;
            i.kind = InstrumentKind::Equity;
            i.timezone = "UTC".into();
            i
        }
        Err(e) => return Err(e.into()),
    };
    let price_scale = rows
        .iter()
        .flat_map(|r| [r.open, r.high, r.low, r.close])
        .map(|p| p.as_decimal().normalize().scale())
        .max();
    let size_scale = rows
        .iter()
        .map(|r| r.volume.as_decimal().normalize().scale())
        .max();
    inst.tick_size = match (tick_size, price_scale) {
        (Some(t), _) => t,
        (None, Some(s)) => Price::from_parts(1, s)?,
        (None, None) => inst.tick_size,
    };
    inst.lot_size = match (lot_size, size_scale) {
        (Some(l), _) => l,
        (None, Some(s)) => Quantity::from_parts(1, s)?,
        (None, None) => inst.lot_size,
    };
    inst.min_quantity = inst.lot_size;
    inst.validate()?;
    Ok(inst)
}

/// Import `paths` into `store` as `req` says (see the module docs).
///
/// # Errors
/// [`Error::StrictRejected`] under `strict` with any invalid row (nothing is
/// stored), [`Error::Io`]/[`Error::Format`] for unreadable files, [`Error::Storage`].
pub async fn import_files(
    store: &Store,
    paths: &[PathBuf],
    req: &ImportRequest,
) -> Result<ImportReport> {
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let opts = req.csv.clone();
        let p = p.clone();
        let format = req.format;
        // Parsing a large file is CPU work; keep it off the async workers.
        let parsed = tokio::task::spawn_blocking(move || parse_file(&p, format, &opts))
            .await
            .map_err(|e| Error::Format {
                file: "import".into(),
                reason: format!("parser task failed: {e}"),
            })??;
        files.push(parsed);
    }
    let existing = match store.instrument(&req.instrument).await {
        Ok(i) => Some(i),
        Err(tessera_storage::Error::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let instrument = match &existing {
        Some(i) => i.clone(),
        None => {
            let all: Vec<RawRow> = files.iter().flat_map(|f| f.rows.iter().copied()).collect();
            let kind = req
                .kind
                .unwrap_or_else(|| default_kind_for_venue(&req.instrument.venue));
            infer_instrument(req.instrument, kind, &all, req.tick_size, req.lot_size)?
        }
    };
    let mut report = ImportReport::default();
    let mut bars: Vec<Bar> = Vec::new();
    for f in &mut files {
        report.rows_read += f.rows_read;
        let mut rows = std::mem::take(&mut f.rows);
        if req.format == ImportFormat::PriceCsv && req.interval.unit() >= IntervalUnit::Day {
            // The time of day in price files marks "the close" (pysystemtrade's 23:00), not an instant.
            for r in &mut rows {
                r.open_time = req.interval.floor(r.open_time);
            }
        }
        let (valid, rejected) = validate(&instrument, req.interval, &f.file, &rows);
        f.rejected.extend(rejected);
        f.rejected.sort_by_key(|r| r.line);
        report.rejections.extend(f.rejected.iter().cloned());
        bars.extend(valid);
    }
    report.rejected = report.rejections.len() as u64;
    if req.strict
        && let Some(first) = report.rejections.first()
    {
        return Err(Error::StrictRejected {
            file: first.file.clone(),
            line: first.line,
            reason: first.reason.clone(),
            count: report.rejected,
        });
    }
    report.first = bars
        .iter()
        .map(|b| b.open_time)
        .min()
        .map(|t| t.to_rfc3339());
    report.last = bars
        .iter()
        .map(|b| b.open_time)
        .max()
        .map(|t| t.to_rfc3339());
    if existing.is_none() && !bars.is_empty() {
        store.add_instrument(&instrument).await?;
        report.created_instrument = Some(instrument);
    }
    if !bars.is_empty() {
        let r = store
            .insert_bars(
                &bars,
                InsertOptions {
                    overwrite: req.overwrite,
                },
            )
            .await?;
        report.inserted = r.inserted;
        report.duplicate = r.duplicate;
        report.conflicting = r.conflicting;
    }
    Ok(report)
}

/// Parse a decimal field into a price, with a reason naming the column on failure.
pub(crate) fn price_field(col: &str, s: &str) -> std::result::Result<Price, String> {
    Price::parse(s).map_err(|e| format!("{col}: {e}"))
}

/// Parse a decimal field into a quantity, with a reason naming the column on failure.
pub(crate) fn qty_field(col: &str, s: &str) -> std::result::Result<Quantity, String> {
    Quantity::parse(s).map_err(|e| format!("{col}: {e}"))
}

/// Line number of a record (1-based).
pub(crate) fn line_of(rec: &csv::StringRecord) -> u64 {
    rec.position().map_or(0, csv::Position::line)
}

/// A CSV read error as a rejected row or a file error: bad UTF-8 rejects the row only.
pub(crate) fn read_error(out: &mut ParsedFile, e: &csv::Error) -> Result<()> {
    match e.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => {
            out.rows_read += 1;
            out.reject(
                pos.as_ref().map_or(0, csv::Position::line),
                "not valid UTF-8 text",
            );
            Ok(())
        }
        _ => Err(Error::Format {
            file: out.file.clone(),
            reason: e.to_string(),
        }),
    }
}
