//! Systems and their optimal (target) positions.
//!
//! The scheduler's `run_systems` job replays a built-in strategy over the
//! most recent stored bars and stores the position it ends with as the
//! instrument's target, one JSON record per system and instrument
//! (`tessera_scheduler::SystemTarget`), in the store's named state under
//! `systems:target:<system>:<SYMBOL.VENUE>`. These routes read those records
//! back; the order stack's current position of the same strategy id sits
//! beside each target for comparison.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use utoipa::{IntoParams, ToSchema};

use tessera_scheduler::{SystemTarget, TARGET_PREFIX};

use crate::ApiState;
use crate::auth::ReadAccess;
use crate::error::Result;
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/systems", get(list))
        .route("/systems/positions", get(positions))
}

/// A parsed, validated target.
#[derive(Debug)]
struct Target {
    system: String,
    strategy: String,
    symbol: String,
    venue: String,
    target: Decimal,
    price: String,
    bar_time: String,
    computed_at: UnixNanos,
}

/// Every stored target, oldest computation first. Records that do not parse
/// (written by something else under the prefix) are skipped with a warning.
async fn targets(state: &ApiState) -> Result<Vec<Target>> {
    let store = state.store();
    let mut out = Vec::new();
    for key in store.state_keys(TARGET_PREFIX).await? {
        let Some(text) = store.state(&key).await? else {
            continue;
        };
        let parsed = serde_json::from_str::<SystemTarget>(&text)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                let (symbol, venue) = r
                    .instrument
                    .rsplit_once('.')
                    .ok_or_else(|| format!("instrument {:?} is not SYMBOL.VENUE", r.instrument))?;
                let target: Decimal = r
                    .target
                    .trim()
                    .parse()
                    .map_err(|e| format!("target: {e}"))?;
                let computed_at =
                    UnixNanos::parse(&r.computed_at).map_err(|e| format!("computed_at: {e}"))?;
                Ok(Target {
                    symbol: symbol.to_string(),
                    venue: venue.to_string(),
                    system: r.system,
                    strategy: r.strategy,
                    target,
                    price: r.price,
                    bar_time: r.bar_time,
                    computed_at,
                })
            });
        match parsed {
            Ok(t) => out.push(t),
            Err(e) => tracing::warn!(key, "stored system target skipped: {e}"),
        }
    }
    out.sort_by(|a, b| {
        (a.computed_at, &a.system, &a.symbol, &a.venue).cmp(&(
            b.computed_at,
            &b.system,
            &b.symbol,
            &b.venue,
        ))
    });
    Ok(out)
}

fn matches(want: Option<&str>, have: &str) -> bool {
    want.map(str::trim)
        .filter(|w| !w.is_empty())
        .is_none_or(|w| w.eq_ignore_ascii_case(have))
}

/// One system: the strategy it runs and when it last computed targets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SystemJson {
    /// System name (also the strategy id of the orders it leads to).
    system: String,
    /// Built-in strategy it runs (of its latest run).
    strategy: String,
    /// Latest computation of any of its targets, RFC 3339.
    last_run_at: String,
    /// Instruments it holds a target for.
    instruments: usize,
}

/// Systems.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SystemList {
    /// By latest run, oldest first; empty until the `run_systems` job has run.
    systems: Vec<SystemJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Filters and page of the system list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SystemsQuery {
    /// Latest run at or after (RFC 3339, date or epoch).
    from: Option<String>,
    /// Latest run before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Systems that have stored target positions, with their latest run time.
#[utoipa::path(get, path = "/api/v1/systems", tag = "systems", params(SystemsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of systems", body = SystemList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<SystemsQuery>,
) -> Result<Json<SystemList>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    // Targets come oldest first, so the last one seen per system is its latest.
    let mut by_system: BTreeMap<String, (String, UnixNanos, usize)> = BTreeMap::new();
    for t in targets(&state).await? {
        let e = by_system
            .entry(t.system.clone())
            .or_insert_with(|| (String::new(), t.computed_at, 0));
        e.0 = t.strategy;
        e.1 = t.computed_at;
        e.2 += 1;
    }
    let mut systems: Vec<(String, String, UnixNanos, usize)> = by_system
        .into_iter()
        .map(|(s, (strategy, at, n))| (s, strategy, at, n))
        .collect();
    systems.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    let (page, next_cursor) = params::page_by_time(systems, |s| s.2, range, cursor, limit);
    Ok(Json(SystemList {
        systems: page
            .into_iter()
            .map(|(system, strategy, at, instruments)| SystemJson {
                system,
                strategy,
                last_run_at: at.to_rfc3339(),
                instruments,
            })
            .collect(),
        next_cursor,
    }))
}

/// One optimal position: what a system wants to hold, and what its strategy holds now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TargetJson {
    /// System name.
    system: String,
    /// Built-in strategy that computed it.
    strategy: String,
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// `SYMBOL.VENUE`.
    instrument: String,
    /// Wanted signed position in units, exact decimal string (negative: short).
    target: String,
    /// Signed position the order stack holds for the system's strategy id now, decimal string ("0" when none).
    current: String,
    /// `target − current`, decimal string: what order generation would trade (before buffers and minimums).
    difference: String,
    /// Last close the decision saw, decimal string.
    price: String,
    /// Open time of the last bar the decision saw, RFC 3339.
    bar_time: String,
    /// When the target was computed, RFC 3339.
    computed_at: String,
}

/// Optimal positions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TargetList {
    /// By computation time, oldest first; empty until the `run_systems` job has run.
    positions: Vec<TargetJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Filters and page of the optimal positions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TargetsQuery {
    /// Only this system.
    system: Option<String>,
    /// Only this ticker.
    symbol: Option<String>,
    /// Only this venue.
    venue: Option<String>,
    /// Computed at or after (RFC 3339, date or epoch).
    from: Option<String>,
    /// Computed before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Systems' optimal (target) positions, with the current position for comparison.
#[utoipa::path(get, path = "/api/v1/systems/positions", tag = "systems", params(TargetsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of optimal positions", body = TargetList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn positions(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<TargetsQuery>,
) -> Result<Json<TargetList>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    let kept: Vec<Target> = targets(&state)
        .await?
        .into_iter()
        .filter(|t| {
            matches(q.system.as_deref(), &t.system)
                && matches(q.symbol.as_deref(), &t.symbol)
                && matches(q.venue.as_deref(), &t.venue)
        })
        .collect();
    let (page, next_cursor) = params::page_by_time(kept, |t| t.computed_at, range, cursor, limit);
    let held = if page.is_empty() {
        Vec::new()
    } else {
        state.store().positions().await?
    };
    let positions = page
        .into_iter()
        .map(|t| {
            let current = held
                .iter()
                .find(|p| {
                    p.strategy.as_str() == t.system
                        && p.position.instrument.symbol.as_str() == t.symbol
                        && p.position.instrument.venue.as_str() == t.venue
                })
                .map_or(Decimal::ZERO, |p| p.position.quantity);
            let difference = t.target.checked_sub(current).unwrap_or(Decimal::ZERO);
            TargetJson {
                instrument: format!("{}.{}", t.symbol, t.venue),
                system: t.system,
                strategy: t.strategy,
                symbol: t.symbol,
                venue: t.venue,
                target: t.target.normalize().to_string(),
                current: current.normalize().to_string(),
                difference: difference.normalize().to_string(),
                price: t.price,
                bar_time: t.bar_time,
                computed_at: t.computed_at.to_rfc3339(),
            }
        })
        .collect();
    Ok(Json(TargetList {
        positions,
        next_cursor,
    }))
}
