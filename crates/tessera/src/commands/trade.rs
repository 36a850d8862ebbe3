//! `tessera trade`: run strategies live against the paper broker or Alpaca on live market data.
//!
//! One command trades: it starts the market data it needs (the simulated
//! venue in-process at its configured speed, or Binance's or Alpaca's REST
//! backfill and WebSocket stream through a market-data collector), warms the
//! strategy up on backfilled bars, and runs the one engine with a
//! [`TradingVenue`] on its own thread until Ctrl-C. A [`Feed`] sits between
//! the stream and the engine: closed bars reach the engine once each and in
//! order per instrument; after a reconnect ([`LiveEvent::CatchUp`]) or a
//! candle that skips ahead, the missing candles are fetched over REST first. On Ctrl-C the stream stops, the engine finishes the
//! event in hand (so no order is left half-sent) and returns. State lives in
//! the configured database; the next run continues from it.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use tessera_alpaca::{AlpacaBroker, AlpacaCollector, Failpoints};
use tessera_core::{Clock, SimClock, SystemClock, UnixNanos};
use tessera_data::Collector;
use tessera_data::sim::{SimCollector, SimSettings};
use tessera_data::source::LiveEvent;
use tessera_engine::{Engine, MarketEvent};
use tessera_execution::{Broker, OrderStack};
use tessera_live::{LiveSource, PaperBroker, TradingVenue, VenueSettings};
use tessera_model::StrategyId;
use tessera_model::{Interval, Money, Symbol};
use tessera_risk::RiskEngine;
use tessera_strategy::{BarValues, Params};
use tokio::sync::{mpsc, watch};

use crate::cli::TradeArgs;
use crate::commands::Ctx;

fn values(b: &tessera_model::Bar) -> BarValues {
    BarValues {
        open: b.open.to_f64(),
        high: b.high.to_f64(),
        low: b.low.to_f64(),
        close: b.close.to_f64(),
        volume: b.volume.to_f64(),
    }
}

/// Run `tessera trade`.
pub(crate) async fn run(ctx: &Ctx, a: TradeArgs) -> Result<()> {
    if a.broker != "paper" && a.broker != "alpaca" {
        bail!("broker {:?}: expected paper or alpaca", a.broker);
    }
    if !matches!(a.venue.as_str(), "sim" | "binance" | "binanceus" | "alpaca") {
        bail!(
            "venue {:?}: `trade` starts market data for `sim`, `binance`, `binanceus` or `alpaca`",
            a.venue
        );
    }
    if a.symbols.is_empty() {
        bail!("give at least one --symbol");
    }
    let params = Params::parse(a.params.iter().map(String::as_str))?;
    let mut strategies = vec![Slot {
        id: a.name.clone().unwrap_or_else(|| a.strategy.clone()),
        strategy: build_strategy(ctx, &a.strategy, &params).await?,
        capital: a.capital,
    }];
    for spec in &a.also {
        let (id, kind, params, capital) = parse_also(spec, a.capital)?;
        if strategies.iter().any(|s| s.id == id) {
            bail!("--also {spec:?}: strategy id {id:?} is taken; give each strategy its own");
        }
        strategies.push(Slot {
            id,
            strategy: build_strategy(ctx, &kind, &params).await?,
            capital,
        });
    }
    let store = ctx.store().await?;
    let symbols: Vec<Symbol> = a
        .symbols
        .iter()
        .map(|x| Symbol::new(x))
        .collect::<std::result::Result<_, _>>()?;
    if a.venue == "sim" {
        let s = &ctx.config.venues.sim;
        // Resume the simulated market where the last run's orders stopped, so it never rewinds.
        let resume = store
            .orders(None)
            .await?
            .iter()
            .map(|o| o.order.updated_at)
            .max();
        let wall: Arc<dyn Clock> = Arc::new(SystemClock);
        let sim = Arc::new(SimCollector::new(
            SimSettings {
                speed: s.speed,
                seed: s.seed,
                history_days: i64::from(s.history_days),
            },
            wall,
            resume,
        )?);
        let start = sim.now();
        // The simulated market stamps its own quotes.
        return prepare(ctx, &a, store, strategies, symbols, sim, start, false).await;
    }
    if a.venue == "alpaca" {
        // Alpaca's own market data ([brokers.alpaca] data_url, feed), so the
        // strategy sees the prices Alpaca fills at.
        let alpaca = Arc::new(AlpacaCollector::new(
            ctx.config.brokers.alpaca.to_alpaca(),
            Arc::new(SystemClock),
        )?);
        let start = alpaca
            .venue_now(symbols[0])
            .await
            .context("asking alpaca for its newest bar")?;
        // Alpaca's quotes carry their own time.
        return prepare(ctx, &a, store, strategies, symbols, alpaca, start, false).await;
    }
    let binance = Arc::new(super::data::binance_collector(ctx, &a.venue)?);
    // The warm-up window ends at the venue's clock, so it meets the live stream.
    let start = binance
        .venue_now(symbols[0], Interval::M1)
        .await
        .with_context(|| format!("asking {} for its time", a.venue))?;
    // Spot bookTicker carries no event time: quotes are stamped on the venue's time line.
    prepare(ctx, &a, store, strategies, symbols, binance, start, true).await
}

/// One strategy of the run: its id (owner of its orders, fills and
/// positions), the strategy, and the capital allocated to it.
struct Slot {
    id: String,
    strategy: Box<dyn tessera_strategy::Strategy>,
    capital: Decimal,
}

/// A built-in strategy, or `model` (which needs the ML registry, so the binary builds it).
async fn build_strategy(
    ctx: &Ctx,
    name: &str,
    params: &Params,
) -> Result<Box<dyn tessera_strategy::Strategy>> {
    Ok(if name == tessera_ml::strategy::NAME {
        super::model::live_strategy(ctx, params).await?
    } else {
        tessera_strategy::build(name, params)?
    })
}

/// `--also ID=STRATEGY[,K=V…][@CAPITAL]` → (id, strategy, params, capital).
fn parse_also(spec: &str, default_capital: Decimal) -> Result<(String, String, Params, Decimal)> {
    let usage = "expected ID=STRATEGY[,K=V…][@CAPITAL], e.g. meanrev=rsi_reversion,period=14@50000";
    let (body, capital) = match spec.rsplit_once('@') {
        Some((b, c)) => {
            let c: Decimal = c
                .trim()
                .parse()
                .with_context(|| format!("--also {spec:?}: capital {c:?}: {usage}"))?;
            if c <= Decimal::ZERO {
                bail!("--also {spec:?}: capital must be positive");
            }
            (b, c)
        }
        None => (spec, default_capital),
    };
    let mut parts = body.split(',');
    let head = parts.next().unwrap_or_default();
    let Some((id, kind)) = head.split_once('=') else {
        bail!("--also {spec:?}: {usage}");
    };
    let (id, kind) = (id.trim(), kind.trim());
    if id.is_empty()
        || kind.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("--also {spec:?}: {usage} (ID: letters, digits, `_` or `-`)");
    }
    let params = Params::parse(parts.filter(|p| !p.trim().is_empty()))
        .with_context(|| format!("--also {spec:?}"))?;
    Ok((id.to_string(), kind.to_string(), params, capital))
}

/// Instruments, risk, paper settings and the broker, for market data `md`.
#[allow(clippy::too_many_arguments)]
async fn prepare<C: Collector>(
    ctx: &Ctx,
    a: &TradeArgs,
    store: tessera_storage::Store,
    strategies: Vec<Slot>,
    symbols: Vec<Symbol>,
    md: Arc<C>,
    start: UnixNanos,
    restamp_quotes: bool,
) -> Result<()> {
    let mut instruments = Vec::new();
    for sym in &symbols {
        instruments.push(
            md.instrument(*sym)
                .await
                .with_context(|| format!("instrument {sym} on {}", a.venue))?,
        );
    }
    let ccy = instruments[0].quote_currency;
    let capital = Money::new(a.capital, ccy);
    let risk = RiskEngine::new(ctx.config.risk.limits()?)?;
    // The paper account holds every strategy's capital.
    let total: Decimal = strategies.iter().map(|s| s.capital).sum();
    let sim_cfg = ctx.config.paper.sim_config(Money::new(total, ccy))?;
    let setup = Setup {
        strategies,
        symbols,
        instruments,
        capital,
        start,
        risk,
        md,
        restamp_quotes,
    };
    if a.broker == "alpaca" {
        let cfg = ctx.config.brokers.alpaca.to_alpaca();
        if cfg.key_id.is_empty() || cfg.secret.is_empty() {
            bail!(
                "broker alpaca: set brokers.alpaca.key_id and brokers.alpaca.secret (or TESSERA_BROKERS_ALPACA_KEY_ID / TESSERA_BROKERS_ALPACA_SECRET)"
            );
        }
        let failpoints = Failpoints::parse(&std::env::var("TESSERA_FAILPOINT").unwrap_or_default());
        let broker =
            AlpacaBroker::connect(cfg, &setup.instruments, Arc::new(SystemClock), failpoints)
                .await
                .context("connecting to Alpaca")?;
        return drive(ctx, store, setup, broker).await;
    }
    let broker = PaperBroker::open(
        store.clone(),
        "paper",
        sim_cfg,
        &setup.instruments,
        ctx.config.paper.latency_ms as i64 * 1_000_000,
    )
    .await?;
    drive(ctx, store, setup, broker).await
}

/// What `run` prepared for the engine, whatever the broker.
struct Setup<C> {
    /// The first is `--strategy`; the others `--also`.
    strategies: Vec<Slot>,
    symbols: Vec<Symbol>,
    instruments: Vec<tessera_model::Instrument>,
    capital: Money,
    start: UnixNanos,
    risk: RiskEngine,
    /// Where bars and quotes come from.
    md: Arc<C>,
    /// Stamp quotes on the venue's time line (see [`Feed`]).
    restamp_quotes: bool,
}

/// Recover the order stack against `broker`, warm up, and trade until Ctrl-C.
async fn drive<B: Broker + 'static, C: Collector>(
    ctx: &Ctx,
    store: tessera_storage::Store,
    setup: Setup<C>,
    broker: B,
) -> Result<()> {
    let Setup {
        strategies,
        symbols,
        instruments,
        capital,
        start,
        risk,
        md,
        restamp_quotes,
    } = setup;
    let ccy = capital.currency;
    let broker_name = broker.name().to_string();
    let stack = OrderStack::load(store.clone(), &broker_name, ccy, &instruments).await?;
    let run_no = store
        .state("trade:runs")
        .await?
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    store.set_state("trade:runs", &run_no.to_string()).await?;
    let settings = VenueSettings {
        capital,
        run_prefix: format!("r{run_no}"),
        live_from: start,
        halt_on_difference: ctx.config.risk.halt_on_difference,
        reconcile_every: (ctx.config.risk.reconcile_seconds as i64) * 1_000_000_000,
    };
    let handle = tokio::runtime::Handle::current();
    let warmup = strategies
        .iter()
        .map(|s| s.strategy.warmup_bars())
        .max()
        .unwrap_or(0)
        .max(1);
    // Warm-up bars first (strategies build state, nothing is sent), then the live stream.
    let (tx, rx) = std::sync::mpsc::sync_channel::<MarketEvent>(4096);
    let interval = Interval::M1;
    let index: Vec<_> = instruments.iter().map(|i| i.id).collect();
    let mut feed = Feed::new(
        md.clone(),
        symbols.clone(),
        index,
        interval,
        tx,
        restamp_quotes,
    );
    for i in 0..symbols.len() {
        let from = UnixNanos(interval.floor(start).0 - (warmup as i64 + 1) * MINUTE);
        feed.fill(i, from, start).await?;
    }
    feed.stats.warmup = feed.stats.live;
    feed.stats.live = 0;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ltx, lrx) = mpsc::channel::<LiveEvent>(4096);
    let streamer = {
        let md = md.clone();
        let symbols = symbols.clone();
        tokio::spawn(async move { md.stream(symbols, interval, ltx, stop_rx).await })
    };
    let forwarder = tokio::spawn(feed.run(lrx));
    let mut slots = Vec::new();
    let mut caps = std::collections::BTreeMap::new();
    for s in strategies {
        let id = StrategyId::new(&s.id)?;
        caps.insert(id.clone(), Money::new(s.capital, ccy));
        slots.push((id, s.strategy));
    }
    // The engine's own book holds every strategy of the account.
    let total = Money::new(caps.values().map(|m| m.amount).sum(), ccy);
    let name = slots
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    let symbol_list: Vec<String> = symbols.iter().map(ToString::to_string).collect();
    let insts = instruments.clone();
    let engine_thread = std::thread::spawn(move || -> Result<tessera_engine::EngineReport> {
        let mut venue = TradingVenue::new(handle, broker, stack, risk, settings, start)?;
        if caps.len() > 1 {
            venue = venue.with_strategies(caps.clone());
        }
        let clock = SimClock::new(start);
        let mut engine = Engine::new(clock, venue, insts.clone(), total, Decimal::ONE)?;
        for (id, strategy) in slots {
            // Beside others, each strategy sees only its own positions and capital.
            match caps.get(&id) {
                Some(cap) if caps.len() > 1 => {
                    engine.add_strategy_with_capital(id, strategy, *cap)?;
                }
                _ => engine.add_strategy(id, strategy),
            }
        }
        let mut source = LiveSource::new(insts, rx, warmup + 10);
        Ok(engine.run(&mut source)?)
    });
    eprintln!(
        "trading {name} on {} with the {broker_name} broker (run r{run_no}); Ctrl-C stops",
        symbol_list.join(", ")
    );
    let mut engine_done = tokio::task::spawn_blocking(move || engine_thread.join());
    let early = tokio::select! {
        r = tokio::signal::ctrl_c() => { r.context("cannot listen for Ctrl-C")?; None }
        r = &mut engine_done => Some(r),
    };
    eprintln!("stopping: finishing the event in hand");
    // The receiver is gone when the stream already ended by itself.
    let _ = stop_tx.send(true);
    let streamed = streamer.await.context("market data task")?;
    let stats = forwarder.await.context("forwarding task")?;
    let joined = match early {
        Some(r) => r,
        None => engine_done.await,
    };
    let report = joined?.map_err(|_| anyhow::anyhow!("engine thread panicked"))??;
    streamed?;
    eprintln!(
        "market data: {} warm-up bars, {} live bars ({} fetched over REST after a reconnect or a skip, {} duplicates dropped, {} holes), {} quotes; {} bars from {} to {}",
        stats.warmup,
        stats.live,
        stats.filled,
        stats.duplicates,
        stats.holes,
        stats.quotes,
        symbols[0],
        stats.first.map_or_else(|| "-".into(), |t| t.to_string()),
        stats.last.map_or_else(|| "-".into(), |t| t.to_string()),
    );
    eprintln!(
        "stopped: {} fills this run, equity {}",
        report.fills.len(),
        report.final_equity
    );
    Ok(())
}

const MINUTE: i64 = 60_000_000_000;

/// What a [`Feed`] passed on, for the closing line (and the tests that read it).
#[derive(Clone, Copy, Debug, Default)]
struct FeedStats {
    warmup: u64,
    live: u64,
    /// Candles fetched over REST after a reconnect or a candle that skipped ahead.
    filled: u64,
    /// Candles dropped because the engine already had them.
    duplicates: u64,
    /// Stretches the venue could not fill (its own holes).
    holes: u64,
    quotes: u64,
    /// Open times of the first and last bar passed on, of the first instrument.
    first: Option<UnixNanos>,
    last: Option<UnixNanos>,
}

/// Between a live stream and the engine: closed bars go on once each, in
/// order per instrument, with REST fetching whatever a reconnect or a late
/// candle left out; quotes go on in time order.
struct Feed<C> {
    md: Arc<C>,
    symbols: Vec<Symbol>,
    index: Vec<tessera_model::InstrumentId>,
    interval: Interval,
    tx: std::sync::mpsc::SyncSender<MarketEvent>,
    /// Open time of the last bar passed on, per instrument.
    last: Vec<Option<UnixNanos>>,
    /// Stamp quotes on the venue's time line: the newest bar close plus the
    /// real time since it arrived, never past the next close nor before the
    /// last event (spot bookTicker carries no time of its own).
    restamp_quotes: bool,
    anchor: Option<(UnixNanos, std::time::Instant)>,
    /// Time of the last event passed on.
    last_time: UnixNanos,
    stats: FeedStats,
}

impl<C: Collector> Feed<C> {
    fn new(
        md: Arc<C>,
        symbols: Vec<Symbol>,
        index: Vec<tessera_model::InstrumentId>,
        interval: Interval,
        tx: std::sync::mpsc::SyncSender<MarketEvent>,
        restamp_quotes: bool,
    ) -> Self {
        let n = symbols.len();
        Self {
            md,
            symbols,
            index,
            interval,
            tx,
            last: vec![None; n],
            restamp_quotes,
            anchor: None,
            last_time: UnixNanos(i64::MIN),
            stats: FeedStats::default(),
        }
    }

    /// Hand `ev` to the engine, waiting while its queue is full; false once it stopped.
    async fn send(&mut self, ev: MarketEvent) -> bool {
        let mut ev = ev;
        loop {
            match self.tx.try_send(ev) {
                Ok(()) => return true,
                Err(std::sync::mpsc::TrySendError::Full(back)) => {
                    ev = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    /// Pass `bar` of instrument `i` on unless the engine has it already; false once it stopped.
    async fn push(&mut self, i: usize, bar: tessera_model::Bar) -> bool {
        if self.last[i].is_some_and(|l| bar.open_time <= l) {
            self.stats.duplicates += 1;
            return true;
        }
        self.last[i] = Some(bar.open_time);
        if i == 0 {
            self.stats.first.get_or_insert(bar.open_time);
            self.stats.last = Some(bar.open_time);
        }
        let close = bar.close_time();
        if self.anchor.is_none_or(|(t, _)| close >= t) {
            self.anchor = Some((close, std::time::Instant::now()));
        }
        self.last_time = self.last_time.max(close);
        self.stats.live += 1;
        self.send(MarketEvent::Bar {
            instrument: i,
            bar,
            values: values(&bar),
        })
        .await
    }

    /// Fetch and pass on the closed bars of instrument `i` opening in `[from, to)`.
    async fn fill(&mut self, i: usize, from: UnixNanos, to: UnixNanos) -> Result<bool> {
        let limit = self.md.page_limit().max(1);
        let mut from = from;
        loop {
            let bars = self
                .md
                .closed_bars(self.symbols[i], self.interval, from, to, limit)
                .await
                .with_context(|| format!("backfilling {}", self.symbols[i]))?;
            let full = bars.len() >= limit;
            for b in bars {
                from = self.interval.next(b.open_time);
                if !self.push(i, b).await {
                    return Ok(false);
                }
            }
            if !full {
                return Ok(true);
            }
        }
    }

    /// Catch instrument `i` up over REST to just before `until` (everything closed when `None`).
    async fn catch_up(&mut self, i: usize, until: Option<UnixNanos>) -> bool {
        let Some(last) = self.last[i] else {
            return true;
        };
        let from = self.interval.next(last);
        let to = until.unwrap_or(UnixNanos::MAX);
        if from >= to {
            return true;
        }
        let before = self.stats.live;
        let alive = match self.fill(i, from, to).await {
            Ok(alive) => alive,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "catch-up failed; the stream goes on");
                true
            }
        };
        self.stats.filled += self.stats.live - before;
        alive
    }

    /// Forward the stream until it ends (shutdown) or the engine stops.
    async fn run(mut self, mut rx: mpsc::Receiver<LiveEvent>) -> FeedStats {
        while let Some(ev) = rx.recv().await {
            let alive = match ev {
                LiveEvent::Bar(bar) => {
                    let Some(i) = self.index.iter().position(|id| *id == bar.instrument) else {
                        continue;
                    };
                    let mut alive = true;
                    if self.last[i].is_some_and(|l| bar.open_time > self.interval.next(l)) {
                        // A candle skipped ahead: fetch the ones in between first.
                        alive = self.catch_up(i, Some(bar.open_time)).await;
                        if self.last[i].is_some_and(|l| bar.open_time > self.interval.next(l)) {
                            self.stats.holes += 1;
                        }
                    }
                    alive && self.push(i, bar).await
                }
                LiveEvent::Quote(mut quote) => {
                    let Some(i) = self.index.iter().position(|id| *id == quote.instrument) else {
                        continue;
                    };
                    if self.restamp_quotes {
                        let Some((close, at)) = self.anchor else {
                            continue;
                        };
                        let since = i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX);
                        let t = close.0.saturating_add(since).min(close.0 + MINUTE - 1);
                        quote.ts_event = UnixNanos(t.max(self.last_time.0));
                    } else if quote.ts_event < self.last_time {
                        continue;
                    }
                    self.last_time = quote.ts_event;
                    self.stats.quotes += 1;
                    self.send(MarketEvent::Quote {
                        instrument: i,
                        quote,
                    })
                    .await
                }
                LiveEvent::CatchUp => {
                    let mut alive = true;
                    for i in 0..self.symbols.len() {
                        alive = alive && self.catch_up(i, None).await;
                    }
                    alive
                }
            };
            if !alive {
                break;
            }
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_model::{Price, Quantity, Quote};

    fn t(s: &str) -> UnixNanos {
        UnixNanos::parse(s).unwrap()
    }

    #[test]
    fn test_parse_also_reads_id_strategy_params_and_capital() {
        let d = |n: i64| Decimal::from(n);
        let (id, kind, params, cap) =
            parse_also("meanrev=rsi_reversion,period=14,size=2@50000", d(100)).unwrap();
        assert_eq!(
            (id.as_str(), kind.as_str(), cap),
            ("meanrev", "rsi_reversion", d(50_000))
        );
        assert!(tessera_strategy::build(&kind, &params).is_ok());
        let (_, kind, _, cap) = parse_also("hold=buy_hold", d(100)).unwrap();
        assert_eq!(
            (kind.as_str(), cap),
            ("buy_hold", d(100)),
            "capital defaults to --capital"
        );
        for bad in [
            "buy_hold",
            "=buy_hold",
            "a b=buy_hold",
            "x=buy_hold@-5",
            "x=buy_hold@lots",
            "x=sma_cross,fast",
        ] {
            assert!(parse_also(bad, d(1)).is_err(), "{bad}");
        }
    }

    /// Replays, a candle that skips ahead and a reconnect reach the engine as
    /// each candle once, in order, with REST filling what the stream missed.
    #[tokio::test]
    async fn test_feed_passes_each_bar_once_in_order_and_fills_gaps() {
        let clock = Arc::new(SimClock::new(t("2024-03-01T10:00:30Z")));
        let sim = Arc::new(SimCollector::new(SimSettings::default(), clock, None).unwrap());
        let sym = Symbol::new("ETHUSDT").unwrap();
        let id = sim.instrument(sym).await.unwrap().id;
        let bar = |at: &str| {
            let sim = sim.clone();
            let at = t(at);
            async move {
                sim.closed_bars(sym, Interval::M1, at, Interval::M1.next(at), 1)
                    .await
                    .unwrap()[0]
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1_000);
        let mut feed = Feed::new(sim.clone(), vec![sym], vec![id], Interval::M1, tx, false);
        assert!(
            feed.fill(0, t("2024-03-01T09:50:00Z"), t("2024-03-01T09:53:00Z"))
                .await
                .unwrap()
        );
        let (ltx, lrx) = mpsc::channel(100);
        let price = Price::parse("100").unwrap();
        let size = Quantity::parse("1").unwrap();
        for ev in [
            LiveEvent::Bar(bar("2024-03-01T09:52:00Z").await),
            LiveEvent::Bar(bar("2024-03-01T09:55:00Z").await),
            LiveEvent::CatchUp,
            LiveEvent::Bar(bar("2024-03-01T09:58:00Z").await),
            // Older than what the engine has seen: dropped.
            LiveEvent::Quote(Quote {
                instrument: id,
                ts_event: t("2024-03-01T09:57:00Z"),
                bid_price: price,
                bid_size: size,
                ask_price: price,
                ask_size: size,
            }),
        ] {
            ltx.send(ev).await.unwrap();
        }
        drop(ltx);
        let stats = feed.run(lrx).await;
        let opens: Vec<UnixNanos> = rx
            .try_iter()
            .filter_map(|e| match e {
                MarketEvent::Bar { bar, .. } => Some(bar.open_time),
                MarketEvent::Quote { .. } => None,
            })
            .collect();
        let want: Vec<UnixNanos> = (0..10)
            .map(|k| UnixNanos(t("2024-03-01T09:50:00Z").0 + k * MINUTE))
            .collect();
        assert_eq!(opens, want);
        assert_eq!(stats.duplicates, 2);
        // 09:53 and 09:54 before 09:55; 09:56 to 09:59 on the reconnect.
        assert_eq!(stats.filled, 6);
        assert_eq!(stats.holes, 0);
        assert_eq!(stats.quotes, 0);
    }
}
