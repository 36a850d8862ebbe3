//! Alpaca market data: [`AlpacaCollector`], the market data crate's
//! [`Collector`] over Alpaca's Market Data API, so `tessera trade --venue
//! alpaca` trades on the prices Alpaca fills at.
//!
//! * [`rest::AlpacaDataClient`]: historical minute bars (paged by
//!   `next_page_token`), the latest bar and quotes, asset definitions;
//! * [`stream`]: the real-time WebSocket (bars and quotes, reconnect, catch-up);
//! * [`wire`]: the payloads, read exactly (numbers as `Decimal`, never `f64`).
//!
//! Stocks use the configured feed (`iex` or `sip`); a symbol with a `/`
//! (`BTC/USD`) is crypto (`/v1beta3/crypto/us`). Instruments are named on
//! the venue `alpaca` and their symbols are Alpaca's tickers, so the same
//! instruments go to [`crate::AlpacaBroker`].

pub mod rest;
pub mod stream;
pub mod wire;

use std::sync::Arc;

use tessera_core::{Clock, UnixNanos};
use tessera_data::{Collector, LiveEvent};
use tessera_model::{
    Bar, Currency, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity, Symbol,
    Venue,
};
use tokio::sync::{mpsc, watch};

use crate::config::AlpacaConfig;
use crate::error::Error;
pub use rest::{AlpacaDataClient, BARS_LIMIT, BarsPage, is_crypto};

/// The venue name Alpaca's instruments are stored under.
pub const VENUE: &str = "alpaca";

/// Alpaca's market data behind [`Collector`].
#[derive(Clone, Debug)]
pub struct AlpacaCollector {
    client: AlpacaDataClient,
    clock: Arc<dyn Clock>,
}

impl From<Error> for tessera_data::Error {
    fn from(e: Error) -> Self {
        let retryable = e.is_retryable();
        match e {
            Error::Transport { what, reason } => Self::Http {
                venue: VENUE.into(),
                url: what,
                status: None,
                reason,
                retryable,
            },
            Error::Api {
                what,
                status,
                code,
                message,
            } => Self::Http {
                venue: VENUE.into(),
                url: what,
                status: Some(status),
                reason: format!("code {code}: {message}"),
                retryable,
            },
            Error::Decode { what, reason } => Self::Protocol {
                venue: VENUE.into(),
                what,
                reason,
            },
            e @ Error::Stream { .. } => Self::WebSocket {
                venue: VENUE.into(),
                reason: e.to_string(),
            },
            Error::Model(m) => Self::Model(m),
            e @ Error::State { .. } => Self::Unsupported {
                venue: VENUE.into(),
                reason: e.to_string(),
            },
        }
    }
}

fn exact(what: &str, s: &str) -> Result<rust_decimal::Decimal, tessera_data::Error> {
    rust_decimal::Decimal::from_str_exact(s.trim())
        .map(|d| d.normalize())
        .map_err(|e| tessera_data::Error::Protocol {
            venue: VENUE.into(),
            what: "GET /v2/assets/{symbol}".into(),
            reason: format!("{what} {s:?}: {e}"),
        })
}

impl AlpacaCollector {
    /// A collector for `config` (its `data_url`, `feed`, keys; `base_url` for
    /// asset definitions); `clock` stands in for Alpaca's when an answer has
    /// no `Date` header.
    ///
    /// # Errors
    /// No key id or secret (Alpaca's market data needs them), or an HTTP
    /// client that cannot be built.
    pub fn new(config: AlpacaConfig, clock: Arc<dyn Clock>) -> tessera_data::Result<Self> {
        if config.key_id.is_empty() || config.secret.is_empty() {
            return Err(tessera_data::Error::Unsupported {
                venue: VENUE.into(),
                reason: "market data needs brokers.alpaca.key_id and brokers.alpaca.secret (or TESSERA_BROKERS_ALPACA_KEY_ID / TESSERA_BROKERS_ALPACA_SECRET)".into(),
            });
        }
        if !matches!(config.feed.as_str(), "iex" | "sip") {
            return Err(tessera_data::Error::Unsupported {
                venue: VENUE.into(),
                reason: format!(
                    "brokers.alpaca.feed = {:?}: expected iex or sip",
                    config.feed
                ),
            });
        }
        let venue = Venue::new(VENUE)?;
        Ok(Self {
            client: AlpacaDataClient::new(config, venue, clock.clone())?,
            clock,
        })
    }

    /// The REST client.
    #[must_use]
    pub fn client(&self) -> &AlpacaDataClient {
        &self.client
    }

    /// Where live trading's warm-up window ends: the end of `symbol`'s newest
    /// bar, or Alpaca's clock (the `Date` header) when that bar is still
    /// forming. Outside market hours this is the last session's final bar, so
    /// the warm-up takes that session's bars rather than an empty window.
    ///
    /// # Errors
    /// Transport and API failures.
    pub async fn venue_now(&self, symbol: Symbol) -> tessera_data::Result<UnixNanos> {
        let (bar, now) = self.client.latest_bar(symbol).await?;
        let now = now.unwrap_or_else(|| self.clock.now());
        Ok(bar.map_or(now, |b| b.close_time().min(now)))
    }

    fn targets(&self, symbols: &[Symbol]) -> Vec<stream::StreamTarget> {
        let cfg = self.client.config();
        let (crypto, stocks): (Vec<Symbol>, Vec<Symbol>) =
            symbols.iter().copied().partition(|s| is_crypto(*s));
        let mut out = Vec::new();
        if !stocks.is_empty() {
            out.push(stream::StreamTarget {
                url: cfg.data_stream_url(&format!("/v2/{}", cfg.feed)),
                symbols: stocks,
            });
        }
        if !crypto.is_empty() {
            out.push(stream::StreamTarget {
                url: cfg.data_stream_url("/v1beta3/crypto/us"),
                symbols: crypto,
            });
        }
        out
    }
}

impl Collector for AlpacaCollector {
    fn venue(&self) -> Venue {
        self.client.venue()
    }

    fn now(&self) -> UnixNanos {
        self.clock.now()
    }

    fn page_limit(&self) -> usize {
        BARS_LIMIT
    }

    async fn instrument(&self, symbol: Symbol) -> tessera_data::Result<Instrument> {
        let asset =
            self.client
                .asset(symbol)
                .await?
                .ok_or_else(|| tessera_data::Error::UnknownSymbol {
                    venue: VENUE.into(),
                    symbol: symbol.to_string(),
                })?;
        let id = InstrumentId::new(symbol, self.client.venue());
        let mut inst = if asset.class == "crypto" {
            let mut i = Instrument::with_defaults(id, InstrumentKind::Crypto)?;
            if let Some((base, quote)) = asset.symbol.split_once('/') {
                i.base_currency = Some(Currency::new(base)?);
                i.quote_currency = Currency::new(quote)?;
            }
            if let Some(t) = &asset.price_increment {
                i.tick_size = Price::new(exact("price_increment", t)?)?;
            }
            if let Some(l) = &asset.min_trade_increment {
                i.lot_size = Quantity::new(exact("min_trade_increment", l)?)?;
            }
            if let Some(m) = &asset.min_order_size {
                i.min_quantity = Quantity::new(exact("min_order_size", m)?)?;
            }
            i
        } else {
            Instrument::with_defaults(id, InstrumentKind::Equity)?
        };
        inst.active = asset.tradable && asset.status != "inactive";
        inst.validate()?;
        Ok(inst)
    }

    async fn first_open_time(
        &self,
        _symbol: Symbol,
        _interval: Interval,
    ) -> tessera_data::Result<Option<UnixNanos>> {
        // Alpaca's minute history starts in 2016 (stocks) / 2021 (crypto);
        // asking for it from 2015 finds the first bar without a lookup endpoint.
        Ok(Some(UnixNanos::parse("2015-01-01T00:00:00Z")?))
    }

    async fn closed_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> tessera_data::Result<Vec<Bar>> {
        if interval != Interval::M1 {
            return Err(tessera_data::Error::Unsupported {
                venue: VENUE.into(),
                reason: format!("interval {interval}: only 1m bars are followed"),
            });
        }
        Ok(self.client.bars(symbol, start, end, limit).await?)
    }

    async fn stream(
        &self,
        symbols: Vec<Symbol>,
        interval: Interval,
        tx: mpsc::Sender<LiveEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> tessera_data::Result<()> {
        if interval != Interval::M1 {
            return Err(tessera_data::Error::Unsupported {
                venue: VENUE.into(),
                reason: format!("interval {interval}: Alpaca streams 1m bars only"),
            });
        }
        let cfg = self.client.config().clone();
        let venue = self.client.venue();
        let runs = self.targets(&symbols).into_iter().map(|t| {
            let cfg = cfg.clone();
            let tx = tx.clone();
            let shutdown = shutdown.clone();
            async move { stream::run(&cfg, venue, &t, &tx, shutdown).await }
        });
        for r in futures_util::future::join_all(runs).await {
            r?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The market data crate decides on retries from its own error: the
    /// adapter's retryable failures must stay retryable through the mapping.
    #[test]
    fn test_error_mapping_keeps_retryability_and_the_place() {
        let t: tessera_data::Error = Error::Transport {
            what: "GET /v2/stocks/{symbol}/bars".into(),
            reason: "timed out".into(),
        }
        .into();
        assert!(t.is_retryable());
        assert!(t.to_string().contains("/v2/stocks/{symbol}/bars"), "{t}");
        let forbidden: tessera_data::Error = Error::Api {
            what: "GET /v2/stocks/{symbol}/bars".into(),
            status: 403,
            code: 0,
            message: "forbidden".into(),
        }
        .into();
        assert!(!forbidden.is_retryable());
        let busy: tessera_data::Error = Error::Api {
            what: "x".into(),
            status: 429,
            code: 0,
            message: "too many requests".into(),
        }
        .into();
        assert!(busy.is_retryable());
        let refused: tessera_data::Error = Error::Stream {
            step: "auth".into(),
            code: 406,
            message: "connection limit exceeded".into(),
        }
        .into();
        assert!(refused.is_retryable() && refused.to_string().contains("406"));
    }

    #[test]
    fn test_collector_needs_keys_and_a_known_feed() {
        let clock: Arc<dyn Clock> = Arc::new(tessera_core::SystemClock);
        let e = AlpacaCollector::new(AlpacaConfig::default(), clock.clone()).unwrap_err();
        assert!(e.to_string().contains("key_id"), "{e}");
        let cfg = AlpacaConfig {
            key_id: "k".into(),
            secret: "s".into(),
            feed: "otc".into(),
            ..AlpacaConfig::default()
        };
        let e = AlpacaCollector::new(cfg, clock).unwrap_err();
        assert!(e.to_string().contains("iex or sip"), "{e}");
    }
}
