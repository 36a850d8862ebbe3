//! [`SimVenue`]: matching, costs and the venue-side account.

use std::borrow::Cow;

use rust_decimal::Decimal;
use tessera_core::UnixNanos;
use tessera_model::{
    Bar, ClientOrderId, Fill, Instrument, Money, OrderEvent, OrderStatus, OrderType, Price,
    Quantity, Quote, RoundingMode, Side, TimeInForce, TradeId,
};
use tessera_strategy::{OrderIntent, OrderModify, OrderQty, OrderUpdate};

use super::config::{FillModel, SimConfig, Slippage};
use super::path::{PathPos, bar_path, reach};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::venue::{Venue, VenueEvent};

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// A working order at the simulator.
#[derive(Clone, Debug)]
struct SimOrder {
    id: ClientOrderId,
    intent: OrderIntent,
    instrument: usize,
    status: OrderStatus,
    /// Units filled.
    filled: Decimal,
    /// Units ordered once known (fraction orders resolve at their first fill).
    total: Option<Decimal>,
    /// Stop already triggered (stop-limit now works as a limit).
    triggered: bool,
    /// UTC day of submission, for `Day` orders.
    day: i64,
    /// Bars seen since submission (0 until its first matching opportunity).
    bars_seen: u32,
    /// Submitted during the current bar's strategy callbacks (for close fills).
    fresh: bool,
}

/// The simulated venue.
#[derive(Debug)]
pub struct SimVenue {
    config: SimConfig,
    instruments: Vec<Instrument>,
    ledger: Option<Ledger>,
    orders: Vec<SimOrder>,
    /// Volume already filled per instrument in the current bar (for the participation cap).
    used_volume: Vec<Decimal>,
    next_trade: u64,
    now: UnixNanos,
}

impl SimVenue {
    /// A venue with these settings; instruments come with [`Venue::register`].
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            instruments: Vec::new(),
            ledger: None,
            orders: Vec::new(),
            used_volume: Vec::new(),
            next_trade: 0,
            now: UnixNanos(0),
        }
    }

    /// The venue-side account.
    ///
    /// # Errors
    /// [`Error::Venue`] before [`Venue::register`].
    pub fn ledger(&self) -> Result<&Ledger> {
        self.ledger
            .as_ref()
            .ok_or_else(|| Error::Venue("no instruments registered".into()))
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Book a fill that happened before a restart into the venue's account,
    /// so a persisted paper account resumes with its positions and cash.
    ///
    /// # Errors
    /// [`Error::Venue`] before [`Venue::register`]; the ledger's errors.
    pub fn restore_fill(&mut self, instrument: usize, fill: &Fill) -> Result<()> {
        self.ledger
            .as_mut()
            .ok_or_else(|| Error::Venue("no instruments registered".into()))?
            .apply_fill(instrument, fill)
    }

    fn update(
        &mut self,
        k: usize,
        event: &OrderEvent,
        reason: Option<Cow<'static, str>>,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        let o = &mut self.orders[k];
        o.status = o.status.transition(event).map_err(|(s, e)| {
            Error::Model(tessera_model::Error::InvalidTransition {
                order: o.id.to_string(),
                status: s.to_string(),
                event: e.to_string(),
            })
        })?;
        out.push(VenueEvent::Update(OrderUpdate {
            client_order_id: o.id.clone(),
            instrument: o.intent.instrument,
            status: o.status,
            filled_quantity: Quantity::new(o.filled)?,
            reason,
            ts: self.now,
        }));
        Ok(())
    }

    fn slip(&self, side: Side, price: Decimal, tick: Price) -> Decimal {
        let s = match side {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        };
        match self.config.slippage {
            Slippage::None => price,
            Slippage::Bps(bps) => price * (Decimal::ONE + s * bps / Decimal::from(10_000)),
            Slippage::Ticks(n) => price + s * Decimal::from(n) * tick.as_decimal(),
        }
    }

    /// Execute order `k` at `price` for as much as the rules allow. Returns whether it is done
    /// (filled, or cancelled for lack of margin).
    fn execute(
        &mut self,
        k: usize,
        price: Decimal,
        slippage: bool,
        volume: Option<Decimal>,
        out: &mut Vec<VenueEvent>,
    ) -> Result<bool> {
        let i = self.orders[k].instrument;
        // Copies of the few fields needed (an `Instrument` clone allocates its time zone).
        let (mult, lot, tick) = {
            let inst = &self.instruments[i];
            (inst.multiplier, inst.lot_size, inst.tick_size)
        };
        let side = self.orders[k].intent.side;
        let px = if slippage {
            self.slip(side, price, tick)
        } else {
            price
        };
        let price = Price::new(px)?;
        let Some(ledger) = self.ledger.as_mut() else {
            return Err(Error::Venue("no instruments registered".into()));
        };
        // The venue-side account needs the exact mark only (margin checks).
        ledger.mark(i, price, 0.0);
        let ledger = &*ledger;
        let pos = ledger.quantity(i);
        let whole_units = lot.as_decimal() == Decimal::ONE;
        let round = |q: Decimal| -> Result<Decimal> {
            let q = q.max(Decimal::ZERO);
            if whole_units {
                // Truncating at once equals truncating to MAX_SCALE decimals and then to the lot.
                return Ok(q.trunc());
            }
            let q = q.round_dp_with_strategy(
                tessera_model::numbers::MAX_SCALE,
                rust_decimal::RoundingStrategy::ToZero,
            );
            Ok(Quantity::new(q)?
                .round_to_lot(lot, RoundingMode::TowardZero)?
                .as_decimal())
        };
        let comm = self.config.commission;
        let leverage = ledger.leverage();
        // Multiplying by a leverage of one changes nothing: skip the Decimal work then.
        let levered = |x: Decimal| {
            if leverage == Decimal::ONE {
                x
            } else {
                x * leverage
            }
        };
        let notional = if mult == Decimal::ONE { px } else { px * mult };
        // Zero cost terms are skipped: the same value without a Decimal operation.
        let unit_cost = if comm.rate.is_zero() {
            notional
        } else {
            notional * (Decimal::ONE + comm.rate)
        };
        let unit_cost = if comm.per_unit.is_zero() {
            unit_cost
        } else {
            unit_cost + comm.per_unit
        };
        // The account does not change while this order is sized and checked: value it once.
        let mut margin = None;
        let mut margin_available = || *margin.get_or_insert_with(|| ledger.margin_available());
        // Units wanted now.
        let leaves = match (self.orders[k].total, self.orders[k].intent.quantity) {
            (Some(t), _) => t - self.orders[k].filled,
            (None, OrderQty::Units(q)) => q.as_decimal(),
            (None, OrderQty::EquityFraction(f)) => {
                // Close the opposite position first (its proceeds become margin), then size.
                let closing = if side.sign() * pos < Decimal::ZERO {
                    pos.abs()
                } else {
                    Decimal::ZERO
                };
                let avail = levered(margin_available()) * f;
                let avail = if comm.fixed.is_zero() {
                    avail
                } else {
                    avail - comm.fixed
                };
                let q = if unit_cost > Decimal::ZERO {
                    match whole_units
                        .then(|| units_within(avail, unit_cost))
                        .flatten()
                    {
                        Some(q) => q,
                        None => round(avail / unit_cost)?,
                    }
                } else {
                    Decimal::ZERO
                };
                let q = q + closing;
                self.orders[k].total = Some(q);
                q
            }
        };
        let mut qty = leaves;
        if let (Some(cap), Some(vol)) = (self.config.volume_cap, volume) {
            let room = round(vol * cap - self.used_volume[i])?;
            qty = qty.min(room);
        }
        if qty <= Decimal::ZERO {
            if self.orders[k].total == Some(Decimal::ZERO) {
                self.update(
                    k,
                    &OrderEvent::Cancelled,
                    Some("insufficient margin for a single unit".into()),
                    out,
                )?;
                return Ok(true);
            }
            return Ok(false);
        }
        // Split into the part that reduces the position and the part that opens or adds.
        let reducing = if side.sign() * pos < Decimal::ZERO {
            qty.min(pos.abs())
        } else {
            Decimal::ZERO
        };
        let mut opening = qty - reducing;
        if opening > Decimal::ZERO {
            if side == Side::Sell && !self.config.allow_short {
                opening = Decimal::ZERO;
            } else {
                // Margin after the reducing part executes: it frees |reducing| × price / leverage.
                let freed = if reducing.is_zero() {
                    Decimal::ZERO
                } else if leverage == Decimal::ONE {
                    reducing * notional
                } else {
                    reducing * notional / leverage
                };
                let buying_power = levered(margin_available() + freed);
                if opening * unit_cost > buying_power {
                    opening = Decimal::ZERO;
                }
            }
        }
        let fill_qty = reducing + opening;
        let refused = fill_qty < qty && (opening.is_zero() && qty > reducing);
        if fill_qty > Decimal::ZERO {
            self.book_fill(k, i, side, fill_qty, price, mult, out)?;
        }
        if refused {
            let reason = if side == Side::Sell && !self.config.allow_short {
                "shorting not allowed"
            } else {
                "insufficient margin"
            };
            self.update(k, &OrderEvent::Cancelled, Some(reason.into()), out)?;
            return Ok(true);
        }
        let o = &self.orders[k];
        Ok(o.total.is_some_and(|t| o.filled >= t) || o.status.is_terminal())
    }

    #[allow(clippy::too_many_arguments, reason = "the pieces of one execution")]
    fn book_fill(
        &mut self,
        k: usize,
        i: usize,
        side: Side,
        qty: Decimal,
        price: Price,
        mult: Decimal,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        let quantity = Quantity::new(qty)?;
        let ccy = self.config.cash.currency;
        let commission = Money::new(self.config.commission.charge(quantity, price, mult), ccy);
        self.next_trade += 1;
        let fill = Fill {
            client_order_id: self.orders[k].id.clone(),
            trade_id: TradeId::numbered("sim", '-', self.next_trade)?,
            instrument: self.instruments[i].id,
            side,
            price,
            quantity,
            commission,
            ts_event: self.now,
        };
        if let Some(l) = self.ledger.as_mut() {
            l.apply_fill(i, &fill)?;
        }
        self.used_volume[i] += qty;
        let o = &mut self.orders[k];
        o.filled += qty;
        if o.total.is_none() {
            o.total = Some(match o.intent.quantity {
                OrderQty::Units(q) => q.as_decimal(),
                OrderQty::EquityFraction(_) => o.filled,
            });
        }
        let done = o.total.is_some_and(|t| o.filled >= t);
        out.push(VenueEvent::Fill {
            instrument: i,
            fill,
        });
        self.update(
            k,
            if done {
                &OrderEvent::Filled
            } else {
                &OrderEvent::PartiallyFilled
            },
            None,
            out,
        )
    }

    /// Match working orders of instrument `i` against a bar (`path` points) or a quote.
    fn match_orders(
        &mut self,
        i: usize,
        market: Market<'_>,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        let day = self.now.0.div_euclid(NANOS_PER_DAY);
        let mut k = 0;
        while k < self.orders.len() {
            if self.orders[k].instrument != i || self.orders[k].fresh {
                k += 1;
                continue;
            }
            let o = &mut self.orders[k];
            o.bars_seen += 1;
            if o.intent.time_in_force == TimeInForce::Day && day != o.day {
                self.update(
                    k,
                    &OrderEvent::Expired,
                    Some("day order past its day".into()),
                    out,
                )?;
                self.orders.remove(k);
                continue;
            }
            let done = self.try_fill(k, &market, out)?;
            let o = &self.orders[k];
            let one_shot = matches!(
                o.intent.time_in_force,
                TimeInForce::Ioc | TimeInForce::Fok | TimeInForce::Opg
            );
            if done || o.status.is_terminal() {
                self.orders.remove(k);
            } else if one_shot {
                self.update(
                    k,
                    &OrderEvent::Cancelled,
                    Some(format!("{} remainder cancelled", o.intent.time_in_force).into()),
                    out,
                )?;
                self.orders.remove(k);
            } else {
                k += 1;
            }
        }
        Ok(())
    }

    fn try_fill(
        &mut self,
        k: usize,
        market: &Market<'_>,
        out: &mut Vec<VenueEvent>,
    ) -> Result<bool> {
        let o = &self.orders[k];
        let (side, ty) = (o.intent.side, o.intent.order_type);
        let limit = o.intent.limit_price.map(|p| p.as_decimal());
        let stop = o.intent.stop_price.map(|p| p.as_decimal());
        let buy = side == Side::Buy;
        match market {
            Market::Bar { path, volume } => {
                let path: &[Decimal] = if self.config.fill_model == FillModel::OpenOnly {
                    &path[..1]
                } else {
                    path
                };
                let start = PathPos {
                    seg: 0,
                    price: path[0],
                };
                if o.intent.time_in_force == TimeInForce::Opg && ty != OrderType::Market {
                    return Ok(false);
                }
                let (price, slips) = match ty {
                    OrderType::Market => (Some(path[0]), true),
                    OrderType::Limit => (
                        limit
                            .and_then(|l| reach(path, start, l, !buy))
                            .map(|p| p.price),
                        false,
                    ),
                    OrderType::Stop => (
                        stop.and_then(|s| reach(path, start, s, buy))
                            .map(|p| p.price),
                        true,
                    ),
                    OrderType::StopLimit => {
                        let (Some(s), Some(l)) = (stop, limit) else {
                            return Ok(false);
                        };
                        let from = if o.triggered {
                            Some(start)
                        } else {
                            reach(path, start, s, buy)
                        };
                        if from.is_some() {
                            self.orders[k].triggered = true;
                        }
                        (
                            from.and_then(|f| reach(path, f, l, !buy)).map(|p| p.price),
                            false,
                        )
                    }
                };
                match price {
                    Some(p) => self.fill_checked(k, p, slips, Some(*volume), out),
                    None => Ok(false),
                }
            }
            Market::Quote(q) => {
                let px = if buy {
                    q.ask_price.as_decimal()
                } else {
                    q.bid_price.as_decimal()
                };
                let ok = match ty {
                    OrderType::Market => true,
                    OrderType::Limit => limit.is_some_and(|l| if buy { px <= l } else { px >= l }),
                    OrderType::Stop => stop.is_some_and(|s| if buy { px >= s } else { px <= s }),
                    OrderType::StopLimit => {
                        let trig = o.triggered
                            || stop.is_some_and(|s| if buy { px >= s } else { px <= s });
                        if trig {
                            self.orders[k].triggered = true;
                        }
                        trig && limit.is_some_and(|l| if buy { px <= l } else { px >= l })
                    }
                };
                if !ok {
                    return Ok(false);
                }
                let size = if buy {
                    q.ask_size.as_decimal()
                } else {
                    q.bid_size.as_decimal()
                };
                self.fill_checked(
                    k,
                    px,
                    matches!(ty, OrderType::Market | OrderType::Stop),
                    Some(size),
                    out,
                )
            }
        }
    }

    /// Fill-or-kill orders must fill completely at once or not at all.
    fn fill_checked(
        &mut self,
        k: usize,
        price: Decimal,
        slips: bool,
        volume: Option<Decimal>,
        out: &mut Vec<VenueEvent>,
    ) -> Result<bool> {
        let o = &self.orders[k];
        if o.intent.time_in_force == TimeInForce::Fok
            && let (Some(cap), Some(v), OrderQty::Units(q)) =
                (self.config.volume_cap, volume, o.intent.quantity)
            && v * cap - self.used_volume[o.instrument] < q.as_decimal()
        {
            return Ok(false);
        }
        self.execute(k, price, slips, volume, out)
    }
}

/// How many whole units of `unit_cost` fit in `budget` (`⌊budget / unit_cost⌋`, zero for a
/// negative budget), exactly on the integer mantissas: a Decimal division rounds to 28 digits
/// and costs several times more. `None` when the scaled mantissas leave 128 bits or
/// `unit_cost` is not positive (the caller then divides as Decimals).
fn units_within(budget: Decimal, unit_cost: Decimal) -> Option<Decimal> {
    if budget <= Decimal::ZERO {
        return Some(Decimal::ZERO);
    }
    // 10^k for every scale difference of two Decimals (scales are at most 28): a table, not
    // `checked_pow`'s loop of 128-bit multiplications.
    const POW10: [i128; 29] = {
        let mut t = [1_i128; 29];
        let mut k = 1;
        while k < 29 {
            t[k] = t[k - 1] * 10;
            k += 1;
        }
        t
    };
    let pow10 = |k: u32| POW10.get(k as usize).copied();
    let (num, den) = (budget.mantissa(), unit_cost.mantissa());
    let (num, den) = match unit_cost.scale().checked_sub(budget.scale()) {
        Some(up) => (num.checked_mul(pow10(up)?)?, den),
        None => (
            num,
            den.checked_mul(pow10(budget.scale() - unit_cost.scale())?)?,
        ),
    };
    if den <= 0 {
        return None;
    }
    // Most budgets and costs fit 64 bits, whose division is one instruction.
    let q = match (u64::try_from(num), u64::try_from(den)) {
        (Ok(n), Ok(d)) => i128::from(n / d),
        _ => num / den,
    };
    Decimal::try_from_i128_with_scale(q, 0).ok()
}

/// What orders are matched against.
#[derive(Clone, Copy)]
enum Market<'a> {
    Bar {
        path: &'a [Decimal],
        volume: Decimal,
    },
    Quote(&'a Quote),
}

impl Venue for SimVenue {
    fn register(&mut self, instruments: &[Instrument]) -> Result<()> {
        self.instruments = instruments.to_vec();
        self.used_volume = vec![Decimal::ZERO; instruments.len()];
        self.ledger = Some(Ledger::new(
            self.config.cash,
            self.config.leverage,
            instruments,
        )?);
        Ok(())
    }

    fn submit(
        &mut self,
        id: ClientOrderId,
        intent: &OrderIntent,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        self.now = now;
        let instrument = self
            .instruments
            .iter()
            .position(|i| i.id == intent.instrument);
        let mut o = SimOrder {
            id,
            intent: intent.clone(),
            instrument: instrument.unwrap_or(0),
            status: OrderStatus::Created,
            filled: Decimal::ZERO,
            total: None,
            triggered: false,
            day: now.0.div_euclid(NANOS_PER_DAY),
            bars_seen: 0,
            fresh: true,
        };
        let reject = match (instrument, intent.quantity) {
            (None, _) => Some(format!("instrument {} not traded here", intent.instrument)),
            (_, OrderQty::Units(q)) if q.is_zero() => Some("quantity must be positive".into()),
            (_, OrderQty::EquityFraction(f)) if f <= Decimal::ZERO || f > Decimal::ONE => {
                Some(format!("equity fraction {f} outside (0, 1]"))
            }
            _ => {
                let needs_limit =
                    matches!(intent.order_type, OrderType::Limit | OrderType::StopLimit);
                let needs_stop =
                    matches!(intent.order_type, OrderType::Stop | OrderType::StopLimit);
                (needs_limit != intent.limit_price.is_some()
                    || needs_stop != intent.stop_price.is_some())
                .then(|| {
                    format!(
                        "{} order with limit {:?} and stop {:?}",
                        intent.order_type, intent.limit_price, intent.stop_price
                    )
                })
            }
        };
        o.status = OrderStatus::Submitted;
        self.orders.push(o);
        let k = self.orders.len() - 1;
        if let Some(reason) = reject {
            self.update(
                k,
                &OrderEvent::Rejected {
                    reason: reason.clone(),
                },
                Some(reason.into()),
                out,
            )?;
            self.orders.remove(k);
            return Ok(());
        }
        self.update(
            k,
            &OrderEvent::Accepted {
                broker_order_id: None,
            },
            None,
            out,
        )
    }

    fn cancel(
        &mut self,
        id: &ClientOrderId,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        self.now = now;
        let k = self
            .orders
            .iter()
            .position(|o| &o.id == id)
            .ok_or_else(|| Error::Venue(format!("cancel: no working order {id}")))?;
        self.update(
            k,
            &OrderEvent::Cancelled,
            Some("cancelled by strategy".into()),
            out,
        )?;
        self.orders.remove(k);
        Ok(())
    }

    fn modify(
        &mut self,
        id: &ClientOrderId,
        change: &OrderModify,
        now: UnixNanos,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        self.now = now;
        let k = self
            .orders
            .iter()
            .position(|o| &o.id == id)
            .ok_or_else(|| Error::Venue(format!("modify: no working order {id}")))?;
        let o = &mut self.orders[k];
        if let Some(q) = change.quantity {
            if q.as_decimal() <= o.filled {
                return Err(Error::Venue(format!(
                    "modify {id}: quantity {q} not above filled {}",
                    o.filled
                )));
            }
            o.intent.quantity = OrderQty::Units(q);
            o.total = Some(q.as_decimal());
        }
        if change.limit_price.is_some() {
            if o.intent.limit_price.is_none() {
                return Err(Error::Venue(format!(
                    "modify {id}: a {} order has no limit price",
                    o.intent.order_type
                )));
            }
            o.intent.limit_price = change.limit_price;
        }
        if change.stop_price.is_some() {
            if o.intent.stop_price.is_none() {
                return Err(Error::Venue(format!(
                    "modify {id}: a {} order has no stop price",
                    o.intent.order_type
                )));
            }
            o.intent.stop_price = change.stop_price;
        }
        // Acknowledged modification: report the unchanged status (a repeat `accepted`).
        self.update(
            k,
            &OrderEvent::Accepted {
                broker_order_id: None,
            },
            Some("modified".into()),
            out,
        )
    }

    fn on_bar(&mut self, instrument: usize, bar: &Bar, out: &mut Vec<VenueEvent>) -> Result<()> {
        // Orders execute at the bar's open time at the earliest.
        self.now = bar.open_time;
        if let Some(u) = self.used_volume.get_mut(instrument) {
            *u = Decimal::ZERO;
        }
        if !self.orders.is_empty() {
            let path = bar_path(bar);
            self.match_orders(
                instrument,
                Market::Bar {
                    path: &path,
                    volume: bar.volume.as_decimal(),
                },
                out,
            )?;
        }
        if let Some(l) = self.ledger.as_mut() {
            // The venue-side account needs the exact mark only (margin checks); its f64 shadow is unused here.
            l.mark(instrument, bar.close, 0.0);
        }
        self.now = bar.close_time();
        Ok(())
    }

    fn on_bar_processed(
        &mut self,
        instrument: usize,
        bar: &Bar,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        if self.orders.is_empty() {
            return Ok(());
        }
        if self.config.fill_model == FillModel::Close {
            let close = bar.close.as_decimal();
            let mut k = 0;
            while k < self.orders.len() {
                let o = &self.orders[k];
                if o.fresh && o.instrument == instrument && o.intent.order_type == OrderType::Market
                {
                    self.orders[k].fresh = false;
                    let done = self.execute(k, close, true, Some(bar.volume.as_decimal()), out)?;
                    if done || self.orders[k].status.is_terminal() {
                        self.orders.remove(k);
                        continue;
                    }
                }
                k += 1;
            }
        }
        for o in &mut self.orders {
            o.fresh = false;
        }
        Ok(())
    }

    fn is_idle(&self) -> bool {
        self.orders.is_empty()
    }

    fn on_quote(
        &mut self,
        instrument: usize,
        quote: &Quote,
        out: &mut Vec<VenueEvent>,
    ) -> Result<()> {
        self.now = quote.ts_event;
        for o in &mut self.orders {
            o.fresh = false;
        }
        if !self.orders.is_empty() {
            self.match_orders(instrument, Market::Quote(quote), out)?;
        }
        if let Some(l) = self.ledger.as_mut() {
            let mid = Price::new(quote.mid())?;
            l.mark(instrument, mid, 0.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The whole units that fit: `q × cost ≤ budget < (q + 1) × cost`.
        #[test]
        fn prop_units_within_is_the_exact_floor(
            b in 0i64..1_000_000_000_000, bs in 0u32..9,
            c in 1i64..1_000_000_000, cs in 0u32..9,
        ) {
            let (budget, cost) = (Decimal::new(b, bs), Decimal::new(c, cs));
            let q = units_within(budget, cost).unwrap();
            prop_assert_eq!(q.scale(), 0);
            prop_assert!(q * cost <= budget);
            prop_assert!((q + Decimal::ONE) * cost > budget);
        }
    }

    #[test]
    fn test_units_within_edges() {
        assert_eq!(
            units_within(Decimal::NEGATIVE_ONE, Decimal::ONE),
            Some(Decimal::ZERO)
        );
        assert_eq!(units_within(Decimal::ONE, Decimal::ZERO), None);
        assert_eq!(
            units_within(Decimal::new(99_999, 2), Decimal::new(1_000, 1)),
            Some(Decimal::from(9))
        );
        // Scales 28 apart overflow 128 bits: the caller divides as Decimals.
        assert_eq!(units_within(Decimal::MAX, Decimal::new(1, 28)), None);
    }
}
