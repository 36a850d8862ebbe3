//! Ingest cursors: per instrument and interval, the collector's state and the last stored open time.

use serde::Serialize;
use tessera_core::UnixNanos;
use tessera_model::{IngestState, InstrumentId, Interval, Symbol, Venue};

use crate::error::Result;
use crate::rows::parse;
use crate::store::{Store, on_pool};

/// A cursor as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestCursor {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Interval collected.
    pub interval: Interval,
    /// Collector state.
    pub state: IngestState,
    /// Open time of the newest bar stored by the collector; resume after it.
    pub last_open_time: Option<UnixNanos>,
    /// Why the collector failed or paused, when it did.
    pub last_error: Option<String>,
    /// When the cursor last changed.
    pub updated_at: UnixNanos,
}

/// A change to a cursor. `last_open_time` only ever moves forward: a
/// smaller or absent value keeps the stored one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorUpdate {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Interval.
    pub interval: Interval,
    /// New state.
    pub state: IngestState,
    /// Newest open time now stored, if it moved.
    pub last_open_time: Option<UnixNanos>,
    /// Reason for a failed or paused state; cleared otherwise.
    pub last_error: Option<String>,
}

pub(crate) const UPSERT: &str = "INSERT INTO ingest_cursors (instrument_id, interval, state, last_open_time, last_error, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (instrument_id, interval) DO UPDATE SET state = excluded.state, \
     last_open_time = CASE WHEN ingest_cursors.last_open_time IS NULL \
         OR excluded.last_open_time > ingest_cursors.last_open_time \
         THEN COALESCE(excluded.last_open_time, ingest_cursors.last_open_time) \
         ELSE ingest_cursors.last_open_time END, \
     last_error = excluded.last_error, updated_at = excluded.updated_at";

/// Upsert a cursor on any executor (a pool or an open transaction) of either backend.
/// A macro rather than a generic function: sqlx's executor bounds are not
/// general enough for the future to stay `Send` across backends.
macro_rules! upsert_cursor {
    ($exec:expr, $key:expr, $c:expr, $now:expr) => {
        sqlx::query($crate::cursors::UPSERT)
            .bind($key)
            .bind($c.interval.to_string())
            .bind($c.state.as_str().to_string())
            .bind($c.last_open_time.map(|t| t.0))
            .bind($c.last_error.clone())
            .bind($now.0)
            .execute($exec)
            .await
            .map(|_| ())
    };
}
pub(crate) use upsert_cursor;

#[derive(sqlx::FromRow)]
struct CursorRow {
    symbol: String,
    venue: String,
    interval: String,
    state: String,
    last_open_time: Option<i64>,
    last_error: Option<String>,
    updated_at: i64,
}

impl CursorRow {
    fn into_domain(self) -> Result<IngestCursor> {
        Ok(IngestCursor {
            instrument: InstrumentId::new(
                parse::<Symbol>("instruments.symbol", &self.symbol)?,
                parse::<Venue>("instruments.venue", &self.venue)?,
            ),
            interval: parse("ingest_cursors.interval", &self.interval)?,
            state: parse("ingest_cursors.state", &self.state)?,
            last_open_time: self.last_open_time.map(UnixNanos),
            last_error: self.last_error,
            updated_at: UnixNanos(self.updated_at),
        })
    }
}

const SELECT: &str = "SELECT i.symbol, i.venue, c.interval, c.state, c.last_open_time, c.last_error, c.updated_at \
     FROM ingest_cursors c JOIN instruments i ON i.id = c.instrument_id";

impl Store {
    /// Create or change a cursor (state changes without new bars: paused, failed, live).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for an unknown instrument, [`crate::Error::Database`].
    pub async fn update_cursor(&self, c: &CursorUpdate) -> Result<()> {
        let key = self.instrument_key(&c.instrument).await?;
        let now = self.now();
        on_pool!(self, |p| upsert_cursor!(p, key, c, now))?;
        Ok(())
    }

    /// The cursor of one instrument and interval, if a collector ever registered it.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub async fn cursor(
        &self,
        id: &InstrumentId,
        interval: Interval,
    ) -> Result<Option<IngestCursor>> {
        let row: Option<CursorRow> = on_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{SELECT} WHERE i.venue = $1 AND i.symbol = $2 AND c.interval = $3")
        ))
        .bind(id.venue.as_str())
        .bind(id.symbol.as_str())
        .bind(interval.to_string())
        .fetch_optional(p)
        .await)?;
        row.map(CursorRow::into_domain).transpose()
    }

    /// Every cursor, ordered by venue, symbol and interval.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Corrupt`].
    pub async fn list_cursors(&self) -> Result<Vec<IngestCursor>> {
        let rows: Vec<CursorRow> = on_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{SELECT} ORDER BY i.venue, i.symbol, c.interval")
        ))
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(CursorRow::into_domain).collect()
    }
}
