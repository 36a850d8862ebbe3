//! `/api/v1/data/status` (what is collected, how fresh) and `/api/v1/data/gaps`
//! (missing candles between the first and last stored one, on a 24/7 grid,
//! like `tessera data gaps`).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::{TimeRange, UnixNanos};
use tessera_model::{InstrumentId, Interval};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::Result;
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/data/status", get(status))
        .route("/data/gaps", get(gaps))
}

/// Collection status of one instrument and interval.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeriesStatus {
    /// Ticker.
    pub(crate) symbol: String,
    /// Venue.
    pub(crate) venue: String,
    /// Bar interval.
    pub(crate) interval: String,
    /// Collector state (`created`, `backfilling`, `live`, `paused`, `failed`); `null` when never collected (imported data).
    pub(crate) state: Option<String>,
    /// Open time of the oldest stored bar.
    pub(crate) first: Option<String>,
    /// Open time of the newest stored bar.
    pub(crate) last: Option<String>,
    /// Stored bar count.
    pub(crate) bars: u64,
    /// Seconds between the newest bar's close and now.
    pub(crate) lag_seconds: Option<i64>,
    /// The collector's last error, when it failed or paused.
    pub(crate) last_error: Option<String>,
}

/// Status of every collected or stored series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DataStatus {
    /// One entry per instrument and interval, ordered by venue, symbol, interval.
    series: Vec<SeriesStatus>,
}

pub(crate) async fn collect_status(state: &ApiState) -> Result<Vec<SeriesStatus>> {
    let store = state.store();
    let now = state.clock().now();
    let cursors = store.list_cursors().await?;
    let mut out = Vec::new();
    for inst in store.list_instruments().await? {
        let id = inst.id;
        let mut intervals: BTreeSet<Interval> =
            store.bar_intervals(&id).await?.into_iter().collect();
        intervals.extend(
            cursors
                .iter()
                .filter(|c| c.instrument == id)
                .map(|c| c.interval),
        );
        for interval in intervals {
            let cursor = cursors
                .iter()
                .find(|c| c.instrument == id && c.interval == interval);
            let first = store.first_bar(&id, interval).await?;
            let last = store.latest_bar(&id, interval).await?;
            out.push(SeriesStatus {
                symbol: id.symbol.to_string(),
                venue: id.venue.to_string(),
                interval: interval.to_string(),
                state: cursor.map(|c| c.state.to_string()),
                first: first.map(|b| b.open_time.to_rfc3339()),
                last: last.map(|b| b.open_time.to_rfc3339()),
                bars: store.bar_count(&id, interval).await?,
                lag_seconds: last.map(|b| now.nanos_since(b.close_time()).max(0) / 1_000_000_000),
                last_error: cursor.and_then(|c| c.last_error.clone()),
            });
        }
    }
    Ok(out)
}

/// Per instrument and interval: collector state, first and last bar, count, lag, last error.
#[utoipa::path(get, path = "/api/v1/data/status", tag = "data",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Status of every series", body = DataStatus),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn status(
    State(state): State<ApiState>,
    _auth: ReadAccess,
) -> Result<Json<DataStatus>> {
    Ok(Json(DataStatus {
        series: collect_status(&state).await?,
    }))
}

/// Parameters of `GET /api/v1/data/gaps`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GapsQuery {
    /// Ticker.
    symbol: String,
    /// Venue; optional when the symbol is listed on one venue only.
    venue: Option<String>,
    /// Stored interval to check (default `1m`).
    interval: Option<String>,
    /// Only from this time: RFC 3339 or an epoch number.
    from: Option<String>,
    /// Only before this time: RFC 3339 or an epoch number.
    to: Option<String>,
    /// Most gaps listed, 1 to the server maximum (default 1000).
    limit: Option<String>,
}

/// A run of missing bars.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Gap {
    /// Open time of the first missing bar.
    from: String,
    /// Open time of the next stored bar (exclusive end).
    to: String,
    /// Bars missing.
    missing: u64,
}

/// Missing bars of one series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Gaps {
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// Interval checked.
    interval: String,
    /// Gaps in ascending time.
    gaps: Vec<Gap>,
    /// Bars missing in all listed gaps.
    missing: u64,
    /// Whether more gaps exist than `limit` allowed listing.
    truncated: bool,
}

async fn find_gaps(
    state: &ApiState,
    id: &InstrumentId,
    interval: Interval,
    range: TimeRange,
    limit: usize,
) -> Result<(Vec<Gap>, bool)> {
    let mut gaps = Vec::new();
    let mut prev: Option<UnixNanos> = None;
    let mut after = None;
    loop {
        // Page through so a million bars never sit in memory at once.
        let page = state
            .store()
            .bars_page(id, interval, range, 50_000, after)
            .await?;
        for b in &page.bars {
            if let Some(p) = prev {
                let expected = interval.next(p);
                if b.open_time > expected {
                    if gaps.len() == limit {
                        return Ok((gaps, true));
                    }
                    let missing = match interval.duration_nanos() {
                        Some(d) => {
                            u64::try_from(b.open_time.nanos_since(expected) / d.max(1)).unwrap_or(0)
                        }
                        None => {
                            // Calendar months: count them one by one (few per gap).
                            let (mut n, mut t) = (0u64, expected);
                            while t < b.open_time {
                                n += 1;
                                t = interval.next(t);
                            }
                            n
                        }
                    };
                    gaps.push(Gap {
                        from: expected.to_rfc3339(),
                        to: b.open_time.to_rfc3339(),
                        missing,
                    });
                }
            }
            prev = Some(b.open_time);
        }
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok((gaps, false)),
        }
    }
}

/// Missing bars between the first and last stored one (24/7 grid).
#[utoipa::path(get, path = "/api/v1/data/gaps", tag = "data", params(GapsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Gaps", body = Gaps),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn gaps(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<GapsQuery>,
) -> Result<Json<Gaps>> {
    let interval = params::interval("interval", q.interval.as_deref(), Interval::M1)?;
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let inst = params::instrument(&state, Some(&q.symbol), q.venue.as_deref()).await?;
    let (gaps, truncated) = find_gaps(&state, &inst.id, interval, range, limit).await?;
    Ok(Json(Gaps {
        symbol: inst.id.symbol.to_string(),
        venue: inst.id.venue.to_string(),
        interval: interval.to_string(),
        missing: gaps.iter().map(|g| g.missing).sum(),
        gaps,
        truncated,
    }))
}
