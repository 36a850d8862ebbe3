//! The order stack handler: the continuous process that sends the orders
//! `order_generation` leaves on the persistent order stack as `created`.
//!
//! Each pass loads the account's stack from the database, hands every
//! `created` order to the broker (the stack stores `submitted` *before* the
//! broker sees it, so a crash between the two leaves a `submitted` order that
//! recovery settles and never a second send), applies the broker's answers,
//! and shows the paper broker the bars stored since its orders went out so
//! working orders fill. On start it first runs the stack's recovery against
//! the broker: orders left `submitted` by a crash are confirmed when the
//! broker has them and rejected as never sent when it does not.
//!
//! Orders on the stack were risk-checked when they were created (the stack
//! only takes a `RiskApproved` request; refused ones are stored `rejected`),
//! so the handler checks only the kill switch and halts again before sending.

use std::collections::BTreeMap;
use std::time::Duration;

use tessera_core::{Clock, SystemClock, TimeRange, UnixNanos};
use tessera_execution::{Broker, MarketUpdate, OrderStack};
use tessera_live::PaperBroker;
use tessera_model::{Currency, Instrument, InstrumentId, Interval, Money, OrderStatus, StrategyId};
use tessera_scheduler::Process;
use tessera_scheduler::registry::BoxFuture;
use tessera_storage::Store;
use tokio::sync::watch;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PassReport {
    /// Orders handed to the broker.
    pub(crate) sent: usize,
    /// Orders left `created` because the kill switch is on or the instrument is halted.
    pub(crate) held: usize,
    /// Fills booked.
    pub(crate) fills: usize,
}

/// Settings of the handler.
#[derive(Clone, Debug)]
pub(crate) struct OrderHandlerConfig {
    /// The order stack account (what `order_generation` writes to).
    pub(crate) account: String,
    /// Bar interval shown to the paper broker.
    pub(crate) interval: Interval,
    /// Commission and slippage of the paper account (`[paper]`).
    pub(crate) paper: crate::config::PaperConfig,
    /// Paper starting cash, in the instruments' quote currency.
    pub(crate) capital: rust_decimal::Decimal,
    /// Time between passes.
    pub(crate) poll: Duration,
}

impl OrderHandlerConfig {
    /// From the configuration, for `account`.
    ///
    /// # Errors
    /// Unreadable `paper.*` numbers.
    pub(crate) fn from_config(c: &crate::config::Config, account: &str) -> Result<Self, String> {
        c.paper.costs().map_err(|e| format!("{e:#}"))?;
        Ok(Self {
            account: account.to_string(),
            interval: Interval::M1,
            paper: c.paper.clone(),
            capital: rust_decimal::Decimal::from(100_000),
            poll: Duration::from_secs(2),
        })
    }
}

/// The order stack handler of one account, with the paper broker.
#[derive(Debug)]
pub(crate) struct OrderStackHandler {
    store: Store,
    config: OrderHandlerConfig,
}

/// The live state of a running handler: its stack, broker, and how far each instrument's bars were shown.
struct Running {
    stack: OrderStack,
    broker: PaperBroker,
    instruments: Vec<Instrument>,
    shown: BTreeMap<InstrumentId, UnixNanos>,
}

impl OrderStackHandler {
    pub(crate) fn new(store: Store, config: OrderHandlerConfig) -> Self {
        Self { store, config }
    }

    /// Instruments of every order the account holds.
    async fn instruments(&self) -> Result<Vec<Instrument>, String> {
        let mut ids: Vec<InstrumentId> = Vec::new();
        for o in self.store.orders(None).await.map_err(|e| e.to_string())? {
            if o.broker == self.config.account && !ids.contains(&o.order.request.instrument) {
                ids.push(o.order.request.instrument);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(
                self.store
                    .instrument(&id)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }

    /// Open the stack and the broker for the account's current instruments and run recovery.
    async fn start(&self, now: UnixNanos) -> Result<Option<(Running, PassReport)>, String> {
        let instruments = self.instruments().await?;
        let Some(first) = instruments.first() else {
            return Ok(None);
        };
        let ccy: Currency = first.quote_currency;
        let sim = self
            .config
            .paper
            .sim_config(Money::new(self.config.capital, ccy))
            .map_err(|e| format!("{e:#}"))?;
        let mut broker = PaperBroker::open(
            self.store.clone(),
            &self.config.account,
            sim,
            &instruments,
            0,
        )
        .await
        .map_err(|e| format!("paper broker {}: {e}", self.config.account))?;
        let mut stack =
            OrderStack::load(self.store.clone(), &self.config.account, ccy, &instruments)
                .await
                .map_err(|e| e.to_string())?;
        // `created` orders never left us: recovery would reject them as never
        // sent, so send them first; recovery then settles what a crash left `submitted`.
        let mut shown = BTreeMap::new();
        let sent = send_created(&mut stack, &mut broker, now, &mut shown).await?;
        let report = stack
            .recover(&mut broker, now)
            .await
            .map_err(|e| format!("recovery: {e}"))?;
        if !report.never_sent.is_empty() || report.fills_booked > 0 {
            tracing::info!(account = %self.config.account, never_sent = report.never_sent.len(), fills = report.fills_booked, "order stack recovered");
        }
        for o in stack.open_orders() {
            let e = shown.entry(o.request.instrument).or_insert(o.updated_at);
            *e = (*e).min(o.updated_at);
        }
        // Working orders were handed to the simulator again by `PaperBroker::open`.
        for (&id, &at) in &shown {
            settle_fresh(
                &self.store,
                self.config.interval,
                &mut stack,
                &mut broker,
                id,
                at,
                now,
            )
            .await?;
        }
        Ok(Some((
            Running {
                stack,
                broker,
                instruments,
                shown,
            },
            sent,
        )))
    }

    /// One pass: send created orders, show new bars to the broker, book fills.
    async fn step(&self, r: &mut Running, now: UnixNanos) -> Result<PassReport, String> {
        r.stack
            .refresh_switches()
            .await
            .map_err(|e| e.to_string())?;
        let mut report = send_created(&mut r.stack, &mut r.broker, now, &mut r.shown).await?;
        if report.sent > 0 {
            let ids: Vec<InstrumentId> = r.shown.keys().copied().collect();
            for id in ids {
                report.fills += settle_fresh(
                    &self.store,
                    self.config.interval,
                    &mut r.stack,
                    &mut r.broker,
                    id,
                    now,
                    now,
                )
                .await?;
            }
        }
        report.held = r
            .stack
            .open_orders()
            .filter(|o| o.status == OrderStatus::Created)
            .count();
        let working: Vec<InstrumentId> = r
            .shown
            .keys()
            .copied()
            .filter(|i| r.stack.open_orders().any(|o| o.request.instrument == *i))
            .collect();
        for id in working {
            let from = r.shown[&id];
            let range = TimeRange::from_bounds(Some(UnixNanos(from.0 + 1)), None)
                .map_err(|e| e.to_string())?;
            let bars = self
                .store
                .bars_range(&id, self.config.interval, range)
                .await
                .map_err(|e| e.to_string())?;
            for b in &bars {
                for update in [MarketUpdate::Bar(b), MarketUpdate::BarProcessed(b)] {
                    let events = r
                        .broker
                        .on_market(update, b.close_time())
                        .await
                        .map_err(|e| e.to_string())?;
                    let applied = r
                        .stack
                        .apply_all(&events, now)
                        .await
                        .map_err(|e| e.to_string())?;
                    report.fills += applied.iter().filter(|a| a.fill.is_some()).count();
                }
                r.shown.insert(id, b.open_time);
            }
        }
        Ok(report)
    }

    /// One pass from a fresh start (recovery included); `None` when the account has no orders.
    ///
    /// # Errors
    /// Storage and broker failures.
    pub(crate) async fn pass_once(&self) -> Result<PassReport, String> {
        let now = SystemClock.now();
        match self.start(now).await? {
            Some((mut r, sent)) => {
                let mut rep = self.step(&mut r, now).await?;
                rep.sent += sent.sent;
                rep.fills += sent.fills;
                Ok(rep)
            }
            None => Ok(PassReport::default()),
        }
    }
}

/// Show the broker the close of the last bar stored at or before `at` for
/// `id`: orders sent after it are then no longer "fresh" (decided on that bar)
/// and match from the next bar's open, as in a backtest; without it a fresh
/// order would wait one more bar.
async fn settle_fresh(
    store: &Store,
    interval: Interval,
    stack: &mut OrderStack,
    broker: &mut PaperBroker,
    id: InstrumentId,
    at: UnixNanos,
    now: UnixNanos,
) -> Result<usize, String> {
    let range = TimeRange::from_bounds(Some(UnixNanos(at.0 - 86_400_000_000_000)), Some(at))
        .map_err(|e| e.to_string())?;
    let bars = store
        .bars_range(&id, interval, range)
        .await
        .map_err(|e| e.to_string())?;
    let Some(b) = bars.last() else {
        return Ok(0);
    };
    let events = broker
        .on_market(MarketUpdate::BarProcessed(b), at)
        .await
        .map_err(|e| e.to_string())?;
    let applied = stack
        .apply_all(&events, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(applied.iter().filter(|a| a.fill.is_some()).count())
}

/// Hand every `created` order to the broker, unless the kill switch or a halt holds it.
async fn send_created(
    stack: &mut OrderStack,
    broker: &mut PaperBroker,
    now: UnixNanos,
    shown: &mut BTreeMap<InstrumentId, UnixNanos>,
) -> Result<PassReport, String> {
    let mut report = PassReport::default();
    if stack.kill_switch() {
        return Ok(report);
    }
    let created: Vec<_> = stack
        .open_orders()
        .filter(|o| o.status == OrderStatus::Created)
        .map(|o| (o.client_order_id.clone(), o.request.instrument))
        .collect();
    for (id, instrument) in created {
        if stack
            .risk_state(
                &StrategyId::new("order_stack").expect("valid id"),
                &instrument,
                None,
                now,
            )
            .halted
            .is_some()
        {
            continue;
        }
        // Stored as submitted before the broker sees it: never sent twice.
        let order = stack
            .mark_submitted(&id, now)
            .await
            .map_err(|e| e.to_string())?;
        let events = broker
            .submit(&order, now)
            .await
            .map_err(|e| format!("sending {id}: {e}"))?;
        let applied = stack
            .apply_all(&events, now)
            .await
            .map_err(|e| e.to_string())?;
        report.sent += 1;
        report.fills += applied.iter().filter(|a| a.fill.is_some()).count();
        shown.entry(instrument).or_insert(now);
        tracing::info!(order = %id, status = %applied.last().map_or(order.status, |a| a.order.status), "order sent");
    }
    Ok(report)
}

impl Process for OrderStackHandler {
    fn name(&self) -> &str {
        "service:order_stack"
    }
    fn kind(&self) -> &str {
        "service"
    }
    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut running: Option<Running> = None;
            loop {
                let now = SystemClock.now();
                // (Re)open when an open order names an instrument this stack was not
                // opened with: new work arrives as `created` (open) orders, so the open
                // ones are enough, and reading them keeps each pass off the full history.
                let stale = match running.as_ref() {
                    None => true,
                    Some(r) => self
                        .store
                        .open_orders()
                        .await
                        .map_err(|e| e.to_string())?
                        .iter()
                        .filter(|o| o.broker == self.config.account)
                        .any(|o| {
                            !r.instruments
                                .iter()
                                .any(|i| i.id == o.order.request.instrument)
                        }),
                };
                if stale {
                    running = self.start(now).await?.map(|(r, sent)| {
                        if sent.sent > 0 {
                            tracing::info!(sent = sent.sent, account = %self.config.account, "order stack handler started");
                        }
                        r
                    });
                }
                if let Some(r) = running.as_mut() {
                    let rep = self.step(r, now).await?;
                    if rep.sent > 0 || rep.fills > 0 {
                        tracing::info!(sent = rep.sent, fills = rep.fills, account = %self.config.account, "order stack handler");
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(self.config.poll) => {}
                    _ = shutdown.wait_for(|v| *v) => return Ok(()),
                }
            }
        })
    }
}

/// `tessera orders handle [--account A] [--once]`.
///
/// # Errors
/// Bad `paper.*` settings, storage and broker failures.
pub(crate) async fn run(
    ctx: &super::Ctx,
    account: &str,
    once: bool,
    capital: rust_decimal::Decimal,
) -> anyhow::Result<()> {
    let store = ctx.store().await?;
    let mut config =
        OrderHandlerConfig::from_config(&ctx.config, account).map_err(anyhow::Error::msg)?;
    config.capital = capital;
    let h = OrderStackHandler::new(store.clone(), config);
    if once {
        let r = h.pass_once().await.map_err(anyhow::Error::msg)?;
        if ctx.global.json {
            crate::output::print_json(&r)?;
        } else {
            println!(
                "account {account}: {} sent, {} held, {} fills",
                r.sent, r.held, r.fills
            );
        }
        store.close().await;
        return Ok(());
    }
    let (tx, rx) = watch::channel(false);
    let mut task = tokio::spawn(async move { h.run(rx).await });
    let done = tokio::select! {
        () = super::up::stop_signal() => None,
        r = &mut task => Some(r),
    };
    let result = match done {
        Some(r) => r,
        None => {
            // The task holds the receiver until it returns, so sending cannot fail.
            let _ = tx.send(true);
            task.await
        }
    };
    result?.map_err(anyhow::Error::msg)?;
    store.close().await;
    Ok(())
}
