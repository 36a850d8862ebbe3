//! Cash and positions of one account, exact, with an `f64` shadow for per-bar equity.
//!
//! Spot instruments (equities, crypto, FX) exchange their notional: a buy
//! pays `quantity × price` from cash. Futures exchange only P&L (variation
//! margin): cash moves by realised P&L and commissions, and equity adds the
//! open P&L. Either way `equity = cash + open value`, short positions
//! included. The same type serves as the engine's book and as the
//! simulator's account, so the two cannot disagree on arithmetic.

use rust_decimal::Decimal;
use tessera_model::{Currency, Fill, Instrument, InstrumentKind, Money, Position, Price, Side};

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
struct Slot {
    position: Position,
    futures: bool,
    mark: Option<Price>,
    mark_f64: f64,
    mult_f64: f64,
    qty_f64: f64,
    /// `−quantity × avg × multiplier` for futures (so `qty × mark × mult + offset` is open P&L); 0 for spot.
    offset_f64: f64,
}

/// One account's cash and positions, indexed like the engine's instruments.
#[derive(Clone, Debug)]
pub struct Ledger {
    currency: Currency,
    cash: Decimal,
    cash_f64: f64,
    leverage: Decimal,
    commissions: Decimal,
    slots: Vec<Slot>,
}

fn f(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

impl Ledger {
    /// An account holding `cash`, trading `instruments` (all quoted in the cash currency).
    ///
    /// # Errors
    /// [`Error::Data`] for an instrument quoted in another currency (no FX conversion yet)
    /// or a non-positive leverage.
    pub fn new(cash: Money, leverage: Decimal, instruments: &[Instrument]) -> Result<Self> {
        if leverage <= Decimal::ZERO {
            return Err(Error::Data(format!("leverage {leverage} must be positive")));
        }
        let mut slots = Vec::with_capacity(instruments.len());
        for i in instruments {
            if i.quote_currency != cash.currency {
                return Err(Error::Data(format!(
                    "{} is quoted in {} but the account is in {}; one currency per run",
                    i.id, i.quote_currency, cash.currency
                )));
            }
            slots.push(Slot {
                position: Position::flat(i.id, i.multiplier, cash.currency),
                futures: i.kind == InstrumentKind::Future,
                mark: None,
                mark_f64: 0.0,
                mult_f64: f(i.multiplier),
                qty_f64: 0.0,
                offset_f64: 0.0,
            });
        }
        Ok(Self {
            currency: cash.currency,
            cash: cash.amount,
            cash_f64: f(cash.amount),
            leverage,
            commissions: Decimal::ZERO,
            slots,
        })
    }

    fn slot(&self, i: usize) -> Result<&Slot> {
        self.slots
            .get(i)
            .ok_or_else(|| Error::Data(format!("no instrument with index {i}")))
    }

    /// Book a fill of instrument `i`.
    ///
    /// # Errors
    /// Currency mismatch or overflow from the position arithmetic.
    pub fn apply_fill(&mut self, i: usize, fill: &Fill) -> Result<()> {
        let currency = self.currency;
        let slot = self
            .slots
            .get_mut(i)
            .ok_or_else(|| Error::Data(format!("no instrument with index {i}")))?;
        let realised_before = slot.position.realized_pnl.amount;
        slot.position.apply_fill(fill)?;
        if fill.commission.currency != currency {
            return Err(tessera_model::Error::CurrencyMismatch {
                left: fill.commission.currency.to_string(),
                right: currency.to_string(),
            }
            .into());
        }
        let comm = fill.commission.amount;
        self.commissions += comm;
        if slot.futures {
            self.cash += slot.position.realized_pnl.amount - realised_before - comm;
            slot.offset_f64 =
                -f(slot.position.quantity * slot.position.avg_price * slot.position.multiplier);
        } else {
            let mult = slot.position.multiplier;
            let notional = fill.price.as_decimal() * fill.quantity.as_decimal();
            // A multiplier of one (scale 0) changes neither digits nor scale: skip it.
            let notional = if mult == Decimal::ONE && mult.scale() == 0 {
                notional
            } else {
                notional * mult
            };
            self.cash += match fill.side {
                Side::Buy => -notional,
                Side::Sell => notional,
            } - comm;
        }
        slot.qty_f64 = f(slot.position.quantity);
        if slot.mark.is_none() {
            slot.mark = Some(fill.price);
            slot.mark_f64 = f(fill.price.as_decimal());
        }
        self.cash_f64 = f(self.cash);
        Ok(())
    }

    /// Set the last price of instrument `i` (exact and as `f64`).
    pub fn mark(&mut self, i: usize, price: Price, price_f64: f64) {
        if let Some(s) = self.slots.get_mut(i) {
            s.mark = Some(price);
            s.mark_f64 = price_f64;
        }
    }

    /// Set only the `f64` shadow of instrument `i`'s mark: [`Ledger::equity_f64`] then values
    /// it at `price_f64` exactly as after [`Ledger::mark`]. For fast-forwarded bars, whose
    /// exact mark is set once, at the last of them.
    #[inline]
    pub fn mark_f64(&mut self, i: usize, price_f64: f64) {
        if let Some(s) = self.slots.get_mut(i) {
            s.mark_f64 = price_f64;
        }
    }

    /// Equity as `f64`, for the equity curve: cash plus positions at their marks.
    #[must_use]
    pub fn equity_f64(&self) -> f64 {
        let mut e = self.cash_f64;
        for s in &self.slots {
            if s.qty_f64 != 0.0 {
                e += s.qty_f64 * s.mark_f64 * s.mult_f64 + s.offset_f64;
            }
        }
        e
    }

    /// Exact equity.
    #[must_use]
    pub fn equity(&self) -> Money {
        let mut e = self.cash;
        for s in &self.slots {
            if let (false, Some(m)) = (s.position.is_flat(), s.mark) {
                let p = &s.position;
                e += if s.futures {
                    (m.as_decimal() - p.avg_price) * p.quantity * p.multiplier
                } else {
                    m.as_decimal() * p.quantity * p.multiplier
                };
            }
        }
        Money::new(e, self.currency)
    }

    /// Margin held by open positions: `Σ |quantity| × mark × multiplier / leverage`.
    #[must_use]
    pub fn margin_used(&self) -> Decimal {
        let notional = self
            .slots
            .iter()
            .filter_map(|s| {
                let m = s.mark?;
                // Flat positions and unit multipliers cost no Decimal multiplication.
                if s.position.quantity.is_zero() {
                    return None;
                }
                let v = s.position.quantity.abs() * m.as_decimal();
                Some(if s.position.multiplier == Decimal::ONE {
                    v
                } else {
                    v * s.position.multiplier
                })
            })
            .sum::<Decimal>();
        if self.leverage == Decimal::ONE {
            notional
        } else {
            notional / self.leverage
        }
    }

    /// `max(0, equity − margin used)`: what new positions may use (times leverage).
    #[must_use]
    pub fn margin_available(&self) -> Decimal {
        (self.equity().amount - self.margin_used()).max(Decimal::ZERO)
    }

    /// Leverage allowed.
    #[must_use]
    pub fn leverage(&self) -> Decimal {
        self.leverage
    }

    /// Cash.
    #[must_use]
    pub fn cash(&self) -> Money {
        Money::new(self.cash, self.currency)
    }

    /// Commissions paid so far.
    #[must_use]
    pub fn commissions(&self) -> Money {
        Money::new(self.commissions, self.currency)
    }

    /// Signed position of instrument `i` (zero for an unknown index).
    #[must_use]
    pub fn quantity(&self, i: usize) -> Decimal {
        self.slots
            .get(i)
            .map_or(Decimal::ZERO, |s| s.position.quantity)
    }

    /// Position record of instrument `i`.
    ///
    /// # Errors
    /// [`Error::Data`] for an unknown index.
    pub fn position(&self, i: usize) -> Result<&Position> {
        self.slot(i).map(|s| &s.position)
    }

    /// Account currency.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::UnixNanos;
    use tessera_model::{ClientOrderId, InstrumentId, Quantity, TradeId};

    fn fill(side: Side, qty: &str, px: &str, comm: &str, ccy: &str) -> Fill {
        Fill {
            client_order_id: ClientOrderId::new("o").unwrap(),
            trade_id: TradeId::new(&format!("{side}{qty}{px}")).unwrap(),
            instrument: InstrumentId::parse("X", "v").unwrap(),
            side,
            price: Price::parse(px).unwrap(),
            quantity: Quantity::parse(qty).unwrap(),
            commission: Money::parse(&format!("{comm} {ccy}")).unwrap(),
            ts_event: UnixNanos(0),
        }
    }

    fn inst(kind: InstrumentKind, mult: &str) -> Instrument {
        let mut i =
            Instrument::with_defaults(InstrumentId::parse("X", "v").unwrap(), kind).unwrap();
        i.multiplier = Decimal::from_str_exact(mult).unwrap();
        i
    }

    #[test]
    fn test_ledger_spot_long_short_equity() {
        let mut l = Ledger::new(
            Money::parse("1000 USD").unwrap(),
            Decimal::ONE,
            &[inst(InstrumentKind::Equity, "1")],
        )
        .unwrap();
        l.apply_fill(0, &fill(Side::Buy, "5", "100", "1", "USD"))
            .unwrap();
        assert_eq!(l.cash().amount, Decimal::from(499));
        l.mark(0, Price::parse("110").unwrap(), 110.0);
        assert_eq!(l.equity().amount, Decimal::from(1049));
        assert_eq!(l.equity_f64(), 1049.0);
        l.apply_fill(0, &fill(Side::Sell, "10", "110", "0", "USD"))
            .unwrap();
        l.mark(0, Price::parse("100").unwrap(), 100.0);
        // Short 5 from 110, now 100: +50 open.
        assert_eq!(l.equity().amount, Decimal::from(1099));
        assert_eq!(l.equity_f64(), 1099.0);
        assert_eq!(l.margin_available(), Decimal::from(599));
        assert!(
            l.apply_fill(0, &fill(Side::Buy, "1", "100", "1", "EUR"))
                .is_err()
        );
    }

    #[test]
    fn test_ledger_futures_variation_margin() {
        let mut l = Ledger::new(
            Money::parse("10000 USD").unwrap(),
            Decimal::TEN,
            &[inst(InstrumentKind::Future, "50")],
        )
        .unwrap();
        l.apply_fill(0, &fill(Side::Buy, "2", "4000", "2", "USD"))
            .unwrap();
        assert_eq!(l.cash().amount, Decimal::from(9998));
        l.mark(0, Price::parse("4010").unwrap(), 4010.0);
        assert_eq!(l.equity().amount, Decimal::from(10998));
        assert_eq!(l.equity_f64(), 10998.0);
        assert_eq!(l.margin_used(), Decimal::from(40100));
        l.apply_fill(0, &fill(Side::Sell, "2", "4010", "2", "USD"))
            .unwrap();
        assert_eq!(l.cash().amount, Decimal::from(10996));
    }
}
