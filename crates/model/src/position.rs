//! A net position in one instrument, with exact realised P&L.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, invariant};
use crate::identifiers::{Currency, InstrumentId};
use crate::numbers::{Money, Price};
use crate::order::Fill;

/// Net holding of one instrument: positive long, negative short.
///
/// Average price and P&L follow the usual netting rules: adding to a
/// position moves the average; reducing realises P&L against the average;
/// crossing through zero realises the closed part and opens the rest at the
/// fill price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Signed quantity, exact.
    pub quantity: Decimal,
    /// Average entry price of the open quantity; zero when flat.
    pub avg_price: Decimal,
    /// Contract multiplier (1 for spot and equities).
    pub multiplier: Decimal,
    /// P&L realised so far, before commissions.
    pub realized_pnl: Money,
    /// Commissions paid so far.
    pub commissions: Money,
}

impl Position {
    /// A flat position.
    #[must_use]
    pub fn flat(instrument: InstrumentId, multiplier: Decimal, currency: Currency) -> Self {
        Self {
            instrument,
            quantity: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            multiplier,
            realized_pnl: Money::zero(currency),
            commissions: Money::zero(currency),
        }
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_flat(&self) -> bool {
        self.quantity.is_zero()
    }

    /// Book a fill.
    ///
    /// # Errors
    /// [`Error::Invariant`] for another instrument, [`Error::CurrencyMismatch`]
    /// for a commission in another currency, [`Error::Overflow`].
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<()> {
        if fill.instrument != self.instrument {
            return Err(invariant(
                "position",
                format!(
                    "fill for {} applied to {}",
                    fill.instrument, self.instrument
                ),
            ));
        }
        let ovf = || Error::Overflow(format!("position {}", self.instrument));
        let signed = fill.side.sign() * fill.quantity.as_decimal();
        let px = fill.price.as_decimal();
        let old = self.quantity;
        let new = old.checked_add(signed).ok_or_else(ovf)?;
        self.commissions = self.commissions.checked_add(fill.commission)?;
        if old.is_zero() || old.is_sign_positive() == signed.is_sign_positive() {
            // Opening or adding: weighted average.
            let value = self
                .avg_price
                .checked_mul(old.abs())
                .and_then(|v| v.checked_add(px.checked_mul(signed.abs())?))
                .ok_or_else(ovf)?;
            self.avg_price = value / new.abs();
        } else {
            // Reducing, closing or flipping.
            let closed = signed.abs().min(old.abs());
            // Sign and a multiplier of one applied without a Decimal multiplication (the same
            // digits and scale as multiplying by ±1): fills are the backtest's hot path.
            let per_unit = (px - self.avg_price).checked_mul(closed).ok_or_else(ovf)?;
            let per_unit = if old.is_sign_negative() && !per_unit.is_zero() {
                -per_unit
            } else {
                per_unit
            };
            let pnl = if self.multiplier == Decimal::ONE && self.multiplier.scale() == 0 {
                per_unit
            } else {
                per_unit.checked_mul(self.multiplier).ok_or_else(ovf)?
            };
            self.realized_pnl.amount = self.realized_pnl.amount.checked_add(pnl).ok_or_else(ovf)?;
            if new.is_zero() {
                self.avg_price = Decimal::ZERO;
            } else if new.is_sign_positive() != old.is_sign_positive() {
                self.avg_price = px;
            }
        }
        self.quantity = new;
        Ok(())
    }

    /// Unrealised P&L marked at `mark`.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn unrealized_pnl(&self, mark: Price) -> Result<Money> {
        let v = (mark.as_decimal() - self.avg_price)
            .checked_mul(self.quantity)
            .and_then(|v| v.checked_mul(self.multiplier))
            .ok_or_else(|| Error::Overflow(format!("unrealised P&L of {}", self.instrument)))?;
        Ok(Money::new(v, self.realized_pnl.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcuts of `apply_fill` give the digits and scale of the multiplications.
        #[test]
        fn prop_sign_and_unit_multiplier_shortcuts_are_exact(m in any::<i64>(), scale in 0u32..12) {
            let v = Decimal::new(m, scale);
            prop_assert_eq!(v.checked_mul(Decimal::ONE).unwrap().to_string(), v.to_string());
            if !v.is_zero() {
                prop_assert_eq!(
                    v.checked_mul(Decimal::NEGATIVE_ONE).unwrap().to_string(),
                    (-v).to_string()
                );
            }
        }
    }
    use crate::identifiers::{ClientOrderId, TradeId};
    use crate::numbers::Quantity;
    use crate::order::Side;
    use tessera_core::UnixNanos;

    fn fill(n: u32, side: Side, qty: &str, px: &str) -> Fill {
        Fill {
            client_order_id: ClientOrderId::new("o").unwrap(),
            trade_id: TradeId::new(&format!("t{n}")).unwrap(),
            instrument: InstrumentId::parse("ES", "cme").unwrap(),
            side,
            price: Price::parse(px).unwrap(),
            quantity: Quantity::parse(qty).unwrap(),
            commission: Money::parse("1 USD").unwrap(),
            ts_event: UnixNanos(0),
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn test_add_reduce_flip() {
        let usd = Currency::new("USD").unwrap();
        let mut p = Position::flat(InstrumentId::parse("ES", "cme").unwrap(), d("50"), usd);
        p.apply_fill(&fill(1, Side::Buy, "2", "4000")).unwrap();
        p.apply_fill(&fill(2, Side::Buy, "2", "4010")).unwrap();
        assert_eq!(p.avg_price, d("4005"));
        p.apply_fill(&fill(3, Side::Sell, "1", "4015")).unwrap();
        assert_eq!(p.realized_pnl.amount, d("500"));
        assert_eq!(p.quantity, d("3"));
        p.apply_fill(&fill(4, Side::Sell, "5", "3995")).unwrap();
        // Closed 3 at 3995 vs 4005: −10 × 3 × 50 = −1500.
        assert_eq!(p.realized_pnl.amount, d("-1000"));
        assert_eq!(p.quantity, d("-2"));
        assert_eq!(p.avg_price, d("3995"));
        assert_eq!(
            p.unrealized_pnl(Price::parse("3990").unwrap())
                .unwrap()
                .amount,
            d("500")
        );
        assert_eq!(p.commissions.amount, d("4"));
        p.apply_fill(&fill(5, Side::Buy, "2", "3990")).unwrap();
        assert!(p.is_flat());
        assert_eq!(p.avg_price, Decimal::ZERO);
    }
}
