//! Binance spot: public REST for instruments and klines, one WebSocket for live data.
//!
//! * `GET /api/v3/exchangeInfo?symbol=S` (weight 20): tick size
//!   (`PRICE_FILTER.tickSize`), lot size and minimum (`LOT_SIZE`), base and quote asset.
//! * `GET /api/v3/klines` (weight 2): pages of up to 1,000 candles from a start
//!   time. The newest candle of a reply may still be open; a candle counts as
//!   closed only when its end is not after the venue's own clock (the reply's
//!   `Date` header, else ours).
//! * `wss://…/stream?streams=s@kline_1m/s@bookTicker/…`: one connection
//!   multiplexing every symbol; only candles flagged closed (`x: true`) are
//!   forwarded. Pings are answered, a silent connection is dropped, and every
//!   reconnect is followed by a REST catch-up ([`LiveEvent::CatchUp`]).
//!
//! Every request reserves its weight in a [`WeightBudget`] first and the
//! venue's `X-MBX-USED-WEIGHT-1M` count is taken into it; 429 and 418 wait the
//! `Retry-After` the venue asks for; 5xx and timeouts back off with jitter.

mod rest;
mod ws;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tessera_core::{Clock, UnixNanos};
use tessera_model::{
    Bar, Currency, Instrument, InstrumentId, InstrumentKind, Interval, Price, Quantity, Symbol,
    Venue,
};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::source::{Collector, LiveEvent};
use rest::RestClient;
pub use rest::WeightBudget;

/// Settings of the Binance collector (`[venues.binance]`).
#[derive(Clone, Debug)]
pub struct BinanceSettings {
    /// Venue name instruments are stored under (`binance`; `binanceus` for Binance.US).
    pub venue: String,
    /// REST base URL (`https://api.binance.com`).
    pub rest_url: String,
    /// WebSocket base URL (`wss://stream.binance.com:9443`).
    pub ws_url: String,
    /// Most request weight per minute (Binance allows 6,000 per IP).
    pub weight_budget: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of failing requests and reconnects.
    pub retry: RetryPolicy,
    /// A WebSocket silent for this long is considered dead and reconnected.
    pub ws_idle_timeout: Duration,
}

impl Default for BinanceSettings {
    fn default() -> Self {
        Self {
            venue: "binance".into(),
            rest_url: "https://api.binance.com".into(),
            ws_url: "wss://stream.binance.com:9443".into(),
            weight_budget: 3_000,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            ws_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Most klines Binance returns per request.
pub const KLINES_LIMIT: usize = 1_000;
const KLINES_WEIGHT: u32 = 2;
const EXCHANGE_INFO_WEIGHT: u32 = 20;

/// The Binance spot collector.
#[derive(Debug)]
pub struct BinanceCollector {
    venue: Venue,
    rest: RestClient,
    settings: BinanceSettings,
    clock: Arc<dyn Clock>,
}

impl BinanceCollector {
    /// A collector with `settings`, reading time from `clock`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for an invalid venue name or an HTTP client that cannot be built.
    pub fn new(settings: BinanceSettings, clock: Arc<dyn Clock>) -> Result<Self> {
        let venue = Venue::new(&settings.venue).map_err(|e| Error::Unsupported {
            venue: settings.venue.clone(),
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Unsupported {
                venue: settings.venue.clone(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            venue,
            rest: RestClient {
                venue: settings.venue.clone(),
                base_url: settings.rest_url.clone(),
                http,
                budget: Mutex::new(WeightBudget::new(settings.weight_budget)),
                retry: settings.retry,
                clock: clock.clone(),
                blocked_until: Mutex::new(None),
            },
            settings,
            clock,
        })
    }

    fn protocol(&self, what: &str, reason: impl Into<String>) -> Error {
        Error::Protocol {
            venue: self.venue.to_string(),
            what: what.into(),
            reason: reason.into(),
        }
    }

    fn parse_json(&self, what: &str, body: &[u8]) -> Result<Value> {
        serde_json::from_slice(body).map_err(|e| self.protocol(what, format!("invalid JSON: {e}")))
    }

    /// The venue's clock (the `Date` header of a one-candle klines request for
    /// `symbol`; ours when the reply has none). Live trading starts its warm-up
    /// window from it, so it lines up with the candles the venue serves.
    ///
    /// # Errors
    /// Transport errors, [`Error::UnknownSymbol`].
    pub async fn venue_now(&self, symbol: Symbol, interval: Interval) -> Result<UnixNanos> {
        let (_, server_now) = self.klines(symbol, interval, UnixNanos(0), None, 1).await?;
        Ok(server_now.unwrap_or_else(|| self.clock.now()))
    }

    /// Raw klines request; returns rows and the venue's clock.
    async fn klines(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: Option<UnixNanos>,
        limit: usize,
    ) -> Result<(Vec<Bar>, Option<UnixNanos>)> {
        let mut query = vec![
            ("symbol", symbol.to_string()),
            ("interval", interval.to_string()),
            ("startTime", start.as_millis().max(0).to_string()),
            ("limit", limit.clamp(1, KLINES_LIMIT).to_string()),
        ];
        if let Some(e) = end {
            query.push(("endTime", (e.as_millis() - 1).to_string()));
        }
        let reply = match self.rest.get("/api/v3/klines", &query, KLINES_WEIGHT).await {
            Err(Error::Http {
                status: Some(400),
                reason,
                ..
            }) if reason.contains("-1121") => {
                return Err(Error::UnknownSymbol {
                    venue: self.venue.to_string(),
                    symbol: symbol.to_string(),
                });
            }
            other => other?,
        };
        let v = self.parse_json("klines", &reply.body)?;
        let rows = v
            .as_array()
            .ok_or_else(|| self.protocol("klines", "expected an array"))?;
        let id = InstrumentId::new(symbol, self.venue);
        let bars = rows
            .iter()
            .map(|r| parse_rest_kline(id, interval, r).map_err(|e| self.protocol("klines", e)))
            .collect::<Result<Vec<_>>>()?;
        Ok((bars, reply.server_time))
    }
}

fn str_field(v: &Value, i: usize) -> std::result::Result<&str, String> {
    v.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {i} missing or not a string in {v}"))
}

fn int_field(v: &Value, i: usize) -> std::result::Result<i64, String> {
    v.get(i)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("field {i} missing or not an integer in {v}"))
}

/// One REST kline (`[openTime, "o", "h", "l", "c", "v", closeTime, "q", n, …]`).
fn parse_rest_kline(
    id: InstrumentId,
    interval: Interval,
    r: &Value,
) -> std::result::Result<Bar, String> {
    let p = |i| str_field(r, i).and_then(|s| Price::parse(s).map_err(|e| e.to_string()));
    let q = |i| str_field(r, i).and_then(|s| Quantity::parse(s).map_err(|e| e.to_string()));
    Ok(Bar {
        instrument: id,
        interval,
        open_time: UnixNanos::from_millis(int_field(r, 0)?).map_err(|e| e.to_string())?,
        open: p(1)?,
        high: p(2)?,
        low: p(3)?,
        close: p(4)?,
        volume: q(5)?,
        trade_count: Some(u64::try_from(int_field(r, 8)?).map_err(|e| e.to_string())?),
        quote_volume: Some(q(7)?),
    })
}

impl Collector for BinanceCollector {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn now(&self) -> UnixNanos {
        self.clock.now()
    }

    fn page_limit(&self) -> usize {
        KLINES_LIMIT
    }

    async fn instrument(&self, symbol: Symbol) -> Result<Instrument> {
        let query = [("symbol", symbol.to_string())];
        let reply = match self
            .rest
            .get("/api/v3/exchangeInfo", &query, EXCHANGE_INFO_WEIGHT)
            .await
        {
            Err(Error::Http {
                status: Some(400), ..
            }) => {
                return Err(Error::UnknownSymbol {
                    venue: self.venue.to_string(),
                    symbol: symbol.to_string(),
                });
            }
            other => other?,
        };
        let v = self.parse_json("exchangeInfo", &reply.body)?;
        let s = v["symbols"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|s| s["symbol"].as_str() == Some(symbol.as_str()))
            })
            .ok_or_else(|| Error::UnknownSymbol {
                venue: self.venue.to_string(),
                symbol: symbol.to_string(),
            })?;
        let filter = |kind: &str, key: &str| -> Result<String> {
            s["filters"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["filterType"].as_str() == Some(kind)))
                .and_then(|f| f[key].as_str())
                .map(str::to_string)
                .ok_or_else(|| self.protocol("exchangeInfo", format!("{symbol}: no {kind}.{key}")))
        };
        let asset = |key: &str| -> Result<Currency> {
            let a = s[key]
                .as_str()
                .ok_or_else(|| self.protocol("exchangeInfo", format!("{symbol}: no {key}")))?;
            Ok(Currency::new(a)?)
        };
        let id = InstrumentId::new(symbol, self.venue);
        let mut inst = Instrument::with_defaults(id, InstrumentKind::Crypto).or_else(|_| {
            Instrument::with_defaults(id, InstrumentKind::Equity).map(|mut i| {
                i.kind = InstrumentKind::Crypto;
                i.timezone = "UTC".into();
                i
            })
        })?;
        inst.quote_currency = asset("quoteAsset")?;
        inst.base_currency = Some(asset("baseAsset")?);
        let norm = |s: String| -> Result<rust_decimal::Decimal> {
            rust_decimal::Decimal::from_str_exact(&s)
                .map(|d| d.normalize())
                .map_err(|e| self.protocol("exchangeInfo", format!("{s:?}: {e}")))
        };
        inst.tick_size = Price::new(norm(filter("PRICE_FILTER", "tickSize")?)?)?;
        inst.lot_size = Quantity::new(norm(filter("LOT_SIZE", "stepSize")?)?)?;
        inst.min_quantity = Quantity::new(norm(filter("LOT_SIZE", "minQty")?)?)?;
        inst.active = s["status"].as_str().is_none_or(|st| st == "TRADING");
        inst.validate()?;
        Ok(inst)
    }

    async fn first_open_time(
        &self,
        symbol: Symbol,
        interval: Interval,
    ) -> Result<Option<UnixNanos>> {
        let (bars, _) = self.klines(symbol, interval, UnixNanos(0), None, 1).await?;
        Ok(bars.first().map(|b| b.open_time))
    }

    async fn closed_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> Result<Vec<Bar>> {
        let end_param = (end != UnixNanos::MAX).then_some(end);
        let (bars, server_now) = self
            .klines(symbol, interval, start, end_param, limit)
            .await?;
        let now = server_now.unwrap_or_else(|| self.clock.now());
        Ok(bars
            .into_iter()
            .filter(|b| b.open_time >= start && b.open_time < end && b.close_time() <= now)
            .collect())
    }

    async fn stream(
        &self,
        symbols: Vec<Symbol>,
        interval: Interval,
        tx: mpsc::Sender<LiveEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        ws::run(self, &symbols, interval, &tx, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_rest_kline_real_shape() {
        let v: Value = serde_json::from_str(
            r#"[1637971200000,"0.00002853","0.00002854","0.00002851","0.00002854","36304.20000000",1637971259999,"1.03547608",79,"19523.00000000","0.55694227","0"]"#,
        )
        .unwrap();
        let id = InstrumentId::parse("ADABTC", "binance").unwrap();
        let b = parse_rest_kline(id, Interval::M1, &v).unwrap();
        assert_eq!(b.open.to_string(), "0.00002853");
        assert_eq!(b.trade_count, Some(79));
        assert_eq!(b.quote_volume.unwrap().to_string(), "1.03547608");
        let bad: Value = serde_json::from_str(r#"[1637971200000,"x"]"#).unwrap();
        assert!(parse_rest_kline(id, Interval::M1, &bad).is_err());
    }
}
