//! The configured limits (`[risk]` in the configuration).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A daily UTC window in which orders may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradingHours {
    /// Minutes after 00:00 UTC when trading opens.
    pub start_minute: u32,
    /// Minutes after 00:00 UTC when trading closes (exclusive); below `start_minute` wraps midnight.
    pub end_minute: u32,
    /// Whether Saturday and Sunday (UTC) are closed.
    pub weekdays_only: bool,
}

impl TradingHours {
    /// Parse `HH:MM-HH:MM` (UTC), optionally followed by ` weekdays`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the malformed part.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "trading hours {s:?}: expected HH:MM-HH:MM [weekdays]"
            ))
        };
        let mut parts = s.split_whitespace();
        let window = parts.next().ok_or_else(bad)?;
        let weekdays_only = match parts.next() {
            None => false,
            Some("weekdays") => true,
            Some(_) => return Err(bad()),
        };
        let (a, b) = window.split_once('-').ok_or_else(bad)?;
        let minute = |t: &str| -> Result<u32> {
            let (h, m) = t.split_once(':').ok_or_else(bad)?;
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        Ok(Self {
            start_minute: minute(a)?,
            end_minute: minute(b)?,
            weekdays_only,
        })
    }

    /// Whether `t` (nanoseconds since the epoch, UTC) falls inside the window.
    #[must_use]
    pub fn contains(&self, t_nanos: i64) -> bool {
        const DAY: i64 = 86_400_000_000_000;
        let day = t_nanos.div_euclid(DAY);
        // 1970-01-01 was a Thursday: day 0 → weekday 3 (Mon = 0).
        let weekday = (day + 3).rem_euclid(7);
        if self.weekdays_only && weekday >= 5 {
            return false;
        }
        let minute = (t_nanos.rem_euclid(DAY) / 60_000_000_000) as u32;
        if self.start_minute <= self.end_minute {
            minute >= self.start_minute && minute < self.end_minute
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

/// Pre-trade limits; `None` disables a check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskLimits {
    /// Largest quantity of one order, in units.
    pub max_order_quantity: Option<Decimal>,
    /// Largest notional of one order (quantity × price × multiplier), in the account currency.
    pub max_order_notional: Option<Decimal>,
    /// Largest absolute net position per instrument across all strategies, in units.
    pub max_position_per_instrument: Option<Decimal>,
    /// Largest absolute position of one strategy in one instrument, in units.
    pub max_position_per_strategy: Option<Decimal>,
    /// Most orders working at once (all strategies).
    pub max_open_orders: Option<usize>,
    /// Largest distance of a limit or stop price from the last price, in percent.
    pub price_collar_pct: Option<Decimal>,
    /// Largest loss of one strategy today (realised + unrealised), in the account currency.
    pub max_daily_loss_per_strategy: Option<Decimal>,
    /// Largest loss of the account today, in the account currency.
    pub max_daily_loss_account: Option<Decimal>,
    /// When orders may be sent.
    pub trading_hours: Option<TradingHours>,
}

impl RiskLimits {
    /// Check that every limit is positive.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first non-positive limit.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("max_order_quantity", self.max_order_quantity),
            ("max_order_notional", self.max_order_notional),
            (
                "max_position_per_instrument",
                self.max_position_per_instrument,
            ),
            ("max_position_per_strategy", self.max_position_per_strategy),
            ("price_collar_pct", self.price_collar_pct),
            (
                "max_daily_loss_per_strategy",
                self.max_daily_loss_per_strategy,
            ),
            ("max_daily_loss_account", self.max_daily_loss_account),
        ] {
            if v.is_some_and(|v| v <= Decimal::ZERO) {
                return Err(Error::Config(format!("{name} must be positive")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_trading_hours_parse_and_contains() {
        let h = TradingHours::parse("13:30-20:00 weekdays").unwrap();
        assert_eq!(
            (h.start_minute, h.end_minute, h.weekdays_only),
            (810, 1200, true)
        );
        // 2024-03-01 (a Friday) 14:00 UTC.
        let fri = 1_709_301_600_000_000_000;
        assert!(h.contains(fri));
        assert!(!h.contains(fri + 86_400_000_000_000), "Saturday");
        assert!(!h.contains(fri - 3_600_000_000_000), "13:00");
        let night = TradingHours::parse("22:00-02:00").unwrap();
        assert!(night.contains(fri - 13 * 3_600_000_000_000), "01:00 wraps");
        assert!(TradingHours::parse("25:00-01:00").is_err());
        assert!(TradingHours::parse("9-10").is_err());
    }
}
