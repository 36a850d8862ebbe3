//! The netting layer of the order stack (migration `0009_instrument_orders`):
//! instrument orders (what a broker sees when several strategies' orders are
//! netted), the allocation link back to the strategy orders, and the broker's
//! fills of instrument orders.
//!
//! Crash safety rests on one call, [`Store::write_stack`]: everything one
//! step of the netting layer changes (new instrument orders with their
//! allocations, strategy orders moved on, strategy fills derived from a
//! broker fill or an internal cross, positions) is written in **one**
//! transaction, and a broker fill is keyed by `(broker, trade_id)`, so a step
//! replayed after a crash is a no-op and a crash mid-step leaves nothing half
//! written.

use tessera_model::{ClientOrderId, Fill, Order, Position, Price, Quantity, StrategyId};

use crate::error::{Error, Result};
use crate::live::{
    FillRow, INSERT_EVENT, INSERT_FILL, OrderRow, SHARED_ORDER_COLUMNS, UPDATE_ORDER,
    UPSERT_POSITION, bind_fill_insert, bind_order_insert, id, update_row,
};
use crate::rows::parse;
use crate::store::{Store, on_pool};

/// The strategy id an instrument order's `request.strategy` carries: an
/// instrument order belongs to every strategy it is allocated to, so it is
/// stored without a strategy column and read back under this name (not a
/// valid `trade --name`, so it never clashes with a real strategy).
pub const NETTED_STRATEGY: &str = "(net)";

/// One strategy order's share of an instrument order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAllocation {
    /// The strategy order (a row of `live_orders`).
    pub strategy_order: ClientOrderId,
    /// Its share of the instrument order.
    pub quantity: Quantity,
    /// How much of the share the broker has filled so far.
    pub filled_quantity: Quantity,
}

/// An instrument order with its allocations, in fill order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInstrumentOrder {
    /// The broker (account) it goes to.
    pub broker: String,
    /// The order the broker sees; `request.strategy` is [`NETTED_STRATEGY`].
    pub order: Order,
    /// The strategy orders behind it, first come first filled.
    pub allocations: Vec<StoredAllocation>,
}

/// Everything one netting step changes, written by [`Store::write_stack`] in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackWrite {
    /// A broker fill of an instrument order. Stored first: when its
    /// `(broker, trade_id)` is stored already, the whole write is a no-op.
    pub instrument_fill: Option<Fill>,
    /// Instrument orders to insert, with their allocations.
    pub new_instrument_orders: Vec<StoredInstrumentOrder>,
    /// Instrument orders' new state (and their allocations' filled quantities).
    pub instrument_updates: Vec<StoredInstrumentOrder>,
    /// Strategy orders' new state, each with an event row and its detail.
    pub order_updates: Vec<(Order, Option<String>)>,
    /// Strategy fills (rows of `live_fills`) with the strategy that owns them.
    /// A trade id stored already makes the whole write a no-op.
    pub fills: Vec<(StrategyId, Fill)>,
    /// Strategy positions after the fills, with the price they were marked at.
    pub positions: Vec<(StrategyId, Position, Option<Price>)>,
}

impl StackWrite {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.instrument_fill.is_none()
            && self.new_instrument_orders.is_empty()
            && self.instrument_updates.is_empty()
            && self.order_updates.is_empty()
            && self.fills.is_empty()
            && self.positions.is_empty()
    }
}

/// Columns of `live_instrument_orders` shaped as an [`OrderRow`].
const INSTRUMENT_AS_ORDER: &str = "client_order_id, broker, broker_order_id, '(net)' AS strategy, symbol, venue, \
     side, order_type, time_in_force, quantity, limit_price, stop_price, status, filled_quantity, avg_fill_price, \
     reject_reason, trade_ids, created_at, updated_at";

const UPDATE_INSTRUMENT: &str = "UPDATE live_instrument_orders SET broker_order_id = $2, status = $3, \
     filled_quantity = $4, avg_fill_price = $5, reject_reason = $6, trade_ids = $7, updated_at = $8 \
     WHERE client_order_id = $1";

const INSERT_INSTRUMENT_FILL: &str = "INSERT INTO live_instrument_fills (broker, trade_id, instrument_order_id, symbol, \
     venue, side, price, quantity, commission, currency, ts_event) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (broker, trade_id) DO NOTHING";

/// Roll back and return: a dropped SQLite write transaction would hold the lock until the connection is reused.
macro_rules! bail_tx {
    ($tx:expr, $ret:expr) => {{
        $tx.rollback().await?;
        return $ret;
    }};
}

impl Store {
    /// Write one netting step in one transaction (see [`StackWrite`]).
    /// Returns `false`, writing nothing, when the step's broker fill or one
    /// of its strategy fills is stored already (a replay after a crash).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] for an instrument order id that is taken,
    /// [`Error::NotFound`] for an update of an unknown order, [`Error::Database`].
    pub async fn write_stack(&self, broker: &str, w: &StackWrite) -> Result<bool> {
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            if let Some(f) = &w.instrument_fill {
                let n = bind_fill_insert!(INSERT_INSTRUMENT_FILL, broker, f)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    bail_tx!(tx, Ok(false));
                }
            }
            for io in &w.new_instrument_orders {
                let o = &io.order;
                let taken: Option<String> = sqlx::query_scalar(
                    "SELECT client_order_id FROM live_instrument_orders WHERE client_order_id = $1",
                )
                .bind(o.client_order_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    bail_tx!(
                        tx,
                        Err(Error::AlreadyExists(format!(
                            "instrument order {}",
                            o.client_order_id
                        )))
                    );
                }
                bind_order_insert!(
                    sqlx::AssertSqlSafe(format!(
                        "INSERT INTO live_instrument_orders ({SHARED_ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
                         $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
                    )),
                    broker,
                    o
                )
                .execute(&mut *tx)
                .await?;
                for (seq, a) in io.allocations.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO live_order_allocations (instrument_order_id, seq, strategy_order_id, quantity, \
                         filled_quantity) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(o.client_order_id.as_str())
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(a.strategy_order.as_str())
                    .bind(a.quantity.to_string())
                    .bind(a.filled_quantity.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for io in &w.instrument_updates {
                let o = &io.order;
                if update_row!(&mut *tx, UPDATE_INSTRUMENT, o)?.rows_affected() == 0 {
                    bail_tx!(
                        tx,
                        Err(Error::NotFound(format!(
                            "instrument order {}",
                            o.client_order_id
                        )))
                    );
                }
                for (seq, a) in io.allocations.iter().enumerate() {
                    sqlx::query(
                        "UPDATE live_order_allocations SET filled_quantity = $3 \
                         WHERE instrument_order_id = $1 AND seq = $2",
                    )
                    .bind(o.client_order_id.as_str())
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(a.filled_quantity.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for (strategy, f) in &w.fills {
                let n = bind_fill_insert!(INSERT_FILL, broker, f)
                    .bind(strategy.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    bail_tx!(tx, Ok(false));
                }
            }
            for (o, detail) in &w.order_updates {
                if update_row!(&mut *tx, UPDATE_ORDER, o)?.rows_affected() == 0 {
                    bail_tx!(
                        tx,
                        Err(Error::NotFound(format!("order {}", o.client_order_id)))
                    );
                }
                sqlx::query(INSERT_EVENT)
                    .bind(o.client_order_id.as_str())
                    .bind(o.status.as_str())
                    .bind(detail.clone())
                    .bind(o.updated_at.0)
                    .execute(&mut *tx)
                    .await?;
            }
            for (strategy, pos, last) in &w.positions {
                let now = w
                    .fills
                    .iter()
                    .map(|(_, f)| f.ts_event.0)
                    .max()
                    .unwrap_or_else(|| self.now().0);
                sqlx::query(UPSERT_POSITION)
                    .bind(strategy.as_str())
                    .bind(pos.instrument.symbol.as_str())
                    .bind(pos.instrument.venue.as_str())
                    .bind(pos.quantity.normalize().to_string())
                    .bind(pos.avg_price.normalize().to_string())
                    .bind(pos.multiplier.normalize().to_string())
                    .bind(pos.realized_pnl.amount.normalize().to_string())
                    .bind(pos.commissions.amount.normalize().to_string())
                    .bind(pos.realized_pnl.currency.as_str())
                    .bind(last.map(|p: Price| p.to_string()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Instrument orders of `broker` with their allocations, oldest first;
    /// with `open_only`, only those not yet in a terminal status.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn instrument_orders(
        &self,
        broker: &str,
        open_only: bool,
    ) -> Result<Vec<StoredInstrumentOrder>> {
        let filter = if open_only {
            " AND status NOT IN ('filled', 'cancelled', 'rejected', 'expired')"
        } else {
            ""
        };
        let rows: Vec<OrderRow> = on_pool!(self, |p| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {INSTRUMENT_AS_ORDER} FROM live_instrument_orders WHERE broker = $1{filter} \
                 ORDER BY created_at, client_order_id"
            )))
            .bind(broker)
            .fetch_all(p)
            .await
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = row.into_domain()?;
            let links: Vec<(String, String, String)> = on_pool!(self, |p| {
                sqlx::query_as(
                    "SELECT strategy_order_id, quantity, filled_quantity FROM live_order_allocations \
                     WHERE instrument_order_id = $1 ORDER BY seq",
                )
                .bind(stored.order.client_order_id.as_str())
                .fetch_all(p)
                .await
            })?;
            let t = "live_order_allocations";
            let allocations = links
                .into_iter()
                .map(|(sid, q, f)| {
                    Ok(StoredAllocation {
                        strategy_order: id(
                            &format!("{t}.strategy_order_id"),
                            &sid,
                            ClientOrderId::new,
                        )?,
                        quantity: parse(&format!("{t}.quantity"), &q)?,
                        filled_quantity: parse(&format!("{t}.filled_quantity"), &f)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(StoredInstrumentOrder {
                broker: stored.broker,
                order: stored.order,
                allocations,
            });
        }
        Ok(out)
    }

    /// Broker fills of instrument orders, in execution order (their
    /// `client_order_id` is the instrument order's; `strategy` is
    /// [`NETTED_STRATEGY`]).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn instrument_fills(&self) -> Result<Vec<crate::StoredFill>> {
        let rows: Vec<FillRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT broker, trade_id, instrument_order_id AS client_order_id, '(net)' AS strategy, symbol, venue, \
                 side, price, quantity, commission, currency, ts_event FROM live_instrument_fills \
                 ORDER BY ts_event, instrument_order_id, trade_id",
            )
            .fetch_all(p)
            .await
        })?;
        rows.into_iter().map(FillRow::into_domain).collect()
    }
}
