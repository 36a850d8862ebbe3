//! Round-trip trades built from fills.
//!
//! Each fill that opens or adds to a position opens a *lot*; fills in the
//! other direction close lots first in, first out, splitting a lot when only
//! part of it is closed. A closed lot is one [`TradeRecord`]. This is how
//! backtesting.py (without hedging) and most brokers' trade lists count.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_model::{Decimal, InstrumentId, Price, Quantity, Side};

use crate::error::{Error, Result};

/// One closed round trip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// The instrument.
    pub instrument: InstrumentId,
    /// `buy` for a long trade, `sell` for a short one.
    pub side: Side,
    /// Units (or contracts) held, positive.
    pub size: Quantity,
    /// Fill price of the entry.
    pub entry_price: Price,
    /// Fill price of the exit.
    pub exit_price: Price,
    /// When the entry filled.
    pub entry_time: UnixNanos,
    /// When the exit filled.
    pub exit_time: UnixNanos,
    /// Bar index (from 0 in the input) on which the entry filled.
    pub entry_bar: usize,
    /// Bar index on which the exit filled.
    pub exit_bar: usize,
    /// Net P&L in the quote currency: gross minus entry and exit commissions.
    #[serde(with = "rust_decimal::serde::str")]
    pub pnl: Decimal,
    /// Commissions of entry (pro rata for a split lot) and exit, in the quote currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub commission: Decimal,
    /// Return in percent of the entry value, net of commissions.
    pub return_pct: f64,
}

impl TradeRecord {
    /// Length in seconds.
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        self.exit_time.nanos_since(self.entry_time) as f64 / 1e9
    }

    /// Whether it was a long trade.
    #[must_use]
    pub fn is_long(&self) -> bool {
        self.side == Side::Buy
    }
}

/// An open lot.
#[derive(Clone, Debug)]
struct Lot {
    side: Side,
    size: Decimal,
    price: Price,
    time: UnixNanos,
    bar: usize,
    /// Entry commission still attributed to the remaining `size`.
    commission: Decimal,
}

/// Open lots per instrument and the round trips closed so far.
#[derive(Clone, Debug, Default)]
pub struct TradeBook {
    /// Per instrument (in order of first fill; few per book, so a list beats a map keyed by
    /// text): multiplier and open lots.
    open: Vec<(InstrumentId, Decimal, VecDeque<Lot>)>,
    closed: Vec<TradeRecord>,
}

impl TradeBook {
    /// An empty book.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Book one fill.
    ///
    /// `multiplier` is the contract multiplier of the instrument (1 for spot).
    ///
    /// # Errors
    /// [`Error::Input`] for a zero quantity or a zero entry price.
    #[allow(
        clippy::too_many_arguments,
        reason = "a fill's fields plus its bar index; a struct would only rename them"
    )]
    pub fn on_fill(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        quantity: Quantity,
        price: Price,
        commission: Decimal,
        time: UnixNanos,
        bar: usize,
        multiplier: Decimal,
    ) -> Result<()> {
        let mut left = quantity.as_decimal();
        if left.is_zero() {
            return Err(Error::Input(format!(
                "fill of zero quantity in {instrument}"
            )));
        }
        let total = left;
        let k = match self.open.iter().position(|(id, ..)| *id == instrument) {
            Some(k) => k,
            None => {
                self.open.push((instrument, multiplier, VecDeque::new()));
                self.open.len() - 1
            }
        };
        let (_, mult, lots) = &mut self.open[k];
        *mult = multiplier;
        while !left.is_zero() {
            let Some(front) = lots.front_mut() else { break };
            if front.side == side {
                break;
            }
            let closed = left.min(front.size);
            let entry_comm = if closed == front.size {
                front.commission
            } else {
                front.commission * closed / front.size
            };
            let exit_comm = commission * closed / total;
            let sign = if front.side == Side::Buy {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            let gross = (price.as_decimal() - front.price.as_decimal()) * closed * sign * *mult;
            let comm = entry_comm + exit_comm;
            let entry_value = closed * front.price.as_decimal() * *mult;
            if entry_value.is_zero() {
                return Err(Error::Input(format!(
                    "trade in {instrument} entered at price zero"
                )));
            }
            let ret = (gross - comm) / entry_value * Decimal::ONE_HUNDRED;
            self.closed.push(TradeRecord {
                instrument,
                side: front.side,
                size: Quantity::new(closed)?,
                entry_price: front.price,
                exit_price: price,
                entry_time: front.time,
                exit_time: time,
                entry_bar: front.bar,
                exit_bar: bar,
                pnl: gross - comm,
                commission: comm,
                return_pct: dec_f64(ret),
            });
            front.size -= closed;
            front.commission -= entry_comm;
            left -= closed;
            if front.size.is_zero() {
                lots.pop_front();
            }
        }
        if !left.is_zero() {
            lots.push_back(Lot {
                side,
                size: left,
                price,
                time,
                bar,
                commission: commission * left / total,
            });
        }
        Ok(())
    }

    /// Round trips closed so far, in closing order.
    #[must_use]
    pub fn closed(&self) -> &[TradeRecord] {
        &self.closed
    }

    /// Take the closed round trips.
    #[must_use]
    pub fn into_closed(self) -> Vec<TradeRecord> {
        self.closed
    }

    /// Number of lots still open across instruments.
    #[must_use]
    pub fn open_lots(&self) -> usize {
        self.open.iter().map(|(.., l)| l.len()).sum()
    }
}

/// The only `Decimal` → `f64` step of a trade: its return, a statistic.
fn dec_f64(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> InstrumentId {
        InstrumentId::parse("GOOG", "csv").unwrap()
    }
    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }
    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn test_trade_book_close_and_reverse() {
        let mut b = TradeBook::new();
        b.on_fill(
            id(),
            Side::Sell,
            q("59"),
            p("169.02"),
            d("19.94436"),
            UnixNanos(1),
            63,
            Decimal::ONE,
        )
        .unwrap();
        // Close the short and open a long in two fills, as close-and-reverse does.
        b.on_fill(
            id(),
            Side::Buy,
            q("59"),
            p("179.13"),
            d("21.13734"),
            UnixNanos(2),
            75,
            Decimal::ONE,
        )
        .unwrap();
        b.on_fill(
            id(),
            Side::Buy,
            q("52"),
            p("179.13"),
            d("18.62952"),
            UnixNanos(2),
            75,
            Decimal::ONE,
        )
        .unwrap();
        let t = &b.closed()[0];
        assert_eq!(t.side, Side::Sell);
        assert_eq!(t.commission, d("41.08170"));
        assert_eq!(t.pnl, d("-637.57170"));
        assert!((t.return_pct - -6.393503727369543).abs() < 1e-12);
        assert_eq!(b.open_lots(), 1);
    }

    #[test]
    fn test_trade_book_partial_close_splits_lot() {
        let mut b = TradeBook::new();
        b.on_fill(
            id(),
            Side::Buy,
            q("10"),
            p("100"),
            d("10"),
            UnixNanos(1),
            0,
            Decimal::ONE,
        )
        .unwrap();
        b.on_fill(
            id(),
            Side::Sell,
            q("4"),
            p("110"),
            d("0"),
            UnixNanos(2),
            1,
            Decimal::ONE,
        )
        .unwrap();
        b.on_fill(
            id(),
            Side::Sell,
            q("6"),
            p("90"),
            d("0"),
            UnixNanos(3),
            2,
            Decimal::ONE,
        )
        .unwrap();
        let c = b.closed();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].pnl, d("36"));
        assert_eq!(c[1].pnl, d("-66"));
        assert_eq!(b.open_lots(), 0);
        assert!(
            b.on_fill(
                id(),
                Side::Buy,
                q("0"),
                p("1"),
                d("0"),
                UnixNanos(4),
                3,
                Decimal::ONE
            )
            .is_err()
        );
    }

    #[test]
    fn test_trade_book_futures_multiplier() {
        let mut b = TradeBook::new();
        b.on_fill(
            id(),
            Side::Buy,
            q("2"),
            p("4000"),
            d("0"),
            UnixNanos(1),
            0,
            d("50"),
        )
        .unwrap();
        b.on_fill(
            id(),
            Side::Sell,
            q("2"),
            p("4010"),
            d("0"),
            UnixNanos(2),
            1,
            d("50"),
        )
        .unwrap();
        assert_eq!(b.closed()[0].pnl, d("1000"));
    }
}
