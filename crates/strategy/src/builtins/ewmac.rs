//! EWMAC trend following with a volatility-scaled position (pysystemtrade).

use rust_decimal::Decimal;
use tessera_model::{Bar, InstrumentId, Quantity, Side};

use super::positive;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::indicators::{Ema, EwmVol};
use crate::order::{OrderIntent, OrderQty};
use crate::params::Params;
use crate::strategy::Strategy;

/// pysystemtrade's forecast scalars for the standard EWMAC pairs (fast, slow = 4·fast).
fn default_scalar(fast: usize) -> f64 {
    match fast {
        2 => 10.6,
        4 => 7.5,
        8 => 5.3,
        16 => 3.75,
        32 => 2.65,
        64 => 1.87,
        _ => 4.0,
    }
}

/// Forecast `(EMA_fast − EMA_slow) / σ(Δprice) × scalar`, capped at ±`cap`; the
/// position is `forecast / 10 × equity × vol_target / (σ(Δprice) × √periods_per_year)`
/// units, traded only when it differs from the current one by more than
/// `buffer` × the average (forecast 10) position.
#[derive(Debug)]
pub struct Ewmac {
    slow_n: usize,
    scalar: f64,
    cap: f64,
    vol_target: f64,
    buffer: f64,
    ppy: f64,
    fast: Ema,
    slow: Ema,
    vol: EwmVol,
    prev: Option<f64>,
    seen: usize,
    instrument: Option<InstrumentId>,
}

impl Ewmac {
    /// Parameters `fast`, `slow`, `vol_span`, `scalar`, `cap`, `vol_target`, `buffer`, `periods_per_year`.
    ///
    /// # Errors
    /// [`Error::Param`] for unknown names, `fast ≥ slow` or non-positive targets.
    pub fn from_params(p: &Params) -> Result<Self> {
        const NAME: &str = "ewmac";
        p.check_known(
            NAME,
            &[
                "fast",
                "slow",
                "vol_span",
                "scalar",
                "cap",
                "vol_target",
                "buffer",
                "periods_per_year",
            ],
        )?;
        let fast = positive(NAME, "fast", p.get_or(NAME, "fast", 16)?)?;
        let slow = positive(NAME, "slow", p.get_or(NAME, "slow", fast * 4)?)?;
        if fast >= slow {
            return Err(Error::Param {
                strategy: NAME.into(),
                param: "fast".into(),
                reason: format!("{fast} must be below slow {slow}"),
            });
        }
        let vol_target: f64 = p.get_or(NAME, "vol_target", 20.0)?;
        if vol_target <= 0.0 {
            return Err(Error::Param {
                strategy: NAME.into(),
                param: "vol_target".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(Self {
            slow_n: slow,
            scalar: p.get_or(NAME, "scalar", default_scalar(fast))?,
            cap: p.get_or(NAME, "cap", 20.0)?,
            vol_target,
            buffer: p.get_or(NAME, "buffer", 0.1)?,
            ppy: p.get_or(NAME, "periods_per_year", 252.0)?,
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            vol: EwmVol::new(p.get_or(NAME, "vol_span", 35)?),
            prev: None,
            seen: 0,
            instrument: None,
        })
    }
}

impl Strategy for Ewmac {
    fn name(&self) -> &str {
        "ewmac"
    }

    fn warmup_bars(&self) -> usize {
        self.slow_n
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) -> Result<()> {
        let instrument = *self.instrument.get_or_insert(bar.instrument);
        if instrument != bar.instrument {
            return Ok(());
        }
        let close = ctx.values().close;
        let f = self.fast.update(close);
        let s = self.slow.update(close);
        self.seen += 1;
        let Some(prev) = self.prev.replace(close) else {
            return Ok(());
        };
        let sigma = self.vol.update(close - prev);
        if self.seen <= self.slow_n || sigma <= 0.0 || ctx.open_orders(&instrument) > 0 {
            return Ok(());
        }
        let forecast = ((f - s) / sigma * self.scalar).clamp(-self.cap, self.cap);
        let avg_units = ctx.equity() * self.vol_target / 100.0 / (sigma * self.ppy.sqrt());
        let target = (forecast / 10.0 * avg_units).trunc();
        let current =
            rust_decimal::prelude::ToPrimitive::to_f64(&ctx.position(&instrument)).unwrap_or(0.0);
        let diff = target - current;
        if !diff.is_finite() || diff.abs() < 1.0 || diff.abs() <= self.buffer * avg_units {
            return Ok(());
        }
        let qty = Quantity::new(Decimal::from(diff.abs() as i64))?;
        let side = if diff > 0.0 { Side::Buy } else { Side::Sell };
        ctx.submit(OrderIntent::market(instrument, side, OrderQty::Units(qty)))?;
        Ok(())
    }
}
