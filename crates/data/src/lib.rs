//! Tessera's market data service.
//!
//! What lives here and why:
//! * [`import`] and [`export`]: bar files in and out (Binance klines, OHLCV
//!   CSV, pysystemtrade prices; CSV and Parquet), with row-level validation;
//! * [`source`]: the [`source::MarketSource`] trait each venue implements
//!   (instrument definitions, closed candles by page, a live stream);
//! * [`collector`]: the venue-independent engine that moves a symbol through
//!   the ingest states created → backfilling → live, writing each page of
//!   candles **in the same transaction** as its cursor so a process killed at
//!   any instant resumes with no gap and no duplicate;
//! * venues: [`binance`] (REST backfill under a weight budget, one multiplexed
//!   WebSocket), [`sim`] (a seeded synthetic market, the offline default) and
//!   [`eod`] (end-of-day files from a watched folder or an HTTP CSV template).
//!
//! Storage goes only through `tessera-storage`; time only through an injected
//! [`tessera_core::Clock`].

pub mod eod;
pub mod error;
pub mod export;
pub mod gaps;
pub mod import;

pub use error::{Error, Result};
pub mod binance;
pub mod collector;
pub mod quotes;
pub mod retry;
pub mod sim;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

pub use collector::{BackfillReport, CollectorEngine, EngineOptions, Progress};
pub use source::{Collector, LiveEvent};
