//! How big an entry is.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tessera_model::Quantity;

use crate::error::{Error, Result};
use crate::order::OrderQty;
use crate::params::Params;

/// Position sizing rule of the built-in strategies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sizing {
    /// This fraction of the margin available at execution, in whole lots after commission.
    EquityFraction {
        /// Fraction in (0, 1].
        fraction: Decimal,
    },
    /// A fixed number of units.
    Fixed {
        /// Units per entry.
        quantity: Quantity,
    },
    /// Units such that the position's annualised volatility is `target_pct` % of equity,
    /// using the strategy's own volatility estimate.
    VolTarget {
        /// Target annual volatility in percent of equity.
        target_pct: f64,
    },
}

/// backtesting.py's default order size since 0.5: `1 − 2⁻⁵²` ("all available margin"; it was
/// 0.9999 before), to 28 decimals. `size=0.9999` reproduces the older default.
pub const FULL_EQUITY: Decimal =
    Decimal::from_parts(0x131A_1C1E, 0x3E25_005C, 0x204F_CE5E, false, 28);

impl Default for Sizing {
    fn default() -> Self {
        Self::EquityFraction {
            fraction: FULL_EQUITY,
        }
    }
}

impl Sizing {
    /// From the common parameters `size` (a fraction below 1 or a unit count of 1 or more,
    /// like backtesting.py) or `vol_target` (percent).
    ///
    /// # Errors
    /// [`Error::Param`] for a non-positive size.
    pub fn from_params(strategy: &str, p: &Params) -> Result<Self> {
        if let Some(v) = p.0.get("vol_target") {
            let target_pct: f64 = p.get_or(strategy, "vol_target", 0.0)?;
            if target_pct <= 0.0 {
                return Err(Error::Param {
                    strategy: strategy.into(),
                    param: "vol_target".into(),
                    reason: format!("{v} must be positive"),
                });
            }
            return Ok(Self::VolTarget { target_pct });
        }
        let Some(s) = p.0.get("size") else {
            return Ok(Self::default());
        };
        let d = Decimal::from_str_exact(s.trim()).map_err(|e| Error::Param {
            strategy: strategy.into(),
            param: "size".into(),
            reason: format!("{s:?} is not a number ({e})"),
        })?;
        if d <= Decimal::ZERO {
            return Err(Error::Param {
                strategy: strategy.into(),
                param: "size".into(),
                reason: format!("{s} must be positive"),
            });
        }
        if d < Decimal::ONE {
            Ok(Self::EquityFraction { fraction: d })
        } else {
            Ok(Self::Fixed {
                quantity: Quantity::new(d)?,
            })
        }
    }

    /// The order quantity for an entry at `price` given `equity` and the annualised
    /// volatility `ann_vol` (a fraction, e.g. 0.3) of the instrument's returns.
    /// `None` when the rule gives nothing to trade.
    #[must_use]
    pub fn quantity(&self, equity: f64, price: f64, ann_vol: Option<f64>) -> Option<OrderQty> {
        match *self {
            Self::EquityFraction { fraction } => Some(OrderQty::EquityFraction(fraction)),
            Self::Fixed { quantity } => Some(OrderQty::Units(quantity)),
            Self::VolTarget { target_pct } => {
                let vol = ann_vol.filter(|v| *v > 0.0)?;
                let units = (equity * target_pct / 100.0 / (price * vol)).floor();
                if !(units.is_finite() && units >= 1.0) {
                    return None;
                }
                // Whole units; f64 → integer is the one sanctioned crossing from statistics to a size.
                Quantity::new(Decimal::from(units as i64))
                    .ok()
                    .map(OrderQty::Units)
            }
        }
    }

    /// Whether sizes depend on a volatility estimate.
    #[must_use]
    pub fn needs_vol(&self) -> bool {
        matches!(self, Self::VolTarget { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_full_equity_constant() {
        assert_eq!(FULL_EQUITY.to_string(), "0.9999999999999997779553950750");
    }

    #[test]
    fn test_sizing_from_params() {
        assert_eq!(
            Sizing::from_params("s", &Params::new()).unwrap(),
            Sizing::default()
        );
        assert!(matches!(
            Sizing::from_params("s", &Params::new().with("size", "0.5")).unwrap(),
            Sizing::EquityFraction { .. }
        ));
        assert!(matches!(
            Sizing::from_params("s", &Params::new().with("size", "10")).unwrap(),
            Sizing::Fixed { .. }
        ));
        assert!(Sizing::from_params("s", &Params::new().with("size", "-1")).is_err());
        let v = Sizing::from_params("s", &Params::new().with("vol_target", "20")).unwrap();
        assert_eq!(
            v.quantity(10_000.0, 100.0, Some(0.2)),
            Some(OrderQty::Units(Quantity::parse("100").unwrap()))
        );
        assert_eq!(v.quantity(10_000.0, 100.0, None), None);
    }
}
