//! Live and paper trading records: the persistent order stack, fills,
//! positions per strategy and instrument, named state and account history.
//!
//! The execution layer's crash safety rests on three properties kept here:
//! an order row exists before the order is sent ([`Store::insert_order`]);
//! every status change writes the row and an event in one transaction
//! ([`Store::update_order`]); and a fill, the order it fills and the position
//! it moves are stored in one transaction keyed by the broker's trade id
//! ([`Store::book_fill`]), so a fill replayed after a crash is a no-op.

use rust_decimal::Decimal;
use serde::Serialize;
use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, Currency, Fill, InstrumentId, Money, Order, OrderRequest, OrderStatus, Position,
    Price, Quantity, StrategyId, Symbol, TradeId, Venue,
};

use crate::error::{Error, Result};
use crate::rows::parse;
use crate::store::{Store, on_pool};

/// An order as stored, with the broker it went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrder {
    /// `paper`, `alpaca`, …
    pub broker: String,
    /// The order and its state.
    pub order: Order,
}

/// A fill as stored, with its broker and strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFill {
    /// The broker that reported it.
    pub broker: String,
    /// The strategy whose order filled.
    pub strategy: StrategyId,
    /// The execution.
    pub fill: Fill,
}

/// A position of one strategy in one instrument, with the last price it was marked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPosition {
    /// Owner.
    pub strategy: StrategyId,
    /// Net position and realised P&L.
    pub position: Position,
    /// Last mark, when known.
    pub last_price: Option<Price>,
    /// When it last changed.
    pub updated_at: UnixNanos,
}

/// One point of account value history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSnapshot {
    /// Account name (`paper`, `alpaca`).
    pub account: String,
    /// Strategy, or empty for the whole account.
    pub strategy: String,
    /// When.
    pub ts: UnixNanos,
    /// Cash plus open positions at their marks.
    pub equity: Money,
    /// Cash.
    pub cash: Money,
    /// Realised P&L to date, net of commissions.
    pub realized_pnl: Money,
    /// Open P&L at the marks.
    pub unrealized_pnl: Money,
}

const ORDER_COLUMNS: &str = "client_order_id, broker, broker_order_id, strategy, symbol, venue, side, order_type, \
     time_in_force, quantity, limit_price, stop_price, status, filled_quantity, avg_fill_price, reject_reason, \
     trade_ids, created_at, updated_at";

/// The columns `live_orders` and `live_instrument_orders` share, in the
/// order [`bind_order_insert!`] binds them (`$1` to `$18`); `live_orders`
/// adds `strategy` as `$19`.
pub(crate) const SHARED_ORDER_COLUMNS: &str = "client_order_id, broker, broker_order_id, symbol, venue, side, \
     order_type, time_in_force, quantity, limit_price, stop_price, status, filled_quantity, avg_fill_price, \
     reject_reason, trade_ids, created_at, updated_at";

/// A strategy fill; the strategy is `$12`, after the columns
/// [`bind_fill_insert!`] binds.
pub(crate) const INSERT_FILL: &str = "INSERT INTO live_fills (broker, trade_id, client_order_id, symbol, venue, side, \
     price, quantity, commission, currency, ts_event, strategy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (broker, trade_id) DO NOTHING";

pub(crate) const UPDATE_ORDER: &str = "UPDATE live_orders SET broker_order_id = $2, status = $3, filled_quantity = $4, \
     avg_fill_price = $5, reject_reason = $6, trade_ids = $7, updated_at = $8 WHERE client_order_id = $1";

pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO live_order_events (client_order_id, status, detail, ts) VALUES ($1, $2, $3, $4)";

pub(crate) const UPSERT_POSITION: &str = "INSERT INTO live_positions (strategy, symbol, venue, quantity, avg_price, multiplier, \
     realized_pnl, commissions, currency, last_price, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (strategy, symbol, venue) DO UPDATE SET quantity = excluded.quantity, avg_price = excluded.avg_price, \
     multiplier = excluded.multiplier, realized_pnl = excluded.realized_pnl, commissions = excluded.commissions, \
     currency = excluded.currency, last_price = COALESCE(excluded.last_price, live_positions.last_price), \
     updated_at = excluded.updated_at";

/// A string id from stored text; a refused value is [`Error::Corrupt`].
pub(crate) fn id<T>(
    place: &str,
    text: &str,
    new: fn(&str) -> tessera_model::Result<T>,
) -> Result<T> {
    new(text).map_err(|e| Error::Corrupt {
        place: place.to_string(),
        reason: format!("{text:?}: {e}"),
    })
}

pub(crate) fn join_trade_ids(order: &Order) -> String {
    // Trade ids never contain whitespace (checked by `TradeId::new`), so a space separates them.
    order
        .trade_ids
        .iter()
        .map(TradeId::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bind an order's mutable columns to `sql` ([`UPDATE_ORDER`], or the same
/// `UPDATE … WHERE client_order_id = $1` of instrument orders) and run it on
/// any executor.
macro_rules! update_row {
    ($exec:expr, $sql:expr, $o:expr) => {
        sqlx::query($sql)
            .bind($o.client_order_id.as_str())
            .bind($o.broker_order_id.clone())
            .bind($o.status.as_str())
            .bind($o.filled_quantity.to_string())
            .bind($o.avg_fill_price.map(|p| p.normalize().to_string()))
            .bind($o.reject_reason.clone())
            .bind($crate::live::join_trade_ids($o))
            .bind($o.updated_at.0)
            .execute($exec)
            .await
    };
}
pub(crate) use update_row;

/// `sql` (an insert of [`SHARED_ORDER_COLUMNS`]) with an order's values
/// bound as `$1` to `$18`; the caller binds what its table adds.
macro_rules! bind_order_insert {
    ($sql:expr, $broker:expr, $o:expr) => {{
        let r = &$o.request;
        sqlx::query($sql)
            .bind($o.client_order_id.as_str())
            .bind($broker)
            .bind($o.broker_order_id.clone())
            .bind(r.instrument.symbol.as_str())
            .bind(r.instrument.venue.as_str())
            .bind(r.side.as_str())
            .bind(r.order_type.as_str())
            .bind(r.time_in_force.as_str())
            .bind(r.quantity.to_string())
            .bind(r.limit_price.map(|p| p.to_string()))
            .bind(r.stop_price.map(|p| p.to_string()))
            .bind($o.status.as_str())
            .bind($o.filled_quantity.to_string())
            .bind($o.avg_fill_price.map(|p| p.normalize().to_string()))
            .bind($o.reject_reason.clone())
            .bind($crate::live::join_trade_ids($o))
            .bind($o.created_at.0)
            .bind($o.updated_at.0)
    }};
}
pub(crate) use bind_order_insert;

/// `sql` (an insert of `live_fills` or `live_instrument_fills`) with a
/// fill's values bound as `$1` to `$11`: broker, trade id, order id,
/// symbol, venue, side, price, quantity, commission, currency, time.
macro_rules! bind_fill_insert {
    ($sql:expr, $broker:expr, $f:expr) => {
        sqlx::query($sql)
            .bind($broker)
            .bind($f.trade_id.as_str())
            .bind($f.client_order_id.as_str())
            .bind($f.instrument.symbol.as_str())
            .bind($f.instrument.venue.as_str())
            .bind($f.side.as_str())
            .bind($f.price.to_string())
            .bind($f.quantity.to_string())
            .bind($f.commission.amount.normalize().to_string())
            .bind($f.commission.currency.as_str())
            .bind($f.ts_event.0)
    };
}
pub(crate) use bind_fill_insert;

macro_rules! upsert_position_row {
    ($exec:expr, $strategy:expr, $p:expr, $last:expr, $now:expr) => {
        sqlx::query(UPSERT_POSITION)
            .bind($strategy.as_str())
            .bind($p.instrument.symbol.as_str())
            .bind($p.instrument.venue.as_str())
            .bind($p.quantity.normalize().to_string())
            .bind($p.avg_price.normalize().to_string())
            .bind($p.multiplier.normalize().to_string())
            .bind($p.realized_pnl.amount.normalize().to_string())
            .bind($p.commissions.amount.normalize().to_string())
            .bind($p.realized_pnl.currency.as_str())
            .bind($last.map(|p: Price| p.to_string()))
            .bind($now.0)
            .execute($exec)
            .await
            .map(|_| ())
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    client_order_id: String,
    broker: String,
    broker_order_id: Option<String>,
    strategy: String,
    symbol: String,
    venue: String,
    side: String,
    order_type: String,
    time_in_force: String,
    quantity: String,
    limit_price: Option<String>,
    stop_price: Option<String>,
    status: String,
    filled_quantity: String,
    avg_fill_price: Option<String>,
    reject_reason: Option<String>,
    trade_ids: String,
    created_at: i64,
    updated_at: i64,
}

impl OrderRow {
    pub(crate) fn into_domain(self) -> Result<StoredOrder> {
        let t = "live_orders";
        let request = OrderRequest {
            strategy: id(&format!("{t}.strategy"), &self.strategy, StrategyId::new)?,
            instrument: InstrumentId::new(
                parse::<Symbol>(&format!("{t}.symbol"), &self.symbol)?,
                parse::<Venue>(&format!("{t}.venue"), &self.venue)?,
            ),
            side: parse(&format!("{t}.side"), &self.side)?,
            order_type: parse(&format!("{t}.order_type"), &self.order_type)?,
            quantity: parse::<Quantity>(&format!("{t}.quantity"), &self.quantity)?,
            limit_price: self
                .limit_price
                .map(|p| parse::<Price>(&format!("{t}.limit_price"), &p))
                .transpose()?,
            stop_price: self
                .stop_price
                .map(|p| parse::<Price>(&format!("{t}.stop_price"), &p))
                .transpose()?,
            time_in_force: parse(&format!("{t}.time_in_force"), &self.time_in_force)?,
        };
        let trade_ids = self
            .trade_ids
            .split_whitespace()
            .map(|x| id(&format!("{t}.trade_ids"), x, TradeId::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(StoredOrder {
            broker: self.broker,
            order: Order {
                client_order_id: id(
                    &format!("{t}.client_order_id"),
                    &self.client_order_id,
                    ClientOrderId::new,
                )?,
                broker_order_id: self.broker_order_id,
                request,
                status: parse::<OrderStatus>(&format!("{t}.status"), &self.status)?,
                filled_quantity: parse::<Quantity>(
                    &format!("{t}.filled_quantity"),
                    &self.filled_quantity,
                )?,
                avg_fill_price: self
                    .avg_fill_price
                    .map(|p| parse::<Decimal>(&format!("{t}.avg_fill_price"), &p))
                    .transpose()?,
                created_at: UnixNanos(self.created_at),
                updated_at: UnixNanos(self.updated_at),
                reject_reason: self.reject_reason,
                trade_ids,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct FillRow {
    broker: String,
    trade_id: String,
    client_order_id: String,
    strategy: String,
    symbol: String,
    venue: String,
    side: String,
    price: String,
    quantity: String,
    commission: String,
    currency: String,
    ts_event: i64,
}

impl FillRow {
    pub(crate) fn into_domain(self) -> Result<StoredFill> {
        let t = "live_fills";
        let currency = parse::<Currency>(&format!("{t}.currency"), &self.currency)?;
        Ok(StoredFill {
            broker: self.broker,
            strategy: id(&format!("{t}.strategy"), &self.strategy, StrategyId::new)?,
            fill: Fill {
                client_order_id: id(
                    &format!("{t}.client_order_id"),
                    &self.client_order_id,
                    ClientOrderId::new,
                )?,
                trade_id: id(&format!("{t}.trade_id"), &self.trade_id, TradeId::new)?,
                instrument: InstrumentId::new(
                    parse(&format!("{t}.symbol"), &self.symbol)?,
                    parse(&format!("{t}.venue"), &self.venue)?,
                ),
                side: parse(&format!("{t}.side"), &self.side)?,
                price: parse(&format!("{t}.price"), &self.price)?,
                quantity: parse(&format!("{t}.quantity"), &self.quantity)?,
                commission: Money::new(
                    parse(&format!("{t}.commission"), &self.commission)?,
                    currency,
                ),
                ts_event: UnixNanos(self.ts_event),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct PositionRow {
    strategy: String,
    symbol: String,
    venue: String,
    quantity: String,
    avg_price: String,
    multiplier: String,
    realized_pnl: String,
    commissions: String,
    currency: String,
    last_price: Option<String>,
    updated_at: i64,
}

impl PositionRow {
    fn into_domain(self) -> Result<StoredPosition> {
        let t = "live_positions";
        let currency = parse::<Currency>(&format!("{t}.currency"), &self.currency)?;
        Ok(StoredPosition {
            strategy: id(&format!("{t}.strategy"), &self.strategy, StrategyId::new)?,
            position: Position {
                instrument: InstrumentId::new(
                    parse(&format!("{t}.symbol"), &self.symbol)?,
                    parse(&format!("{t}.venue"), &self.venue)?,
                ),
                quantity: parse(&format!("{t}.quantity"), &self.quantity)?,
                avg_price: parse(&format!("{t}.avg_price"), &self.avg_price)?,
                multiplier: parse(&format!("{t}.multiplier"), &self.multiplier)?,
                realized_pnl: Money::new(
                    parse(&format!("{t}.realized_pnl"), &self.realized_pnl)?,
                    currency,
                ),
                commissions: Money::new(
                    parse(&format!("{t}.commissions"), &self.commissions)?,
                    currency,
                ),
            },
            last_price: self
                .last_price
                .map(|p| parse(&format!("{t}.last_price"), &p))
                .transpose()?,
            updated_at: UnixNanos(self.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    account: String,
    strategy: String,
    ts: i64,
    currency: String,
    equity: String,
    cash: String,
    realized_pnl: String,
    unrealized_pnl: String,
}

impl SnapshotRow {
    fn into_domain(self) -> Result<AccountSnapshot> {
        let t = "account_history";
        let c = parse::<Currency>(&format!("{t}.currency"), &self.currency)?;
        let m = |col: &str, v: &str| -> Result<Money> {
            Ok(Money::new(parse(&format!("{t}.{col}"), v)?, c))
        };
        Ok(AccountSnapshot {
            equity: m("equity", &self.equity)?,
            cash: m("cash", &self.cash)?,
            realized_pnl: m("realized_pnl", &self.realized_pnl)?,
            unrealized_pnl: m("unrealized_pnl", &self.unrealized_pnl)?,
            account: self.account,
            strategy: self.strategy,
            ts: UnixNanos(self.ts),
        })
    }
}

impl Store {
    /// Store a new order (status `created`) and its first event. Call this
    /// **before** the order is sent anywhere.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when the client order id is taken, [`Error::Database`].
    pub async fn insert_order(&self, broker: &str, order: &Order) -> Result<()> {
        let begin = self.begin_write_sql();
        let r = &order.request;
        on_pool!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            let taken: Option<String> = sqlx::query_scalar(
                "SELECT client_order_id FROM live_orders WHERE client_order_id = $1",
            )
            .bind(order.client_order_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                tx.rollback().await?;
                return Err(Error::AlreadyExists(format!(
                    "order {}",
                    order.client_order_id
                )));
            }
            bind_order_insert!(
                sqlx::AssertSqlSafe(format!(
                    "INSERT INTO live_orders ({SHARED_ORDER_COLUMNS}, strategy) VALUES ($1, $2, $3, $4, $5, $6, \
                     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                )),
                broker,
                order
            )
            .bind(r.strategy.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_EVENT)
                .bind(order.client_order_id.as_str())
                .bind(order.status.as_str())
                .bind(order.reject_reason.clone())
                .bind(order.created_at.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Store an order's new state and an event row for the change, in one transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown order, [`Error::Database`].
    pub async fn update_order(&self, order: &Order, detail: Option<&str>) -> Result<()> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            let n = update_row!(&mut *tx, UPDATE_ORDER, order)?.rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Err(Error::NotFound(format!("order {}", order.client_order_id)));
            }
            sqlx::query(INSERT_EVENT)
                .bind(order.client_order_id.as_str())
                .bind(order.status.as_str())
                .bind(detail)
                .bind(order.updated_at.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Book a fill atomically: the fill row, the order's new state (with an
    /// event) and the strategy's position. Returns `false`, changing nothing,
    /// when this broker's trade id is already stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown order, [`Error::Database`].
    pub async fn book_fill(
        &self,
        broker: &str,
        fill: &Fill,
        order: &Order,
        position: &Position,
    ) -> Result<bool> {
        let begin = self.begin_write_sql();
        let strategy = &order.request.strategy;
        let now = fill.ts_event;
        on_pool!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            let inserted = bind_fill_insert!(INSERT_FILL, broker, fill)
                .bind(strategy.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                // Roll back explicitly: a dropped SQLite write transaction would hold the write lock until the connection is reused.
                tx.rollback().await?;
                return Ok(false);
            }
            if update_row!(&mut *tx, UPDATE_ORDER, order)?.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(Error::NotFound(format!("order {}", order.client_order_id)));
            }
            sqlx::query(INSERT_EVENT)
                .bind(order.client_order_id.as_str())
                .bind(order.status.as_str())
                .bind(Some(format!(
                    "fill {} {} @ {}",
                    fill.trade_id, fill.quantity, fill.price
                )))
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
            upsert_position_row!(&mut *tx, strategy, position, Some(fill.price), now)?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// One order.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`], [`Error::Corrupt`].
    pub async fn order(&self, id: &ClientOrderId) -> Result<StoredOrder> {
        on_pool!(self, |p| {
            let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM live_orders WHERE client_order_id = $1"
            )))
            .bind(id.as_str())
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => r.into_domain(),
                None => Err(Error::NotFound(format!("order {id}"))),
            }
        })
    }

    /// Orders oldest first, optionally only those in `status`.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn orders(&self, status: Option<OrderStatus>) -> Result<Vec<StoredOrder>> {
        on_pool!(self, |p| {
            let rows: Vec<OrderRow> = match status {
                Some(s) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ORDER_COLUMNS} FROM live_orders WHERE status = $1 ORDER BY created_at, client_order_id"
                    )))
                    .bind(s.as_str())
                    .fetch_all(p)
                    .await?
                }
                None => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ORDER_COLUMNS} FROM live_orders ORDER BY created_at, client_order_id"
                    )))
                    .fetch_all(p)
                    .await?
                }
            };
            rows.into_iter().map(OrderRow::into_domain).collect()
        })
    }

    /// Orders not yet in a terminal status, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn open_orders(&self) -> Result<Vec<StoredOrder>> {
        on_pool!(self, |p| {
            let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM live_orders WHERE status NOT IN ('filled', 'cancelled', 'rejected', 'expired') \
                 ORDER BY created_at, client_order_id"
            )))
            .fetch_all(p)
            .await?;
            rows.into_iter().map(OrderRow::into_domain).collect()
        })
    }

    /// The stored status history of one order: `(status, detail, ts)`, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn order_events(
        &self,
        id: &ClientOrderId,
    ) -> Result<Vec<(OrderStatus, Option<String>, UnixNanos)>> {
        let rows: Vec<(String, Option<String>, i64)> = on_pool!(self, |p| {
            sqlx::query_as("SELECT status, detail, ts FROM live_order_events WHERE client_order_id = $1 ORDER BY id")
                .bind(id.as_str())
                .fetch_all(p)
                .await
        })?;
        rows.into_iter()
            .map(|(s, d, t)| Ok((parse("live_order_events.status", &s)?, d, UnixNanos(t))))
            .collect()
    }

    /// Fills in execution order.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn fills(&self) -> Result<Vec<StoredFill>> {
        let rows: Vec<FillRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT broker, trade_id, client_order_id, strategy, symbol, venue, side, price, quantity, commission, \
                 currency, ts_event FROM live_fills ORDER BY ts_event, client_order_id, trade_id",
            )
            .fetch_all(p)
            .await
        })?;
        rows.into_iter().map(FillRow::into_domain).collect()
    }

    /// Every stored position (flat ones included), by strategy and instrument.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn positions(&self) -> Result<Vec<StoredPosition>> {
        let rows: Vec<PositionRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT strategy, symbol, venue, quantity, avg_price, multiplier, realized_pnl, commissions, currency, \
                 last_price, updated_at FROM live_positions ORDER BY strategy, venue, symbol",
            )
            .fetch_all(p)
            .await
        })?;
        rows.into_iter().map(PositionRow::into_domain).collect()
    }

    /// Store a strategy's position (with its latest mark, if given) outside a fill,
    /// e.g. after reconciliation.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn upsert_position(
        &self,
        strategy: &StrategyId,
        position: &Position,
        last_price: Option<Price>,
    ) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| upsert_position_row!(
            p, strategy, position, last_price, now
        ))?;
        Ok(())
    }

    /// Record the last price of an instrument on every strategy's position in it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn mark_positions(&self, instrument: &InstrumentId, price: Price) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query(
                "UPDATE live_positions SET last_price = $1 WHERE symbol = $2 AND venue = $3",
            )
            .bind(price.to_string())
            .bind(instrument.symbol.as_str())
            .bind(instrument.venue.as_str())
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// A named piece of state (kill switch, paper broker book, …), if set.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(on_pool!(self, |p| {
            sqlx::query_scalar("SELECT value FROM live_state WHERE key = $1")
                .bind(key)
                .fetch_optional(p)
                .await
        })?)
    }

    /// Set a named piece of state.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn set_state(&self, key: &str, value: &str) -> Result<()> {
        let now = self.now();
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO live_state (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(now.0)
            .execute(p)
            .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Remove a named piece of state (absent is fine).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_state(&self, key: &str) -> Result<()> {
        on_pool!(self, |p| sqlx::query(
            "DELETE FROM live_state WHERE key = $1"
        )
        .bind(key)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Keys of named state starting with `prefix`, sorted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn state_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let like = format!("{}%", prefix.replace('%', "").replace('_', "\\_"));
        Ok(on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT key FROM live_state WHERE key LIKE $1 ESCAPE '\\' ORDER BY key",
            )
            .bind(&like)
            .fetch_all(p)
            .await
        })?)
    }

    /// Append a point of account value history.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_account_snapshot(&self, s: &AccountSnapshot) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO account_history (account, strategy, ts, currency, equity, cash, realized_pnl, unrealized_pnl) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&s.account)
            .bind(&s.strategy)
            .bind(s.ts.0)
            .bind(s.equity.currency.as_str())
            .bind(s.equity.amount.normalize().to_string())
            .bind(s.cash.amount.normalize().to_string())
            .bind(s.realized_pnl.amount.normalize().to_string())
            .bind(s.unrealized_pnl.amount.normalize().to_string())
            .execute(p)
            .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Account value history of `account` (all strategies and the total), oldest first.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn account_history(&self, account: &str) -> Result<Vec<AccountSnapshot>> {
        let rows: Vec<SnapshotRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT account, strategy, ts, currency, equity, cash, realized_pnl, unrealized_pnl FROM account_history \
                 WHERE account = $1 ORDER BY ts, id",
            )
            .bind(account)
            .fetch_all(p)
            .await
        })?;
        rows.into_iter().map(SnapshotRow::into_domain).collect()
    }

    /// The newest account snapshot of each (account, strategy), or of one account.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn latest_account_snapshots(&self) -> Result<Vec<AccountSnapshot>> {
        let rows: Vec<SnapshotRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT h.account, h.strategy, h.ts, h.currency, h.equity, h.cash, h.realized_pnl, h.unrealized_pnl \
                 FROM account_history h WHERE h.id = (SELECT MAX(x.id) FROM account_history x \
                 WHERE x.account = h.account AND x.strategy = h.strategy) ORDER BY h.account, h.strategy",
            )
            .fetch_all(p)
            .await
        })?;
        rows.into_iter().map(SnapshotRow::into_domain).collect()
    }
}
