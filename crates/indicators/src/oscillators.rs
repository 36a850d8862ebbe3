//! Bounded oscillators: STOCH, STOCHRSI, WILLR, CCI, ULTOSC, MFI, AROON.

use crate::error::{check_lengths, check_period};
use crate::ma::Sma;
use crate::momentum::Rsi;
use crate::window::{Extreme, MonotonicWindow, RingBuffer};
use crate::{Indicator, Ohlcv, Result, bar_at, outputs, run_multi, run_single};

/// `(x − lowest) / ((highest − lowest) / 100)`, `0` on a flat window: TA-Lib's %K arithmetic.
#[inline]
fn percent_k(x: f64, highest: f64, lowest: f64) -> f64 {
    let diff = (highest - lowest) / 100.0;
    if diff != 0.0 {
        (x - lowest) / diff
    } else {
        0.0
    }
}

outputs!(
    /// Slow stochastic outputs, in TA-Lib order.
    StochOutput {
        /// SMA of %K over `slowk_period`.
        slowk => "slowk",
        /// SMA of `slowk` over `slowd_period`.
        slowd => "slowd",
    }
);

/// Slow stochastic with SMA smoothing, TA-Lib's default MA types
/// (TA-Lib `STOCH`, lookback `fastk + slowk + slowd − 3`).
#[derive(Debug, Clone)]
pub struct Stoch {
    high: MonotonicWindow,
    low: MonotonicWindow,
    fastk: usize,
    slowk: Sma,
    slowd: Sma,
}

impl Stoch {
    /// A stochastic with `fastk_period`, `slowk_period`, `slowd_period` (≥ 1; TA-Lib: 5, 3, 3).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(fastk_period: usize, slowk_period: usize, slowd_period: usize) -> Result<Self> {
        check_period("stoch", "fastk_period", fastk_period, 1)?;
        check_period("stoch", "slowk_period", slowk_period, 1)?;
        check_period("stoch", "slowd_period", slowd_period, 1)?;
        Ok(Self {
            high: MonotonicWindow::new(fastk_period, Extreme::Max),
            low: MonotonicWindow::new(fastk_period, Extreme::Min),
            fastk: fastk_period,
            slowk: Sma::new(slowk_period)?,
            slowd: Sma::new(slowd_period)?,
        })
    }
}

impl Indicator for Stoch {
    type Input = Ohlcv;
    type Output = StochOutput;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<StochOutput> {
        let (hh, _) = self.high.push(bar.high);
        let (ll, _) = self.low.push(bar.low);
        if self.high.count() < self.fastk as u64 {
            return None;
        }
        let k = percent_k(bar.close, hh, ll);
        let slowk = self.slowk.update(k)?;
        let slowd = self.slowd.update(slowk)?;
        Some(StochOutput { slowk, slowd })
    }

    fn lookback(&self) -> usize {
        self.fastk - 1 + self.slowk.lookback() + self.slowd.lookback()
    }

    fn reset(&mut self) {
        self.high.clear();
        self.low.clear();
        self.slowk.reset();
        self.slowd.reset();
    }
}

/// Batch STOCH.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> Result<StochOutput<Vec<f64>>> {
    let n = check_lengths("stoch", &[high.len(), low.len(), close.len()])?;
    let ind = Stoch::new(fastk_period, slowk_period, slowd_period)?;
    Ok(StochOutput::from_columns(run_multi(ind, n, |i| {
        bar_at(&[], high, low, close, &[], i)
    })))
}

outputs!(
    /// Stochastic RSI outputs, in TA-Lib order.
    StochRsiOutput {
        /// Raw %K of the RSI over `fastk_period`.
        fastk => "fastk",
        /// SMA of `fastk` over `fastd_period`.
        fastd => "fastd",
    }
);

/// Fast stochastic of the RSI (TA-Lib `STOCHRSI`, lookback `timeperiod + fastk + fastd − 2`).
#[derive(Debug, Clone)]
pub struct StochRsi {
    rsi: Rsi,
    high: MonotonicWindow,
    low: MonotonicWindow,
    fastk_period: usize,
    fastd: Sma,
}

impl StochRsi {
    /// A STOCHRSI with `timeperiod` (≥ 2), `fastk_period`, `fastd_period` (≥ 1; TA-Lib: 14, 5, 3).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(timeperiod: usize, fastk_period: usize, fastd_period: usize) -> Result<Self> {
        check_period("stochrsi", "timeperiod", timeperiod, 2)?;
        check_period("stochrsi", "fastk_period", fastk_period, 1)?;
        check_period("stochrsi", "fastd_period", fastd_period, 1)?;
        Ok(Self {
            rsi: Rsi::new(timeperiod)?,
            high: MonotonicWindow::new(fastk_period, Extreme::Max),
            low: MonotonicWindow::new(fastk_period, Extreme::Min),
            fastk_period,
            fastd: Sma::new(fastd_period)?,
        })
    }
}

impl Indicator for StochRsi {
    type Input = f64;
    type Output = StochRsiOutput;

    #[inline]
    fn update(&mut self, x: f64) -> Option<StochRsiOutput> {
        let r = self.rsi.update(x)?;
        let (hh, _) = self.high.push(r);
        let (ll, _) = self.low.push(r);
        if self.high.count() < self.fastk_period as u64 {
            return None;
        }
        let fastk = percent_k(r, hh, ll);
        let fastd = self.fastd.update(fastk)?;
        Some(StochRsiOutput { fastk, fastd })
    }

    fn lookback(&self) -> usize {
        self.rsi.lookback() + self.fastk_period - 1 + self.fastd.lookback()
    }

    fn reset(&mut self) {
        self.rsi.reset();
        self.high.clear();
        self.low.clear();
        self.fastd.reset();
    }
}

/// Batch STOCHRSI.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when a period is out of range.
pub fn stochrsi(
    input: &[f64],
    timeperiod: usize,
    fastk_period: usize,
    fastd_period: usize,
) -> Result<StochRsiOutput<Vec<f64>>> {
    let ind = StochRsi::new(timeperiod, fastk_period, fastd_period)?;
    Ok(StochRsiOutput::from_columns(run_multi(
        ind,
        input.len(),
        |i| input[i],
    )))
}

/// Williams %R in `[−100, 0]`, `0` on a flat window (TA-Lib `WILLR`, lookback `period − 1`).
#[derive(Debug, Clone)]
pub struct Willr {
    period: usize,
    high: MonotonicWindow,
    low: MonotonicWindow,
}

impl Willr {
    /// A Williams %R over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("willr", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            high: MonotonicWindow::new(period, Extreme::Max),
            low: MonotonicWindow::new(period, Extreme::Min),
        })
    }
}

impl Indicator for Willr {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let (hh, _) = self.high.push(bar.high);
        let (ll, _) = self.low.push(bar.low);
        if self.high.count() < self.period as u64 {
            return None;
        }
        let diff = (hh - ll) / (-100.0);
        Some(if diff != 0.0 {
            (hh - bar.close) / diff
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.high.clear();
        self.low.clear();
    }
}

/// Commodity channel index (TA-Lib `CCI`, lookback `period − 1`).
///
/// The mean absolute deviation has no running form, so each update costs O(`period`) (constant
/// memory); sums run over TA-Lib's circular-buffer slot order so rounding equals TA-Lib's.
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    window: RingBuffer,
}

impl Cci {
    /// A CCI over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("cci", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            window: RingBuffer::new(period),
        })
    }
}

impl Indicator for Cci {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        self.window.push(tp);
        if !self.window.is_full() {
            return None;
        }
        let p = self.period as f64;
        let slots = self.window.slots();
        let mut avg = 0.0;
        for &v in slots {
            avg += v;
        }
        avg /= p;
        let mut dev = 0.0;
        for &v in slots {
            dev += (v - avg).abs();
        }
        let num = tp - avg;
        Some(if num != 0.0 && dev != 0.0 {
            num / (0.015 * (dev / p))
        } else {
            0.0
        })
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }

    fn reset(&mut self) {
        self.window.clear();
    }
}

/// Ultimate oscillator (TA-Lib `ULTOSC`, lookback `max(periods)`).
///
/// The periods are sorted, so the weights 4, 2, 1 always go to the shortest, middle and
/// longest, as TA-Lib does; each running sum starts at the bar TA-Lib starts it.
#[derive(Debug, Clone)]
pub struct Ultosc {
    periods: [usize; 3],
    longest: usize,
    cmtl: RingBuffer,
    tr: RingBuffer,
    a: [f64; 3],
    b: [f64; 3],
    prev_close: f64,
    seen: usize,
}

impl Ultosc {
    /// An ultimate oscillator with three periods (≥ 1; TA-Lib: 7, 14, 28).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when a period is out of range.
    pub fn new(timeperiod1: usize, timeperiod2: usize, timeperiod3: usize) -> Result<Self> {
        check_period("ultosc", "timeperiod1", timeperiod1, 1)?;
        check_period("ultosc", "timeperiod2", timeperiod2, 1)?;
        check_period("ultosc", "timeperiod3", timeperiod3, 1)?;
        let mut periods = [timeperiod1, timeperiod2, timeperiod3];
        periods.sort_unstable();
        let longest = periods[2];
        Ok(Self {
            periods,
            longest,
            cmtl: RingBuffer::new(longest),
            tr: RingBuffer::new(longest),
            a: [0.0; 3],
            b: [0.0; 3],
            prev_close: 0.0,
            seen: 0,
        })
    }
}

impl Indicator for Ultosc {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let t = self.seen;
        let yc = std::mem::replace(&mut self.prev_close, bar.close);
        if t == 0 {
            self.seen = 1;
            return None;
        }
        let true_low = if bar.low < yc { bar.low } else { yc };
        let cmtl = bar.close - true_low;
        let mut tr = bar.high - bar.low;
        let d = (yc - bar.high).abs();
        if d > tr {
            tr = d;
        }
        let d = (yc - bar.low).abs();
        if d > tr {
            tr = d;
        }
        self.cmtl.push(cmtl);
        self.tr.push(tr);
        if t < self.longest {
            for k in 0..3 {
                if t > self.longest - self.periods[k] {
                    self.a[k] += cmtl;
                    self.b[k] += tr;
                }
            }
            self.seen += 1;
            return None;
        }
        let mut out = 0.0;
        const W: [f64; 3] = [4.0, 2.0, 1.0];
        for (k, (a, b)) in self.a.iter_mut().zip(self.b.iter_mut()).enumerate() {
            *a += cmtl;
            *b += tr;
            if !crate::is_zero(*b) {
                let r = *a / *b;
                // TA-Lib adds the longest period's ratio unweighted (no `1.0 *`).
                out += if k == 2 { r } else { W[k] * r };
            }
            let ago = self.periods[k] - 1;
            *a -= self.cmtl.back(ago);
            *b -= self.tr.back(ago);
        }
        Some(100.0 * (out / 7.0))
    }

    fn lookback(&self) -> usize {
        self.longest
    }

    fn reset(&mut self) {
        self.cmtl.clear();
        self.tr.clear();
        self.a = [0.0; 3];
        self.b = [0.0; 3];
        self.prev_close = 0.0;
        self.seen = 0;
    }
}

/// Money flow index (TA-Lib `MFI`, lookback `period`); `0` when no money flowed.
#[derive(Debug, Clone)]
pub struct Mfi {
    period: usize,
    pos: RingBuffer,
    neg: RingBuffer,
    pos_sum: f64,
    neg_sum: f64,
    prev_tp: f64,
    seen: usize,
}

impl Mfi {
    /// An MFI over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("mfi", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            pos: RingBuffer::new(period),
            neg: RingBuffer::new(period),
            pos_sum: 0.0,
            neg_sum: 0.0,
            prev_tp: 0.0,
            seen: 0,
        })
    }
}

impl Indicator for Mfi {
    type Input = Ohlcv;
    type Output = f64;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<f64> {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        let diff = tp - self.prev_tp;
        self.prev_tp = tp;
        if self.seen == 0 {
            self.seen = 1;
            return None;
        }
        let full = self.pos.is_full();
        if full {
            // TA-Lib removes the oldest flow before adding the newest.
            self.pos_sum -= self.pos.oldest();
            self.neg_sum -= self.neg.oldest();
        }
        let flow = tp * bar.volume;
        // TA-Lib 0.8 counts a change of a few ULPs as no change (checked on real data: a
        // difference of 1 ULP between typical prices gives no flow); relative 1e-14 matches it.
        let (p, n) = if diff.abs() < 1e-14 * (tp - diff).abs() || diff == 0.0 {
            (0.0, 0.0)
        } else if diff < 0.0 {
            self.neg_sum += flow;
            (0.0, flow)
        } else {
            self.pos_sum += flow;
            (flow, 0.0)
        };
        self.pos.push(p);
        self.neg.push(n);
        if !self.pos.is_full() {
            return None;
        }
        let total = self.pos_sum + self.neg_sum;
        Some(if total == 0.0 {
            0.0
        } else {
            100.0 * (self.pos_sum / total)
        })
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.pos.clear();
        self.neg.clear();
        self.pos_sum = 0.0;
        self.neg_sum = 0.0;
        self.prev_tp = 0.0;
        self.seen = 0;
    }
}

outputs!(
    /// Aroon outputs, in TA-Lib order.
    AroonOutput {
        /// `100 · (period − bars since the lowest low) / period`.
        aroondown => "aroondown",
        /// `100 · (period − bars since the highest high) / period`.
        aroonup => "aroonup",
    }
);

/// Aroon over `period + 1` bars; ties go to the newest bar (TA-Lib `AROON`, lookback `period`).
#[derive(Debug, Clone)]
pub struct Aroon {
    period: usize,
    factor: f64,
    high: MonotonicWindow,
    low: MonotonicWindow,
}

impl Aroon {
    /// An Aroon over `period` (≥ 1) bars.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `period` is 0 or above 100,000.
    pub fn new(period: usize) -> Result<Self> {
        check_period("aroon", "timeperiod", period, 1)?;
        Ok(Self {
            period,
            factor: 100.0 / period as f64,
            high: MonotonicWindow::new(period + 1, Extreme::Max),
            low: MonotonicWindow::new(period + 1, Extreme::Min),
        })
    }
}

impl Indicator for Aroon {
    type Input = Ohlcv;
    type Output = AroonOutput;

    #[inline]
    fn update(&mut self, bar: Ohlcv) -> Option<AroonOutput> {
        let (_, hi_ago) = self.high.push(bar.high);
        let (_, lo_ago) = self.low.push(bar.low);
        if self.high.count() <= self.period as u64 {
            return None;
        }
        let p = self.period as u64;
        Some(AroonOutput {
            aroondown: self.factor * (p - lo_ago) as f64,
            aroonup: self.factor * (p - hi_ago) as f64,
        })
    }

    fn lookback(&self) -> usize {
        self.period
    }

    fn reset(&mut self) {
        self.high.clear();
        self.low.clear();
    }
}

/// Batch AROON.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for a bad period, [`crate::Error::LengthMismatch`] for
/// columns of different lengths.
pub fn aroon(high: &[f64], low: &[f64], period: usize) -> Result<AroonOutput<Vec<f64>>> {
    let n = check_lengths("aroon", &[high.len(), low.len()])?;
    let ind = Aroon::new(period)?;
    Ok(AroonOutput::from_columns(run_multi(ind, n, |i| {
        bar_at(&[], high, low, &[], &[], i)
    })))
}

/// Batch WILLR.
///
/// # Errors
/// As [`aroon`].
pub fn willr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    let n = check_lengths("willr", &[high.len(), low.len(), close.len()])?;
    Ok(run_single(Willr::new(period)?, n, |i| {
        bar_at(&[], high, low, close, &[], i)
    }))
}

/// Batch CCI.
///
/// # Errors
/// As [`aroon`].
pub fn cci(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    let n = check_lengths("cci", &[high.len(), low.len(), close.len()])?;
    Ok(run_single(Cci::new(period)?, n, |i| {
        bar_at(&[], high, low, close, &[], i)
    }))
}

/// Batch ULTOSC.
///
/// # Errors
/// As [`aroon`].
pub fn ultosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    timeperiod1: usize,
    timeperiod2: usize,
    timeperiod3: usize,
) -> Result<Vec<f64>> {
    let n = check_lengths("ultosc", &[high.len(), low.len(), close.len()])?;
    let ind = Ultosc::new(timeperiod1, timeperiod2, timeperiod3)?;
    Ok(run_single(ind, n, |i| {
        bar_at(&[], high, low, close, &[], i)
    }))
}

/// Batch MFI.
///
/// # Errors
/// As [`aroon`].
pub fn mfi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period: usize,
) -> Result<Vec<f64>> {
    let n = check_lengths("mfi", &[high.len(), low.len(), close.len(), volume.len()])?;
    Ok(run_single(Mfi::new(period)?, n, |i| {
        bar_at(&[], high, low, close, volume, i)
    }))
}
