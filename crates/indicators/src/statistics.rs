//! Rolling statistics: LINEARREG_SLOPE, MAX, MIN, Donchian channel, z-score, log returns.

use crate::error::{check_lengths, check_period};
use crate::ma::batch_fn;
use crate::volatility::CenteredMoments;
use crate::window::{Extreme, MonotonicWindow, RingBuffer};
use crate::{Indicator, Ohlcv, Result, bar_at, outputs, run_multi, run_single};

/// Slope of the least-squares line through the last `period` values, per bar
/// (TA-Lib `LINEARREG_SLOPE`, lookback `period − 1`).
///
/// Running sums make each update O(1); to keep their rounding from drifting they are
/// recomputed from the window every `period` bars, in TA-Lib's order (amortised O(1)).
#[derive(Debug, Clone)]
pub struct LinearRegSlope {
    period: usize,
    p: f64,
    sum_x: f64,
    divisor: f64,
    window: RingBuffer,
    sum_y: f64,
    sum_xy: f64,
    since_refresh: usize,
}

impl LinearRegSlope {
    /// A slope over `period` (≥ 2) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is below 2 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("linearreg_slope", "timeperiod", period, 2)?;
        let p = period as f64;
        let sum_x = p * (p - 1.0) * 0.5;
        let sum_x_sqr = p * (p - 1.0) * (2.0 * p - 1.0) / 6.0;
        Ok(Self {
            period,
            p,
            sum_x,
            divisor: sum_x * sum_x - p * sum_x_sqr,
            window: RingBuffer::new(period),
            sum_y: 0.0,
            sum_xy: 0.0,
            since_refresh: 0,
        })
    }

    /// Recomputes the sums from the window exactly as TA-Lib does (x = bars ago).
    fn refresh(&mut self) {
        self.sum_y = 0.0;
        self.sum_xy = 0.0;
        for ago in (0..self.period).rev() {
            let v = self.window.back(ago);
            self.sum_y += v;
            self.sum_xy += ago as f64 * v;
        }
        self.since_refresh = 0;
    }
}

impl Indicator for LinearRegSlope {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let evicted = self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        match evicted {
            Some(old) if self.since_refresh + 1 < self.period => {
                // Every value ages one bar (x + 1), the evicted one leaves, the new one has x = 0.
                self.sum_xy = (self.sum_xy - (self.p - 1.0) * old) + (self.sum_y - old);
                self.sum_y = self.sum_y - old + x;
                self.since_refresh += 1;
            }
            _ => self.refresh(),
        }
        Some((self.p * self.sum_xy - self.sum_x * self.sum_y) / self.divisor)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum_y = 0.0;
        self.sum_xy = 0.0;
        self.since_refresh = 0;
    }
}

/// Highest value over `period` values (TA-Lib `MAX`, lookback `period − 1`), amortised O(1).
#[derive(Debug, Clone)]
pub struct Max {
    period: usize,
    window: MonotonicWindow,
}

impl Max {
    /// A rolling maximum over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("max", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: MonotonicWindow::new(period, Extreme::Max),
        })
    }
}

impl Indicator for Max {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let (v, _) = self.window.push(x);
        (self.window.count() >= self.period as u64).then_some(v)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

/// Lowest value over `period` values (TA-Lib `MIN`, lookback `period − 1`), amortised O(1).
#[derive(Debug, Clone)]
pub struct Min {
    period: usize,
    window: MonotonicWindow,
}

impl Min {
    /// A rolling minimum over `period` (≥ 1) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("min", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: MonotonicWindow::new(period, Extreme::Min),
        })
    }
}

impl Indicator for Min {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let (v, _) = self.window.push(x);
        (self.window.count() >= self.period as u64).then_some(v)
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

outputs!(
    /// Donchian channel outputs.
    DonchianOutput {
        /// Highest high over the period.
        upperband => "upperband",
        /// `(upper + lower) / 2`.
        middleband => "middleband",
        /// Lowest low over the period.
        lowerband => "lowerband",
    }
);

/// Donchian channel: highest high and lowest low over `period` bars (not in TA-Lib;
/// equals `MAX(high)` / `MIN(low)`, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct Donchian {
    max: Max,
    min: Min,
}

impl Donchian {
    /// A channel over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("donchian", "timeperiod", period, 1)?;
        Ok(Self {
            max: Max::new(period)?,
            min: Min::new(period)?,
        })
    }
}

impl Indicator for Donchian {
    type Input = Ohlcv;
    type Output = DonchianOutput;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<DonchianOutput> {
        let hi = self.max.update(bar.high);
        let lo = self.min.update(bar.low);
        let (u, l) = (hi?, lo?);
        Some(DonchianOutput {
            upperband: u,
            middleband: (u + l) / 2.0,
            lowerband: l,
        })
    }

    fn lookback(&self) -> usize {
        self.max.lookback()
    }

    fn reset(&mut self) {
        self.max.reset();
        self.min.reset();
    }
}

/// Batch Donchian channel.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn donchian(high: &[f64], low: &[f64], period: usize) -> Result<DonchianOutput<Vec<f64>>> {
    let n = check_lengths("donchian", &[high.len(), low.len()])?;
    let ind = Donchian::new(period)?;
    Ok(DonchianOutput::from_columns(run_multi(ind, n, |i| {
        bar_at(&[], high, low, &[], &[], i)
    })))
}

/// Z-score of the newest value against the last `period` values, `(x − mean) / σ` with the
/// population σ; `0` on a flat window (not in TA-Lib, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct ZScore {
    period: usize,
    sums: CenteredMoments,
}

impl ZScore {
    /// A z-score over `period` (≥ 2) values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is below 2 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("zscore", "timeperiod", period, 2)?;
        Ok(Self {
            period,
            sums: CenteredMoments::new(period),
        })
    }
}

impl Indicator for ZScore {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        let (mean, var) = self.sums.update(x)?;
        Some(if crate::is_zero_or_neg(var) {
            0.0
        } else {
            (x - mean) / var.sqrt()
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}

/// Log return over `period` bars, `ln(x / x[t−period])` (not in TA-Lib, lookback `period`).
#[derive(Debug, Clone)]
pub struct LogReturn {
    period: usize,
    window: RingBuffer,
}

impl LogReturn {
    /// A log return over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("logret", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: RingBuffer::new(period + 1),
        })
    }
}

impl Indicator for LogReturn {
    type Input = f64;
    type Output = f64;

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if !self.window.is_full() {
            return None;
        }
        Some((x / self.window.oldest()).ln())
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

batch_fn!(
    /// Batch LINEARREG_SLOPE.
    linearreg_slope, LinearRegSlope
);
batch_fn!(
    /// Batch MAX.
    max, Max
);
batch_fn!(
    /// Batch MIN.
    min, Min
);
batch_fn!(
    /// Batch z-score.
    zscore, ZScore
);
batch_fn!(
    /// Batch log returns.
    logret, LogReturn
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_linearreg_slope_of_a_line() {
        let xs: Vec<f64> = (0..50).map(|i| 3.0 + 2.0 * i as f64).collect();
        let out = linearreg_slope(&xs, 7).unwrap();
        for v in &out[6..] {
            assert!((v - 2.0).abs() < 1e-12, "{v}");
        }
    }
}
