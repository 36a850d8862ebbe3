//! The collector engine: backfill, live following and exact resume, for any [`Collector`].
//!
//! Per instrument and interval an ingest cursor records the state
//! (created → backfilling → live, or paused/failed with the reason) and the
//! open time of the newest stored candle. Every page of candles is written
//! with `Store::insert_bars_with_cursor`, in **one transaction with the
//! cursor**, so after a crash (even `kill -9`) the cursor points exactly at the
//! last stored candle: the restart asks the venue for the next one, and
//! nothing is skipped or stored twice.
//!
//! A live candle is stored directly only when it is the very next one after
//! the cursor; otherwise the missing stretch is first fetched over REST (a
//! reconnect, a late start). A candle is never stored past a hole it would
//! leave behind, so holes can only come from the venue itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::UnixNanos;
use tessera_model::{Bar, IngestState, Instrument, InstrumentId, Interval, Symbol};
use tessera_storage::{CursorUpdate, InsertOptions, InsertReport, Store};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::quotes::{QuoteMode, QuoteSampler};
use crate::source::{Collector, LiveEvent};

/// Tuning of the engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Which quotes are stored.
    pub quote_mode: QuoteMode,
    /// Symbols backfilled at the same time.
    pub backfill_concurrency: usize,
    /// Longest time a quote waits in memory before being written.
    pub quote_flush: Duration,
    /// Quotes that trigger a write before `quote_flush` has passed.
    pub quote_batch: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            quote_mode: QuoteMode::Minute,
            backfill_concurrency: 4,
            quote_flush: Duration::from_secs(1),
            quote_batch: 1_000,
        }
    }
}

/// Where a backfill stands, for progress bars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The instrument.
    pub instrument: InstrumentId,
    /// First open time this run fetched from.
    pub from: UnixNanos,
    /// Next open time to fetch.
    pub next: UnixNanos,
    /// Where the run stops (`--until` or the venue's now).
    pub target: UnixNanos,
    /// Candles stored by this run.
    pub stored: u64,
    /// Whether the run has finished.
    pub done: bool,
}

/// Called after every stored page.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What one backfill did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackfillReport {
    /// Candles newly stored.
    pub inserted: u64,
    /// Candles that were already stored.
    pub duplicate: u64,
    /// Candles stored with other values (kept as stored).
    pub conflicting: u64,
    /// Pages requested.
    pub pages: u64,
    /// Open time of the newest stored candle afterwards.
    pub last: Option<UnixNanos>,
}

/// Drives a [`Collector`] against a [`Store`] (see the module docs).
pub struct CollectorEngine<C: Collector> {
    store: Store,
    collector: Arc<C>,
    interval: Interval,
    opts: EngineOptions,
    progress: Option<ProgressFn>,
}

impl<C: Collector> std::fmt::Debug for CollectorEngine<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorEngine")
            .field("collector", &self.collector)
            .field("interval", &self.interval)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<C: Collector> Clone for CollectorEngine<C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            collector: self.collector.clone(),
            interval: self.interval,
            opts: self.opts.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<C: Collector> CollectorEngine<C> {
    /// An engine collecting `interval` candles from `collector` into `store`.
    #[must_use]
    pub fn new(store: Store, collector: Arc<C>, interval: Interval, opts: EngineOptions) -> Self {
        Self {
            store,
            collector,
            interval,
            opts,
            progress: None,
        }
    }

    /// Report progress to `f` after every page.
    #[must_use]
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// The collector.
    #[must_use]
    pub fn collector(&self) -> &Arc<C> {
        &self.collector
    }

    fn id(&self, symbol: Symbol) -> InstrumentId {
        InstrumentId::new(symbol, self.collector.venue())
    }

    /// Register `symbol`: fetch its definition from the venue into the
    /// security master and create its cursor (state `created`). With `start`,
    /// collection begins at that time instead of the venue's first candle (the
    /// cursor is set just before it; a cursor only moves forward, so an
    /// existing one is left alone).
    ///
    /// # Errors
    /// The venue's and the store's errors.
    pub async fn add(&self, symbol: Symbol, start: Option<UnixNanos>) -> Result<Instrument> {
        let inst = self.collector.instrument(symbol).await?;
        self.store.upsert_instrument(&inst).await?;
        if self.store.cursor(&inst.id, self.interval).await?.is_none() {
            self.store
                .update_cursor(&CursorUpdate {
                    instrument: inst.id,
                    interval: self.interval,
                    state: IngestState::Created,
                    last_open_time: start.map(|s| self.interval.prev(self.interval.floor(s))),
                    last_error: None,
                })
                .await?;
        }
        Ok(inst)
    }

    async fn set_state(
        &self,
        id: InstrumentId,
        state: IngestState,
        error: Option<String>,
    ) -> Result<()> {
        self.store
            .update_cursor(&CursorUpdate {
                instrument: id,
                interval: self.interval,
                state,
                last_open_time: None,
                last_error: error,
            })
            .await?;
        Ok(())
    }

    /// Store candles and move the cursor in one transaction, retrying a busy database.
    async fn store_page(
        &self,
        id: InstrumentId,
        bars: &[Bar],
        state: IngestState,
    ) -> Result<InsertReport> {
        let Some(last) = bars.last() else {
            return Ok(InsertReport::default());
        };
        let update = CursorUpdate {
            instrument: id,
            interval: self.interval,
            state,
            last_open_time: Some(last.open_time),
            last_error: None,
        };
        let mut attempt: u32 = 0;
        loop {
            match self
                .store
                .insert_bars_with_cursor(bars, InsertOptions::default(), Some(&update))
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() && attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(instrument = %id, error = %e, attempt, "storing candles failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The open time to fetch next: after the cursor, else the venue's first candle.
    async fn next_open(&self, id: InstrumentId) -> Result<Option<UnixNanos>> {
        match self.store.cursor(&id, self.interval).await? {
            Some(c) if c.last_open_time.is_some() => {
                Ok(c.last_open_time.map(|t| self.interval.next(t)))
            }
            _ => {
                let first = self
                    .collector
                    .first_open_time(id.symbol, self.interval)
                    .await?;
                // Resume after data imported or stored before the cursor existed.
                let stored = self.store.latest_bar(&id, self.interval).await?;
                Ok(match (first, stored) {
                    (_, Some(b)) => Some(self.interval.next(b.open_time)),
                    (f, None) => f,
                })
            }
        }
    }

    /// Fetch and store every closed candle from the cursor up to `end` (exclusive; `None` = now).
    async fn catch_up(
        &self,
        id: InstrumentId,
        end: Option<UnixNanos>,
        state: IngestState,
    ) -> Result<BackfillReport> {
        let mut report = BackfillReport::default();
        let Some(mut next) = self.next_open(id).await? else {
            return Ok(report);
        };
        let from = next;
        let limit = self.collector.page_limit();
        let hard_end = end.unwrap_or(UnixNanos::MAX);
        loop {
            if next >= hard_end {
                break;
            }
            let page = self
                .collector
                .closed_bars(id.symbol, self.interval, next, hard_end, limit)
                .await?;
            report.pages += 1;
            let Some(last) = page.last() else { break };
            if page.first().is_some_and(|b| b.open_time < next) {
                return Err(Error::Protocol {
                    venue: id.venue.to_string(),
                    what: "candles".into(),
                    reason: format!(
                        "asked for candles from {next}, got one at {}",
                        page[0].open_time
                    ),
                });
            }
            let last_open = last.open_time;
            let r = self.store_page(id, &page, state).await?;
            report.inserted += r.inserted;
            report.duplicate += r.duplicate;
            report.conflicting += r.conflicting;
            report.last = Some(last_open);
            next = self.interval.next(last_open);
            if let Some(p) = &self.progress {
                p(&Progress {
                    instrument: id,
                    from,
                    next,
                    target: end.unwrap_or_else(|| self.collector.now()),
                    stored: report.inserted,
                    done: false,
                });
            }
            if page.len() < limit {
                break;
            }
        }
        if let Some(p) = &self.progress {
            p(&Progress {
                instrument: id,
                from,
                next,
                target: end.unwrap_or(next),
                stored: report.inserted,
                done: true,
            });
        }
        Ok(report)
    }

    /// Record a failure on the cursor, then hand the error back.
    async fn fail(&self, id: InstrumentId, e: Error) -> Error {
        if let Err(store_err) = self
            .set_state(id, IngestState::Failed, Some(e.to_string()))
            .await
        {
            tracing::error!(instrument = %id, error = %store_err, "cannot record the failure on the cursor");
        }
        e
    }

    /// Backfill `symbol` until caught up with the venue (or until `until`),
    /// then leave it `paused` (not followed live).
    ///
    /// # Errors
    /// The venue's and the store's errors; the cursor is then `failed` with the reason.
    pub async fn backfill(
        &self,
        symbol: Symbol,
        until: Option<UnixNanos>,
    ) -> Result<BackfillReport> {
        let id = self.id(symbol);
        self.ensure_registered(id).await?;
        self.set_state(id, IngestState::Backfilling, None).await?;
        match self.catch_up(id, until, IngestState::Backfilling).await {
            Ok(r) => {
                self.set_state(
                    id,
                    IngestState::Paused,
                    Some("backfill finished; `tessera data stream` follows it live".into()),
                )
                .await?;
                Ok(r)
            }
            Err(e) => Err(self.fail(id, e).await),
        }
    }

    async fn ensure_registered(&self, id: InstrumentId) -> Result<()> {
        match self.store.instrument(&id).await {
            Ok(_) => Ok(()),
            Err(tessera_storage::Error::NotFound(_)) => {
                self.add(id.symbol, None).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Backfill several symbols, at most `backfill_concurrency` at once.
    pub async fn backfill_many(
        &self,
        symbols: &[Symbol],
        until: Option<UnixNanos>,
    ) -> Vec<(Symbol, Result<BackfillReport>)> {
        let sem = Arc::new(Semaphore::new(self.opts.backfill_concurrency.max(1)));
        let mut set = JoinSet::new();
        for (i, s) in symbols.iter().copied().enumerate() {
            let engine = self.clone();
            let sem = sem.clone();
            set.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = sem.acquire_owned().await.ok();
                (i, s, engine.backfill(s, until).await)
            });
        }
        let mut out: Vec<(usize, Symbol, Result<BackfillReport>)> = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(v) => out.push(v),
                Err(e) => tracing::error!(error = %e, "backfill task panicked"),
            }
        }
        out.sort_by_key(|(i, _, _)| *i);
        out.into_iter().map(|(_, s, r)| (s, r)).collect()
    }

    /// Backfill `symbols` (bounded concurrency) while following them live, until
    /// `shutdown` turns true. Then flushes quotes and marks cursors `paused`.
    ///
    /// # Errors
    /// The store's errors when registering; per-symbol failures are recorded
    /// on their cursors and logged, the others keep running.
    pub async fn stream(&self, symbols: &[Symbol], shutdown: watch::Receiver<bool>) -> Result<()> {
        for s in symbols {
            self.ensure_registered(self.id(*s)).await?;
        }
        let (tx, mut rx) = mpsc::channel::<LiveEvent>(8_192);
        let collector = self.collector.clone();
        let interval = self.interval;
        let stream_symbols = symbols.to_vec();
        let stream_shutdown = shutdown.clone();
        let mut stream_task = tokio::spawn(async move {
            collector
                .stream(stream_symbols, interval, tx, stream_shutdown)
                .await
        });
        let sem = Arc::new(Semaphore::new(self.opts.backfill_concurrency.max(1)));
        let mut routes: BTreeMap<InstrumentId, mpsc::UnboundedSender<LiveEvent>> = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for s in symbols {
            let id = self.id(*s);
            let (stx, srx) = mpsc::unbounded_channel();
            routes.insert(id, stx);
            let engine = self.clone();
            let sem = sem.clone();
            let sd = shutdown.clone();
            tasks.spawn(async move { engine.follow(id, srx, sem, sd).await });
        }
        let mut sampler = QuoteSampler::new(self.opts.quote_mode);
        let mut tick = tokio::time::interval(self.opts.quote_flush);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown_rx = shutdown.clone();
        let mut stream_done = false;
        loop {
            if *shutdown_rx.borrow() {
                break;
            }
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(LiveEvent::Quote(q)) => {
                        sampler.push(q);
                        if sampler.ready_len() >= self.opts.quote_batch {
                            self.write_quotes(&mut sampler).await;
                        }
                    }
                    Some(LiveEvent::Bar(b)) => {
                        if let Some(route) = routes.get(&b.instrument) {
                            // A closed receiver means that symbol's task ended (failed); its cursor says why.
                            let _ = route.send(LiveEvent::Bar(b));
                        }
                    }
                    Some(LiveEvent::CatchUp) => {
                        for route in routes.values() {
                            // As above: a finished task needs no catch-up.
                            let _ = route.send(LiveEvent::CatchUp);
                        }
                    }
                    None => {
                        if !stream_done {
                            stream_done = true;
                        }
                        break;
                    }
                },
                _ = tick.tick() => {
                    sampler.release_due(self.collector.now());
                    self.write_quotes(&mut sampler).await;
                }
                _ = shutdown_rx.changed() => {}
                res = &mut stream_task, if !stream_done => {
                    stream_done = true;
                    match res {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "live stream stopped"),
                        Err(e) => tracing::error!(error = %e, "live stream task panicked"),
                    }
                    break;
                }
            }
        }
        sampler.release_all();
        self.write_quotes(&mut sampler).await;
        drop(routes);
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "symbol task panicked");
            }
        }
        if !stream_done {
            stream_task.abort();
        }
        Ok(())
    }

    async fn write_quotes(&self, sampler: &mut QuoteSampler) {
        let batch = sampler.take_ready();
        if batch.is_empty() {
            return;
        }
        for attempt in 0..3u64 {
            match self.store.insert_quotes(&batch).await {
                Ok(_) => return,
                Err(e) if e.is_retryable() && attempt < 2 => {
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, quotes = batch.len(), "cannot store quotes; this batch is lost");
                    return;
                }
            }
        }
    }

    /// One symbol in `stream`: backfill (bounded), then take live candles.
    async fn follow(
        &self,
        id: InstrumentId,
        mut rx: mpsc::UnboundedReceiver<LiveEvent>,
        sem: Arc<Semaphore>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let run = async {
            self.set_state(id, IngestState::Backfilling, None).await?;
            {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = sem.acquire_owned().await.ok();
                self.catch_up(id, None, IngestState::Backfilling).await?;
            }
            self.set_state(id, IngestState::Live, None).await?;
            loop {
                let ev = tokio::select! {
                    ev = rx.recv() => ev,
                    _ = shutdown.changed() => None,
                };
                match ev {
                    None => break,
                    Some(LiveEvent::Bar(b)) => self.take_live(id, b).await?,
                    Some(LiveEvent::CatchUp) => {
                        self.catch_up(id, None, IngestState::Live).await?;
                    }
                    Some(LiveEvent::Quote(_)) => {}
                }
                if *shutdown.borrow() {
                    break;
                }
            }
            Ok::<(), Error>(())
        };
        match run.await {
            Ok(()) => {
                if let Err(e) = self
                    .set_state(id, IngestState::Paused, Some("stream stopped".into()))
                    .await
                {
                    tracing::error!(instrument = %id, error = %e, "cannot record the stop");
                }
            }
            Err(e) => {
                tracing::error!(instrument = %id, error = %e, "collector failed");
                drop(self.fail(id, e).await);
            }
        }
    }

    /// A closed live candle: store it if it is the next one; otherwise fill the hole first.
    async fn take_live(&self, id: InstrumentId, b: Bar) -> Result<()> {
        let next = self.next_open(id).await?;
        match next {
            Some(n) if b.open_time < n => Ok(()),
            Some(n) if b.open_time == n => {
                self.store_page(id, &[b], IngestState::Live).await?;
                Ok(())
            }
            _ => {
                // Fetch through this candle's own interval: REST then has it too, or we wait.
                self.catch_up(id, Some(self.interval.next(b.open_time)), IngestState::Live)
                    .await?;
                if self.next_open(id).await? == Some(b.open_time) {
                    self.store_page(id, &[b], IngestState::Live).await?;
                }
                Ok(())
            }
        }
    }
}
