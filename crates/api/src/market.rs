//! Market data: `/api/v1/bars` (JSON or CSV, paginated, resampled on the
//! fly), `/api/v1/chart` (a series downsampled to fit a chart) and
//! `/api/v1/quotes` (top of book).
//!
//! An interval that is not stored is built from the coarsest stored interval
//! that divides it (5m from 1m, 1d from 1h), so clients never care what the
//! collectors chose to store. Pages are bounded before resampling: a page of
//! `limit` target bars reads at most `limit + 1` target intervals of source
//! bars, so a far-reaching range costs no more than a short one.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{Bar, InstrumentId, Interval, Quote};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::{Error, Result};
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/bars", get(bars))
        .route("/chart", get(chart))
        .route("/quotes", get(quotes))
        .route("/quotes/latest", get(latest_quote))
}

/// One bar. Prices and volume are exact decimals written as strings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct BarJson {
    /// Open time of the bar, RFC 3339 UTC.
    timestamp: String,
    /// First price.
    open: String,
    /// Highest price.
    high: String,
    /// Lowest price.
    low: String,
    /// Last price.
    close: String,
    /// Traded quantity.
    volume: String,
}

impl From<&Bar> for BarJson {
    fn from(b: &Bar) -> Self {
        Self {
            timestamp: b.open_time.to_rfc3339(),
            open: b.open.to_string(),
            high: b.high.to_string(),
            low: b.low.to_string(),
            close: b.close.to_string(),
            volume: b.volume.to_string(),
        }
    }
}

/// A page of bars.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BarsPage {
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// Interval of the bars served.
    interval: String,
    /// Stored interval they were built from (equal to `interval` when stored as such).
    source_interval: String,
    /// Bars in ascending time.
    bars: Vec<BarJson>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Parameters of `GET /api/v1/bars`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsQuery {
    /// Ticker, e.g. `BTCUSDT`.
    symbol: String,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// Bar interval (`1m`, `5m`, `15m`, `1h`, `4h`, `1d`, `1w`, `1M`; default `1m`).
    interval: Option<String>,
    /// First open time included: RFC 3339 or an epoch number (s, ms, µs, ns by magnitude).
    from: Option<String>,
    /// First open time excluded: RFC 3339 or an epoch number.
    to: Option<String>,
    /// Page size, 1 to the server maximum (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `csv` to force CSV (else chosen by the `Accept` header).
    format: Option<String>,
}

/// Bars of `interval` read from storage, resampled when needed.
pub(crate) struct Loaded {
    pub(crate) bars: Vec<Bar>,
    pub(crate) next: Option<UnixNanos>,
    pub(crate) source: Interval,
}

/// The stored interval to build `target` from: itself, else the coarsest stored divisor.
async fn source_interval(
    state: &ApiState,
    id: &InstrumentId,
    target: Interval,
) -> Result<Option<Interval>> {
    let stored = state.store().bar_intervals(id).await?;
    if stored.contains(&target) {
        return Ok(Some(target));
    }
    let best = stored
        .iter()
        .filter(|s| target.is_multiple_of(s))
        .max()
        .copied();
    if best.is_none() && !stored.is_empty() {
        return Err(Error::param(
            "interval",
            format!(
                "{target} bars cannot be built from the stored intervals ({}) of {id}",
                stored
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(best)
}

/// Span of `n` intervals in nanoseconds (months count as 31 days: an upper bound).
fn span(interval: Interval, n: usize) -> i64 {
    let one = interval
        .duration_nanos()
        .unwrap_or(31 * 86_400 * 1_000_000_000);
    one.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(crate) async fn load_bars(
    state: &ApiState,
    id: &InstrumentId,
    target: Interval,
    range: TimeRange,
    limit: usize,
    after: Option<UnixNanos>,
) -> Result<Loaded> {
    let store = state.store();
    let Some(source) = source_interval(state, id, target).await? else {
        return Ok(Loaded {
            bars: Vec::new(),
            next: None,
            source: target,
        });
    };
    if source == target {
        let page = store.bars_page(id, target, range, limit, after).await?;
        return Ok(Loaded {
            bars: page.bars,
            next: page.next_cursor,
            source,
        });
    }
    let mut start = match after {
        Some(a) => range.start.max(target.next(a)),
        None => range.start,
    };
    if start == UnixNanos::MIN {
        match store.first_bar(id, source).await? {
            Some(b) => start = b.open_time,
            None => {
                return Ok(Loaded {
                    bars: Vec::new(),
                    next: None,
                    source,
                });
            }
        }
    }
    if start >= range.end {
        return Ok(Loaded {
            bars: Vec::new(),
            next: None,
            source,
        });
    }
    let cap = target
        .floor(start)
        .saturating_add(span(target, limit.saturating_add(1)));
    let end = range.end.min(cap);
    let mut bars: Vec<Bar> = store
        .resampled_bars(id, source, target, TimeRange { start, end })
        .await?
        .into_iter()
        .filter(|b| b.open_time >= start && b.open_time < range.end)
        .collect();
    let mut more = bars.len() > limit;
    bars.truncate(limit);
    if !more && end < range.end {
        // Nothing more in the window read; look for any source bar beyond it.
        let probe = store
            .bars_page(
                id,
                source,
                TimeRange {
                    start: end,
                    end: range.end,
                },
                1,
                None,
            )
            .await?;
        more = !probe.bars.is_empty();
    }
    let next = if more {
        bars.last()
            .map(|b| b.open_time)
            .or_else(|| Some(target.prev(target.floor(end))))
    } else {
        None
    };
    Ok(Loaded { bars, next, source })
}

fn wants_csv(headers: &HeaderMap, format: Option<&str>) -> Result<bool> {
    match format.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) if f.eq_ignore_ascii_case("csv") => return Ok(true),
        Some(f) if f.eq_ignore_ascii_case("json") => return Ok(false),
        Some(f) => {
            return Err(Error::param(
                "format",
                format!("{f:?} is not a format; expected json or csv"),
            ));
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let csv = accept.find("text/csv");
    let json = accept.find("application/json");
    Ok(match (csv, json) {
        (Some(c), Some(j)) => c < j,
        (Some(_), None) => true,
        _ => false,
    })
}

fn csv_body(bars: &[Bar]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64 + bars.len() * 80);
    out.push_str("timestamp,open,high,low,close,volume\n");
    for b in bars {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            b.open_time.to_rfc3339(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        );
    }
    out
}

/// Bars of one instrument, as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/bars", tag = "market data", params(BarsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of bars; with `Accept: text/csv` (or `format=csv`) a CSV with header `timestamp,open,high,low,close,volume` and the next cursor in `X-Next-Cursor`",
            content((BarsPage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter (named in `param`)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn bars(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    headers: HeaderMap,
    Query(q): Query<BarsQuery>,
) -> Result<Response> {
    let csv = wants_csv(&headers, q.format.as_deref())?;
    let interval = params::interval("interval", q.interval.as_deref(), Interval::M1)?;
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let after = params::decode_cursor(q.cursor.as_deref())?;
    let inst = params::instrument(&state, Some(&q.symbol), q.venue.as_deref()).await?;
    let loaded = load_bars(&state, &inst.id, interval, range, limit, after).await?;
    let next_cursor = loaded.next.map(params::encode_cursor);
    if csv {
        let mut res = csv_body(&loaded.bars).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Some(c) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.headers_mut().insert("x-next-cursor", c);
        }
        return Ok(res);
    }
    Ok(Json(BarsPage {
        symbol: inst.id.symbol.to_string(),
        venue: inst.id.venue.to_string(),
        interval: interval.to_string(),
        source_interval: loaded.source.to_string(),
        bars: loaded.bars.iter().map(BarJson::from).collect(),
        next_cursor,
    })
    .into_response())
}

/// Parameters of `GET /api/v1/chart`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChartQuery {
    /// Ticker.
    symbol: String,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// Bar interval; default: the finest interval that fits the range into `points`.
    interval: Option<String>,
    /// Start (default: `points` intervals before `to`, or the first stored bar when no interval is given).
    from: Option<String>,
    /// End, exclusive (default: after the newest stored bar).
    to: Option<String>,
    /// Most bars returned, 10 to 5000 (default 1500).
    points: Option<String>,
}

/// A chart series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChartSeries {
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// Interval of the bars served.
    interval: String,
    /// Stored interval they were built from.
    source_interval: String,
    /// Bars in ascending time (at most `points`, the newest when the range holds more).
    bars: Vec<BarJson>,
}

/// Intervals a chart may be downsampled to, finest first.
const CHART_LADDER: &[&str] = &["1m", "5m", "15m", "30m", "1h", "4h", "12h", "1d", "1w"];

/// A bar series downsampled on the server to fit a chart (at most `points` bars).
#[utoipa::path(get, path = "/api/v1/chart", tag = "market data", params(ChartQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Series for a chart", body = ChartSeries),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn chart(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<ChartQuery>,
) -> Result<Json<ChartSeries>> {
    let points = match q.points.as_deref().filter(|s| !s.is_empty()) {
        None => 1500,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if (10..=5000).contains(&n) => n,
            _ => {
                return Err(Error::param(
                    "points",
                    format!("{s:?} is not a point count; expected an integer from 10 to 5000"),
                ));
            }
        },
    };
    let asked = q
        .interval
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| params::interval("interval", Some(s), Interval::M1))
        .transpose()?;
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let inst = params::instrument(&state, Some(&q.symbol), q.venue.as_deref()).await?;
    let id = inst.id;
    let store = state.store();
    let stored = store.bar_intervals(&id).await?;
    let empty = |interval: Interval| ChartSeries {
        symbol: id.symbol.to_string(),
        venue: id.venue.to_string(),
        interval: interval.to_string(),
        source_interval: interval.to_string(),
        bars: Vec::new(),
    };
    let Some(finest) = stored.first().copied() else {
        return Ok(Json(empty(asked.unwrap_or(Interval::M1))));
    };
    let end = if range.end == UnixNanos::MAX {
        match store.latest_bar(&id, finest).await? {
            Some(b) => b.close_time(),
            None => return Ok(Json(empty(asked.unwrap_or(finest)))),
        }
    } else {
        range.end
    };
    let (interval, start) = match asked {
        Some(i) => {
            let start = if range.start == UnixNanos::MIN {
                UnixNanos(end.0.saturating_sub(span(i, points)))
            } else {
                range.start
            };
            (i, start)
        }
        None => {
            let start = if range.start == UnixNanos::MIN {
                match store.first_bar(&id, finest).await? {
                    Some(b) => b.open_time,
                    None => return Ok(Json(empty(finest))),
                }
            } else {
                range.start
            };
            let width = end.0.saturating_sub(start.0);
            let pick = CHART_LADDER
                .iter()
                .filter_map(|s| Interval::parse(s).ok())
                .filter(|i| i.is_multiple_of(&finest))
                .find(|i| {
                    width / i.duration_nanos().unwrap_or(i64::MAX).max(1)
                        <= i64::try_from(points).unwrap_or(i64::MAX)
                })
                .unwrap_or(Interval::new(1, tessera_model::IntervalUnit::Week).unwrap_or(finest));
            (pick, start)
        }
    };
    // Read the last `points` bars of the range: start late enough that they fit on one page.
    let start = start.max(UnixNanos(end.0.saturating_sub(span(interval, points))));
    let loaded = load_bars(
        &state,
        &id,
        interval,
        TimeRange { start, end },
        points,
        None,
    )
    .await?;
    Ok(Json(ChartSeries {
        symbol: id.symbol.to_string(),
        venue: id.venue.to_string(),
        interval: interval.to_string(),
        source_interval: loaded.source.to_string(),
        bars: loaded.bars.iter().map(BarJson::from).collect(),
    }))
}

/// Top of book at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct QuoteJson {
    /// When the venue produced it, RFC 3339 UTC.
    timestamp: String,
    /// Best bid.
    bid_price: String,
    /// Quantity at the best bid.
    bid_size: String,
    /// Best ask.
    ask_price: String,
    /// Quantity at the best ask.
    ask_size: String,
}

impl From<&Quote> for QuoteJson {
    fn from(q: &Quote) -> Self {
        Self {
            timestamp: q.ts_event.to_rfc3339(),
            bid_price: q.bid_price.to_string(),
            bid_size: q.bid_size.to_string(),
            ask_price: q.ask_price.to_string(),
            ask_size: q.ask_size.to_string(),
        }
    }
}

/// A page of quotes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuotesPage {
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// Quotes in ascending time.
    quotes: Vec<QuoteJson>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Parameters of `GET /api/v1/quotes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuotesQuery {
    /// Ticker.
    symbol: String,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// First time included: RFC 3339 or an epoch number.
    from: Option<String>,
    /// First time excluded: RFC 3339 or an epoch number.
    to: Option<String>,
    /// Page size, 1 to the server maximum (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Stored top-of-book quotes.
#[utoipa::path(get, path = "/api/v1/quotes", tag = "market data", params(QuotesQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of quotes", body = QuotesPage),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn quotes(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<QuotesQuery>,
) -> Result<Json<QuotesPage>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let after = params::decode_cursor(q.cursor.as_deref())?;
    let inst = params::instrument(&state, Some(&q.symbol), q.venue.as_deref()).await?;
    let start = match after {
        Some(a) => range.start.max(a.saturating_add(1)),
        None => range.start,
    };
    let mut quotes = if start >= range.end {
        Vec::new()
    } else {
        state
            .store()
            .quotes_range(
                &inst.id,
                TimeRange {
                    start,
                    end: range.end,
                },
                limit + 1,
            )
            .await?
    };
    let more = quotes.len() > limit;
    quotes.truncate(limit);
    Ok(Json(QuotesPage {
        symbol: inst.id.symbol.to_string(),
        venue: inst.id.venue.to_string(),
        next_cursor: if more {
            quotes.last().map(|q| params::encode_cursor(q.ts_event))
        } else {
            None
        },
        quotes: quotes.iter().map(QuoteJson::from).collect(),
    }))
}

/// Parameters naming one instrument.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstrumentQuery {
    /// Ticker.
    symbol: String,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
}

/// The newest top of book of one instrument.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LatestQuote {
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// The newest stored quote; `null` when none is stored.
    quote: Option<QuoteJson>,
}

/// The newest stored top of book.
#[utoipa::path(get, path = "/api/v1/quotes/latest", tag = "market data", params(InstrumentQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Newest quote (or null)", body = LatestQuote),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn latest_quote(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<InstrumentQuery>,
) -> Result<Json<LatestQuote>> {
    let inst = params::instrument(&state, Some(&q.symbol), q.venue.as_deref()).await?;
    let quote = state.store().latest_quote(&inst.id).await?;
    Ok(Json(LatestQuote {
        symbol: inst.id.symbol.to_string(),
        venue: inst.id.venue.to_string(),
        quote: quote.as_ref().map(QuoteJson::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_wants_csv_by_accept_and_format() {
        let mut h = HeaderMap::new();
        assert!(!wants_csv(&h, None).unwrap());
        h.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
        assert!(wants_csv(&h, None).unwrap());
        assert!(!wants_csv(&h, Some("json")).unwrap());
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/csv;q=0.5"),
        );
        assert!(!wants_csv(&h, None).unwrap());
        assert!(wants_csv(&h, Some("xml")).is_err());
    }
}
