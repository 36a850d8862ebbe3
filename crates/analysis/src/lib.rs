//! Performance analysis of a run: statistics, equity and drawdown curves,
//! round-trip trades and charts.
//!
//! Records stay exact ([`TradeRecord`] carries `Price`, `Quantity` and
//! `Decimal` P&L); statistics are `f64`, as ratios and annualised figures
//! have no exact form. The definitions follow backtesting.py so results can
//! be compared number for number (see `docs/backtest.md`).

pub mod drawdown;
pub mod error;
pub mod plot;
pub mod stats;
pub mod trades;

pub use drawdown::{DrawdownPeriod, drawdown_curve, drawdown_periods};
pub use error::{Error, Result};
pub use plot::{PlotOptions, equity_svg};
pub use stats::{Annualisation, Stats, StatsInput, compute_stats};
pub use trades::{TradeBook, TradeRecord};
