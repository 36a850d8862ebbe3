//! [`TradingVenue`]: the engine's [`Venue`] for live and paper trading.
//!
//! Every order a strategy asks for goes: risk checks → order stack (stored
//! as created, then submitted) → broker; every broker answer is stored
//! before the engine and the strategy hear of it. The engine is synchronous
//! and runs on its own thread; storage and broker calls are driven to
//! completion on the tokio runtime through a [`Handle`].
//!
//! With several strategies on one account ([`TradingVenue::with_strategies`])
//! market orders are not sent one by one: each is risk-checked and stored as
//! `created` when the strategy asks, and the event's batch is netted when the
//! strategies have acted (at `on_bar_processed`; for orders asked on a quote
//! or a timer at `on_event_processed`, and at the latest before the next
//! market event reaches the broker) by
//! [`OrderStack::net_and_send`]: crosses are booked internally at the last
//! price, one instrument order per instrument goes to the broker, and its
//! fills come back to each strategy's own orders.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_engine::{Venue, VenueEvent};
use tessera_execution::broker::OrderChange;
use tessera_execution::stack::Applied;
use tessera_execution::{Broker, MarketUpdate, NetRequest, OrderStack};
use tessera_model::{
    Bar, ClientOrderId, Instrument, InstrumentId, Money, OrderRequest, OrderStatus, OrderType,
    Price, Quantity, Quote, RoundingMode, StrategyId,
};
use tessera_risk::{RiskEngine, RiskLimits};
use tessera_storage::AccountSnapshot;
use tessera_strategy::{OrderIntent, OrderModify, OrderQty, OrderUpdate};
use tokio::runtime::Handle;

/// Settings of a [`TradingVenue`].
#[derive(Clone, Debug)]
pub struct VenueSettings {
    /// Capital allocated to the strategies of this engine (sizes equity-fraction orders, values P&L).
    pub capital: Money,
    /// Prefix making client order ids unique across runs (e.g. `r7`).
    pub run_prefix: String,
    /// Events before this time are warm-up: strategies see them, orders are not sent.
    pub live_from: UnixNanos,
    /// Halt an instrument when reconciliation finds a difference.
    pub halt_on_difference: bool,
    /// Reconcile (and snapshot the account) every this many nanoseconds of market time; 0 = never.
    pub reconcile_every: i64,
}

/// Where the engine sends orders when trading live or on paper.
#[derive(Debug)]
pub struct TradingVenue<B: Broker> {
    rt: Handle,
    broker: B,
    stack: OrderStack,
    risk: RiskEngine,
    settings: VenueSettings,
    instruments: Vec<Instrument>,
    index: BTreeMap<InstrumentId, usize>,
    last: Vec<Option<Price>>,
    /// Engine order id → stored (broker-visible) id, and back.
    to_stored: BTreeMap<ClientOrderId, ClientOrderId>,
    to_engine: BTreeMap<ClientOrderId, ClientOrderId>,
    /// Fills booked before this run, replayed into the engine's book on the first event.
    replay: Vec<VenueEvent>,
    last_check: UnixNanos,
    /// UTC day of the last event (days since 1970), to roll the daily-loss baseline at midnight.
    last_day: i64,
    /// Capital per strategy when several share the account (empty: `settings.capital` for all).
    strategies: BTreeMap<StrategyId, Money>,
    /// Net market orders of several strategies into instrument orders.
    netting: bool,
    /// Account-level checks of net instrument orders (the per-strategy limits left out).
    net_risk: RiskEngine,
    /// Stored market orders of the current event waiting to be netted, and when they were asked for.
    pending: Vec<ClientOrderId>,
    pending_at: UnixNanos,
    /// Batches netted and instrument orders created in this run (for their ids).
    batches: u64,
    instrument_orders: u64,
}

fn err(e: impl std::fmt::Display) -> tessera_engine::Error {
    tessera_engine::Error::Venue(e.to_string())
}

impl<B: Broker> TradingVenue<B> {
    /// A venue over `stack` and `broker`. Recovers the stack against the broker
    /// (fills missed, orders never sent) and replays this engine's stored
    /// fills into the engine's book on the first event.
    ///
    /// # Errors
    /// Recovery failures.
    pub fn new(
        rt: Handle,
        mut broker: B,
        mut stack: OrderStack,
        risk: RiskEngine,
        settings: VenueSettings,
        now: UnixNanos,
    ) -> crate::Result<Self> {
        let report = rt.block_on(stack.recover(&mut broker, now))?;
        if !report.never_sent.is_empty() || report.fills_booked > 0 {
            tracing::info!(
                never_sent = report.never_sent.len(),
                fills_booked = report.fills_booked,
                confirmed = report.confirmed.len(),
                "order stack recovered"
            );
        }
        let fills = rt.block_on(stack.store().fills())?;
        let net_risk = RiskEngine::new(RiskLimits {
            max_position_per_strategy: None,
            max_daily_loss_per_strategy: None,
            ..risk.limits().clone()
        })
        .map_err(|e| tessera_engine::Error::Venue(e.to_string()))?;
        Ok(Self {
            strategies: BTreeMap::new(),
            netting: false,
            net_risk,
            pending: Vec::new(),
            pending_at: UnixNanos(0),
            batches: 0,
            instrument_orders: 0,
            rt,
            broker,
            stack,
            risk,
            settings,
            instruments: Vec::new(),
            index: BTreeMap::new(),
            last: Vec::new(),
            to_stored: BTreeMap::new(),
            to_engine: BTreeMap::new(),
            replay: fills
                .into_iter()
                .map(|f| VenueEvent::Restored {
                    instrument: usize::MAX,
                    strategy: f.strategy,
                    fill: f.fill,
                })
                .collect(),
            last_check: UnixNanos(0),
            last_day: i64::MIN,
        })
    }

    /// Several strategies share this account, each with its own capital
    /// (sizing equity-fraction orders, valuing its P&L). With two or more,
    /// market orders asked for on one event are netted into one instrument
    /// order per instrument (see the module docs).
    #[must_use]
    pub fn with_strategies(mut self, capital: BTreeMap<StrategyId, Money>) -> Self {
        self.netting = capital.len() > 1;
        self.strategies = capital;
        self
    }

    /// Whether market orders are netted across strategies.
    #[must_use]
    pub fn netting(&self) -> bool {
        self.netting
    }

    fn capital_of(&self, strategy: &str) -> Decimal {
        self.strategies
            .iter()
            .find(|(s, _)| s.as_str() == strategy)
            .map_or(self.settings.capital.amount, |(_, m)| m.amount)
    }

    /// Net and send the market orders stored since the last event's strategies acted.
    fn flush(&mut self, out: &mut Vec<VenueEvent>) -> tessera_engine::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let now = self.pending_at;
        self.batches += 1;
        let prefix = self.settings.run_prefix.clone();
        let cross_prefix = format!("{prefix}-b{}", self.batches);
        let (index, last) = (&self.index, &self.last);
        let reference = |i: &InstrumentId| index.get(i).and_then(|&k| last[k]);
        let net_risk = &self.net_risk;
        let check = |r: &OrderRequest, st: &tessera_risk::RiskState| {
            net_risk
                .check(r.clone(), st)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let counter = &mut self.instrument_orders;
        let mut next_id = |_: &InstrumentId| {
            *counter += 1;
            ClientOrderId::new(&format!("{prefix}-n{counter}"))
                .map_err(tessera_execution::Error::from)
        };
        let req = NetRequest {
            instrument_order_id: &mut next_id,
            cross_prefix,
            reference_price: &reference,
            check: &check,
        };
        let result = self
            .rt
            .block_on(self.stack.net_and_send(&mut self.broker, &batch, req, now));
        match result {
            Ok(applied) => self.emit(applied, out),
            // Stored as submitted; the broker's stream or the next start's recovery settles it.
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "instrument order hand-off failed; left submitted for the broker stream or recovery to settle");
            }
            Err(e) => return Err(err(e)),
        }
        Ok(())
    }

    /// The order stack.
    #[must_use]
    pub fn stack(&self) -> &OrderStack {
        &self.stack
    }

    /// The broker.
    #[must_use]
    pub fn broker(&self) -> &B {
        &self.broker
    }

    fn engine_id(&self, stored: &ClientOrderId) -> ClientOrderId {
        self.to_engine
            .get(stored)
            .cloned()
            .unwrap_or_else(|| stored.clone())
    }

    /// Turn stored changes into engine events (fills first, then the status), with engine ids.
    fn emit(&self, applied: Vec<Applied>, out: &mut Vec<VenueEvent>) {
        for a in applied {
            let id = self.engine_id(&a.order.client_order_id);
            let i = self
                .index
                .get(&a.order.request.instrument)
                .copied()
                .unwrap_or(usize::MAX);
            if let Some(f) = a.fill {
                out.push(VenueEvent::Fill {
                    instrument: i,
                    fill: tessera_model::Fill {
                        client_order_id: id.clone(),
                        ..f
                    },
                });
            }
            out.push(VenueEvent::Update(OrderUpdate {
                client_order_id: id,
                instrument: a.order.request.instrument,
                status: a.order.status,
                filled_quantity: a.order.filled_quantity,
                reason: a.order.reject_reason.clone().map(Into::into),
                ts: a.order.updated_at,
            }));
        }
    }

    fn refuse(
        &self,
        id: ClientOrderId,
        instrument: InstrumentId,
        reason: String,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) {
        out.push(VenueEvent::Update(OrderUpdate {
            client_order_id: id,
            instrument,
            status: OrderStatus::Rejected,
            filled_quantity: Quantity::ZERO,
            reason: Some(reason.into()),
            ts: now,
        }));
    }

    /// Units for an order sized as a fraction of equity: capital plus P&L so far, at the last price.
    fn units(&self, strategy: &StrategyId, intent: &OrderIntent, i: usize) -> Option<Quantity> {
        match intent.quantity {
            OrderQty::Units(q) => Some(q),
            OrderQty::EquityFraction(f) => {
                let px = self.last.get(i).copied().flatten()?.as_decimal();
                let inst = &self.instruments[i];
                let own = !self.strategies.is_empty();
                let pnl: Decimal = self
                    .stack
                    .positions()
                    .iter()
                    .filter(|((s, _), _)| !own || s == strategy)
                    .map(|(_, p)| {
                        let open = self
                            .index
                            .get(&p.instrument)
                            .and_then(|&k| self.last[k])
                            .and_then(|m| p.unrealized_pnl(m).ok())
                            .map_or(Decimal::ZERO, |m| m.amount);
                        p.realized_pnl.amount - p.commissions.amount + open
                    })
                    .sum();
                let equity = self.capital_of(strategy.as_str()) + pnl;
                let raw = (equity * f / (px * inst.multiplier))
                    .max(Decimal::ZERO)
                    .round_dp_with_strategy(8, rust_decimal::RoundingStrategy::ToZero);
                Quantity::new(raw)
                    .ok()?
                    .round_to_lot(inst.lot_size, RoundingMode::TowardZero)
                    .ok()
                    .filter(|q| !q.is_zero())
            }
        }
    }

    fn market(
        &mut self,
        update: MarketUpdate<'_>,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        // Orders asked for on the previous event (a quote, a timer) go before the market moves on.
        self.flush(out)?;
        if !self.replay.is_empty() {
            for ev in std::mem::take(&mut self.replay) {
                if let VenueEvent::Restored { strategy, fill, .. } = ev
                    && let Some(&i) = self.index.get(&fill.instrument)
                {
                    out.push(VenueEvent::Restored {
                        instrument: i,
                        strategy,
                        fill,
                    });
                }
            }
        }
        if now.0.div_euclid(86_400_000_000_000) != self.last_day {
            self.last_day = now.0.div_euclid(86_400_000_000_000);
            let (index, last) = (&self.index, &self.last);
            let mark = |i: &InstrumentId| index.get(i).and_then(|&k| last[k]);
            self.rt
                .block_on(self.stack.roll_day(now, &mark))
                .map_err(err)?;
        }
        let events = self
            .rt
            .block_on(self.broker.on_market(update, now))
            .map_err(err)?;
        let polled = self.rt.block_on(self.broker.poll_events()).map_err(err)?;
        let applied = self.rt.block_on(async {
            let mut a = self.stack.apply_all(&events, now).await?;
            a.extend(self.stack.apply_all(&polled, now).await?);
            Ok::<_, tessera_execution::Error>(a)
        });
        self.emit(applied.map_err(err)?, out);
        if self.settings.reconcile_every > 0
            && now.0 - self.last_check.0 >= self.settings.reconcile_every
        {
            self.last_check = now;
            self.periodic(now, out)?;
        }
        Ok(())
    }

    /// Kill switch, reconciliation and an account snapshot.
    fn periodic(
        &mut self,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        let rt = self.rt.clone();
        let killed = rt.block_on(self.stack.refresh_switches()).map_err(err)?;
        if killed && self.stack.open_orders().next().is_some() {
            let applied = rt
                .block_on(self.stack.cancel_all(&mut self.broker, now))
                .map_err(err)?;
            tracing::warn!(
                cancelled = applied.len(),
                "kill switch on: open orders cancelled"
            );
            self.emit(applied, out);
        }
        // Reconcile positions with the broker (orders are settled by recovery at start).
        let broker_pos: BTreeMap<InstrumentId, Decimal> = rt
            .block_on(self.broker.positions())
            .map_err(err)?
            .into_iter()
            .collect();
        for inst in &self.instruments {
            let ours = self.stack.instrument_position(&inst.id);
            let theirs = broker_pos.get(&inst.id).copied().unwrap_or_default();
            if ours != theirs {
                tracing::error!(instrument = %inst.id, %ours, broker = %theirs, "reconciliation: positions differ");
                if self.settings.halt_on_difference {
                    rt.block_on(self.stack.halt(
                        inst.id,
                        &format!("reconciliation: ours {ours}, broker {theirs}"),
                    ))
                    .map_err(err)?;
                }
            }
        }
        self.snapshot(now)
    }

    /// Store the account value and per-strategy P&L at the current marks.
    fn snapshot(&mut self, now: UnixNanos) -> tessera_engine::Result<()> {
        let rt = self.rt.clone();
        let account = rt.block_on(self.broker.account()).map_err(err)?;
        let ccy = self.settings.capital.currency;
        let cash = account.balance(ccy).total;
        let mut per: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        let mut value = Decimal::ZERO;
        for ((strategy, inst), p) in self.stack.positions() {
            let mark = self.index.get(inst).and_then(|&k| self.last[k]);
            let open = mark
                .and_then(|m| p.unrealized_pnl(m).ok())
                .map_or(Decimal::ZERO, |m| m.amount);
            value += mark.map_or(p.avg_price, |m| m.as_decimal()) * p.quantity * p.multiplier;
            let e = per.entry(strategy.to_string()).or_default();
            e.0 += p.realized_pnl.amount - p.commissions.amount;
            e.1 += open;
            if let Some(m) = mark {
                rt.block_on(self.stack.store().mark_positions(inst, m))
                    .map_err(err)?;
            }
        }
        let m = |d: Decimal| Money::new(d, ccy);
        let name = self.broker.name().to_string();
        let (r_all, u_all) = per.values().fold((Decimal::ZERO, Decimal::ZERO), |a, b| {
            (a.0 + b.0, a.1 + b.1)
        });
        let mut snaps = vec![AccountSnapshot {
            account: name.clone(),
            strategy: String::new(),
            ts: now,
            equity: m(cash + value),
            cash: m(cash),
            realized_pnl: m(r_all),
            unrealized_pnl: m(u_all),
        }];
        for (s, (r, u)) in per {
            let eq = self.capital_of(&s) + r + u;
            snaps.push(AccountSnapshot {
                account: name.clone(),
                strategy: s,
                ts: now,
                equity: m(eq),
                cash: m(eq),
                realized_pnl: m(r),
                unrealized_pnl: m(u),
            });
        }
        for s in &snaps {
            rt.block_on(self.stack.store().insert_account_snapshot(s))
                .map_err(err)?;
        }
        Ok(())
    }
}

impl<B: Broker> Venue for TradingVenue<B> {
    fn register(&mut self, instruments: &[Instrument]) -> tessera_engine::Result<()> {
        self.instruments = instruments.to_vec();
        self.index = instruments
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, i))
            .collect();
        self.last = vec![None; instruments.len()];
        Ok(())
    }

    fn submit(
        &mut self,
        id: ClientOrderId,
        intent: &OrderIntent,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        let Some(&i) = self.index.get(&intent.instrument) else {
            self.refuse(
                id,
                intent.instrument,
                format!("instrument {} not traded here", intent.instrument),
                now,
                out,
            );
            return Ok(());
        };
        if now < self.settings.live_from {
            // Warm-up bars: the strategy builds its state, nothing is sent or stored.
            self.refuse(
                id,
                intent.instrument,
                "warm-up: not trading yet".into(),
                now,
                out,
            );
            return Ok(());
        }
        let stored =
            ClientOrderId::new(&format!("{}-{}", self.settings.run_prefix, id)).map_err(err)?;
        self.to_stored.insert(id.clone(), stored.clone());
        self.to_engine.insert(stored.clone(), id.clone());
        let strategy_name = id.as_str().rsplit_once('-').map_or(id.as_str(), |(s, _)| s);
        let strategy = tessera_model::StrategyId::new(strategy_name).map_err(err)?;
        let Some(quantity) = self.units(&strategy, intent, i) else {
            let reason = "cannot size the order: no price yet or below one lot".to_string();
            self.refuse(id, intent.instrument, reason, now, out);
            return Ok(());
        };
        let request = OrderRequest {
            strategy: strategy.clone(),
            instrument: intent.instrument,
            side: intent.side,
            order_type: intent.order_type,
            quantity,
            limit_price: intent.limit_price,
            stop_price: intent.stop_price,
            time_in_force: intent.time_in_force,
        };
        let state = self
            .stack
            .risk_state(&strategy, &intent.instrument, self.last[i], now);
        let rt = self.rt.clone();
        match self.risk.check(request.clone(), &state) {
            Ok(approved) if self.netting && intent.order_type == OrderType::Market => {
                // Stored now (created), netted with the other strategies' orders of this event.
                rt.block_on(self.stack.create(stored.clone(), approved, now))
                    .map_err(err)?;
                if self.pending.is_empty() {
                    self.pending_at = now;
                }
                self.pending.push(stored);
            }
            Ok(approved) => {
                match rt.block_on(
                    self.stack
                        .send(&mut self.broker, stored.clone(), approved, now),
                ) {
                    Ok(applied) => self.emit(applied, out),
                    // Stored as submitted; whether it arrived is settled by the broker's stream
                    // (an acknowledgement) or, at the next start, by recovery (lookup by id).
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(order = %stored, error = %e, "order hand-off failed; left submitted for the broker stream or recovery to settle");
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Err(refusal) => {
                let reason = format!("risk: {refusal}");
                tracing::warn!(order = %stored, %reason, "order refused");
                rt.block_on(self.stack.store_refused(stored, request, &reason, now))
                    .map_err(err)?;
                self.refuse(id, intent.instrument, reason, now, out);
            }
        }
        Ok(())
    }

    fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        let stored = self
            .to_stored
            .get(id)
            .cloned()
            .ok_or_else(|| err(format!("cancel: no order {id}")))?;
        let rt = self.rt.clone();
        if !self
            .stack
            .open_orders()
            .any(|o| o.client_order_id == stored)
        {
            // Closed already (filled, or crossed internally): nothing to cancel.
            return Ok(());
        }
        self.pending.retain(|p| *p != stored);
        let applied = rt
            .block_on(self.stack.cancel(&mut self.broker, &stored, now))
            .map_err(err)?;
        self.emit(applied, out);
        Ok(())
    }

    fn modify(
        &mut self,
        id: &ClientOrderId,
        change: &OrderModify,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        let stored = self
            .to_stored
            .get(id)
            .cloned()
            .ok_or_else(|| err(format!("modify: no order {id}")))?;
        if self.stack.instrument_order_of(&stored).is_some() || self.pending.contains(&stored) {
            // A netted market order is part of an instrument order: nothing of its own to change.
            tracing::warn!(order = %stored, "modify of a netted market order ignored");
            return Ok(());
        }
        let c = OrderChange {
            quantity: change.quantity,
            limit_price: change.limit_price,
            stop_price: change.stop_price,
        };
        let rt = self.rt.clone();
        let events = rt
            .block_on(self.broker.modify(&stored, c, now))
            .map_err(err)?;
        let applied = rt
            .block_on(self.stack.apply_all(&events, now))
            .map_err(err)?;
        self.emit(applied, out);
        Ok(())
    }

    fn on_bar(
        &mut self,
        instrument: usize,
        bar: &Bar,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        if let Some(l) = self.last.get_mut(instrument) {
            *l = Some(bar.close);
        }
        let now = bar.close_time();
        self.market(MarketUpdate::Bar(bar), now, out)
    }

    fn on_bar_processed(
        &mut self,
        _instrument: usize,
        bar: &Bar,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        self.market(MarketUpdate::BarProcessed(bar), bar.close_time(), out)
    }

    fn on_quote(
        &mut self,
        instrument: usize,
        quote: &Quote,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        if let (Some(l), Ok(mid)) = (self.last.get_mut(instrument), Price::new(quote.mid())) {
            *l = Some(mid);
        }
        self.market(MarketUpdate::Quote(quote), quote.ts_event, out)
    }

    fn on_event_processed(
        &mut self,
        _now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> tessera_engine::Result<()> {
        // The strategies of a quote or a timer have acted: net and send what they asked for.
        self.flush(out)
    }
}
