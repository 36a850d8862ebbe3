//! Bars: idempotent bulk insert, range reads with cursor pagination, latest bar, resampling.
//!
//! Insertion is idempotent per key `(instrument, interval, open_time)`: a
//! bar already stored with equal values (numerically equal: `1.5` = `1.50`)
//! is counted as a *duplicate* and left alone; a bar stored with *different*
//! values is a *conflict*, reported and kept as stored unless
//! [`InsertOptions::overwrite`] is set. Each call is one transaction, so a
//! crash leaves either all of it or none of it.
//!
//! New rows go in with each backend's fast path: multi-row prepared
//! `INSERT`s on SQLite, `COPY … FROM STDIN` on PostgreSQL.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;

use serde::Serialize;
use sqlx::{PgConnection, SqliteConnection};
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Bar, InstrumentId, Interval};

use crate::cursors::{CursorUpdate, upsert_cursor};
use crate::error::{Error, Result};
use crate::rows::BarRow;
use crate::store::{Store, on_pool};

/// Rows classified per existence check: one range query per chunk.
const CHUNK: usize = 20_000;
/// Rows per multi-row `INSERT` on SQLite (8 bound values each, well under SQLite's 32,766 limit).
const SQLITE_ROWS_PER_STATEMENT: usize = 2000;

/// How to treat bars that are already stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InsertOptions {
    /// Replace stored bars whose values differ (conflicts) instead of keeping them.
    pub overwrite: bool,
}

/// What an insert did, bar by bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InsertReport {
    /// New bars stored.
    pub inserted: u64,
    /// Bars already stored with the same values (and repeats within the input).
    pub duplicate: u64,
    /// Bars stored with different values at the same key.
    pub conflicting: u64,
    /// Of the conflicting bars, how many replaced the stored ones (with `overwrite`).
    pub overwritten: u64,
}

impl InsertReport {
    /// Add another report's counts.
    pub fn add(&mut self, other: &InsertReport) {
        self.inserted += other.inserted;
        self.duplicate += other.duplicate;
        self.conflicting += other.conflicting;
        self.overwritten += other.overwritten;
    }
}

/// One page of a range read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarPage {
    /// Bars in ascending open time.
    pub bars: Vec<Bar>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_cursor: Option<UnixNanos>,
}

/// The backend-specific part of bulk loading: store rows known to be new.
pub(crate) trait BulkBars {
    fn insert_new(
        &mut self,
        key: i64,
        interval: &str,
        bars: &[&Bar],
    ) -> impl Future<Output = Result<u64>> + Send;
}

impl BulkBars for SqliteConnection {
    async fn insert_new(&mut self, key: i64, interval: &str, bars: &[&Bar]) -> Result<u64> {
        // The instrument key and interval are the same for every row: written into the statement once
        // (an integer and a validated interval name, nothing user-controlled) instead of bound per row.
        let prefix = format!("({key}, '{interval}', ");
        let mut n = 0;
        for batch in bars.chunks(SQLITE_ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO bars (instrument_id, interval, open_time, open, high, low, close, volume, trade_count, quote_volume) VALUES ",
            );
            for (i, b) in batch.iter().enumerate() {
                if i > 0 {
                    qb.push(", ");
                }
                qb.push(&prefix);
                let mut row = qb.separated(", ");
                row.push_bind(b.open_time.0)
                    .push_bind(b.open.to_string())
                    .push_bind(b.high.to_string())
                    .push_bind(b.low.to_string())
                    .push_bind(b.close.to_string())
                    .push_bind(b.volume.to_string())
                    .push_bind(b.trade_count.map(|c| i64::try_from(c).unwrap_or(i64::MAX)))
                    .push_bind(b.quote_volume.map(|q| q.to_string()));
                row.push_unseparated(")");
            }
            // A concurrent writer may have stored some of these since we checked; never fail on that.
            qb.push(" ON CONFLICT DO NOTHING");
            n += qb.build().execute(&mut *self).await?.rows_affected();
        }
        Ok(n)
    }
}

impl BulkBars for PgConnection {
    async fn insert_new(&mut self, key: i64, interval: &str, bars: &[&Bar]) -> Result<u64> {
        // These keys were checked absent inside this transaction, so COPY goes straight into the
        // table. COPY cannot skip conflicts: if a concurrent writer stored one of them meanwhile,
        // the transaction fails with a unique violation and `insert_bars_with_cursor` retries it,
        // re-classifying against what is now stored.
        let mut copy = self
            .copy_in_raw(
                "COPY bars (instrument_id, interval, open_time, open, high, low, close, volume, trade_count, quote_volume) FROM STDIN",
            )
            .await?;
        let mut buf = String::with_capacity(1 << 20);
        for b in bars {
            // Values are decimals, integers and interval names: no tabs, newlines or backslashes to escape.
            let _ = writeln!(
                buf,
                "{key}\t{interval}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                b.open_time.0,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.trade_count
                    .map_or_else(|| "\\N".to_string(), |c| c.to_string()),
                b.quote_volume
                    .map_or_else(|| "\\N".to_string(), |q| q.to_string()),
            );
            if buf.len() > (1 << 20) - 512 {
                copy.send(buf.as_bytes()).await?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        Ok(copy.finish().await?)
    }
}

/// Group input by (instrument, interval), sort by open time and fold repeats within the input.
fn group_input(
    bars: &[Bar],
    overwrite: bool,
    report: &mut InsertReport,
) -> Result<BTreeMap<(InstrumentId, Interval), Vec<Bar>>> {
    let mut groups: BTreeMap<(InstrumentId, Interval), BTreeMap<i64, Bar>> = BTreeMap::new();
    for b in bars {
        b.validate().map_err(|e| match e {
            tessera_model::Error::Invariant { reason, .. } => tessera_model::Error::Invariant {
                what: "bar",
                reason: format!(
                    "{} {} at {}: {reason}",
                    b.instrument, b.interval, b.open_time
                ),
            },
            other => other,
        })?;
        let g = groups.entry((b.instrument, b.interval)).or_default();
        match g.get(&b.open_time.0) {
            None => {
                g.insert(b.open_time.0, *b);
            }
            Some(prev) if prev.same_values(b) => report.duplicate += 1,
            Some(_) => {
                report.conflicting += 1;
                if overwrite {
                    report.overwritten += 1;
                    g.insert(b.open_time.0, *b);
                }
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect())
}

macro_rules! insert_in_tx {
    ($store:expr, $pool:ident, $bars:expr, $opts:expr, $cursor:expr) => {async {
        let mut report = InsertReport::default();
        let groups = group_input($bars, $opts.overwrite, &mut report)?;
        let mut keys = BTreeMap::new();
        for (id, _) in groups.keys() {
            if let std::collections::btree_map::Entry::Vacant(slot) = keys.entry(*id) {
                slot.insert($store.instrument_key(id).await?);
            }
        }
        let mut tx = $pool.begin_with($store.begin_write_sql()).await?;
        for ((id, interval), rows) in &groups {
            let key = keys[id];
            let iv = interval.to_string();
            for chunk in rows.chunks(CHUNK) {
                let first = chunk[0].open_time.0;
                let last = chunk[chunk.len() - 1].open_time.0;
                let stored: Vec<BarRow> = sqlx::query_as(
                    "SELECT open_time, open, high, low, close, volume, trade_count, quote_volume FROM bars \
                     WHERE instrument_id = $1 AND interval = $2 AND open_time >= $3 AND open_time <= $4",
                )
                .bind(key)
                .bind(&iv)
                .bind(first)
                .bind(last)
                .fetch_all(&mut *tx)
                .await?;
                let mut stored_by_time = BTreeMap::new();
                for r in stored {
                    stored_by_time.insert(r.open_time, r.into_domain(*id, *interval)?);
                }
                let mut fresh: Vec<&Bar> = Vec::with_capacity(chunk.len());
                let mut replace: Vec<&Bar> = Vec::new();
                for b in chunk {
                    match stored_by_time.get(&b.open_time.0) {
                        None => fresh.push(b),
                        Some(s) if s.same_values(b) => report.duplicate += 1,
                        Some(_) => {
                            report.conflicting += 1;
                            if $opts.overwrite {
                                report.overwritten += 1;
                                replace.push(b);
                            }
                        }
                    }
                }
                if !fresh.is_empty() {
                    let n = BulkBars::insert_new(&mut *tx, key, &iv, &fresh).await?;
                    // Rows a concurrent writer stored in between are duplicates from our point of view.
                    report.inserted += n;
                    report.duplicate += fresh.len() as u64 - n;
                }
                for b in replace {
                    sqlx::query(
                        "UPDATE bars SET open = $4, high = $5, low = $6, close = $7, volume = $8, trade_count = $9, \
                         quote_volume = $10 WHERE instrument_id = $1 AND interval = $2 AND open_time = $3",
                    )
                    .bind(key)
                    .bind(&iv)
                    .bind(b.open_time.0)
                    .bind(b.open.to_string())
                    .bind(b.high.to_string())
                    .bind(b.low.to_string())
                    .bind(b.close.to_string())
                    .bind(b.volume.to_string())
                    .bind(b.trade_count.map(|c| i64::try_from(c).unwrap_or(i64::MAX)))
                    .bind(b.quote_volume.map(|q| q.to_string()))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        if let Some(c) = $cursor {
            let key = match keys.get(&c.instrument) {
                Some(k) => *k,
                None => $store.instrument_key(&c.instrument).await?,
            };
            upsert_cursor!(&mut *tx, key, c, $store.now())?;
        }
        tx.commit().await?;
        Ok::<InsertReport, Error>(report)
    }.await};
}

impl Store {
    /// Store bars idempotently (see the module docs); bars may mix instruments and intervals.
    ///
    /// # Errors
    /// [`Error::Model`] when a bar breaks an invariant (nothing is stored then),
    /// [`Error::NotFound`] for an unknown instrument, [`Error::Database`].
    pub async fn insert_bars(&self, bars: &[Bar], opts: InsertOptions) -> Result<InsertReport> {
        self.insert_bars_with_cursor(bars, opts, None).await
    }

    /// Store bars and move an ingest cursor **in the same transaction**, so a
    /// collector killed at any moment resumes exactly where the stored data ends.
    ///
    /// # Errors
    /// As [`Store::insert_bars`].
    pub async fn insert_bars_with_cursor(
        &self,
        bars: &[Bar],
        opts: InsertOptions,
        cursor: Option<&CursorUpdate>,
    ) -> Result<InsertReport> {
        let mut attempt = 0;
        loop {
            let res: Result<InsertReport> = match &self.pool {
                crate::store::Pool::Sqlite(p) => insert_in_tx!(self, p, bars, opts, cursor),
                crate::store::Pool::Postgres(p) => insert_in_tx!(self, p, bars, opts, cursor),
            };
            match res {
                Err(Error::Database(e))
                    if attempt < 3
                        && e.as_database_error()
                            .is_some_and(|d| d.is_unique_violation()) =>
                {
                    attempt += 1;
                    tracing::debug!(attempt, "concurrent bar insert raced us; retrying");
                }
                other => return other,
            }
        }
    }

    /// One page of bars in `range`, ascending, at most `limit`, starting after `after` when given.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown instrument, [`Error::Database`], [`Error::Corrupt`].
    pub async fn bars_page(
        &self,
        id: &InstrumentId,
        interval: Interval,
        range: TimeRange,
        limit: usize,
        after: Option<UnixNanos>,
    ) -> Result<BarPage> {
        let key = self.instrument_key(id).await?;
        let start = match after {
            Some(a) => range.start.max(UnixNanos(a.0.saturating_add(1))),
            None => range.start,
        };
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let rows: Vec<BarRow> = on_pool!(self, |p| {
            sqlx::query_as(
            "SELECT open_time, open, high, low, close, volume, trade_count, quote_volume FROM bars \
             WHERE instrument_id = $1 AND interval = $2 AND open_time >= $3 AND open_time < $4 \
             ORDER BY open_time LIMIT $5"
        )
        .bind(key)
        .bind(interval.to_string())
        .bind(start.0)
        .bind(range.end.0)
        .bind(fetch)
        .fetch_all(p)
        .await
        })?;
        let more = rows.len() > limit;
        let bars = rows
            .into_iter()
            .take(limit)
            .map(|r| r.into_domain(*id, interval))
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if more {
            bars.last().map(|b| b.open_time)
        } else {
            None
        };
        Ok(BarPage { bars, next_cursor })
    }

    /// Every bar in `range`, ascending (pages through internally).
    ///
    /// # Errors
    /// As [`Store::bars_page`].
    pub async fn bars_range(
        &self,
        id: &InstrumentId,
        interval: Interval,
        range: TimeRange,
    ) -> Result<Vec<Bar>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.bars_page(id, interval, range, 100_000, after).await?;
            out.extend(page.bars);
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The newest stored bar.
    ///
    /// # Errors
    /// As [`Store::bars_page`].
    pub async fn latest_bar(&self, id: &InstrumentId, interval: Interval) -> Result<Option<Bar>> {
        self.edge_bar(id, interval, true).await
    }

    /// The oldest stored bar.
    ///
    /// # Errors
    /// As [`Store::bars_page`].
    pub async fn first_bar(&self, id: &InstrumentId, interval: Interval) -> Result<Option<Bar>> {
        self.edge_bar(id, interval, false).await
    }

    async fn edge_bar(
        &self,
        id: &InstrumentId,
        interval: Interval,
        newest: bool,
    ) -> Result<Option<Bar>> {
        let key = self.instrument_key(id).await?;
        let sql = if newest {
            "SELECT open_time, open, high, low, close, volume, trade_count, quote_volume FROM bars \
             WHERE instrument_id = $1 AND interval = $2 ORDER BY open_time DESC LIMIT 1"
        } else {
            "SELECT open_time, open, high, low, close, volume, trade_count, quote_volume FROM bars \
             WHERE instrument_id = $1 AND interval = $2 ORDER BY open_time ASC LIMIT 1"
        };
        let row: Option<BarRow> = on_pool!(self, |p| sqlx::query_as(sql)
            .bind(key)
            .bind(interval.to_string())
            .fetch_optional(p)
            .await)?;
        row.map(|r| r.into_domain(*id, interval)).transpose()
    }

    /// Number of stored bars for an instrument and interval.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn bar_count(&self, id: &InstrumentId, interval: Interval) -> Result<u64> {
        let key = self.instrument_key(id).await?;
        let n: i64 = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM bars WHERE instrument_id = $1 AND interval = $2"
        )
        .bind(key)
        .bind(interval.to_string())
        .fetch_one(p)
        .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The intervals for which bars of `id` are stored.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`], [`Error::Corrupt`].
    pub async fn bar_intervals(&self, id: &InstrumentId) -> Result<Vec<Interval>> {
        let key = self.instrument_key(id).await?;
        let rows: Vec<String> = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT DISTINCT interval FROM bars WHERE instrument_id = $1"
        )
        .bind(key)
        .fetch_all(p)
        .await)?;
        let mut out = rows
            .iter()
            .map(|s| crate::rows::parse::<Interval>("bars.interval", s))
            .collect::<Result<Vec<_>>>()?;
        out.sort();
        Ok(out)
    }

    /// Bars of `target` interval built from stored `source` bars in `range`
    /// (aggregation rules in [`tessera_model::resample`]). The range is widened
    /// to whole `target` intervals so the first and last buckets are complete
    /// where the data is.
    ///
    /// # Errors
    /// [`Error::Model`] when `target` is not a multiple of `source`, and as [`Store::bars_page`].
    pub async fn resampled_bars(
        &self,
        id: &InstrumentId,
        source: Interval,
        target: Interval,
        range: TimeRange,
    ) -> Result<Vec<Bar>> {
        if !target.is_multiple_of(&source) {
            return Err(Error::Model(tessera_model::Error::Invariant {
                what: "resample",
                reason: format!("{target} bars cannot be built from {source} bars"),
            }));
        }
        let start = if range.start == UnixNanos::MIN {
            range.start
        } else {
            target.floor(range.start)
        };
        let end = if range.end == UnixNanos::MAX {
            range.end
        } else {
            let f = target.floor(range.end);
            if f == range.end { f } else { target.next(f) }
        };
        let bars = self
            .bars_range(id, source, TimeRange { start, end })
            .await?;
        Ok(tessera_model::resample::resample(&bars, target)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_group_input_folds_repeats() {
        let id = InstrumentId::parse("X", "sim").unwrap();
        let b = |m: i64, c: &str| Bar {
            instrument: id,
            interval: Interval::M1,
            open_time: UnixNanos(m * 60_000_000_000),
            open: "1".parse().unwrap(),
            high: "3".parse().unwrap(),
            low: "1".parse().unwrap(),
            close: c.parse().unwrap(),
            volume: "1".parse().unwrap(),
            trade_count: None,
            quote_volume: None,
        };
        let mut r = InsertReport::default();
        let g = group_input(
            &[b(2, "2"), b(1, "2"), b(2, "2.0"), b(2, "3")],
            false,
            &mut r,
        )
        .unwrap();
        assert_eq!(r.duplicate, 1);
        assert_eq!(r.conflicting, 1);
        let rows = &g[&(id, Interval::M1)];
        assert_eq!(rows.len(), 2);
        assert!(rows[0].open_time < rows[1].open_time);
        assert_eq!(rows[1].close.to_string(), "2");
    }
}
