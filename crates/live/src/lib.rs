//! Live and paper trading on the one engine.
//!
//! The backtest's [`tessera_engine::Engine`] drives the unchanged strategies
//! here too; only its three seams change:
//! * the clock: a [`tessera_core::SimClock`] moved by each event's time, so
//!   an accelerated simulated market and a real-time stream look the same;
//! * the data source: [`LiveSource`], fed from live streams through a channel;
//! * the venue: [`TradingVenue`], which runs every order through the risk
//!   checks ([`tessera_risk`]), stores it in the order stack
//!   ([`tessera_execution::OrderStack`]) and only then hands it to a
//!   [`tessera_execution::Broker`] — the [`PaperBroker`] (the backtest's
//!   simulator, persisted) or a real one.

mod error;
mod paper;
mod source;
mod venue;

pub use error::{Error, Result};
pub use paper::{PaperBroker, RECENT_FILLS};
pub use source::LiveSource;
pub use venue::{TradingVenue, VenueSettings};
