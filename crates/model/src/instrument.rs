//! The security master: what an instrument is and how it trades.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, invariant};
use crate::identifiers::{Currency, InstrumentId};
use crate::numbers::{Price, Quantity};
use crate::order::text_enum;

text_enum!(
    /// The asset class, which decides defaults and which fields apply.
    InstrumentKind, "instrument kind" {
        /// A share.
        Equity = "equity",
        /// A futures contract (has a multiplier).
        Future = "future",
        /// A crypto spot pair (has a base asset).
        Crypto = "crypto",
        /// A currency pair (has a base currency).
        Fx = "fx",
    }
);

/// Quote assets recognised when splitting a crypto pair like `BTCUSDT`,
/// longest first so `USDT` wins over `USD`.
const CRYPTO_QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USD", "EUR", "GBP", "TRY", "BRL", "JPY", "BTC",
    "ETH", "BNB",
];

impl InstrumentKind {
    /// Whether instruments of this kind name a base currency.
    #[must_use]
    pub fn has_base_currency(&self) -> bool {
        matches!(self, Self::Crypto | Self::Fx)
    }
}

/// One tradable instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Symbol and venue.
    pub id: InstrumentId,
    /// Asset class.
    pub kind: InstrumentKind,
    /// Currency prices are quoted in.
    pub quote_currency: Currency,
    /// Asset bought or sold for crypto and FX pairs.
    pub base_currency: Option<Currency>,
    /// Smallest price increment; its decimals are the price precision.
    pub tick_size: Price,
    /// Quantity increment.
    pub lot_size: Quantity,
    /// Smallest order quantity.
    pub min_quantity: Quantity,
    /// Value of one point per contract (futures); 1 otherwise.
    #[serde(with = "rust_decimal::serde::str")]
    pub multiplier: Decimal,
    /// IANA time zone of the exchange (`America/New_York`, `UTC`).
    pub timezone: String,
    /// Whether it is still traded and collected.
    pub active: bool,
}

impl Instrument {
    /// An instrument with the defaults of its kind, guessing currencies from the symbol:
    ///
    /// | kind | currency | tick | lot | time zone |
    /// |---|---|---|---|---|
    /// | equity | USD | 0.01 | 1 | America/New_York |
    /// | future | USD | 0.01 | 1 | America/Chicago |
    /// | crypto | quote asset of the pair (`BTCUSDT` → USDT, base BTC) | 0.00000001 | 0.00000001 | UTC |
    /// | fx | last three letters (`EURUSD` → USD, base EUR) | 0.00001 | 1 | UTC |
    ///
    /// # Errors
    /// [`Error::Parse`] when a crypto or FX symbol cannot be split into base and quote.
    pub fn with_defaults(id: InstrumentId, kind: InstrumentKind) -> Result<Self> {
        let usd = Currency::new("USD")?;
        let sym = id.symbol.as_str().replace(['/', '-', '_'], "");
        let (quote, base, tick, lot, tz) = match kind {
            InstrumentKind::Equity => (usd, None, "0.01", "1", "America/New_York"),
            InstrumentKind::Future => (usd, None, "0.01", "1", "America/Chicago"),
            InstrumentKind::Crypto => {
                let q = CRYPTO_QUOTES
                    .iter()
                    .find(|q| sym.len() > q.len() && sym.ends_with(*q))
                    .ok_or_else(|| Error::Parse {
                        what: "crypto pair",
                        input: id.symbol.to_string(),
                        reason: format!(
                            "cannot tell its quote asset (known: {}); pass --currency",
                            CRYPTO_QUOTES.join(", ")
                        ),
                    })?;
                let base = Currency::new(&sym[..sym.len() - q.len()])?;
                (
                    Currency::new(q)?,
                    Some(base),
                    "0.00000001",
                    "0.00000001",
                    "UTC",
                )
            }
            InstrumentKind::Fx => {
                if sym.len() != 6 {
                    return Err(Error::Parse {
                        what: "fx pair",
                        input: id.symbol.to_string(),
                        reason: "expected six letters like EURUSD".into(),
                    });
                }
                (
                    Currency::new(&sym[3..])?,
                    Some(Currency::new(&sym[..3])?),
                    "0.00001",
                    "1",
                    "UTC",
                )
            }
        };
        let lot = Quantity::parse(lot)?;
        Ok(Self {
            id,
            kind,
            quote_currency: quote,
            base_currency: base,
            tick_size: Price::parse(tick)?,
            lot_size: lot,
            min_quantity: lot,
            multiplier: Decimal::ONE,
            timezone: tz.to_string(),
            active: true,
        })
    }

    /// Decimals of the tick size, i.e. how many decimals prices carry.
    #[must_use]
    pub fn price_precision(&self) -> u32 {
        self.tick_size.as_decimal().normalize().scale()
    }

    /// Decimals of the lot size.
    #[must_use]
    pub fn size_precision(&self) -> u32 {
        self.lot_size.as_decimal().normalize().scale()
    }

    /// Check the invariants of the security master.
    ///
    /// # Errors
    /// [`Error::Invariant`] naming the field and the rule.
    pub fn validate(&self) -> Result<()> {
        if self.tick_size.as_decimal() <= Decimal::ZERO {
            return Err(invariant(
                "instrument",
                format!("tick size {} must be positive", self.tick_size),
            ));
        }
        if self.lot_size.is_zero() {
            return Err(invariant("instrument", "lot size must be positive"));
        }
        if self.multiplier <= Decimal::ZERO {
            return Err(invariant(
                "instrument",
                format!("multiplier {} must be positive", self.multiplier),
            ));
        }
        if self.kind != InstrumentKind::Future && self.multiplier != Decimal::ONE {
            return Err(invariant(
                "instrument",
                format!("a multiplier applies to futures only, not {}", self.kind),
            ));
        }
        if !self.kind.has_base_currency() && self.base_currency.is_some() {
            return Err(invariant(
                "instrument",
                format!(
                    "a base currency applies to crypto and fx only, not {}",
                    self.kind
                ),
            ));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invariant(
                "instrument",
                format!(
                    "time zone {:?} is not an IANA name like America/New_York",
                    self.timezone
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_crypto_defaults_split_pair() {
        let i = Instrument::with_defaults(
            InstrumentId::parse("btcusdt", "binance").unwrap(),
            InstrumentKind::Crypto,
        )
        .unwrap();
        assert_eq!(i.quote_currency.as_str(), "USDT");
        assert_eq!(i.base_currency.unwrap().as_str(), "BTC");
        assert_eq!(i.price_precision(), 8);
        i.validate().unwrap();
        assert!(
            Instrument::with_defaults(
                InstrumentId::parse("XYZ", "binance").unwrap(),
                InstrumentKind::Crypto
            )
            .is_err()
        );
    }

    #[test]
    fn test_validate_rules() {
        let mut i = Instrument::with_defaults(
            InstrumentId::parse("AAPL", "nasdaq").unwrap(),
            InstrumentKind::Equity,
        )
        .unwrap();
        i.validate().unwrap();
        i.multiplier = Decimal::TEN;
        assert!(
            i.validate()
                .unwrap_err()
                .to_string()
                .contains("futures only")
        );
        i.multiplier = Decimal::ONE;
        i.timezone = "Mars/Olympus".into();
        assert!(i.validate().unwrap_err().to_string().contains("IANA"));
        let fx = Instrument::with_defaults(
            InstrumentId::parse("EURUSD", "oanda").unwrap(),
            InstrumentKind::Fx,
        )
        .unwrap();
        assert_eq!(fx.base_currency.unwrap().as_str(), "EUR");
        assert_eq!(fx.quote_currency.as_str(), "USD");
    }
}
