//! Historical replay through the engine: loading bars, running one
//! backtest, parameter sweeps in parallel and walk-forward analysis.
//!
//! A backtest here is nothing but [`tessera_engine::Engine`] driven by a
//! [`tessera_core::SimClock`], a [`tessera_engine::SeriesSource`] and the
//! [`tessera_engine::SimVenue`]; live trading swaps those three and keeps the
//! strategies. Results ([`BacktestResult`]) are serde types ready for storage.

pub mod csv;
pub mod error;
mod precompute;
pub mod result;
pub mod run;
pub mod sweep;
pub mod walkforward;

pub use csv::{load_csv, parse_csv};
pub use error::{Error, Result};
pub use result::{BacktestResult, RunMetadata};
pub use run::{BacktestConfig, prepare_strategy, run_backtest, run_engine, run_strategy};
pub use sweep::{Constraint, Grid, SweepConfig, SweepRow, plan, sweep};
pub use walkforward::{WalkForwardConfig, WalkForwardResult, WalkForwardWindow, walk_forward};
