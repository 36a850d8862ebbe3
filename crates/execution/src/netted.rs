//! The netted path of the [`OrderStack`]: strategy orders → instrument
//! orders → broker orders, and fills rolling back up.
//!
//! When several strategies share one broker account, the market orders they
//! ask for on one event are batched: each is stored as a `created` strategy
//! order when risk approves it (as on the one-to-one path), then
//! [`OrderStack::net_and_send`] nets the batch with [`crate::netting::net`].
//! In **one** transaction ([`tessera_storage::Store::write_stack`]) it
//! stores every strategy order as `submitted`, the crossed pairs as fills of
//! both strategy orders at the reference price (no broker involved), and one
//! `submitted` instrument order per instrument with its allocation link; only
//! then does the instrument order go to the broker under its own client
//! order id. A broker fill of an instrument order is shared out over its
//! allocations (first come first filled, commission pro rata) and stored in
//! one transaction with the strategy fills, the strategy orders and the
//! strategy positions, keyed by the broker's trade id.
//!
//! A crash therefore leaves either a batch of `created` strategy orders
//! (never sent: recovery rejects them), or a stored instrument order that
//! the broker may or may not have (recovery asks the broker, as for a
//! strategy order, and on "never sent" rejects or cancels the strategy
//! orders behind it), or a broker fill not yet shared out (recovery fetches
//! the broker's fills and books it, deriving the strategy fills again).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    ClientOrderId, Fill, InstrumentId, Money, Order, OrderEvent, OrderRequest, OrderStatus,
    OrderType, Position, Price, Quantity, StrategyId, TimeInForce, TradeId,
};
use tessera_risk::RiskState;
use tessera_storage::{NETTED_STRATEGY, StackWrite, StoredAllocation, StoredInstrumentOrder};

use crate::broker::{Broker, BrokerEvent};
use crate::error::{Error, Result};
use crate::netting::{self, Allocation, InstrumentOrder, StrategyOrder};
use crate::stack::{Applied, OrderStack};

/// How [`OrderStack::net_and_send`] names and checks what it creates.
pub struct NetRequest<'a> {
    /// The id of the instrument order for an instrument (the id the broker sees).
    pub instrument_order_id: &'a mut dyn FnMut(&InstrumentId) -> Result<ClientOrderId>,
    /// Prefix of the trade ids of internal crosses (`<prefix>-x<n>b` / `…s`); unique per batch.
    pub cross_prefix: String,
    /// The reference price of internal crosses (the last price); `None` sends
    /// the instrument's orders to the broker uncrossed.
    pub reference_price: &'a dyn Fn(&InstrumentId) -> Option<Price>,
    /// Account-level risk check of a net instrument order; `Err(reason)` refuses it.
    pub check: &'a dyn Fn(&OrderRequest, &RiskState) -> std::result::Result<(), String>,
}

impl std::fmt::Debug for NetRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetRequest")
            .field("cross_prefix", &self.cross_prefix)
            .finish_non_exhaustive()
    }
}

/// Changes of one step, staged on copies and applied to the stack only after
/// the transaction that stores them committed.
#[derive(Default)]
struct Staged {
    orders: BTreeMap<ClientOrderId, Order>,
    positions: BTreeMap<(StrategyId, InstrumentId), Position>,
    instruments: BTreeMap<ClientOrderId, StoredInstrumentOrder>,
    write: StackWrite,
    applied: Vec<Applied>,
}

impl OrderStack {
    /// The open instrument orders with their allocations.
    pub fn instrument_orders(&self) -> impl Iterator<Item = &StoredInstrumentOrder> {
        self.instrument_open.values()
    }

    /// The instrument order carrying an open strategy order, if it was netted.
    #[must_use]
    pub fn instrument_order_of(&self, strategy_order: &ClientOrderId) -> Option<&ClientOrderId> {
        self.netted.get(strategy_order)
    }

    fn staged_order(&self, st: &Staged, id: &ClientOrderId) -> Result<Order> {
        st.orders
            .get(id)
            .or_else(|| self.open.get(id))
            .cloned()
            .ok_or_else(|| Error::UnknownOrder(id.to_string()))
    }

    /// Move a strategy order on by `event`, recording the new state (and an event row).
    fn stage_transition(
        &self,
        st: &mut Staged,
        id: &ClientOrderId,
        event: &OrderEvent,
        detail: Option<String>,
        now: UnixNanos,
    ) -> Result<()> {
        let mut o = self.staged_order(st, id)?;
        let before = o.clone();
        o.apply(event, now)?;
        if o != before {
            st.write.order_updates.push((o.clone(), detail));
            st.applied.push(Applied {
                order: o.clone(),
                fill: None,
            });
            st.orders.insert(id.clone(), o);
        }
        Ok(())
    }

    /// Book a strategy fill: the order, the strategy's position, the fill row.
    fn stage_fill(&self, st: &mut Staged, fill: &Fill) -> Result<()> {
        let mut o = self.staged_order(st, &fill.client_order_id)?;
        o.apply_fill(fill)?;
        o.updated_at = fill.ts_event.max(o.updated_at);
        let strategy = o.request.strategy.clone();
        let key = (strategy.clone(), fill.instrument);
        let mut p = match st.positions.get(&key).or_else(|| self.positions.get(&key)) {
            Some(p) => p.clone(),
            None => Position::flat(
                fill.instrument,
                self.instruments
                    .get(&fill.instrument)
                    .map_or(Decimal::ONE, |i| i.multiplier),
                self.currency,
            ),
        };
        p.apply_fill(fill)?;
        st.write.order_updates.push((
            o.clone(),
            Some(format!(
                "fill {} {} @ {}",
                fill.trade_id, fill.quantity, fill.price
            )),
        ));
        st.write.fills.push((strategy, fill.clone()));
        st.applied.push(Applied {
            order: o.clone(),
            fill: Some(fill.clone()),
        });
        st.orders.insert(fill.client_order_id.clone(), o);
        st.positions.insert(key, p);
        Ok(())
    }

    /// Store the staged step in one transaction, then make it the stack's state.
    /// Returns `None` when storage found it booked already (a replay).
    async fn commit(&mut self, mut st: Staged) -> Result<Option<Vec<Applied>>> {
        for ((s, _), p) in &st.positions {
            let last = st
                .write
                .fills
                .iter()
                .rev()
                .find(|(_, f)| f.instrument == p.instrument)
                .map(|(_, f)| f.price);
            st.write.positions.push((s.clone(), p.clone(), last));
        }
        if !st.write.is_empty() && !self.store.write_stack(&self.broker, &st.write).await? {
            return Ok(None);
        }
        for (id, o) in st.orders {
            if o.status.is_terminal() {
                self.open.remove(&id);
                self.netted.remove(&id);
            } else {
                self.open.insert(id, o);
            }
        }
        for (k, p) in st.positions {
            self.positions.insert(k, p);
        }
        for io in st.write.new_instrument_orders {
            for a in &io.allocations {
                self.netted
                    .insert(a.strategy_order.clone(), io.order.client_order_id.clone());
            }
            self.instrument_open
                .insert(io.order.client_order_id.clone(), io);
        }
        for (id, io) in st.instruments {
            if io.order.status.is_terminal() {
                for a in &io.allocations {
                    self.netted.remove(&a.strategy_order);
                }
                self.instrument_open.remove(&id);
            } else {
                self.instrument_open.insert(id, io);
            }
        }
        Ok(Some(st.applied))
    }

    /// Net a batch of `created` strategy market orders (one event's), book
    /// the internal crosses, store one instrument order per instrument and
    /// only then send each to `broker`. Orders of the batch that are not
    /// open (cancelled meanwhile) are left out.
    ///
    /// # Errors
    /// Storage failures (nothing sent); a broker failure that is not
    /// retryable. A retryable hand-off failure is logged and the instrument
    /// order stays `submitted` (the broker's stream or recovery settles it).
    pub async fn net_and_send<B: Broker>(
        &mut self,
        broker: &mut B,
        batch: &[ClientOrderId],
        req: NetRequest<'_>,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        let orders: Vec<Order> = batch
            .iter()
            .filter_map(|id| self.open.get(id))
            .filter(|o| {
                o.status == OrderStatus::Created && !self.netted.contains_key(&o.client_order_id)
            })
            .cloned()
            .collect();
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let mut st = Staged::default();
        let mut crossable = Vec::new();
        let mut alone = Vec::new();
        for o in &orders {
            self.stage_transition(
                &mut st,
                &o.client_order_id,
                &OrderEvent::Submitted,
                Some("netting".into()),
                now,
            )?;
            let so = StrategyOrder {
                id: o.client_order_id.clone(),
                strategy: o.request.strategy.clone(),
                instrument: o.request.instrument,
                side: o.request.side,
                quantity: o.request.quantity,
            };
            if o.request.order_type == OrderType::Market
                && (req.reference_price)(&o.request.instrument).is_some()
            {
                crossable.push(so);
            } else {
                alone.push(vec![so]);
            }
        }
        // Engine updates for `submitted` are noise; only crosses, refusals and broker answers are reported.
        st.applied.clear();
        let mut plans = vec![netting::net(&crossable)?];
        for one in &alone {
            plans.push(netting::net(one)?);
        }
        let mut to_send = Vec::new();
        let mut k = 0usize;
        for plan in plans {
            for c in &plan.crossed {
                let Some(px) = (req.reference_price)(&c.instrument) else {
                    continue;
                };
                k += 1;
                let zero = Money::new(Decimal::ZERO, self.currency);
                for (id, side, tag) in [
                    (&c.buy, tessera_model::Side::Buy, 'b'),
                    (&c.sell, tessera_model::Side::Sell, 's'),
                ] {
                    let fill = Fill {
                        client_order_id: id.clone(),
                        trade_id: TradeId::new(&format!("{}-x{k}{tag}", req.cross_prefix))?,
                        instrument: c.instrument,
                        side,
                        price: px,
                        quantity: c.quantity,
                        commission: zero,
                        ts_event: now,
                    };
                    self.stage_fill(&mut st, &fill)?;
                }
            }
            for io in plan.instrument_orders {
                let first = orders
                    .iter()
                    .find(|o| o.client_order_id == io.allocations[0].id)
                    .map(|o| {
                        (
                            o.request.order_type,
                            o.request.limit_price,
                            o.request.stop_price,
                            o.request.time_in_force,
                        )
                    })
                    .unwrap_or((OrderType::Market, None, None, TimeInForce::Day));
                let request = OrderRequest {
                    strategy: StrategyId::new(NETTED_STRATEGY)?,
                    instrument: io.instrument,
                    side: io.side,
                    order_type: first.0,
                    quantity: io.quantity,
                    limit_price: first.1,
                    stop_price: first.2,
                    time_in_force: first.3,
                };
                let mut state = self.risk_state(
                    &request.strategy,
                    &io.instrument,
                    (req.reference_price)(&io.instrument),
                    now,
                );
                // The batch's own strategy orders are what this order carries: not working besides it.
                for o in orders
                    .iter()
                    .filter(|o| o.request.instrument == io.instrument)
                {
                    match o.request.side {
                        tessera_model::Side::Buy => {
                            state.instrument_working_buy -= o.request.quantity.as_decimal()
                        }
                        tessera_model::Side::Sell => {
                            state.instrument_working_sell -= o.request.quantity.as_decimal()
                        }
                    }
                    state.open_orders = state.open_orders.saturating_sub(1);
                }
                if let Err(reason) = (req.check)(&request, &state) {
                    let reason = format!("risk: net instrument order: {reason}");
                    tracing::warn!(instrument = %io.instrument, %reason, "net instrument order refused");
                    for a in &io.allocations {
                        let filled = !self.staged_order(&st, &a.id)?.filled_quantity.is_zero();
                        let ev = if filled {
                            OrderEvent::Cancelled
                        } else {
                            OrderEvent::Rejected {
                                reason: reason.clone(),
                            }
                        };
                        self.stage_transition(&mut st, &a.id, &ev, Some(reason.clone()), now)?;
                    }
                    continue;
                }
                let id = (req.instrument_order_id)(&io.instrument)?;
                let mut order = Order::new(id, request, now)?;
                order.apply(&OrderEvent::Submitted, now)?;
                for a in &io.allocations {
                    let d = format!("netted into instrument order {}", order.client_order_id);
                    if let Some(last) = st
                        .write
                        .order_updates
                        .iter_mut()
                        .rev()
                        .find(|(o, _)| o.client_order_id == a.id)
                    {
                        // Name the instrument order on the strategy order's latest stored change.
                        last.1 = Some(d);
                    }
                }
                let stored = StoredInstrumentOrder {
                    broker: self.broker.clone(),
                    order: order.clone(),
                    allocations: io
                        .allocations
                        .iter()
                        .map(|a| StoredAllocation {
                            strategy_order: a.id.clone(),
                            quantity: a.quantity,
                            filled_quantity: Quantity::ZERO,
                        })
                        .collect(),
                };
                st.write.new_instrument_orders.push(stored);
                to_send.push(order);
            }
        }
        let mut out = self
            .commit(st)
            .await?
            .ok_or_else(|| Error::UnknownOrder("netting batch booked twice".into()))?;
        for order in to_send {
            match broker.submit(&order, now).await {
                Ok(events) => out.extend(self.apply_all(&events, now).await?),
                // Stored as submitted: the broker's stream (an acknowledgement) or the next
                // start's recovery (lookup by id) settles it. The batch's crosses are booked
                // and reported either way, and the other instruments' orders still go.
                Err(e) if e.is_retryable() => {
                    tracing::warn!(order = %order.client_order_id, error = %e, "instrument order hand-off failed; left submitted for the broker stream or recovery to settle");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Apply a broker event about an open instrument order: roll it up to
    /// the strategy orders it carries.
    pub(crate) async fn apply_instrument(
        &mut self,
        event: &BrokerEvent,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        let id = event.order_id().clone();
        let Some(io) = self.instrument_open.get(&id).cloned() else {
            return Ok(Vec::new());
        };
        let mut st = Staged::default();
        let mut next = io.clone();
        match event {
            BrokerEvent::Fill(fill) => {
                match next.order.apply_fill(fill) {
                    Ok(()) => {}
                    Err(tessera_model::Error::DuplicateFill { .. }) => return Ok(Vec::new()),
                    Err(e) => return Err(e.into()),
                }
                next.order.updated_at = now.max(next.order.updated_at);
                let plan = InstrumentOrder {
                    instrument: io.order.request.instrument,
                    side: io.order.request.side,
                    quantity: io.order.request.quantity,
                    allocations: io
                        .allocations
                        .iter()
                        .map(|a| Allocation {
                            id: a.strategy_order.clone(),
                            quantity: a.quantity,
                        })
                        .collect(),
                };
                let filled: BTreeMap<ClientOrderId, Quantity> = io
                    .allocations
                    .iter()
                    .map(|a| (a.strategy_order.clone(), a.filled_quantity))
                    .collect();
                let shares = netting::allocate(&plan, &filled, fill.quantity)?;
                let total = fill.quantity.as_decimal();
                let mut commission_left = fill.commission.amount;
                let n = shares.len();
                for (j, (sid, q)) in shares.into_iter().enumerate() {
                    let seq = io
                        .allocations
                        .iter()
                        .position(|a| a.strategy_order == sid)
                        .unwrap_or(j);
                    let commission = if j + 1 == n {
                        commission_left
                    } else {
                        (fill.commission.amount * q.as_decimal() / total).round_dp(8)
                    };
                    commission_left -= commission;
                    let strategy_fill = Fill {
                        client_order_id: sid.clone(),
                        trade_id: TradeId::new(&format!("{}#{seq}", fill.trade_id))?,
                        quantity: q,
                        commission: Money::new(commission, fill.commission.currency),
                        ..fill.clone()
                    };
                    if let Some(a) = next.allocations.get_mut(seq) {
                        a.filled_quantity = a.filled_quantity.checked_add(q)?;
                    }
                    if self.open.contains_key(&sid) || st.orders.contains_key(&sid) {
                        self.stage_fill(&mut st, &strategy_fill)?;
                    } else {
                        tracing::error!(order = %sid, instrument_order = %id, "fill for a strategy order that is no longer open; not attributed");
                    }
                }
                st.write.instrument_fill = Some(fill.clone());
            }
            BrokerEvent::Accepted {
                broker_order_id, ..
            } => {
                if next.order.status == OrderStatus::CancelRequested {
                    return Ok(Vec::new());
                }
                if next.order.status == OrderStatus::Created {
                    next.order.apply(&OrderEvent::Submitted, now)?;
                }
                next.order.apply(
                    &OrderEvent::Accepted {
                        broker_order_id: broker_order_id.clone(),
                    },
                    now,
                )?;
                for a in &io.allocations {
                    if let Some(o) = self.open.get(&a.strategy_order)
                        && matches!(o.status, OrderStatus::Created | OrderStatus::Submitted)
                    {
                        if o.status == OrderStatus::Created {
                            self.stage_transition(
                                &mut st,
                                &a.strategy_order,
                                &OrderEvent::Submitted,
                                None,
                                now,
                            )?;
                        }
                        self.stage_transition(
                            &mut st,
                            &a.strategy_order,
                            &OrderEvent::Accepted {
                                broker_order_id: broker_order_id.clone(),
                            },
                            Some(format!("instrument order {id} accepted")),
                            now,
                        )?;
                    }
                }
            }
            BrokerEvent::Rejected { reason, .. } => {
                next.order.apply(
                    &OrderEvent::Rejected {
                        reason: reason.clone(),
                    },
                    now,
                )?;
                self.stage_close(&mut st, &io, Some(reason), true, now)?;
            }
            BrokerEvent::Cancelled { reason, .. } => {
                next.order.apply(&OrderEvent::Cancelled, now)?;
                self.stage_close(&mut st, &io, reason.as_deref(), false, now)?;
            }
            BrokerEvent::Expired { .. } => {
                next.order.apply(&OrderEvent::Expired, now)?;
                for a in &io.allocations {
                    if self.open.contains_key(&a.strategy_order) {
                        self.stage_transition(
                            &mut st,
                            &a.strategy_order,
                            &OrderEvent::Expired,
                            Some(format!("instrument order {id} expired")),
                            now,
                        )?;
                    }
                }
            }
        }
        if next == io {
            return Ok(Vec::new());
        }
        st.write.instrument_updates.push(next.clone());
        st.instruments.insert(id, next);
        Ok(self.commit(st).await?.unwrap_or_default())
    }

    /// The instrument order will not fill further: close the strategy orders
    /// it carries (rejected when nothing filled and `reject`, else cancelled).
    fn stage_close(
        &self,
        st: &mut Staged,
        io: &StoredInstrumentOrder,
        reason: Option<&str>,
        reject: bool,
        now: UnixNanos,
    ) -> Result<()> {
        for a in &io.allocations {
            let Some(o) = st
                .orders
                .get(&a.strategy_order)
                .or_else(|| self.open.get(&a.strategy_order))
            else {
                continue;
            };
            let detail = format!(
                "instrument order {}: {}",
                io.order.client_order_id,
                reason.unwrap_or(if reject { "rejected" } else { "cancelled" })
            );
            let ev = if reject
                && o.filled_quantity.is_zero()
                && o.status != OrderStatus::CancelRequested
            {
                OrderEvent::Rejected {
                    reason: detail.clone(),
                }
            } else {
                OrderEvent::Cancelled
            };
            self.stage_transition(st, &a.strategy_order, &ev, Some(detail), now)?;
        }
        Ok(())
    }

    /// Store a cancel request on an open instrument order and the strategy
    /// orders it carries, then ask the broker (a netted order is cancelled
    /// with the whole instrument order: the broker knows no smaller part).
    pub(crate) async fn cancel_instrument<B: Broker>(
        &mut self,
        broker: &mut B,
        id: &ClientOrderId,
        now: UnixNanos,
    ) -> Result<Vec<Applied>> {
        let Some(io) = self.instrument_open.get(id).cloned() else {
            return Ok(Vec::new());
        };
        if io.order.status == OrderStatus::CancelRequested {
            return Ok(Vec::new());
        }
        let mut st = Staged::default();
        let mut next = io.clone();
        next.order.apply(&OrderEvent::CancelRequested, now)?;
        for a in &io.allocations {
            if let Some(o) = self.open.get(&a.strategy_order)
                && matches!(
                    o.status,
                    OrderStatus::Submitted | OrderStatus::Accepted | OrderStatus::PartiallyFilled
                )
            {
                self.stage_transition(
                    &mut st,
                    &a.strategy_order,
                    &OrderEvent::CancelRequested,
                    Some(format!("cancel of instrument order {id}")),
                    now,
                )?;
            }
        }
        st.write.instrument_updates.push(next.clone());
        st.instruments.insert(id.clone(), next);
        let mut out = self.commit(st).await?.unwrap_or_default();
        let events = broker.cancel(id, now).await?;
        out.extend(self.apply_all(&events, now).await?);
        Ok(out)
    }

    /// Recovery of open instrument orders after a start (fills were booked
    /// before): confirm the ones the broker knows, settle the ones it
    /// finished, and mark the ones it never saw as never sent, closing the
    /// strategy orders behind them.
    pub(crate) async fn recover_instrument_orders<B: Broker>(
        &mut self,
        broker: &mut B,
        at_broker: &BTreeMap<ClientOrderId, crate::broker::BrokerOrder>,
        report: &mut crate::stack::RecoveryReport,
        now: UnixNanos,
    ) -> Result<()> {
        let ids: Vec<ClientOrderId> = self.instrument_open.keys().cloned().collect();
        for id in ids {
            let Some(status) = self.instrument_open.get(&id).map(|io| io.order.status) else {
                continue;
            };
            if let Some(b) = at_broker.get(&id) {
                if matches!(status, OrderStatus::Created | OrderStatus::Submitted) {
                    self.apply_instrument(
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
                self.settle_finished(&id, &b, now).await?;
                report.confirmed.push(id);
            } else if matches!(status, OrderStatus::Created | OrderStatus::Submitted) {
                self.apply_instrument(
                    &BrokerEvent::Rejected {
                        id: id.clone(),
                        reason: "never sent: not known to the broker after a restart".into(),
                    },
                    now,
                )
                .await?;
                report.never_sent.push(id);
            } else {
                self.apply_instrument(
                    &BrokerEvent::Cancelled {
                        id: id.clone(),
                        reason: Some("no longer open at the broker".into()),
                    },
                    now,
                )
                .await?;
                report.confirmed.push(id);
            }
        }
        Ok(())
    }
}
