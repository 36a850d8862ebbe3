//! Reading the time column of CSV files: explicit formats, time zones, epochs.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use tessera_core::UnixNanos;

/// How a CSV time cell becomes a UTC instant.
///
/// Without a format, accepted are: epoch numbers (unit inferred from the
/// magnitude: s, ms, µs, ns), RFC 3339 and `YYYY-MM-DD HH:MM[:SS[.f]][±HH:MM]`
/// with an offset, and naive date-times or dates, which are read in `zone`.
#[derive(Clone, Debug)]
pub struct TimeParser {
    /// A chrono `strftime` format (`%d/%m/%Y %H:%M`); a date-only format gives midnight.
    pub format: Option<String>,
    /// Zone of naive times (default UTC).
    pub zone: Tz,
}

impl Default for TimeParser {
    fn default() -> Self {
        Self {
            format: None,
            zone: Tz::UTC,
        }
    }
}

const OFFSET_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M%:z",
];
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S%.f",
];
const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y"];

impl TimeParser {
    /// Parse one cell.
    ///
    /// # Errors
    /// A reason naming the text and what was expected.
    pub fn parse(&self, s: &str) -> Result<UnixNanos, String> {
        let s = s.trim();
        if let Some(fmt) = &self.format {
            if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
                return to_nanos(&dt);
            }
            if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                return self.local(n, s);
            }
            if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
                return self.local(d.and_hms_opt(0, 0, 0).expect("midnight exists"), s);
            }
            return Err(format!("time {s:?} does not match format {fmt:?}"));
        }
        // Eight digits are a compact date (20240101), not seconds in 1970.
        if !s.is_empty()
            && s.len() != 8
            && s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && let Ok(n) = s.parse::<i64>()
        {
            return UnixNanos::from_epoch_number(n).map_err(|e| e.to_string());
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return to_nanos(&dt);
        }
        for f in OFFSET_FORMATS {
            if let Ok(dt) = DateTime::parse_from_str(s, f) {
                return to_nanos(&dt);
            }
        }
        for f in NAIVE_FORMATS {
            if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
                return self.local(n, s);
            }
        }
        for f in DATE_FORMATS {
            if let Ok(d) = NaiveDate::parse_from_str(s, f) {
                return self.local(d.and_hms_opt(0, 0, 0).expect("midnight exists"), s);
            }
        }
        Err(format!(
            "time {s:?} is not an epoch number, RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` \
             (pass --date-format for other layouts)"
        ))
    }

    fn local(&self, n: NaiveDateTime, s: &str) -> Result<UnixNanos, String> {
        match self.zone.from_local_datetime(&n) {
            chrono::LocalResult::Single(dt) => to_nanos(&dt),
            // The repeated hour when clocks go back: the first occurrence, as exchanges stamp it.
            chrono::LocalResult::Ambiguous(first, _) => to_nanos(&first),
            chrono::LocalResult::None => Err(format!(
                "time {s:?} does not exist in {} (skipped by a daylight-saving change)",
                self.zone
            )),
        }
    }
}

fn to_nanos<Z: TimeZone>(dt: &DateTime<Z>) -> Result<UnixNanos, String> {
    UnixNanos::from_datetime(dt).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_time_parser_forms() {
        let p = TimeParser::default();
        let want = UnixNanos::parse("2023-03-01T00:00:00Z").unwrap();
        for s in [
            "2023-03-01 00:00:00+00:00",
            "2023-03-01T00:00:00Z",
            "2023-03-01",
            "20230301",
            "1677628800000",
            "1677628800000000",
            "2023-03-01 00:00",
        ] {
            assert_eq!(p.parse(s).unwrap(), want, "{s}");
        }
        assert!(p.parse("yesterday").unwrap_err().contains("--date-format"));
    }

    #[test]
    fn test_time_parser_zone_and_format() {
        let p = TimeParser {
            format: Some("%d/%m/%Y %H:%M".into()),
            zone: "America/New_York".parse().unwrap(),
        };
        assert_eq!(
            p.parse("01/03/2023 09:30").unwrap(),
            UnixNanos::parse("2023-03-01T14:30:00Z").unwrap()
        );
        assert!(p.parse("2023-03-01").unwrap_err().contains("format"));
    }
}
