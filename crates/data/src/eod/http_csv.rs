//! A generic HTTP CSV source: one URL per symbol returning its whole daily history.
//!
//! Stooq-style: `GET https://…/?s={symbol_lower}&i=d` answers a CSV with a
//! header (`Date,Open,High,Low,Close,Volume`). The file is read with the OHLCV
//! importer's header detection and validated with the same rules; a fetch is
//! reused for a minute so a backfill's pages cost one request. It has no live
//! stream: following it means polling ([`LiveEvent::CatchUp`] every `poll`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tessera_core::{Clock, UnixNanos};
use tessera_model::{Bar, Instrument, InstrumentId, InstrumentKind, Interval, Symbol, Venue};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::import::{self, CsvOptions, ImportFormat, RawRow};
use crate::source::{Collector, LiveEvent};

/// Settings of an HTTP CSV source (`[venues.eod]`).
#[derive(Clone, Debug)]
pub struct HttpCsvSettings {
    /// Venue name.
    pub venue: String,
    /// URL with `{symbol}` / `{symbol_lower}` placeholders.
    pub url_template: String,
    /// Asset class of its instruments.
    pub kind: InstrumentKind,
    /// Request timeout.
    pub timeout: Duration,
    /// How often `stream` polls.
    pub poll: Duration,
}

/// A symbol's rows and when they were fetched.
type Fetched = (UnixNanos, Arc<Vec<RawRow>>);

/// The HTTP CSV collector.
#[derive(Debug)]
pub struct HttpCsvCollector {
    venue: Venue,
    settings: HttpCsvSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: Mutex<BTreeMap<Symbol, Fetched>>,
}

impl HttpCsvCollector {
    /// A source with `settings`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a bad venue name or template.
    pub fn new(settings: HttpCsvSettings, clock: Arc<dyn Clock>) -> Result<Self> {
        let unsupported = |reason: String| Error::Unsupported {
            venue: settings.venue.clone(),
            reason,
        };
        let venue = Venue::new(&settings.venue).map_err(|e| unsupported(e.to_string()))?;
        if !settings.url_template.contains("{symbol") {
            return Err(unsupported(format!(
                "url_template {:?} has no {{symbol}} or {{symbol_lower}} placeholder",
                settings.url_template
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| unsupported(e.to_string()))?;
        Ok(Self {
            venue,
            settings,
            http,
            clock,
            cache: Mutex::new(BTreeMap::new()),
        })
    }

    fn url(&self, symbol: Symbol) -> String {
        self.settings
            .url_template
            .replace("{symbol_lower}", &symbol.as_str().to_ascii_lowercase())
            .replace("{symbol}", symbol.as_str())
    }

    async fn rows(&self, symbol: Symbol) -> Result<Arc<Vec<RawRow>>> {
        let now = self.clock.now();
        if let Some((at, rows)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&symbol)
            && now.0 - at.0 < 60_000_000_000
        {
            return Ok(rows.clone());
        }
        let url = self.url(symbol);
        let http_err = |status: Option<u16>, reason: String, retryable: bool| Error::Http {
            venue: self.venue.to_string(),
            url: url.clone(),
            status,
            reason,
            retryable,
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| http_err(None, e.to_string(), true))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(http_err(
                Some(status.as_u16()),
                format!("HTTP {status}"),
                status.is_server_error() || status.as_u16() == 429,
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| http_err(None, e.to_string(), true))?;
        let parsed = import::parse_reader(
            body.as_ref(),
            &url,
            ImportFormat::OhlcvCsv,
            &CsvOptions::default(),
        )?;
        if parsed.rows.is_empty() && parsed.rows_read == 0 {
            return Err(Error::UnknownSymbol {
                venue: self.venue.to_string(),
                symbol: symbol.to_string(),
            });
        }
        for r in &parsed.rejected {
            tracing::warn!(venue = %self.venue, row = %r, "skipping an invalid row");
        }
        let rows = Arc::new(parsed.rows);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(symbol, (now, rows.clone()));
        Ok(rows)
    }
}

impl Collector for HttpCsvCollector {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn now(&self) -> UnixNanos {
        self.clock.now()
    }

    fn page_limit(&self) -> usize {
        5_000
    }

    async fn instrument(&self, symbol: Symbol) -> Result<Instrument> {
        let rows = self.rows(symbol).await?;
        import::infer_instrument(
            InstrumentId::new(symbol, self.venue),
            self.settings.kind,
            &rows,
            None,
            None,
        )
    }

    async fn first_open_time(
        &self,
        symbol: Symbol,
        interval: Interval,
    ) -> Result<Option<UnixNanos>> {
        Ok(self
            .rows(symbol)
            .await?
            .first()
            .map(|r| interval.floor(r.open_time)))
    }

    async fn closed_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: UnixNanos,
        end: UnixNanos,
        limit: usize,
    ) -> Result<Vec<Bar>> {
        let rows = self.rows(symbol).await?;
        let id = InstrumentId::new(symbol, self.venue);
        let inst = import::infer_instrument(id, self.settings.kind, &rows, None, None)?;
        let now = self.clock.now();
        let (bars, rejected) = import::validate(&inst, interval, &self.url(symbol), &rows);
        for r in rejected {
            tracing::warn!(venue = %self.venue, row = %r, "skipping an invalid row");
        }
        Ok(bars
            .into_iter()
            .filter(|b| b.open_time >= start && b.open_time < end && b.close_time() <= now)
            .take(limit)
            .collect())
    }

    async fn stream(
        &self,
        _symbols: Vec<Symbol>,
        _interval: Interval,
        tx: mpsc::Sender<LiveEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {
                    if tx.send(LiveEvent::CatchUp).await.is_err() {
                        return Ok(());
                    }
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
}
