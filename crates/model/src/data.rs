//! Market data records: bars, top-of-book quotes and trade ticks.

use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;

use crate::error::{Result, invariant};
use crate::identifiers::{InstrumentId, TradeId};
use crate::interval::Interval;
use crate::numbers::{Price, Quantity};
use crate::order::Side;

/// One OHLCV candle.
///
/// Keyed by its **open** time, as venues publish it, but a bar is only
/// known once it has closed: strategies receive it at [`Bar::close_time`]
/// and must never act on it earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Its length.
    pub interval: Interval,
    /// Start of the interval (inclusive).
    pub open_time: UnixNanos,
    /// First traded price.
    pub open: Price,
    /// Highest traded price.
    pub high: Price,
    /// Lowest traded price.
    pub low: Price,
    /// Last traded price.
    pub close: Price,
    /// Traded quantity in base units (shares, contracts, coins).
    pub volume: Quantity,
    /// Number of trades, when the source reports it.
    pub trade_count: Option<u64>,
    /// Traded value in the quote currency, when the source reports it.
    pub quote_volume: Option<Quantity>,
}

impl Bar {
    /// End of the interval (exclusive): the moment the bar becomes known.
    #[must_use]
    #[inline]
    pub fn close_time(&self) -> UnixNanos {
        self.interval.next(self.open_time)
    }

    /// Check the OHLC invariants: `low ≤ open, close ≤ high`, and the open time on the interval grid.
    ///
    /// # Errors
    /// [`crate::Error::Invariant`] naming the broken rule and the values.
    pub fn validate(&self) -> Result<()> {
        let max_oc = self.open.max(self.close);
        let min_oc = self.open.min(self.close);
        if self.high < max_oc {
            return Err(invariant(
                "bar",
                format!(
                    "high {} is below max(open {}, close {})",
                    self.high, self.open, self.close
                ),
            ));
        }
        if self.low > min_oc {
            return Err(invariant(
                "bar",
                format!(
                    "low {} is above min(open {}, close {})",
                    self.low, self.open, self.close
                ),
            ));
        }
        if !self.interval.is_aligned(self.open_time) {
            return Err(invariant(
                "bar",
                format!(
                    "open time {} is not aligned to {}",
                    self.open_time, self.interval
                ),
            ));
        }
        Ok(())
    }

    /// Whether two bars carry the same values (same key assumed); used to tell a duplicate from a conflict.
    #[must_use]
    pub fn same_values(&self, other: &Bar) -> bool {
        self.open == other.open
            && self.high == other.high
            && self.low == other.low
            && self.close == other.close
            && self.volume == other.volume
            && self.trade_count == other.trade_count
            && self.quote_volume == other.quote_volume
    }
}

/// Top of book at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The instrument.
    pub instrument: InstrumentId,
    /// When the venue produced it.
    pub ts_event: UnixNanos,
    /// Best bid.
    pub bid_price: Price,
    /// Quantity at the best bid.
    pub bid_size: Quantity,
    /// Best ask.
    pub ask_price: Price,
    /// Quantity at the best ask.
    pub ask_size: Quantity,
}

impl Quote {
    /// A crossed book (`bid > ask`) is refused; a locked one (`bid == ask`) is allowed.
    ///
    /// # Errors
    /// [`crate::Error::Invariant`].
    pub fn validate(&self) -> Result<()> {
        if self.bid_price > self.ask_price {
            return Err(invariant(
                "quote",
                format!("bid {} above ask {}", self.bid_price, self.ask_price),
            ));
        }
        Ok(())
    }

    /// `(bid + ask) / 2`, exact.
    #[must_use]
    pub fn mid(&self) -> rust_decimal::Decimal {
        (self.bid_price.as_decimal() + self.ask_price.as_decimal()) / rust_decimal::Decimal::TWO
    }
}

/// One trade print.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The instrument.
    pub instrument: InstrumentId,
    /// When it happened.
    pub ts_event: UnixNanos,
    /// Execution price.
    pub price: Price,
    /// Executed quantity.
    pub size: Quantity,
    /// Side of the taker, when known.
    pub aggressor: Option<Side>,
    /// The venue's trade id.
    pub trade_id: TradeId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(o: &str, h: &str, l: &str, c: &str) -> Bar {
        Bar {
            instrument: InstrumentId::parse("BTCUSDT", "binance").unwrap(),
            interval: Interval::M1,
            open_time: UnixNanos::parse("2024-01-01T00:01:00Z").unwrap(),
            open: Price::parse(o).unwrap(),
            high: Price::parse(h).unwrap(),
            low: Price::parse(l).unwrap(),
            close: Price::parse(c).unwrap(),
            volume: Quantity::parse("1.5").unwrap(),
            trade_count: Some(3),
            quote_volume: None,
        }
    }

    #[test]
    fn test_bar_validate() {
        assert!(bar("10", "12", "9", "11").validate().is_ok());
        let e = bar("10", "10.5", "9", "11")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("high 10.5"), "{e}");
        assert!(bar("10", "12", "10.5", "11").validate().is_err());
        let mut b = bar("10", "12", "9", "11");
        b.open_time = UnixNanos(b.open_time.0 + 1);
        assert!(b.validate().unwrap_err().to_string().contains("aligned"));
    }

    #[test]
    fn test_bar_close_time() {
        let b = bar("10", "12", "9", "11");
        assert_eq!(
            b.close_time(),
            UnixNanos::parse("2024-01-01T00:02:00Z").unwrap()
        );
    }
}

crate::order::text_enum!(
    /// Where a collector stands for one instrument and interval.
    IngestState, "ingest state" {
        /// Registered; nothing collected yet.
        Created = "created",
        /// Catching up on history.
        Backfilling = "backfilling",
        /// Caught up and following the live stream.
        Live = "live",
        /// Stopped on purpose.
        Paused = "paused",
        /// Stopped by an error (the reason is stored with the cursor).
        Failed = "failed",
    }
);
