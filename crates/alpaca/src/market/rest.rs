//! [`AlpacaDataClient`]: the Market Data API over REST — historical minute
//! bars (every page, by `next_page_token`), the latest bar and quotes, and
//! asset definitions from the trading API.
//!
//! Stocks use `/v2/stocks/…` with the configured `feed` (`iex` or `sip`);
//! a symbol with a `/` (`BTC/USD`) is crypto and uses `/v1beta3/crypto/us/…`.
//! Reads are retried on transport failures, 429 and 5xx. Each answer's
//! `Date` header is kept as the venue's clock, so a bar counts as closed only
//! when Alpaca's own time has passed its end.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tessera_core::{Clock, UnixNanos};
use tessera_model::{Bar, Interval, Quote, Symbol, Venue};

use crate::config::AlpacaConfig;
use crate::error::{Error, Result};
use crate::market::wire::{Asset, LatestBars, LatestQuotes, MultiBarsPage, StockBarsPage, WireBar};
use crate::wire::ErrorBody;

/// Most bars Alpaca returns per page.
pub const BARS_LIMIT: usize = 10_000;

/// Whether `symbol` is a crypto pair (Alpaca writes them `BTC/USD`).
#[must_use]
pub fn is_crypto(symbol: Symbol) -> bool {
    symbol.as_str().contains('/')
}

/// One page of bars and the venue's clock when it was served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarsPage {
    /// Bars, oldest first.
    pub bars: Vec<Bar>,
    /// Token of the next page, `None` on the last.
    pub next_page_token: Option<String>,
    /// The answer's `Date` header.
    pub server_now: Option<UnixNanos>,
}

/// A body and the venue's clock.
struct Reply {
    body: Vec<u8>,
    server_now: Option<UnixNanos>,
}

/// A client of Alpaca's Market Data API.
#[derive(Clone, Debug)]
pub struct AlpacaDataClient {
    http: reqwest::Client,
    config: AlpacaConfig,
    venue: Venue,
    clock: Arc<dyn Clock>,
}

fn server_now(h: &reqwest::header::HeaderMap) -> Option<UnixNanos> {
    let s = h.get(reqwest::header::DATE)?.to_str().ok()?;
    let dt = chrono::DateTime::parse_from_rfc2822(s).ok()?;
    UnixNanos::from_datetime(&dt).ok()
}

fn decode(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Decode {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl AlpacaDataClient {
    /// A client for `config`, instruments named on `venue`; `clock` stands in
    /// for the venue's clock when an answer has no `Date` header.
    ///
    /// # Errors
    /// [`Error::Transport`] when the HTTP client cannot be built.
    pub fn new(config: AlpacaConfig, venue: Venue, clock: Arc<dyn Clock>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| Error::Transport {
                what: "market data client".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            config,
            venue,
            clock,
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    /// The venue instruments are named on.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// GET `root` + `segments` (each percent-encoded, so `BTC/USD` stays one
    /// segment) with `query`, retried on retryable failures.
    async fn get(
        &self,
        what: &str,
        root: &str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Reply> {
        let mut url =
            reqwest::Url::parse(root).map_err(|e| decode(what, format!("base URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| decode(what, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        let attempts = self.config.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(what, url.clone(), query).await {
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tracing::warn!(error = %e, attempt, "alpaca market data request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn once(&self, what: &str, url: reqwest::Url, query: &[(&str, String)]) -> Result<Reply> {
        let transport = |e: reqwest::Error| Error::Transport {
            what: what.to_string(),
            // Without the URL: query strings carry symbols and times only, but keep the messages short.
            reason: if e.is_timeout() {
                "timed out".into()
            } else {
                e.without_url().to_string()
            },
        };
        let resp = self
            .http
            .get(url)
            .header("APCA-API-KEY-ID", &self.config.key_id)
            .header("APCA-API-SECRET-KEY", &self.config.secret)
            .query(query)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let now = server_now(resp.headers());
        let body = resp.bytes().await.map_err(transport)?;
        if status != StatusCode::OK {
            let e: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
                code: 0,
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
            return Err(Error::Api {
                what: what.to_string(),
                status: status.as_u16(),
                code: e.code,
                message: e.message,
            });
        }
        Ok(Reply {
            body: body.to_vec(),
            server_now: now,
        })
    }

    fn bars_query(
        &self,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
        page_token: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("timeframe", "1Min".to_string()),
            ("start", start.to_rfc3339()),
            ("limit", limit.clamp(1, BARS_LIMIT).to_string()),
            ("sort", "asc".to_string()),
        ];
        // Alpaca's `end` is inclusive, ours exclusive; no end means "up to now".
        if end != UnixNanos::MAX {
            q.push(("end", UnixNanos(end.0.saturating_sub(1)).to_rfc3339()));
        }
        if let Some(t) = page_token {
            q.push(("page_token", t.to_string()));
        }
        q
    }

    /// One page of `symbol`'s minute bars opening in `[start, end)`
    /// (`end` = [`UnixNanos::MAX`]: up to Alpaca's now).
    ///
    /// # Errors
    /// Transport and API failures, [`Error::Decode`] for an unreadable page or bar.
    pub async fn bars_page(
        &self,
        symbol: Symbol,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
        page_token: Option<&str>,
    ) -> Result<BarsPage> {
        let mut q = self.bars_query(start, end, limit, page_token);
        let (what, reply, wire_symbol) = if is_crypto(symbol) {
            let what = "GET /v1beta3/crypto/us/bars";
            q.push(("symbols", symbol.to_string()));
            let r = self
                .get(
                    what,
                    &self.config.data_url,
                    &["v1beta3", "crypto", "us", "bars"],
                    &q,
                )
                .await?;
            (what, r, symbol.as_str())
        } else {
            let what = "GET /v2/stocks/{symbol}/bars";
            q.push(("feed", self.config.feed.clone()));
            let r = self
                .get(
                    what,
                    &self.config.data_url,
                    &["v2", "stocks", symbol.as_str(), "bars"],
                    &q,
                )
                .await?;
            (what, r, symbol.as_str())
        };
        let (wire, token): (Vec<WireBar<'_>>, Option<String>) = if is_crypto(symbol) {
            let mut page: MultiBarsPage<'_> =
                serde_json::from_slice(&reply.body).map_err(|e| decode(what, e))?;
            (
                page.bars.remove(wire_symbol).unwrap_or_default(),
                page.next_page_token,
            )
        } else {
            let page: StockBarsPage<'_> =
                serde_json::from_slice(&reply.body).map_err(|e| decode(what, e))?;
            (page.bars.unwrap_or_default(), page.next_page_token)
        };
        let bars = wire
            .iter()
            .map(|b| {
                b.to_bar(symbol, self.venue, Interval::M1)
                    .map_err(|e| decode(what, e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BarsPage {
            bars,
            next_page_token: token.filter(|t| !t.is_empty()),
            server_now: reply.server_now,
        })
    }

    /// `symbol`'s closed minute bars opening in `[start, end)`, oldest first,
    /// following `next_page_token` until `limit` bars are in hand or the last
    /// page. A bar counts as closed when the venue's clock (the newest `Date`
    /// header) has passed its end.
    ///
    /// # Errors
    /// As [`AlpacaDataClient::bars_page`].
    pub async fn bars(
        &self,
        symbol: Symbol,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> Result<Vec<Bar>> {
        let mut out: Vec<Bar> = Vec::new();
        let mut token: Option<String> = None;
        let mut now = None;
        loop {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let page = self
                .bars_page(symbol, start, end, left, token.as_deref())
                .await?;
            now = page.server_now.max(now);
            out.extend(page.bars);
            match page.next_page_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        let now = now.unwrap_or_else(|| self.clock.now());
        // Strictly ascending, inside the window, closed.
        let mut last: Option<UnixNanos> = None;
        out.retain(|b| {
            let keep = b.open_time >= start
                && b.open_time < end
                && b.close_time() <= now
                && last.is_none_or(|l| b.open_time > l);
            if keep {
                last = Some(b.open_time);
            }
            keep
        });
        out.truncate(limit);
        Ok(out)
    }

    /// The newest minute bar of `symbol` and the venue's clock.
    ///
    /// # Errors
    /// Transport and API failures, [`Error::Decode`].
    pub async fn latest_bar(&self, symbol: Symbol) -> Result<(Option<Bar>, Option<UnixNanos>)> {
        let q = vec![("symbols", symbol.to_string())];
        let (what, reply) = if is_crypto(symbol) {
            let what = "GET /v1beta3/crypto/us/latest/bars";
            let r = self
                .get(
                    what,
                    &self.config.data_url,
                    &["v1beta3", "crypto", "us", "latest", "bars"],
                    &q,
                )
                .await?;
            (what, r)
        } else {
            let what = "GET /v2/stocks/bars/latest";
            let mut q = q;
            q.push(("feed", self.config.feed.clone()));
            let r = self
                .get(
                    what,
                    &self.config.data_url,
                    &["v2", "stocks", "bars", "latest"],
                    &q,
                )
                .await?;
            (what, r)
        };
        let latest: LatestBars<'_> =
            serde_json::from_slice(&reply.body).map_err(|e| decode(what, e))?;
        let bar = latest
            .bars
            .get(symbol.as_str())
            .map(|b| b.to_bar(symbol, self.venue, Interval::M1))
            .transpose()
            .map_err(|e| decode(what, e))?;
        Ok((bar, reply.server_now))
    }

    /// The latest quote of each of `symbols` that has one (stocks and crypto asked separately).
    ///
    /// # Errors
    /// Transport and API failures, [`Error::Decode`].
    pub async fn latest_quotes(&self, symbols: &[Symbol]) -> Result<Vec<Quote>> {
        let mut out = Vec::new();
        for crypto in [false, true] {
            let these: Vec<Symbol> = symbols
                .iter()
                .copied()
                .filter(|s| is_crypto(*s) == crypto)
                .collect();
            if these.is_empty() {
                continue;
            }
            let list = these
                .iter()
                .map(Symbol::as_str)
                .collect::<Vec<_>>()
                .join(",");
            let (what, reply) = if crypto {
                let what = "GET /v1beta3/crypto/us/latest/quotes";
                let q = vec![("symbols", list)];
                let r = self
                    .get(
                        what,
                        &self.config.data_url,
                        &["v1beta3", "crypto", "us", "latest", "quotes"],
                        &q,
                    )
                    .await?;
                (what, r)
            } else {
                let what = "GET /v2/stocks/quotes/latest";
                let q = vec![("symbols", list), ("feed", self.config.feed.clone())];
                let r = self
                    .get(
                        what,
                        &self.config.data_url,
                        &["v2", "stocks", "quotes", "latest"],
                        &q,
                    )
                    .await?;
                (what, r)
            };
            let latest: LatestQuotes<'_> =
                serde_json::from_slice(&reply.body).map_err(|e| decode(what, e))?;
            for s in these {
                if let Some(q) = latest.quotes.get(s.as_str()) {
                    out.push(q.to_quote(s, self.venue).map_err(|e| decode(what, e))?);
                }
            }
        }
        Ok(out)
    }

    /// `GET /v2/assets/{symbol}` on the trading API; `None` when Alpaca does not list it.
    ///
    /// # Errors
    /// Transport and API failures other than 404, [`Error::Decode`].
    pub async fn asset(&self, symbol: Symbol) -> Result<Option<Asset>> {
        let what = "GET /v2/assets/{symbol}";
        match self
            .get(
                what,
                &self.config.base_url,
                &["v2", "assets", symbol.as_str()],
                &[],
            )
            .await
        {
            Ok(r) => serde_json::from_slice(&r.body)
                .map(Some)
                .map_err(|e| decode(what, e)),
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
