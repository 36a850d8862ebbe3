//! Wilder's directional movement system: +DI, −DI and ADX.

use crate::error::{check_lengths, check_period};
use crate::volatility::true_range;
use crate::{Indicator, Ohlcv, Result, bar_at, is_zero, run_single};

/// Wilder-smoothed +DM, −DM and true range, shared by [`PlusDi`], [`MinusDi`] and [`Adx`].
///
/// Bars `1..period` are summed, bar `period` onwards smoothed with `s − s/period + x`, exactly
/// TA-Lib's sequence.
#[derive(Debug, Clone)]
struct DmCore {
    period: usize,
    decay: f64,
    seen: usize,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
}

impl DmCore {
    fn new(period: usize) -> Self {
        Self {
            period,
            decay: 1.0 - 1.0 / period as f64,
            seen: 0,
            prev_high: 0.0,
            prev_low: 0.0,
            prev_close: 0.0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
        }
    }

    /// Feeds a bar; from bar `period` on returns `(+DM, −DM, TR)` smoothed.
    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<(f64, f64, f64)> {
        let t = self.seen;
        if t == 0 {
            self.seen = 1;
            self.prev_high = bar.high;
            self.prev_low = bar.low;
            self.prev_close = bar.close;
            return None;
        }
        let diff_p = bar.high - self.prev_high;
        let diff_m = self.prev_low - bar.low;
        self.prev_high = bar.high;
        self.prev_low = bar.low;
        let tr = true_range(bar.high, bar.low, self.prev_close);
        self.prev_close = bar.close;
        if t < self.period {
            self.seen += 1;
            if diff_m > 0.0 && diff_p < diff_m {
                self.minus_dm += diff_m;
            } else if diff_p > 0.0 && diff_p > diff_m {
                self.plus_dm += diff_p;
            }
            self.tr += tr;
            return None;
        }
        // TA-Lib writes `s − s/period + x`; `s·(1 − 1/period) + x` keeps the division off the
        // dependency chain and differs by at most an ULP per step (smoothing does not amplify it).
        let minus = if diff_m > 0.0 && diff_p < diff_m {
            diff_m
        } else {
            0.0
        };
        let plus = if diff_p > 0.0 && diff_p > diff_m {
            diff_p
        } else {
            0.0
        };
        self.minus_dm = self.minus_dm * self.decay + minus;
        self.plus_dm = self.plus_dm * self.decay + plus;
        self.tr = self.tr * self.decay + tr;
        Some((self.plus_dm, self.minus_dm, self.tr))
    }

    fn reset(&mut self) {
        *self = Self::new(self.period);
    }
}

/// Plus directional indicator, `100 · +DM / TR` (TA-Lib `PLUS_DI`, lookback `period`).
#[derive(Debug, Clone)]
pub struct PlusDi {
    core: DmCore,
}

impl PlusDi {
    /// A +DI over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("plus_di", "timeperiod", period, 1)?;
        Ok(Self {
            core: DmCore::new(period),
        })
    }
}

impl Indicator for PlusDi {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let (pdm, _, tr) = self.core.update(bar)?;
        Some(if is_zero(tr) { 0.0 } else { 100.0 * (pdm / tr) })
    }

    fn lookback(&self) -> usize {
        self.core.period
    }

    fn reset(&mut self) {
        self.core.reset();
    }
}

/// Minus directional indicator, `100 · −DM / TR` (TA-Lib `MINUS_DI`, lookback `period`).
#[derive(Debug, Clone)]
pub struct MinusDi {
    core: DmCore,
}

impl MinusDi {
    /// A −DI over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("minus_di", "timeperiod", period, 1)?;
        Ok(Self {
            core: DmCore::new(period),
        })
    }
}

impl Indicator for MinusDi {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let (_, mdm, tr) = self.core.update(bar)?;
        Some(if is_zero(tr) { 0.0 } else { 100.0 * (mdm / tr) })
    }

    fn lookback(&self) -> usize {
        self.core.period
    }

    fn reset(&mut self) {
        self.core.reset();
    }
}

/// Average directional index (TA-Lib `ADX`, lookback `2·period − 1`).
///
/// DX from bar `period`; the first ADX is the mean of the first `period` DX values, then
/// Wilder-smoothed. A bar with zero true range or zero `+DI + −DI` leaves ADX unchanged, as
/// in TA-Lib.
#[derive(Debug, Clone)]
pub struct Adx {
    core: DmCore,
    p: f64,
    pm1: f64,
    dx_count: usize,
    value: f64,
}

impl Adx {
    /// An ADX over `period` (≥ 2) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is below 2 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("adx", "timeperiod", period, 2)?;
        Ok(Self {
            core: DmCore::new(period),
            p: period as f64,
            pm1: (period - 1) as f64,
            dx_count: 0,
            value: 0.0,
        })
    }

    #[inline]
    fn dx(pdm: f64, mdm: f64, tr: f64) -> Option<f64> {
        if is_zero(tr) {
            return None;
        }
        let minus_di = 100.0 * (mdm / tr);
        let plus_di = 100.0 * (pdm / tr);
        let sum = minus_di + plus_di;
        if is_zero(sum) {
            return None;
        }
        Some(100.0 * ((minus_di - plus_di).abs() / sum))
    }
}

impl Indicator for Adx {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let (pdm, mdm, tr) = self.core.update(bar)?;
        let dx = Self::dx(pdm, mdm, tr);
        let period = self.core.period;
        if self.dx_count >= period {
            if let Some(dx) = dx {
                self.value = ((self.value * self.pm1) + dx) / self.p;
            }
            return Some(self.value);
        }
        self.dx_count += 1;
        if let Some(dx) = dx {
            self.value += dx;
        }
        if self.dx_count == period {
            self.value /= self.p;
            return Some(self.value);
        }
        None
    }

    fn lookback(&self) -> usize {
        2 * self.core.period - 1
    }

    fn reset(&mut self) {
        self.core.reset();
        self.dx_count = 0;
        self.value = 0.0;
    }
}

macro_rules! hlc_batch {
    ($(#[$meta:meta])* $fn_name:ident, $ty:ident, $name:literal) => {
        $(#[$meta])*
        ///
        /// # Errors
        /// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`]
        /// for columns of different lengths.
        pub fn $fn_name(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
            let n = check_lengths($name, &[high.len(), low.len(), close.len()])?;
            Ok(run_single($ty::new(period)?, n, |i| bar_at(&[], high, low, close, &[], i)))
        }
    };
}

hlc_batch!(
    /// Batch +DI.
    plus_di, PlusDi, "plus_di"
);
hlc_batch!(
    /// Batch −DI.
    minus_di, MinusDi, "minus_di"
);
/// Batch ADX.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn adx(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    let mut out = vec![0.0; close.len()];
    adx_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`adx`] into a caller's buffer of `close.len()`.
///
/// # Errors
/// As [`adx`].
pub fn adx_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut [f64],
) -> Result<()> {
    check_lengths("adx", &[high.len(), low.len(), close.len(), out.len()])?;
    let mut ind = Adx::new(period)?;
    let bars = high.iter().zip(low).zip(close);
    for (o, ((&h, &l), &c)) in out.iter_mut().zip(bars) {
        *o = ind
            .update(Ohlcv::new(f64::NAN, h, l, c, f64::NAN))
            .unwrap_or(f64::NAN);
    }
    Ok(())
}
