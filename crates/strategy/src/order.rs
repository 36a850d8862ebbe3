//! What a strategy asks for and what it hears back.
//!
//! An [`OrderIntent`] is an order request whose size may still be relative
//! ([`OrderQty::EquityFraction`]): the venue turns it into units at the
//! moment it executes, with the price it executes at, as backtesting.py's
//! `buy(size=0.9999)` does and as brokers' notional orders do live.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, InstrumentId, OrderStatus, OrderType, Price, Quantity, Side, TimeInForce,
};

/// How much to trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OrderQty {
    /// Exactly this many units (shares, coins, contracts).
    Units(Quantity),
    /// This fraction (0, 1] of the margin available when the order executes,
    /// rounded down to whole lots after commission.
    EquityFraction(Decimal),
}

/// An order as a strategy asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    /// What to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// How much.
    pub quantity: OrderQty,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Limit price for limit and stop-limit orders.
    pub limit_price: Option<Price>,
    /// Trigger price for stop and stop-limit orders.
    pub stop_price: Option<Price>,
    /// How long it works.
    pub time_in_force: TimeInForce,
}

impl OrderIntent {
    /// A good-till-cancelled market order.
    #[must_use]
    pub fn market(instrument: InstrumentId, side: Side, quantity: OrderQty) -> Self {
        Self {
            instrument,
            side,
            quantity,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
            time_in_force: TimeInForce::Gtc,
        }
    }

    /// A good-till-cancelled limit order.
    #[must_use]
    pub fn limit(instrument: InstrumentId, side: Side, quantity: OrderQty, limit: Price) -> Self {
        Self {
            order_type: OrderType::Limit,
            limit_price: Some(limit),
            ..Self::market(instrument, side, quantity)
        }
    }

    /// A good-till-cancelled stop (market) order.
    #[must_use]
    pub fn stop(instrument: InstrumentId, side: Side, quantity: OrderQty, stop: Price) -> Self {
        Self {
            order_type: OrderType::Stop,
            stop_price: Some(stop),
            ..Self::market(instrument, side, quantity)
        }
    }

    /// A good-till-cancelled stop-limit order.
    #[must_use]
    pub fn stop_limit(
        instrument: InstrumentId,
        side: Side,
        quantity: OrderQty,
        stop: Price,
        limit: Price,
    ) -> Self {
        Self {
            order_type: OrderType::StopLimit,
            stop_price: Some(stop),
            limit_price: Some(limit),
            ..Self::market(instrument, side, quantity)
        }
    }

    /// The same order with another time in force.
    #[must_use]
    pub fn with_tif(mut self, tif: TimeInForce) -> Self {
        self.time_in_force = tif;
        self
    }
}

/// A change to a working order; `None` keeps the current value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderModify {
    /// New total quantity (must stay above what has filled).
    pub quantity: Option<Quantity>,
    /// New limit price.
    pub limit_price: Option<Price>,
    /// New stop price.
    pub stop_price: Option<Price>,
}

/// A strategy's request to the engine, collected by the [`crate::Context`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Submit a new order under this id.
    Submit {
        /// Id given to the order (strategy id and a sequence number).
        id: ClientOrderId,
        /// The order.
        intent: OrderIntent,
    },
    /// Cancel a working order.
    Cancel {
        /// The order.
        id: ClientOrderId,
    },
    /// Modify a working order.
    Modify {
        /// The order.
        id: ClientOrderId,
        /// The change.
        change: OrderModify,
    },
    /// Call `on_timer` at this time.
    SetTimer {
        /// When.
        at: UnixNanos,
        /// A name the strategy chooses, handed back in the [`TimerEvent`].
        name: String,
    },
}

/// A change in an order's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// The order.
    pub client_order_id: ClientOrderId,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Its new status.
    pub status: OrderStatus,
    /// Units filled so far.
    pub filled_quantity: Quantity,
    /// Why it was rejected, cancelled or expired, when the venue says (borrowed when the
    /// venue's reason is a fixed text: a backtest refuses tens of thousands of orders).
    pub reason: Option<Cow<'static, str>>,
    /// When the change happened.
    pub ts: UnixNanos,
}

/// A timer the strategy set has come due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerEvent {
    /// The name given to [`crate::Context::set_timer`].
    pub name: String,
    /// When it was due.
    pub at: UnixNanos,
}
