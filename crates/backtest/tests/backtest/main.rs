//! Integration tests of `tessera-backtest` on the shared real data.
//!
//! The data lives outside the repository (`../shared/data` from the root).
//! When it is missing the tests fail under `CI=true` and skip loudly otherwise.

mod common;
mod fast_forward;
mod parity;
mod parity_backtrader;
mod strategies;
mod sweeps;
