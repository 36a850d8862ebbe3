//! Finding missing candles in stored series (24/7 calendar for now).

use serde::Serialize;
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{InstrumentId, Interval};
use tessera_storage::Store;

use crate::error::Result;

/// A run of missing candles: every open time in `[start, end)` on the grid is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// First missing open time.
    pub start: UnixNanos,
    /// Open time of the next stored candle (exclusive end).
    pub end: UnixNanos,
    /// Number of missing candles.
    pub missing: u64,
}

/// Candles per page when scanning.
const PAGE: usize = 50_000;

/// Missing stretches between the first and last stored candle of `id`/`interval` within `range`.
///
/// # Errors
/// The store's errors.
pub async fn find_gaps(
    store: &Store,
    id: &InstrumentId,
    interval: Interval,
    range: TimeRange,
) -> Result<Vec<Gap>> {
    let mut gaps = Vec::new();
    let mut prev: Option<UnixNanos> = None;
    let mut after = None;
    loop {
        let page = store.bars_page(id, interval, range, PAGE, after).await?;
        for b in &page.bars {
            if let Some(p) = prev {
                let expected = interval.next(p);
                if b.open_time > expected {
                    gaps.push(Gap {
                        start: expected,
                        end: b.open_time,
                        missing: count_between(interval, expected, b.open_time),
                    });
                }
            }
            prev = Some(b.open_time);
        }
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(gaps)
}

/// Grid points in `[start, end)`.
fn count_between(interval: Interval, start: UnixNanos, end: UnixNanos) -> u64 {
    match interval.duration_nanos() {
        Some(d) => u64::try_from((end.0 - start.0) / d).unwrap_or(0),
        None => {
            let mut n = 0;
            let mut t = start;
            while t < end {
                n += 1;
                t = interval.next(t);
            }
            n
        }
    }
}
