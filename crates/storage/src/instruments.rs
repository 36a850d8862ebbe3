//! The security master: add, read, list and remove instruments.

use serde::Serialize;
use tessera_model::{Instrument, InstrumentId, Symbol, Venue};

use crate::error::{Error, Result};
use crate::rows::InstrumentRow;
use crate::store::{Store, on_pool};

/// `SELECT` of every instrument column followed by `$tail` (a literal), as one `&'static str`.
macro_rules! select_instruments {
    ($tail:literal) => {
        concat!(
            "SELECT id, symbol, venue, kind, quote_currency, base_currency, tick_size, lot_size, ",
            "min_quantity, multiplier, timezone, active FROM instruments",
            $tail
        )
    };
}

/// What `remove_instrument` deleted with the instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    /// Bars deleted.
    pub bars: u64,
    /// Quotes deleted.
    pub quotes: u64,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Store {
    /// Add a new instrument.
    ///
    /// # Errors
    /// [`Error::Model`] when it breaks an invariant, [`Error::AlreadyExists`]
    /// when the symbol is already on that venue.
    pub async fn add_instrument(&self, inst: &Instrument) -> Result<()> {
        inst.validate()?;
        let now = self.now().0;
        let res = on_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO instruments (symbol, venue, kind, quote_currency, base_currency, tick_size, lot_size, \
             min_quantity, multiplier, timezone, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)"
        )
        .bind(inst.id.symbol.as_str())
        .bind(inst.id.venue.as_str())
        .bind(inst.kind.as_str())
        .bind(inst.quote_currency.as_str())
        .bind(inst.base_currency.map(|c| c.as_str()))
        .bind(inst.tick_size.to_string())
        .bind(inst.lot_size.to_string())
        .bind(inst.min_quantity.to_string())
        .bind(inst.multiplier.to_string())
        .bind(&inst.timezone)
        .bind(inst.active)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(Error::AlreadyExists(format!("instrument {}", inst.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Add an instrument or update every field of the stored one (collectors
    /// refresh tick and lot sizes from the venue's exchange info this way).
    ///
    /// # Errors
    /// [`Error::Model`] when it breaks an invariant, [`Error::Database`].
    pub async fn upsert_instrument(&self, inst: &Instrument) -> Result<()> {
        inst.validate()?;
        let now = self.now().0;
        on_pool!(self, |p| {
            sqlx::query(
            "INSERT INTO instruments (symbol, venue, kind, quote_currency, base_currency, tick_size, lot_size, \
             min_quantity, multiplier, timezone, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (venue, symbol) DO UPDATE SET kind = excluded.kind, quote_currency = excluded.quote_currency, \
             base_currency = excluded.base_currency, tick_size = excluded.tick_size, lot_size = excluded.lot_size, \
             min_quantity = excluded.min_quantity, multiplier = excluded.multiplier, timezone = excluded.timezone, \
             active = excluded.active, updated_at = excluded.updated_at"
        )
        .bind(inst.id.symbol.as_str())
        .bind(inst.id.venue.as_str())
        .bind(inst.kind.as_str())
        .bind(inst.quote_currency.as_str())
        .bind(inst.base_currency.map(|c| c.as_str()))
        .bind(inst.tick_size.to_string())
        .bind(inst.lot_size.to_string())
        .bind(inst.min_quantity.to_string())
        .bind(inst.multiplier.to_string())
        .bind(&inst.timezone)
        .bind(inst.active)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The instrument with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn instrument(&self, id: &InstrumentId) -> Result<Instrument> {
        self.instrument_with_key(id).await.map(|(_, i)| i)
    }

    pub(crate) async fn instrument_with_key(&self, id: &InstrumentId) -> Result<(i64, Instrument)> {
        let row: Option<InstrumentRow> = on_pool!(self, |p| sqlx::query_as(select_instruments!(
            " WHERE venue = $1 AND symbol = $2"
        ))
        .bind(id.venue.as_str())
        .bind(id.symbol.as_str())
        .fetch_optional(p)
        .await)?;
        row.ok_or_else(|| Error::NotFound(format!("instrument {id}")))?
            .into_domain()
    }

    /// The database key of an instrument (for tables that reference it).
    pub(crate) async fn instrument_key(&self, id: &InstrumentId) -> Result<i64> {
        let key: Option<i64> = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT id FROM instruments WHERE venue = $1 AND symbol = $2"
        )
        .bind(id.venue.as_str())
        .bind(id.symbol.as_str())
        .fetch_optional(p)
        .await)?;
        key.ok_or_else(|| Error::NotFound(format!("instrument {id}")))
    }

    /// Look an instrument up by symbol, on `venue` if given; without a venue
    /// the symbol must be listed on exactly one.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::Refused`] naming the venues when the symbol is ambiguous.
    pub async fn find_instrument(
        &self,
        symbol: Symbol,
        venue: Option<Venue>,
    ) -> Result<Instrument> {
        if let Some(v) = venue {
            return self.instrument(&InstrumentId::new(symbol, v)).await;
        }
        let matches: Vec<Instrument> = self
            .list_instruments()
            .await?
            .into_iter()
            .filter(|i| i.id.symbol == symbol)
            .collect();
        match matches.len() {
            0 => Err(Error::NotFound(format!(
                "instrument {symbol} (on any venue)"
            ))),
            1 => Ok(matches.into_iter().next().expect("one")),
            _ => Err(Error::Refused(format!(
                "{symbol} is listed on several venues ({}); pass --venue",
                matches
                    .iter()
                    .map(|i| i.id.venue.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Every instrument, ordered by venue then symbol.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_instruments(&self) -> Result<Vec<Instrument>> {
        let rows: Vec<InstrumentRow> = on_pool!(self, |p| sqlx::query_as(select_instruments!(
            " ORDER BY venue, symbol"
        ))
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|r| r.into_domain().map(|(_, i)| i))
            .collect()
    }

    /// Remove an instrument. Refused while bars or quotes are stored for it,
    /// unless `force`, which deletes them in the same transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Refused`].
    pub async fn remove_instrument(&self, id: &InstrumentId, force: bool) -> Result<RemoveReport> {
        let key = self.instrument_key(id).await?;
        on_pool!(self, |p| {
            let mut tx = p.begin_with(self.begin_write_sql()).await?;
            let bars: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM bars WHERE instrument_id = $1")
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
            let quotes: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM quotes WHERE instrument_id = $1")
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
            if (bars > 0 || quotes > 0) && !force {
                return Err(Error::Refused(format!(
                    "{id} has {bars} bars and {quotes} quotes stored; pass --force to delete them too"
                )));
            }
            for sql in [
                "DELETE FROM bars WHERE instrument_id = $1",
                "DELETE FROM quotes WHERE instrument_id = $1",
                "DELETE FROM ingest_cursors WHERE instrument_id = $1",
                "DELETE FROM instruments WHERE id = $1",
            ] {
                sqlx::query(sql).bind(key).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(RemoveReport {
                bars: u64::try_from(bars).unwrap_or(0),
                quotes: u64::try_from(quotes).unwrap_or(0),
            })
        })
    }
}
