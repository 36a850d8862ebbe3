//! Execution: from a risk-approved request to a broker and back.
//!
//! * [`Broker`]: the one trait every broker implements (paper, Alpaca, …);
//! * [`OrderStack`]: every order and every state change persisted **before**
//!   anything is sent, fills booked atomically with the order and position
//!   they change, and recovery after a restart ([`OrderStack::recover`]);
//! * [`generator`]: orders from target versus current positions, with
//!   buffers and minimum trade sizes;
//! * [`netting`]: strategy orders netted into instrument orders, fills
//!   allocated back to the strategy orders (pure); [`netted`]: the stack's
//!   netted path (persisted before sending, recovered after a crash);
//! * [`reconcile`]: our positions and open orders against the broker's;
//! * [`OrderStack::housekeeping`]: end-of-day expiry of stale orders.

pub mod broker;
pub mod error;
pub mod generator;
pub mod netted;
pub mod netting;
pub mod reconcile;
pub mod stack;

pub use broker::{Broker, BrokerEvent, BrokerOrder, MarketUpdate};
pub use error::{Error, Result};
pub use generator::{GeneratorConfig, Target, generate_orders};
pub use netted::NetRequest;
pub use reconcile::{Difference, ReconcileReport, reconcile};
pub use stack::{OrderStack, RecoveryReport};
