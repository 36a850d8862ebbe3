//! The strategy API: one trait for backtest, paper and live trading.
//!
//! A [`Strategy`] reacts to market data and order events through a
//! [`Context`]: it reads positions, the account and recent bars, and *asks*
//! for orders, cancels, modifications and timers. It never talks to a venue,
//! never reads the wall clock and never does I/O, so the engine can drive it
//! from recorded history (backtest) or from live streams with the same
//! result. Built-in strategies live in [`builtins`]; [`build`] makes one from
//! its name and `key=value` parameters, as the CLI does.

pub mod builtins;
pub mod context;
pub mod error;
pub mod indicators;
pub mod order;
pub mod params;
pub mod sizing;
pub mod strategy;

pub use builtins::{BUILTIN_NAMES, build};
pub use context::{BarHistory, BarValues, Context, NoHistory, PortfolioView};
pub use error::{Error, Result};
pub use order::{Command, OrderIntent, OrderModify, OrderQty, OrderUpdate, TimerEvent};
pub use params::Params;
pub use sizing::{FULL_EQUITY, Sizing};
pub use strategy::Strategy;
