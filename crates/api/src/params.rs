//! Request parsing shared by every resource: query strings, JSON bodies,
//! time ranges, page limits and opaque cursors, all refusing bad input with a
//! problem that names the parameter (never a 5xx).
//!
//! Query structs take every field as an optional string and parse it here,
//! so the error can say *which* parameter was wrong and how.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Instrument, InstrumentId, Interval, Symbol, Venue};

use crate::ApiState;
use crate::error::{Error, Result};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 1000;

/// `Query<T>` whose rejection is a problem document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| Error::param("query", e.body_text()))
    }
}

/// `Json<T>` whose rejection (bad syntax, wrong shape, missing content type,
/// too large) is a problem document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;
    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(Self(j.0)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Error::BodyTooLarge)
            }
            Err(e) => Err(Error::BadBody(e.body_text())),
        }
    }
}

/// Parse a time given as RFC 3339, a date, or an epoch number (s, ms, µs or ns by magnitude).
///
/// # Errors
/// [`Error::BadParam`] naming `param`.
pub fn parse_time(param: &str, v: &str) -> Result<UnixNanos> {
    UnixNanos::parse(v).map_err(|e| Error::param(param, e.to_string()))
}

/// `[from, to)` from optional `from` / `to` parameters (open-ended when absent).
///
/// # Errors
/// [`Error::BadParam`] for unparseable times or `from` after `to`.
pub fn time_range(from: Option<&str>, to: Option<&str>) -> Result<TimeRange> {
    let start = from
        .filter(|s| !s.is_empty())
        .map(|s| parse_time("from", s))
        .transpose()?;
    let end = to
        .filter(|s| !s.is_empty())
        .map(|s| parse_time("to", s))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(Error::param(
            "from",
            format!("from ({s}) is after to ({e})"),
        ));
    }
    Ok(TimeRange {
        start: start.unwrap_or(UnixNanos::MIN),
        end: end.unwrap_or(UnixNanos::MAX),
    })
}

/// The page size: `DEFAULT_LIMIT` when absent, else `1..=max`.
///
/// # Errors
/// [`Error::BadParam`] naming `limit`.
pub fn limit(v: Option<&str>, max: usize) -> Result<usize> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_LIMIT.min(max)),
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if n >= 1 && n <= max as u64 => Ok(usize::try_from(n).unwrap_or(max)),
            _ => Err(Error::param(
                "limit",
                format!("{s:?} is not a page size; expected an integer from 1 to {max}"),
            )),
        },
    }
}

/// Cursors are opaque to clients; today one encodes the last timestamp served.
const CURSOR_TAG: &str = "t1.";

/// Encode a "continue after this time" cursor.
#[must_use]
pub fn encode_cursor(after: UnixNanos) -> String {
    format!("{CURSOR_TAG}{}", hex::encode(after.0.to_be_bytes()))
}

/// Decode a cursor made by [`encode_cursor`].
///
/// # Errors
/// [`Error::BadParam`] naming `cursor`.
pub fn decode_cursor(v: Option<&str>) -> Result<Option<UnixNanos>> {
    let Some(s) = v.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        Error::param(
            "cursor",
            "not a cursor this server issued; pass the `next_cursor` of the previous page",
        )
    };
    let hexpart = s.strip_prefix(CURSOR_TAG).ok_or_else(bad)?;
    let bytes: [u8; 8] = hex::decode(hexpart)
        .map_err(|_| bad())?
        .try_into()
        .map_err(|_| bad())?;
    Ok(Some(UnixNanos(i64::from_be_bytes(bytes))))
}

/// Parse an interval (`1m`, `15m`, `1h`, `1d`, `1w`, `1M`).
///
/// # Errors
/// [`Error::BadParam`] naming `param`.
pub fn interval(param: &str, v: Option<&str>, default: Interval) -> Result<Interval> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => Interval::parse(s.trim()).map_err(|e| Error::param(param, e.to_string())),
    }
}

/// Resolve `symbol` (required) and `venue` (optional when the symbol is on one venue).
///
/// # Errors
/// 400 for a missing or malformed symbol/venue or an ambiguous symbol, 404 for an unknown one.
pub async fn instrument(
    state: &ApiState,
    symbol: Option<&str>,
    venue: Option<&str>,
) -> Result<Instrument> {
    let symbol = symbol
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Error::param("symbol", "required, e.g. symbol=BTCUSDT"))?;
    let sym = Symbol::new(symbol.trim()).map_err(|e| Error::param("symbol", e.to_string()))?;
    let ven = venue
        .filter(|s| !s.trim().is_empty())
        .map(|v| Venue::new(v.trim()).map_err(|e| Error::param("venue", e.to_string())))
        .transpose()?;
    match state.store().find_instrument(sym, ven).await {
        Ok(i) => Ok(i),
        Err(tessera_storage::Error::Refused(m)) => Err(Error::param(
            "venue",
            m.replace("pass --venue", "pass venue="),
        )),
        Err(tessera_storage::Error::NotFound(m)) => Err(Error::NotFound(format!("{m} not found"))),
        Err(e) => Err(e.into()),
    }
}

/// An instrument id from path segments.
///
/// # Errors
/// [`Error::BadParam`] naming `symbol` or `venue`.
pub fn instrument_id(symbol: &str, venue: &str) -> Result<InstrumentId> {
    Ok(InstrumentId::new(
        Symbol::new(symbol).map_err(|e| Error::param("symbol", e.to_string()))?,
        Venue::new(venue).map_err(|e| Error::param("venue", e.to_string()))?,
    ))
}

/// Parse a boolean flag (`true`/`false`/`1`/`0`).
///
/// # Errors
/// [`Error::BadParam`] naming `param`.
pub fn flag(param: &str, v: Option<&str>) -> Result<bool> {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(s) if s.is_empty() || s == "false" || s == "0" => Ok(false),
        Some(s) if s == "true" || s == "1" => Ok(true),
        Some(s) => Err(Error::param(param, format!("{s:?} is not true or false"))),
    }
}

/// One page of `items` (sorted by `ts`, oldest first) inside `range`, after
/// `cursor`, at most `limit` long, and the cursor of the next page.
///
/// Items sharing the last timestamp of a full page are held back for the
/// next page (unless the whole page shares it), so a time cursor never skips
/// a record. Every list resource pages this way.
pub fn page_by_time<T>(
    items: Vec<T>,
    ts: impl Fn(&T) -> UnixNanos,
    range: TimeRange,
    cursor: Option<UnixNanos>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|x| {
            let t = ts(x);
            t >= range.start && t < range.end && cursor.is_none_or(|c| t > c)
        })
        .take(limit.saturating_add(1))
        .collect();
    if page.len() <= limit {
        return (page, None);
    }
    // The first record of the next page shares the last timestamp of this one:
    // hold back every record at that timestamp (unless that is all of the page).
    let beyond = ts(&page[limit]);
    page.truncate(limit);
    if ts(&page[limit - 1]) == beyond {
        let keep = page.iter().position(|x| ts(x) == beyond).unwrap_or(0);
        if keep > 0 {
            page.truncate(keep);
        }
    }
    let next = ts(&page[page.len() - 1]);
    (page, Some(encode_cursor(next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cursor_round_trip_and_garbage() {
        let c = encode_cursor(UnixNanos(1_704_067_200_000_000_000));
        assert_eq!(
            decode_cursor(Some(&c)).unwrap(),
            Some(UnixNanos(1_704_067_200_000_000_000))
        );
        for bad in ["x", "t1.zz", "t1.00", "abc.0000000000000000"] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(decode_cursor(None).unwrap(), None);
    }

    #[test]
    fn test_page_by_time_never_splits_a_timestamp() {
        let items = vec![1, 2, 2, 2, 3, 4];
        let all = TimeRange {
            start: UnixNanos::MIN,
            end: UnixNanos::MAX,
        };
        let (p, next) = page_by_time(items.clone(), |x| UnixNanos(*x), all, None, 3);
        assert_eq!(p, vec![1]);
        let c = decode_cursor(next.as_deref()).unwrap();
        let (p, next) = page_by_time(items.clone(), |x| UnixNanos(*x), all, c, 3);
        assert_eq!(p, vec![2, 2, 2]);
        let c = decode_cursor(next.as_deref()).unwrap();
        let (p, next) = page_by_time(items, |x| UnixNanos(*x), all, c, 3);
        assert_eq!((p, next), (vec![3, 4], None));
        let (p, next) = page_by_time(vec![1, 2, 3, 4], |x| UnixNanos(*x), all, None, 3);
        assert_eq!(p, vec![1, 2, 3]);
        assert!(next.is_some());
    }

    #[test]
    fn test_limit_bounds() {
        assert_eq!(limit(None, 5000).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some("7"), 5000).unwrap(), 7);
        for bad in ["0", "-1", "5001", "99999999999999999999999", "abc"] {
            let e = limit(Some(bad), 5000).unwrap_err();
            assert!(e.to_string().contains("limit"), "{e}");
        }
    }

    #[test]
    fn test_time_range_accepts_rfc3339_and_epoch_and_refuses_reversed() {
        let r = time_range(Some("2024-01-01T00:00:00Z"), Some("1704153600")).unwrap();
        assert_eq!(r.start.as_secs(), 1_704_067_200);
        assert_eq!(r.end.as_secs(), 1_704_153_600);
        assert!(time_range(Some("2024-01-02"), Some("2024-01-01")).is_err());
        assert!(
            time_range(Some("yesterday"), None)
                .unwrap_err()
                .to_string()
                .contains("from")
        );
    }
}
