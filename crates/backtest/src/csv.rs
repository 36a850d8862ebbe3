//! Bars from CSV with the header `timestamp,open,high,low,close,volume`.
//!
//! Parsing is hand-written for speed (a million rows in a few tens of
//! milliseconds): numbers become integer mantissas at one common scale per
//! column group, exactly as written; timestamps in the common fixed layouts
//! (`YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]`, optional `Z` / `+00:00`)
//! take a fast path, anything else goes through `UnixNanos::parse`. Times
//! without a zone are UTC. The bar interval is the median spacing.

use std::path::Path;

use tessera_core::UnixNanos;
use tessera_engine::BarSeries;
use tessera_model::{Instrument, InstrumentId, InstrumentKind, Interval, IntervalUnit, Price};

use crate::error::{Error, Result};

/// Read and parse a CSV file; the instrument is named after the file stem on venue `csv`.
///
/// # Errors
/// [`Error::Io`], or [`Error::Csv`] with the line and the reason.
pub fn load_csv(path: &Path) -> Result<BarSeries> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("CSV");
    let symbol: String = stem
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    let symbol = if symbol.is_empty() {
        "CSV".to_string()
    } else {
        symbol
    };
    parse_csv(&text, &symbol, &path.display().to_string())
}

/// Parse CSV text (see the module docs); `origin` names the source in errors.
///
/// # Errors
/// [`Error::Csv`].
pub fn parse_csv(text: &str, symbol: &str, origin: &str) -> Result<BarSeries> {
    let err = |line: usize, reason: String| Error::Csv {
        path: origin.to_string(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, h)| h.trim().trim_start_matches('\u{feff}'))
        .unwrap_or("");
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if cols.len() < 6
        || cols[1..6] != ["open", "high", "low", "close", "volume"]
        || !matches!(
            cols[0].as_str(),
            "timestamp" | "open_time" | "date" | "time"
        )
    {
        return Err(err(
            1,
            format!("expected header timestamp,open,high,low,close,volume, found {header:?}"),
        ));
    }
    let cap = text.len() / 40;
    let mut ts = Vec::with_capacity(cap);
    let mut px: [Vec<i64>; 4] = std::array::from_fn(|_| Vec::with_capacity(cap));
    let mut vol = Vec::with_capacity(cap);
    let (mut pscale, mut vscale) = (0u32, 0u32);
    for (i, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let lno = i + 1;
        let mut it = line.split(',');
        let t = it.next().ok_or_else(|| err(lno, "empty line".into()))?;
        ts.push(parse_time(t).ok_or_else(|| err(lno, format!("bad timestamp {t:?}")))?);
        let mut vals = [(0i64, 0u32); 4];
        for (k, v) in vals.iter_mut().enumerate() {
            let f = it
                .next()
                .ok_or_else(|| err(lno, "expected 6 fields".into()))?;
            *v = parse_decimal(f).ok_or_else(|| err(lno, format!("bad {} {f:?}", cols[k + 1])))?;
        }
        // The four price columns share one scale: grow it for all of them at once.
        let s_max = vals.iter().map(|v| v.1).max().unwrap_or(0);
        if s_max > pscale {
            let f = 10i64.pow(s_max - pscale);
            for col in &mut px {
                for v in col.iter_mut() {
                    *v = v
                        .checked_mul(f)
                        .ok_or_else(|| err(lno, "price out of range".into()))?;
                }
            }
            pscale = s_max;
        }
        for (col, (m, s)) in px.iter_mut().zip(vals) {
            col.push(
                m.checked_mul(10i64.pow(pscale - s))
                    .ok_or_else(|| err(lno, "price out of range".into()))?,
            );
        }
        let f = it
            .next()
            .ok_or_else(|| err(lno, "expected 6 fields".into()))?;
        let (m, s) = parse_decimal(f).ok_or_else(|| err(lno, format!("bad volume {f:?}")))?;
        push_scaled(&mut vol, m, s, &mut vscale)
            .ok_or_else(|| err(lno, "volume out of range".into()))?;
    }
    if ts.is_empty() {
        return Err(err(2, "no bars".into()));
    }
    let interval = infer_interval(&ts);
    let [open, high, low, close] = px;
    let mut instrument =
        Instrument::with_defaults(InstrumentId::parse(symbol, "csv")?, InstrumentKind::Equity)?;
    instrument.tick_size = Price::from_parts(1, pscale)?;
    let series = BarSeries {
        instrument,
        interval,
        price_scale: pscale,
        volume_scale: vscale,
        open_time: ts,
        open,
        high,
        low,
        close,
        volume: vol,
    };
    series.validate()?;
    Ok(series)
}

/// Push `m × 10^-s` into `col` kept at `scale` decimals, growing the scale (and rescaling) when needed.
fn push_scaled(col: &mut Vec<i64>, m: i64, s: u32, scale: &mut u32) -> Option<()> {
    if s > *scale {
        let f = 10i64.checked_pow(s - *scale)?;
        for v in col.iter_mut() {
            *v = v.checked_mul(f)?;
        }
        *scale = s;
    }
    col.push(m.checked_mul(10i64.checked_pow(*scale - s)?)?);
    Some(())
}

/// Parse a decimal (`-12.345`, `7`, `9e-05`) into mantissa and scale, exactly.
fn parse_decimal(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    if let Some(pos) = s.find(['e', 'E']) {
        let (m, s0) = parse_plain(&s[..pos])?;
        let exp: i32 = s[pos + 1..].parse().ok()?;
        let scale = i64::from(s0) - i64::from(exp);
        return if scale >= 0 {
            let scale = u32::try_from(scale).ok()?;
            (scale <= tessera_model::numbers::MAX_SCALE).then_some((m, scale))
        } else {
            let f = 10i64.checked_pow(u32::try_from(-scale).ok()?)?;
            Some((m.checked_mul(f)?, 0))
        };
    }
    parse_plain(s)
}

fn parse_plain(s: &str) -> Option<(i64, u32)> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut m: i64 = 0;
    let mut scale = 0u32;
    let mut dot = false;
    let mut digits = 0;
    for &b in body.as_bytes() {
        match b {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                digits += 1;
                if dot {
                    scale += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if digits == 0 || scale > tessera_model::numbers::MAX_SCALE {
        return None;
    }
    Some((if neg { -m } else { m }, scale))
}

fn num(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_time(s: &str) -> Option<i64> {
    fast_time(s.trim()).or_else(|| UnixNanos::parse(s.trim()).ok().map(|t| t.0))
}

fn fast_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos = 0i64;
    let mut rest = &b[10..];
    if !rest.is_empty() {
        if !(rest[0] == b'T' || rest[0] == b' ') || rest.len() < 6 || rest[3] != b':' {
            return None;
        }
        secs += num(&rest[1..3])? * 3600 + num(&rest[4..6])? * 60;
        rest = &rest[6..];
        if rest.first() == Some(&b':') {
            secs += num(rest.get(1..3)?)?;
            rest = &rest[3..];
            if rest.first() == Some(&b'.') {
                let end = rest[1..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(rest.len(), |p| p + 1);
                let frac = &rest[1..end];
                if frac.is_empty() || frac.len() > 9 {
                    return None;
                }
                nanos = num(frac)? * 10i64.pow(9 - frac.len() as u32);
                rest = &rest[end..];
            }
        }
        match rest {
            b"" | b"Z" | b"+00:00" | b"+0000" => {}
            _ => return None,
        }
    }
    Some(secs * 1_000_000_000 + nanos)
}

/// The bar interval from the median spacing of the first 1000 labels.
fn infer_interval(ts: &[i64]) -> Interval {
    let head = &ts[..ts.len().min(1001)];
    let mut d: Vec<i64> = head.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return Interval::D1;
    }
    d.sort_unstable();
    let secs = d[d.len() / 2] / 1_000_000_000;
    let pick = |count: i64, unit| {
        Interval::new(u32::try_from(count).unwrap_or(1).max(1), unit).unwrap_or(Interval::D1)
    };
    if (28 * 86_400..=31 * 86_400).contains(&secs) {
        pick(1, IntervalUnit::Month)
    } else if secs % (7 * 86_400) == 0 && secs > 0 {
        pick(secs / (7 * 86_400), IntervalUnit::Week)
    } else if secs % 86_400 == 0 && secs > 0 {
        pick(secs / 86_400, IntervalUnit::Day)
    } else if secs % 3600 == 0 && secs > 0 {
        pick(secs / 3600, IntervalUnit::Hour)
    } else if secs % 60 == 0 && secs > 0 {
        pick(secs / 60, IntervalUnit::Minute)
    } else {
        pick(secs.max(1), IntervalUnit::Second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_csv_scales_and_times() {
        let text = "timestamp,open,high,low,close,volume\n2004-08-19,100.0,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600.5\n";
        let s = parse_csv(text, "GOOG", "t").unwrap();
        assert_eq!(s.price_scale, 2);
        assert_eq!(s.open, vec![10000, 10101]);
        assert_eq!(s.high, vec![10406, 10908]);
        assert_eq!(s.volume, vec![223519000, 114286005]);
        assert_eq!(s.bar(0).close.to_string(), "100.34");
        assert_eq!(UnixNanos(s.open_time[0]).to_rfc3339()[..10], *"2004-08-19");
        assert_eq!(s.interval, Interval::D1);
        assert_eq!(s.values(1).close, 108.31);
    }

    #[test]
    fn test_parse_decimal_forms() {
        assert_eq!(parse_decimal("9e-05"), Some((9, 5)));
        assert_eq!(parse_decimal("1.5E2"), Some((150, 0)));
        assert_eq!(parse_decimal("-0.25"), Some((-25, 2)));
        assert_eq!(parse_decimal("12"), Some((12, 0)));
        assert_eq!(parse_decimal("1e-20"), None);
        assert_eq!(parse_decimal("abc"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn test_fast_time_matches_core_parser() {
        for t in [
            "2023-03-01 00:00:00+00:00",
            "2017-04-19T09:00:00",
            "2004-08-19",
            "2024-02-29T23:59:59.5Z",
            "1969-12-31T00:00:00",
        ] {
            assert_eq!(fast_time(t), Some(UnixNanos::parse(t).unwrap().0), "{t}");
        }
        assert_eq!(
            parse_time("1700000000000"),
            Some(UnixNanos::parse("1700000000000").unwrap().0)
        );
    }

    #[test]
    fn test_parse_csv_errors_name_the_line() {
        let e = parse_csv(
            "timestamp,open,high,low,close,volume\n2004-08-19,1,2,0.5,x,1\n",
            "X",
            "f.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("f.csv:2") && e.contains("close"), "{e}");
        assert!(
            parse_csv("a,b\n", "X", "f")
                .unwrap_err()
                .to_string()
                .contains("header")
        );
        let e = parse_csv(
            "timestamp,open,high,low,close,volume\n2004-08-19,1,2,0.5,3,1\n",
            "X",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("high"), "{e}");
    }
}
