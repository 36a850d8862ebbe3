//! Top-of-book snapshots.

use tessera_core::TimeRange;
use tessera_model::{InstrumentId, Quote};

use crate::bars::InsertReport;
use crate::error::Result;
use crate::rows::QuoteRow;
use crate::store::{Store, on_pool};

impl Store {
    /// Store quotes idempotently per `(instrument, ts_event)`: an equal quote
    /// at a stored time is a duplicate; a different one a conflict (kept as
    /// stored). One transaction per call, batched statements.
    ///
    /// # Errors
    /// [`crate::Error::Model`] for a crossed book, [`crate::Error::NotFound`], [`crate::Error::Database`].
    pub async fn insert_quotes(&self, quotes: &[Quote]) -> Result<InsertReport> {
        for q in quotes {
            q.validate()?;
        }
        let mut keys = std::collections::BTreeMap::new();
        for q in quotes {
            if let std::collections::btree_map::Entry::Vacant(slot) = keys.entry(q.instrument) {
                slot.insert(self.instrument_key(&q.instrument).await?);
            }
        }
        let mut report = InsertReport::default();
        on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            for q in quotes {
                let key = keys[&q.instrument];
                let n = sqlx::query(
                    "INSERT INTO quotes (instrument_id, ts_event, bid_price, bid_size, ask_price, ask_size) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(key)
                .bind(q.ts_event.0)
                .bind(q.bid_price.to_string())
                .bind(q.bid_size.to_string())
                .bind(q.ask_price.to_string())
                .bind(q.ask_size.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    report.inserted += 1;
                    continue;
                }
                let stored: QuoteRow = sqlx::query_as(
                    "SELECT ts_event, bid_price, bid_size, ask_price, ask_size FROM quotes WHERE instrument_id = $1 AND ts_event = $2",
                )
                .bind(key)
                .bind(q.ts_event.0)
                .fetch_one(&mut *tx)
                .await?;
                if stored.into_domain(q.instrument)? == *q {
                    report.duplicate += 1;
                } else {
                    report.conflicting += 1;
                }
            }
            tx.commit().await?;
            Ok::<(), crate::Error>(())
        })?;
        Ok(report)
    }

    /// Quotes in `range`, ascending, at most `limit`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub async fn quotes_range(
        &self,
        id: &InstrumentId,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Quote>> {
        let key = self.instrument_key(id).await?;
        let rows: Vec<QuoteRow> = on_pool!(self, |p| {
            sqlx::query_as(
            "SELECT ts_event, bid_price, bid_size, ask_price, ask_size FROM quotes \
             WHERE instrument_id = $1 AND ts_event >= $2 AND ts_event < $3 ORDER BY ts_event LIMIT $4"
        )
        .bind(key)
        .bind(range.start.0)
        .bind(range.end.0)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(p)
        .await
        })?;
        rows.into_iter().map(|r| r.into_domain(*id)).collect()
    }

    /// The newest stored quote.
    ///
    /// # Errors
    /// As [`Store::quotes_range`].
    pub async fn latest_quote(&self, id: &InstrumentId) -> Result<Option<Quote>> {
        let key = self.instrument_key(id).await?;
        let row: Option<QuoteRow> = on_pool!(self, |p| sqlx::query_as(
            "SELECT ts_event, bid_price, bid_size, ask_price, ask_size FROM quotes \
             WHERE instrument_id = $1 ORDER BY ts_event DESC LIMIT 1"
        )
        .bind(key)
        .fetch_optional(p)
        .await)?;
        row.map(|r| r.into_domain(*id)).transpose()
    }

    /// Stored quote count for an instrument.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`], [`crate::Error::Database`].
    pub async fn quote_count(&self, id: &InstrumentId) -> Result<u64> {
        let key = self.instrument_key(id).await?;
        let n: i64 = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM quotes WHERE instrument_id = $1"
        )
        .bind(key)
        .fetch_one(p)
        .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
