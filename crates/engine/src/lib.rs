//! The one event loop for backtest, paper and live trading.
//!
//! [`Engine`] pulls market events in time order from a [`DataSource`],
//! advances an injected clock, lets the [`Venue`] match working orders,
//! books fills in its own [`Ledger`] and round-trip [`tessera_analysis::TradeBook`],
//! calls the strategies, and routes the commands they queue back to the venue.
//! Nothing here knows whether the venue is simulated ([`sim::SimVenue`]) or a
//! broker, or whether the clock is historical or real.

pub mod data;
pub mod engine;
pub mod error;
pub mod ledger;
pub mod sim;
pub mod venue;

pub use data::{BarSeries, DataSource, EventKind, MarketEvent, Next, SeriesSource, Upcoming};
pub use engine::{Engine, EngineClock, EngineReport};
pub use error::{Error, Result};
pub use ledger::Ledger;
pub use sim::{Commission, FillModel, SimConfig, SimVenue, Slippage};
pub use venue::{Venue, VenueEvent};
