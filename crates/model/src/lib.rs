//! Tessera's domain model, free of I/O.
//!
//! What every other crate agrees on: the security master ([`Instrument`]),
//! exact numbers for money ([`Price`], [`Quantity`], [`Money`]), market data
//! ([`Bar`], [`Quote`], [`Trade`], [`Interval`]) and the trading records
//! ([`Order`] and its state machine, [`Fill`], [`Position`], [`Account`]).
//! Storage, adapters and engines convert to and from these types at their
//! edges, so transport shapes never leak in here.

pub mod account;
pub mod data;
pub mod error;
pub mod identifiers;
pub mod instrument;
pub mod interval;
pub mod numbers;
pub mod order;
pub mod position;
pub mod resample;

pub use account::{Account, Balance};
pub use data::{Bar, IngestState, Quote, Trade};
pub use error::{Error, Result};
pub use identifiers::{ClientOrderId, Currency, InstrumentId, StrategyId, Symbol, TradeId, Venue};
pub use instrument::{Instrument, InstrumentKind};
pub use interval::{Interval, IntervalUnit};
pub use numbers::{Money, Price, Quantity, RoundingMode};
pub use order::{Fill, Order, OrderEvent, OrderRequest, OrderStatus, OrderType, Side, TimeInForce};
pub use position::Position;
pub use rust_decimal::Decimal;
pub use tessera_core::{TimeRange, UnixNanos};
