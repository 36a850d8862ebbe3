//! Newtype identifiers: never bare strings where a symbol, venue or order id is meant.
//!
//! Symbols, venues and currencies are interned (`Ustr`) so bars and quotes
//! that carry them stay `Copy` and cheap in hot loops.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use ustr::Ustr;

use crate::error::{Error, Result};

fn check_token(
    what: &'static str,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<()> {
    let parse = |reason: String| Error::Parse {
        what,
        input: s.to_string(),
        reason,
    };
    if s.is_empty() {
        return Err(parse("must not be empty".into()));
    }
    if s.len() > max {
        return Err(parse(format!("longer than {max} characters")));
    }
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(parse(format!("character {c:?} is not allowed")));
    }
    Ok(())
}

macro_rules! interned_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr, $allowed:expr, $normalise:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Ustr);

        impl $name {
            /// Validate and intern.
            ///
            /// # Errors
            /// [`Error::Parse`] when empty, too long or holding a forbidden character.
            pub fn new(s: &str) -> Result<Self> {
                let normalise: fn(&str) -> String = $normalise;
                let s = normalise(s.trim());
                check_token($what, &s, $max, $allowed)?;
                Ok(Self(Ustr::from(&s)))
            }

            /// The text of this id.
            #[must_use]
            pub fn as_str(&self) -> &'static str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.as_str().to_string()
            }
        }
    };
}

interned_id!(
    /// A ticker as the venue writes it (`BTCUSDT`, `AAPL`, `ES`, `EURUSD`, `BRK.B`).
    /// Upper-cased so `btcusdt` and `BTCUSDT` are the same instrument.
    Symbol, "symbol", 64,
    |c| c.is_ascii_alphanumeric() || "._-/:=^".contains(c),
    |s| s.to_ascii_uppercase()
);
interned_id!(
    /// A venue name, lower case (`binance`, `sim`, `nasdaq`, `moex`).
    Venue, "venue", 32,
    |c| c.is_ascii_alphanumeric() || "_-.".contains(c),
    |s| s.to_ascii_lowercase()
);
interned_id!(
    /// A currency or asset code, upper case (`USD`, `USDT`, `BTC`, `RUB`).
    Currency, "currency", 16,
    |c| c.is_ascii_alphanumeric(),
    |s| s.to_ascii_uppercase()
);

/// An instrument's identity: its symbol on a venue (`BTCUSDT.binance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstrumentId {
    /// Ticker on the venue.
    pub symbol: Symbol,
    /// Where it trades.
    pub venue: Venue,
}

impl InstrumentId {
    /// Combine a symbol and a venue.
    #[must_use]
    pub const fn new(symbol: Symbol, venue: Venue) -> Self {
        Self { symbol, venue }
    }

    /// Parse both parts from text.
    ///
    /// # Errors
    /// [`Error::Parse`] when either part is invalid.
    pub fn parse(symbol: &str, venue: &str) -> Result<Self> {
        Ok(Self::new(Symbol::new(symbol)?, Venue::new(venue)?))
    }
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.symbol, self.venue)
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(CompactString);

        impl $name {
            /// Validate.
            ///
            /// # Errors
            /// [`Error::Parse`] when empty, longer than 64 characters or holding
            /// whitespace or control characters.
            pub fn new(s: &str) -> Result<Self> {
                check_token($what, s, 64, |c| !c.is_whitespace() && !c.is_control())?;
                Ok(Self(CompactString::new(s)))
            }

            /// `{prefix}{sep}{n}` (`sma_cross-42`), without going through
            /// `format!` or the heap: order ids are made on the backtest's hot path.
            ///
            /// # Errors
            /// As [`Self::new`].
            pub fn numbered(prefix: &str, sep: char, n: u64) -> Result<Self> {
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(n);
                let mut sep_buf = [0; 4];
                let sep = sep.encode_utf8(&mut sep_buf);
                let len = prefix.len() + sep.len() + digits.len();
                // Printable ASCII (the usual prefix and separator; digits always are) is
                // assembled on the stack and passes without decoding characters.
                let printable =
                    len <= 64 && prefix.bytes().chain(sep.bytes()).all(|b| b.is_ascii_graphic());
                if !printable {
                    return Self::new(&[prefix, sep, digits].concat());
                }
                let mut buf = [0; 64];
                buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
                buf[prefix.len()..prefix.len() + sep.len()].copy_from_slice(sep.as_bytes());
                buf[prefix.len() + sep.len()..len].copy_from_slice(digits.as_bytes());
                let text = std::str::from_utf8(&buf[..len]).map_err(|e| Error::Parse {
                    what: $what,
                    input: prefix.to_string(),
                    reason: e.to_string(),
                })?;
                Ok(Self(CompactString::new(text)))
            }

            /// The text of this id.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into_string()
            }
        }
    };
}

string_id!(
    /// The id we give an order and the broker echoes back; unique forever,
    /// so a resent order is recognised as the same one.
    ClientOrderId, "client order id"
);
string_id!(
    /// A strategy instance's name (`sma_cross-btc`).
    StrategyId, "strategy id"
);
string_id!(
    /// A venue's id for one execution; detects a fill reported twice.
    TradeId, "trade id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_symbol_is_upper_cased_and_interned() {
        let a = Symbol::new("btcusdt").unwrap();
        let b = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "BTCUSDT");
    }

    #[test]
    fn test_ids_reject_bad_text() {
        assert!(Symbol::new("").is_err());
        assert!(Symbol::new("BTC USDT").is_err());
        assert!(Venue::new("bin ance").is_err());
        assert!(Currency::new("US$").is_err());
        assert!(ClientOrderId::new("a b").is_err());
        let err = Symbol::new("A;B").unwrap_err().to_string();
        assert!(err.contains("';'"), "{err}");
    }

    #[test]
    fn test_numbered_ids_check_like_new() {
        let id = ClientOrderId::numbered("sma_cross", '-', 42).unwrap();
        assert_eq!(id, ClientOrderId::new("sma_cross-42").unwrap());
        assert_eq!(
            TradeId::numbered("é", '·', 7).unwrap(),
            TradeId::new("é·7").unwrap()
        );
        assert!(ClientOrderId::numbered("a b", '-', 1).is_err());
        assert!(ClientOrderId::numbered("a", '\n', 1).is_err());
        assert!(ClientOrderId::numbered(&"x".repeat(63), '-', 10).is_err());
    }

    #[test]
    fn test_instrument_id_display() {
        let id = InstrumentId::parse("BTCUSDT", "Binance").unwrap();
        assert_eq!(id.to_string(), "BTCUSDT.binance");
    }
}
