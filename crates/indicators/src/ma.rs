//! Moving averages: SMA, EMA, WMA, DEMA, TEMA, KAMA, TRIMA.
//!
//! Running sums add the newest value, emit, then subtract the oldest, exactly as TA-Lib's
//! `TA_INT_SMA` does, so rounding matches TA-Lib bit for bit when started at the same bar.

use crate::error::{check_lengths, check_period};
use crate::window::RingBuffer;
use crate::{Indicator, Result, run_single};

/// Simple moving average over `period` values (TA-Lib `SMA`, lookback `period - 1`).
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    inv: f64,
    window: RingBuffer,
    sum: f64,
}

impl Sma {
    /// An SMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("sma", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            inv: 1.0 / period as f64,
            window: RingBuffer::new(period),
            sum: 0.0,
        })
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            self.sum += x;
            return None;
        }
        let total = self.sum + x;
        self.sum = total - self.window.oldest();
        Some(total * self.inv)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0.0;
    }
}

/// Exponential moving average, `k = 2 / (period + 1)`, seeded with the SMA of the first
/// `period` values (TA-Lib `EMA` in its default compatibility mode, lookback `period - 1`).
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    keep: f64,
    skip: usize,
    seen: usize,
    value: f64,
}

impl Ema {
    /// An EMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("ema", "timeperiod", period, 1)?;
        Ok(Self::with_k(period, 2.0 / (period as f64 + 1.0), 0))
    }

    /// An EMA with an explicit smoothing factor that ignores its first `skip` inputs, so its
    /// SMA seed ends at input `skip + period - 1` (what TA-Lib's MACD does with its fast EMA).
    pub(crate) fn with_k(period: usize, k: f64, skip: usize) -> Self {
        Self {
            period,
            k,
            keep: 1.0 - k,
            skip,
            seen: 0,
            value: 0.0,
        }
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let warm = self.skip + self.period;
        if self.seen >= warm {
            // TA-Lib: `(x − v)·k + v`; `v·(1 − k) + x·k` keeps one multiply-add on the dependency
            // chain and stays within an ULP or two of TA-Lib.
            self.value = self.value * self.keep + x * self.k;
            return Some(self.value);
        }
        self.seen += 1;
        if self.seen <= self.skip {
            return None;
        }
        self.value += x;
        if self.seen == warm {
            self.value /= self.period as f64;
            return Some(self.value);
        }
        None
    }

    fn lookback(&self) -> usize {
        self.skip + self.period - 1
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.value = 0.0;
    }
}

/// Linearly weighted moving average, weights `1..=period` (TA-Lib `WMA`, lookback `period - 1`).
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    divider: f64,
    window: RingBuffer,
    sum: f64,
    sub: f64,
    trailing: f64,
}

impl Wma {
    /// A WMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("wma", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            divider: ((period * (period + 1)) >> 1) as f64,
            window: RingBuffer::new(period),
            sum: 0.0,
            sub: 0.0,
            trailing: 0.0,
        })
    }
}

impl Indicator for Wma {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            self.sub += x;
            self.sum += x * self.window.len() as f64;
            return None;
        }
        self.sub += x;
        self.sub -= self.trailing;
        self.sum += x * self.period as f64;
        self.trailing = self.window.oldest();
        let out = self.sum / self.divider;
        self.sum -= self.sub;
        Some(out)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0.0;
        self.sub = 0.0;
        self.trailing = 0.0;
    }
}

/// Double EMA: `2·EMA − EMA(EMA)` (TA-Lib `DEMA`, lookback `2·(period − 1)`).
#[derive(Debug, Clone)]
pub struct Dema {
    e1: Ema,
    e2: Ema,
}

impl Dema {
    /// A DEMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("dema", "timeperiod", period, 1)?;
        Ok(Self {
            e1: Ema::new(period)?,
            e2: Ema::new(period)?,
        })
    }
}

impl Indicator for Dema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        Some((2.0 * a) - b)
    }

    fn lookback(&self) -> usize {
        self.e1.lookback() * 2
    }

    fn reset(&mut self) {
        self.e1.reset();
        self.e2.reset();
    }
}

/// Triple EMA: `3·EMA − 3·EMA² + EMA³` (TA-Lib `TEMA`, lookback `3·(period − 1)`).
#[derive(Debug, Clone)]
pub struct Tema {
    e1: Ema,
    e2: Ema,
    e3: Ema,
}

impl Tema {
    /// A TEMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("tema", "timeperiod", period, 1)?;
        Ok(Self {
            e1: Ema::new(period)?,
            e2: Ema::new(period)?,
            e3: Ema::new(period)?,
        })
    }
}

impl Indicator for Tema {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        let c = self.e3.update(b)?;
        Some((3.0 * a) - (3.0 * b) + c)
    }

    fn lookback(&self) -> usize {
        self.e1.lookback() * 3
    }

    fn reset(&mut self) {
        self.e1.reset();
        self.e2.reset();
        self.e3.reset();
    }
}

/// Kaufman adaptive moving average with TA-Lib's fixed fast/slow constants 2 and 30
/// (TA-Lib `KAMA`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Kama {
    period: usize,
    /// The last `period + 1` inputs.
    window: RingBuffer,
    sum_roc: f64,
    value: f64,
}

impl Kama {
    const CONST_MAX: f64 = 2.0 / (30.0 + 1.0);
    const CONST_DIFF: f64 = 2.0 / (2.0 + 1.0) - Self::CONST_MAX;

    /// A KAMA whose efficiency ratio spans `period` (≥ 1) changes.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("kama", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: RingBuffer::new(period + 2),
            sum_roc: 0.0,
            value: 0.0,
        })
    }

    #[inline]
    fn smooth(&mut self, x: f64, period_roc: f64) -> f64 {
        let er = if self.sum_roc <= period_roc || crate::is_zero(self.sum_roc) {
            1.0
        } else {
            (period_roc / self.sum_roc).abs()
        };
        let sc = (er * Self::CONST_DIFF) + Self::CONST_MAX;
        let sc = sc * sc;
        self.value = ((x - self.value) * sc) + self.value;
        self.value
    }
}

impl Indicator for Kama {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.window.len();
        if n <= self.period {
            if n > 0 {
                self.sum_roc += (self.window.back(0) - x).abs();
            }
            self.window.push(x);
            if n < self.period {
                return None;
            }
            // First output: seeded with the previous input, as TA-Lib does.
            self.value = self.window.back(1);
            let period_roc = x - self.window.back(self.period);
            return Some(self.smooth(x, period_roc));
        }
        // window holds x[t-period-1 ..= t-1] once full (capacity period + 2 keeps one spare).
        let prev = self.window.back(0);
        let trailing_prev = self.window.back(self.period);
        let trailing = self.window.back(self.period - 1);
        let period_roc = x - trailing;
        self.sum_roc -= (trailing_prev - trailing).abs();
        self.sum_roc += (x - prev).abs();
        self.window.push(x);
        Some(self.smooth(x, period_roc))
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum_roc = 0.0;
        self.value = 0.0;
    }
}

/// Triangular moving average: an SMA of an SMA (TA-Lib `TRIMA`, lookback `period - 1`).
///
/// For odd `period` both SMAs span `(period + 1) / 2`; for even, `period / 2` then
/// `period / 2 + 1`, which gives TA-Lib's weights `1, 2, …, 2, 1`.
#[derive(Debug, Clone)]
pub struct Trima {
    period: usize,
    first: Sma,
    second: Sma,
}

impl Trima {
    /// A TRIMA over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("trima", "timeperiod", period, 1)?;
        let (a, b) = if period % 2 == 1 {
            (period.div_ceil(2), period.div_ceil(2))
        } else {
            (period / 2, period / 2 + 1)
        };
        Ok(Self {
            period,
            first: Sma::new(a)?,
            second: Sma::new(b)?,
        })
    }
}

impl Indicator for Trima {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.first.update(x)?;
        self.second.update(a)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
    }
}

macro_rules! batch_fn {
    ($(#[$meta:meta])* $fn_name:ident, $ty:ident) => {
        $(#[$meta])*
        ///
        /// # Errors
        /// [`crate::Error::InvalidParameter`] when `period` is out of range.
        pub fn $fn_name(input: &[f64], period: usize) -> Result<Vec<f64>> {
            let ind = $ty::new(period)?;
            Ok(run_single(ind, input.len(), |i| input[i]))
        }
    };
}

/// Batch SMA: same length as `input`, `NaN` for the first `period - 1` values.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
pub fn sma(input: &[f64], period: usize) -> Result<Vec<f64>> {
    // Zeroed memory comes from the OS untouched, so `_into` writes every value exactly once.
    let mut out = vec![0.0; input.len()];
    sma_into(input, period, &mut out)?;
    Ok(out)
}

/// [`sma`] into a caller's buffer of `input.len()` (TA-Lib's C calling style, for reuse).
///
/// # Errors
/// As [`sma`], and [`crate::Error::LengthMismatch`] when `out` has another length.
pub fn sma_into(input: &[f64], period: usize, out: &mut [f64]) -> Result<()> {
    check_period("sma", "timeperiod", period, 1)?;
    check_lengths("sma", &[input.len(), out.len()])?;
    // A dedicated loop: the operations of [`Sma::update`] without the ring buffer.
    let warm = (period - 1).min(input.len());
    out[..warm].fill(f64::NAN);
    if input.len() < period {
        return Ok(());
    }
    // Multiplying by the reciprocal instead of dividing (TA-Lib divides) is within an ULP and
    // takes the divider's throughput limit out of the loop.
    let inv = 1.0 / period as f64;
    let mut sum = 0.0;
    for &x in &input[..period - 1] {
        sum += x;
    }
    for (o, (&x, &old)) in out[period - 1..]
        .iter_mut()
        .zip(input[period - 1..].iter().zip(input))
    {
        let total = sum + x;
        sum = total - old;
        *o = total * inv;
    }
    Ok(())
}

/// Batch EMA: same length as `input`, `NaN` for the first `period - 1` values.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
pub fn ema(input: &[f64], period: usize) -> Result<Vec<f64>> {
    let mut out = vec![0.0; input.len()];
    ema_into(input, period, &mut out)?;
    Ok(out)
}

/// [`ema`] into a caller's buffer of `input.len()`.
///
/// # Errors
/// As [`ema`], and [`crate::Error::LengthMismatch`] when `out` has another length.
pub fn ema_into(input: &[f64], period: usize, out: &mut [f64]) -> Result<()> {
    check_period("ema", "timeperiod", period, 1)?;
    check_lengths("ema", &[input.len(), out.len()])?;
    let warm = (period - 1).min(input.len());
    out[..warm].fill(f64::NAN);
    if input.len() < period {
        return Ok(());
    }
    let k = 2.0 / (period as f64 + 1.0);
    let keep = 1.0 - k;
    let mut v = 0.0;
    for &x in &input[..period] {
        v += x;
    }
    v /= period as f64;
    out[period - 1] = v;
    for (o, &x) in out[period..].iter_mut().zip(&input[period..]) {
        v = v * keep + x * k;
        *o = v;
    }
    Ok(())
}

batch_fn!(
    /// Batch WMA: same length as `input`, `NaN` for the first `period - 1` values.
    wma, Wma
);
batch_fn!(
    /// Batch DEMA: same length as `input`, `NaN` for the first `2·(period − 1)` values.
    dema, Dema
);
batch_fn!(
    /// Batch TEMA: same length as `input`, `NaN` for the first `3·(period − 1)` values.
    tema, Tema
);
batch_fn!(
    /// Batch KAMA: same length as `input`, `NaN` for the first `period` values.
    kama, Kama
);
batch_fn!(
    /// Batch TRIMA: same length as `input`, `NaN` for the first `period - 1` values.
    trima, Trima
);

pub(crate) use batch_fn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sma_known_values() {
        let out = sma(&[1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert!(out[0].is_nan());
        assert_eq!(&out[1..], &[1.5, 2.5, 3.5]);
    }

    #[test]
    fn test_ema_seeded_with_sma() {
        let out = ema(&[1.0, 2.0, 3.0, 4.0], 3).unwrap();
        assert_eq!(out[2], 2.0);
        assert_eq!(out[3], 3.0);
    }

    #[test]
    fn test_trima_even_weights() {
        let out = trima(&[1.0, 2.0, 3.0, 4.0], 4).unwrap();
        assert!((out[3] - (1.0 + 4.0 + 6.0 + 4.0) / 6.0).abs() < 1e-12);
    }

    #[test]
    fn test_period_zero_is_an_error() {
        assert!(Sma::new(0).is_err());
    }
}
