//! Binance public-data klines (`data.binance.vision`): no header, 12 columns.
//!
//! `open_time, open, high, low, close, volume, close_time, quote_volume,
//! trades, taker_buy_base, taker_buy_quote, ignore`. Open times are epoch
//! milliseconds, or microseconds in spot files from 2025 on; the unit is told
//! per value by its magnitude (a 16-digit number is microseconds).

use std::io::Read;

use tessera_core::UnixNanos;

use super::{ParsedFile, RawRow, line_of, price_field, qty_field, read_error};
use crate::error::Result;

/// Column count of the format; 11 (without the unused last column) is accepted too.
const COLUMNS: usize = 12;

pub(super) fn parse(mut csv: csv::Reader<impl Read>, out: &mut ParsedFile) -> Result<()> {
    let mut rec = csv::StringRecord::new();
    let mut first = true;
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
        // Some Binance files (futures) carry a header; skip it rather than reject it.
        if first
            && rec
                .get(0)
                .is_some_and(|c| c.eq_ignore_ascii_case("open_time"))
        {
            first = false;
            continue;
        }
        first = false;
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        out.rows_read += 1;
        match row(&rec, line) {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.reject(line, reason),
        }
    }
    Ok(())
}

fn row(rec: &csv::StringRecord, line: u64) -> std::result::Result<RawRow, String> {
    if rec.len() != COLUMNS && rec.len() != COLUMNS - 1 {
        return Err(format!(
            "expected {COLUMNS} columns (open_time,open,high,low,close,volume,close_time,\
             quote_volume,trades,taker_buy_base,taker_buy_quote,ignore), found {}",
            rec.len()
        ));
    }
    let open_time = epoch(&rec[0]).map_err(|e| format!("open_time: {e}"))?;
    let close_time = epoch(&rec[6]).map_err(|e| format!("close_time: {e}"))?;
    if close_time <= open_time {
        return Err(format!(
            "close_time {close_time} is not after open_time {open_time}"
        ));
    }
    let trades = rec[8]
        .parse::<u64>()
        .map_err(|_| format!("trades: {:?} is not a whole number", &rec[8]))?;
    Ok(RawRow {
        line,
        open_time,
        open: price_field("open", &rec[1])?,
        high: price_field("high", &rec[2])?,
        low: price_field("low", &rec[3])?,
        close: price_field("close", &rec[4])?,
        volume: qty_field("volume", &rec[5])?,
        trade_count: Some(trades),
        quote_volume: Some(qty_field("quote_volume", &rec[7])?),
    })
}

/// An epoch time in ms (13 digits) or µs (16 digits).
fn epoch(s: &str) -> std::result::Result<UnixNanos, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not an epoch number"))?;
    if n < 0 {
        return Err(format!("{n} is before 1970"));
    }
    if n >= 100_000_000_000_000 {
        UnixNanos::from_micros(n).map_err(|e| e.to_string())
    } else {
        UnixNanos::from_millis(n).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use crate::import::{CsvOptions, ImportFormat, parse_reader};

    fn parse(text: &str) -> crate::import::ParsedFile {
        parse_reader(
            text.as_bytes(),
            "k.csv",
            ImportFormat::BinanceKlines,
            &CsvOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn test_binance_klines_ms_and_us() {
        let ms = "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,1637971259999,1.03547608,79,19523.00000000,0.55694227,0\n";
        let us = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999999,768978.5,1000,4.5,421000.1,0\n";
        let p = parse(&format!("{ms}{us}"));
        assert_eq!(p.rows_read, 2);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert_eq!(p.rows[0].open_time.to_rfc3339(), "2021-11-27T00:00:00Z");
        assert_eq!(p.rows[1].open_time.to_rfc3339(), "2025-01-01T00:00:00Z");
        assert_eq!(p.rows[0].trade_count, Some(79));
    }

    #[test]
    fn test_binance_klines_malformed_rows() {
        let text = "1637971200000,0.00002853,0.00002854\n\
                    abc,1,1,1,1,1,1637971259999,1,1,1,1,0\n\
                    1637971260000,1,x,1,1,1,1637971319999,1,1,1,1,0\n\
                    1637971320000,1,1,1,1,-5,1637971379999,1,1,1,1,0\n";
        let p = parse(text);
        assert_eq!(p.rows_read, 4);
        let reasons: Vec<String> = p.rejected.iter().map(ToString::to_string).collect();
        assert!(
            reasons[0].starts_with("k.csv:1: expected 12 columns"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("k.csv:2: open_time"), "{reasons:?}");
        assert!(reasons[2].contains("k.csv:3: high"), "{reasons:?}");
        assert!(reasons[3].contains("k.csv:4: volume") && reasons[3].contains("negative"));
    }
}
