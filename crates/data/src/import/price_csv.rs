//! pysystemtrade price CSV: `DATETIME,price`.
//!
//! One price per period (a back-adjusted futures close, an FX rate). Each row
//! becomes a flat bar (open = high = low = close = price, volume 0). The
//! time of day in these files (`23:00:00`) is a marker for "the daily close",
//! not a real time, so for intervals of a day or longer the date is kept and
//! the row is filed under that day's bar.

use std::io::Read;

use tessera_model::Quantity;

use super::{CsvOptions, ParsedFile, RawRow, line_of, price_field, read_error};
use crate::error::{Error, Result};

pub(super) fn parse(
    mut csv: csv::Reader<impl Read>,
    opts: &CsvOptions,
    out: &mut ParsedFile,
) -> Result<()> {
    let mut rec = csv::StringRecord::new();
    let mut header_seen = false;
    let (mut time_col, mut price_col) = (0usize, 1usize);
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
        if !header_seen {
            header_seen = true;
            let names: Vec<String> = rec.iter().map(|c| c.to_ascii_lowercase()).collect();
            let find = |want: &[&str]| names.iter().position(|n| want.contains(&n.as_str()));
            match (
                find(&["datetime", "date_time", "date", "timestamp", "time"]),
                find(&["price", "close", "value"]),
            ) {
                (Some(t), Some(p)) => {
                    time_col = t;
                    price_col = p;
                    continue;
                }
                _ => {
                    return Err(Error::Format {
                        file: out.file.clone(),
                        reason: format!(
                            "line {line}: expected a header `DATETIME,price`, found {:?}",
                            rec.iter().collect::<Vec<_>>().join(",")
                        ),
                    });
                }
            }
        }
        if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
            continue;
        }
        out.rows_read += 1;
        let r = (|| {
            if rec.len() != 2 {
                return Err(format!(
                    "expected 2 columns (DATETIME,price), found {}",
                    rec.len()
                ));
            }
            let t = opts.time.parse(&rec[time_col])?;
            let p = price_field("price", &rec[price_col])?;
            Ok(RawRow {
                line,
                open_time: t,
                open: p,
                high: p,
                low: p,
                close: p,
                volume: Quantity::ZERO,
                trade_count: None,
                quote_volume: None,
            })
        })();
        match r {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.reject(line, reason),
        }
    }
    if !header_seen {
        return Err(Error::Format {
            file: out.file.clone(),
            reason: "empty file: expected a header `DATETIME,price`".into(),
        });
    }
    Ok(())
}
