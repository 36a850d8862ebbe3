//! The bottom of the Tessera workspace: typed UTC time and the clock seam.
//!
//! Nothing here does I/O. Every other crate reads "now" only through a
//! [`Clock`], so backtests replay history with a [`SimClock`] and live trading
//! uses the [`SystemClock`] without either knowing which one it has.

pub mod clock;
pub mod error;
pub mod time;

pub use clock::{Clock, SimClock, SystemClock};
pub use error::{Error, Result};
pub use time::{TimeRange, UnixNanos};
