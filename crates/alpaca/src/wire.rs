//! Alpaca's JSON payloads (REST v2 and the `trade_updates` stream).
//!
//! Transport types only: numbers stay the strings Alpaca sends (parsed to
//! exact [`Decimal`]s by `rust_decimal`'s string serde), and nothing here
//! leaks into the domain model; [`crate::broker`] translates. Unknown keys
//! are ignored so a new field at Alpaca does not break us; the server in
//! [`crate::server`] writes the full documented shape.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An order (`GET /v2/orders`, `POST /v2/orders`, and inside trade updates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Alpaca's order id (a UUID).
    pub id: String,
    /// Our id, echoed.
    pub client_order_id: String,
    /// RFC 3339 times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// When it reached Alpaca.
    pub submitted_at: Option<String>,
    /// When it filled completely.
    pub filled_at: Option<String>,
    /// When it expired.
    pub expired_at: Option<String>,
    /// When it was cancelled.
    pub canceled_at: Option<String>,
    /// When it failed.
    pub failed_at: Option<String>,
    /// When it was replaced.
    pub replaced_at: Option<String>,
    /// The order replacing this one.
    pub replaced_by: Option<String>,
    /// The order this one replaces.
    pub replaces: Option<String>,
    /// Alpaca's asset id.
    pub asset_id: String,
    /// Ticker (`AAPL`, `BTC/USD`).
    pub symbol: String,
    /// `us_equity` or `crypto`.
    pub asset_class: String,
    /// Dollar amount for notional orders.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub notional: Option<Decimal>,
    /// Quantity ordered, units.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub qty: Option<Decimal>,
    /// Quantity filled so far, units.
    #[serde(with = "rust_decimal::serde::str")]
    pub filled_qty: Decimal,
    /// Average fill price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub filled_avg_price: Option<Decimal>,
    /// `simple`, `bracket`, … (empty for simple).
    pub order_class: String,
    /// Same as `type` (kept by Alpaca for compatibility).
    pub order_type: String,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `day`, `gtc`, `opg`, `cls`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub stop_price: Option<Decimal>,
    /// `new`, `accepted`, `pending_new`, `partially_filled`, `filled`, `canceled`, `expired`, `rejected`, …
    pub status: String,
    /// Whether it may trade outside regular hours.
    pub extended_hours: bool,
    /// Legs of bracket orders.
    pub legs: Option<serde_json::Value>,
    /// Trailing stop percent.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub trail_percent: Option<Decimal>,
    /// Trailing stop price offset.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub trail_price: Option<Decimal>,
    /// High-water mark of trailing stops.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub hwm: Option<Decimal>,
}

/// The body of `POST /v2/orders`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Ticker.
    pub symbol: String,
    /// Units.
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop`, `stop_limit`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `day`, `gtc`, `opg`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub stop_price: Option<Decimal>,
    /// Our id; Alpaca refuses a second order with the same one.
    pub client_order_id: String,
}

/// The body of `PATCH /v2/orders/{id}` (replace).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceOrder {
    /// New quantity.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub qty: Option<Decimal>,
    /// New limit price.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub limit_price: Option<Decimal>,
    /// New stop price.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub stop_price: Option<Decimal>,
}

/// A position (`GET /v2/positions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Alpaca's asset id.
    pub asset_id: String,
    /// Ticker.
    pub symbol: String,
    /// Exchange.
    pub exchange: String,
    /// `us_equity` or `crypto`.
    pub asset_class: String,
    /// Average entry price.
    #[serde(with = "rust_decimal::serde::str")]
    pub avg_entry_price: Decimal,
    /// Signed quantity: negative when short.
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    /// `long` or `short`.
    pub side: String,
    /// Value at the current price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub market_value: Option<Decimal>,
    /// Cost of the position.
    #[serde(with = "rust_decimal::serde::str")]
    pub cost_basis: Decimal,
    /// Open P&L.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub unrealized_pl: Option<Decimal>,
    /// Last price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub current_price: Option<Decimal>,
}

/// The account (`GET /v2/account`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Alpaca's account id.
    pub id: String,
    /// `ACTIVE`, …
    pub status: String,
    /// Account currency (`USD`).
    pub currency: String,
    /// Cash; negative when borrowing on margin.
    #[serde(with = "rust_decimal::serde::str")]
    pub cash: Decimal,
    /// Cash plus positions at market.
    #[serde(with = "rust_decimal::serde::str")]
    pub equity: Decimal,
    /// What may be bought.
    #[serde(with = "rust_decimal::serde::str")]
    pub buying_power: Decimal,
    /// Leverage allowed (1, 2 or 4).
    #[serde(with = "rust_decimal::serde::str")]
    pub multiplier: Decimal,
    /// Whether trading is blocked.
    pub trading_blocked: bool,
}

/// A `FILL` account activity (`GET /v2/account/activities/FILL`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillActivity {
    /// `FILL`.
    pub activity_type: String,
    /// Activity id; also the page token of the next page.
    pub id: String,
    /// Quantity of the order filled after this fill.
    #[serde(with = "rust_decimal::serde::str")]
    pub cum_qty: Decimal,
    /// Quantity still open after this fill.
    #[serde(with = "rust_decimal::serde::str")]
    pub leaves_qty: Decimal,
    /// Price of this fill.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// Quantity of this fill.
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    /// `buy`, `sell` or `sell_short`.
    pub side: String,
    /// Ticker.
    pub symbol: String,
    /// RFC 3339.
    pub transaction_time: String,
    /// Alpaca's order id (activities do not carry the client order id).
    pub order_id: String,
    /// `fill` or `partial_fill`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Status of the order after this fill.
    pub order_status: String,
}

/// An error body: `{"code": 40310000, "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Alpaca's error code.
    #[serde(default)]
    pub code: u64,
    /// Human-readable reason.
    #[serde(default)]
    pub message: String,
}

/// One message on the `trade_updates` stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMessage {
    /// `authorization`, `listening` or `trade_updates`.
    pub stream: String,
    /// The payload; its shape depends on `stream`.
    pub data: serde_json::Value,
}

/// The payload of a `trade_updates` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeUpdate {
    /// `new`, `fill`, `partial_fill`, `canceled`, `expired`, `done_for_day`,
    /// `replaced`, `rejected`, `pending_new`, `pending_cancel`, …
    pub event: String,
    /// Id of this execution (fills only).
    #[serde(default)]
    pub execution_id: Option<String>,
    /// The order after the event.
    pub order: Order,
    /// When it happened, RFC 3339.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Price of this fill.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub price: Option<Decimal>,
    /// Quantity of this fill.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub qty: Option<Decimal>,
    /// Position after this fill.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub position_qty: Option<Decimal>,
}
