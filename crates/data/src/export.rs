//! Exporting stored bars to CSV and Parquet.
//!
//! CSV: header exactly `timestamp,open,high,low,close,volume`, the open time
//! as RFC 3339 UTC (`2024-01-01T00:00:00Z`) and prices and volumes exactly as
//! stored (their written decimals). Parquet: `timestamp` as INT64
//! `TIMESTAMP(NANOS, UTC)` and the five numbers as exact `DECIMAL(38, s)`
//! (16-byte big-endian), where `s` is the most decimals any row of that
//! column has, so no value is rounded.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use parquet::data_type::FixedLenByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rust_decimal::Decimal;
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Bar, InstrumentId, Interval};
use tessera_storage::Store;

use crate::error::{Error, Result};

/// Output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated text.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Bars read per page from the store.
const PAGE: usize = 50_000;
/// Rows per Parquet row group.
const ROW_GROUP: usize = 250_000;

/// Write the bars of `id`/`interval` in `range` to `output`; returns the row count.
///
/// # Errors
/// [`Error::Storage`], [`Error::Io`], [`Error::Parquet`].
pub async fn export_bars(
    store: &Store,
    id: &InstrumentId,
    interval: Interval,
    range: TimeRange,
    format: ExportFormat,
    output: &Path,
) -> Result<u64> {
    match format {
        ExportFormat::Csv => {
            let file = File::create(output).map_err(|e| Error::io(output, e))?;
            let mut w = BufWriter::new(file);
            let io = |e| Error::io(output, e);
            writeln!(w, "timestamp,open,high,low,close,volume").map_err(io)?;
            let mut after: Option<UnixNanos> = None;
            let mut n = 0u64;
            loop {
                let page = store.bars_page(id, interval, range, PAGE, after).await?;
                for b in &page.bars {
                    write_csv_row(&mut w, b).map_err(io)?;
                }
                n += page.bars.len() as u64;
                match page.next_cursor {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            w.flush().map_err(io)?;
            Ok(n)
        }
        ExportFormat::Parquet => {
            let bars = store.bars_range(id, interval, range).await?;
            let out = output.to_path_buf();
            let n = bars.len() as u64;
            tokio::task::spawn_blocking(move || write_parquet(&bars, &out))
                .await
                .map_err(|e| Error::Parquet {
                    path: output.display().to_string(),
                    reason: e.to_string(),
                })??;
            Ok(n)
        }
    }
}

/// One CSV line for `b` (no header).
///
/// # Errors
/// The writer's error.
pub fn write_csv_row(w: &mut impl Write, b: &Bar) -> std::io::Result<()> {
    writeln!(
        w,
        "{},{},{},{},{},{}",
        b.open_time.to_rfc3339(),
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume
    )
}

fn decimal_bytes(d: Decimal, scale: u32) -> FixedLenByteArray {
    let mut d = d;
    d.rescale(scale);
    FixedLenByteArray::from(d.mantissa().to_be_bytes().to_vec())
}

/// Write `bars` as Parquet to `path` (see the module docs for the schema).
///
/// # Errors
/// [`Error::Io`], [`Error::Parquet`].
pub fn write_parquet(bars: &[Bar], path: &Path) -> Result<()> {
    let perr = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    type Get = fn(&Bar) -> Decimal;
    let columns: [Get; 5] = [
        |b| b.open.as_decimal(),
        |b| b.high.as_decimal(),
        |b| b.low.as_decimal(),
        |b| b.close.as_decimal(),
        |b| b.volume.as_decimal(),
    ];
    let scales: Vec<u32> = columns
        .iter()
        .map(|get| bars.iter().map(|b| get(b).scale()).max().unwrap_or(0))
        .collect();
    let names = ["open", "high", "low", "close", "volume"];
    let mut schema =
        String::from("message bar {\n  REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true));\n");
    for (name, s) in names.iter().zip(&scales) {
        schema.push_str(&format!(
            "  REQUIRED FIXED_LEN_BYTE_ARRAY (16) {name} (DECIMAL(38,{s}));\n"
        ));
    }
    schema.push('}');
    let schema = Arc::new(parse_message_type(&schema).map_err(perr)?);
    let props = Arc::new(WriterProperties::builder().build());
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
    for chunk in bars.chunks(ROW_GROUP) {
        let mut rg = writer.next_row_group().map_err(perr)?;
        let mut index = 0usize;
        while let Some(mut col) = rg.next_column().map_err(perr)? {
            if index == 0 {
                let ts: Vec<i64> = chunk.iter().map(|b| b.open_time.0).collect();
                col.typed::<parquet::data_type::Int64Type>()
                    .write_batch(&ts, None, None)
                    .map_err(perr)?;
            } else {
                let get = columns[index - 1];
                let scale = scales[index - 1];
                let vals: Vec<FixedLenByteArray> =
                    chunk.iter().map(|b| decimal_bytes(get(b), scale)).collect();
                col.typed::<parquet::data_type::FixedLenByteArrayType>()
                    .write_batch(&vals, None, None)
                    .map_err(perr)?;
            }
            col.close().map_err(perr)?;
            index += 1;
        }
        rg.close().map_err(perr)?;
    }
    writer.close().map_err(perr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn test_parquet_round_trip_is_exact() {
        let id = InstrumentId::parse("BTCUSDT", "binance").unwrap();
        let bars: Vec<Bar> = (0..3)
            .map(|i| Bar {
                instrument: id,
                interval: Interval::M1,
                open_time: UnixNanos(1_700_000_040_000_000_000 + i * 60_000_000_000),
                open: "23140.48".parse().unwrap(),
                high: "23150.7".parse().unwrap(),
                low: "23128.52".parse().unwrap(),
                close: "23142.31".parse().unwrap(),
                volume: "2.131777".parse().unwrap(),
                trade_count: None,
                quote_volume: None,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.parquet");
        write_parquet(&bars, &path).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let rows: Vec<String> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().to_string())
            .collect();
        assert!(rows[0].contains("high: 23150.7,"), "{}", rows[0]);
        assert!(rows[0].contains("2.131777"), "{}", rows[0]);
    }

    #[test]
    fn test_csv_row_format() {
        let id = InstrumentId::parse("X", "sim").unwrap();
        let b = Bar {
            instrument: id,
            interval: Interval::M1,
            open_time: UnixNanos::parse("2024-01-01T00:00:00Z").unwrap(),
            open: "1.50".parse().unwrap(),
            high: "2".parse().unwrap(),
            low: "1".parse().unwrap(),
            close: "1.5".parse().unwrap(),
            volume: "0.000".parse().unwrap(),
            trade_count: None,
            quote_volume: None,
        };
        let mut out = Vec::new();
        write_csv_row(&mut out, &b).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-01-01T00:00:00Z,1.50,2,1,1.5,0.000\n"
        );
    }
}
