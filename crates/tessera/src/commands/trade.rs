//! `tessera trade`: run strategies live against the paper broker or Alpaca on live market data.
//!
//! One command trades: it starts the market data it needs (the simulated
//! venue in-process at its configured speed), warms the strategy up on
//! backfilled bars, and runs the one engine with a [`TradingVenue`] on its own
//! thread until Ctrl-C. On Ctrl-C the stream stops, the engine finishes the
//! event in hand (so no order is left half-sent) and returns. State lives in
//! the configured database; the next run continues from it.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use tessera_alpaca::{AlpacaBroker, Failpoints};
use tessera_core::{Clock, SimClock, SystemClock, UnixNanos};
use tessera_data::Collector;
use tessera_data::sim::{SimCollector, SimSettings};
use tessera_data::source::LiveEvent;
use tessera_engine::{Commission, Engine, MarketEvent, SimConfig, Slippage};
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
    if a.venue != "sim" {
        bail!(
            "venue {:?}: `trade` starts market data for the simulated venue `sim` only so far",
            a.venue
        );
    }
    if a.symbols.is_empty() {
        bail!("give at least one --symbol");
    }
    let params = Params::parse(a.params.iter().map(String::as_str))?;
    // The `model` strategy needs the ML registry, so the binary builds it (tessera-ml).
    let strategy = if a.strategy == tessera_ml::strategy::NAME {
        super::model::live_strategy(ctx, &params).await?
    } else {
        tessera_strategy::build(&a.strategy, &params)?
    };
    let store = ctx.store().await?;
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
    let symbols: Vec<Symbol> = a
        .symbols
        .iter()
        .map(|x| Symbol::new(x))
        .collect::<std::result::Result<_, _>>()?;
    let mut instruments = Vec::new();
    for sym in &symbols {
        instruments.push(sim.instrument(*sym).await?);
    }
    let ccy = instruments[0].quote_currency;
    let capital = Money::new(a.capital, ccy);
    let start = sim.now();
    let risk = RiskEngine::new(ctx.config.risk.limits()?)?;
    let mut sim_cfg = SimConfig::new(capital);
    sim_cfg.commission = Commission::rate(
        ctx.config
            .paper
            .commission_rate
            .parse()
            .context("paper.commission_rate")?,
    );
    let bps: Decimal = ctx
        .config
        .paper
        .slippage_bps
        .parse()
        .context("paper.slippage_bps")?;
    sim_cfg.slippage = if bps.is_zero() {
        Slippage::None
    } else {
        Slippage::Bps(bps)
    };
    let setup = Setup {
        strategy,
        strategy_name: a.strategy.clone(),
        symbols,
        instruments,
        capital,
        start,
        risk,
        sim,
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
struct Setup {
    strategy: Box<dyn tessera_strategy::Strategy>,
    strategy_name: String,
    symbols: Vec<Symbol>,
    instruments: Vec<tessera_model::Instrument>,
    capital: Money,
    start: UnixNanos,
    risk: RiskEngine,
    sim: Arc<SimCollector>,
}

/// Recover the order stack against `broker`, warm up, and trade until Ctrl-C.
async fn drive<B: Broker + 'static>(
    ctx: &Ctx,
    store: tessera_storage::Store,
    setup: Setup,
    broker: B,
) -> Result<()> {
    let Setup {
        strategy,
        strategy_name,
        symbols,
        instruments,
        capital,
        start,
        risk,
        sim,
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
    let warmup = strategy.warmup_bars().max(1);
    // Warm-up bars first (strategies build state, nothing is sent), then the live stream.
    let (tx, rx) = std::sync::mpsc::sync_channel::<MarketEvent>(4096);
    let interval = Interval::M1;
    for (i, sym) in symbols.iter().enumerate() {
        let from = UnixNanos(start.0 - (warmup as i64 + 1) * 60_000_000_000);
        for bar in sim
            .closed_bars(*sym, interval, from, start, warmup + 1)
            .await?
        {
            tx.send(MarketEvent::Bar {
                instrument: i,
                bar,
                values: values(&bar),
            })
            .context("engine stopped")?;
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ltx, mut lrx) = mpsc::channel::<LiveEvent>(4096);
    let streamer = {
        let sim = sim.clone();
        let symbols = symbols.clone();
        tokio::spawn(async move { sim.stream(symbols, interval, ltx, stop_rx).await })
    };
    let index: Vec<_> = instruments.iter().map(|i| i.id).collect();
    let forward_tx = tx.clone();
    let forwarder = tokio::task::spawn_blocking(move || {
        while let Some(ev) = lrx.blocking_recv() {
            let me =
                match ev {
                    LiveEvent::Bar(bar) => {
                        index
                            .iter()
                            .position(|i| *i == bar.instrument)
                            .map(|i| MarketEvent::Bar {
                                instrument: i,
                                bar,
                                values: values(&bar),
                            })
                    }
                    LiveEvent::Quote(quote) => index
                        .iter()
                        .position(|i| *i == quote.instrument)
                        .map(|i| MarketEvent::Quote {
                            instrument: i,
                            quote,
                        }),
                    LiveEvent::CatchUp => None,
                };
            if let Some(me) = me
                && forward_tx.send(me).is_err()
            {
                break;
            }
        }
    });
    drop(tx);
    let strategy_id = StrategyId::new(&strategy_name)?;
    let name = strategy_name;
    let symbol_list: Vec<String> = symbols.iter().map(ToString::to_string).collect();
    let insts = instruments.clone();
    let engine_thread = std::thread::spawn(move || -> Result<tessera_engine::EngineReport> {
        let venue = TradingVenue::new(handle, broker, stack, risk, settings, start)?;
        let clock = SimClock::new(start);
        let mut engine = Engine::new(clock, venue, insts.clone(), capital, Decimal::ONE)?;
        engine.add_strategy(strategy_id, strategy);
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
    forwarder.await.context("forwarding task")?;
    let joined = match early {
        Some(r) => r,
        None => engine_done.await,
    };
    let report = joined?.map_err(|_| anyhow::anyhow!("engine thread panicked"))??;
    streamed?;
    eprintln!(
        "stopped: {} fills this run, equity {}",
        report.fills.len(),
        report.final_equity
    );
    Ok(())
}
