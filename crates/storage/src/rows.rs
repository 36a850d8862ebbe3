//! Row shapes of the tables and their conversion to domain values.
//!
//! Rows are plain `sqlx::FromRow` structs (decoded the same way on both
//! backends); stored text is parsed with the domain parsers, so a value that
//! was tampered with surfaces as [`Error::Corrupt`] naming table and column,
//! never as a panic. These types stay private: transport shapes do not leak
//! into the domain.

use std::str::FromStr;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    Bar, Currency, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity, Quote,
    Symbol, Venue,
};

use crate::error::{Error, Result};

pub(crate) fn parse<T: FromStr>(place: &str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| Error::Corrupt {
        place: place.to_string(),
        reason: format!("{text:?}: {e}"),
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct InstrumentRow {
    pub(crate) id: i64,
    pub(crate) symbol: String,
    pub(crate) venue: String,
    pub(crate) kind: String,
    pub(crate) quote_currency: String,
    pub(crate) base_currency: Option<String>,
    pub(crate) tick_size: String,
    pub(crate) lot_size: String,
    pub(crate) min_quantity: String,
    pub(crate) multiplier: String,
    pub(crate) timezone: String,
    pub(crate) active: bool,
}

impl InstrumentRow {
    pub(crate) fn into_domain(self) -> Result<(i64, Instrument)> {
        let t = "instruments";
        let inst = Instrument {
            id: InstrumentId::new(
                parse::<Symbol>(&format!("{t}.symbol"), &self.symbol)?,
                parse::<Venue>(&format!("{t}.venue"), &self.venue)?,
            ),
            kind: parse::<InstrumentKind>(&format!("{t}.kind"), &self.kind)?,
            quote_currency: parse::<Currency>(
                &format!("{t}.quote_currency"),
                &self.quote_currency,
            )?,
            base_currency: self
                .base_currency
                .as_deref()
                .map(|c| parse::<Currency>(&format!("{t}.base_currency"), c))
                .transpose()?,
            tick_size: parse::<Price>(&format!("{t}.tick_size"), &self.tick_size)?,
            lot_size: parse::<Quantity>(&format!("{t}.lot_size"), &self.lot_size)?,
            min_quantity: parse::<Quantity>(&format!("{t}.min_quantity"), &self.min_quantity)?,
            multiplier: parse::<Decimal>(&format!("{t}.multiplier"), &self.multiplier)?,
            timezone: self.timezone,
            active: self.active,
        };
        Ok((self.id, inst))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BarRow {
    pub(crate) open_time: i64,
    pub(crate) open: String,
    pub(crate) high: String,
    pub(crate) low: String,
    pub(crate) close: String,
    pub(crate) volume: String,
    pub(crate) trade_count: Option<i64>,
    pub(crate) quote_volume: Option<String>,
}

impl BarRow {
    pub(crate) fn into_domain(self, instrument: InstrumentId, interval: Interval) -> Result<Bar> {
        Ok(Bar {
            instrument,
            interval,
            open_time: UnixNanos(self.open_time),
            open: parse("bars.open", &self.open)?,
            high: parse("bars.high", &self.high)?,
            low: parse("bars.low", &self.low)?,
            close: parse("bars.close", &self.close)?,
            volume: parse("bars.volume", &self.volume)?,
            trade_count: self
                .trade_count
                .map(|n| {
                    u64::try_from(n).map_err(|_| Error::Corrupt {
                        place: "bars.trade_count".into(),
                        reason: format!("{n} is negative"),
                    })
                })
                .transpose()?,
            quote_volume: self
                .quote_volume
                .as_deref()
                .map(|q| parse("bars.quote_volume", q))
                .transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct QuoteRow {
    pub(crate) ts_event: i64,
    pub(crate) bid_price: String,
    pub(crate) bid_size: String,
    pub(crate) ask_price: String,
    pub(crate) ask_size: String,
}

impl QuoteRow {
    pub(crate) fn into_domain(self, instrument: InstrumentId) -> Result<Quote> {
        Ok(Quote {
            instrument,
            ts_event: UnixNanos(self.ts_event),
            bid_price: parse("quotes.bid_price", &self.bid_price)?,
            bid_size: parse("quotes.bid_size", &self.bid_size)?,
            ask_price: parse("quotes.ask_price", &self.ask_price)?,
            ask_size: parse("quotes.ask_size", &self.ask_size)?,
        })
    }
}
