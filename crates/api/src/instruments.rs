//! `/api/v1/instruments`: the security master over HTTP.
//!
//! Adding an instrument (scope `trade`) stores it and registers it for
//! collection: its ingest cursor is created in state `created`, which the
//! collectors (`tessera data backfill`, `tessera up`) pick up, and, when the
//! platform provides a [`crate::BackfillStarter`], its backfill job is
//! started right away. Removing one (scope `admin`) is refused while data is
//! stored unless `force=true`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_model::{Currency, IngestState, Instrument, InstrumentKind, Interval, Price, Quantity};
use tessera_storage::CursorUpdate;
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{AdminAccess, ReadAccess, TradeAccess};
use crate::error::{Error, Result};
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/instruments", get(list).post(add))
        .route("/instruments/{venue}/{symbol}", get(show).delete(remove))
}

/// One instrument (the same keys as `tessera instruments show --json`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct InstrumentJson {
    /// Ticker on its venue.
    symbol: String,
    /// Venue.
    venue: String,
    /// `equity`, `future`, `crypto` or `fx`.
    kind: String,
    /// Quote currency.
    currency: String,
    /// Base asset of crypto and FX pairs.
    base_currency: Option<String>,
    /// Smallest price increment (exact decimal).
    tick_size: String,
    /// Quantity increment (exact decimal).
    lot_size: String,
    /// Smallest order quantity (exact decimal).
    min_quantity: String,
    /// Contract multiplier (exact decimal).
    multiplier: String,
    /// IANA time zone of the exchange.
    timezone: String,
    /// Whether it is traded and collected.
    active: bool,
}

impl From<&Instrument> for InstrumentJson {
    fn from(i: &Instrument) -> Self {
        Self {
            symbol: i.id.symbol.to_string(),
            venue: i.id.venue.to_string(),
            kind: i.kind.to_string(),
            currency: i.quote_currency.to_string(),
            base_currency: i.base_currency.map(|c| c.to_string()),
            tick_size: i.tick_size.to_string(),
            lot_size: i.lot_size.to_string(),
            min_quantity: i.min_quantity.to_string(),
            multiplier: i.multiplier.to_string(),
            timezone: i.timezone.clone(),
            active: i.active,
        }
    }
}

/// A list of instruments.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstrumentList {
    /// Instruments ordered by venue, then symbol.
    instruments: Vec<InstrumentJson>,
}

/// Filters of the instrument list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this venue.
    venue: Option<String>,
    /// Only this kind (`equity`, `future`, `crypto`, `fx`).
    kind: Option<String>,
}

/// List instruments.
#[utoipa::path(get, path = "/api/v1/instruments", tag = "instruments", params(ListQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Instruments", body = InstrumentList),
        (status = 400, description = "Bad filter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<ListQuery>,
) -> Result<Json<InstrumentList>> {
    let kind = q
        .kind
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|k| {
            k.parse::<InstrumentKind>()
                .map_err(|e| Error::param("kind", e.to_string()))
        })
        .transpose()?;
    let venue = q.venue.as_deref().filter(|s| !s.is_empty());
    let instruments = state
        .store()
        .list_instruments()
        .await?
        .iter()
        .filter(|i| venue.is_none_or(|v| i.id.venue.as_str() == v))
        .filter(|i| kind.is_none_or(|k| i.kind == k))
        .map(InstrumentJson::from)
        .collect();
    Ok(Json(InstrumentList { instruments }))
}

/// Show one instrument.
#[utoipa::path(get, path = "/api/v1/instruments/{venue}/{symbol}", tag = "instruments",
    params(("venue" = String, Path, description = "Venue"), ("symbol" = String, Path, description = "Ticker")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The instrument", body = InstrumentJson),
        (status = 400, description = "Malformed symbol or venue", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such instrument", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path((venue, symbol)): Path<(String, String)>,
) -> Result<Json<InstrumentJson>> {
    let id = params::instrument_id(&symbol, &venue)?;
    let inst = state.store().instrument(&id).await?;
    Ok(Json(InstrumentJson::from(&inst)))
}

/// Body of `POST /api/v1/instruments`: the kind's defaults apply to omitted fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddInstrument {
    /// Ticker on the venue, e.g. `BTCUSDT`.
    symbol: String,
    /// Venue, e.g. `binance` or `sim`.
    venue: String,
    /// `equity`, `future`, `crypto` or `fx` (default `crypto`).
    kind: Option<String>,
    /// Quote currency (default: from the symbol or kind).
    currency: Option<String>,
    /// Base asset (crypto, fx).
    base_currency: Option<String>,
    /// Tick size, decimal string.
    tick_size: Option<String>,
    /// Lot size, decimal string.
    lot_size: Option<String>,
    /// Smallest order quantity, decimal string.
    min_quantity: Option<String>,
    /// Contract multiplier, decimal string.
    multiplier: Option<String>,
    /// IANA time zone.
    timezone: Option<String>,
    /// Interval to collect (default `1m`).
    interval: Option<String>,
}

/// What adding an instrument did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Added {
    /// The stored instrument.
    instrument: InstrumentJson,
    /// How its history gets collected.
    backfill: BackfillInfo,
}

/// Collection status of a newly added instrument.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackfillInfo {
    /// Interval registered for collection.
    interval: String,
    /// Ingest cursor state (`created`: waiting for a collector).
    state: String,
    /// Reference of the backfill job started, when the platform runs a scheduler.
    job: Option<String>,
}

fn body_err(field: &str, e: impl std::fmt::Display) -> Error {
    Error::param(format!("body.{field}"), e.to_string())
}

fn build(a: &AddInstrument) -> Result<(Instrument, Interval)> {
    let id = params::instrument_id(a.symbol.trim(), a.venue.trim()).map_err(|e| match e {
        Error::BadParam { param, reason } => Error::param(format!("body.{param}"), reason),
        other => other,
    })?;
    let kind: InstrumentKind = match a.kind.as_deref() {
        None => InstrumentKind::Crypto,
        Some(k) => k.parse().map_err(|e| body_err("kind", e))?,
    };
    let mut inst = match Instrument::with_defaults(id, kind) {
        Ok(i) => i,
        Err(_) if a.currency.is_some() => {
            let mut i = Instrument::with_defaults(id, InstrumentKind::Equity)
                .map_err(|e| body_err("symbol", e))?;
            i.kind = kind;
            i.timezone = "UTC".into();
            i
        }
        Err(e) => return Err(body_err("symbol", e)),
    };
    if let Some(c) = &a.currency {
        inst.quote_currency = Currency::new(c).map_err(|e| body_err("currency", e))?;
    }
    if let Some(c) = &a.base_currency {
        inst.base_currency = Some(Currency::new(c).map_err(|e| body_err("base_currency", e))?);
    }
    if let Some(t) = &a.tick_size {
        inst.tick_size = Price::parse(t).map_err(|e| body_err("tick_size", e))?;
        if inst.tick_size.as_decimal() <= Decimal::ZERO {
            return Err(body_err("tick_size", format!("{t:?} must be positive")));
        }
    }
    if let Some(l) = &a.lot_size {
        inst.lot_size = Quantity::parse(l).map_err(|e| body_err("lot_size", e))?;
        inst.min_quantity = inst.lot_size;
    }
    if let Some(m) = &a.min_quantity {
        inst.min_quantity = Quantity::parse(m).map_err(|e| body_err("min_quantity", e))?;
    }
    if let Some(m) = &a.multiplier {
        inst.multiplier =
            Decimal::from_str_exact(m.trim()).map_err(|e| body_err("multiplier", e))?;
    }
    if let Some(tz) = &a.timezone {
        inst.timezone.clone_from(tz);
    }
    inst.validate().map_err(|e| body_err("instrument", e))?;
    let interval = params::interval("body.interval", a.interval.as_deref(), Interval::M1)?;
    Ok((inst, interval))
}

/// Add an instrument and start collecting its history.
#[utoipa::path(post, path = "/api/v1/instruments", tag = "instruments", request_body = AddInstrument,
    security(("bearer" = ["trade"])),
    responses(
        (status = 201, description = "Stored and registered for backfill", body = Added),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already exists", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn add(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    params::Json(body): params::Json<AddInstrument>,
) -> Result<(StatusCode, Json<Added>)> {
    let (inst, interval) = build(&body)?;
    state.store().add_instrument(&inst).await?;
    state
        .store()
        .update_cursor(&CursorUpdate {
            instrument: inst.id,
            interval,
            state: IngestState::Created,
            last_open_time: None,
            last_error: None,
        })
        .await?;
    let job = match state.backfill() {
        Some(b) => match b.start_backfill(inst.id, interval).await {
            Ok(job) => Some(job),
            Err(e) => {
                tracing::warn!(instrument = %inst.id, error = %e, "could not start backfill job");
                None
            }
        },
        None => None,
    };
    tracing::info!(instrument = %inst.id, %interval, job = ?job, "instrument added over the API");
    Ok((
        StatusCode::CREATED,
        Json(Added {
            instrument: InstrumentJson::from(&inst),
            backfill: BackfillInfo {
                interval: interval.to_string(),
                state: IngestState::Created.to_string(),
                job,
            },
        }),
    ))
}

/// Options of instrument removal.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RemoveQuery {
    /// Also delete its stored bars and quotes (`true`/`false`).
    force: Option<String>,
}

/// What removing an instrument deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Removed {
    /// `venue:symbol` removed.
    removed: String,
    /// Bars deleted with it.
    bars: u64,
    /// Quotes deleted with it.
    quotes: u64,
}

/// Remove an instrument (with its data when `force=true`).
#[utoipa::path(delete, path = "/api/v1/instruments/{venue}/{symbol}", tag = "instruments",
    params(("venue" = String, Path, description = "Venue"), ("symbol" = String, Path, description = "Ticker"), RemoveQuery),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token scope is not `admin`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such instrument", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Data stored and `force` not set", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    _auth: AdminAccess,
    Path((venue, symbol)): Path<(String, String)>,
    Query(q): Query<RemoveQuery>,
) -> Result<Json<Removed>> {
    let id = params::instrument_id(&symbol, &venue)?;
    let force = params::flag("force", q.force.as_deref())?;
    let r = state
        .store()
        .remove_instrument(&id, force)
        .await
        .map_err(|e| match e {
            tessera_storage::Error::Refused(m) => {
                Error::Conflict(m.replace("pass --force", "pass force=true"))
            }
            other => other.into(),
        })?;
    Ok(Json(Removed {
        removed: id.to_string(),
        bars: r.bars,
        quotes: r.quotes,
    }))
}
