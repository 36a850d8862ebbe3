//! [`OrderStack`]: the persistent order stack.
//!
//! The rule that makes restarts safe: **store, then send**. An order is
//! stored as `created` when risk approves it, stored as `submitted` before
//! the broker call, and every answer is stored before anyone acts on it. A
//! fill is stored in one transaction with the order and the position it
//! changes, keyed by the broker's trade id. A crash therefore leaves one of:
//! a `created` order (never sent: [`OrderStack::recover`] marks it so), a
//! `submitted` order the broker may or may not have (recovery asks the
//! broker by client order id), or a fill the broker reported that we did not
//! book yet (recovery fetches fills since the oldest open order and books
//! the missing ones). Brokers refuse a second order with the same client
//! order id, so nothing is ever sent twice.
//!
//! Strategy orders go to the broker one to one ([`OrderStack::send`]) or,
//! when several strategies share the account, netted into one instrument
//! order per instrument ([`OrderStack::net_and_send`], in [`crate::netted`]).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, Currency, Fill, Instrument, InstrumentId, Order, OrderEvent, OrderRequest,
    OrderStatus, Position, Price, Side, StrategyId,
};
use tessera_risk::{RiskApproved, RiskState};
use tessera_storage::{Store, StoredInstrumentOrder};

use crate::broker::{Broker, BrokerEvent};
use crate::error::{Error, Result};

/// Key of the kill switch in the stored state.
pub const KILL_SWITCH_KEY: &str = "kill_switch";
/// Prefix of per-instrument trading halts in the stored state.
pub const HALT_PREFIX: &str = "halt:";
/// Key of the P&L at the start of the current UTC day (the daily-loss baseline).
pub const DAY_START_KEY: &str = "risk:day_start";

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// P&L of one (strategy, instrument) at the start of the UTC day.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct DayStart {
    strategy: StrategyId,
    instrument: InstrumentId,
    /// Realised P&L less commissions, account currency.
    #[serde(with = "rust_decimal::serde::str")]
    realized: Decimal,
    /// Open P&L at the mark of that moment (zero without a mark).
    #[serde(with = "rust_decimal::serde::str")]
    open: Decimal,
    /// Whether `open` was valued at a mark.
    marked: bool,
}

/// The stored baseline: the UTC day (days since 1970) and every position's P&L when it began.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct DayBaseline {
    day: i64,
    entries: Vec<DayStart>,
}

/// What changed when a broker event was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The order after the change.
    pub order: Order,
    /// The fill booked, for fill events.
    pub fill: Option<Fill>,
}

/// What [`OrderStack::recover`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Orders stored but never sent, now marked rejected with reason "never sent".
    pub never_sent: Vec<ClientOrderId>,
    /// Orders the broker knows, brought up to date.
    pub confirmed: Vec<ClientOrderId>,
    /// Fills the broker reported that were not booked yet.
    pub fills_booked: usize,
}

/// The order stack of one broker account.
#[derive(Debug)]
pub struct OrderStack {
    pub(crate) store: Store,
    pub(crate) broker: String,
    pub(crate) currency: Currency,
    pub(crate) instruments: BTreeMap<InstrumentId, Instrument>,
    /// Strategy orders not yet terminal (netted ones included).
    pub(crate) open: BTreeMap<ClientOrderId, Order>,
    pub(crate) positions: BTreeMap<(StrategyId, InstrumentId), Position>,
    halted: BTreeMap<InstrumentId, String>,
    kill_switch: bool,
    /// P&L at the start of the current UTC day, for the daily-loss limits.
    day: DayBaseline,
    /// Instrument orders not yet terminal, with their allocations (see [`crate::netted`]).
    pub(crate) instrument_open: BTreeMap<ClientOrderId, StoredInstrumentOrder>,
    /// Open strategy order → the open instrument order that carries it.
    pub(crate) netted: BTreeMap<ClientOrderId, ClientOrderId>,
}

impl OrderStack {
    /// Load open orders, positions, halts and the kill switch of `broker` from `store`.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn load(
        store: Store,
        broker: &str,
        currency: Currency,
        instruments: &[Instrument],
    ) -> Result<Self> {
        let open = store
            .open_orders()
            .await?
            .into_iter()
            .filter(|o| o.broker == broker)
            .map(|o| (o.order.client_order_id.clone(), o.order))
            .collect();
        let positions = store
            .positions()
            .await?
            .into_iter()
            .map(|p| ((p.strategy, p.position.instrument), p.position))
            .collect();
        let mut halted = BTreeMap::new();
        for key in store.state_keys(HALT_PREFIX).await? {
            if let (Some(reason), Some(inst)) =
                (store.state(&key).await?, key.strip_prefix(HALT_PREFIX))
                && let Some((sym, venue)) = inst.rsplit_once('.')
                && let Ok(id) = InstrumentId::parse(sym, venue)
            {
                halted.insert(id, reason);
            }
        }
        let kill_switch = store.state(KILL_SWITCH_KEY).await?.as_deref() == Some("on");
        // An unreadable baseline is rebuilt at the next roll (losses earlier that day are then not counted).
        let day = store
            .state(DAY_START_KEY)
            .await?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(DayBaseline {
                day: i64::MIN,
                entries: Vec::new(),
            });
        let instrument_open: BTreeMap<ClientOrderId, StoredInstrumentOrder> = store
            .instrument_orders(broker, true)
            .await?
            .into_iter()
            .map(|io| (io.order.client_order_id.clone(), io))
            .collect();
        let netted = instrument_open
            .values()
            .flat_map(|io| {
                io.allocations
                    .iter()
                    .map(|a| (a.strategy_order.clone(), io.order.client_order_id.clone()))
            })
            .collect();
        Ok(Self {
            instrument_open,
            netted,
            store,
            broker: broker.to_string(),
            currency,
            instruments: instruments.iter().map(|i| (i.id, i.clone())).collect(),
            open,
            positions,
            halted,
            kill_switch,
            day,
        })
    }

    /// Start a new UTC day when `now` is past midnight: store every
    /// position's P&L (realised, and open at `mark`) as the baseline the
    /// daily-loss limits measure from. Returns whether a new day began.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn roll_day(
        &mut self,
        now: UnixNanos,
        mark: &dyn Fn(&InstrumentId) -> Option<Price>,
    ) -> Result<bool> {
        let today = now.0.div_euclid(NANOS_PER_DAY);
        if today == self.day.day {
            return Ok(false);
        }
        let entries = self
            .positions
            .iter()
            .map(|((strategy, instrument), p)| {
                let open = mark(instrument).and_then(|px| p.unrealized_pnl(px).ok());
                DayStart {
                    strategy: strategy.clone(),
                    instrument: *instrument,
                    realized: p.realized_pnl.amount - p.commissions.amount,
                    open: open.map_or(Decimal::ZERO, |m| m.amount),
                    marked: open.is_some(),
                }
            })
            .collect();
        let baseline = DayBaseline {
            day: today,
            entries,
        };
        let text = serde_json::to_string(&baseline).map_err(|e| Error::Broker {
            broker: self.broker.clone(),
            message: format!("daily baseline: {e}"),
            retryable: false,
        })?;
        self.store.set_state(DAY_START_KEY, &text).await?;
        self.day = baseline;
        Ok(true)
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Orders not yet terminal.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.open.values()
    }

    /// Every (strategy, instrument) position.
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<(StrategyId, InstrumentId), Position> {
        &self.positions
    }

    /// Net position of all strategies in `instrument`.
    #[must_use]
    pub fn instrument_position(&self, instrument: &InstrumentId) -> Decimal {
        self.positions
            .iter()
            .filter(|((_, i), _)| i == instrument)
            .map(|(_, p)| p.quantity)
            .sum()
    }

    /// Whether the kill switch is on (as last read or set by this process).
    #[must_use]
    pub fn kill_switch(&self) -> bool {
        self.kill_switch
    }

    /// Re-read the kill switch and halts from storage (another process, e.g. the CLI, may change them).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn refresh_switches(&mut self) -> Result<bool> {
        self.kill_switch = self.store.state(KILL_SWITCH_KEY).await?.as_deref() == Some("on");
        let keys = self.store.state_keys(HALT_PREFIX).await?;
        self.halted
            .retain(|id, _| keys.contains(&format!("{HALT_PREFIX}{id}")));
        Ok(self.kill_switch)
    }

    /// Halt trading in `instrument` (persisted) until [`OrderStack::resume`].
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn halt(&mut self, instrument: InstrumentId, reason: &str) -> Result<()> {
        self.store
            .set_state(&format!("{HALT_PREFIX}{instrument}"), reason)
            .await?;
        self.halted.insert(instrument, reason.to_string());
        Ok(())
    }

    /// Lift a halt.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn resume(&mut self, instrument: &InstrumentId) -> Result<()> {
        self.store
            .delete_state(&format!("{HALT_PREFIX}{instrument}"))
            .await?;
        self.halted.remove(instrument);
        Ok(())
    }

    /// What the risk checks need for a `strategy` order in `instrument`.
    #[must_use]
    pub fn risk_state(
        &self,
        strategy: &StrategyId,
        instrument: &InstrumentId,
        last_price: Option<Price>,
        now: UnixNanos,
    ) -> RiskState {
        let mut s = RiskState {
            now,
            kill_switch: self.kill_switch,
            halted: self.halted.get(instrument).cloned(),
            last_price,
            multiplier: self
                .instruments
                .get(instrument)
                .map_or(Decimal::ONE, |i| i.multiplier),
            instrument_position: self.instrument_position(instrument),
            strategy_position: self
                .positions
                .get(&(strategy.clone(), *instrument))
                .map_or(Decimal::ZERO, |p| p.quantity),
            open_orders: self.open.len(),
            ..RiskState::default()
        };
        for o in self
            .open
            .values()
            .filter(|o| o.request.instrument == *instrument)
        {
            let leaves = o.leaves_quantity().as_decimal();
            let mine = o.request.strategy == *strategy;
            match o.request.side {
                Side::Buy => {
                    s.instrument_working_buy += leaves;
                    if mine {
                        s.strategy_working_buy += leaves;
                    }
                }
                Side::Sell => {
                    s.instrument_working_sell += leaves;
                    if mine {
                        s.strategy_working_sell += leaves;
                    }
                }
            }
        }
        // Daily P&L: everything now less the baseline stored at the start of the UTC day
        // (`roll_day`). Open P&L is known only for `instrument` (the one with a price here).
        let base: BTreeMap<(&StrategyId, &InstrumentId), &DayStart> = self
            .day
            .entries
            .iter()
            .map(|d| ((&d.strategy, &d.instrument), d))
            .collect();
        let pnl = |filter: &dyn Fn(&StrategyId) -> bool| -> Decimal {
            self.positions
                .iter()
                .filter(|((st, _), _)| filter(st))
                .map(|((st, i), p)| {
                    let b = base.get(&(st, i));
                    let mut total = p.realized_pnl.amount
                        - p.commissions.amount
                        - b.map_or(Decimal::ZERO, |b| b.realized);
                    if i == instrument
                        && let Some(m) = last_price.and_then(|px| p.unrealized_pnl(px).ok())
                    {
                        total +=
                            m.amount - b.filter(|b| b.marked).map_or(Decimal::ZERO, |b| b.open);
                    }
                    total
                })
                .sum()
        };
        s.strategy_daily_pnl = pnl(&|st| st == strategy);
        s.account_daily_pnl = pnl(&|_| true);
        s
    }

    fn position_mut(&mut self, strategy: &StrategyId, instrument: InstrumentId) -> &mut Position {
        let mult = self
            .instruments
            .get(&instrument)
            .map_or(Decimal::ONE, |i| i.multiplier);
        let ccy = self.currency;
        self.positions
            .entry((strategy.clone(), instrument))
            .or_insert_with(|| Position::flat(instrument, mult, ccy))
    }

    /// Store an approved order as `created`. Nothing is sent.
    ///
    /// # Errors
    /// [`Error::Storage`] (e.g. the id is taken), [`Error::Model`] for an inconsistent request.
    pub async fn create(
        &mut self,
        id: ClientOrderId,
        approved: RiskApproved<OrderRequest>,
        now: UnixNanos,
    ) -> Result<Order> {
        let order = Order::new(id, approved.into_inner(), now)?;
        self.store.insert_order(&self.broker, &order).await?;
        self.open
            .insert(order.client_order_id.clone(), order.clone());
        Ok(order)
    }

    /// Store an order that risk (or the engine) refused, with the reason; it is never sent.
    ///
    /// # Errors
    /// [`Error::Storage`], [`Error::Model`].
    pub async fn store_refused(
        &mut self,
        id: ClientOrderId,
        request: OrderRequest,
        reason: &str,
        now: UnixNanos,
    ) -> Result<Order> {
        let mut order = Order::new(id, request, now)?;
        order.apply(
            &OrderEvent::Rejected {
                reason: reason.to_string(),
            },
            now,
        )?;
        self.store.insert_order(&self.broker, &order).await?;
        Ok(order)
    }

    async fn transition(
        &mut self,
        id: &ClientOrderId,
        event: &OrderEvent,
        detail: Option<&str>,
        now: UnixNanos,
    ) -> Result<Order> {
        let order = self
            .open
            .get_mut(id)
            .ok_or_else(|| Error::UnknownOrder(id.to_string()))?;
        let mut next = order.clone();
        next.apply(event, now)?;
        if next == *order {
            return Ok(next);
        }
        self.store.update_order(&next, detail).await?;
        if next.status.is_terminal() {
            self.open.remove(id);
        } else {
            *order = next.clone();
        }
        Ok(next)
    }

    /// Store that the order is about to be handed to the broker.
    ///
    /// # Errors
    /// [`Error::UnknownOrder`], [`Error::Model`], [`Error::Storage`].
    pub async fn mark_submitted(&mut self, id: &ClientOrderId, now: UnixNanos) -> Result<Order> {
        self.transition(id, &OrderEvent::Submitted, None, now).await
    }

    /// Store, then send: create the order, mark it submitted, hand it to the
    /// broker and apply the broker's immediate answer.
    ///
    /// # Errors
    /// Storage failures (nothing sent) or broker transport failures (the
    /// order stays `submitted`; recovery settles it).
    pub async fn send<B: Broker>(
        &mut self,
        broker: &mut B,
        id: ClientOrderId,
        approved: RiskApproved<OrderRequest>,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        self.create(id.clone(), approved, now).await?;
        let order = self.mark_submitted(&id, now).await?;
        let events = broker.submit(&order, now).await?;
        self.apply_all(&events, now).await
    }

    /// Store a cancel request, then ask the broker.
    ///
    /// # Errors
    /// As [`OrderStack::send`].
    pub async fn cancel<B: Broker>(
        &mut self,
        broker: &mut B,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        if let Some(io) = self.netted.get(id).cloned() {
            return self.cancel_instrument(broker, &io, now).await;
        }
        let order = self
            .open
            .get(id)
            .ok_or_else(|| Error::UnknownOrder(id.to_string()))?;
        if order.status == OrderStatus::Created {
            // Never left us: cancel locally.
            let o = self
                .transition(
                    id,
                    &OrderEvent::Cancelled,
                    Some("cancelled before sending"),
                    now,
                )
                .await?;
            return Ok(vec![Applied {
                order: o,
                fill: None,
            }]);
        }
        self.transition(id, &OrderEvent::CancelRequested, None, now)
            .await?;
        let events = broker.cancel(id, now).await?;
        self.apply_all(&events, now).await
    }

    /// Apply several broker events in order.
    ///
    /// # Errors
    /// As [`OrderStack::apply`].
    pub async fn apply_all(
        &mut self,
        events: &[BrokerEvent],
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if self.instrument_open.contains_key(e.order_id()) {
                out.extend(self.apply_instrument(e, now).await?);
            } else if let Some(a) = self.apply(e, now).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Store a broker event. Returns `None` when it changes nothing (a
    /// repeated fill or acknowledgement, news about an order already closed).
    /// An event about an instrument order is rolled up to its strategy
    /// orders; the last change is returned ([`OrderStack::apply_all`] returns all).
    ///
    /// # Errors
    /// [`Error::Storage`]; [`Error::Model`] for a move the lifecycle forbids.
    pub async fn apply(&mut self, event: &BrokerEvent, now: UnixNanos) -> Result<Option<Applied>> {
        let id = event.order_id();
        if self.instrument_open.contains_key(id) {
            return Ok(self.apply_instrument(event, now).await?.pop());
        }
        let Some(current) = self.open.get(id) else {
            tracing::debug!(order = %id, "broker event for an order that is not open here; ignored");
            return Ok(None);
        };
        let order = match event {
            BrokerEvent::Fill(fill) => {
                let mut next = current.clone();
                match next.apply_fill(fill) {
                    Ok(()) => {}
                    Err(tessera_model::Error::DuplicateFill { .. }) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
                next.updated_at = now.max(next.updated_at);
                let strategy = next.request.strategy.clone();
                let mut position = self.position_mut(&strategy, fill.instrument).clone();
                position.apply_fill(fill)?;
                let booked = self
                    .store
                    .book_fill(&self.broker, fill, &next, &position)
                    .await?;
                if booked {
                    *self.position_mut(&strategy, fill.instrument) = position;
                }
                if next.status.is_terminal() {
                    self.open.remove(id);
                } else {
                    self.open.insert(id.clone(), next.clone());
                }
                if !booked {
                    return Ok(None);
                }
                return Ok(Some(Applied {
                    order: next,
                    fill: Some(fill.clone()),
                }));
            }
            BrokerEvent::Accepted {
                broker_order_id, ..
            } => {
                if current.status == OrderStatus::CancelRequested {
                    // A late or replayed acknowledgement (stream reconnect) after we asked to cancel.
                    return Ok(None);
                }
                if current.status == OrderStatus::Created {
                    // Accepted implies it was submitted; store both steps.
                    self.transition(id, &OrderEvent::Submitted, None, now)
                        .await?;
                }
                self.transition(
                    id,
                    &OrderEvent::Accepted {
                        broker_order_id: broker_order_id.clone(),
                    },
                    None,
                    now,
                )
                .await?
            }
            BrokerEvent::Rejected { reason, .. } => {
                self.transition(
                    id,
                    &OrderEvent::Rejected {
                        reason: reason.clone(),
                    },
                    Some(reason),
                    now,
                )
                .await?
            }
            BrokerEvent::Cancelled { reason, .. } => {
                self.transition(id, &OrderEvent::Cancelled, reason.as_deref(), now)
                    .await?
            }
            BrokerEvent::Expired { .. } => {
                self.transition(id, &OrderEvent::Expired, None, now).await?
            }
        };
        Ok(Some(Applied { order, fill: None }))
    }

    /// Settle every open order with the broker after a start: book fills we
    /// missed, confirm orders the broker knows, and mark orders it does not
    /// know as never sent.
    ///
    /// # Errors
    /// Storage or broker failures; run again (it is idempotent).
    pub async fn recover<B: Broker>(
        &mut self,
        broker: &mut B,
        now: UnixNanos,
    ) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        if self.open.is_empty() && self.instrument_open.is_empty() {
            return Ok(report);
        }
        let since = self
            .open
            .values()
            .map(|o| o.created_at)
            .chain(self.instrument_open.values().map(|io| io.order.created_at))
            .min()
            .unwrap_or(now);
        for fill in broker.fills_since(since).await? {
            // A fill of an instrument order is shared out again (strategy fills re-derived).
            if !self
                .apply_all(&[BrokerEvent::Fill(fill)], now)
                .await?
                .is_empty()
            {
                report.fills_booked += 1;
            }
        }
        let at_broker: BTreeMap<ClientOrderId, _> = broker
            .open_orders()
            .await?
            .into_iter()
            .map(|o| (o.client_order_id.clone(), o))
            .collect();
        self.recover_instrument_orders(broker, &at_broker, &mut report, now)
            .await?;
        let ids: Vec<ClientOrderId> = self.open.keys().cloned().collect();
        for id in ids {
            if self.netted.contains_key(&id) {
                // Its fate is its instrument order's, settled above.
                continue;
            }
            let Some(order) = self.open.get(&id) else {
                continue;
            };
            let status = order.status;
            if let Some(b) = at_broker.get(&id) {
                if status == OrderStatus::Created || status == OrderStatus::Submitted {
                    self.apply(
                        &BrokerEvent::Accepted {
                            id: id.clone(),
                            broker_order_id: b.broker_order_id.clone(),
                        },
                        now,
                    )
                    .await?;
                }
                report.confirmed.push(id);
            } else if status == OrderStatus::Submitted
                && let Some(b) = broker.lookup(&id).await?
            {
                // The broker has it but it is no longer open: it finished while we were down.
                self.settle_finished(&id, &b, now).await?;
                report.confirmed.push(id);
            } else if status == OrderStatus::Created || status == OrderStatus::Submitted {
                let reason = "never sent: not known to the broker after a restart";
                self.transition(
                    &id,
                    &OrderEvent::Rejected {
                        reason: reason.into(),
                    },
                    Some(reason),
                    now,
                )
                .await?;
                report.never_sent.push(id);
            } else {
                // Working here, gone at the broker, and its fills are booked above: it was cancelled there.
                self.transition(
                    &id,
                    &OrderEvent::Cancelled,
                    Some("no longer open at the broker"),
                    now,
                )
                .await?;
                report.confirmed.push(id);
            }
        }
        Ok(report)
    }

    /// Bring a `submitted` order the broker finished while we were down to
    /// its final status (its fills were booked from `fills_since` already).
    pub(crate) async fn settle_finished(
        &mut self,
        id: &ClientOrderId,
        at_broker: &crate::broker::BrokerOrder,
        now: UnixNanos,
    ) -> Result<()> {
        if !self.open.contains_key(id) && !self.instrument_open.contains_key(id) {
            return Ok(());
        }
        self.apply(
            &BrokerEvent::Accepted {
                id: id.clone(),
                broker_order_id: at_broker.broker_order_id.clone(),
            },
            now,
        )
        .await?;
        let event = match at_broker.status {
            OrderStatus::Expired => BrokerEvent::Expired { id: id.clone() },
            OrderStatus::Rejected => BrokerEvent::Rejected {
                id: id.clone(),
                reason: "rejected by the broker (found after a restart)".into(),
            },
            // Filled with fills we could not fetch, or cancelled: it works no more.
            _ => BrokerEvent::Cancelled {
                id: id.clone(),
                reason: Some("no longer open at the broker".into()),
            },
        };
        self.apply(&event, now).await?;
        Ok(())
    }

    /// End-of-day housekeeping: orders that never reached the broker and
    /// are older than `max_age_nanos` expire. Returns how many.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn housekeeping(&mut self, now: UnixNanos, max_age_nanos: i64) -> Result<usize> {
        let stale: Vec<ClientOrderId> = self
            .open
            .values()
            .filter(|o| o.status == OrderStatus::Created && now.0 - o.created_at.0 > max_age_nanos)
            .map(|o| o.client_order_id.clone())
            .collect();
        for id in &stale {
            self.transition(
                id,
                &OrderEvent::Expired,
                Some("end-of-day housekeeping: stale, never sent"),
                now,
            )
            .await?;
        }
        Ok(stale.len())
    }

    /// Set the kill switch (persisted). Turning it on does not cancel orders by
    /// itself: callers cancel every open order with [`OrderStack::cancel_all`].
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn set_kill_switch(&mut self, on: bool) -> Result<()> {
        self.store
            .set_state(KILL_SWITCH_KEY, if on { "on" } else { "off" })
            .await?;
        self.kill_switch = on;
        Ok(())
    }

    /// Cancel every open order.
    ///
    /// # Errors
    /// The first storage or broker failure.
    pub async fn cancel_all<B: Broker>(
        &mut self,
        broker: &mut B,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        let ids: Vec<ClientOrderId> = self
            .open
            .values()
            .filter(|o| o.status != OrderStatus::CancelRequested)
            .map(|o| o.client_order_id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if !self.open.contains_key(&id) {
                // Closed meanwhile with the instrument order of another one.
                continue;
            }
            out.extend(self.cancel(broker, &id, now).await?);
        }
        Ok(out)
    }
}
