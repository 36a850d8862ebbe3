//! Pre-trade risk: limits every order must pass before it may be persisted
//! and sent, and the kill switch.
//!
//! [`RiskEngine::check`] is the only way to obtain a [`RiskApproved`] value,
//! and execution only accepts `RiskApproved<OrderRequest>`, so the type
//! system proves that no order reaches a broker unchecked. The checks are
//! pure functions of the request, the [`RiskLimits`] and a [`RiskState`]
//! snapshot (positions, working orders, daily P&L, last price, clock), so
//! they are cheap, deterministic and property-tested.

mod check;
mod error;
mod limits;

pub use check::{RiskApproved, RiskEngine, RiskState};
pub use error::{Error, Result};
pub use limits::{RiskLimits, TradingHours};
