//! Trading resources: positions, orders (list, show, submit, cancel), fills,
//! account and capital history, and the kill switch.
//!
//! Reads come straight from the store (the order stack's tables), so they
//! work under `tessera serve` while `tessera trade` runs elsewhere. Submits
//! and cancels go through the state's [`crate::OrderDesk`] — risk checks and
//! the persistent order stack — never straight to a broker.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_execution::stack::KILL_SWITCH_KEY;
use tessera_model::{
    ClientOrderId, Order, OrderRequest, OrderStatus, OrderType, Price, Quantity, Side, StrategyId,
    TimeInForce,
};
use tessera_storage::{AccountSnapshot, StoredFill, StoredOrder, StoredPosition};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::{ReadAccess, TradeAccess};
use crate::desk::DeskError;
use crate::error::{Error, Result};
use crate::params::{self, Query};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/positions", get(positions))
        .route("/orders", get(list_orders).post(submit))
        .route("/orders/{id}", get(show_order))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/fills", get(fills))
        .route("/account", get(account))
        .route("/account/history", get(account_history))
        .route("/kill-switch", get(kill_switch).post(set_kill_switch))
}

/// Filters shared by positions, orders and fills.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TradeFilter {
    /// Only this strategy (`manual` for orders sent over the API).
    strategy: Option<String>,
    /// Only this ticker.
    symbol: Option<String>,
    /// Only this venue.
    venue: Option<String>,
}

impl TradeFilter {
    fn keeps(&self, strategy: &StrategyId, symbol: &str, venue: &str) -> bool {
        let eq = |want: &Option<String>, have: &str| {
            want.as_deref()
                .filter(|w| !w.is_empty())
                .is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        eq(&self.strategy, strategy.as_str()) && eq(&self.symbol, symbol) && eq(&self.venue, venue)
    }
}

/// One position of one strategy in one instrument, with its P&L.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PositionJson {
    /// Owner.
    strategy: String,
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// Signed quantity, decimal string (negative: short).
    quantity: String,
    /// Average entry price of the open quantity, decimal string.
    avg_price: String,
    /// Last mark, decimal string (null when never marked).
    last_price: Option<String>,
    /// Quantity × mark × multiplier, decimal string (null without a mark).
    market_value: Option<String>,
    /// Open P&L at the mark, decimal string (null without a mark).
    unrealized_pnl: Option<String>,
    /// Realised P&L to date, decimal string.
    realized_pnl: String,
    /// Commissions paid, decimal string.
    commissions: String,
    /// Currency of the money fields.
    currency: String,
    /// Last change, RFC 3339.
    updated_at: String,
}

impl From<&StoredPosition> for PositionJson {
    fn from(s: &StoredPosition) -> Self {
        let p = &s.position;
        let unrealized = s.last_price.and_then(|px| p.unrealized_pnl(px).ok());
        let value = s
            .last_price
            .and_then(|px| px.as_decimal().checked_mul(p.quantity))
            .and_then(|v| v.checked_mul(p.multiplier));
        Self {
            strategy: s.strategy.to_string(),
            symbol: p.instrument.symbol.to_string(),
            venue: p.instrument.venue.to_string(),
            quantity: p.quantity.normalize().to_string(),
            avg_price: p.avg_price.normalize().to_string(),
            last_price: s.last_price.map(|x| x.to_string()),
            market_value: value.map(|v| v.normalize().to_string()),
            unrealized_pnl: unrealized.map(|m| m.amount.normalize().to_string()),
            realized_pnl: p.realized_pnl.amount.normalize().to_string(),
            commissions: p.commissions.amount.normalize().to_string(),
            currency: p.realized_pnl.currency.to_string(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// Positions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PositionList {
    /// By strategy and instrument; flat positions only with `include_flat=true`.
    positions: Vec<PositionJson>,
}

/// Filters of the position list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PositionsQuery {
    /// Only this strategy.
    strategy: Option<String>,
    /// Only this ticker.
    symbol: Option<String>,
    /// Only this venue.
    venue: Option<String>,
    /// Also list flat positions (`true`/`false`, default false).
    include_flat: Option<String>,
}

/// Open positions with their P&L at the last mark.
#[utoipa::path(get, path = "/api/v1/positions", tag = "trading", params(PositionsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Positions", body = PositionList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn positions(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<PositionsQuery>,
) -> Result<Json<PositionList>> {
    let flat = params::flag("include_flat", q.include_flat.as_deref())?;
    let f = TradeFilter {
        strategy: q.strategy,
        symbol: q.symbol,
        venue: q.venue,
    };
    let positions = state
        .store()
        .positions()
        .await?
        .iter()
        .filter(|p| flat || !p.position.quantity.is_zero())
        .filter(|p| {
            f.keeps(
                &p.strategy,
                p.position.instrument.symbol.as_str(),
                p.position.instrument.venue.as_str(),
            )
        })
        .map(PositionJson::from)
        .collect();
    Ok(Json(PositionList { positions }))
}

/// An order and its state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderJson {
    /// Our client order id.
    id: String,
    /// The broker's id, once known.
    broker_order_id: Option<String>,
    /// Broker (`paper`, …).
    broker: String,
    /// Owner (`manual` for API orders).
    strategy: String,
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// `buy` or `sell`.
    side: String,
    /// `market`, `limit`, `stop`, `stop_limit`.
    #[serde(rename = "type")]
    order_type: String,
    /// `gtc`, `day`, `ioc`, `fok`.
    time_in_force: String,
    /// Quantity, decimal string.
    quantity: String,
    /// Limit price, decimal string.
    limit_price: Option<String>,
    /// Stop price, decimal string.
    stop_price: Option<String>,
    /// `created`, `submitted`, `accepted`, `partially_filled`, `filled`, `cancel_requested`, `cancelled`, `rejected`, `expired`.
    status: String,
    /// Filled so far, decimal string.
    filled_quantity: String,
    /// Average fill price, decimal string.
    avg_fill_price: Option<String>,
    /// Why it was rejected (risk or broker).
    reject_reason: Option<String>,
    /// Broker trade ids of its fills.
    trade_ids: Vec<String>,
    /// When it was created, RFC 3339.
    created_at: String,
    /// Last change, RFC 3339.
    updated_at: String,
}

impl OrderJson {
    pub(crate) fn new(broker: &str, o: &Order) -> Self {
        let r = &o.request;
        Self {
            id: o.client_order_id.to_string(),
            broker_order_id: o.broker_order_id.clone(),
            broker: broker.to_string(),
            strategy: r.strategy.to_string(),
            symbol: r.instrument.symbol.to_string(),
            venue: r.instrument.venue.to_string(),
            side: r.side.to_string(),
            order_type: r.order_type.to_string(),
            time_in_force: r.time_in_force.to_string(),
            quantity: r.quantity.to_string(),
            limit_price: r.limit_price.map(|p| p.to_string()),
            stop_price: r.stop_price.map(|p| p.to_string()),
            status: o.status.to_string(),
            filled_quantity: o.filled_quantity.to_string(),
            avg_fill_price: o.avg_fill_price.map(|p| p.normalize().to_string()),
            reject_reason: o.reject_reason.clone(),
            trade_ids: o.trade_ids.iter().map(ToString::to_string).collect(),
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
        }
    }
}

impl From<&StoredOrder> for OrderJson {
    fn from(s: &StoredOrder) -> Self {
        Self::new(&s.broker, &s.order)
    }
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    /// Oldest first (by creation time).
    orders: Vec<OrderJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Filters of the order list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrdersQuery {
    /// Only this status, or `open` for every non-terminal status.
    status: Option<String>,
    /// Only this strategy.
    strategy: Option<String>,
    /// Only this ticker.
    symbol: Option<String>,
    /// Only this venue.
    venue: Option<String>,
    /// Created at or after (RFC 3339, date or epoch).
    from: Option<String>,
    /// Created before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Orders, oldest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "trading", params(OrdersQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of orders", body = OrderList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_orders(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<OrderList>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    let store = state.store();
    let orders = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => store.orders(None).await?,
        Some(s) if s.eq_ignore_ascii_case("open") => store.open_orders().await?,
        Some(s) => {
            let st: OrderStatus = s.parse().map_err(|e: tessera_model::Error| {
                Error::param("status", format!("{e}, or open"))
            })?;
            store.orders(Some(st)).await?
        }
    };
    let f = TradeFilter {
        strategy: q.strategy,
        symbol: q.symbol,
        venue: q.venue,
    };
    let kept: Vec<StoredOrder> = orders
        .into_iter()
        .filter(|o| {
            let r = &o.order.request;
            f.keeps(
                &r.strategy,
                r.instrument.symbol.as_str(),
                r.instrument.venue.as_str(),
            )
        })
        .collect();
    let (page, next_cursor) =
        params::page_by_time(kept, |o| o.order.created_at, range, cursor, limit);
    Ok(Json(OrderList {
        orders: page.iter().map(OrderJson::from).collect(),
        next_cursor,
    }))
}

fn order_id(s: &str) -> Result<ClientOrderId> {
    ClientOrderId::new(s).map_err(|e| Error::param("id", e.to_string()))
}

/// One status change of an order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderEventJson {
    /// Status reached.
    status: String,
    /// Why (reject reason, cancel note).
    detail: Option<String>,
    /// When, RFC 3339.
    timestamp: String,
}

/// An order with its status history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderDetail {
    /// The order.
    order: OrderJson,
    /// Its stored status changes, oldest first.
    events: Vec<OrderEventJson>,
}

/// One order with its status history.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "trading", params(("id" = String, Path, description = "Client order id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show_order(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Path(id): Path<String>,
) -> Result<Json<OrderDetail>> {
    let id = order_id(&id)?;
    let o = state.store().order(&id).await?;
    let events = state.store().order_events(&id).await?;
    Ok(Json(OrderDetail {
        order: OrderJson::from(&o),
        events: events
            .into_iter()
            .map(|(s, d, t)| OrderEventJson {
                status: s.to_string(),
                detail: d,
                timestamp: t.to_rfc3339(),
            })
            .collect(),
    }))
}

/// An order to submit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitOrder {
    /// Ticker.
    symbol: String,
    /// Venue (optional when the symbol is listed on one venue only).
    venue: Option<String>,
    /// `buy` or `sell`.
    side: String,
    /// `market` (default), `limit`, `stop`, `stop_limit`.
    #[serde(rename = "type")]
    order_type: Option<String>,
    /// Quantity, decimal string, positive.
    quantity: String,
    /// Limit price, decimal string (limit and stop-limit orders).
    limit_price: Option<String>,
    /// Stop price, decimal string (stop and stop-limit orders).
    stop_price: Option<String>,
    /// `gtc` (default), `day`, `ioc`, `fok`.
    time_in_force: Option<String>,
    /// Strategy the order is booked to (default `manual`).
    strategy: Option<String>,
}

/// What became of a submitted order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmitResult {
    /// Whether risk approved it and it was sent to the broker; when false, `order` is stored `rejected` with the reason.
    approved: bool,
    /// The order as stored afterwards.
    order: OrderJson,
}

fn body(field: &str, e: impl std::fmt::Display) -> Error {
    Error::param(format!("body.{field}"), e.to_string())
}

fn desk_error(e: DeskError) -> Error {
    match e {
        DeskError::NotFound(m) => Error::NotFound(m),
        DeskError::Conflict(m) => Error::Conflict(m),
        DeskError::Internal(m) => Error::Internal(m),
    }
}

const NO_DESK: &str = "no order desk: this server routes no orders (start it with a broker account, e.g. `tessera serve` with `api.order_desk = \"paper\"`)";

/// Submit an order: risk checks, then the persistent order stack, then the broker.
#[utoipa::path(post, path = "/api/v1/orders", tag = "trading", request_body = SubmitOrder,
    security(("bearer" = ["trade"])),
    responses(
        (status = 201, description = "Stored; `approved` says whether it was sent or refused by risk (stored as rejected with the reason)", body = SubmitResult),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No order desk on this server", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn submit(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    params::Json(b): params::Json<SubmitOrder>,
) -> Result<(StatusCode, Json<SubmitResult>)> {
    let inst = params::instrument(&state, Some(&b.symbol), b.venue.as_deref())
        .await
        .map_err(|e| match e {
            Error::BadParam { param, reason } => Error::param(format!("body.{param}"), reason),
            other => other,
        })?;
    let side: Side = b.side.parse().map_err(|e| body("side", e))?;
    let order_type: OrderType = match b.order_type.as_deref() {
        None => OrderType::Market,
        Some(t) => t.parse().map_err(|e| body("type", e))?,
    };
    let time_in_force: TimeInForce = match b.time_in_force.as_deref() {
        None => TimeInForce::Gtc,
        Some(t) => t.parse().map_err(|e| body("time_in_force", e))?,
    };
    let quantity = Quantity::parse(&b.quantity).map_err(|e| body("quantity", e))?;
    if quantity.as_decimal() <= Decimal::ZERO {
        return Err(body(
            "quantity",
            format!("{:?} must be positive", b.quantity),
        ));
    }
    let price = |field: &str, v: &Option<String>| -> Result<Option<Price>> {
        v.as_deref()
            .map(|p| {
                let px = Price::parse(p).map_err(|e| body(field, e))?;
                if px.as_decimal() <= Decimal::ZERO {
                    return Err(body(field, format!("{p:?} must be positive")));
                }
                Ok(px)
            })
            .transpose()
    };
    let strategy = StrategyId::new(b.strategy.as_deref().unwrap_or("manual").trim())
        .map_err(|e| body("strategy", e))?;
    let request = OrderRequest {
        strategy,
        instrument: inst.id,
        side,
        order_type,
        quantity,
        limit_price: price("limit_price", &b.limit_price)?,
        stop_price: price("stop_price", &b.stop_price)?,
        time_in_force,
    };
    request.validate().map_err(|e| body("type", e))?;
    let desk = state
        .desk()
        .ok_or_else(|| Error::Conflict(NO_DESK.into()))?
        .clone();
    let done = desk.submit(request).await.map_err(desk_error)?;
    let broker = state
        .store()
        .order(&done.order.client_order_id)
        .await
        .map_or_else(|_| String::new(), |o| o.broker);
    // Tell live subscribers at once rather than at their next poll.
    state.publish(crate::LiveEvent::Order(
        broker.clone(),
        Box::new(done.order.clone()),
    ));
    for f in state.store().fills().await? {
        if f.fill.client_order_id == done.order.client_order_id {
            state.publish(crate::LiveEvent::Fill(
                f.broker,
                f.strategy,
                Box::new(f.fill),
            ));
        }
    }
    tracing::info!(order = %done.order.client_order_id, approved = done.approved, status = %done.order.status, "order submitted over the API");
    Ok((
        StatusCode::CREATED,
        Json(SubmitResult {
            approved: done.approved,
            order: OrderJson::new(&broker, &done.order),
        }),
    ))
}

/// Cancel an open order (store the request, then ask the broker).
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "trading", params(("id" = String, Path, description = "Client order id")),
    security(("bearer" = ["trade"])),
    responses(
        (status = 200, description = "The order afterwards", body = OrderJson),
        (status = 400, description = "Bad id", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token scope is `read`", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Order already closed, or no order desk", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    _auth: TradeAccess,
    Path(id): Path<String>,
) -> Result<Json<OrderJson>> {
    let id = order_id(&id)?;
    let stored = state.store().order(&id).await?;
    if stored.order.status.is_terminal() {
        return Err(Error::Conflict(format!(
            "order {id} is already {}",
            stored.order.status
        )));
    }
    let desk = state
        .desk()
        .ok_or_else(|| Error::Conflict(NO_DESK.into()))?
        .clone();
    let order = desk.cancel(id).await.map_err(desk_error)?;
    Ok(Json(OrderJson::new(&stored.broker, &order)))
}

/// An execution.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FillJson {
    /// The broker's trade id.
    trade_id: String,
    /// The order it filled.
    order_id: String,
    /// Broker.
    broker: String,
    /// Strategy.
    strategy: String,
    /// Ticker.
    symbol: String,
    /// Venue.
    venue: String,
    /// `buy` or `sell`.
    side: String,
    /// Price, decimal string.
    price: String,
    /// Quantity, decimal string.
    quantity: String,
    /// Commission, decimal string.
    commission: String,
    /// Commission currency.
    currency: String,
    /// When it executed, RFC 3339.
    timestamp: String,
}

impl From<&StoredFill> for FillJson {
    fn from(s: &StoredFill) -> Self {
        let f = &s.fill;
        Self {
            trade_id: f.trade_id.to_string(),
            order_id: f.client_order_id.to_string(),
            broker: s.broker.clone(),
            strategy: s.strategy.to_string(),
            symbol: f.instrument.symbol.to_string(),
            venue: f.instrument.venue.to_string(),
            side: f.side.to_string(),
            price: f.price.to_string(),
            quantity: f.quantity.to_string(),
            commission: f.commission.amount.normalize().to_string(),
            currency: f.commission.currency.to_string(),
            timestamp: f.ts_event.to_rfc3339(),
        }
    }
}

/// A page of fills.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FillList {
    /// In execution order.
    fills: Vec<FillJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Filters of the fill list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FillsQuery {
    /// Only this strategy.
    strategy: Option<String>,
    /// Only this ticker.
    symbol: Option<String>,
    /// Only this venue.
    venue: Option<String>,
    /// Executed at or after.
    from: Option<String>,
    /// Executed before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Fills in execution order.
#[utoipa::path(get, path = "/api/v1/fills", tag = "trading", params(FillsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of fills", body = FillList),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn fills(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<FillsQuery>,
) -> Result<Json<FillList>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    let f = TradeFilter {
        strategy: q.strategy,
        symbol: q.symbol,
        venue: q.venue,
    };
    let kept: Vec<StoredFill> = state
        .store()
        .fills()
        .await?
        .into_iter()
        .filter(|x| {
            f.keeps(
                &x.strategy,
                x.fill.instrument.symbol.as_str(),
                x.fill.instrument.venue.as_str(),
            )
        })
        .collect();
    let (page, next_cursor) = params::page_by_time(kept, |x| x.fill.ts_event, range, cursor, limit);
    Ok(Json(FillList {
        fills: page.iter().map(FillJson::from).collect(),
        next_cursor,
    }))
}

/// One account value snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SnapshotJson {
    /// Account (`paper`, `alpaca`).
    account: String,
    /// Strategy, empty for the whole account.
    strategy: String,
    /// When, RFC 3339.
    timestamp: String,
    /// Cash plus open positions at their marks, decimal string.
    equity: String,
    /// Cash, decimal string.
    cash: String,
    /// Realised P&L net of commissions, decimal string.
    realized_pnl: String,
    /// Open P&L, decimal string.
    unrealized_pnl: String,
    /// Currency of the money fields.
    currency: String,
}

impl From<&AccountSnapshot> for SnapshotJson {
    fn from(s: &AccountSnapshot) -> Self {
        Self {
            account: s.account.clone(),
            strategy: s.strategy.clone(),
            timestamp: s.ts.to_rfc3339(),
            equity: s.equity.amount.normalize().to_string(),
            cash: s.cash.amount.normalize().to_string(),
            realized_pnl: s.realized_pnl.amount.normalize().to_string(),
            unrealized_pnl: s.unrealized_pnl.amount.normalize().to_string(),
            currency: s.equity.currency.to_string(),
        }
    }
}

/// The newest snapshot of every account and strategy.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountList {
    /// By account, then strategy (empty strategy: the whole account).
    accounts: Vec<SnapshotJson>,
}

/// The newest value of each account (and each strategy in it).
#[utoipa::path(get, path = "/api/v1/account", tag = "trading",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Latest snapshots", body = AccountList),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn account(
    State(state): State<ApiState>,
    _auth: ReadAccess,
) -> Result<Json<AccountList>> {
    let accounts = state.store().latest_account_snapshots().await?;
    Ok(Json(AccountList {
        accounts: accounts.iter().map(SnapshotJson::from).collect(),
    }))
}

/// Parameters of the capital history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Account (default `paper`).
    account: Option<String>,
    /// Strategy; empty or absent for the whole account.
    strategy: Option<String>,
    /// At or after.
    from: Option<String>,
    /// Before.
    to: Option<String>,
    /// Page size, 1 to `max_page_size` (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One point of capital history with its drawdown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryPoint {
    /// When, RFC 3339.
    timestamp: String,
    /// Equity, decimal string.
    equity: String,
    /// Cash, decimal string.
    cash: String,
    /// Realised P&L, decimal string.
    realized_pnl: String,
    /// Open P&L, decimal string.
    unrealized_pnl: String,
    /// Drawdown from the running peak of equity (since the first snapshot), percent ≤ 0.
    drawdown_pct: f64,
}

/// A page of capital history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountHistory {
    /// Account.
    account: String,
    /// Strategy (empty: whole account).
    strategy: String,
    /// Currency of the money fields (null when empty).
    currency: Option<String>,
    /// Oldest first.
    history: Vec<HistoryPoint>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Account value (capital) history with drawdown.
#[utoipa::path(get, path = "/api/v1/account/history", tag = "trading", params(HistoryQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of snapshots", body = AccountHistory),
        (status = 400, description = "Bad parameter", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn account_history(
    State(state): State<ApiState>,
    _auth: ReadAccess,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<AccountHistory>> {
    let range = params::time_range(q.from.as_deref(), q.to.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), state.config().max_page_size)?;
    let cursor = params::decode_cursor(q.cursor.as_deref())?;
    let account = q
        .account
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "paper".into());
    let strategy = q.strategy.unwrap_or_default();
    let all: Vec<AccountSnapshot> = state
        .store()
        .account_history(&account)
        .await?
        .into_iter()
        .filter(|s| s.strategy == strategy)
        .collect();
    // Drawdown from the running peak over the whole history, so a page shows the same values.
    let mut peak: Option<Decimal> = None;
    let points: Vec<(UnixNanos, HistoryPoint)> = all
        .iter()
        .map(|s| {
            let eq = s.equity.amount;
            let p = peak.map_or(eq, |p| p.max(eq));
            peak = Some(p);
            let dd = if p > Decimal::ZERO {
                ((eq - p) / p * Decimal::ONE_HUNDRED)
                    .round_dp(6)
                    .try_into()
                    .unwrap_or(0.0)
            } else {
                0.0
            };
            (
                s.ts,
                HistoryPoint {
                    timestamp: s.ts.to_rfc3339(),
                    equity: eq.normalize().to_string(),
                    cash: s.cash.amount.normalize().to_string(),
                    realized_pnl: s.realized_pnl.amount.normalize().to_string(),
                    unrealized_pnl: s.unrealized_pnl.amount.normalize().to_string(),
                    drawdown_pct: dd,
                },
            )
        })
        .collect();
    let (page, next_cursor) = params::page_by_time(points, |p| p.0, range, cursor, limit);
    Ok(Json(AccountHistory {
        account,
        strategy,
        currency: all.first().map(|s| s.equity.currency.to_string()),
        history: page.into_iter().map(|p| p.1).collect(),
        next_cursor,
    }))
}

/// State of the kill switch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KillSwitch {
    /// `on` (every new order is refused) or `off`.
    state: String,
}

/// A kill-switch change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetKillSwitch {
    /// `on` (scope trade) or `off` (scope admin).
    state: String,
}

async fn read_switch(state: &ApiState) -> Result<KillSwitch> {
    let on = state.store().state(KILL_SWITCH_KEY).await?.as_deref() == Some("on");
    Ok(KillSwitch {
        state: if on { "on" } else { "off" }.into(),
    })
}

/// Whether the kill switch is on.
#[utoipa::path(get, path = "/api/v1/kill-switch", tag = "trading",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Its state", body = KillSwitch),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn kill_switch(
    State(state): State<ApiState>,
    _auth: ReadAccess,
) -> Result<Json<KillSwitch>> {
    Ok(Json(read_switch(&state).await?))
}

/// Turn the kill switch on (scope trade: anyone who may trade may stop trading) or off (scope admin).
#[utoipa::path(post, path = "/api/v1/kill-switch", tag = "trading", request_body = SetKillSwitch,
    security(("bearer" = ["trade"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Its state afterwards", body = KillSwitch),
        (status = 400, description = "Invalid body", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or unknown", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope too narrow (read; trade for `off`)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn set_kill_switch(
    State(state): State<ApiState>,
    auth: TradeAccess,
    params::Json(b): params::Json<SetKillSwitch>,
) -> Result<Json<KillSwitch>> {
    let on = match b.state.trim().to_ascii_lowercase().as_str() {
        "on" => true,
        "off" => false,
        other => {
            return Err(Error::param(
                "body.state",
                format!("{other:?} is not on or off"),
            ));
        }
    };
    if !on && auth.0.scope < crate::Scope::Admin {
        return Err(Error::Forbidden(
            "turning the kill switch off needs a token with scope admin".into(),
        ));
    }
    state
        .store()
        .set_state(KILL_SWITCH_KEY, if on { "on" } else { "off" })
        .await?;
    tracing::warn!(on, "kill switch set over the API");
    Ok(Json(read_switch(&state).await?))
}
