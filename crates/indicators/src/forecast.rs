//! Volatility and pysystemtrade-style trading-rule forecasts: EWMA volatility, EWMAC, breakout.
//!
//! Forecasts follow Robert Carver's pysystemtrade: a raw signal divided by price volatility,
//! multiplied by a forecast scalar so the average absolute forecast is about 10, then capped
//! at ±20. Differences from pysystemtrade, all deliberate and documented in
//! `docs/indicators.md`: EWMAs use the recursive form (pandas `adjust=False`) seeded with the
//! first value, output starts only once every window is full, and the volatility is the
//! zero-mean EWMA of squared price changes (span 35, pysystemtrade's default `vol_days`)
//! without pysystemtrade's floor.

use crate::error::{Error, check_finite, check_period};
use crate::statistics::{Max, Min};
use crate::{Indicator, Result, run_single};

/// The forecast cap of pysystemtrade.
pub const FORECAST_CAP: f64 = 20.0;

/// Span of the price-change volatility used by [`Ewmac`] (pysystemtrade's `vol_days`).
pub const EWMAC_VOL_SPAN: usize = 35;

/// pysystemtrade's forecast scalars for EWMAC `(fast, slow = 4·fast)`.
pub const EWMAC_SCALARS: [(usize, usize, f64); 6] = [
    (2, 8, 10.6),
    (4, 16, 7.5),
    (8, 32, 5.3),
    (16, 64, 3.75),
    (32, 128, 2.65),
    (64, 256, 1.87),
];

/// pysystemtrade's forecast scalars for breakout by lookback.
pub const BREAKOUT_SCALARS: [(usize, f64); 6] = [
    (10, 0.60),
    (20, 0.67),
    (40, 0.70),
    (80, 0.73),
    (160, 0.74),
    (320, 0.74),
];

/// A recursive EWMA with `alpha = 2 / (span + 1)`, seeded with the first value.
#[derive(Debug, Clone, Copy)]
struct Ewma {
    alpha: f64,
    value: Option<f64>,
}

impl Ewma {
    fn new(span: usize) -> Self {
        Self {
            alpha: 2.0 / (span as f64 + 1.0),
            value: None,
        }
    }

    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        let v = match self.value {
            None => x,
            Some(v) => v + self.alpha * (x - v),
        };
        self.value = Some(v);
        v
    }
}

/// EWMA volatility of one-bar log returns: `sqrt(EWMA(r²))`, `alpha = 2 / (span + 1)`, seeded
/// with the mean of the first `span` squared returns; per bar, not annualised
/// (not in TA-Lib, lookback `span`).
#[derive(Debug, Clone)]
pub struct EwmaVol {
    span: usize,
    alpha: f64,
    prev: Option<f64>,
    count: usize,
    var: f64,
}

impl EwmaVol {
    /// An EWMA volatility with `span` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `span` is 0 or above 100,000.
    pub fn new(span: usize) -> Result<Self> {
        check_period("vol_ewma", "span", span, 1)?;
        Ok(Self {
            span,
            alpha: 2.0 / (span as f64 + 1.0),
            prev: None,
            count: 0,
            var: 0.0,
        })
    }
}

impl Indicator for EwmaVol {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let r = (x / prev).ln();
        let r2 = r * r;
        if self.count < self.span {
            self.count += 1;
            self.var += r2;
            if self.count < self.span {
                return None;
            }
            self.var /= self.span as f64;
        } else {
            self.var += self.alpha * (r2 - self.var);
        }
        Some(self.var.sqrt())
    }

    fn lookback(&self) -> usize {
        self.span
    }

    fn reset(&mut self) {
        self.prev = None;
        self.count = 0;
        self.var = 0.0;
    }
}

/// Caps a scaled forecast at ±[`FORECAST_CAP`].
#[inline]
fn cap(x: f64) -> f64 {
    x.clamp(-FORECAST_CAP, FORECAST_CAP)
}

/// pysystemtrade's EWMAC forecast: `scalar · (EWMA_fast − EWMA_slow) / σ_Δp`, capped at ±20
/// (lookback `max(slow, 35)`).
#[derive(Debug, Clone)]
pub struct Ewmac {
    fast: Ewma,
    slow: Ewma,
    vol: Ewma,
    scalar: f64,
    lookback: usize,
    prev: Option<f64>,
    seen: usize,
}

impl Ewmac {
    /// An EWMAC with `fast` < `slow` spans; `scalar = 0` takes pysystemtrade's scalar for a
    /// standard `(fast, 4·fast)` pair (see [`EWMAC_SCALARS`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when a span is out of range, `fast >= slow`, or `scalar`
    /// is 0 for a pair without a published scalar.
    pub fn new(fast: usize, slow: usize, scalar: f64) -> Result<Self> {
        check_period("ewmac", "fast", fast, 1)?;
        check_period("ewmac", "slow", slow, 2)?;
        check_finite("ewmac", "scalar", scalar)?;
        if fast >= slow {
            return Err(Error::InvalidParameter {
                indicator: "ewmac",
                param: "fast",
                value: fast as f64,
                reason: format!("must be below slow ({slow})"),
            });
        }
        let scalar = if scalar == 0.0 {
            EWMAC_SCALARS.iter().find(|(f, s, _)| *f == fast && *s == slow).map(|t| t.2).ok_or_else(|| {
                Error::InvalidParameter {
                    indicator: "ewmac",
                    param: "scalar",
                    value: 0.0,
                    reason: format!(
                        "pysystemtrade publishes scalars only for (2,8) (4,16) (8,32) (16,64) (32,128) (64,256); \
                         give one for ({fast},{slow})"
                    ),
                }
            })?
        } else {
            scalar
        };
        Ok(Self {
            fast: Ewma::new(fast),
            slow: Ewma::new(slow),
            vol: Ewma::new(EWMAC_VOL_SPAN),
            scalar,
            lookback: slow.max(EWMAC_VOL_SPAN),
            prev: None,
            seen: 0,
        })
    }
}

impl Indicator for Ewmac {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let f = self.fast.update(x);
        let s = self.slow.update(x);
        let prev = self.prev.replace(x);
        let var = prev.map(|p| self.vol.update((x - p) * (x - p)));
        if self.seen < self.lookback {
            self.seen += 1;
            return None;
        }
        let sd = var.unwrap_or(0.0).sqrt();
        Some(if sd > 0.0 {
            cap(self.scalar * (f - s) / sd)
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    fn reset(&mut self) {
        self.fast.value = None;
        self.slow.value = None;
        self.vol.value = None;
        self.prev = None;
        self.seen = 0;
    }
}

/// pysystemtrade's breakout forecast: `40 · (x − mid) / (max − min)` over `lookback` bars,
/// smoothed by an EWMA of span `max(lookback / 4, 1)`, scaled and capped at ±20
/// (lookback `lookback − 1`).
#[derive(Debug, Clone)]
pub struct Breakout {
    max: Max,
    min: Min,
    smooth: Ewma,
    scalar: f64,
    lookback: usize,
}

impl Breakout {
    /// A breakout over `lookback` (≥ 2) bars; `scalar = 0` takes pysystemtrade's scalar for a
    /// standard lookback (see [`BREAKOUT_SCALARS`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `lookback` is out of range or `scalar` is 0 for a
    /// lookback without a published scalar.
    pub fn new(lookback: usize, scalar: f64) -> Result<Self> {
        check_period("breakout", "lookback", lookback, 2)?;
        check_finite("breakout", "scalar", scalar)?;
        let scalar = if scalar == 0.0 {
            BREAKOUT_SCALARS.iter().find(|(l, _)| *l == lookback).map(|t| t.1).ok_or_else(|| {
                Error::InvalidParameter {
                    indicator: "breakout",
                    param: "scalar",
                    value: 0.0,
                    reason: format!(
                        "pysystemtrade publishes scalars only for lookbacks 10, 20, 40, 80, 160, 320; give one for {lookback}"
                    ),
                }
            })?
        } else {
            scalar
        };
        Ok(Self {
            max: Max::new(lookback)?,
            min: Min::new(lookback)?,
            smooth: Ewma::new((lookback / 4).max(1)),
            scalar,
            lookback,
        })
    }
}

impl Indicator for Breakout {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let hi = self.max.update(x);
        let lo = self.min.update(x);
        let (hi, lo) = (hi?, lo?);
        let range = hi - lo;
        let raw = if range > 0.0 {
            40.0 * (x - (hi + lo) / 2.0) / range
        } else {
            0.0
        };
        Some(cap(self.scalar * self.smooth.update(raw)))
    }

    fn lookback(&self) -> usize {
        self.lookback - 1
    }

    fn reset(&mut self) {
        self.max.reset();
        self.min.reset();
        self.smooth.value = None;
    }
}

/// Batch EWMA volatility.
///
/// # Errors
/// As [`EwmaVol::new`].
pub fn vol_ewma(input: &[f64], span: usize) -> Result<Vec<f64>> {
    Ok(run_single(EwmaVol::new(span)?, input.len(), |i| input[i]))
}

/// Batch EWMAC forecast.
///
/// # Errors
/// As [`Ewmac::new`].
pub fn ewmac(input: &[f64], fast: usize, slow: usize, scalar: f64) -> Result<Vec<f64>> {
    Ok(run_single(
        Ewmac::new(fast, slow, scalar)?,
        input.len(),
        |i| input[i],
    ))
}

/// Batch breakout forecast.
///
/// # Errors
/// As [`Breakout::new`].
pub fn breakout(input: &[f64], lookback: usize, scalar: f64) -> Result<Vec<f64>> {
    Ok(run_single(
        Breakout::new(lookback, scalar)?,
        input.len(),
        |i| input[i],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ewmac_trend_is_positive_and_capped() {
        let xs: Vec<f64> = (0..400)
            .map(|i| 100.0 + i as f64 + (i % 3) as f64)
            .collect();
        let out = ewmac(&xs, 16, 64, 0.0).unwrap();
        assert!(out[63].is_nan());
        assert!(out[399] > 0.0 && out[399] <= FORECAST_CAP);
    }

    #[test]
    fn test_breakout_at_new_high_is_positive() {
        let xs: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let out = breakout(&xs, 20, 0.0).unwrap();
        assert!(out[99] > 0.0 && out[99] <= FORECAST_CAP);
    }

    #[test]
    fn test_ewmac_without_scalar_for_odd_pair_is_an_error() {
        assert!(Ewmac::new(3, 10, 0.0).is_err());
    }
}
