//! The Alpaca broker.
//!
//! * [`AlpacaBroker`]: Alpaca behind [`tessera_execution::Broker`] — REST v2
//!   ([`http::AlpacaClient`]) for orders, positions, account and fill
//!   activities, the `trade_updates` WebSocket ([`stream`]) for order news;
//! * [`AlpacaConfig`]: `[brokers.alpaca]` (paper or live endpoints by URL);
//! * [`server::TestServer`]: a local server speaking the same protocol with
//!   the payload shapes in `test_data/`, with injectable faults, also run as
//!   the `tessera-alpaca-server` binary;
//! * [`market`]: Alpaca's Market Data API (historical bars, latest quotes,
//!   the real-time stream) as the market data crate's `Collector`
//!   ([`AlpacaCollector`]), for `tessera trade --venue alpaca`;
//! * [`failpoint`]: freeze points that make crash windows hittable in tests.

pub mod broker;
pub mod config;
pub mod error;
pub mod failpoint;
pub mod http;
pub mod market;
pub mod server;
pub mod stream;
pub mod wire;

pub use broker::AlpacaBroker;
pub use config::AlpacaConfig;
pub use error::{Error, Result};
pub use failpoint::Failpoints;
pub use market::AlpacaCollector;
