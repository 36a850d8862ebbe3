//! Bar intervals (`1s` … `1M`) and the alignment arithmetic on them.
//!
//! Fixed-length intervals align to multiples of their length since the
//! epoch, except weeks, which open on Monday 00:00 UTC (as Binance's `1w`).
//! Months are calendar months in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_core::time::NANOS_PER_SECOND;

use crate::error::{Error, Result};

/// The unit of an [`Interval`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IntervalUnit {
    /// `s`
    Second,
    /// `m`
    Minute,
    /// `h`
    Hour,
    /// `d`
    Day,
    /// `w`, weeks opening on Monday.
    Week,
    /// `M`, calendar months.
    Month,
}

impl IntervalUnit {
    fn suffix(self) -> char {
        match self {
            Self::Second => 's',
            Self::Minute => 'm',
            Self::Hour => 'h',
            Self::Day => 'd',
            Self::Week => 'w',
            Self::Month => 'M',
        }
    }

    #[inline]
    fn seconds(self) -> Option<i64> {
        match self {
            Self::Second => Some(1),
            Self::Minute => Some(60),
            Self::Hour => Some(3600),
            Self::Day => Some(86_400),
            Self::Week => Some(7 * 86_400),
            Self::Month => None,
        }
    }
}

/// A bar length such as `1m`, `15m`, `4h`, `1d`, `1w`, `1M`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    unit: IntervalUnit,
    count: u32,
}

/// Offset of the first Monday after the epoch (1970-01-05), so weeks open on Mondays.
const WEEK_OFFSET_NANOS: i64 = 4 * 86_400 * NANOS_PER_SECOND;

impl Interval {
    /// One minute, the collectors' default.
    pub const M1: Self = Self {
        unit: IntervalUnit::Minute,
        count: 1,
    };
    /// One day.
    pub const D1: Self = Self {
        unit: IntervalUnit::Day,
        count: 1,
    };

    /// `count` units.
    ///
    /// # Errors
    /// [`Error::Invariant`] when `count` is zero.
    pub fn new(count: u32, unit: IntervalUnit) -> Result<Self> {
        if count == 0 {
            return Err(crate::error::invariant(
                "interval",
                "count must be at least 1",
            ));
        }
        Ok(Self { unit, count })
    }

    /// Parse `1s`, `30s`, `1m`, `5m`, `1h`, `4h`, `1d`, `1w`, `1M` (`M` is month, `m` minute).
    ///
    /// # Errors
    /// [`Error::Parse`] listing the accepted forms.
    pub fn parse(s: &str) -> Result<Self> {
        let err = |reason: &str| Error::Parse {
            what: "interval",
            input: s.to_string(),
            reason: format!(
                "{reason}; expected a count and a unit s, m, h, d, w or M (month), like 1m, 15m, 4h, 1d"
            ),
        };
        let t = s.trim();
        let Some(last) = t.chars().last() else {
            return Err(err("empty"));
        };
        let unit = match last {
            's' => IntervalUnit::Second,
            'm' => IntervalUnit::Minute,
            'h' | 'H' => IntervalUnit::Hour,
            'd' | 'D' => IntervalUnit::Day,
            'w' | 'W' => IntervalUnit::Week,
            'M' => IntervalUnit::Month,
            _ => return Err(err("unknown unit")),
        };
        let digits = &t[..t.len() - 1];
        let count: u32 = if digits.is_empty() {
            1
        } else {
            digits
                .parse()
                .map_err(|_| err("count is not a positive integer"))?
        };
        if count == 0 {
            return Err(err("count must be at least 1"));
        }
        if unit
            .seconds()
            .is_some_and(|s| i64::from(count).saturating_mul(s) > 366 * 86_400)
        {
            return Err(err("longer than a year"));
        }
        Ok(Self { unit, count })
    }

    /// The unit.
    #[must_use]
    pub const fn unit(&self) -> IntervalUnit {
        self.unit
    }

    /// The number of units.
    #[must_use]
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Fixed length in nanoseconds; `None` for months, whose length varies.
    #[must_use]
    #[inline]
    pub fn duration_nanos(&self) -> Option<i64> {
        self.unit
            .seconds()
            .map(|s| s * i64::from(self.count) * NANOS_PER_SECOND)
    }

    /// Typical length in seconds (months count as 30.436875 days), for annualisation and lag.
    #[must_use]
    pub fn approx_seconds(&self) -> f64 {
        match self.unit.seconds() {
            Some(s) => (s * i64::from(self.count)) as f64,
            None => f64::from(self.count) * 30.436_875 * 86_400.0,
        }
    }

    /// Open time of the interval containing `t`.
    #[must_use]
    pub fn floor(&self, t: UnixNanos) -> UnixNanos {
        match self.duration_nanos() {
            Some(d) => {
                let offset = if self.unit == IntervalUnit::Week {
                    WEEK_OFFSET_NANOS
                } else {
                    0
                };
                UnixNanos((t.0 - offset).div_euclid(d) * d + offset)
            }
            None => {
                let dt = t.to_datetime();
                let months = i64::from(dt.year()) * 12 + i64::from(dt.month0());
                let aligned = months - months.rem_euclid(i64::from(self.count));
                month_start(aligned)
            }
        }
    }

    /// Whether `t` is exactly an open time of this interval.
    #[must_use]
    pub fn is_aligned(&self, t: UnixNanos) -> bool {
        self.floor(t) == t
    }

    /// Open time of the interval after the one that opens at `open` (its exclusive end).
    #[must_use]
    #[inline]
    pub fn next(&self, open: UnixNanos) -> UnixNanos {
        match self.duration_nanos() {
            Some(d) => open.saturating_add(d),
            None => {
                let dt = open.to_datetime();
                let months =
                    i64::from(dt.year()) * 12 + i64::from(dt.month0()) + i64::from(self.count);
                month_start(months)
            }
        }
    }

    /// Open time of the interval before the one that opens at `open`.
    #[must_use]
    pub fn prev(&self, open: UnixNanos) -> UnixNanos {
        match self.duration_nanos() {
            Some(d) => open.saturating_add(-d),
            None => {
                let dt = open.to_datetime();
                let months =
                    i64::from(dt.year()) * 12 + i64::from(dt.month0()) - i64::from(self.count);
                month_start(months)
            }
        }
    }

    /// Whether bars of `self` can be built from whole bars of `finer`
    /// (`1h` from `1m` or `15m`; `1M` from `1d`; not `1w` from `1M`).
    #[must_use]
    pub fn is_multiple_of(&self, finer: &Interval) -> bool {
        match (self.duration_nanos(), finer.duration_nanos()) {
            (Some(a), Some(b)) => {
                a % b == 0
                    && (self.unit != IntervalUnit::Week
                        || finer.unit == IntervalUnit::Week
                        || 86_400 * NANOS_PER_SECOND % b == 0)
            }
            (None, Some(b)) => 86_400 * NANOS_PER_SECOND % b == 0,
            (None, None) => self.count.is_multiple_of(finer.count),
            (Some(_), None) => false,
        }
    }
}

fn month_start(months_since_year0: i64) -> UnixNanos {
    let year = i32::try_from(months_since_year0.div_euclid(12)).unwrap_or(i32::MAX);
    let month = u32::try_from(months_since_year0.rem_euclid(12)).unwrap_or(0) + 1;
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| d.and_utc().timestamp_nanos_opt())
        .map_or(UnixNanos::MAX, UnixNanos)
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

impl FromStr for Interval {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn t(s: &str) -> UnixNanos {
        UnixNanos::parse(s).unwrap()
    }

    #[rstest]
    #[case(
        "1m",
        "2024-03-05T10:17:42Z",
        "2024-03-05T10:17:00Z",
        "2024-03-05T10:18:00Z"
    )]
    #[case(
        "15m",
        "2024-03-05T10:17:42Z",
        "2024-03-05T10:15:00Z",
        "2024-03-05T10:30:00Z"
    )]
    #[case(
        "4h",
        "2024-03-05T10:17:42Z",
        "2024-03-05T08:00:00Z",
        "2024-03-05T12:00:00Z"
    )]
    #[case(
        "1d",
        "2024-03-05T10:17:42Z",
        "2024-03-05T00:00:00Z",
        "2024-03-06T00:00:00Z"
    )]
    #[case(
        "1w",
        "2024-03-07T10:17:42Z",
        "2024-03-04T00:00:00Z",
        "2024-03-11T00:00:00Z"
    )]
    #[case(
        "1M",
        "2024-02-29T23:59:59Z",
        "2024-02-01T00:00:00Z",
        "2024-03-01T00:00:00Z"
    )]
    #[case(
        "3M",
        "2024-05-17T00:00:00Z",
        "2024-04-01T00:00:00Z",
        "2024-07-01T00:00:00Z"
    )]
    #[case(
        "1M",
        "1969-12-15T00:00:00Z",
        "1969-12-01T00:00:00Z",
        "1970-01-01T00:00:00Z"
    )]
    #[case(
        "1h",
        "1969-12-31T23:30:00Z",
        "1969-12-31T23:00:00Z",
        "1970-01-01T00:00:00Z"
    )]
    fn test_floor_and_next(
        #[case] iv: &str,
        #[case] at: &str,
        #[case] open: &str,
        #[case] next: &str,
    ) {
        let iv = Interval::parse(iv).unwrap();
        let o = iv.floor(t(at));
        assert_eq!(o, t(open));
        assert!(iv.is_aligned(o));
        assert_eq!(iv.next(o), t(next));
        assert_eq!(iv.prev(iv.next(o)), o);
    }

    #[test]
    fn test_parse_and_display() {
        for s in ["1s", "30s", "1m", "5m", "15m", "1h", "4h", "1d", "1w", "1M"] {
            assert_eq!(Interval::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "0m", "m5", "1x", "-1m", "9999d"] {
            let e = Interval::parse(bad).unwrap_err().to_string();
            assert!(e.contains("interval"), "{e}");
        }
        assert_ne!(
            Interval::parse("1m").unwrap(),
            Interval::parse("1M").unwrap()
        );
    }

    #[test]
    fn test_is_multiple_of() {
        let iv = |s| Interval::parse(s).unwrap();
        assert!(iv("5m").is_multiple_of(&iv("1m")));
        assert!(iv("1h").is_multiple_of(&iv("15m")));
        assert!(iv("1d").is_multiple_of(&iv("4h")));
        assert!(iv("1M").is_multiple_of(&iv("1d")));
        assert!(iv("1w").is_multiple_of(&iv("1d")));
        assert!(!iv("5m").is_multiple_of(&iv("2m")));
        assert!(!iv("1w").is_multiple_of(&iv("1M")));
        assert!(!iv("1d").is_multiple_of(&iv("7h")));
    }
}
