//! `UnixNanos`: a UTC instant as integer nanoseconds since the Unix epoch.
//!
//! Integers, not `chrono::DateTime`, because timestamps are compared and
//! stored billions of times (one per bar, quote and fill); chrono is used
//! only at the edges to parse and print.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Nanoseconds in one microsecond.
pub const NANOS_PER_MICRO: i64 = 1_000;
/// Nanoseconds in one millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;
/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A UTC instant, integer nanoseconds since 1970-01-01T00:00:00Z.
///
/// The `i64` covers 1677-09-21 to 2262-04-11, which holds every market
/// record. Negative values (before 1970) are valid.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);
    /// The latest representable instant.
    pub const MAX: Self = Self(i64::MAX);
    /// The earliest representable instant.
    pub const MIN: Self = Self(i64::MIN);

    /// From nanoseconds since the epoch.
    #[must_use]
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// From milliseconds since the epoch (Binance's unit).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when the value does not fit in nanoseconds.
    pub fn from_millis(millis: i64) -> Result<Self> {
        millis
            .checked_mul(NANOS_PER_MILLI)
            .map(Self)
            .ok_or_else(|| Error::OutOfRange(format!("{millis} ms")))
    }

    /// From microseconds since the epoch.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when the value does not fit in nanoseconds.
    pub fn from_micros(micros: i64) -> Result<Self> {
        micros
            .checked_mul(NANOS_PER_MICRO)
            .map(Self)
            .ok_or_else(|| Error::OutOfRange(format!("{micros} µs")))
    }

    /// From whole seconds since the epoch.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when the value does not fit in nanoseconds.
    pub fn from_secs(secs: i64) -> Result<Self> {
        secs.checked_mul(NANOS_PER_SECOND)
            .map(Self)
            .ok_or_else(|| Error::OutOfRange(format!("{secs} s")))
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch, rounded towards negative infinity.
    #[must_use]
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(NANOS_PER_MILLI)
    }

    /// Whole seconds since the epoch, rounded towards negative infinity.
    #[must_use]
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SECOND)
    }

    /// This instant as a chrono `DateTime<Utc>`.
    #[must_use]
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_nanos(self.0)
    }

    /// From a chrono `DateTime` in any zone.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] outside 1677..2262.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Result<Self> {
        dt.timestamp_nanos_opt()
            .map(Self)
            .ok_or_else(|| Error::OutOfRange(dt.to_utc().to_rfc3339()))
    }

    /// RFC 3339 in UTC with a `Z`, with only as many fractional digits as needed
    /// (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.250Z`).
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Checked addition of a duration in nanoseconds.
    #[must_use]
    pub fn checked_add(self, nanos: i64) -> Option<Self> {
        self.0.checked_add(nanos).map(Self)
    }

    /// Saturating addition of a duration in nanoseconds.
    #[must_use]
    pub const fn saturating_add(self, nanos: i64) -> Self {
        Self(self.0.saturating_add(nanos))
    }

    /// Nanoseconds from `earlier` to `self` (negative if `earlier` is later).
    #[must_use]
    pub const fn nanos_since(self, earlier: Self) -> i64 {
        self.0 - earlier.0
    }

    /// Parse the forms users and files write:
    ///
    /// * RFC 3339 with an offset or `Z` (`2024-01-01T00:00:00Z`, `2024-01-01 09:30:00+01:00`);
    /// * a naive date-time, taken as UTC (`2024-01-01T00:00:00`, `2024-01-01 00:00`);
    /// * a date, taken as midnight UTC (`2024-01-01`);
    /// * an integer count since the epoch, whose unit is inferred from its size
    ///   (seconds below 1e11, milliseconds below 1e14, microseconds below 1e17, else nanoseconds).
    ///
    /// # Errors
    /// [`Error::InvalidTimestamp`] naming the input and the accepted forms.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        let invalid = |reason: &str| Error::InvalidTimestamp {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(invalid("empty"));
        }
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_epoch_number(n);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Self::from_datetime(&dt);
        }
        for fmt in [
            "%Y-%m-%d %H:%M:%S%.f%:z",
            "%Y-%m-%d %H:%M:%S%.f%z",
            "%Y-%m-%dT%H:%M:%S%.f%z",
        ] {
            if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
                return Self::from_datetime(&dt);
            }
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
                return Self::from_datetime(&naive.and_utc());
            }
        }
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Self::from_datetime(&midnight.and_utc());
        }
        Err(invalid(
            "expected RFC 3339 (2024-01-01T00:00:00Z), a date (2024-01-01), \
             a UTC date-time (2024-01-01 00:00:00) or an epoch number",
        ))
    }

    /// Interpret an epoch number whose unit is inferred from its magnitude.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when it cannot be held in nanoseconds.
    pub fn from_epoch_number(n: i64) -> Result<Self> {
        let abs = n.unsigned_abs();
        if abs < 100_000_000_000 {
            Self::from_secs(n)
        } else if abs < 100_000_000_000_000 {
            Self::from_millis(n)
        } else if abs < 100_000_000_000_000_000 {
            Self::from_micros(n)
        } else {
            Ok(Self(n))
        }
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for UnixNanos {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A half-open interval of time `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    /// First instant included.
    pub start: UnixNanos,
    /// First instant excluded.
    pub end: UnixNanos,
}

impl TimeRange {
    /// Everything representable.
    pub const ALL: Self = Self {
        start: UnixNanos::MIN,
        end: UnixNanos::MAX,
    };

    /// A checked range.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when `end < start`.
    pub fn new(start: UnixNanos, end: UnixNanos) -> Result<Self> {
        if end < start {
            return Err(Error::InvalidRange {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(Self { start, end })
    }

    /// Optional bounds, open where `None`.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when `end < start`.
    pub fn from_bounds(start: Option<UnixNanos>, end: Option<UnixNanos>) -> Result<Self> {
        Self::new(
            start.unwrap_or(UnixNanos::MIN),
            end.unwrap_or(UnixNanos::MAX),
        )
    }

    /// Whether `t` lies in `[start, end)`.
    #[must_use]
    pub fn contains(&self, t: UnixNanos) -> bool {
        self.start <= t && t < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_accepts_common_forms() {
        let want = UnixNanos::from_secs(1_704_067_200).unwrap();
        for s in [
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00",
            "2024-01-01 00:00",
            "2024-01-01T01:00:00+01:00",
            "1704067200",
            "1704067200000",
            "1704067200000000",
            "1704067200000000000",
        ] {
            assert_eq!(UnixNanos::parse(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn test_parse_rejects_garbage_with_reason() {
        let err = UnixNanos::parse("yesterday").unwrap_err().to_string();
        assert!(
            err.contains("yesterday") && err.contains("RFC 3339"),
            "{err}"
        );
    }

    #[test]
    fn test_rfc3339_output() {
        let t = UnixNanos::parse("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-01T00:00:00Z");
        assert_eq!(
            UnixNanos(t.0 + 250 * NANOS_PER_MILLI).to_rfc3339(),
            "2024-01-01T00:00:00.250Z"
        );
    }

    #[test]
    fn test_negative_millis_floor() {
        assert_eq!(UnixNanos(-1).as_millis(), -1);
        assert_eq!(UnixNanos(-1).as_secs(), -1);
    }

    #[test]
    fn test_range_rejects_reversed() {
        assert!(TimeRange::new(UnixNanos(5), UnixNanos(4)).is_err());
        let empty = TimeRange::new(UnixNanos(5), UnixNanos(5)).unwrap();
        assert!(
            !empty.contains(UnixNanos(5)),
            "half-open: an empty range holds nothing"
        );
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn test_rfc3339_round_trip(n in -6_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
                let t = UnixNanos(n);
                prop_assert_eq!(UnixNanos::parse(&t.to_rfc3339()).unwrap(), t);
            }
        }
    }
}
