//! The trait every venue's collector implements, and what its live stream sends.

use std::future::Future;

use tessera_core::UnixNanos;
use tessera_model::{Bar, Instrument, Interval, Quote, Symbol, Venue};
use tokio::sync::{mpsc, watch};

use crate::error::Result;

/// What a live stream delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    /// A candle that has closed (never an open one).
    Bar(Bar),
    /// A top-of-book update.
    Quote(Quote),
    /// Candles may have been missed (after a reconnect, or a polling source's
    /// tick): every symbol catches up over REST before taking more live candles.
    CatchUp,
}

/// One venue's market data: instrument definitions, closed candles by page, a live stream.
///
/// The [`crate::collector::CollectorEngine`] drives any implementation through
/// backfill, live following and exact resume; implementations only speak
/// their venue's protocol.
pub trait Collector: Send + Sync + std::fmt::Debug + 'static {
    /// The venue name instruments are stored under.
    fn venue(&self) -> Venue;

    /// The venue's current time (real time, or the simulated market's clock).
    fn now(&self) -> UnixNanos;

    /// Most candles one [`Collector::closed_bars`] call returns.
    fn page_limit(&self) -> usize;

    /// The instrument as the venue defines it (tick, lot, assets).
    ///
    /// # Errors
    /// [`crate::Error::UnknownSymbol`], transport errors.
    fn instrument(&self, symbol: Symbol) -> impl Future<Output = Result<Instrument>> + Send;

    /// Open time of the oldest candle the venue has, `None` when it has none.
    ///
    /// # Errors
    /// Transport errors.
    fn first_open_time(
        &self,
        symbol: Symbol,
        interval: Interval,
    ) -> impl Future<Output = Result<Option<UnixNanos>>> + Send;

    /// Closed candles opening in `[start, end)`, ascending, at most `limit`.
    /// Fewer than `limit` means no further closed candle exists before `end` yet.
    ///
    /// # Errors
    /// Transport errors (retries already spent), [`crate::Error::Protocol`].
    fn closed_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Bar>>> + Send;

    /// Follow `symbols` live, sending events to `tx`, until `shutdown` turns
    /// true or `tx` closes. Reconnects by itself, sending [`LiveEvent::CatchUp`]
    /// after each reconnect.
    ///
    /// # Errors
    /// Only unrecoverable ones (an unsupported interval); drops are retried.
    fn stream(
        &self,
        symbols: Vec<Symbol>,
        interval: Interval,
        tx: mpsc::Sender<LiveEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> impl Future<Output = Result<()>> + Send;
}
