//! The simulated venue: order matching on bars and quotes, costs and an account.
//!
//! Shared by backtests and (later) the paper broker, so both fill the same way.

mod config;
mod path;
mod venue;

pub use config::{Commission, FillModel, SimConfig, Slippage};
pub use path::bar_path;
pub use venue::SimVenue;
