//! Generic OHLCV CSV with a header row.
//!
//! Columns are found by name, case-insensitively and ignoring spaces,
//! underscores and dashes: the time from `timestamp`, `time`, `date`,
//! `datetime`, `open_time`, `timestamp_utc`, `date_time`, `gmt_time`, `t`;
//! prices from `open`/`o`, `high`/`h`, `low`/`l`, `close`/`c`/`last`/`price`;
//! volume from `volume`/`vol`/`v`/`qty` (0 when absent); optional
//! `trades`/`number_of_trades`/`count` and `quote_volume`/`quote_asset_volume`.
//! Unknown extra columns (`Name`, `adj close`) are ignored.

use std::io::Read;

use tessera_model::Quantity;

use super::{CsvOptions, ParsedFile, RawRow, line_of, price_field, qty_field, read_error};
use crate::error::{Error, Result};

const TIME_NAMES: &[&str] = &[
    "timestamp",
    "time",
    "date",
    "datetime",
    "opentime",
    "timestamputc",
    "gmttime",
    "localtime",
    "t",
    "ts",
];
const OPEN: &[&str] = &["open", "o", "openprice"];
const HIGH: &[&str] = &["high", "h", "highprice"];
const LOW: &[&str] = &["low", "l", "lowprice"];
const CLOSE: &[&str] = &["close", "c", "last", "closeprice", "price"];
const VOLUME: &[&str] = &["volume", "vol", "v", "qty", "basevolume"];
const TRADES: &[&str] = &["trades", "numberoftrades", "count", "tradecount"];
const QUOTE_VOLUME: &[&str] = &["quotevolume", "quoteassetvolume"];

#[derive(Debug)]
struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    trades: Option<usize>,
    quote_volume: Option<usize>,
    width: usize,
}

fn key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn columns(header: &csv::StringRecord, opts: &CsvOptions) -> std::result::Result<Columns, String> {
    let names: Vec<String> = header.iter().map(key).collect();
    let find = |want: &[&str]| want.iter().find_map(|w| names.iter().position(|n| n == w));
    let time = match &opts.time_column {
        Some(c) => names
            .iter()
            .position(|n| *n == key(c))
            .ok_or_else(|| format!("no column named {c:?} (--time-column)"))?,
        None => {
            find(TIME_NAMES).ok_or("no time column (timestamp, time, date, datetime, open_time)")?
        }
    };
    let need = |what: &str, want: &[&str]| {
        find(want).ok_or_else(|| format!("no {what} column (one of {})", want.join(", ")))
    };
    Ok(Columns {
        time,
        open: need("open", OPEN)?,
        high: need("high", HIGH)?,
        low: need("low", LOW)?,
        close: need("close", CLOSE)?,
        volume: find(VOLUME),
        trades: find(TRADES),
        quote_volume: find(QUOTE_VOLUME),
        width: header.len(),
    })
}

pub(super) fn parse(
    mut csv: csv::Reader<impl Read>,
    opts: &CsvOptions,
    out: &mut ParsedFile,
) -> Result<()> {
    let mut rec = csv::StringRecord::new();
    let mut cols: Option<Columns> = None;
    loop {
        match csv.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                read_error(out, &e)?;
                continue;
            }
        }
        let line = line_of(&rec);
        let Some(c) = &cols else {
            cols = Some(columns(&rec, opts).map_err(|reason| Error::Format {
                file: out.file.clone(),
                reason: format!(
                    "line {line}: header {:?}: {reason}",
                    rec.iter().collect::<Vec<_>>().join(",")
                ),
            })?);
            continue;
        };
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        out.rows_read += 1;
        match row(&rec, c, opts, line) {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.reject(line, reason),
        }
    }
    if cols.is_none() {
        return Err(Error::Format {
            file: out.file.clone(),
            reason: "empty file: expected a header like timestamp,open,high,low,close,volume"
                .into(),
        });
    }
    Ok(())
}

fn row(
    rec: &csv::StringRecord,
    c: &Columns,
    opts: &CsvOptions,
    line: u64,
) -> std::result::Result<RawRow, String> {
    if rec.len() != c.width {
        return Err(format!(
            "expected {} columns like the header, found {}",
            c.width,
            rec.len()
        ));
    }
    let trade_count = match c.trades.map(|i| &rec[i]) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| format!("trades: {s:?} is not a whole number"))?,
        ),
    };
    let quote_volume = match c.quote_volume.map(|i| &rec[i]) {
        None | Some("") => None,
        Some(s) => Some(qty_field("quote_volume", s)?),
    };
    Ok(RawRow {
        line,
        open_time: opts.time.parse(&rec[c.time])?,
        open: price_field("open", &rec[c.open])?,
        high: price_field("high", &rec[c.high])?,
        low: price_field("low", &rec[c.low])?,
        close: price_field("close", &rec[c.close])?,
        volume: match c.volume {
            Some(i) => qty_field("volume", &rec[i])?,
            None => Quantity::ZERO,
        },
        trade_count,
        quote_volume,
    })
}

#[cfg(test)]
mod tests {
    use crate::import::{CsvOptions, ImportFormat, parse_reader};

    #[test]
    fn test_ohlcv_header_detection() {
        for header in [
            "timestamp,open,high,low,close,volume",
            "open_time,open,high,low,close,volume",
            "Date,Open,High,Low,Close,Volume,Name",
            "timestamp_utc,open,high,low,close,volume",
        ] {
            let extra = if header.ends_with("Name") { ",X" } else { "" };
            let text = format!("{header}\n2023-03-01,1.5,2,1,1.75,10{extra}\n");
            let p = parse_reader(
                text.as_bytes(),
                "o.csv",
                ImportFormat::OhlcvCsv,
                &CsvOptions::default(),
            )
            .unwrap();
            assert_eq!(p.rows.len(), 1, "{header}: {:?}", p.rejected);
            assert_eq!(p.rows[0].close.to_string(), "1.75");
        }
        let e = parse_reader(
            "a,b,c\n1,2,3\n".as_bytes(),
            "o.csv",
            ImportFormat::OhlcvCsv,
            &CsvOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("o.csv") && e.contains("no time column"), "{e}");
    }
}
