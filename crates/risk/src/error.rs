//! Why an order was refused.

use rust_decimal::Decimal;

/// A refused order: each variant names the limit and the numbers that broke it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The kill switch is on.
    #[error("kill switch is on: no new orders until it is released")]
    KillSwitch,
    /// Trading in the instrument is halted (e.g. after a reconciliation difference).
    #[error("trading halted in {instrument}: {reason}")]
    Halted {
        /// The instrument.
        instrument: String,
        /// Why.
        reason: String,
    },
    /// The request itself is inconsistent.
    #[error("invalid order: {0}")]
    Invalid(String),
    /// Quantity above the per-order maximum.
    #[error("order quantity {quantity} exceeds max_order_quantity {limit}")]
    OrderQuantity {
        /// Asked.
        quantity: Decimal,
        /// Limit.
        limit: Decimal,
    },
    /// Notional above the per-order maximum.
    #[error("order notional {notional} exceeds max_order_notional {limit}")]
    OrderNotional {
        /// Quantity × price × multiplier.
        notional: Decimal,
        /// Limit.
        limit: Decimal,
    },
    /// No price to value the order with (market order before any market data).
    #[error("no last price for {0}: notional, collar and loss checks need one")]
    NoPrice(String),
    /// The position (with working orders filled in the worst case) would exceed a limit.
    #[error("{scope} position would reach {projected}, beyond the limit of ±{limit}")]
    Position {
        /// `instrument` or `strategy`.
        scope: &'static str,
        /// Worst-case position after this order and every working one fill.
        projected: Decimal,
        /// Limit (absolute units).
        limit: Decimal,
    },
    /// Too many working orders.
    #[error("{open} orders already working; max_open_orders is {limit}")]
    OpenOrders {
        /// Working now.
        open: usize,
        /// Limit.
        limit: usize,
    },
    /// A limit or stop price too far from the last price.
    #[error("price {price} is {deviation_pct}% from the last price {last}; collar is {limit_pct}%")]
    Collar {
        /// Order price.
        price: Decimal,
        /// Last price.
        last: Decimal,
        /// Distance in percent.
        deviation_pct: Decimal,
        /// Allowed percent.
        limit_pct: Decimal,
    },
    /// Daily loss limit reached; only orders that reduce the position pass.
    #[error(
        "{scope} daily loss {loss} reached max_daily_loss {limit}; only reducing orders allowed"
    )]
    DailyLoss {
        /// `strategy` or `account`.
        scope: &'static str,
        /// Loss today (positive number).
        loss: Decimal,
        /// Limit.
        limit: Decimal,
    },
    /// Outside the configured trading hours.
    #[error("outside trading hours ({0})")]
    TradingHours(String),
    /// The limits themselves are inconsistent.
    #[error("invalid risk limits: {0}")]
    Config(String),
}

/// Result alias for `tessera-risk`.
pub type Result<T> = std::result::Result<T, Error>;
